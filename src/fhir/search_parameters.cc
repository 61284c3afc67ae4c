#include "fhir/search_parameters.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "fhir/ucum.h"
#include "json/parse.h"

extern "C" {
extern const char medulla_fhir_search_parameters_start[];
extern const char medulla_fhir_search_parameters_end[];
}

namespace medulla::fhir {

std::string_view SearchParamTypeName(SearchParamType type) {
  switch (type) {
    case SearchParamType::kString:
      return "string";
    case SearchParamType::kToken:
      return "token";
    case SearchParamType::kReference:
      return "reference";
    case SearchParamType::kDate:
      return "date";
    case SearchParamType::kNumber:
      return "number";
    case SearchParamType::kQuantity:
      return "quantity";
    case SearchParamType::kUri:
      return "uri";
    case SearchParamType::kComposite:
      return "composite";
  }
  return "";
}

namespace {

constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";

std::optional<SearchParamType> TypeFromName(std::string_view name) {
  for (auto t : {SearchParamType::kString, SearchParamType::kToken, SearchParamType::kReference,
                 SearchParamType::kDate, SearchParamType::kNumber, SearchParamType::kQuantity,
                 SearchParamType::kUri, SearchParamType::kComposite})
    if (SearchParamTypeName(t) == name) return t;
  return std::nullopt;
}

// The alternatives of `expression` that apply to `type`: rooted at it, at Resource or
// DomainResource, or at no type at all. Definitions shared by several bases list one
// alternative per base ("Patient.name | Practitioner.name").
core::Result<fhirpath::Expression> ForResourceType(const fhirpath::Expression& expression,
                                                   std::string_view type) {
  std::string kept;
  for (std::string_view branch : expression.UnionBranches()) {
    ASSIGN_OR_RETURN(fhirpath::Expression parsed, fhirpath::Expression::Parse(branch));
    std::string_view root = parsed.RootTypeName();
    if (!root.empty() && root != type && root != "Resource" && root != "DomainResource") continue;
    if (!kept.empty()) kept += " | ";
    kept += branch;
  }
  return fhirpath::Expression::Parse(kept);
}

}  // namespace

core::Result<SearchParameterRegistry> SearchParameterRegistry::Load(std::string_view bundle_json,
                                                                    const Definitions& defs) {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(bundle_json));
  const json::Value* entries = doc.root()->is_object() ? doc.root()->Find("entry") : nullptr;
  if (!entries || !entries->is_array())
    return core::Fail(core::InvalidArgument("search parameters: not a Bundle with entries"));

  // First pass: the type of every definition by URL, for composite components.
  std::map<std::string, SearchParamType, std::less<>> type_by_url;
  for (const json::Value* entry : entries->items()) {
    const json::Value* r = entry->is_object() ? entry->Find("resource") : nullptr;
    if (!r || !r->is_object()) continue;
    if (auto t = TypeFromName(r->StringOr("type")))
      type_by_url[std::string(r->StringOr("url"))] = *t;
  }

