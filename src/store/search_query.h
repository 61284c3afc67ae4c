// A parsed FHIR search, in terms every store backend can execute: filters over the indexed
// values of search parameters (see fhir/search_parameters.h for how values are normalised),
// sort keys, a paging cursor and includes. records/search_request.cc builds it from the URL
// grammar; store backends translate it (sqlite/search_sql.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/time.h"
#include "fhir/search_parameters.h"

namespace medulla::store {

// FHIR search prefixes (https://hl7.org/fhir/R4/search.html#prefix).
enum class Comparator : uint8_t { kEq, kNe, kGt, kLt, kGe, kLe, kSa, kEb, kAp };

enum class Modifier : uint8_t {
  kNone,
  kExact,       // string: whole value, case-sensitive
  kContains,    // string, uri: substring
  kMissing,     // any type: `missing` says which way
  kNot,         // token: no value matches
  kText,        // token: the display / text, like a string search
  kAbove,       // uri: the value is a prefix of the searched url; token: unsupported
  kBelow,       // uri: the searched url is a prefix of the value
  kIdentifier,  // reference: by Reference.identifier (system|value)
};

// One alternative of a comma-separated OR list. Which fields are used depends on the filter's
// parameter type, as for fhir::IndexValue.
struct SearchValue {
  Comparator comparator = Comparator::kEq;
  std::string text;                   // string (normalised), uri
  std::string exact;                  // string: as written, for :exact
  std::optional<std::string> system;  // token, quantity: nullopt = any system; "" = none
  std::string code;                   // token code, identifier value; quantity unit code
  std::string target_type;            // reference: "" = any type
  std::string target_id;              // reference: the id, or an absolute URL as written
  core::MicrosSinceEpoch begin = 0;   // date: the searched range [begin, end)
  core::MicrosSinceEpoch end = 0;
  double number = 0;  // number, quantity: the value as written
  double low = 0;     // number, quantity: the implicit precision range [low, high) of `number`
  double high = 0;
  // quantity: the value and unit in canonical UCUM units, when the unit is convertible.
  std::optional<double> canonical_number, canonical_low, canonical_high;
  std::string canonical_code;
  // composite: one value per component (`code$value`), each used as its component's type.
  std::vector<SearchValue> components;
};

struct SearchFilter;

// A set of filters (ANDed) that resources of `type` must meet: the target of a chain, the
// source of a reverse chain.
struct LinkedFilters {
  std::string type;
  std::vector<SearchFilter> filters;
};

struct SearchFilter {
  enum class Kind : uint8_t {
    kValue,         // `param` has a value among `any_of` (or the modifier's test)
    kId,            // _id: the resource id is among any_of[].text
    kLastUpdated,   // _lastUpdated: meta.lastUpdated against any_of[] date ranges
    kChain,         // `param` references a resource that meets one of `links` (one per type)
    kReverseChain,  // _has: a resource of links[0].type whose `param` references this one
                    // meets links[0].filters
    kAnyOf,         // at least one of `alternatives` holds (compartments)
  };
  Kind kind = Kind::kValue;
  std::string param;  // the search parameter's code
  fhir::SearchParamType type = fhir::SearchParamType::kToken;
  Modifier modifier = Modifier::kNone;
  bool missing = false;  // with kMissing: true = has no value
  std::vector<SearchValue> any_of;
  // composite: the type of each component, in order.
  std::vector<fhir::SearchParamType> component_types;
  std::vector<LinkedFilters> links;
  std::vector<SearchFilter> alternatives;
};

struct SortKey {
  std::string param;  // a search parameter code, "_id" or "_lastUpdated"
  fhir::SearchParamType type = fhir::SearchParamType::kString;
  bool descending = false;
};

// _include (forward: the resources the matches reference through `param`) and _revinclude
// (reverse: resources of `source_type` that reference the matches through `param`).
struct Include {
  bool reverse = false;
  bool iterate = false;     // also apply to resources included by other includes
  std::string source_type;  // the type that owns `param`
  std::string param;        // a reference parameter of source_type; "*" = all of them
  std::string target_type;  // only targets of this type; "" = any
};

// Type-level search over current, non-deleted resources.
struct SearchQuery {
  std::string type;
  std::vector<SearchFilter> filters;  // ANDed
  std::vector<SortKey> sort;          // empty: insertion order (stable)
  std::vector<Include> includes;
  std::string cursor;  // opaque, from a previous page's next/prev cursor
  size_t count = 50;   // 0: only the total
  bool want_total = false;
  size_t max_included = 5000;  // included resources per page, beyond which they are cut off
};

}  // namespace medulla::store
