// The road graph: what BuildRoadGraph makes of small hand-drawn networks (decision points,
// twins, one-way roads, turn restrictions, gaps), and the graph file (round trip, refusals).
#include "routing/road_graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "routing/graph_builder.h"
#include "testing/temp_dir.h"

namespace medulla::routing {
namespace {

// ---------------------------------------------------------------------------------------------
// Hand-drawn networks
//
// Nodes sit on a grid of 0.001 degree (about 111 m north-south, 84 m east-west) near Porto.

constexpr int32_t kLat0 = 411'500'000;
constexpr int32_t kLon0 = -86'100'000;
constexpr int32_t kStep = 10'000;

struct Net {
  RoadNetwork network;

  // Node `id` at grid position (x east, y north).
  Net& Node(int64_t id, int x, int y) {
    network.nodes[id] = {kLat0 + y * kStep, kLon0 + x * kStep};
    return *this;
  }
  Net& Way(int64_t id, std::vector<int64_t> nodes, bool forward = true, bool backward = true,
           uint8_t kmh = 25, RoadClass c = RoadClass::kResidential) {
    WayProfile p;
    p.road_class = c;
    p.forward = forward;
    p.backward = backward;
    p.forward_kmh = kmh;
    p.backward_kmh = kmh;
    network.ways.push_back({id, p, std::move(nodes)});
    return *this;
  }
  Net& Restriction(int64_t from_way, int64_t via, int64_t to_way, bool only = false) {
    network.restrictions.push_back({from_way, via, to_way, only});
    return *this;
  }
};

RoadGraphData Build(const Net& net) {
  auto d = BuildRoadGraph(net.network);
  EXPECT_TRUE(d.has_value()) << d.error().message();
  return d ? std::move(*d) : RoadGraphData{};
}

std::shared_ptr<const RoadGraph> View(RoadGraphData d) {
  auto g = RoadGraph::FromData(std::move(d));
  EXPECT_TRUE(g.has_value()) << g.error().message();
  return g ? *g : nullptr;
}

// An edge's OSM nodes in order.
std::vector<int64_t> EdgeNodes(const RoadGraphData& d, uint32_t e) {
  return {d.point_osm.begin() + d.edge_point_begin[e],
          d.point_osm.begin() + d.edge_point_begin[e + 1]};
}

// The edge with exactly these OSM nodes, or kNoEdge.
uint32_t FindEdge(const RoadGraphData& d, const std::vector<int64_t>& nodes) {
  for (uint32_t e = 0; e + 1 < d.edge_point_begin.size(); ++e) {
    if (EdgeNodes(d, e) == nodes) return e;
  }
  return kNoEdge;
}

// The graph nodes the arcs of edge `e` leave from.
std::multiset<uint32_t> ArcTails(const RoadGraphData& d, uint32_t e) {
  std::multiset<uint32_t> out;
  for (uint32_t a = d.edge_first_arc[e]; a < d.edge_first_arc[e + 1]; ++a) {
    out.insert(d.arc_tail[a]);
  }
  return out;
}

// The edges an arc leaving graph node `n` leads onto.
std::set<uint32_t> EdgesLeaving(const RoadGraphData& d, uint32_t n) {
  std::set<uint32_t> out;
  for (uint32_t e = 0; e < d.edge_twin.size(); ++e) {
    for (uint32_t a = d.edge_first_arc[e]; a < d.edge_first_arc[e + 1]; ++a) {
      if (d.arc_tail[a] == n) out.insert(e);
    }
  }
  return out;
}

// A T with a one-way branch:
//
//   6
//   |            way 300 (two-way): 2-6
//   1 - 2 - 3 > 4 > 5   way 100 (two-way): 1-2-3; way 200 (one-way east): 3-4-5
Net Tee() {
  Net n;
  n.Node(1, 0, 0).Node(2, 1, 0).Node(3, 2, 0).Node(4, 3, 0).Node(5, 4, 0).Node(6, 1, 1);
  n.Way(100, {1, 2, 3}).Way(200, {3, 4, 5}, true, false, 40).Way(300, {2, 6});
  n.network.summary.ways_read = 7;
  n.network.summary.ways_kept = 3;
  return n;
}

// ---------------------------------------------------------------------------------------------
// The builder

TEST(BuildRoadGraphTest, CutsWaysAtDecisionPointsIntoOneEdgePerDirection) {
  const RoadGraphData d = Build(Tee());
  // 1-2, 2-3 and 2-6 both ways, 3-4-5 one way (node 4 is no decision point).
  ASSERT_EQ(d.edge_twin.size(), 7u);
  for (const std::vector<int64_t>& nodes : std::vector<std::vector<int64_t>>{
           {1, 2}, {2, 1}, {2, 3}, {3, 2}, {2, 6}, {6, 2}, {3, 4, 5}}) {
    EXPECT_NE(FindEdge(d, nodes), kNoEdge) << "no edge " << ::testing::PrintToString(nodes);
  }
  EXPECT_EQ(FindEdge(d, {5, 4, 3}), kNoEdge) << "the one-way road has a backward edge";
  EXPECT_EQ(d.node_count, 5u) << "decision points 1, 2, 3, 5, 6";
  EXPECT_EQ(d.arc_tail.size(), 7u) << "one arc per edge without turn restrictions";
  EXPECT_EQ(d.point_lat.size(), 15u);
  EXPECT_EQ(d.key_from.size(), 8u) << "one key per directed segment";
}

TEST(BuildRoadGraphTest, TwinsAreTheSameRoadReversed) {
  const RoadGraphData d = Build(Tee());
  size_t twins = 0;
  for (uint32_t e = 0; e < d.edge_twin.size(); ++e) {
    const uint32_t t = d.edge_twin[e];
    if (t == kNoEdge) continue;
    ++twins;
    ASSERT_LT(t, d.edge_twin.size());
    EXPECT_EQ(d.edge_twin[t], e);
    std::vector<int64_t> back = EdgeNodes(d, t);
    std::reverse(back.begin(), back.end());
    EXPECT_EQ(EdgeNodes(d, e), back);
    EXPECT_EQ(d.edge_way[e], d.edge_way[t]);
  }
  EXPECT_EQ(twins, 6u);
}

TEST(BuildRoadGraphTest, OneWayRoadsHaveNoTwinAndAreCounted) {
  const RoadGraphData d = Build(Tee());
  const uint32_t e = FindEdge(d, {3, 4, 5});
  ASSERT_NE(e, kNoEdge);
  EXPECT_EQ(d.edge_twin[e], kNoEdge);
  EXPECT_EQ(d.edge_way[e], 200);
  EXPECT_EQ(d.summary.oneway_edges, 1u);
  // The reader's counts are carried over.
  EXPECT_EQ(d.summary.ways_read, 7u);
  EXPECT_EQ(d.summary.ways_kept, 3u);
}

TEST(BuildRoadGraphTest, ArcsJoinTheGraphNodesOfTheirEdgesEnds) {
  const RoadGraphData d = Build(Tee());
  // Every edge that ends at an OSM node ends at the same graph node, and the arcs of the edges
  // that start there leave from it.
  std::map<int64_t, uint32_t> node_of;
  for (uint32_t e = 0; e < d.edge_twin.size(); ++e) {
    const int64_t head = EdgeNodes(d, e).back();
    const auto [it, fresh] = node_of.try_emplace(head, d.edge_head[e]);
    EXPECT_EQ(it->second, d.edge_head[e]) << "OSM node " << head << " is two graph nodes";
  }
  for (uint32_t e = 0; e < d.edge_twin.size(); ++e) {
    const int64_t tail = EdgeNodes(d, e).front();
    ASSERT_EQ(d.edge_first_arc[e + 1] - d.edge_first_arc[e], 1u);
    const uint32_t a = d.edge_first_arc[e];
    EXPECT_EQ(d.arc_head[a], d.edge_head[e]);
    if (node_of.contains(tail)) {
      EXPECT_EQ(d.arc_tail[a], node_of[tail]) << "edge " << e;
    }
  }
  EXPECT_FALSE(node_of.contains(4)) << "node 4 is inside way 200";
}

TEST(BuildRoadGraphTest, SegmentsCarryLengthAndSpeed) {
  const RoadGraphData d = Build(Tee());
  const uint32_t e = FindEdge(d, {3, 4, 5});
  ASSERT_NE(e, kNoEdge);
  const uint32_t p = d.edge_point_begin[e];
  // 0.001 degree of longitude at 41.15 N: 83.7 m.
  EXPECT_NEAR(d.segment_length_dm[p], 837, 3);
  EXPECT_NEAR(d.segment_length_dm[p + 1], 837, 3);
  EXPECT_EQ(d.segment_length_dm[p + 2], 0u) << "the last point starts no segment";
  EXPECT_EQ(d.segment_speed_kmh[p], 40);
  const uint32_t north = FindEdge(d, {2, 6});
  ASSERT_NE(north, kNoEdge);
  EXPECT_NEAR(d.segment_length_dm[d.edge_point_begin[north]], 1112, 3);  // 0.001 deg latitude
  EXPECT_EQ(d.segment_speed_kmh[d.edge_point_begin[north]], 25);
  EXPECT_NEAR(DistanceMetres({kLat0, kLon0}, {kLat0 + kStep, kLon0}), 111.19, 0.01);
}

TEST(BuildRoadGraphTest, TheDeadEndOfAOneWayRoadIsNotInTheMainComponent) {
  const RoadGraphData d = Build(Tee());
  for (uint32_t e = 0; e < d.edge_twin.size(); ++e) {
    const bool into_dead_end = EdgeNodes(d, e).back() == 5;
    EXPECT_EQ((d.edge_flags[e] & kEdgeInMainComponent) != 0, !into_dead_end) << "edge " << e;
  }
}

TEST(BuildRoadGraphTest, SegmentKeysAreSortedAndPointAtTheirSegment) {
  const RoadGraphData d = Build(Tee());
  for (size_t k = 0; k < d.key_from.size(); ++k) {
    if (k > 0) {
      EXPECT_LE(std::pair(d.key_from[k - 1], d.key_to[k - 1]),
                std::pair(d.key_from[k], d.key_to[k]));
    }
    const uint32_t p = d.key_point[k];
    EXPECT_EQ(d.point_osm[p], d.key_from[k]);
    EXPECT_EQ(d.point_osm[p + 1], d.key_to[k]);
    EXPECT_EQ(d.point_edge[p], d.point_edge[p + 1]);
  }
}

TEST(BuildRoadGraphTest, TheGridIndexesOneEdgeOfEachTwinPairInTheCellsItCrosses) {
  const RoadGraphData d = Build(Tee());
  std::set<uint32_t> indexed(d.cell_points.begin(), d.cell_points.end());
  for (uint32_t e = 0; e < d.edge_twin.size(); ++e) {
    const bool wanted = d.edge_twin[e] == kNoEdge || d.edge_twin[e] > e;
    for (uint32_t p = d.edge_point_begin[e]; p + 1 < d.edge_point_begin[e + 1]; ++p) {
      EXPECT_EQ(indexed.contains(p), wanted) << "segment " << p << " of edge " << e;
      if (!wanted) continue;
      // The cell of the segment's start point lists it.
      const GridShape& g = d.grid;
      const int64_t r = (d.point_lat[p] - g.min_lat) / g.cell;
      const int64_t c = (d.point_lon[p] - g.min_lon) / g.cell;
      ASSERT_GE(r, 0);
      ASSERT_LT(r, g.rows);
      ASSERT_GE(c, 0);
      ASSERT_LT(c, g.cols);
      const size_t cell = static_cast<size_t>(r) * g.cols + static_cast<size_t>(c);
      const auto first = d.cell_points.begin() + d.cell_first[cell];
      const auto last = d.cell_points.begin() + d.cell_first[cell + 1];
      EXPECT_NE(std::find(first, last, p), last) << "segment " << p << " missing from its cell";
    }
  }
  EXPECT_EQ(d.order.size(), d.node_count);
}

TEST(BuildRoadGraphTest, ANodeWithoutLocationCutsTheWay) {
  Net n;
  n.Node(1, 0, 0).Node(2, 1, 0).Node(3, 3, 0).Node(4, 4, 0);  // 99 has no location
  n.Way(100, {1, 2, 99, 3, 4});
  const RoadGraphData d = Build(n);
  EXPECT_EQ(d.edge_twin.size(), 4u);
  EXPECT_NE(FindEdge(d, {1, 2}), kNoEdge);
  EXPECT_NE(FindEdge(d, {4, 3}), kNoEdge);
  EXPECT_EQ(std::count(d.point_osm.begin(), d.point_osm.end(), 99), 0);
  auto g = View(d);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->FindSegments(2, 99).first, g->FindSegments(2, 99).second);
  EXPECT_EQ(g->FindSegments(2, 3).first, g->FindSegments(2, 3).second);
  EXPECT_EQ(g->FindSegments(3, 4).second - g->FindSegments(3, 4).first, 1u);
}

TEST(BuildRoadGraphTest, AWayCutDownToOneLocatedNodeIsDropped) {
  Net n;
  n.Node(1, 0, 0).Node(2, 1, 0).Node(3, 2, 0);
  n.Way(100, {1, 2}).Way(200, {98, 3, 99});
  const RoadGraphData d = Build(n);
  EXPECT_EQ(d.edge_twin.size(), 2u);
  EXPECT_EQ(std::count(d.point_osm.begin(), d.point_osm.end(), 3), 0);
}

TEST(BuildRoadGraphTest, RepeatedConsecutiveNodesMakeNoZeroLengthSegment) {
  Net n;
  n.Node(1, 0, 0).Node(2, 1, 0).Node(3, 2, 0);
  n.Way(100, {1, 2, 2, 3});
  const RoadGraphData d = Build(n);
  EXPECT_NE(FindEdge(d, {1, 2, 3}), kNoEdge);
  for (uint32_t e = 0; e < d.edge_twin.size(); ++e) {
    for (uint32_t p = d.edge_point_begin[e]; p + 1 < d.edge_point_begin[e + 1]; ++p) {
      EXPECT_GT(d.segment_length_dm[p], 0u);
    }
  }
}

TEST(BuildRoadGraphTest, ANetworkWithoutDrivableWayIsInvalidArgument) {
  Net closed;
  closed.Node(1, 0, 0).Node(2, 1, 0);
  closed.Way(100, {1, 2}, /*forward=*/false, /*backward=*/false);
  Net unlocated;
  unlocated.Way(100, {1, 2});
  Net one_node;
  one_node.Node(1, 0, 0);
  one_node.Way(100, {1});
  const Net empty;
  for (const Net* n : std::initializer_list<const Net*>{&closed, &unlocated, &one_node, &empty}) {
    auto d = BuildRoadGraph(n->network);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().code(), core::Code::kInvalidArgument);
  }
}

