// Live traffic as it arrives (HTTP or the telemetry lane): NDJSON, one segment speed per line,
// {"from_node":OSM_NODE_ID,"to_node":OSM_NODE_ID,"speed_kmh":N}, a segment being the stretch
// between two adjacent OSM nodes, in that direction. speed_kmh 0 closes the segment; null
// returns it to its profile speed.
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"
#include "routing/router.h"

namespace medulla::routing {

inline constexpr size_t kMaxSpeedUpdates = 2'000'000;

// All lines or none: the first malformed line is an InvalidArgument naming it (blank lines are
// skipped). Speeds are range-checked by Router::UpdateTraffic.
core::Result<std::vector<SpeedUpdate>> ParseSpeedUpdates(std::string_view ndjson);

}  // namespace medulla::routing
