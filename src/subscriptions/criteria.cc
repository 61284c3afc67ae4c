// Subscription criteria: the search grammar of records/search_request.cc, evaluated in memory
// against one resource version.
//
// The store answers a search from its index tables (store/sqlite/search_index.cc builds the
// rows from fhir::ExtractIndexValues, store/sqlite/search_sql.cc compiles the filters to SQL).
// A subscription must mean what the same search means, so this file evaluates the very same
// conditions over the very same extracted values: each helper below names the SQL it mirrors,
// and each row test first asks whether the store would have written that row at all. Where
// SQL's semantics are subtle (prefix ranges, NULL canonical values, character-based substr)
// the comments say how they are reproduced. The differential test in
// tests/subscriptions/criteria_test.cc holds the two together.
//
// What cannot be matched from the resource alone (chains, _has, includes) and what does not
// select resources (_sort, _count, ...) is refused when the criteria are parsed.
#include "subscriptions/criteria.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "records/record_service.h"
#include "records/search_request.h"
#include "store/sqlite/search_index.h"

namespace medulla::subscriptions {
namespace {

using fhir::IndexValue;
using fhir::SearchParamType;
using store::Comparator;
using store::Modifier;
using store::SearchFilter;
using store::SearchValue;

// Criteria are configuration, written by people; anything longer is a mistake or an attack.
constexpr size_t kMaxCriteriaBytes = 4096;

core::Status Refuse(std::string message) {
  return core::InvalidArgument(fmt::format("subscription criteria: {}", message));
}

// ---------------------------------------------------------------------------------------------
// Parsing

// Parameters that shape a search's answer instead of selecting resources. A subscription
// looks at one resource at a time, so they have no meaning there.
constexpr std::string_view kShapingParams[] = {
    "_sort",          "_count",  "_summary", "_elements", "_total",   "_contained",
    "_containedType", "_cursor", "_format",  "_pretty",   "_include", "_revinclude"};

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), and no NUL.
// Resources are valid UTF-8 (json/parse.h checks), but percent-decoding can produce anything;
// refusing the rest keeps byte comparisons here equal to SQLite's character-based ones
// (instr, substr and length step over UTF-8 sequences and stop at NUL).
bool IsCleanUtf8(std::string_view s) {
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};  // shortest form per length
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;  // continuation bytes
    if (n == 0 || c > 0xF4 || n >= s.size() - i) return false;     // stray or cut short
    uint32_t cp = c & (0x3Fu >> n);
    for (size_t k = 1; k <= n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3Fu);
    }
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Refuses, by name, what a subscription cannot use, before the search grammar sees it: the
// grammar would accept chains and includes, and their messages would not say why they fail.
core::Status CheckParamName(const std::string& name) {
  if (name == "_has" || name.starts_with("_has:")) {
    return Refuse(fmt::format(
        "'{}': _has (reverse chaining) is not supported; criteria are matched against the "
        "changed resource alone",
        name));
  }
  if (name.find('.') != std::string::npos) {
    return Refuse(
        fmt::format("'{}': chained parameters are not supported; criteria are matched against "
                    "the changed resource alone",
                    name));
  }
  std::string_view code = std::string_view(name).substr(0, name.find(':'));
  if (std::find(std::begin(kShapingParams), std::end(kShapingParams), code) !=
      std::end(kShapingParams)) {
    return Refuse(fmt::format("'{}' shapes search results; criteria can only select resources",
                              std::string(code)));
  }
  return core::OkStatus();
}

core::Status CheckParams(const records::QueryParams& params) {
  for (const auto& [name, value] : params) {
    if (!IsCleanUtf8(name) || !IsCleanUtf8(value)) {
      return Refuse(fmt::format("parameter '{}' is not valid UTF-8 or contains NUL",
                                IsCleanUtf8(name) ? name : std::string("(undecodable)")));
    }
    RETURN_IF_ERROR(CheckParamName(name));
  }
  return core::OkStatus();
}