// A crossing with a turn restriction at its centre V (10):
//
//        13
//        |        ways 501 (11-10), 502 (10-12), 503 (10-13), 504 (10-14), all two-way
//   11 - 10 - 12
//        |
//        14
Net Crossing() {
  Net n;
  n.Node(10, 1, 1).Node(11, 0, 1).Node(12, 2, 1).Node(13, 1, 2).Node(14, 1, 0);
  n.Way(501, {11, 10}).Way(502, {10, 12}).Way(503, {10, 13}).Way(504, {10, 14});
  return n;
}

TEST(BuildRoadGraphTest, AViaNodeBecomesOneNodePerArrivingEdge) {
  Net n = Crossing();
  n.Restriction(501, 10, 503);  // no_left_turn from the west into the north arm
  const RoadGraphData d = Build(n);
  EXPECT_EQ(d.edge_twin.size(), 8u);
  EXPECT_EQ(d.node_count, 8u) << "4 arm ends + 4 copies of the via node";
  std::set<uint32_t> heads;
  for (int64_t arm : {11, 12, 13, 14}) heads.insert(d.edge_head[FindEdge(d, {arm, 10})]);
  EXPECT_EQ(heads.size(), 4u) << "the edges arriving at V share a graph node";
}

TEST(BuildRoadGraphTest, NoLeftTurnRemovesExactlyThatArc) {
  Net n = Crossing();
  n.Restriction(501, 10, 503);
  const RoadGraphData d = Build(n);
  EXPECT_EQ(d.summary.restrictions_applied, 1u);
  EXPECT_EQ(d.summary.restrictions_skipped, 0u);
  const uint32_t from_west = FindEdge(d, {11, 10});
  const uint32_t to_north = FindEdge(d, {10, 13});
  ASSERT_NE(from_west, kNoEdge);
  ASSERT_NE(to_north, kNoEdge);
  const uint32_t v_west = d.edge_head[from_west];
  EXPECT_EQ(ArcTails(d, to_north).count(v_west), 0u) << "the forbidden turn is still an arc";
  EXPECT_EQ(ArcTails(d, to_north).size(), 3u);
  // Every other turn at V, U-turns included, is there.
  for (int64_t out : {11, 12, 14}) {
    EXPECT_EQ(ArcTails(d, FindEdge(d, {10, out})).size(), 4u) << "into arm " << out;
    EXPECT_EQ(ArcTails(d, FindEdge(d, {10, out})).count(v_west), 1u) << "into arm " << out;
  }
  EXPECT_EQ(d.arc_tail.size(), 4u + 15u);
}

