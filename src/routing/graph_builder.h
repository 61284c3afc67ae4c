// Builds the router's road graph from a road network read from OSM (or written by hand in a
// test): decision points, edges, turn restrictions as split via nodes, the segment keys for
// traffic, the snapping grid, the largest strongly connected part and the contraction order.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "routing/road_graph.h"
#include "routing/road_profile.h"

namespace medulla::routing {

struct NetworkWay {
  int64_t id = 0;
  WayProfile profile;
  std::vector<int64_t> nodes;  // OSM node ids in way order
};

// A via-node turn restriction (OSM type=restriction): from `from_way` through `via_node`,
// turning into `to_way` is forbidden (no_*), or is the only turn allowed (only_*).
struct TurnRestriction {
  int64_t from_way = 0;
  int64_t via_node = 0;
  int64_t to_way = 0;
  bool only = false;
};

struct NodeLocation {
  int32_t lat = 0, lon = 0;  // 1e-7 degrees
};

struct RoadNetwork {
  std::vector<NetworkWay> ways;
  std::unordered_map<int64_t, NodeLocation> nodes;  // the nodes the ways name
  std::vector<TurnRestriction> restrictions;
  ImportSummary summary;  // what the reader counted (ways_read, restrictions_read, ...)
};

// InvalidArgument when the network has no drivable road.
core::Result<RoadGraphData> BuildRoadGraph(const RoadNetwork& network);

// Great-circle distance in metres.
double DistanceMetres(NodeLocation a, NodeLocation b);

}  // namespace medulla::routing