// Whether the matcher implements `f` exactly. An allowlist, so that a modifier the search
// grammar learns later is refused here until Matches learns it too.
bool Supported(const SearchFilter& f) {
  switch (f.kind) {
    case SearchFilter::Kind::kId:
    case SearchFilter::Kind::kLastUpdated:
      // :missing parses, but the store matches nothing with it (CompileId and
      // CompileLastUpdated ignore the modifier and see no values).
      return f.modifier == Modifier::kNone;
    case SearchFilter::Kind::kChain:
    case SearchFilter::Kind::kReverseChain:
      return false;
    case SearchFilter::Kind::kAnyOf:
      return std::all_of(f.alternatives.begin(), f.alternatives.end(), Supported);
    case SearchFilter::Kind::kValue:
      break;
  }
  if (f.modifier == Modifier::kNone || f.modifier == Modifier::kMissing) return true;
  switch (f.type) {
    case SearchParamType::kString:
      return f.modifier == Modifier::kExact || f.modifier == Modifier::kContains;
    case SearchParamType::kToken:
      return f.modifier == Modifier::kNot || f.modifier == Modifier::kText;
    case SearchParamType::kReference:
      return f.modifier == Modifier::kIdentifier;
    case SearchParamType::kUri:
      return f.modifier == Modifier::kAbove || f.modifier == Modifier::kBelow ||
             f.modifier == Modifier::kContains;
    default:
      return false;
  }
}