  SearchParameterRegistry reg;
  reg.defs_ = &defs;
  std::vector<SearchParameter> common;  // based on Resource / DomainResource
  for (const json::Value* entry : entries->items()) {
    const json::Value* r = entry->is_object() ? entry->Find("resource") : nullptr;
    if (!r || !r->is_object() || r->StringOr("resourceType") != "SearchParameter") continue;
    auto type = TypeFromName(r->StringOr("type"));
    std::string_view text = r->StringOr("expression");
    if (!type || text.empty()) continue;  // special, or no expression (_text, _content, _query)
    std::string where = fmt::format("SearchParameter/{}", r->StringOr("id"));
    auto full = fhirpath::Expression::Parse(text);
    if (!full) return core::Fail(core::InvalidArgument(where + ": " + full.error().message()));

    SearchParameter proto;
    proto.name = std::string(r->StringOr("code"));
    proto.url = std::string(r->StringOr("url"));
    proto.type = *type;
    if (const json::Value* targets = r->Find("target"); targets && targets->is_array())
      for (const json::Value* t : targets->items())
        if (t->is_string()) proto.targets.emplace_back(t->text());
    if (const json::Value* comps = r->Find("component"); comps && comps->is_array()) {
      for (const json::Value* c : comps->items()) {
        if (!c->is_object()) continue;
        SearchParameter::Component comp{.definition = std::string(c->StringOr("definition")),
                                        .expression = {}};
        auto t = type_by_url.find(comp.definition);
        if (t == type_by_url.end())
          return core::Fail(core::InvalidArgument(where + ": unknown component definition"));
        comp.type = t->second;
        auto e = fhirpath::Expression::Parse(c->StringOr("expression"));
        if (!e) return core::Fail(core::InvalidArgument(where + ": " + e.error().message()));
        comp.expression = std::move(*e);
        proto.components.push_back(std::move(comp));
      }
    }

    const json::Value* bases = r->Find("base");
    if (!bases || !bases->is_array()) continue;
    for (const json::Value* base : bases->items()) {
      std::string_view base_type = base->text();
      auto restricted = ForResourceType(*full, base_type);
      if (!restricted)
        return core::Fail(core::InvalidArgument(where + ": " + restricted.error().message()));
      SearchParameter p = proto;
      p.expression = std::move(*restricted);
      if (base_type == "Resource" || base_type == "DomainResource") {
        common.push_back(std::move(p));
      } else {
        reg.by_type_[std::string(base_type)].push_back(std::move(p));
      }
    }
  }
  // The common parameters apply to every resource type (DomainResource ones only to domain
  // resources, but R4 defines none with an expression: _text has none).
  for (const std::string& type : defs.ResourceTypes()) {
    std::vector<SearchParameter>& params = reg.by_type_[type];
    for (const SearchParameter& p : common) params.push_back(p);
  }
  for (auto& [type, params] : reg.by_type_)
    std::stable_sort(
        params.begin(), params.end(),
        [](const SearchParameter& a, const SearchParameter& b) { return a.name < b.name; });
  return reg;
}

const SearchParameterRegistry& SearchParameterRegistry::Embedded() {
  static const SearchParameterRegistry kEmbedded = [] {
    auto reg = Load(
        std::string_view(medulla_fhir_search_parameters_start, medulla_fhir_search_parameters_end));
    if (!reg) {
      std::fprintf(stderr, "BUG: embedded FHIR search parameters do not load: %s\n",
                   reg.error().message().c_str());
      std::abort();
    }
    return std::move(*reg);
  }();
  return kEmbedded;
}

std::span<const SearchParameter> SearchParameterRegistry::ForType(
    std::string_view resource_type) const {
  auto it = by_type_.find(resource_type);
  if (it == by_type_.end()) return {};
  return it->second;
}

const SearchParameter* SearchParameterRegistry::Find(std::string_view resource_type,
                                                     std::string_view name) const {
  auto params = ForType(resource_type);
  auto it =
      std::lower_bound(params.begin(), params.end(), name,
                       [](const SearchParameter& p, std::string_view n) { return p.name < n; });
  return it != params.end() && it->name == name ? &*it : nullptr;
}

