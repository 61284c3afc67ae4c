#include "routing/cch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "routing/dijkstra.h"

namespace medulla::routing {
namespace {

// ---------------------------------------------------------------------------------------------
// Random graphs and metrics

void AddArc(ArcGraph& g, uint32_t t, uint32_t h) {
  g.tail.push_back(t);
  g.head.push_back(h);
}

// A road-like grid: most neighbouring intersections are joined, a fifth of the roads one-way
// (either direction), a few diagonals, and some arcs split by a degree-2 node (which turns
// some two-way roads into dual carriageways).
ArcGraph GridRoad(uint32_t width, uint32_t height, std::mt19937& rng) {
  ArcGraph g;
  g.node_count = width * height;
  std::uniform_real_distribution<double> coin(0, 1);
  auto road = [&](uint32_t a, uint32_t b) {
    if (coin(rng) < 0.2) {
      if (coin(rng) < 0.5) std::swap(a, b);  // one-way, either direction
    } else {
      AddArc(g, b, a);
    }
    AddArc(g, a, b);
  };
  for (uint32_t y = 0; y < height; ++y) {
    for (uint32_t x = 0; x < width; ++x) {
      const uint32_t v = y * width + x;
      if (x + 1 < width && coin(rng) < 0.9) road(v, v + 1);
      if (y + 1 < height && coin(rng) < 0.9) road(v, v + width);
      if (x + 1 < width && y + 1 < height && coin(rng) < 0.05) road(v, v + width + 1);
    }
  }
  // Split some arcs a -> b into a -> mid -> b.
  const size_t original = g.tail.size();
  for (size_t a = 0; a < original; ++a) {
    if (coin(rng) < 0.15) {
      const uint32_t mid = g.node_count++;
      const uint32_t h = g.head[a];
      g.head[a] = mid;
      AddArc(g, mid, h);
    }
  }
  return g;
}

// Uniformly random arcs: self-loops and parallel arcs occur naturally.
ArcGraph RandomSparse(uint32_t n, size_t arcs, std::mt19937& rng) {
  ArcGraph g;
  g.node_count = n;
  std::uniform_int_distribution<uint32_t> node(0, n - 1);
  for (size_t i = 0; i < arcs; ++i) AddArc(g, node(rng), node(rng));
  return g;
}

// Places `b`'s nodes after `a`'s.
ArcGraph DisjointUnion(const ArcGraph& a, const ArcGraph& b) {
  ArcGraph g = a;
  for (size_t i = 0; i < b.tail.size(); ++i)
    AddArc(g, b.tail[i] + a.node_count, b.head[i] + a.node_count);
  g.node_count = a.node_count + b.node_count;
  return g;
}

// Copies of random arcs (parallel, with their own weights) and self-loops.
void AddParallelsAndLoops(ArcGraph& g, size_t count, std::mt19937& rng) {
  std::uniform_int_distribution<size_t> arc(0, g.tail.size() - 1);
  std::uniform_int_distribution<uint32_t> node(0, g.node_count - 1);
  for (size_t i = 0; i < count; ++i) {
    const size_t a = arc(rng);
    AddArc(g, g.tail[a], g.head[a]);
    const uint32_t v = node(rng);
    AddArc(g, v, v);
  }
}

struct Metric {
  std::vector<uint32_t> weight, length;
};

// Weights 1..100000 (ms), lengths independent of them (so equal-weight paths differ in length),
// and a fraction of closed arcs.
Metric RandomMetric(const ArcGraph& g, std::mt19937& rng, double closed = 0.02) {
  std::uniform_int_distribution<uint32_t> weight(1, 100000), length(1, 5000);
  std::uniform_real_distribution<double> coin(0, 1);
  Metric m;
  for (size_t a = 0; a < g.tail.size(); ++a) {
    m.weight.push_back(coin(rng) < closed ? kInfWeight : weight(rng));
    m.length.push_back(length(rng));
  }
  return m;
}

std::vector<Seed> RandomSeeds(const ArcGraph& g, size_t count, std::mt19937& rng) {
  std::uniform_int_distribution<uint32_t> node(0, g.node_count - 1), weight(0, 30000),
      length(0, 300);
  std::vector<Seed> seeds;
  for (size_t i = 0; i < count; ++i) seeds.push_back(Seed{node(rng), weight(rng), length(rng)});
  return seeds;
}

// ---------------------------------------------------------------------------------------------
// Checks

// `path` must be a chain of arcs from the source seed's node to the target seed's node whose
// weights and lengths, with the seeds', add up to `cost`.
testing::AssertionResult IsPathFor(const ArcGraph& g, const Metric& m,
                                   const std::vector<uint32_t>& path, const Seed& source,
                                   const Seed& target, PathCost cost) {
  uint64_t weight = uint64_t{source.weight} + target.weight;
  uint64_t length = uint64_t{source.length} + target.length;
  uint32_t at = source.node;
  for (size_t i = 0; i < path.size(); ++i) {
    const uint32_t a = path[i];
    if (a >= g.tail.size()) return testing::AssertionFailure() << "arc " << a << " out of range";
    if (g.tail[a] != at) {
      return testing::AssertionFailure() << "arc " << i << " of " << path.size() << " starts at "
                                         << g.tail[a] << ", not " << at;
    }
    at = g.head[a];
    weight += m.weight[a];
    length += m.length[a];
  }
  if (at != target.node) {
    return testing::AssertionFailure() << "path ends at " << at << ", not " << target.node;
  }
  if (weight != cost.weight) {
    return testing::AssertionFailure() << "path weighs " << weight << ", answer " << cost.weight;
  }
  if (length != cost.length) {
    return testing::AssertionFailure() << "path is " << length << " long, answer " << cost.length;
  }
  return testing::AssertionSuccess();
}

// A CCH for `g` with a METIS order (or `order` if given), customised with `m`.
struct Engine {
  std::shared_ptr<const CchTopology> topology;
  CchMetric metric;
  CchQuery query;

