#include "routing/dijkstra.h"

#include <gtest/gtest.h>

#include <vector>

namespace medulla::routing {
namespace {

// A small hand-made network: a one-way loop 0 -> 1 -> 2 -> 3 -> 0 with a slower chord 0 -> 2,
// a faster (but longer) parallel arc 0 -> 1, a self-loop, and a closed arc 2 -> 4 cutting off
// the pair {4, 5}. Each Add's comment is the arc's index.
struct Network {
  ArcGraph graph;
  std::vector<uint32_t> weight, length;

  Network() {
    graph.node_count = 6;
    Add(0, 1, 10, 100);         // 0
    Add(1, 2, 10, 100);         // 1
    Add(0, 2, 25, 150);         // 2
    Add(2, 3, 5, 50);           // 3
    Add(3, 0, 1, 10);           // 4
    Add(2, 4, kInfWeight, 10);  // 5: closed
    Add(4, 5, 1, 10);           // 6
    Add(0, 1, 8, 500);          // 7: parallel to 0, faster and longer
    Add(1, 1, 0, 0);            // 8: self-loop
    Add(5, 4, 1, 10);           // 9
  }
  void Add(uint32_t t, uint32_t h, uint32_t w, uint32_t l) {
    graph.tail.push_back(t);
    graph.head.push_back(h);
    weight.push_back(w);
    length.push_back(l);
  }
};

PathCost Route(Dijkstra& dijkstra, const Network& net, std::vector<Seed> sources,
               std::vector<Seed> targets) {
  return dijkstra.Route(net.weight, net.length, sources, targets);
}

TEST(DijkstraTest, TakesTheFasterOfTwoRoutes) {
  Network net;
  net.weight[7] = 50;  // take the parallel arc out of play for this one
  Dijkstra dijkstra(net.graph);
  PathCost cost = Route(dijkstra, net, {{0, 0, 0}}, {{3, 0, 0}});
  EXPECT_EQ(cost.weight, 25u);  // 0 -> 1 -> 2 -> 3 beats 0 -> 2 -> 3 (30)
  EXPECT_EQ(cost.length, 250u);
  EXPECT_EQ(dijkstra.LastPath(), (std::vector<uint32_t>{0, 1, 3}));
}

TEST(DijkstraTest, FollowsOneWays) {
  Network net;
  Dijkstra dijkstra(net.graph);
  // 2 -> 1 has no direct arc: round by 3 and 0.
  PathCost cost = Route(dijkstra, net, {{2, 0, 0}}, {{1, 0, 0}});
  EXPECT_EQ(cost.weight, 5u + 1u + 8u);
  EXPECT_EQ(dijkstra.LastPath(), (std::vector<uint32_t>{3, 4, 7}));
  cost = Route(dijkstra, net, {{1, 0, 0}}, {{0, 0, 0}});
  EXPECT_EQ(cost.weight, 10u + 5u + 1u);
}

TEST(DijkstraTest, PicksTheFastestParallelArc) {
  Network net;
  Dijkstra dijkstra(net.graph);
  PathCost cost = Route(dijkstra, net, {{0, 0, 0}}, {{1, 0, 0}});
  EXPECT_EQ(cost.weight, 8u);
  EXPECT_EQ(cost.length, 500u);  // the length of the chosen (fast) arc, not the shortest
  EXPECT_EQ(dijkstra.LastPath(), (std::vector<uint32_t>{7}));
}

TEST(DijkstraTest, ClosedArcMakesNodesUnreachable) {
  Network net;
  Dijkstra dijkstra(net.graph);
  PathCost cost = Route(dijkstra, net, {{0, 0, 0}}, {{5, 0, 0}});
  EXPECT_EQ(cost.weight, kInfWeight);
  EXPECT_FALSE(cost.reachable());
  EXPECT_TRUE(dijkstra.LastPath().empty());
  EXPECT_EQ(dijkstra.last_source_seed(), Dijkstra::kNoSeed);
  // Opening it makes them reachable.
  net.weight[5] = 2;
  cost = Route(dijkstra, net, {{0, 0, 0}}, {{5, 0, 0}});
  EXPECT_EQ(cost.weight, 18u + 2u + 1u);
  // And nothing gets back out of {4, 5}.
  cost = Route(dijkstra, net, {{5, 0, 0}}, {{0, 0, 0}});
  EXPECT_EQ(cost.weight, kInfWeight);
}

TEST(DijkstraTest, SelfLoopIsHarmless) {
  Network net;
  Dijkstra dijkstra(net.graph);
  PathCost cost = Route(dijkstra, net, {{1, 0, 0}}, {{2, 0, 0}});
  EXPECT_EQ(cost.weight, 10u);
  EXPECT_EQ(dijkstra.LastPath(), (std::vector<uint32_t>{1}));
}

TEST(DijkstraTest, MultipleSeedsPickTheBestPair) {
  Network net;
  Dijkstra dijkstra(net.graph);
  // From 0 having paid 100, or from 3 having paid 0 (3 -> 0 -> 1 costs 9).
  PathCost cost = Route(dijkstra, net, {{0, 100, 1000}, {3, 0, 7}}, {{1, 0, 3}});
  EXPECT_EQ(cost.weight, 9u);
  EXPECT_EQ(cost.length, 7u + 10u + 500u + 3u);
  EXPECT_EQ(dijkstra.last_source_seed(), 1u);
  EXPECT_EQ(dijkstra.last_target_seed(), 0u);
  EXPECT_EQ(dijkstra.LastPath(), (std::vector<uint32_t>{4, 7}));
  // Target seeds' weights count too: 2 (10 + 8 = 18 away) beats 3 (23 away) until 2's seed
  // weight tips it.
  cost = Route(dijkstra, net, {{0, 0, 0}}, {{3, 0, 0}, {2, 0, 0}});
  EXPECT_EQ(cost.weight, 18u);
  EXPECT_EQ(dijkstra.last_target_seed(), 1u);
  cost = Route(dijkstra, net, {{0, 0, 0}}, {{3, 0, 0}, {2, 6, 0}});
  EXPECT_EQ(cost.weight, 23u);
  EXPECT_EQ(dijkstra.last_target_seed(), 0u);
}

TEST(DijkstraTest, SameNodeSeedsGiveAnEmptyPath) {
  Network net;
  Dijkstra dijkstra(net.graph);
  PathCost cost = Route(dijkstra, net, {{2, 3, 30}}, {{2, 4, 40}});
  EXPECT_EQ(cost.weight, 7u);
  EXPECT_EQ(cost.length, 70u);
  EXPECT_TRUE(dijkstra.LastPath().empty());
  EXPECT_EQ(dijkstra.last_source_seed(), 0u);
}

TEST(DijkstraTest, SumsReachingInfinityAreUnreachable) {
  ArcGraph graph{3, {0, 1}, {1, 2}};
  std::vector<uint32_t> weight{kInfWeight - 1, 1}, length{1, 1};
  Dijkstra dijkstra(graph);
  std::vector<Seed> from{{0, 0, 0}}, to1{{1, 0, 0}}, to2{{2, 0, 0}};
  EXPECT_EQ(dijkstra.Route(weight, length, from, to1).weight, kInfWeight - 1);
  EXPECT_EQ(dijkstra.Route(weight, length, from, to2).weight, kInfWeight);
}

TEST(DijkstraTest, BadInputIsUnreachable) {
  Network net;
  Dijkstra dijkstra(net.graph);
  std::vector<uint32_t> short_weight(net.weight.begin(), net.weight.end() - 1);
  std::vector<Seed> from{{0, 0, 0}}, to{{1, 0, 0}}, nowhere{{99, 0, 0}};
  EXPECT_EQ(dijkstra.Route(short_weight, net.length, from, to).weight, kInfWeight);
  EXPECT_EQ(dijkstra.Route(net.weight, net.length, from, nowhere).weight, kInfWeight);
  EXPECT_EQ(dijkstra.Route(net.weight, net.length, from, {}).weight, kInfWeight);
  EXPECT_EQ(dijkstra.Route(net.weight, net.length, from, to).weight, 8u);
}

}  // namespace
}  // namespace medulla::routing
