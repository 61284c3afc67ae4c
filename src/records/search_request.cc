#include "records/search_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "core/time.h"
#include "fhir/compartments.h"
#include "fhir/primitives.h"
#include "fhir/ucum.h"

namespace medulla::records {
namespace {

using fhir::SearchParamType;
using store::Comparator;
using store::Modifier;
using store::SearchFilter;
using store::SearchValue;

std::optional<Comparator> ComparatorFromPrefix(std::string_view p) {
  static constexpr std::pair<std::string_view, Comparator> kPrefixes[] = {
      {"eq", Comparator::kEq}, {"ne", Comparator::kNe}, {"gt", Comparator::kGt},
      {"lt", Comparator::kLt}, {"ge", Comparator::kGe}, {"le", Comparator::kLe},
      {"sa", Comparator::kSa}, {"eb", Comparator::kEb}, {"ap", Comparator::kAp}};
  for (const auto& [text, c] : kPrefixes)
    if (text == p) return c;
  return std::nullopt;
}

// Splits a leading two-letter prefix off a date, number or quantity value.
Comparator TakePrefix(std::string_view& value) {
  if (value.size() > 2) {
    if (auto c = ComparatorFromPrefix(value.substr(0, 2))) {
      value.remove_prefix(2);
      return *c;
    }
  }
  return Comparator::kEq;
}

core::Status Bad(std::string message) {
  return core::InvalidArgument(std::move(message));
}

// A FHIR decimal as written, and the range its precision implies (search.html#number: "100"
// stands for [99.5, 100.5)).
core::Result<SearchValue> ParseNumber(std::string_view text, SearchValue v) {
  std::string s(text);
  char* end = nullptr;
  double n = std::strtod(s.c_str(), &end);
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' ||
           c == 'e' || c == 'E';
  });
  if (!plain || end != s.c_str() + s.size() || !std::isfinite(n)) {
    return core::Fail(Bad(fmt::format("'{}' is not a number", s)));
  }
  // Precision: half a unit of the last significant digit written.
  int exponent = 0;
  std::string mantissa = s;
  if (size_t e = s.find_first_of("eE"); e != std::string::npos) {
    exponent = std::atoi(s.c_str() + e + 1);
    mantissa = s.substr(0, e);
  }
  int decimals = 0;
  if (size_t dot = mantissa.find('.'); dot != std::string::npos) {
    decimals = static_cast<int>(mantissa.size() - dot - 1);
  }
  double half = 0.5 * std::pow(10.0, exponent - decimals);
  // The bounds are decimals with one more digit than the value ("0.8" -> 0.75 and 0.85):
  // rounded to that digit and read back, they are the same doubles as those decimals stored,
  // which n -/+ half (0.8500000000000001) is not.
  int digits = std::max(0, decimals - exponent + 1);
  auto bound = [digits](double x) {
    return std::strtod(fmt::format("{:.{}f}", x, digits).c_str(), nullptr);
  };
  v.number = n;
  v.low = bound(n - half);
  v.high = bound(n + half);
  return v;
}

// A token value: "code", "system|code", "|code" (no system) or "system|" (any code).
core::Status SystemAndCode(const std::string& raw, SearchValue& v) {
  std::vector<std::string> sc = SplitUnescaped(raw, '|');
  if (sc.size() == 1) {
    v.code = Unescape(sc[0]);
  } else if (sc.size() == 2) {
    v.system = Unescape(sc[0]);
    v.code = Unescape(sc[1]);
    if (v.system->empty() && v.code.empty()) return Bad("'|' alone");
  } else {
    return Bad(fmt::format("'{}' has more than one '|'", raw));
  }
  return core::OkStatus();
}

class Parser {
 public:
  Parser(const fhir::SearchParameterRegistry& registry, const SearchLimits& limits, bool strict)
      : registry_(registry), limits_(limits), strict_(strict) {}

