// The dispatch endpoints: POST /dispatch/recommend (JSON), POST /$dispatch-recommend (the same
// as a FHIR operation, Parameters in and out), POST /dispatch/positions (NDJSON position
// reports) and GET /dispatch/state. Parsing and rendering only: dispatch::DispatchService
// decides; errors come back as a Status for FhirApi to answer as an OperationOutcome.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "dispatch/service.h"

namespace medulla::api {

struct DispatchRequest {
  dispatch::RecommendRequest request;
  bool commit = false;  // record the dispatch (Task, ambulance dispatched)
  bool batch = false;   // "incidents": [...] rather than "incident": {...}
};

// {"incident": {"id", "location": [lon, lat], "condition", "lvo_suspected", "paediatric"}
//  | "incidents": [...], "hospitals": [ids], "closed": [[from, to], ...], "geometry": bool,
//  "dispatch": bool}
core::Result<DispatchRequest> ParseDispatchRequest(std::string_view body,
                                                   const routing::Router& router);
// A Parameters resource: longitude, latitude (valueDecimal), condition (valueCode),
// lvo-suspected, paediatric, dispatch, geometry (valueBoolean), incident (valueString),
// hospital (valueReference Location/ID or valueString, repeating), closed (valueString
// "FROM:TO", repeating).
core::Result<DispatchRequest> ParseDispatchParameters(std::string_view body,
                                                      const routing::Router& router);

// `tasks[i]`: the Task recorded for recommendation i ("" when none).
std::string RenderRecommendations(const std::vector<dispatch::Recommendation>& recs,
                                  const std::vector<std::string>& tasks, bool batch);
std::string RenderRecommendationParameters(const dispatch::Recommendation& rec,
                                           const std::string& task);
std::string RenderFleetView(const dispatch::FleetView& view, int64_t now_ms);

}  // namespace medulla::api
