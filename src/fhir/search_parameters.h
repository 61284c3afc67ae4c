// The FHIR R4 search parameters (SearchParameter definitions) compiled per resource type, and
// the extraction of normalised index values from a resource by evaluating their FHIRPath
// expressions. Built once, immutable afterwards.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "fhir/definitions.h"
#include "fhir/fhirpath.h"
#include "json/value.h"

namespace medulla::fhir {

enum class SearchParamType : uint8_t {
  kString,
  kToken,
  kReference,
  kDate,
  kNumber,
  kQuantity,
  kUri,
  kComposite,
};

std::string_view SearchParamTypeName(SearchParamType type);

struct SearchParameter {
  struct Component {
    std::string definition;  // canonical URL of the component's own SearchParameter
    SearchParamType type = SearchParamType::kToken;
    fhirpath::Expression expression;  // relative to each item of the composite's expression
  };

  std::string name;  // the search code: "name", "birthdate", "_id"
  std::string url;
  SearchParamType type = SearchParamType::kString;
  // The `|` alternatives of the definition's expression that apply to this resource type.
  fhirpath::Expression expression;
  std::vector<std::string> targets;   // reference: the allowed target types
  std::vector<Component> components;  // composite
};

// Immutable after construction; thread-safe to share.
class SearchParameterRegistry {
 public:
  // The FHIR 4.0.1 definitions embedded in the binary, built on first use (thread-safe). The
  // tests check the embedded data, so a failure to load is a build bug: it aborts.
  static const SearchParameterRegistry& Embedded();

  // Builds from a Bundle of SearchParameter resources (search-parameters.json). Parameters of
  // type `special` and those without an expression are skipped. Errors: kInvalidArgument for
  // unparsable JSON or an expression outside the supported FHIRPath subset.
  static core::Result<SearchParameterRegistry> Load(
      std::string_view bundle_json, const Definitions& defs = Definitions::Embedded());

  // The parameters of a resource type (including those of Resource and DomainResource), sorted
  // by name; empty for an unknown type.
  std::span<const SearchParameter> ForType(std::string_view resource_type) const;
  const SearchParameter* Find(std::string_view resource_type, std::string_view name) const;
  const Definitions& definitions() const { return *defs_; }

 private:
  SearchParameterRegistry() = default;
  const Definitions* defs_ = nullptr;
  std::map<std::string, std::vector<SearchParameter>, std::less<>> by_type_;
};

// One normalised index entry of one parameter for one resource. Which fields are set depends
// on the parameter's type (see each field).
struct IndexValue {
  const SearchParameter* param = nullptr;
  SearchParamType type = SearchParamType::kString;
  // Composite parameters: the component this value belongs to, and a group number shared by
  // the components that came from the same item (one Observation.component, say), so that
  // search can pair them. Non-composite: 0 and 0.
  uint32_t group = 0;
  uint8_t component = 0;

  // string: normalised (lower case, accents folded, whitespace collapsed); uri: as written;
  // reference: the raw reference string; number, quantity: the decimal text as written;
  // token: unused (see code).
  std::string value;
  std::string exact;        // string: as written, for :exact
  std::string system;       // token: system; quantity: system; reference via identifier: system
  std::string code;         // token: code; quantity: code; reference via identifier: value
  std::string display;      // token: display or text, normalised like strings, for :text
  std::string unit;         // quantity: the human unit
  std::string target_type;  // reference: "Patient" (empty for urn:, #contained, unknown)
  std::string target_id;    // reference: "123"
  double number = 0;        // number, quantity
  // quantity: the value in canonical UCUM units (fhir/ucum.h), when the unit converts.
  std::optional<double> canonical_number;
  std::string canonical_code;
  core::MicrosSinceEpoch begin = 0;  // date: the covered instants [begin, end)
  core::MicrosSinceEpoch end = 0;
};

// Normalises text for string search: lower case, Latin-1 and Latin Extended-A letters folded
// to their base letters ("Müller" -> "muller", "Łódź" -> "lodz"), runs of whitespace collapsed
// to one space, trimmed. Other UTF-8 is kept as is.
std::string NormalizeSearchString(std::string_view text);

// Evaluates every parameter of the resource's type and returns its index entries, in the
// order of the registry's parameters. What does not apply is skipped. Thread-safe.
std::vector<IndexValue> ExtractIndexValues(const SearchParameterRegistry& registry,
                                           const json::Value& resource);
// Only the named parameters of the resource's type (a compartment's, say); unknown names are
// skipped.
std::vector<IndexValue> ExtractIndexValues(const SearchParameterRegistry& registry,
                                           const json::Value& resource,
                                           std::span<const std::string> param_names);

}  // namespace medulla::fhir