TEST(BuildRoadGraphTest, OnlyStraightOnLeavesOneArc) {
  Net n = Crossing();
  n.Restriction(501, 10, 502, /*only=*/true);
  const RoadGraphData d = Build(n);
  EXPECT_EQ(d.summary.restrictions_applied, 1u);
  const uint32_t v_west = d.edge_head[FindEdge(d, {11, 10})];
  EXPECT_EQ(EdgesLeaving(d, v_west), std::set<uint32_t>{FindEdge(d, {10, 12})});
  // Coming from the other arms, all four ways out remain.
  for (int64_t in : {12, 13, 14}) {
    EXPECT_EQ(EdgesLeaving(d, d.edge_head[FindEdge(d, {in, 10})]).size(), 4u) << "from " << in;
  }
}

TEST(BuildRoadGraphTest, ARestrictionNamingAWayNotAtItsViaNodeIsSkipped) {
  Net n = Crossing();
  n.Node(20, 5, 5).Node(21, 6, 5);
  n.Way(600, {20, 21});
  n.Restriction(501, 10, 600);  // way 600 does not touch node 10
  n.Restriction(777, 10, 502);  // way 777 does not exist
  n.network.summary.restrictions_read = 2;
  const RoadGraphData d = Build(n);
  EXPECT_EQ(d.summary.restrictions_applied, 0u);
  EXPECT_EQ(d.summary.restrictions_skipped, 2u);
  EXPECT_EQ(d.summary.restrictions_read, 2u);
  // Nothing is forbidden: every arm reaches every arm.
  for (int64_t in : {11, 12, 13, 14}) {
    EXPECT_EQ(EdgesLeaving(d, d.edge_head[FindEdge(d, {in, 10})]).size(), 4u) << "from " << in;
  }
}