  core::Result<ParsedSearch> Run(std::string_view type, const QueryParams& params) {
    ParsedSearch out;
    store::SearchQuery& q = out.query;
    q.type = std::string(type);
    q.count = limits_.default_count;
    if (params.size() > limits_.max_parameters) {
      return core::Fail(Bad(fmt::format("{} search parameters; at most {} are allowed",
                                        params.size(), limits_.max_parameters)));
    }
    for (const auto& [name, value] : params) {
      core::Status s = One(type, name, value, out);
      if (s.ok()) continue;
      // Limits protect the server: errors whatever the handling.
      if (strict_ || s.code() != core::Code::kInvalidArgument || limit_hit_) {
        return core::Fail(s);
      }
      out.ignored.push_back(s.message());
    }
    if (out.summary == Summary::kCount) q.count = 0;  // whatever _count says
    return out;
  }

 private:
  core::Status One(std::string_view type, const std::string& name, const std::string& value,
                   ParsedSearch& out) {
    store::SearchQuery& q = out.query;
    auto applied = [&] { out.applied.emplace_back(name, value); };
    if (name == "_format" || name == "_pretty") return core::OkStatus();  // the REST layer's
    if (name == "_count") {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc::result_out_of_range)
        n = limits_.max_count;
      else if (ec != std::errc() || p != value.data() + value.size())
        return Bad(fmt::format("_count: '{}' is not a non-negative integer", value));
      q.count = std::min(n, limits_.max_count);
      out.applied.emplace_back(name, std::to_string(q.count));
      return core::OkStatus();
    }
    if (name == "_cursor") {
      q.cursor = value;  // checked by the store, which wrote it
      applied();         // the self link of a later page carries it
      return core::OkStatus();
    }
    if (name == "_total") {
      if (value != "none" && value != "estimate" && value != "accurate")
        return Bad(fmt::format("_total: '{}' is not none, estimate or accurate", value));
      q.want_total = value != "none";
      applied();
      return core::OkStatus();
    }
    if (name == "_summary") {
      static constexpr std::pair<std::string_view, Summary> kModes[] = {{"true", Summary::kTrue},
                                                                        {"false", Summary::kFalse},
                                                                        {"text", Summary::kText},
                                                                        {"data", Summary::kData},
                                                                        {"count", Summary::kCount}};
      auto it = std::find_if(std::begin(kModes), std::end(kModes),
                             [&](const auto& m) { return m.first == value; });
      if (it == std::end(kModes))
        return Bad(fmt::format("_summary: '{}' is not true, false, text, data or count", value));
      out.summary = it->second;
      applied();
      return core::OkStatus();
    }
    if (name == "_elements") {
      out.elements += (out.elements.empty() ? "" : ",") + value;
      applied();
      return core::OkStatus();
    }
    if (name == "_sort") {
      q.sort.clear();
      for (const std::string& raw : SplitUnescaped(value, ',')) {
        std::string_view key = raw;
        store::SortKey k;
        if (key.starts_with('-')) {
          k.descending = true;
          key.remove_prefix(1);
        }
        k.param = std::string(key);
        if (key == "_id") {
          k.type = SearchParamType::kToken;
        } else if (key == "_lastUpdated") {
          k.type = SearchParamType::kDate;
        } else {
          const fhir::SearchParameter* p = registry_.Find(type, key);
          if (!p || p->type == SearchParamType::kComposite)
            return Bad(fmt::format("_sort: {} has no sortable search parameter '{}'",
                                   std::string(type), std::string(key)));
          k.type = p->type;
        }
        q.sort.push_back(std::move(k));
      }
      applied();
      return core::OkStatus();
    }
    if (name.starts_with("_include") || name.starts_with("_revinclude")) {
      RETURN_IF_ERROR(ParseInclude(type, name, value, q));
      applied();
      return core::OkStatus();
    }
    if (name == "_contained" || name == "_containedType" || name == "_text" || name == "_content" ||
        name == "_list" || name == "_query" || name == "_filter") {
      return Bad(fmt::format("search parameter '{}' is not supported", name));
    }
    ASSIGN_OR_RETURN(SearchFilter f, Filter(type, name, value, 0));
    q.filters.push_back(std::move(f));
    applied();
    return core::OkStatus();
  }

  // `name` is the part before '=': "code", "code:text", "subject:Patient.name",
  // "_has:Observation:patient:code".
  core::Result<SearchFilter> Filter(std::string_view type, std::string_view name,
                                    std::string_view value, int depth) {
    param_ = nullptr;
    type_modifier_.clear();
    if (name.starts_with("_has:")) return ReverseChain(type, name, value, depth);
    // A chain: "param[:Type].rest".
    size_t dot = name.find('.');
    if (dot != std::string_view::npos) return Chain(type, name, dot, value, depth);

    std::string_view code = name;
    std::string_view modifier;
    if (size_t colon = name.find(':'); colon != std::string_view::npos) {
      code = name.substr(0, colon);
      modifier = name.substr(colon + 1);
    }
    SearchFilter f;
    f.param = std::string(code);
    if (code == "_id") {
      f.kind = SearchFilter::Kind::kId;
      f.type = SearchParamType::kToken;
    } else if (code == "_lastUpdated") {
      f.kind = SearchFilter::Kind::kLastUpdated;
      f.type = SearchParamType::kDate;
    } else {
      const fhir::SearchParameter* p = registry_.Find(type, code);
      if (!p) {
        return core::Fail(Bad(fmt::format("unknown search parameter '{}' for {}", std::string(code),
                                          std::string(type))));
      }
      f.type = p->type;
      for (const fhir::SearchParameter::Component& c : p->components) {
        f.component_types.push_back(c.type);
      }
      param_ = p;
    }
    RETURN_IF_ERROR(ApplyModifier(f, modifier));
    if (f.modifier == Modifier::kMissing) {
      if (value != "true" && value != "false")
        return core::Fail(Bad(fmt::format("{}: :missing takes true or false", std::string(name))));
      f.missing = value == "true";
      return f;
    }
    std::vector<std::string> parts = SplitUnescaped(value, ',');
    if (parts.size() > limits_.max_values) {
      limit_hit_ = true;
      return core::Fail(Bad(fmt::format("{} has {} values; at most {} are allowed",
                                        std::string(name), parts.size(), limits_.max_values)));
    }
    for (const std::string& part : parts) {
      auto v = Value(f, part);
      if (!v) {
        return core::Fail(Bad(fmt::format("{}: {}", std::string(name), v.error().message())));
      }
      f.any_of.push_back(std::move(*v));
    }
    return f;
  }

  core::Status ApplyModifier(SearchFilter& f, std::string_view modifier) {
    if (modifier.empty()) return core::OkStatus();
    if (modifier == "missing") {
      f.modifier = Modifier::kMissing;
      return core::OkStatus();
    }
    auto unsupported = [&] {
      return Bad(fmt::format("modifier :{} is not supported on {} parameter '{}'",
                             std::string(modifier), fhir::SearchParamTypeName(f.type), f.param));
    };
    switch (f.type) {
      case SearchParamType::kString:
        if (modifier == "exact")
          f.modifier = Modifier::kExact;
        else if (modifier == "contains")
          f.modifier = Modifier::kContains;
        else
          return unsupported();
        return core::OkStatus();
      case SearchParamType::kToken:
        if (f.kind == SearchFilter::Kind::kId) return unsupported();
        if (modifier == "not")
          f.modifier = Modifier::kNot;
        else if (modifier == "text")
          f.modifier = Modifier::kText;
        else
          return unsupported();
        return core::OkStatus();
      case SearchParamType::kReference:
        if (modifier == "identifier") {
          f.modifier = Modifier::kIdentifier;
          return core::OkStatus();
        }
        // A type modifier: subject:Patient=123.
        if (param_ && std::find(param_->targets.begin(), param_->targets.end(), modifier) !=
                          param_->targets.end()) {
          type_modifier_ = std::string(modifier);
          return core::OkStatus();
        }
        return unsupported();
      case SearchParamType::kUri:
        if (modifier == "above")
          f.modifier = Modifier::kAbove;
        else if (modifier == "below")
          f.modifier = Modifier::kBelow;
        else if (modifier == "contains")
          f.modifier = Modifier::kContains;
        else
          return unsupported();
        return core::OkStatus();
      default:
        return unsupported();
    }
  }

  core::Result<SearchValue> Value(const SearchFilter& f, const std::string& raw) {
    SearchValue v;
    if (raw.empty()) return core::Fail(Bad("an empty value"));
    switch (f.type) {
      case SearchParamType::kString: {
        v.exact = Unescape(raw);
        v.text = fhir::NormalizeSearchString(v.exact);
        if (v.text.empty()) return core::Fail(Bad("an empty value"));
        return v;
      }
      case SearchParamType::kUri:
        v.text = Unescape(raw);
        return v;
      case SearchParamType::kToken: {
        if (f.kind == SearchFilter::Kind::kId) {
          v.text = Unescape(raw);
          if (!fhir::IsValidId(v.text))
            return core::Fail(Bad(fmt::format("'{}' is not a valid id", v.text)));
          return v;
        }
        if (f.modifier == Modifier::kText) {
          v.exact = Unescape(raw);
          v.text = fhir::NormalizeSearchString(v.exact);
          if (v.text.empty()) return core::Fail(Bad("an empty value"));
          return v;
        }
        RETURN_IF_ERROR(SystemAndCode(raw, v));
        return v;
      }
      case SearchParamType::kReference: {
        if (f.modifier == Modifier::kIdentifier) {
          RETURN_IF_ERROR(SystemAndCode(raw, v));
          return v;
        }
        std::string ref = Unescape(raw);
        std::string_view r = ref;
        if (size_t h = r.find("/_history/"); h != std::string_view::npos) r = r.substr(0, h);
        size_t slash = r.rfind('/');
        if (slash == std::string_view::npos) {
          v.target_id = std::string(r);
          v.target_type = type_modifier_;
        } else {
          std::string_view head = r.substr(0, slash);
          size_t prev = head.rfind('/');
          std::string_view t = prev == std::string_view::npos ? head : head.substr(prev + 1);
          if (registry_.definitions().IsResourceType(t) && slash + 1 < r.size()) {
            v.target_type = std::string(t);
            v.target_id = std::string(r.substr(slash + 1));
          } else {
            v.target_id = ref;  // an absolute or canonical URL that is not [base]/Type/id
          }
        }
        return v;
      }
      case SearchParamType::kDate: {
        std::string date = SearchDateText(raw);
        std::string_view text = date;
        v.comparator = TakePrefix(text);
        auto range = core::ParseFhirDateTimeRange(text);
        if (!range) {
          return core::Fail(Bad(fmt::format("'{}' is not a valid FHIR date, dateTime or instant",
                                            std::string(text))));
        }
        v.begin = range->begin;
        v.end = range->end;
        return v;
      }
      case SearchParamType::kNumber: {
        std::string_view text = raw;
        v.comparator = TakePrefix(text);
        return ParseNumber(text, v);
      }
      case SearchParamType::kQuantity: {
        std::string_view text = raw;
        v.comparator = TakePrefix(text);
        std::vector<std::string> parts = SplitUnescaped(text, '|');
        if (parts.size() != 1 && parts.size() != 3) {
          return core::Fail(Bad(fmt::format("'{}' is not a quantity: number, or number|system|code",
                                            std::string(text))));
        }
        ASSIGN_OR_RETURN(v, ParseNumber(parts[0], v));
        if (parts.size() == 3) {
          v.system = Unescape(parts[1]);
          v.code = Unescape(parts[2]);
          // A UCUM unit converts (fhir/ucum.h): the bounds separately, as conversions keep
          // order but not widths (temperatures have offsets).
          if (!v.code.empty() && (v.system->empty() || *v.system == "http://unitsofmeasure.org")) {
            auto n = fhir::CanonicalizeUcum(v.number, v.code);
            auto lo = fhir::CanonicalizeUcum(v.low, v.code);
            auto hi = fhir::CanonicalizeUcum(v.high, v.code);
            if (n && lo && hi) {
              v.canonical_number = n->value;
              v.canonical_low = lo->value;
              v.canonical_high = hi->value;
              v.canonical_code = n->unit;
            }
          }
        }
        return v;
      }
      case SearchParamType::kComposite: {
        // One value per component, separated by '$' (search.html#composite); each is read as
        // its component's type, prefixes included.
        std::vector<std::string> parts = SplitUnescaped(raw, '$');
        if (parts.size() != f.component_types.size()) {
          return core::Fail(Bad(fmt::format("'{}' is not {} values separated by '$'", raw,
                                            f.component_types.size())));
        }
        for (size_t i = 0; i < parts.size(); ++i) {
          SearchFilter component;
          component.type = f.component_types[i];
          ASSIGN_OR_RETURN(SearchValue c, Value(component, parts[i]));
          v.components.push_back(std::move(c));
        }
        return v;
      }
    }
    return core::Fail(Bad("unsupported parameter type"));
  }

  core::Result<SearchFilter> Chain(std::string_view type, std::string_view name, size_t dot,
                                   std::string_view value, int depth) {
    if (depth >= limits_.max_chain_depth) {
      limit_hit_ = true;
      return core::Fail(Bad(fmt::format("'{}': chains may have at most {} links", std::string(name),
                                        limits_.max_chain_depth)));
    }
    std::string_view head = name.substr(0, dot);
    std::string_view rest = name.substr(dot + 1);
    std::string_view code = head;
    std::string_view target;
    if (size_t colon = head.find(':'); colon != std::string_view::npos) {
      code = head.substr(0, colon);
      target = head.substr(colon + 1);
    }
    const fhir::SearchParameter* p = registry_.Find(type, code);
    if (!p || p->type != SearchParamType::kReference) {
      return core::Fail(Bad(fmt::format("'{}': {} has no reference parameter '{}' to chain",
                                        std::string(name), std::string(type), std::string(code))));
    }
    SearchFilter f;
    f.kind = SearchFilter::Kind::kChain;
    f.type = SearchParamType::kReference;
    f.param = std::string(code);
    std::vector<std::string> targets;
    if (!target.empty()) {
      if (std::find(p->targets.begin(), p->targets.end(), target) == p->targets.end()) {
        return core::Fail(Bad(fmt::format("'{}': {} cannot refer to {}", std::string(name),
                                          std::string(code), std::string(target))));
      }
      targets.emplace_back(target);
    } else {
      targets = p->targets;
    }
    // The chained parameter's name, without modifiers or further links.
    std::string_view next = rest.substr(0, rest.find_first_of(":."));
    core::Status last_error = core::OkStatus();
    for (const std::string& t : targets) {
      if (next != "_id" && next != "_lastUpdated" && !next.starts_with("_has") &&
          !registry_.Find(t, next)) {
        continue;  // this target type has no such parameter
      }
      Parser inner(registry_, limits_, strict_);
      auto chained = inner.Filter(t, rest, value, depth + 1);
      if (!chained) {
        last_error = chained.error();
        if (inner.limit_hit_) limit_hit_ = true;
        continue;
      }
      f.links.push_back(store::LinkedFilters{t, {std::move(*chained)}});
    }
    if (f.links.empty()) {
      if (!last_error.ok()) return core::Fail(last_error);
      return core::Fail(Bad(fmt::format("'{}': no target of {} has a search parameter '{}'",
                                        std::string(name), std::string(code), std::string(next))));
    }
    return f;
  }

  // _has:Observation:patient:code=1234 — resources that an Observation whose code is 1234
  // refers to through its `patient` parameter.
  core::Result<SearchFilter> ReverseChain(std::string_view type, std::string_view name,
                                          std::string_view value, int depth) {
    if (depth >= limits_.max_chain_depth) {
      limit_hit_ = true;
      return core::Fail(Bad(fmt::format("'{}': chains may have at most {} links", std::string(name),
                                        limits_.max_chain_depth)));
    }
    std::string_view rest = name.substr(5);
    size_t c1 = rest.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : rest.find(':', c1 + 1);
    if (c2 == std::string_view::npos) {
      return core::Fail(
          Bad(fmt::format("'{}' is not _has:Type:reference:parameter", std::string(name))));
    }
    std::string source(rest.substr(0, c1));
    std::string ref(rest.substr(c1 + 1, c2 - c1 - 1));
    std::string_view inner_name = rest.substr(c2 + 1);
    if (!registry_.definitions().IsResourceType(source)) {
      return core::Fail(Bad(fmt::format("_has: '{}' is not a resource type", source)));
    }
    const fhir::SearchParameter* p = registry_.Find(source, ref);
    if (!p || p->type != SearchParamType::kReference ||
        std::find(p->targets.begin(), p->targets.end(), type) == p->targets.end()) {
      return core::Fail(Bad(fmt::format("_has: {} has no reference parameter '{}' to {}", source,
                                        ref, std::string(type))));
    }
    Parser inner(registry_, limits_, strict_);
    auto chained = inner.Filter(source, inner_name, value, depth + 1);
    if (!chained) {
      if (inner.limit_hit_) limit_hit_ = true;
      return core::Fail(chained.error());
    }
    SearchFilter f;
    f.kind = SearchFilter::Kind::kReverseChain;
    f.type = SearchParamType::kReference;
    f.param = ref;
    f.links.push_back(store::LinkedFilters{source, {std::move(*chained)}});
    return f;
  }

  core::Status ParseInclude(std::string_view type, const std::string& name,
                            const std::string& value, store::SearchQuery& q) {
    store::Include inc;
    inc.reverse = name.starts_with("_revinclude");
    std::string_view modifier = std::string_view(name).substr(inc.reverse ? 11 : 8);
    if (modifier == ":iterate" || modifier == ":recurse") {
      inc.iterate = true;
    } else if (!modifier.empty()) {
      return Bad(fmt::format("'{}' is not _include, _include:iterate or _revinclude", name));
    }
    if (q.includes.size() >= limits_.max_includes) {
      limit_hit_ = true;
      return Bad(fmt::format("at most {} _include and _revinclude parameters are allowed",
                             limits_.max_includes));
    }
    std::vector<std::string> parts = SplitUnescaped(value, ':');
    if (value == "*") {
      inc.source_type = std::string(type);
      inc.param.assign(1, '*');  // not = "*": g++ 12 warns falsely (-Wrestrict)
    } else if (parts.size() == 2 || parts.size() == 3) {
      inc.source_type = parts[0];
      inc.param = parts[1];
      if (parts.size() == 3) inc.target_type = parts[2];
    } else {
      return Bad(fmt::format("{}: '{}' is not Type:parameter[:targetType]", name, value));
    }
    if (!registry_.definitions().IsResourceType(inc.source_type)) {
      return Bad(fmt::format("{}: '{}' is not a resource type", name, inc.source_type));
    }
    if (inc.param != "*") {
      const fhir::SearchParameter* p = registry_.Find(inc.source_type, inc.param);
      if (!p || p->type != SearchParamType::kReference) {
        return Bad(fmt::format("{}: {} has no reference parameter '{}'", name, inc.source_type,
                               inc.param));
      }
      if (!inc.target_type.empty() &&
          std::find(p->targets.begin(), p->targets.end(), inc.target_type) == p->targets.end()) {
        return Bad(fmt::format("{}: {}.{} cannot refer to {}", name, inc.source_type, inc.param,
                               inc.target_type));
      }
    }
    // A plain _include starts from the matches, so its source must be the searched type.
    if (!inc.reverse && !inc.iterate && inc.source_type != type) {
      return Bad(fmt::format("{}: '{}' does not start from {}", name, value, std::string(type)));
    }
    q.includes.push_back(std::move(inc));
    return core::OkStatus();
  }

  const fhir::SearchParameterRegistry& registry_;
  const SearchLimits& limits_;
  bool strict_;
  const fhir::SearchParameter* param_ = nullptr;  // of the filter being parsed
  std::string type_modifier_;                     // of the reference filter being parsed
  bool limit_hit_ = false;
};

}  // namespace

