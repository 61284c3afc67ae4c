// The subsets of a resource that a client asks for with `_summary` and `_elements`
// (https://hl7.org/fhir/R4/search.html#summary and #elements), computed on the JSON tree with
// the element tables of Definitions. They run per resource of a search page, so they walk the
// tree once, look elements up by the tables' hash index, and copy only the objects they change:
// everything kept whole is shared with the input tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "json/value.h"

namespace medulla::fhir {

// The meta.tag that marks a resource as incomplete, so that nobody saves it back over the whole
// one (search.html#summary).
inline constexpr std::string_view kSubsettedSystem =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
inline constexpr std::string_view kSubsettedCode = "SUBSETTED";

enum class SummaryMode : uint8_t {
  kFalse,  // the whole resource
  kTrue,   // the elements marked isSummary, recursively
  kText,   // text, id, meta and the top-level mandatory elements
  kData,   // everything but text
};

// "true", "text", "data" or "false"; nullopt for anything else. `count` is not a shape of a
// resource: search handles it before any resource is read.
std::optional<SummaryMode> ParseSummaryMode(std::string_view value);

// `resource` as `mode` shapes it, tagged SUBSETTED unless the mode is kFalse.
//
// kTrue keeps resourceType, id and meta, and every element that the base definitions mark
// isSummary, recursing into backbone elements, data types and nested resources (Bundle.entry
// .resource) with their own flags. A kept Extension (modifierExtension is a summary element) is
// kept whole, and so is a primitive's `_name`, which goes with `name`. Objects and array items
// left empty are dropped. The result is not always valid: a few mandatory elements are not
// summary elements (Provenance.agent, AuditEvent.agent and .source, Appointment.participant),
// which the SUBSETTED tag tells the client.
// kText and kData work on the top level only.
//
// New nodes are allocated in `out`, which may serve many calls (one per search page, say);
// whatever is kept whole is shared with `resource`, not copied, so the result is valid while both
// documents live. Returns `resource` itself for kFalse, for a non-object and for an unknown
// resourceType. Thread-safe.
const json::Value& Summarize(const Definitions& definitions, const json::Value& resource,
                             SummaryMode mode, json::Document& out);

// The parsed value of `_elements`: names of top-level elements. A choice element is named
// without its type ("value" selects valueQuantity, valueString...); a typed name
// ("valueQuantity") selects that type only.
//
// Caches the elements it selects per resource type: not thread-safe, so one per request.
class ElementSelection {
 public:
  // From the parameter's value: names separated by commas; empty names are ignored.
  explicit ElementSelection(std::string_view elements);

  bool empty() const { return names_.empty(); }
  const std::vector<std::string>& names() const { return names_; }

  // The names that are no element of `type`, in the order given, for the caller to warn about.
  std::vector<std::string> UnknownNames(const TypeDef& type) const;

 private:
  friend const json::Value& SelectElements(const Definitions&, const json::Value&,
                                           const ElementSelection&, json::Document&);

  // Per element of `type` (indexed like type.elements): 1 if selected. The mandatory elements
  // are selected too, as search.html#elements asks servers to return them. Valid until the
  // next call.
  const std::vector<uint8_t>& Selected(const TypeDef& type) const;

  std::vector<std::string> names_;
  mutable std::vector<std::pair<const TypeDef*, std::vector<uint8_t>>> cache_;
};

// `resource` with resourceType, id, meta, the selected top-level elements and the mandatory ones,
// tagged SUBSETTED. Allocation and sharing as for Summarize. Returns `resource` itself for an
// empty selection, a non-object and an unknown resourceType.
const json::Value& SelectElements(const Definitions& definitions, const json::Value& resource,
                                  const ElementSelection& selection, json::Document& out);

}  // namespace medulla::fhir