core::Status CheckParsed(const records::ParsedSearch& parsed) {
  const store::SearchQuery& q = parsed.query;
  // CheckParamName already refused what sets these; a guard in case the grammar grows.
  if (!q.sort.empty() || !q.includes.empty() || !q.cursor.empty() || !parsed.elements.empty() ||
      parsed.summary != records::Summary::kFalse || !parsed.ignored.empty()) {
    return Refuse("only filtering parameters are allowed");
  }
  for (const SearchFilter& f : q.filters) {
    if (Supported(f)) continue;
    switch (f.kind) {
      case SearchFilter::Kind::kChain:
      case SearchFilter::Kind::kReverseChain:
        return Refuse(fmt::format("'{}': chained parameters are not supported", f.param));
      case SearchFilter::Kind::kId:
      case SearchFilter::Kind::kLastUpdated:
        return Refuse(fmt::format(
            "'{}:missing' is not supported: every resource has one, and the store's search "
            "matches nothing with it",
            f.param));
      default:
        return Refuse(fmt::format("'{}': its modifier is not supported", f.param));
    }
  }
  return core::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Matching: one test per kind of index row, each the C++ form of its SQL in search_sql.cc.

// A text prefix as SQLite tests it: `value >= prefix AND value < prefix || x'FF'`. Both are
// byte comparisons, as std::string's are (char_traits<char> compares as unsigned char).
bool InPrefixRange(const std::string& value, const std::string& prefix) {
  return value >= prefix && value < prefix + "\xff";
}

// StringAlternatives, over an ix_string row (value normalised, exact as written).
bool StringRowMeets(Modifier m, const SearchValue& v, const std::string& value,
                    const std::string& exact) {
  switch (m) {
    case Modifier::kExact:
      return value == v.text && exact == v.exact;
    case Modifier::kContains:
      return value.find(v.text) != std::string::npos;  // instr(T.value, text) > 0
    default:
      return InPrefixRange(value, v.text);
  }
}

// TokenAlternatives, over an ix_token row. A value with neither code nor system gives the
// store no condition at all: it matches nothing.
bool TokenRowMeets(const SearchValue& v, const std::string& code, const std::string& system) {
  if (!v.code.empty()) return code == v.code && (!v.system || system == *v.system);
  if (v.system) return system == *v.system;
  return false;
}

bool TokenValueHasCondition(const SearchValue& v) {
  return !v.code.empty() || v.system.has_value();
}

// The ix_reference row of a reference value (search_index.cc, ReferenceRow): Type/id when the
// reference is one (also absolute or versioned), otherwise the whole reference untyped.
std::pair<std::string_view, std::string_view> ReferenceKey(const IndexValue& x) {
  if (!x.target_id.empty()) return {x.target_id, x.target_type};
  return {x.value, std::string_view()};
}

// ReferenceAlternatives, over an ix_reference row.
bool ReferenceRowMeets(const SearchValue& v, const IndexValue& x) {
  auto [target_id, target_type] = ReferenceKey(x);
  if (v.target_id.empty()) return target_type == v.target_type;  // any resource of the type
  return target_id == v.target_id && (v.target_type.empty() || target_type == v.target_type);
}

// UriAlternatives, over an ix_uri row.
bool UriRowMeets(Modifier m, const SearchValue& v, const std::string& value) {
  switch (m) {
    case Modifier::kBelow:
      return InPrefixRange(value, v.text);
    case Modifier::kAbove:
      // substr(text, 1, length(T.value)) = T.value: the stored value is a prefix of the
      // searched one. SQLite's length() stops at a NUL, so a value holding one never equals
      // the (shorter) substring; the criteria themselves hold no NUL (IsCleanUtf8).
      return value.find('\0') == std::string::npos && std::string_view(v.text).starts_with(value);
    case Modifier::kContains:
      return value.find(v.text) != std::string::npos;
    default:
      return value == v.text;
  }
}

// DateCondition: search range [v.begin, v.end), target range [begin, end).
bool DateRangeMeets(const SearchValue& v, core::MicrosSinceEpoch begin,
                    core::MicrosSinceEpoch end) {
  switch (v.comparator) {
    case Comparator::kEq:
      return begin >= v.begin && end <= v.end;
    case Comparator::kNe:
      return !(begin >= v.begin && end <= v.end);
    case Comparator::kLt:
      return begin < v.begin;
    case Comparator::kLe:
      return begin < v.end;
    case Comparator::kGt:
      return end > v.end;
    case Comparator::kGe:
      return end > v.begin;
    case Comparator::kSa:
      return begin >= v.end;
    case Comparator::kEb:
      return end <= v.begin;
    case Comparator::kAp: {
      // The store's margin depends on the time of the search: 10% of the distance from now,
      // at least a day. A subscription is evaluated now, so it uses now too.
      int64_t now = core::SystemClock::Instance().Now();
      int64_t margin = std::max<int64_t>(std::abs(now - v.begin) / 10, 86400LL * 1000000);
      return begin < v.end + margin && end > v.begin - margin;
    }
  }
  return false;
}

// NumberCondition: the precision range [low, high) for eq and ne, the value as written for
// the order comparisons. The bounds are computed as the store computes them before binding,
// so the same doubles are compared.
bool NumberMeets(Comparator cmp, double x, double number, double low, double high) {
  switch (cmp) {
    case Comparator::kEq:
      return x >= low && x < high;
    case Comparator::kNe:
      return !(x >= low && x < high);
    case Comparator::kGt:
    case Comparator::kSa:
      return x > number;
    case Comparator::kLt:
    case Comparator::kEb:
      return x < number;
    case Comparator::kGe:
      return x >= number;
    case Comparator::kLe:
      return x <= number;
    case Comparator::kAp: {
      double margin = std::abs(number) * 0.1;
      return x >= number - margin && x <= number + margin;
    }
  }
  return false;
}

// QuantityAlternatives, over an ix_quantity row. A row without a canonical value has NULL
// there: SQL's condition on it is NULL, never true, also under ne's NOT.
bool QuantityRowMeets(const SearchValue& v, const IndexValue& x) {
  auto literal_unit = [&] { return x.code == v.code || x.unit == v.code; };
  if (v.canonical_number) {
    bool canonical = x.canonical_number && x.canonical_code == v.canonical_code &&
                     NumberMeets(v.comparator, *x.canonical_number, *v.canonical_number,
                                 v.canonical_low.value_or(*v.canonical_number),
                                 v.canonical_high.value_or(*v.canonical_number));
    if (canonical) return true;
    // `n||code` keeps its literal meaning too.
    return v.system && v.system->empty() &&
           NumberMeets(v.comparator, x.number, v.number, v.low, v.high) && literal_unit();
  }
  if (!NumberMeets(v.comparator, x.number, v.number, v.low, v.high)) return false;
  if (v.system && !v.system->empty()) return x.system == *v.system && x.code == v.code;
  if (!v.code.empty()) return literal_unit();
  return true;
}

// Whether the store writes a row for `x` in the value table that a filter of `type` with
// modifier `m` searches (BuildIndexRows), and that row meets `v`. `m` picks the derived
// tables: a token's :text is its display in ix_string, a reference's :identifier its
// identifier in ix_token.
bool RowMeets(SearchParamType type, Modifier m, const SearchValue& v, const IndexValue& x) {
  switch (type) {
    case SearchParamType::kString:
      return StringRowMeets(m, v, x.value, x.exact);
    case SearchParamType::kToken:
      if (m == Modifier::kText) {
        return !x.display.empty() && StringRowMeets(Modifier::kNone, v, x.display, x.display);
      }
      return !x.code.empty() && TokenRowMeets(v, x.code, x.system);
    case SearchParamType::kReference:
      if (m == Modifier::kIdentifier) {
        return x.value.empty() && !x.code.empty() && TokenRowMeets(v, x.code, x.system);
      }
      return !x.value.empty() && ReferenceRowMeets(v, x);
    case SearchParamType::kUri:
      return UriRowMeets(m, v, x.value);
    case SearchParamType::kDate:
      return DateRangeMeets(v, x.begin, x.end);
    case SearchParamType::kNumber:
      return NumberMeets(v.comparator, x.number, v.number, v.low, v.high);
    case SearchParamType::kQuantity:
      return QuantityRowMeets(v, x);
    case SearchParamType::kComposite:
      return false;
  }
  return false;
}

// The version being matched: its extracted values and the columns the store keeps apart.
struct Version {
  const std::vector<IndexValue>& values;
  std::string_view id;
  core::MicrosSinceEpoch last_updated;
};

bool OfParam(const IndexValue& x, const std::string& param) {
  return x.param != nullptr && x.param->name == param;
}

// Whether a composite component value gives a row (search_index.cc, Searchable).
bool ComponentSearchable(const IndexValue& x) {
  switch (x.type) {
    case SearchParamType::kString:
    case SearchParamType::kReference:
      return !x.value.empty();
    case SearchParamType::kToken:
      return !x.code.empty();
    case SearchParamType::kComposite:
      return false;
    default:
      return true;
  }
}

// The items (groups) of composite `param` the store indexes: those with a searchable value
// for every component, below the group limit of the row keys (search_index.cc,
// CompleteItems and BuildIndexRows).
std::set<uint32_t> IndexedItems(const Version& r, const std::string& param) {
  std::map<uint32_t, uint64_t> seen;
  std::map<uint32_t, size_t> wanted;
  for (const IndexValue& x : r.values) {
    if (!OfParam(x, param)) continue;
    wanted[x.group] = x.param->components.size();
    if (ComponentSearchable(x) && x.component < 64) seen[x.group] |= uint64_t{1} << x.component;
  }
  std::set<uint32_t> indexed;
  for (const auto& [group, n] : wanted) {
    uint64_t all = n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
    if (seen[group] == all && group < store::sqlite::kCompositeGroups) indexed.insert(group);
  }
  return indexed;
}

// ix_present, for :missing: whether the store recorded any value of the parameter.
bool Present(const SearchFilter& f, const Version& r) {
  if (f.type == SearchParamType::kComposite) {
    const std::set<uint32_t> indexed = IndexedItems(r, f.param);
    return std::any_of(r.values.begin(), r.values.end(), [&](const IndexValue& x) {
      return OfParam(x, f.param) && indexed.contains(x.group) && ComponentSearchable(x);
    });
  }
  return std::any_of(r.values.begin(), r.values.end(), [&](const IndexValue& x) {
    if (!OfParam(x, f.param)) return false;
    switch (x.type) {
      case SearchParamType::kToken:
        return !x.code.empty() || !x.display.empty();
      case SearchParamType::kReference:
        return !x.value.empty() || !x.code.empty();
      default:
        return true;
    }
  });
}

// Whether the store has a condition for every part of composite value `v`
// (CompileComposite skips values with a part that has none).
bool CompositeMatchable(const SearchFilter& f, const SearchValue& v) {
  if (v.components.empty() || v.components.size() != f.component_types.size()) return false;
  for (size_t i = 0; i < v.components.size(); ++i) {
    if (f.component_types[i] == SearchParamType::kToken && !TokenValueHasCondition(v.components[i]))
      return false;
  }
  return true;
}

// Whether item `group` has, for each component, a row meeting that part of `v`: the join of
// the components' rows on the item's key.
bool ItemMeets(const SearchFilter& f, const SearchValue& v, uint32_t group, const Version& r) {
  for (size_t i = 0; i < v.components.size(); ++i) {
    bool part = std::any_of(r.values.begin(), r.values.end(), [&](const IndexValue& x) {
      return OfParam(x, f.param) && x.group == group && x.component == i &&
             ComponentSearchable(x) &&
             RowMeets(f.component_types[i], Modifier::kNone, v.components[i], x);
    });
    if (!part) return false;
  }
  return true;
}

// CompileComposite: one indexed item meets one of the OR-ed values, all its parts together.
bool CompositeHolds(const SearchFilter& f, const Version& r) {
  const std::set<uint32_t> indexed = IndexedItems(r, f.param);
  return std::any_of(f.any_of.begin(), f.any_of.end(), [&](const SearchValue& v) {
    return CompositeMatchable(f, v) &&
           std::any_of(indexed.begin(), indexed.end(),
                       [&](uint32_t group) { return ItemMeets(f, v, group, r); });
  });
}

bool Holds(const SearchFilter& f, const Version& r);

// A filter on an indexed value (Compile's kValue path).
bool ValueHolds(const SearchFilter& f, const Version& r) {
  if (f.modifier == Modifier::kMissing) return Present(f, r) != f.missing;
  if (f.type == SearchParamType::kComposite) return CompositeHolds(f, r);
  bool any = std::any_of(r.values.begin(), r.values.end(), [&](const IndexValue& x) {
    if (!OfParam(x, f.param)) return false;
    return std::any_of(f.any_of.begin(), f.any_of.end(),
                       [&](const SearchValue& v) { return RowMeets(f.type, f.modifier, v, x); });
  });
  // :not: no row meets any value, which includes having no value at all.
  return f.modifier == Modifier::kNot ? !any : any;
}

bool Holds(const SearchFilter& f, const Version& r) {
  switch (f.kind) {
    case SearchFilter::Kind::kId:
      return std::any_of(f.any_of.begin(), f.any_of.end(),
                         [&](const SearchValue& v) { return v.text == r.id; });
    case SearchFilter::Kind::kLastUpdated:
      // An instant: the range [lastUpdated, lastUpdated + 1 ms).
      return std::any_of(f.any_of.begin(), f.any_of.end(), [&](const SearchValue& v) {
        return DateRangeMeets(v, r.last_updated, r.last_updated + 1000);
      });
    case SearchFilter::Kind::kAnyOf:
      return std::any_of(f.alternatives.begin(), f.alternatives.end(),
                         [&](const SearchFilter& alt) { return Holds(alt, r); });
    case SearchFilter::Kind::kChain:
    case SearchFilter::Kind::kReverseChain:
      return false;  // refused by ParseCriteria: they need other resources
    case SearchFilter::Kind::kValue:
      return ValueHolds(f, r);
  }
  return false;
}

// The parameters the filters look at, and whether one is a composite.
void CollectParams(const std::vector<SearchFilter>& filters, std::vector<std::string>& names,
                   bool& composite) {
  for (const SearchFilter& f : filters) {
    if (f.kind == SearchFilter::Kind::kAnyOf) CollectParams(f.alternatives, names, composite);
    if (f.kind != SearchFilter::Kind::kValue) continue;
    names.push_back(f.param);
    if (f.type == SearchParamType::kComposite) composite = true;
  }
}

// Only the parameters the criteria use are extracted, except with a composite: the store
// numbers composite items across all of a resource's composite parameters, and drops those
// past kCompositeGroups, so the numbering must come from a full extraction.
std::vector<IndexValue> Extract(const Criteria& criteria,
                                const fhir::SearchParameterRegistry& registry,
                                const json::Value& resource) {
  std::vector<std::string> names;
  bool composite = false;
  CollectParams(criteria.query.filters, names, composite);
  if (composite) return fhir::ExtractIndexValues(registry, resource);
  if (names.empty()) return {};
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return fhir::ExtractIndexValues(registry, resource, names);
}

}  // namespace