store::SearchFilter LastUpdatedFilter(store::Comparator comparator,
                                      core::MicrosSinceEpoch instant) {
  SearchFilter f;
  f.kind = SearchFilter::Kind::kLastUpdated;
  f.param = "_lastUpdated";
  f.type = SearchParamType::kDate;
  f.any_of.push_back(SearchValue{.comparator = comparator, .begin = instant, .end = instant});
  return f;
}

std::string SearchDateText(std::string_view value) {
  std::string out(value);
  std::replace(out.begin(), out.end(), ' ', '+');
  return out;
}

std::vector<std::string> SplitUnescaped(std::string_view value, char separator) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && i + 1 < value.size()) {
      out.back() += c;
      out.back() += value[++i];
    } else if (c == separator) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

std::string Unescape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size() &&
        (value[i + 1] == ',' || value[i + 1] == '|' || value[i + 1] == '$' ||
         value[i + 1] == '\\' || value[i + 1] == ':')) {
      out += value[++i];
    } else {
      out += value[i];
    }
  }
  return out;
}

core::Result<store::SearchFilter> PatientCompartmentFilter(
    const fhir::SearchParameterRegistry& registry, std::string_view type,
    std::string_view patient_id) {
  const std::string id(patient_id);
  return PatientCompartmentFilter(registry, type, std::span<const std::string>(&id, 1));
}