TEST(BuildRoadGraphTest, EdgeOfArcInvertsEdgeFirstArc) {
  Net n = Crossing();
  n.Restriction(501, 10, 503);
  auto g = View(Build(n));
  ASSERT_TRUE(g);
  for (uint32_t e = 0; e < g->edge_count(); ++e) {
    for (uint32_t a = g->edge_first_arc[e]; a < g->edge_first_arc[e + 1]; ++a) {
      EXPECT_EQ(g->EdgeOfArc(a), e) << "arc " << a;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Longitudes far apart
//
// Regression: longitudes are int32 in 1e-7 degrees, and their difference was taken in int32,
// which overflows (undefined behaviour) when two points are more than 214.7 degrees of
// longitude apart, on either side of the antimeridian: DistanceMetres gave thousands of km for
// a 22 m segment, and the snapping grid computed a negative cell and wrote outside cell_first.

// The tests below run the overflowing code in a child process: the overflow is undefined
// behaviour, fatal under UBSan (the debug build), and the grid's write lands outside its array.

// Exits 0 when DistanceMetres(a, b) is within `tolerance` of `want`.
[[noreturn]] void ExitZeroIfDistanceIs(NodeLocation a, NodeLocation b, double want,
                                       double tolerance) {
  const double got = DistanceMetres(a, b);
  std::fprintf(stderr, "DistanceMetres: %.2f m, want %.2f m\n", got, want);
  std::_Exit(std::abs(got - want) <= tolerance ? 0 : 1);
}

TEST(DistanceMetresTest, AcrossTheAntimeridian) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // 179.9999 E to 179.9999 W on the equator: 0.0002 degree, 22.24 m.
  constexpr NodeLocation kEast{0, 1'799'999'000}, kWest{0, -1'799'999'000};
  EXPECT_EXIT(ExitZeroIfDistanceIs(kEast, kWest, 22.24, 0.1), ::testing::ExitedWithCode(0), "");
}

TEST(DistanceMetresTest, MoreThan214DegreesOfLongitudeApart) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // 110 W to 110 E on the equator: 140 degrees of arc.
  constexpr NodeLocation kWest{0, -1'100'000'000}, kEast{0, 1'100'000'000};
  EXPECT_EXIT(ExitZeroIfDistanceIs(kWest, kEast, 140 * 111'195.08, 100),
              ::testing::ExitedWithCode(0), "");
}

// Builds a map with roads on both sides of the antimeridian; true when it has a valid grid.
bool AntimeridianGridIsValid() {
  RoadNetwork n;
  n.nodes[1] = {0, 1'799'900'000};
  n.nodes[2] = {0, 1'799'990'000};
  n.nodes[3] = {0, -1'799'990'000};
  n.nodes[4] = {0, -1'799'900'000};
  WayProfile p;
  p.forward_kmh = p.backward_kmh = 25;
  n.ways.push_back({100, p, {1, 2}});
  n.ways.push_back({200, p, {3, 4}});
  auto d = BuildRoadGraph(n);
  if (!d.has_value() || !RoadGraph::FromData(*d).has_value()) return false;
  // Each indexed segment is listed in the cell of its start point.
  const GridShape& g = d->grid;
  for (uint32_t q : d->cell_points) {
    const int64_t r = (int64_t{d->point_lat[q]} - g.min_lat) / g.cell;
    const int64_t c = (int64_t{d->point_lon[q]} - g.min_lon) / g.cell;
    if (r < 0 || c < 0 || r >= g.rows || c >= g.cols) return false;
    const uint64_t cell = static_cast<uint64_t>(r) * g.cols + static_cast<uint64_t>(c);
    const auto first = d->cell_points.begin() + d->cell_first[cell];
    const auto last = d->cell_points.begin() + d->cell_first[cell + 1];
    if (std::find(first, last, q) == last) return false;
  }
  // Both roads are indexed, one edge of each twin pair.
  return std::set<uint32_t>(d->cell_points.begin(), d->cell_points.end()).size() == 2;
}

TEST(BuildRoadGraphTest, AMapAcrossTheAntimeridianGetsAValidGrid) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::_Exit(AntimeridianGridIsValid() ? 0 : 1), ::testing::ExitedWithCode(0), "");
}

// ---------------------------------------------------------------------------------------------
// FindSegments

TEST(RoadGraphTest, FindSegmentsFindsBothDirectionsOfATwoWayRoad) {
  auto g = View(Build(Tee()));
  ASSERT_TRUE(g);
  for (auto [from, to] : {std::pair<int64_t, int64_t>{1, 2}, {2, 1}, {2, 6}, {6, 2}, {3, 4}}) {
    const auto [lo, hi] = g->FindSegments(from, to);
    ASSERT_EQ(hi - lo, 1u) << from << " -> " << to;
    const uint32_t p = g->key_point[lo];
    EXPECT_EQ(g->point_osm[p], from);
    EXPECT_EQ(g->point_osm[p + 1], to);
  }
}

TEST(RoadGraphTest, FindSegmentsFindsNothingAgainstAOneWayOrBetweenNonAdjacentNodes) {
  auto g = View(Build(Tee()));
  ASSERT_TRUE(g);
  for (auto [from, to] : {std::pair<int64_t, int64_t>{4, 3},
                          {5, 4},
                          {1, 3},
                          {3, 5},
                          {1, 6},
                          {2, 2},
                          {0, 1},
                          {7, 8},
                          {-1, 2}}) {
    const auto [lo, hi] = g->FindSegments(from, to);
    EXPECT_EQ(lo, hi) << from << " -> " << to;
  }
}

TEST(RoadGraphTest, FindSegmentsFindsEveryOverlappingWay) {
  Net n;
  n.Node(1, 0, 0).Node(2, 1, 0).Node(3, 2, 0);
  n.Way(100, {1, 2, 3}).Way(200, {2, 3}, true, false);  // 2-3 drawn twice
  auto g = View(Build(n));
  ASSERT_TRUE(g);
  const auto [lo, hi] = g->FindSegments(2, 3);
  EXPECT_EQ(hi - lo, 2u);
  const auto [blo, bhi] = g->FindSegments(3, 2);
  EXPECT_EQ(bhi - blo, 1u);
}

// ---------------------------------------------------------------------------------------------
// The file

template <typename T>
void ExpectSame(std::span<const T> got, const std::vector<T>& want, const char* name) {
  EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end())) << name;
}

void ExpectSameGraph(const RoadGraph& g, const RoadGraphData& d) {
  EXPECT_EQ(g.node_count(), d.node_count);
  ExpectSame(g.edge_point_begin, d.edge_point_begin, "edge_point_begin");
  ExpectSame(g.edge_first_arc, d.edge_first_arc, "edge_first_arc");
  ExpectSame(g.edge_twin, d.edge_twin, "edge_twin");
  ExpectSame(g.edge_head, d.edge_head, "edge_head");
  ExpectSame(g.edge_class, d.edge_class, "edge_class");
  ExpectSame(g.edge_way, d.edge_way, "edge_way");
  ExpectSame(g.edge_flags, d.edge_flags, "edge_flags");
  ExpectSame(g.arc_tail, d.arc_tail, "arc_tail");
  ExpectSame(g.arc_head, d.arc_head, "arc_head");
  ExpectSame(g.point_lat, d.point_lat, "point_lat");
  ExpectSame(g.point_lon, d.point_lon, "point_lon");
  ExpectSame(g.point_osm, d.point_osm, "point_osm");
  ExpectSame(g.point_edge, d.point_edge, "point_edge");
  ExpectSame(g.segment_length_dm, d.segment_length_dm, "segment_length_dm");
  ExpectSame(g.segment_speed_kmh, d.segment_speed_kmh, "segment_speed_kmh");
  ExpectSame(g.key_from, d.key_from, "key_from");
  ExpectSame(g.key_to, d.key_to, "key_to");
  ExpectSame(g.key_point, d.key_point, "key_point");
  ExpectSame(g.cell_first, d.cell_first, "cell_first");
  ExpectSame(g.cell_points, d.cell_points, "cell_points");
  ExpectSame(g.order, d.order, "order");
  EXPECT_EQ(g.grid.min_lat, d.grid.min_lat);
  EXPECT_EQ(g.grid.min_lon, d.grid.min_lon);
  EXPECT_EQ(g.grid.cell, d.grid.cell);
  EXPECT_EQ(g.grid.rows, d.grid.rows);
  EXPECT_EQ(g.grid.cols, d.grid.cols);
  EXPECT_EQ(g.summary.ways_read, d.summary.ways_read);
  EXPECT_EQ(g.summary.ways_kept, d.summary.ways_kept);
  EXPECT_EQ(g.summary.restrictions_read, d.summary.restrictions_read);
  EXPECT_EQ(g.summary.restrictions_applied, d.summary.restrictions_applied);
  EXPECT_EQ(g.summary.restrictions_skipped, d.summary.restrictions_skipped);
  EXPECT_EQ(g.summary.oneway_edges, d.summary.oneway_edges);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class RoadGraphFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Net n = Crossing();
    n.Node(30, 4, 1).Node(31, 5, 1);
    n.Way(700, {12, 30, 31}, true, false, 40, RoadClass::kPrimary);  // one-way, other class
    n.Restriction(501, 10, 503);
    n.network.summary.ways_read = 12;
    n.network.summary.ways_kept = 5;
    n.network.summary.restrictions_read = 3;
    data_ = Build(n);
    path_ = RoadGraphPath(dir_.path());
    ASSERT_TRUE(SaveRoadGraph(data_, path_).ok());
  }

  // Load must refuse `bytes` written as a graph file, with InvalidArgument.
  void ExpectRefused(std::string_view bytes, const std::string& why) {
    const std::string bad = dir_.path() + "/bad.graph";
    WriteBytes(bad, bytes);
    auto g = RoadGraph::Load(bad);
    ASSERT_FALSE(g.has_value()) << why;
    EXPECT_EQ(g.error().code(), core::Code::kInvalidArgument) << why << ": " << g.error().message();
  }

  medulla::testing::TempDir dir_;
  RoadGraphData data_;
  std::string path_;
};

TEST_F(RoadGraphFileTest, PathIsInTheDataDirectory) {
  EXPECT_EQ(RoadGraphPath("/var/medulla"), "/var/medulla/routing.graph");
}

TEST_F(RoadGraphFileTest, SaveThenLoadGivesBackEveryArray) {
  auto g = RoadGraph::Load(path_);
  ASSERT_TRUE(g.has_value()) << g.error().message();
  ExpectSameGraph(**g, data_);
  EXPECT_EQ(data_.summary.restrictions_applied, 1u);
  EXPECT_EQ(data_.summary.oneway_edges, 1u);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp")) << "the temporary file is left behind";
}

TEST_F(RoadGraphFileTest, ALoadedGraphOutlivesItsFile) {
  auto g = RoadGraph::Load(path_);
  ASSERT_TRUE(g.has_value());
  std::filesystem::remove(path_);
  ExpectSameGraph(**g, data_);
}

TEST_F(RoadGraphFileTest, SaveReplacesAnExistingFile) {
  Net small = Tee();
  const RoadGraphData other = Build(small);
  ASSERT_TRUE(SaveRoadGraph(other, path_).ok());
  auto g = RoadGraph::Load(path_);
  ASSERT_TRUE(g.has_value()) << g.error().message();
  ExpectSameGraph(**g, other);
}

TEST_F(RoadGraphFileTest, SaveIntoAMissingDirectoryFails) {
  EXPECT_FALSE(SaveRoadGraph(data_, dir_.path() + "/no/such/dir/routing.graph").ok());
}

TEST_F(RoadGraphFileTest, LoadOfAMissingFileIsNotFound) {
  auto g = RoadGraph::Load(dir_.path() + "/nothing-here.graph");
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code(), core::Code::kNotFound);
  EXPECT_NE(g.error().message().find("routing import"), std::string::npos)
      << "the message should say how to make one: " << g.error().message();
}

