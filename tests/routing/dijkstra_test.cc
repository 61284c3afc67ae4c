#include "routing/dijkstra.h"

#include <gtest/gtest.h>

#include <random>
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

// The sum of a path's weights, after checking that its arcs join `from` to `to`.
uint64_t PathWeight(const ArcGraph& graph, std::span<const uint32_t> weight,
                    std::span<const uint32_t> arcs, uint32_t from, uint32_t to) {
  uint32_t at = from;
  uint64_t sum = 0;
  for (uint32_t a : arcs) {
    EXPECT_EQ(graph.tail[a], at) << "arc " << a << " does not continue the path";
    at = graph.head[a];
    sum += weight[a];
  }
  EXPECT_EQ(at, to);
  return sum;
}

// Every group's answer and path from one OneToMany against one Route per group: forward, from
// the origin to the group; backward, from the group to the origin.
void ExpectOneToManyEqualsRoutes(const ArcGraph& graph, const std::vector<uint32_t>& weight,
                                 const std::vector<uint32_t>& length,
                                 const std::vector<Seed>& origin,
                                 const std::vector<std::vector<Seed>>& groups, bool backward) {
  Dijkstra many(graph), one(graph);
  const std::vector<PathCost> got = many.OneToMany(weight, length, origin, groups, backward);
  ASSERT_EQ(got.size(), groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    const PathCost want = backward ? one.Route(weight, length, groups[g], origin)
                                   : one.Route(weight, length, origin, groups[g]);
    ASSERT_EQ(got[g].weight, want.weight) << (backward ? "backward" : "forward") << " group " << g;
    const Dijkstra::GroupPath path = many.PathTo(g);
    if (!want.reachable()) {
      EXPECT_TRUE(path.arcs.empty());
      EXPECT_EQ(path.group_seed, Dijkstra::kNoSeed);
      continue;
    }
    ASSERT_LT(path.origin_seed, origin.size());
    ASSERT_LT(path.group_seed, groups[g].size());
    const Seed& o = origin[path.origin_seed];
    const Seed& s = groups[g][path.group_seed];
    // The path is a real one and costs what was answered (ties may pick another than Route's).
    const uint64_t between = backward ? PathWeight(graph, weight, path.arcs, s.node, o.node)
                                      : PathWeight(graph, weight, path.arcs, o.node, s.node);
    EXPECT_EQ(o.weight + between + s.weight, got[g].weight) << "group " << g;
    uint64_t len = o.length + s.length;
    for (uint32_t a : path.arcs) len += length[a];
    EXPECT_EQ(len, got[g].length) << "group " << g;
  }
}

TEST(DijkstraTest, OneToManyForwardAndBackwardEqualRoutes) {
  Network net;
  // Every node alone, two seeds with weights, an empty group, a node out of range.
  std::vector<std::vector<Seed>> groups;
  for (uint32_t v = 0; v < 6; ++v) groups.push_back({{v, 0, 0}});
  groups.push_back({{3, 4, 40}, {2, 9, 90}});
  groups.push_back({});
  groups.push_back({{99, 0, 0}});
  for (const bool backward : {false, true}) {
    ExpectOneToManyEqualsRoutes(net.graph, net.weight, net.length, {{0, 0, 0}}, groups, backward);
    ExpectOneToManyEqualsRoutes(net.graph, net.weight, net.length, {{1, 3, 30}, {3, 0, 5}}, groups,
                                backward);
    ExpectOneToManyEqualsRoutes(net.graph, net.weight, net.length, {{4, 0, 0}}, groups, backward);
  }
  Dijkstra dijkstra(net.graph);
  // Forward from 0: 3 by 0 -> 1 -> 2 -> 3 (the fast parallel arc first); backward to 0: 2
  // comes by 2 -> 3 -> 0.
  const std::vector<std::vector<Seed>> one{{{3, 0, 0}}, {{2, 0, 0}}};
  EXPECT_EQ(dijkstra.OneToMany(net.weight, net.length, std::vector<Seed>{{0, 0, 0}}, one, false)[0]
                .weight,
            23u);
  EXPECT_EQ(dijkstra.PathTo(0).arcs, (std::vector<uint32_t>{7, 1, 3}));
  EXPECT_EQ(
      dijkstra.OneToMany(net.weight, net.length, std::vector<Seed>{{0, 0, 0}}, one, true)[1].weight,
      6u);
  EXPECT_EQ(dijkstra.PathTo(1).arcs, (std::vector<uint32_t>{3, 4}));
  // A Route afterwards forgets the groups' paths.
  Route(dijkstra, net, {{0, 0, 0}}, {{1, 0, 0}});
  EXPECT_TRUE(dijkstra.PathTo(1).arcs.empty());
  EXPECT_EQ(dijkstra.PathTo(1).group_seed, Dijkstra::kNoSeed);
}

TEST(DijkstraTest, OneToManyWithBadInputIsUnreachable) {
  Network net;
  Dijkstra dijkstra(net.graph);
  std::vector<uint32_t> short_weight(net.weight.begin(), net.weight.end() - 1);
  const std::vector<std::vector<Seed>> groups{{{1, 0, 0}}, {{2, 0, 0}}};
  for (const PathCost& c :
       dijkstra.OneToMany(short_weight, net.length, std::vector<Seed>{{0, 0, 0}}, groups, false)) {
    EXPECT_FALSE(c.reachable());
  }
  for (const PathCost& c : dijkstra.OneToMany(net.weight, net.length, {}, groups, true)) {
    EXPECT_FALSE(c.reachable());
  }
  EXPECT_TRUE(
      dijkstra.OneToMany(net.weight, net.length, std::vector<Seed>{{0, 0, 0}}, {}, false).empty());
}

TEST(DijkstraTest, OneToManyEqualsRoutesOnRandomGraphs) {
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) {
    const uint32_t n = 60;
    ArcGraph graph;
    graph.node_count = n;
    std::vector<uint32_t> weight, length;
    std::uniform_int_distribution<uint32_t> node(0, n - 1), w(0, 50), l(1, 500), closed(0, 9);
    for (int a = 0; a < 180; ++a) {
      graph.tail.push_back(node(rng));
      graph.head.push_back(node(rng));
      weight.push_back(closed(rng) == 0 ? kInfWeight : w(rng));
      length.push_back(l(rng));
    }
    auto seeds = [&](int count) {
      std::vector<Seed> out;
      for (int k = 0; k < count; ++k) out.push_back({node(rng), w(rng), l(rng)});
      return out;
    };
    const std::vector<Seed> origin = seeds(1 + round % 3);
    std::vector<std::vector<Seed>> groups;
    for (int g = 0; g < 15; ++g) groups.push_back(seeds(1 + g % 4));
    ExpectOneToManyEqualsRoutes(graph, weight, length, origin, groups, false);
    ExpectOneToManyEqualsRoutes(graph, weight, length, origin, groups, true);
  }
}

}  // namespace
}  // namespace medulla::routing
