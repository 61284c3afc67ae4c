// The FHIR R4 StructureDefinitions compiled into the tables the validator walks: for every
// resource, complex data type and backbone element, its child elements by JSON name; and the
// codes that required bindings allow. Built once (from the copy embedded in the binary, or from
// text in tests) and immutable afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fhir/primitives.h"

namespace medulla::fhir {

enum class BindingStrength : uint8_t { kRequired, kExtensible, kPreferred, kExample };

struct Binding {
  BindingStrength strength;
  std::string value_set;  // canonical URL, possibly with a |version suffix; may be empty
};

// TypeDef::index values that are not table indices.
inline constexpr uint32_t kNoType = UINT32_MAX;           // a primitive
inline constexpr uint32_t kAnyResource = UINT32_MAX - 1;  // type Resource: any resourceType
inline constexpr uint32_t kUnbounded = UINT32_MAX;        // max cardinality "*"
inline constexpr uint16_t kNoBinding = UINT16_MAX;
inline constexpr uint16_t kNoValueSet = UINT16_MAX;

// The codes of one value set that a required binding enforces, as expanded by
// tools/extract_required_bindings.py.
struct ValueSetCodes {
  std::string url;                 // without |version
  std::vector<std::string> codes;  // sorted, unique; compared case-sensitively
  // The codes in definition order ("male, female, other, unknown") when there are few enough
  // to name in a message; else empty.
  std::string hint;

  bool Contains(std::string_view code) const;
};

// One JSON property of a type. A choice element (value[x]) has one ElementDef per allowed type
// ("valueString", "valueQuantity"), all sharing the choice's slot.
struct ElementDef {
  std::string json_name;    // "birthDate", "valueQuantity"
  std::string type_code;    // "date", "Quantity", "Resource", "BackboneElement" (for messages)
  uint32_t slot = 0;        // index into TypeDef::slots
  uint32_t type = kNoType;  // TypeDef index of a complex value, kAnyResource, or kNoType
  Primitive primitive = Primitive::kNone;
  bool array = false;  // a JSON array: the base definition's max is not "1"
  // Whether a `_name` property may carry the primitive's id and extensions. False for the
  // elements typed with FHIRPath System types (Element.id, Extension.url, Resource.id): they
  // are not FHIR primitives and JSON writes them as plain strings.
  bool primitive_extensions = false;
  // ElementDefinition.isSummary: part of the summary that `_summary=true` returns
  // (search.html#summary). Shared by all variants of a choice.
  bool is_summary = false;
  uint16_t binding = kNoBinding;  // index for Definitions::binding()
  // For a `code` element with a required binding whose value set could be expanded: index for
  // Definitions::value_set(), resolved at load so that validation does no URL lookups.
  // kNoValueSet when any code that is lexically valid is accepted.
  uint16_t required_codes = kNoValueSet;
};

// One element definition of a type, as the snapshot has it: the unit of cardinality.
struct SlotDef {
  std::string name;  // "status", "value[x]"
  uint32_t min = 0;
  uint32_t max = kUnbounded;
};

struct TypeDef {
  enum class Kind : uint8_t { kResource, kComplexType, kBackboneElement };

  std::string name;  // "Patient", "HumanName", "Patient.contact"
  Kind kind = Kind::kComplexType;
  bool abstract = false;
  std::vector<ElementDef> elements;      // sorted by json_name
  std::vector<SlotDef> slots;            // in definition order
  std::vector<uint32_t> required_slots;  // slots with min >= 1
  // Open-addressing hash table over `elements` (index + 1; 0 = empty), built at load: the
  // lookup runs for every JSON property validated, and a binary search over strings cost
  // half of validation time.
  std::vector<uint16_t> lookup;
  uint32_t lookup_mask = 0;

  // The property with that JSON name (without a leading '_'), or nullptr.
  const ElementDef* Find(std::string_view json_name) const;
};

// Immutable after construction; thread-safe to share.
class Definitions {
 public:
  // The FHIR 4.0.1 definitions embedded in the binary, built on first use (thread-safe). The
  // embedded data is checked by the tests, so a failure to load it is a build bug: it aborts.
  static const Definitions& Embedded();

  // Builds from the text of profiles-resources.json and profiles-types.json (Bundles of
  // StructureDefinitions, as written by tools/strip_definitions.py or as published) and of
  // required-bindings.json (tools/extract_required_bindings.py). Without the latter, no
  // binding is enforced. With it, every required binding of a `code` element must be listed
  // there, as enforceable or not, so that definitions and bindings cannot drift apart.
  // Errors: kInvalidArgument for unparsable JSON, definitions that do not resolve, or bindings
  // that do not match the definitions.
  static core::Result<Definitions> Load(std::string_view resources_json,
                                        std::string_view types_json,
                                        std::string_view required_bindings_json = {});

  // Whether `type` names a concrete resource type (not Resource, DomainResource).
  bool IsResourceType(std::string_view type) const { return FindResource(type) != nullptr; }
  // The concrete resource type names, sorted.
  const std::vector<std::string>& ResourceTypes() const { return resource_types_; }

  // The definition of a concrete resource type, or nullptr.
  const TypeDef* FindResource(std::string_view type) const;
  // Any type by name: a resource ("Patient", also abstract ones), a complex data type
  // ("HumanName", "Element") or a backbone element path ("Patient.contact"); or nullptr.
  const TypeDef* FindType(std::string_view name) const;

  const TypeDef& type(uint32_t index) const { return types_[index]; }
  size_t type_count() const { return types_.size(); }
  const Binding& binding(uint16_t index) const { return bindings_[index]; }
  const ValueSetCodes& value_set(uint16_t index) const { return value_sets_[index]; }
  size_t value_set_count() const { return value_sets_.size(); }
  // The type of the object in a primitive's `_name` property: id and extension.
  const TypeDef& element_type() const { return types_[element_type_]; }

 private:
  friend class DefinitionsBuilder;
  Definitions() = default;

  std::vector<TypeDef> types_;
  std::vector<std::pair<std::string, uint32_t>> types_by_name_;  // sorted by name
  std::vector<std::string> resource_types_;                      // sorted
  std::vector<uint32_t> resource_type_index_;                    // parallel to resource_types_
  std::vector<Binding> bindings_;
  std::vector<ValueSetCodes> value_sets_;  // sorted by url
  uint32_t element_type_ = 0;
};

}  // namespace medulla::fhir