  static std::unique_ptr<Engine> Make(const ArcGraph& g, const Metric& m,
                                      std::vector<uint32_t> order = {}) {
    if (order.empty()) order = CchTopology::ComputeOrder(g);
    auto topology = CchTopology::Build(g, order);
    EXPECT_TRUE(topology.has_value()) << topology.error().ToString();
    if (!topology.has_value()) return nullptr;
    auto shared = std::make_shared<const CchTopology>(std::move(topology).value());
    auto engine = std::unique_ptr<Engine>(new Engine{shared, CchMetric(shared), CchQuery(shared)});
    core::Status status = engine->metric.Customize(m.weight, m.length);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return engine;
  }
};

// Compares `pairs` random queries (a quarter of them with several seeds a side, some on the
// same node) between the CCH and Dijkstra; returns the number of reachable answers.
size_t CompareWithDijkstra(const ArcGraph& g, const Metric& m, Engine& engine, size_t pairs,
                           std::mt19937& rng) {
  Dijkstra dijkstra(g);
  std::uniform_int_distribution<size_t> seed_count(1, 4);
  std::uniform_real_distribution<double> coin(0, 1);
  size_t reachable = 0;
  for (size_t q = 0; q < pairs; ++q) {
    const bool multi = q % 4 == 0;
    std::vector<Seed> sources = RandomSeeds(g, multi ? seed_count(rng) : 1, rng);
    std::vector<Seed> targets = RandomSeeds(g, multi ? seed_count(rng) : 1, rng);
    if (coin(rng) < 0.03) targets[0].node = sources[0].node;
    const PathCost expected = dijkstra.Route(m.weight, m.length, sources, targets);
    const PathCost actual = engine.query.Route(engine.metric, sources, targets);
    EXPECT_EQ(actual.weight, expected.weight) << "query " << q;
    if (actual.weight != expected.weight) return reachable;
    if (!actual.reachable()) {
      EXPECT_EQ(engine.query.last_source_seed(), CchQuery::kNoSeed);
      EXPECT_TRUE(engine.query.LastPath(engine.metric).empty());
      continue;
    }
    ++reachable;
    // The oracle's own path must hold up too, or the comparison proves nothing.
    EXPECT_TRUE(IsPathFor(g, m, dijkstra.LastPath(), sources[dijkstra.last_source_seed()],
                          targets[dijkstra.last_target_seed()], expected));
    const size_t s = engine.query.last_source_seed(), t = engine.query.last_target_seed();
    EXPECT_LT(s, sources.size());
    EXPECT_LT(t, targets.size());
    if (s >= sources.size() || t >= targets.size()) return reachable;
    const std::vector<uint32_t> path = engine.query.LastPath(engine.metric);
    EXPECT_TRUE(IsPathFor(g, m, path, sources[s], targets[t], actual)) << "query " << q;
    if (sources[s].node == targets[t].node) {
      EXPECT_TRUE(path.empty());
    }
  }
  return reachable;
}

struct Shape {
  std::string name;
  ArcGraph graph;
  double closed;
};

std::vector<Shape> Shapes(std::mt19937& rng) {
  std::vector<Shape> shapes;
  shapes.push_back({"grid", GridRoad(40, 40, rng), 0.02});
  shapes.push_back({"narrow grid", GridRoad(200, 4, rng), 0.01});
  shapes.push_back({"sparse", RandomSparse(1500, 2600, rng), 0.02});  // many components
  shapes.push_back({"dense", RandomSparse(300, 3000, rng), 0.1});
  ArcGraph two = DisjointUnion(GridRoad(20, 25, rng), GridRoad(30, 10, rng));
  two = DisjointUnion(two, ArcGraph{50, {}, {}});  // and isolated nodes
  shapes.push_back({"disconnected", two, 0.02});
  ArcGraph multi = GridRoad(30, 30, rng);
  AddParallelsAndLoops(multi, 300, rng);
  shapes.push_back({"parallel arcs and loops", multi, 0.03});
  return shapes;
}

// ---------------------------------------------------------------------------------------------
// Tests

TEST(CchTest, MatchesDijkstraOnRandomGraphs) {
  std::mt19937 rng(20240611);
  size_t total = 0, reachable = 0;
  for (const Shape& shape : Shapes(rng)) {
    SCOPED_TRACE(shape.name);
    const Metric m = RandomMetric(shape.graph, rng, shape.closed);
    auto engine = Engine::Make(shape.graph, m);
    ASSERT_NE(engine, nullptr);
    reachable += CompareWithDijkstra(shape.graph, m, *engine, 2000, rng);
    total += 2000;
    if (HasFailure()) return;
  }
  EXPECT_GE(total, 10000u);
  EXPECT_GE(reachable, total / 2);  // the comparison is mostly of real paths
}

TEST(CchTest, MatchesDijkstraAfterRecustomisation) {
  std::mt19937 rng(7);
  std::vector<ArcGraph> graphs = {GridRoad(35, 30, rng), RandomSparse(800, 2000, rng)};
  for (const ArcGraph& g : graphs) {
    auto engine = Engine::Make(g, RandomMetric(g, rng));
    ASSERT_NE(engine, nullptr);
    // New weights, and more closures each round (up to a quarter of all arcs).
    for (double closed : {0.0, 0.1, 0.25}) {
      const Metric m = RandomMetric(g, rng, closed);
      ASSERT_TRUE(engine->metric.Customize(m.weight, m.length).ok());
      CompareWithDijkstra(g, m, *engine, 600, rng);
      if (HasFailure()) return;
    }
  }
}

TEST(CchTest, AnyOrderGivesExactAnswers) {
  // The order only affects speed: a random permutation must still be exact.
  std::mt19937 rng(99);
  ArcGraph g = GridRoad(15, 15, rng);
  AddParallelsAndLoops(g, 20, rng);
  std::vector<uint32_t> order(g.node_count);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const Metric m = RandomMetric(g, rng);
  auto engine = Engine::Make(g, m, order);
  ASSERT_NE(engine, nullptr);
  CompareWithDijkstra(g, m, *engine, 1000, rng);
}

TEST(CchTest, ZeroWeightsAndEqualCostPaths) {
  // Weights from a tiny range make ties everywhere, and zeros make zero-weight cycles: the
  // unpacked path must still be consistent with the answer.
  std::mt19937 rng(3);
  ArcGraph g = GridRoad(20, 20, rng);
  Metric m = RandomMetric(g, rng, 0.0);
  std::uniform_int_distribution<uint32_t> small(0, 2);
  for (uint32_t& w : m.weight) w = small(rng);
  auto engine = Engine::Make(g, m);
  ASSERT_NE(engine, nullptr);
  CompareWithDijkstra(g, m, *engine, 1000, rng);
}

TEST(CchTest, TableEqualsPairwiseRoute) {
  std::mt19937 rng(11);
  std::vector<ArcGraph> graphs = {
      GridRoad(30, 30, rng), DisjointUnion(GridRoad(15, 20, rng), RandomSparse(400, 700, rng))};
  using Strategy = CchQuery::TableStrategy;
  for (const ArcGraph& g : graphs) {
    const Metric m = RandomMetric(g, rng, 0.05);
    auto engine = Engine::Make(g, m);
    ASSERT_NE(engine, nullptr);
    Dijkstra dijkstra(g);
    std::uniform_int_distribution<size_t> seed_count(1, 3);
    for (Strategy strategy : {Strategy::kAuto, Strategy::kSweeps, Strategy::kSpaces}) {
      SCOPED_TRACE(static_cast<int>(strategy));
      engine->query.SetTableStrategyForTest(strategy);
      for (auto [rows, cols] :
           {std::pair<size_t, size_t>{1, 20}, {20, 1}, {7, 9}, {9, 7}, {0, 3}, {3, 0}}) {
        std::vector<std::vector<Seed>> sources, targets;
        for (size_t i = 0; i < rows; ++i) sources.push_back(RandomSeeds(g, seed_count(rng), rng));
        for (size_t j = 0; j < cols; ++j) targets.push_back(RandomSeeds(g, seed_count(rng), rng));
        if (rows > 0 && cols > 0) targets[0] = sources[0];  // a group to itself
        if (rows > 1 && cols > 1) targets[1].clear();       // an empty group
        const std::vector<PathCost> table = engine->query.Table(engine->metric, sources, targets);
        ASSERT_EQ(table.size(), rows * cols);
        for (size_t i = 0; i < rows; ++i) {
          for (size_t j = 0; j < cols; ++j) {
            const PathCost route = engine->query.Route(engine->metric, sources[i], targets[j]);
            const PathCost cell = table[i * cols + j];
            ASSERT_EQ(cell.weight, route.weight) << rows << " x " << cols << ": " << i << ", " << j;
            ASSERT_EQ(cell.weight,
                      dijkstra.Route(m.weight, m.length, sources[i], targets[j]).weight);
            // The table's length is of some path of that weight between some pair of seeds;
            // with random weights ties are rare, so it is the route's.
            if (cell.reachable()) {
              EXPECT_EQ(cell.length, route.length) << i << " x " << j;
            }
          }
        }
      }
    }
  }
}

TEST(CchTest, TableHandlesEmptyAndUnreachableGroups) {
  ArcGraph g{4, {0, 1}, {1, 0}};  // {0, 1} joined; 2 and 3 isolated
  auto engine = Engine::Make(g, Metric{{5, 6}, {50, 60}});
  ASSERT_NE(engine, nullptr);
  std::vector<std::vector<Seed>> sources{{{0, 1, 10}}, {}, {{2, 0, 0}}};
  std::vector<std::vector<Seed>> targets{{{1, 2, 20}}, {{3, 0, 0}}, {{2, 0, 0}}};
  const std::vector<PathCost> table = engine->query.Table(engine->metric, sources, targets);
  ASSERT_EQ(table.size(), 9u);
  EXPECT_EQ(table[0].weight, 1u + 5u + 2u);
  EXPECT_EQ(table[0].length, 10u + 50u + 20u);
  for (size_t k : {1, 2, 3, 4, 5, 6, 7}) EXPECT_EQ(table[k].weight, kInfWeight) << k;
  EXPECT_EQ(table[8].weight, 0u);  // 2 to itself
}

TEST(CchTest, LastPathUnpacksShortcuts) {
  // A path 0 - 1 - 2 - 3 - 4 contracted middle-out forces shortcuts; the path must unpack.
  ArcGraph g{5, {0, 1, 2, 3, 1, 2, 3, 4}, {1, 2, 3, 4, 0, 1, 2, 3}};
  Metric m{{1, 2, 3, 4, 10, 20, 30, 40}, {100, 200, 300, 400, 1, 2, 3, 4}};
  auto engine = Engine::Make(g, m, {1, 3, 2, 0, 4});
  ASSERT_NE(engine, nullptr);
  std::vector<Seed> from{{0, 0, 0}}, to{{4, 0, 0}};
  PathCost cost = engine->query.Route(engine->metric, from, to);
  EXPECT_EQ(cost.weight, 10u);
  EXPECT_EQ(cost.length, 1000u);
  EXPECT_EQ(engine->query.LastPath(engine->metric), (std::vector<uint32_t>{0, 1, 2, 3}));
  cost = engine->query.Route(engine->metric, to, from);
  EXPECT_EQ(cost.weight, 100u);
  EXPECT_EQ(cost.length, 10u);
  EXPECT_EQ(engine->query.LastPath(engine->metric), (std::vector<uint32_t>{7, 6, 5, 4}));
}

TEST(CchTest, SameNodeSeedsGiveAnEmptyPath) {
  ArcGraph g{3, {0, 1}, {1, 2}};
  auto engine = Engine::Make(g, Metric{{5, 5}, {1, 1}});
  ASSERT_NE(engine, nullptr);
  std::vector<Seed> from{{1, 3, 30}}, to{{1, 4, 40}};
  const PathCost cost = engine->query.Route(engine->metric, from, to);
  EXPECT_EQ(cost.weight, 7u);
  EXPECT_EQ(cost.length, 70u);
  EXPECT_TRUE(engine->query.LastPath(engine->metric).empty());
  EXPECT_EQ(engine->query.last_source_seed(), 0u);
  EXPECT_EQ(engine->query.last_target_seed(), 0u);
}

TEST(CchTest, SumsReachingInfinityAreUnreachable) {
  ArcGraph g{3, {0, 1}, {1, 2}};
  auto engine = Engine::Make(g, Metric{{kInfWeight - 1, 1}, {1, 1}});
  ASSERT_NE(engine, nullptr);
  std::vector<Seed> from{{0, 0, 0}}, to1{{1, 0, 0}}, to2{{2, 0, 0}}, late{{1, 1, 0}};
  EXPECT_EQ(engine->query.Route(engine->metric, from, to1).weight, kInfWeight - 1);
  EXPECT_EQ(engine->query.Route(engine->metric, from, to2).weight, kInfWeight);
  EXPECT_EQ(engine->query.Route(engine->metric, from, late).weight, kInfWeight);
}

TEST(CchTest, ComputeOrderIsAPermutation) {
  std::mt19937 rng(5);
  std::vector<ArcGraph> graphs = {
      ArcGraph{},                         // no nodes
      ArcGraph{1, {0}, {0}},              // one node with a self-loop
      ArcGraph{2, {}, {}},                // isolated nodes only
      ArcGraph{3, {0, 0, 1}, {1, 1, 0}},  // parallel and opposite arcs, an isolated node
      ArcGraph{4, {0, 7}, {1, 2}},        // an arc out of range (ignored)
      DisjointUnion(GridRoad(10, 10, rng), RandomSparse(200, 150, rng)),
  };
  for (const ArcGraph& g : graphs) {
    std::vector<uint32_t> order = CchTopology::ComputeOrder(g);
    ASSERT_EQ(order.size(), g.node_count);
    std::sort(order.begin(), order.end());
    for (uint32_t i = 0; i < g.node_count; ++i) ASSERT_EQ(order[i], i);
  }
  // Deterministic.
  const ArcGraph g = GridRoad(20, 20, rng);
  EXPECT_EQ(CchTopology::ComputeOrder(g), CchTopology::ComputeOrder(g));
}

TEST(CchTest, TinyGraphs) {
  // No nodes: builds; nothing to route.
  auto empty = Engine::Make(ArcGraph{}, Metric{});
  ASSERT_NE(empty, nullptr);
  std::vector<Seed> zero{{0, 0, 0}};
  EXPECT_EQ(empty->query.Route(empty->metric, zero, zero).weight, kInfWeight);
  // One node: only itself.
  auto one = Engine::Make(ArcGraph{1, {0}, {0}}, Metric{{3}, {4}});
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->topology->cch_arc_count(), 0u);
  EXPECT_EQ(one->query.Route(one->metric, zero, zero).weight, 0u);
}

TEST(CchTest, NestedDissectionKeepsSearchSpacesSmall) {
  // The point of the METIS order: on a 60 x 60 grid (about 4400 nodes with the subdivisions)
  // the elimination tree stays a few hundred high, where a row-by-row or random order gives
  // thousands, and the chordal graph stays a small multiple of the input.
  std::mt19937 rng(17);
  const ArcGraph g = GridRoad(60, 60, rng);
  auto topology = CchTopology::Build(g, CchTopology::ComputeOrder(g));
  ASSERT_TRUE(topology.has_value());
  EXPECT_LT(topology->elimination_tree_height(), 400u);
  EXPECT_LT(topology->cch_arc_count(), 12 * size_t{g.node_count});
}

TEST(CchTest, RanksFollowTheOrder) {
  ArcGraph g{3, {0, 1}, {1, 2}};
  auto topology = CchTopology::Build(g, std::vector<uint32_t>{2, 0, 1});
  ASSERT_TRUE(topology.has_value());
  EXPECT_EQ(topology->rank(2), 0u);
  EXPECT_EQ(topology->rank(0), 1u);
  EXPECT_EQ(topology->node_at_rank(2), 1u);
  EXPECT_EQ(topology->node_count(), 3u);
  EXPECT_EQ(topology->input_arc_count(), 2u);
}

TEST(CchTest, BuildRejectsBadOrders) {
  ArcGraph g{3, {0, 1}, {1, 2}};
  for (std::vector<uint32_t> order :
       std::vector<std::vector<uint32_t>>{{0, 1}, {0, 1, 2, 0}, {0, 1, 1}, {0, 1, 3}}) {
    auto topology = CchTopology::Build(g, order);
    ASSERT_FALSE(topology.has_value());
    EXPECT_EQ(topology.error().code(), core::Code::kInvalidArgument);
  }
  EXPECT_TRUE(CchTopology::Build(g, std::vector<uint32_t>{2, 1, 0}).has_value());
}

TEST(CchTest, BuildRejectsBadGraphs) {
  const std::vector<uint32_t> order{0, 1, 2};
  auto out_of_range = CchTopology::Build(ArcGraph{3, {0, 1}, {1, 3}}, order);
  ASSERT_FALSE(out_of_range.has_value());
  EXPECT_EQ(out_of_range.error().code(), core::Code::kInvalidArgument);
  auto mismatched = CchTopology::Build(ArcGraph{3, {0, 1}, {1}}, order);
  ASSERT_FALSE(mismatched.has_value());
  EXPECT_EQ(mismatched.error().code(), core::Code::kInvalidArgument);
}

TEST(CchTest, CustomizeRejectsWrongSizesAndKeepsTheOldMetric) {
  ArcGraph g{3, {0, 1}, {1, 2}};
  auto engine = Engine::Make(g, Metric{{5, 6}, {1, 1}});
  ASSERT_NE(engine, nullptr);
  std::vector<uint32_t> one{1}, three{1, 1, 1}, two{1, 1};
  for (auto [w, l] : {std::pair{one, two}, {three, two}, {two, one}, {two, three}}) {
    core::Status status = engine->metric.Customize(w, l);
    EXPECT_EQ(status.code(), core::Code::kInvalidArgument);
  }
  std::vector<Seed> from{{0, 0, 0}}, to{{2, 0, 0}};
  EXPECT_EQ(engine->query.Route(engine->metric, from, to).weight, 11u);
}

TEST(CchTest, UncustomisedMetricAndForeignMetricAreUnreachable) {
  ArcGraph g{3, {0, 1}, {1, 2}};
  auto engine = Engine::Make(g, Metric{{5, 6}, {1, 1}});
  ASSERT_NE(engine, nullptr);
  std::vector<Seed> from{{0, 0, 0}}, to{{2, 0, 0}};
  CchMetric fresh(engine->topology);
  EXPECT_EQ(engine->query.Route(fresh, from, to).weight, kInfWeight);
  auto other = Engine::Make(g, Metric{{5, 6}, {1, 1}});
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(engine->query.Route(other->metric, from, to).weight, kInfWeight);
  EXPECT_EQ(engine->query.Route(engine->metric, from, to).weight, 11u);
}

TEST(CchTest, SeedsOutOfRangeAreIgnored) {
  ArcGraph g{3, {0, 1}, {1, 2}};
  auto engine = Engine::Make(g, Metric{{5, 6}, {1, 1}});
  ASSERT_NE(engine, nullptr);
  std::vector<Seed> from{{9, 0, 0}, {0, 1, 0}}, to{{2, 0, 0}}, nowhere{{3, 0, 0}};
  EXPECT_EQ(engine->query.Route(engine->metric, from, to).weight, 12u);
  EXPECT_EQ(engine->query.last_source_seed(), 1u);
  EXPECT_EQ(engine->query.Route(engine->metric, from, nowhere).weight, kInfWeight);
}

}  // namespace
}  // namespace medulla::routing