core::Result<store::SearchFilter> PatientCompartmentFilter(
    const fhir::SearchParameterRegistry& registry, std::string_view type,
    std::span<const std::string> patient_ids) {
  SearchFilter any;
  any.kind = SearchFilter::Kind::kAnyOf;
  if (type == "Patient") {
    if (patient_ids.empty()) return core::Fail(Bad("every Patient is in a Patient compartment"));
    SearchFilter self;
    self.kind = SearchFilter::Kind::kId;
    self.param = "_id";
    for (const std::string& id : patient_ids) self.any_of.push_back(SearchValue{.text = id});
    any.alternatives.push_back(std::move(self));
  }
  for (const std::string& param : fhir::PatientCompartment::Embedded().Params(type)) {
    const fhir::SearchParameter* p = registry.Find(type, param);
    if (!p || p->type != SearchParamType::kReference) continue;
    SearchFilter ref;
    ref.param = param;
    ref.type = SearchParamType::kReference;
    for (const std::string& id : patient_ids) {
      ref.any_of.push_back(SearchValue{.target_type = "Patient", .target_id = id});
    }
    if (patient_ids.empty()) ref.any_of.push_back(SearchValue{.target_type = "Patient"});
    any.alternatives.push_back(std::move(ref));
  }
  if (any.alternatives.empty()) {
    return core::Fail(Bad(fmt::format("{} is not in the Patient compartment", std::string(type))));
  }
  return any;
}

core::Result<ParsedSearch> ParseSearchRequest(const fhir::SearchParameterRegistry& registry,
                                              std::string_view type, const QueryParams& params,
                                              bool strict, const SearchLimits& limits) {
  Parser parser(registry, limits, strict);
  return parser.Run(type, params);
}

}  // namespace medulla::records
