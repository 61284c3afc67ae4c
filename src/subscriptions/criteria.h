// A subscription's criteria ("DetectedIssue?patient=Patient/1&status=preliminary"): parsed by
// the search grammar, and matched against one version of one resource in memory, with the
// same meaning as the store's search (FHIR R4 subscription.html: "as if appended to the base
// URL and submitted using the REST API"). See criteria.cc; the differential test in
// tests/subscriptions/criteria_test.cc compares the two.
//
// Supported: every parameter type of the store's search (string, token, reference, date,
// number, quantity, uri, composite), _id, _lastUpdated, all comparators (eq ne gt lt ge le sa
// eb ap), the modifiers :missing, :exact, :contains, :not, :text, :above, :below,
// :identifier and reference type modifiers (subject:Patient), and OR-ed values.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "core/time.h"
#include "fhir/search_parameters.h"
#include "json/value.h"
#include "store/search_query.h"

namespace medulla::subscriptions {

struct Criteria {
  std::string type;          // the resource type
  store::SearchQuery query;  // its filters (ANDed); nothing else of a search is used
};

// Parses "Type" or "Type?params" (percent-encoded, as in a URL; at most 4 KiB).
// kInvalidArgument, naming the part, for an unknown type or parameter, a malformed value, a
// value that is not UTF-8 or holds NUL, and what a subscription cannot use: chains, _has,
// _include, _revinclude, _sort, _count, _summary, _elements, _total, _contained, _format and
// the other result parameters, _id:missing and _lastUpdated:missing, and any modifier the
// matcher does not implement exactly.
core::Result<Criteria> ParseCriteria(const fhir::SearchParameterRegistry& registry,
                                     std::string_view criteria);

// Whether this version of a resource meets the criteria. `resource` is its parsed JSON (the
// stored body), `id` and `last_updated` its id and meta.lastUpdated as the store keeps them.
// Only for live versions: a deletion matches nothing. Like the store, `ap` on dates measures
// its margin from the current time, so the same criteria may judge a version differently
// later.
bool Matches(const Criteria& criteria, const fhir::SearchParameterRegistry& registry,
             const json::Value& resource, std::string_view id, core::MicrosSinceEpoch last_updated);

}  // namespace medulla::subscriptions
