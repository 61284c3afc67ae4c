// Small types shared by the shortest-path engines (routing/cch.h, routing/dijkstra.h) and their
// callers. They describe a plain directed graph: no OSM, no files, no coordinates.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace medulla::routing {

// The weight of a closed arc, and the answer "unreachable". Any sum that reaches it saturates:
// a path whose weight would be >= kInfWeight is treated as no path at all.
inline constexpr uint32_t kInfWeight = std::numeric_limits<uint32_t>::max();

// A directed graph as arc lists; an arc is named by its index (0 .. tail.size()-1), and the
// metric (weight[a], length[a]) is given separately so one topology serves many metrics.
// Parallel arcs and self-loops may occur. tail.size() must equal head.size().
struct ArcGraph {
  uint32_t node_count = 0;
  std::vector<uint32_t> tail, head;
};

// Where a search starts or ends: a node reached with a cost already paid (a position part-way
// along a road). As a source: the cost from the position to the node; as a target: the cost
// from the node to the position.
struct Seed {
  uint32_t node;
  uint32_t weight;
  uint32_t length;
};

// A path's cost: weight (travel time in ms) is minimised; length (metres) is carried along the
// chosen path. Among paths of equal weight any one may be chosen, so its length is that path's.
struct PathCost {
  uint32_t weight = kInfWeight;
  uint32_t length = 0;

  bool reachable() const { return weight != kInfWeight; }
};

}  // namespace medulla::routing
