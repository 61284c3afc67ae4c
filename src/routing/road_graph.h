// The road network as the router uses it, and its file.
//
// An edge is a directed piece of road between two decision points (junctions, way ends,
// turn-restriction via nodes): a chain of OSM segments, each segment the stretch between two
// adjacent OSM nodes with its own length, free-flow speed and, at run time, live speed. A
// two-way road is two edges (twins) with their own points. The graph the shortest-path engine
// sees has arcs: each edge has one arc from its tail node, or several when its tail is a
// turn-restriction via node, which is split into one copy per incoming edge so that a
// restriction is just a missing arc (node-based graph, exact for via-node restrictions).
//
// The file is a header followed by 8-byte-aligned arrays; Load maps it read-only and the
// RoadGraph's spans point into the mapping, so loading costs no parsing and no copy.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace medulla::routing {

inline constexpr uint32_t kNoEdge = 0xFFFFFFFFu;
// edge_flags: the edge lies in the largest strongly connected part of the graph (snapping
// prefers such roads: a point snapped to an isolated car park could reach nothing).
inline constexpr uint8_t kEdgeInMainComponent = 1;

// The snapping grid: the segments whose bounding box touches each cell.
struct GridShape {
  int32_t min_lat = 0, min_lon = 0;  // 1e-7 degrees, the south-west corner
  int32_t cell = 1;                  // cell side in 1e-7 degrees
  uint32_t rows = 0, cols = 0;
};

// Counts for the import summary and /routing/... diagnostics.
struct ImportSummary {
  uint64_t ways_read = 0;          // OSM ways looked at
  uint64_t ways_kept = 0;          // drivable by the profile
  uint64_t restrictions_read = 0;  // type=restriction relations
  uint64_t restrictions_applied = 0;
  uint64_t restrictions_skipped = 0;  // via a way, or naming ways/nodes not in the graph
  uint64_t oneway_edges = 0;          // edges without a twin
};

// Everything the file holds, as owned arrays: what the builder produces and Save writes.
struct RoadGraphData {
  uint32_t node_count = 0;
  // Edges (E): points [edge_point_begin[e], edge_point_begin[e+1]); arcs likewise.
  std::vector<uint32_t> edge_point_begin;  // E+1
  std::vector<uint32_t> edge_first_arc;    // E+1
  std::vector<uint32_t> edge_twin;         // E; kNoEdge for one-way roads
  std::vector<uint32_t> edge_head;         // E; the node the edge arrives at
  std::vector<uint8_t> edge_class;         // E; RoadClass
  std::vector<int64_t> edge_way;           // E; the OSM way
  std::vector<uint8_t> edge_flags;         // E; kEdgeInMainComponent
  // Arcs (M), grouped by edge; all arcs of an edge share its head.
  std::vector<uint32_t> arc_tail, arc_head;
  // Points (P). Segment p runs from point p to p+1 of the same edge; the last point of an
  // edge starts no segment (its length 0).
  std::vector<int32_t> point_lat, point_lon;  // 1e-7 degrees
  std::vector<int64_t> point_osm;             // OSM node id
  std::vector<uint32_t> point_edge;           // P: the edge a point belongs to
  std::vector<uint32_t> segment_length_dm;    // P: decimetres
  std::vector<uint8_t> segment_speed_kmh;     // P: free-flow speed
  // Directed segments by OSM node pair, sorted by (from, to): for traffic updates.
  std::vector<int64_t> key_from, key_to;
  std::vector<uint32_t> key_point;
  // Snapping grid: the segments (by start point) of one edge of each twin pair, per cell.
  GridShape grid;
  std::vector<uint32_t> cell_first;  // rows*cols + 1
  std::vector<uint32_t> cell_points;
  // The shortest-path engine's contraction order (CchTopology::ComputeOrder).
  std::vector<uint32_t> order;
  ImportSummary summary;
};

// A read-only view of a road graph (mapped from its file, or over RoadGraphData in tests).
// Immutable; shared by every thread.
class RoadGraph {
 public:
  // Maps the file. NotFound when it does not exist; InvalidArgument when it is not a road
  // graph file of this version, is truncated, or its arrays do not fit together.
  static core::Result<std::shared_ptr<const RoadGraph>> Load(const std::string& path);
  // A view over data kept alive by the view.
  static core::Result<std::shared_ptr<const RoadGraph>> FromData(RoadGraphData data);

  uint32_t node_count() const { return node_count_; }
  uint32_t edge_count() const { return static_cast<uint32_t>(edge_twin.size()); }
  uint32_t arc_count() const { return static_cast<uint32_t>(arc_tail.size()); }
  uint32_t point_count() const { return static_cast<uint32_t>(point_lat.size()); }

  std::span<const uint32_t> edge_point_begin, edge_first_arc, edge_twin, edge_head;
  std::span<const uint8_t> edge_class;
  std::span<const int64_t> edge_way;
  std::span<const uint8_t> edge_flags;
  std::span<const uint32_t> arc_tail, arc_head;
  std::span<const int32_t> point_lat, point_lon;
  std::span<const int64_t> point_osm;
  std::span<const uint32_t> point_edge, segment_length_dm;
  std::span<const uint8_t> segment_speed_kmh;
  std::span<const int64_t> key_from, key_to;
  std::span<const uint32_t> key_point;
  GridShape grid;
  std::span<const uint32_t> cell_first, cell_points;
  std::span<const uint32_t> order;
  ImportSummary summary;

  // The arc's edge (binary search over edge_first_arc).
  uint32_t EdgeOfArc(uint32_t arc) const;
  // The directed segments from OSM node `from` to its neighbour `to` (more than one where
  // ways overlap), as a range of the key arrays; empty when the graph has none.
  std::pair<size_t, size_t> FindSegments(int64_t from, int64_t to) const;

 private:
  RoadGraph() = default;
  core::Status Check() const;
  uint32_t node_count_ = 0;
  std::shared_ptr<const void> owner_;  // the mapping or the data
};

// Where a data directory keeps its road graph.
std::string RoadGraphPath(const std::string& data_dir);

// Writes the file atomically (a temporary beside it, fsync, rename).
core::Status SaveRoadGraph(const RoadGraphData& data, const std::string& path);

}  // namespace medulla::routing