namespace {

// Base letters of U+00C0..U+017F (Latin-1 Supplement letters and Latin Extended-A), from
// Unicode NFKD with the combining marks removed, plus the letters that have no decomposition
// (æ, ø, ß, đ, ł, œ, þ ...) spelt out. Empty: keep the character (× and ÷).
constexpr std::string_view kFold[] = {
    "a", "a", "a",  "a",  "a", "a", "ae", "c",  "e",  "e", "e", "e", "i",  "i",  "i", "i", "d", "n",
    "o", "o", "o",  "o",  "o", "",  "o",  "u",  "u",  "u", "u", "y", "th", "ss", "a", "a", "a", "a",
    "a", "a", "ae", "c",  "e", "e", "e",  "e",  "i",  "i", "i", "i", "d",  "n",  "o", "o", "o", "o",
    "o", "",  "o",  "u",  "u", "u", "u",  "y",  "th", "y", "a", "a", "a",  "a",  "a", "a", "c", "c",
    "c", "c", "c",  "c",  "c", "c", "d",  "d",  "d",  "d", "e", "e", "e",  "e",  "e", "e", "e", "e",
    "e", "e", "g",  "g",  "g", "g", "g",  "g",  "g",  "g", "h", "h", "h",  "h",  "i", "i", "i", "i",
    "i", "i", "i",  "i",  "i", "i", "ij", "ij", "j",  "j", "k", "k", "k",  "l",  "l", "l", "l", "l",
    "l", "l", "l",  "l",  "l", "n", "n",  "n",  "n",  "n", "n", "n", "n",  "n",  "o", "o", "o", "o",
    "o", "o", "oe", "oe", "r", "r", "r",  "r",  "r",  "r", "s", "s", "s",  "s",  "s", "s", "s", "s",
    "t", "t", "t",  "t",  "t", "t", "u",  "u",  "u",  "u", "u", "u", "u",  "u",  "u", "u", "u", "u",
    "w", "w", "y",  "y",  "y", "z", "z",  "z",  "z",  "z", "z", "s",
};
static_assert(std::size(kFold) == 0x180 - 0xC0);

}  // namespace