TEST_F(RoadGraphFileTest, LoadRefusesAFileThatIsNotAGraph) {
  ExpectRefused("", "an empty file");
  ExpectRefused("hello, world\n", "a short text file");
  ExpectRefused(std::string(8192, 'x'), "a long text file");
  std::string renamed = ReadBytes(path_);
  renamed[0] = 'X';
  ExpectRefused(renamed, "another magic number");
}

TEST_F(RoadGraphFileTest, LoadRefusesATruncatedCopy) {
  const std::string whole = ReadBytes(path_);
  ASSERT_GT(whole.size(), 1000u);
  for (size_t cut : {size_t{1}, size_t{8}, size_t{16}, size_t{100}, size_t{500}, whole.size() / 2,
                     whole.size() - 8, whole.size() - 1}) {
    ExpectRefused(std::string_view(whole).substr(0, cut), "cut at " + std::to_string(cut));
  }
}

TEST_F(RoadGraphFileTest, LoadRefusesTrailingBytes) {
  ExpectRefused(ReadBytes(path_) + std::string(8, '\0'), "8 bytes appended");
}

TEST_F(RoadGraphFileTest, LoadRefusesAnotherVersion) {
  std::string bytes = ReadBytes(path_);
  uint32_t version = 0;
  std::memcpy(&version, bytes.data() + 8, sizeof version);  // after the 8-byte magic
  ASSERT_EQ(version, 1u);
  version = 2;
  std::memcpy(bytes.data() + 8, &version, sizeof version);
  const std::string bad = dir_.path() + "/v2.graph";
  WriteBytes(bad, bytes);
  auto g = RoadGraph::Load(bad);
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(g.error().message().find("import it again"), std::string::npos) << g.error().message();
}

