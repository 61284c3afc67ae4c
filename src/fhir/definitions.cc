#include "fhir/definitions.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "json/parse.h"
#include "json/value.h"

// The stripped definition files, embedded by definitions_data.S.
extern "C" {
extern const char medulla_fhir_profiles_resources_start[];
extern const char medulla_fhir_profiles_resources_end[];
extern const char medulla_fhir_profiles_types_start[];
extern const char medulla_fhir_profiles_types_end[];
extern const char medulla_fhir_required_bindings_start[];
extern const char medulla_fhir_required_bindings_end[];
}

namespace medulla::fhir {

namespace {

// FNV-1a: JSON property names are short, so a byte loop is as fast as anything.
uint32_t HashName(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// Sizes the table to at most half full, so that probe sequences stay short.
void BuildLookup(TypeDef& t) {
  uint32_t size = 4;
  while (size < 2 * t.elements.size()) size *= 2;
  t.lookup.assign(size, 0);
  t.lookup_mask = size - 1;
  for (size_t i = 0; i < t.elements.size(); ++i) {
    uint32_t h = HashName(t.elements[i].json_name) & t.lookup_mask;
    while (t.lookup[h] != 0) h = (h + 1) & t.lookup_mask;
    t.lookup[h] = static_cast<uint16_t>(i + 1);
  }
}

}  // namespace

bool ValueSetCodes::Contains(std::string_view code) const {
  auto it = std::lower_bound(
      codes.begin(), codes.end(), code,
      [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  return it != codes.end() && *it == code;
}

const ElementDef* TypeDef::Find(std::string_view json_name) const {
  if (lookup.empty()) return nullptr;
  for (uint32_t h = HashName(json_name) & lookup_mask;; h = (h + 1) & lookup_mask) {
    uint16_t slot = lookup[h];
    if (slot == 0) return nullptr;
    const ElementDef& e = elements[slot - 1];
    if (e.json_name == json_name) return &e;
  }
}

const TypeDef* Definitions::FindResource(std::string_view type) const {
  auto it = std::lower_bound(resource_types_.begin(), resource_types_.end(), type);
  if (it == resource_types_.end() || *it != type) return nullptr;
  return &types_[resource_type_index_[it - resource_types_.begin()]];
}

const TypeDef* Definitions::FindType(std::string_view name) const {
  auto it = std::lower_bound(
      types_by_name_.begin(), types_by_name_.end(), name,
      [](const std::pair<std::string, uint32_t>& e, std::string_view n) { return e.first < n; });
  if (it == types_by_name_.end() || it->first != name) return nullptr;
  return &types_[it->second];
}

namespace {

// Messages name the allowed codes when there are at most this many and they are short.
constexpr size_t kMaxHintCodes = 10;
constexpr size_t kMaxHintBytes = 120;

constexpr std::string_view kSystemTypePrefix = "http://hl7.org/fhirpath/System.";
constexpr std::string_view kFhirTypeExtension =
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";

core::Status Invalid(std::string message) {
  return core::InvalidArgument("FHIR definitions: " + std::move(message));
}

std::string_view ParentPath(std::string_view path) {
  size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
}

std::string_view LastSegment(std::string_view path) {
  size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

bool ParseCount(const json::Value* v, uint32_t& out) {
  if (v == nullptr || !v->is_number()) return false;
  std::string_view t = v->text();
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  return ec == std::errc() && ptr == t.data() + t.size();
}

bool ParseMax(std::string_view text, uint32_t& out) {
  if (text == "*") {
    out = kUnbounded;
    return true;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

std::optional<BindingStrength> StrengthFromName(std::string_view s) {
  if (s == "required") return BindingStrength::kRequired;
  if (s == "extensible") return BindingStrength::kExtensible;
  if (s == "preferred") return BindingStrength::kPreferred;
  if (s == "example") return BindingStrength::kExample;
  return std::nullopt;
}

// FHIR JSON names a choice variant by appending the type code with its first letter upper-cased:
// value[x] + dateTime -> valueDateTime.
std::string ChoiceName(std::string_view base, std::string_view code) {
  std::string name(base);
  name += code;
  char& c = name[base.size()];
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return name;
}

}  // namespace

class DefinitionsBuilder {
 public:
  // Reads required-bindings.json: {"valueSets":{url:[code,...]},"notEnforceable":{url:why}}.
  core::Status AddRequiredBindings(const json::Value& root) {
    const json::Value* sets = root.is_object() ? root.Find("valueSets") : nullptr;
    const json::Value* skipped = root.is_object() ? root.Find("notEnforceable") : nullptr;
    if (sets == nullptr || !sets->is_object() || skipped == nullptr || !skipped->is_object()) {
      return Invalid("required-bindings.json needs the objects valueSets and notEnforceable");
    }
    std::vector<ValueSetCodes>& out = defs_.value_sets_;
    out.reserve(sets->size());
    for (const json::Member& m : sets->members()) {
      if (!m.value->is_array() || m.value->size() == 0) {
        return Invalid(fmt::format("value set '{}' has no list of codes", m.key));
      }
      ValueSetCodes& vs = out.emplace_back();
      vs.url = std::string(m.key);
      vs.codes.reserve(m.value->size());
      for (const json::Value* code : m.value->items()) {
        if (!code->is_string() || !IsValidCode(code->text())) {
          return Invalid(fmt::format("value set '{}' lists something that is not a code", m.key));
        }
        vs.codes.emplace_back(code->text());
      }
      if (vs.codes.size() <= kMaxHintCodes) {
        for (const std::string& code : vs.codes) {
          if (!vs.hint.empty()) vs.hint += ", ";
          vs.hint += code;
        }
        if (vs.hint.size() > kMaxHintBytes) vs.hint.clear();
      }
      std::sort(vs.codes.begin(), vs.codes.end());
      vs.codes.erase(std::unique(vs.codes.begin(), vs.codes.end()), vs.codes.end());
    }
    if (out.size() >= kNoValueSet) return Invalid("required-bindings.json has too many value sets");
    std::sort(out.begin(), out.end(),
              [](const ValueSetCodes& a, const ValueSetCodes& b) { return a.url < b.url; });
    for (size_t i = 0; i < out.size(); ++i) {
      if (i > 0 && out[i].url == out[i - 1].url) {
        return Invalid(fmt::format("value set '{}' is listed twice", out[i].url));
      }
      value_set_index_.emplace(out[i].url, static_cast<uint16_t>(i));
    }
    for (const json::Member& m : skipped->members()) {
      if (value_set_index_.contains(std::string(m.key))) {
        return Invalid(fmt::format("value set '{}' is both enforceable and not", m.key));
      }
      not_enforceable_.emplace(m.key);
    }
    bindings_loaded_ = true;
    return core::OkStatus();
  }

  core::Status AddBundle(const json::Value& bundle, std::string_view file) {
    const json::Value* entries = bundle.Find("entry");
    if (!bundle.is_object() || entries == nullptr || !entries->is_array()) {
      return Invalid(fmt::format("{} is not a Bundle with entries", file));
    }
    for (const json::Value* entry : entries->items()) {
      const json::Value* r = entry->Find("resource");
      if (r == nullptr || r->StringOr("resourceType") != "StructureDefinition") continue;
      sds_.push_back(r);
    }
    return core::OkStatus();
  }

  core::Result<Definitions> Build() {
    // Pass 1: a TypeDef for every complex type and resource, and for every backbone element
    // (an element that has children of its own), so that pass 2 can resolve any type by name.
    std::vector<const json::Value*> structures;
    for (const json::Value* sd : sds_) {
      std::string_view kind = sd->StringOr("kind");
      std::string_view type = sd->StringOr("type");
      if (kind == "primitive-type") {
        // Primitives are checked natively; make sure none is missing from that code.
        if (!PrimitiveFromName(type)) {
          return core::Fail(Invalid(fmt::format("unknown primitive type '{}'", type)));
        }
        continue;
      }
      // Logical models are not exchanged; constraint profiles (SimpleQuantity) do not change
      // the JSON shape of the type they constrain.
      if (kind != "resource" && kind != "complex-type") continue;
      if (sd->StringOr("derivation") == "constraint") continue;
      const json::Value* snapshot = sd->Find("snapshot");
      const json::Value* elements = snapshot ? snapshot->Find("element") : nullptr;
      if (elements == nullptr || !elements->is_array() || elements->size() == 0) {
        return core::Fail(Invalid(fmt::format("'{}' has no snapshot", type)));
      }
      const json::Value* abstract = sd->Find("abstract");
      bool is_abstract = abstract != nullptr && abstract->is_bool() && abstract->bool_value();
      RETURN_IF_ERROR(
          NewType(type, kind == "resource" ? TypeDef::Kind::kResource : TypeDef::Kind::kComplexType,
                  is_abstract));
      std::unordered_set<std::string_view> parents;
      for (const json::Value* e : elements->items())
        parents.insert(ParentPath(e->StringOr("path")));
      for (const json::Value* e : elements->items().subspan(1)) {
        std::string_view path = e->StringOr("path");
        if (parents.contains(path)) {
          RETURN_IF_ERROR(NewType(path, TypeDef::Kind::kBackboneElement, false));
        }
      }
      structures.push_back(sd);
    }
    auto element = index_.find("Element");
    if (element == index_.end()) return core::Fail(Invalid("no definition of Element"));
    defs_.element_type_ = element->second;

    // Pass 2: the child elements.
    for (const json::Value* sd : structures) {
      const json::Value* elements = sd->Find("snapshot")->Find("element");
      for (const json::Value* e : elements->items().subspan(1)) RETURN_IF_ERROR(AddElement(*e));
    }

    // Pass 3: lookup tables.
    for (uint32_t i = 0; i < defs_.types_.size(); ++i) {
      TypeDef& t = defs_.types_[i];
      std::sort(t.elements.begin(), t.elements.end(),
                [](const ElementDef& a, const ElementDef& b) { return a.json_name < b.json_name; });
      for (size_t j = 1; j < t.elements.size(); ++j) {
        if (t.elements[j].json_name == t.elements[j - 1].json_name) {
          return core::Fail(Invalid(
              fmt::format("'{}' has two elements named '{}'", t.name, t.elements[j].json_name)));
        }
      }
      if (t.elements.size() >= UINT16_MAX) {
        return core::Fail(Invalid(fmt::format("'{}' has too many elements", t.name)));
      }
      BuildLookup(t);
      for (uint32_t s = 0; s < t.slots.size(); ++s)
        if (t.slots[s].min > 0) t.required_slots.push_back(s);
      defs_.types_by_name_.emplace_back(t.name, i);
      if (t.kind == TypeDef::Kind::kResource && !t.abstract) {
        defs_.resource_types_.push_back(t.name);
      }
    }
    std::sort(defs_.types_by_name_.begin(), defs_.types_by_name_.end());
    std::sort(defs_.resource_types_.begin(), defs_.resource_types_.end());
    for (const std::string& name : defs_.resource_types_) {
      defs_.resource_type_index_.push_back(index_.at(name));
    }
    return std::move(defs_);
  }

 private:
  core::Status NewType(std::string_view name, TypeDef::Kind kind, bool is_abstract) {
    auto [it, inserted] =
        index_.emplace(std::string(name), static_cast<uint32_t>(defs_.types_.size()));
    if (!inserted) return Invalid(fmt::format("type '{}' is defined twice", name));
    TypeDef& t = defs_.types_.emplace_back();
    t.name = std::string(name);
    t.kind = kind;
    t.abstract = is_abstract;
    return core::OkStatus();
  }

  core::Status AddElement(const json::Value& e) {
    std::string_view path = e.StringOr("path");
    auto parent = index_.find(std::string(ParentPath(path)));
    if (parent == index_.end()) {
      return Invalid(fmt::format("element '{}' has no parent type", path));
    }
    TypeDef& owner = defs_.types_[parent->second];

    SlotDef slot;
    slot.name = std::string(LastSegment(path));
    std::string_view max_text = e.StringOr("max");
    const json::Value* base = e.Find("base");
    // JSON arrays follow the base definition's cardinality (json.html: a profile that
    // restricts max to 1 does not change the representation).
    std::string_view base_max = base ? base->StringOr("max", max_text) : max_text;
    uint32_t base_max_count;
    if (!ParseCount(e.Find("min"), slot.min) || !ParseMax(max_text, slot.max) ||
        !ParseMax(base_max, base_max_count)) {
      return Invalid(fmt::format("element '{}' has a bad min or max", path));
    }
    bool array = base_max_count != 1;
    std::string_view base_path = base ? base->StringOr("path") : std::string_view();

    uint16_t binding = kNoBinding;
    bool required = false;
    if (const json::Value* b = e.Find("binding")) {
      auto strength = StrengthFromName(b->StringOr("strength"));
      if (!strength) return Invalid(fmt::format("element '{}' has a bad binding", path));
      binding = static_cast<uint16_t>(defs_.bindings_.size());
      defs_.bindings_.push_back(Binding{*strength, std::string(b->StringOr("valueSet"))});
      required = *strength == BindingStrength::kRequired;
    }

    uint32_t slot_index = static_cast<uint32_t>(owner.slots.size());
    std::string_view name = slot.name;
    bool choice = name.ends_with("[x]");
    ElementDef proto;
    proto.slot = slot_index;
    proto.array = array;
    proto.binding = binding;
    const json::Value* summary = e.Find("isSummary");
    proto.is_summary = summary != nullptr && summary->is_bool() && summary->bool_value();

    std::string_view content_reference = e.StringOr("contentReference");
    const json::Value* types = e.Find("type");
    if (!content_reference.empty()) {
      // "#Questionnaire.item": the same structure as that backbone element (recursion).
      auto target = index_.find(std::string(content_reference.substr(1)));
      if (!content_reference.starts_with('#') || target == index_.end()) {
        return Invalid(fmt::format("element '{}' refers to unknown '{}'", path, content_reference));
      }
      ElementDef d = proto;
      d.json_name = std::string(name);
      d.type_code = "BackboneElement";
      d.type = target->second;
      owner.elements.push_back(std::move(d));
    } else if (types == nullptr || !types->is_array() || types->size() == 0) {
      return Invalid(fmt::format("element '{}' has no type", path));
    } else if (!choice && types->size() != 1) {
      return Invalid(fmt::format("element '{}' has several types but is not a choice", path));
    } else {
      // Only elements typed exactly `code` are checked against their value set: the codes of a
      // Coding or CodeableConcept come with a system, which an expansion by code alone ignores.
      if (required && !choice && types->items()[0]->StringOr("code") == "code") {
        RETURN_IF_ERROR(ResolveRequiredCodes(path, defs_.bindings_[binding], proto));
      }
      for (const json::Value* t : types->items()) {
        ElementDef d = proto;
        std::string_view code = t->StringOr("code");
        if (core::Status s = ResolveType(path, base_path, code, *t, d); !s.ok()) return s;
        d.json_name =
            choice ? ChoiceName(name.substr(0, name.size() - 3), code) : std::string(name);
        d.type_code = std::string(code);
        owner.elements.push_back(std::move(d));
      }
    }
    owner.slots.push_back(std::move(slot));
    return core::OkStatus();
  }

  core::Status ResolveRequiredCodes(std::string_view path, const Binding& binding, ElementDef& d) {
    if (!bindings_loaded_) return core::OkStatus();
    // Bindings name a version (|4.0.1); required-bindings.json lists each value set once,
    // without one, having checked the version when it expanded them.
    std::string url = binding.value_set.substr(0, binding.value_set.find('|'));
    if (auto it = value_set_index_.find(url); it != value_set_index_.end()) {
      d.required_codes = it->second;
      return core::OkStatus();
    }
    if (not_enforceable_.contains(url)) return core::OkStatus();
    return Invalid(fmt::format(
        "element '{}' binds '{}', which required-bindings.json does not list", path, url));
  }

  core::Status ResolveType(std::string_view path, std::string_view base_path, std::string_view code,
                           const json::Value& type, ElementDef& d) {
    if (code.starts_with(kSystemTypePrefix)) {
      // FHIRPath system types mark the attribute-like elements (Element.id, Extension.url) and
      // Resource.id; the fhir-type extension says which FHIR type they carry.
      std::string_view fhir_type;
      if (const json::Value* exts = type.Find("extension"); exts && exts->is_array()) {
        for (const json::Value* x : exts->items())
          if (x->StringOr("url") == kFhirTypeExtension) fhir_type = x->StringOr("valueUrl");
      }
      // R4 types Resource.id as System.String with fhir-type "string", but the resource id
      // is an `id` (resource.html#id). Like the other System.* elements it has no `_id` (the
      // official fhir.schema.json agrees).
      if (base_path == "Resource.id") {
        d.primitive = Primitive::kId;
        d.primitive_extensions = false;
        return core::OkStatus();
      }
      auto p = PrimitiveFromName(fhir_type);
      if (!p) return Invalid(fmt::format("element '{}' has unknown type '{}'", path, code));
      d.primitive = *p;
      d.primitive_extensions = false;
      return core::OkStatus();
    }
    if (auto p = PrimitiveFromName(code)) {
      d.primitive = *p;
      d.primitive_extensions = true;
      return core::OkStatus();
    }
    if (code == "Resource") {
      d.type = kAnyResource;
      return core::OkStatus();
    }
    if (code == "BackboneElement" || code == "Element") {
      // A backbone element with children was given its own TypeDef in pass 1.
      if (auto own = index_.find(std::string(path)); own != index_.end()) {
        d.type = own->second;
        return core::OkStatus();
      }
    }
    auto it = index_.find(std::string(code));
    if (it == index_.end()) {
      return Invalid(fmt::format("element '{}' has unknown type '{}'", path, code));
    }
    d.type = it->second;
    return core::OkStatus();
  }

  std::vector<const json::Value*> sds_;
  Definitions defs_;
  std::unordered_map<std::string, uint32_t> index_;  // build time only
  bool bindings_loaded_ = false;
  std::unordered_map<std::string, uint16_t> value_set_index_;  // url -> value_sets_ index
  std::unordered_set<std::string> not_enforceable_;
};

core::Result<Definitions> Definitions::Load(std::string_view resources_json,
                                            std::string_view types_json,
                                            std::string_view required_bindings_json) {
  // The published (unstripped) bundles are 13 MB and 1 MB; allow them too.
  json::ParseLimits limits{.max_bytes = 64 * 1024 * 1024, .max_depth = 64};
  auto resources = json::Parse(resources_json, limits);
  if (!resources) {
    return core::Fail(Invalid("profiles-resources.json: " + resources.error().message()));
  }
  auto types = json::Parse(types_json, limits);
  if (!types) return core::Fail(Invalid("profiles-types.json: " + types.error().message()));
  DefinitionsBuilder builder;
  if (!required_bindings_json.empty()) {
    auto bindings = json::Parse(required_bindings_json, limits);
    if (!bindings) {
      return core::Fail(Invalid("required-bindings.json: " + bindings.error().message()));
    }
    RETURN_IF_ERROR(builder.AddRequiredBindings(*bindings->root()));
  }
  RETURN_IF_ERROR(builder.AddBundle(*types->root(), "profiles-types.json"));
  RETURN_IF_ERROR(builder.AddBundle(*resources->root(), "profiles-resources.json"));
  return builder.Build();
}

const Definitions& Definitions::Embedded() {
  static const Definitions kEmbedded = [] {
    auto defs = Load(
        std::string_view(medulla_fhir_profiles_resources_start,
                         medulla_fhir_profiles_resources_end),
        std::string_view(medulla_fhir_profiles_types_start, medulla_fhir_profiles_types_end),
        std::string_view(medulla_fhir_required_bindings_start, medulla_fhir_required_bindings_end));
    if (!defs) {
      std::fprintf(stderr, "BUG: embedded FHIR definitions do not load: %s\n",
                   defs.error().message().c_str());
      std::abort();
    }
    return std::move(*defs);
  }();
  return kEmbedded;
}

}  // namespace medulla::fhir
