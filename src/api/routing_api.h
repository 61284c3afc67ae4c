// The routing endpoints: GET /routing/route, POST /routing/table, POST /routing/traffic.
// Parse the request, call routing::Router, render JSON; errors come back as a Status for the
// caller (FhirApi) to answer as an OperationOutcome.
#pragma once

#include "core/status.h"
#include "http/message.h"
#include "records/record_service.h"
#include "routing/router.h"

namespace medulla::api {

// Most points in a table request (sources x destinations).
inline constexpr size_t kMaxTableCells = 250'000;
inline constexpr size_t kMaxTableSide = 5'000;

// ?from=LON,LAT&to=LON,LAT[&geometry=false][&closed=FROM:TO,FROM:TO,..]
//   -> {"duration_s","distance_m","geometry"}.
// `closed`: directed segments between adjacent OSM nodes closed for this request only.
core::Result<http::Response> RoutingRoute(routing::Router& router,
                                          const records::QueryParams& params);
// {"sources":[[lon,lat],..],"destinations":[[lon,lat],..][,"closed":[[from,to],..]]}
//   -> {"durations_s","distances_m"}.
core::Result<http::Response> RoutingTable(routing::Router& router, std::string_view body);
// NDJSON speed updates (routing/traffic_feed.h); answers once they are live.
core::Result<http::Response> RoutingTraffic(routing::Router& router, std::string_view body);

}  // namespace medulla::api