std::string NormalizeSearchString(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
      continue;
    }
    // Two-byte UTF-8 sequences C3 80 .. C5 BF are U+00C0 .. U+017F.
    if (c >= 0xC3 && c <= 0xC5 && i + 1 < text.size()) {
      unsigned char c2 = static_cast<unsigned char>(text[i + 1]);
      unsigned cp = ((c & 0x1Fu) << 6) | (c2 & 0x3Fu);
      if ((c2 & 0xC0) == 0x80 && cp >= 0xC0 && cp < 0x180 && !kFold[cp - 0xC0].empty()) {
        out += kFold[cp - 0xC0];
        ++i;
        continue;
      }
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

namespace {

constexpr core::MicrosSinceEpoch kMinTime = std::numeric_limits<core::MicrosSinceEpoch>::min();
constexpr core::MicrosSinceEpoch kMaxTime = std::numeric_limits<core::MicrosSinceEpoch>::max();

class Extractor {
 public:
  Extractor(const SearchParameterRegistry& reg, const json::Value& resource,
            std::vector<IndexValue>& out)
      : defs_(reg.definitions()), resource_(resource), out_(out) {}

  void Param(const SearchParameter& p) {
    items_.clear();
    p.expression.Evaluate(resource_, items_, defs_);
    if (p.type != SearchParamType::kComposite) {
      for (const fhirpath::Item& item : items_) Add(p, p.type, item, 0, 0);
      return;
    }
    std::vector<fhirpath::Item> roots = items_, parts;
    for (const fhirpath::Item& root : roots) {
      ++group_;
      for (size_t c = 0; c < p.components.size(); ++c) {
        parts.clear();
        p.components[c].expression.Evaluate(root, resource_, parts, defs_);
        for (const fhirpath::Item& part : parts)
          Add(p, p.components[c].type, part, group_, static_cast<uint8_t>(c));
      }
    }
  }

 private:
  IndexValue& New(const SearchParameter& p, SearchParamType type, uint32_t group,
                  uint8_t component) {
    IndexValue& v = out_.emplace_back();
    v.param = &p;
    v.type = type;
    v.group = group;
    v.component = component;
    return v;
  }

  void Add(const SearchParameter& p, SearchParamType type, const fhirpath::Item& item,
           uint32_t group, uint8_t component) {
    const json::Value& v = *item.value;
    std::string_view t = item.type;
    auto str = [&](std::string_view key) { return v.is_object() ? v.StringOr(key) : ""; };
    switch (type) {
      case SearchParamType::kString: {
        auto add = [&](std::string_view s) {
          if (s.empty()) return;
          IndexValue& x = New(p, type, group, component);
          x.value = NormalizeSearchString(s);
          x.exact = std::string(s);
        };
        auto each = [&](std::string_view key) {
          const json::Value* m = v.Find(key);
          if (!m) return;
          if (m->is_string()) add(m->text());
          if (m->is_array())
            for (const json::Value* s : m->items())
              if (s->is_string()) add(s->text());
        };
        if (v.is_string()) {
          add(v.text());
        } else if (v.is_object() && t == "HumanName") {
          for (auto key : {"family", "given", "prefix", "suffix", "text"}) each(key);
        } else if (v.is_object() && t == "Address") {
          for (auto key : {"line", "city", "district", "state", "postalCode", "country", "text"})
            each(key);
        }
        return;
      }
      case SearchParamType::kToken: {
        auto coding = [&](const json::Value& c) {
          if (!c.is_object() || (c.StringOr("code").empty() && c.StringOr("display").empty()))
            return;
          IndexValue& x = New(p, type, group, component);
          x.system = std::string(c.StringOr("system"));
          x.code = std::string(c.StringOr("code"));
          x.display = NormalizeSearchString(c.StringOr("display"));
        };
        if (v.is_string()) {
          New(p, type, group, component).code = std::string(v.text());
        } else if (v.is_bool()) {
          New(p, type, group, component).code = v.bool_value() ? "true" : "false";
        } else if (!v.is_object()) {
          return;
        } else if (t == "Coding") {
          coding(v);
        } else if (t == "CodeableConcept" || (t.empty() && v.Find("coding"))) {
          if (const json::Value* cs = v.Find("coding"); cs && cs->is_array())
            for (const json::Value* c : cs->items()) coding(*c);
          // The concept's text, for :text only (no system or code).
          if (!str("text").empty())
            New(p, type, group, component).display = NormalizeSearchString(str("text"));
        } else if (t == "Identifier") {
          if (str("value").empty()) return;
          IndexValue& x = New(p, type, group, component);
          x.system = std::string(str("system"));
          x.code = std::string(str("value"));
          if (const json::Value* it = v.Find("type"); it && it->is_object())
            x.display = NormalizeSearchString(it->StringOr("text"));
        } else if (t == "ContactPoint") {
          // The spec searches ContactPoint.value; its system (phone, email) is selected by
          // the expressions' where(system=...) instead.
          if (!str("value").empty())
            New(p, type, group, component).code = std::string(str("value"));
        } else if (t.empty() && !str("code").empty()) {
          coding(v);
        }
        return;
      }
      case SearchParamType::kReference: {
        if (v.is_string()) {  // canonical or uri
          AddReference(p, group, component, v.text());
        } else if (v.is_object()) {
          if (!str("reference").empty()) AddReference(p, group, component, str("reference"));
          // Logical references, for :identifier.
          if (const json::Value* id = v.Find("identifier");
              id && id->is_object() && !id->StringOr("value").empty()) {
            IndexValue& x = New(p, type, group, component);
            x.system = std::string(id->StringOr("system"));
            x.code = std::string(id->StringOr("value"));
          }
        }
        return;
      }
      case SearchParamType::kDate: {
        if (v.is_string()) {
          if (auto r = core::ParseFhirDateTimeRange(v.text()))
            AddDate(p, group, component, r->begin, r->end);
        } else if (v.is_object() && t == "Period") {
          auto start = core::ParseFhirDateTimeRange(str("start"));
          auto end = core::ParseFhirDateTimeRange(str("end"));
          if (!start && !end) return;
          AddDate(p, group, component, start ? start->begin : kMinTime, end ? end->end : kMaxTime);
        } else if (v.is_object() && t == "Timing") {
          if (const json::Value* ev = v.Find("event"); ev && ev->is_array())
            for (const json::Value* e : ev->items())
              if (e->is_string())
                if (auto r = core::ParseFhirDateTimeRange(e->text()))
                  AddDate(p, group, component, r->begin, r->end);
        }
        return;
      }
      case SearchParamType::kNumber: {
        if (!v.is_number()) return;
        IndexValue& x = New(p, type, group, component);
        x.value = std::string(v.text());
        x.number = std::strtod(x.value.c_str(), nullptr);
        return;
      }
      case SearchParamType::kQuantity: {
        // Quantity and its specialisations (Age, Duration ...), and Money. Range (in the
        // *-context-quantity and onset-age alternatives) is not indexed yet: it needs an entry
        // with two bounds, which the search side has to agree on first.
        if (!v.is_object() || t == "Range") return;
        const json::Value* value = v.Find("value");
        if (!value || !value->is_number()) return;
        IndexValue& x = New(p, type, group, component);
        x.value = std::string(value->text());
        x.number = std::strtod(x.value.c_str(), nullptr);
        if (t == "Money") {
          x.system = "urn:iso:std:iso:4217";
          x.code = std::string(str("currency"));
        } else {
          x.system = std::string(str("system"));
          x.code = std::string(str("code"));
          x.unit = std::string(str("unit"));
          // UCUM units (the system, or a code with no system) also in canonical units, so
          // that 180 [lb_av] and 81.6 kg meet in a search.
          if (!x.code.empty() && (x.system.empty() || x.system == kUcumSystem)) {
            if (auto c = CanonicalizeUcum(x.number, x.code)) {
              x.canonical_number = c->value;
              x.canonical_code = std::move(c->unit);
            }
          }
        }
        return;
      }
      case SearchParamType::kUri:
        if (v.is_string()) New(p, type, group, component).value = std::string(v.text());
        return;
      case SearchParamType::kComposite:
        return;  // components are never composite
    }
  }

  void AddReference(const SearchParameter& p, uint32_t group, uint8_t component,
                    std::string_view ref) {
    IndexValue& x = New(p, SearchParamType::kReference, group, component);
    x.value = std::string(ref);
    // "Type/id", "Type/id/_history/v" or an absolute URL ending so.
    std::string_view r = ref;
    if (size_t h = r.find("/_history/"); h != std::string_view::npos) r = r.substr(0, h);
    if (r.starts_with("#") || r.starts_with("urn:")) return;
    size_t slash = r.rfind('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == r.size()) return;
    std::string_view head = r.substr(0, slash);
    size_t prev = head.rfind('/');
    std::string_view type = prev == std::string_view::npos ? head : head.substr(prev + 1);
    if (!defs_.IsResourceType(type)) return;
    x.target_type = std::string(type);
    x.target_id = std::string(r.substr(slash + 1));
  }

  void AddDate(const SearchParameter& p, uint32_t group, uint8_t component,
               core::MicrosSinceEpoch begin, core::MicrosSinceEpoch end) {
    IndexValue& x = New(p, SearchParamType::kDate, group, component);
    x.begin = begin;
    x.end = end;
  }

  const Definitions& defs_;
  const json::Value& resource_;
  std::vector<IndexValue>& out_;
  std::vector<fhirpath::Item> items_;
  uint32_t group_ = 0;
};

}  // namespace

std::vector<IndexValue> ExtractIndexValues(const SearchParameterRegistry& registry,
                                           const json::Value& resource) {
  std::vector<IndexValue> out;
  if (!resource.is_object()) return out;
  Extractor extractor(registry, resource, out);
  for (const SearchParameter& p : registry.ForType(resource.StringOr("resourceType")))
    extractor.Param(p);
  return out;
}

std::vector<IndexValue> ExtractIndexValues(const SearchParameterRegistry& registry,
                                           const json::Value& resource,
                                           std::span<const std::string> param_names) {
  std::vector<IndexValue> out;
  if (!resource.is_object()) return out;
  std::string_view type = resource.StringOr("resourceType");
  Extractor extractor(registry, resource, out);
  for (const std::string& name : param_names) {
    if (const SearchParameter* p = registry.Find(type, name)) extractor.Param(*p);
  }
  return out;
}

}  // namespace medulla::fhir