TEST(RoadGraphFromDataTest, RefusesArraysThatDoNotFitTogether) {
  const RoadGraphData good = Build(Tee());
  auto expect_refused = [](RoadGraphData d, const char* why) {
    auto g = RoadGraph::FromData(std::move(d));
    ASSERT_FALSE(g.has_value()) << why;
    EXPECT_EQ(g.error().code(), core::Code::kInvalidArgument) << why;
  };
  ASSERT_TRUE(RoadGraph::FromData(good).has_value());
  {
    RoadGraphData d = good;
    d.arc_head[0] = d.node_count;
    expect_refused(std::move(d), "an arc to a node out of range");
  }
  {
    RoadGraphData d = good;
    d.edge_twin[0] = static_cast<uint32_t>(d.edge_twin.size());
    expect_refused(std::move(d), "a twin out of range");
  }
  {
    RoadGraphData d = good;
    d.key_point.back() = static_cast<uint32_t>(d.point_lat.size());
    expect_refused(std::move(d), "a segment key out of range");
  }
  {
    RoadGraphData d = good;
    d.segment_speed_kmh[0] = 0;
    expect_refused(std::move(d), "a segment without speed");
  }
  {
    RoadGraphData d = good;
    d.order.pop_back();
    expect_refused(std::move(d), "an order of the wrong size");
  }
  {
    RoadGraphData d = good;
    d.point_lon.pop_back();
    expect_refused(std::move(d), "point arrays of different sizes");
  }
  {
    RoadGraphData d = good;
    d.cell_first.back() += 1;
    expect_refused(std::move(d), "a grid index past its points");
  }
}

