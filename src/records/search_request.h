// The FHIR search grammar (https://hl7.org/fhir/R4/search.html): parses a request's query
// parameters against the search parameters of the resource type into a store::SearchQuery,
// plus what shapes the answer (_summary, _elements). Pure: no store, no I/O.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "fhir/search_parameters.h"
#include "store/search_query.h"

namespace medulla::records {

// Query parameters, already percent-decoded, in request order.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct SearchLimits {
  size_t max_parameters = 64;  // more in one request: 400
  size_t max_values = 100;     // a longer comma list: 400
  size_t default_count = 50;
  size_t max_count = 1000;  // a larger _count is lowered to this
  int max_chain_depth = 2;  // subject:Patient.organization.name: 2 links
  size_t max_includes = 16;
};

enum class Summary : uint8_t { kFalse, kTrue, kText, kData, kCount };

struct ParsedSearch {
  store::SearchQuery query;
  // The parameters applied, normalised, with the paging cursor: the Bundle links repeat them.
  QueryParams applied;
  // Parameters that were not understood and were ignored (lenient handling), one message each.
  std::vector<std::string> ignored;
  Summary summary = Summary::kFalse;
  std::string elements;  // _elements as given (comma-separated names; fhir/shaping.h)
};

// `strict` (Prefer: handling=strict): an unknown or malformed parameter is a 400. Otherwise it
// is ignored and reported in `ignored`. Limits are errors either way.
core::Result<ParsedSearch> ParseSearchRequest(const fhir::SearchParameterRegistry& registry,
                                              std::string_view type, const QueryParams& params,
                                              bool strict, const SearchLimits& limits = {});

// The filter "in patient `patient_id`'s compartment" for resources of `type`: one of the
// compartment's parameters refers to the patient (or, for Patient, it is the patient).
// Errors: kInvalidArgument when `type` is not in the Patient compartment.
core::Result<store::SearchFilter> PatientCompartmentFilter(
    const fhir::SearchParameterRegistry& registry, std::string_view type,
    std::string_view patient_id);
// The same for the compartments of several patients (one of them); no ids: of any patient,
// for types other than Patient (kInvalidArgument for Patient: every Patient is in one).
core::Result<store::SearchFilter> PatientCompartmentFilter(
    const fhir::SearchParameterRegistry& registry, std::string_view type,
    std::span<const std::string> patient_ids);

// "_lastUpdated `comparator` `instant`" (an instant: the range is the point itself).
store::SearchFilter LastUpdatedFilter(store::Comparator comparator, core::MicrosSinceEpoch instant);

// A date search value as sent: a '+' of a time-zone offset that the query decoding turned
// into a space ("2026-01-01T00:00:00 01:00") is put back. Dates never contain spaces.
std::string SearchDateText(std::string_view value);

// Splits a parameter value at unescaped `separator`s (search.html#escaping), keeping escapes.
std::vector<std::string> SplitUnescaped(std::string_view value, char separator);
// Removes the escapes: "\," -> ",", "\|" -> "|", "\$" -> "$", "\\" -> "\".
std::string Unescape(std::string_view value);

}  // namespace medulla::records