core::Result<Criteria> ParseCriteria(const fhir::SearchParameterRegistry& registry,
                                     std::string_view criteria) {
  if (criteria.size() > kMaxCriteriaBytes) {
    return core::Fail(Refuse(
        fmt::format("{} bytes long; at most {} are allowed", criteria.size(), kMaxCriteriaBytes)));
  }
  size_t question = criteria.find('?');
  std::string type(criteria.substr(0, question));
  if (!registry.definitions().IsResourceType(type)) {
    return core::Fail(Refuse(fmt::format("'{}' is not a FHIR resource type", type)));
  }
  records::QueryParams params;
  if (question != std::string_view::npos) {
    params = records::ParseQueryString(criteria.substr(question + 1));
  }
  RETURN_IF_ERROR(CheckParams(params));
  auto parsed = records::ParseSearchRequest(registry, type, params, /*strict=*/true);
  if (!parsed) {
    core::Status s = parsed.error();
    if (s.code() != core::Code::kInvalidArgument) return core::Fail(std::move(s));
    return core::Fail(Refuse(s.message()));
  }
  RETURN_IF_ERROR(CheckParsed(*parsed));
  return Criteria{type, std::move(parsed->query)};
}

bool Matches(const Criteria& criteria, const fhir::SearchParameterRegistry& registry,
             const json::Value& resource, std::string_view id,
             core::MicrosSinceEpoch last_updated) {
  if (!resource.is_object() || resource.StringOr("resourceType") != criteria.type) return false;
  const std::vector<IndexValue> values = Extract(criteria, registry, resource);
  const Version version{values, id, last_updated};
  return std::all_of(criteria.query.filters.begin(), criteria.query.filters.end(),
                     [&](const SearchFilter& f) { return Holds(f, version); });
}

}  // namespace medulla::subscriptions