// Regression: RoadGraph::Check, which Load runs on every mapped file, bounded each index by its
// array's size but not by what it must name: a point's edge that does not hold it (the router
// would compute `point - edge_point_begin[edge]` below zero), or a segment key or grid entry
// naming the last point of an edge, which starts no segment (Snap and the traffic update read
// point p + 1). A graph file damaged in place (same size, no checksum) passed.
TEST(RoadGraphFromDataTest, RefusesIndexesThatNameTheWrongThing) {
  const RoadGraphData good = Build(Tee());
  ASSERT_GE(good.edge_twin.size(), 2u);
  auto expect_refused = [](RoadGraphData d, const char* why) {
    auto g = RoadGraph::FromData(std::move(d));
    EXPECT_FALSE(g.has_value()) << why;
  };
  {
    RoadGraphData d = good;
    d.point_edge[0] = 1;  // point 0 is the first point of edge 0
    expect_refused(std::move(d), "a point claimed by an edge that does not hold it");
  }
  {
    RoadGraphData d = good;
    d.key_point[0] = static_cast<uint32_t>(d.point_lat.size() - 1);
    expect_refused(std::move(d), "a segment key on the last point of the last edge");
  }
  {
    RoadGraphData d = good;
    d.cell_points[0] = static_cast<uint32_t>(d.point_lat.size() - 1);
    expect_refused(std::move(d), "a grid entry on the last point of the last edge");
  }
}

}  // namespace
}  // namespace medulla::routing
