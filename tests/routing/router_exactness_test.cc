// Exactness on real cities (road-only extracts of Monaco and central Porto): every shortest-path
// answer of the router's engine equals a plain Dijkstra's on weights computed here, independently,
// from the graph's segments and the speeds the test sets, on 10,000 random node pairs per city,
// before and after random traffic updates through Router::UpdateTraffic (10% of the segments
// slowed, some closed). Routes and tables with per-request closures likewise, between random
// positions part-way along roads. Also the import's counts and connectivity.
#include <gtest/gtest.h>

#include <cstdlib>
#include <queue>
#include <random>
#include <unordered_map>

#include "routing/dijkstra.h"
#include "routing/graph_builder.h"
#include "routing/osm_reader.h"
#include "routing/router.h"
#include "routing/speed_model.h"

namespace medulla::routing {
namespace {

constexpr int kSources = 100;
constexpr int kTargetsPerSource = 100;  // 10,000 pairs

std::string DataPath(const std::string& name) {
  const char* dir = std::getenv("MEDULLA_TEST_DATA");
  return std::string(dir ? dir : "tests/data") + "/osm/" + name;
}

// One-to-all Dijkstra (binary heap) over the arc lists; the adjacency is built once.
class OneToAll {
 public:
  explicit OneToAll(const RoadGraph& g)
      : g_(g), first_(g.node_count() + 1, 0), arcs_(g.arc_count()) {
    for (uint32_t a = 0; a < g.arc_count(); ++a) ++first_[g.arc_tail[a] + 1];
    for (uint32_t v = 0; v < g.node_count(); ++v) first_[v + 1] += first_[v];
    std::vector<uint32_t> fill(first_.begin(), first_.end() - 1);
    for (uint32_t a = 0; a < g.arc_count(); ++a) arcs_[fill[g.arc_tail[a]]++] = a;
  }

  std::vector<uint64_t> From(uint32_t source, const std::vector<uint32_t>& arc_ms) const {
    std::vector<uint64_t> dist(g_.node_count(), UINT64_MAX);
    using Entry = std::pair<uint64_t, uint32_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    dist[source] = 0;
    heap.push({0, source});
    while (!heap.empty()) {
      const auto [d, v] = heap.top();
      heap.pop();
      if (d != dist[v]) continue;
      for (uint32_t i = first_[v]; i < first_[v + 1]; ++i) {
        const uint32_t a = arcs_[i];
        if (arc_ms[a] == kInfWeight) continue;
        const uint64_t nd = d + arc_ms[a];
        if (nd < dist[g_.arc_head[a]]) {
          dist[g_.arc_head[a]] = nd;
          heap.push({nd, g_.arc_head[a]});
        }
      }
    }
    return dist;
  }

 private:
  const RoadGraph& g_;
  std::vector<uint32_t> first_, arcs_;
};

// Arc weights from the segments: free flow, or the speed set for a segment (0: closed).
std::vector<uint32_t> ExpectedArcMs(const RoadGraph& g,
                                    const std::unordered_map<uint32_t, double>& speed_of_point) {
  std::vector<uint32_t> out(g.arc_count());
  for (uint32_t e = 0; e < g.edge_count(); ++e) {
    uint64_t ms = 0;
    for (uint32_t p = g.edge_point_begin[e]; p + 1 < g.edge_point_begin[e + 1]; ++p) {
      const auto set = speed_of_point.find(p);
      const double kmh = set == speed_of_point.end() ? g.segment_speed_kmh[p] : set->second;
      ms = kmh == 0 ? UINT64_MAX
                    : std::min<uint64_t>(UINT64_MAX, ms + TravelMs(g.segment_length_dm[p], kmh));
      if (ms >= kInfWeight) ms = kInfWeight;
    }
    for (uint32_t a = g.edge_first_arc[e]; a < g.edge_first_arc[e + 1]; ++a) {
      out[a] = static_cast<uint32_t>(std::min<uint64_t>(ms, kInfWeight));
    }
  }
  return out;
}

// Segment times from the segments: free flow, or the speed set for a segment (0: closed).
std::vector<uint32_t> ExpectedSegmentMs(
    const RoadGraph& g, const std::unordered_map<uint32_t, double>& speed_of_point) {
  std::vector<uint32_t> out(g.point_count(), 0);
  for (uint32_t e = 0; e < g.edge_count(); ++e) {
    for (uint32_t p = g.edge_point_begin[e]; p + 1 < g.edge_point_begin[e + 1]; ++p) {
      const auto set = speed_of_point.find(p);
      const double kmh = set == speed_of_point.end() ? g.segment_speed_kmh[p] : set->second;
      out[p] = kmh == 0 ? kInfWeight : TravelMs(g.segment_length_dm[p], kmh);
    }
  }
  return out;
}

// The expected cost between two snapped places, from the position semantics written out
// again here: a place is on its segment's edge and on the twin edge, if any, at the mirrored
// segment; it leaves along the rest of its edge and arrives along the start of its edge (a
// closed segment, even part of it, is not passed); one place later on the same edge than the
// other is also reached along the road itself. Between edges: Dijkstra::Route on `arc_ms`.
class ExpectedCost {
 public:
  ExpectedCost(const RoadGraph& g, std::vector<uint32_t> segment_ms, std::vector<uint32_t> arc_ms)
      : g_(g),
        segment_ms_(std::move(segment_ms)),
        arc_ms_(std::move(arc_ms)),
        arc_dm_(g.arc_count()),
        dijkstra_(ArcGraph{g.node_count(),
                           {g.arc_tail.begin(), g.arc_tail.end()},
                           {g.arc_head.begin(), g.arc_head.end()}}) {}

  // Travel ms; kInfWeight when unreachable.
  uint64_t operator()(const Snapped& from, const Snapped& to) {
    uint64_t best = kInfWeight;
    std::vector<Seed> sources, targets;
    for (const Place& a : Places(from)) {
      const uint64_t w = Sum(a.edge, a.point + 1, EndOf(a.edge)) + Part(a.point, 1 - a.fraction);
      if (w < kInfWeight) sources.push_back({g_.edge_head[a.edge], uint32_t(w), 0});
    }
    for (const Place& b : Places(to)) {
      const uint64_t w =
          Sum(b.edge, g_.edge_point_begin[b.edge], b.point) + Part(b.point, b.fraction);
      if (w >= kInfWeight) continue;
      for (uint32_t arc = g_.edge_first_arc[b.edge]; arc < g_.edge_first_arc[b.edge + 1]; ++arc) {
        targets.push_back({g_.arc_tail[arc], uint32_t(w), 0});
      }
    }
    best = dijkstra_.Route(arc_ms_, arc_dm_, sources, targets).weight;
    for (const Place& a : Places(from)) {
      for (const Place& b : Places(to)) {
        if (a.edge != b.edge || b.point < a.point ||
            (b.point == a.point && b.fraction < a.fraction)) {
          continue;
        }
        const uint64_t at_b =
            Sum(b.edge, g_.edge_point_begin[b.edge], b.point) + Part(b.point, b.fraction);
        const uint64_t at_a =
            Sum(a.edge, g_.edge_point_begin[a.edge], a.point) + Part(a.point, a.fraction);
        if (at_b < kInfWeight) best = std::min(best, at_b - at_a);
      }
    }
    return best;
  }

 private:
  struct Place {
    uint32_t edge, point;
    double fraction;
  };
  uint32_t EndOf(uint32_t e) const { return g_.edge_point_begin[e + 1] - 1; }
  std::vector<Place> Places(const Snapped& s) const {
    const uint32_t e = g_.point_edge[s.point];
    std::vector<Place> out{{e, s.point, s.fraction}};
    if (const uint32_t t = g_.edge_twin[e]; t != kNoEdge) {
      out.push_back({t, EndOf(t) - 1 - (s.point - g_.edge_point_begin[e]), 1 - s.fraction});
    }
    return out;
  }
  // Segments [first, last) of edge e; kInfWeight when one is closed.
  uint64_t Sum(uint32_t, uint32_t first, uint32_t last) const {
    uint64_t sum = 0;
    for (uint32_t p = first; p < last; ++p) {
      if (segment_ms_[p] == kInfWeight) return kInfWeight;
      sum += segment_ms_[p];
    }
    return sum;
  }
  uint64_t Part(uint32_t p, double fraction) const {
    if (segment_ms_[p] == kInfWeight) return kInfWeight;
    return std::lround(segment_ms_[p] * std::clamp(fraction, 0.0, 1.0));
  }

  const RoadGraph& g_;
  std::vector<uint32_t> segment_ms_, arc_ms_, arc_dm_;
  Dijkstra dijkstra_;
};

class ExactnessTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    auto network = ReadOsmNetwork(DataPath(GetParam()), {});
    ASSERT_TRUE(network.has_value()) << network.error().message();
    auto data = BuildRoadGraph(*network);
    ASSERT_TRUE(data.has_value()) << data.error().message();
    auto graph = RoadGraph::FromData(std::move(*data));
    ASSERT_TRUE(graph.has_value()) << graph.error().message();
    auto router = Router::Open(*graph, {.time_of_day = false});
    ASSERT_TRUE(router.has_value()) << router.error().message();
    router_ = std::move(*router);
  }

  // 10,000 random pairs: the engine's answer on the router's current metric equals Dijkstra's
  // on `expected`. Returns how many pairs were reachable.
  int CompareRandomPairs(const std::vector<uint32_t>& expected, uint32_t seed) {
    const RoadGraph& g = router_->graph();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<uint32_t> node(0, g.node_count() - 1);
    auto weights = router_->weights();
    EXPECT_EQ(weights->arc_ms, expected) << "the router's weights differ from the segments'";
    CchQuery query(router_->topology());
    const OneToAll dijkstra(g);
    int reachable = 0;
    for (int s = 0; s < kSources; ++s) {
      const uint32_t source = node(rng);
      const std::vector<uint64_t> dist = dijkstra.From(source, expected);
      for (int t = 0; t < kTargetsPerSource; ++t) {
        const uint32_t target = node(rng);
        const Seed from{source, 0, 0}, to{target, 0, 0};
        const PathCost got = query.Route(*weights->metric, {&from, 1}, {&to, 1});
        const uint64_t want = dist[target] >= kInfWeight ? kInfWeight : dist[target];
        EXPECT_EQ(got.weight, want) << GetParam() << ": " << source << " -> " << target;
        if (HasFailure()) return reachable;
        reachable += want != kInfWeight;
      }
    }
    return reachable;
  }

  std::unique_ptr<Router> router_;
};

TEST_P(ExactnessTest, ImportCountsAndConnectivity) {
  const RoadGraph& g = router_->graph();
  EXPECT_GT(g.node_count(), 1000u);
  EXPECT_GT(g.summary.ways_kept, 1000u);
  EXPECT_GT(g.summary.restrictions_applied, 10u);
  size_t main = 0;
  for (uint8_t f : g.edge_flags) main += (f & kEdgeInMainComponent) != 0;
  EXPECT_GT(main, g.edge_count() * 9 / 10) << "the largest strongly connected part is small";
}

TEST_P(ExactnessTest, EqualsDijkstraBeforeAndAfterTraffic) {
  const RoadGraph& g = router_->graph();
  const int before = CompareRandomPairs(ExpectedArcMs(g, {}), 1);
  EXPECT_GT(before, kSources * kTargetsPerSource * 8 / 10);

  // 10% of the segments slowed to 5-40 km/h, one in twenty of those closed.
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> key(0, g.key_from.size() - 1);
  std::uniform_int_distribution<int> kmh(5, 40), closed(0, 19);
  std::vector<SpeedUpdate> updates;
  std::unordered_map<uint32_t, double> speed_of_point;
  for (size_t i = 0; i < g.key_from.size() / 10; ++i) {
    const size_t k = key(rng);
    const double speed = closed(rng) == 0 ? 0 : kmh(rng);
    updates.push_back({g.key_from[k], g.key_to[k], speed});
    // Every segment between these two nodes (overlapping ways) takes the speed.
    const auto [lo, hi] = g.FindSegments(g.key_from[k], g.key_to[k]);
    for (size_t j = lo; j < hi; ++j) speed_of_point[g.key_point[j]] = speed;
  }
  auto report = router_->UpdateTraffic(updates);
  ASSERT_TRUE(report.has_value()) << report.error().message();
  EXPECT_EQ(report->unknown, 0u);
  EXPECT_GT(report->applied, updates.size() * 9 / 10);
  CompareRandomPairs(ExpectedArcMs(g, speed_of_point), 2);

  // Back to the profile: null speeds.
  for (SpeedUpdate& u : updates) u.speed_kmh.reset();
  ASSERT_TRUE(router_->UpdateTraffic(updates).has_value());
  EXPECT_EQ(CompareRandomPairs(ExpectedArcMs(g, {}), 1), before);
}

TEST_P(ExactnessTest, ClosuresPerRequestEqualDijkstraWithThoseArcsClosed) {
  const RoadGraph& g = router_->graph();
  std::mt19937 rng(13);
  // About 200 random directed segments closed (every overlapping segment between the nodes).
  std::uniform_int_distribution<size_t> key(0, g.key_from.size() - 1);
  std::vector<std::pair<int64_t, int64_t>> segments;
  std::unordered_map<uint32_t, double> speed_of_point;
  for (int i = 0; i < 200; ++i) {
    const size_t k = key(rng);
    segments.emplace_back(g.key_from[k], g.key_to[k]);
    const auto [lo, hi] = g.FindSegments(g.key_from[k], g.key_to[k]);
    for (size_t j = lo; j < hi; ++j) speed_of_point[g.key_point[j]] = 0;
  }
  auto closures = router_->ResolveClosures(segments);
  ASSERT_TRUE(closures.has_value()) << closures.error().message();
  EXPECT_EQ(closures->points.size(), speed_of_point.size());
  ExpectedCost closed(g, ExpectedSegmentMs(g, speed_of_point), ExpectedArcMs(g, speed_of_point));

  // Random places part-way along random segments, snapped by the router (snapping is not what
  // is checked here).
  std::uniform_int_distribution<uint32_t> point(0, g.point_count() - 1);
  std::uniform_real_distribution<double> share(0, 1);
  auto random_place = [&] {
    uint32_t p;
    do {
      p = point(rng);
    } while (p + 1 >= g.edge_point_begin[g.point_edge[p] + 1]);
    const double f = share(rng);
    const LonLat where{(g.point_lon[p] + (g.point_lon[p + 1] - g.point_lon[p]) * f) / 1e7,
                       (g.point_lat[p] + (g.point_lat[p + 1] - g.point_lat[p]) * f) / 1e7};
    auto snapped = router_->Snap(where);
    EXPECT_TRUE(snapped.has_value()) << snapped.error().message();
    return std::pair{where, *snapped};
  };
  auto got_ms = [](const core::Result<RouteAnswer>& r) -> uint64_t {
    if (!r) {
      EXPECT_EQ(r.error().code(), core::Code::kNotFound) << r.error().message();
      return kInfWeight;
    }
    return std::llround(r->duration_s * 1000);
  };

  // 1,000 random pairs by Route; the closures change some of them.
  int changed = 0, reachable = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto [from, a] = random_place();
    const auto [to, b] = random_place();
    const uint64_t want = closed(a, b);
    ASSERT_EQ(got_ms(router_->Route(from, to, i % 2 == 0, &*closures)), want)
        << GetParam() << " pair " << i;
    changed += got_ms(router_->Route(from, to, false)) != want;
    reachable += want != kInfWeight;
  }
  // Porto keeps 885 of them reachable; Monaco, whose one-ways 200 closures cut up more, 520.
  EXPECT_GT(reachable, 400);
  EXPECT_GT(changed, 10) << "the closures hardly matter: the test proves little";

  // Tables of 10 x 100 (one forward search per row) and 100 x 10 (one backward search per
  // column).
  std::vector<LonLat> few, many;
  std::vector<Snapped> few_at, many_at;
  for (int i = 0; i < 10; ++i) {
    const auto [where, at] = random_place();
    few.push_back(where);
    few_at.push_back(at);
  }
  for (int i = 0; i < 100; ++i) {
    const auto [where, at] = random_place();
    many.push_back(where);
    many_at.push_back(at);
  }
  for (const bool forward : {true, false}) {
    const auto& from = forward ? few : many;
    const auto& to = forward ? many : few;
    const auto& from_at = forward ? few_at : many_at;
    const auto& to_at = forward ? many_at : few_at;
    auto table = router_->Table(from, to, &*closures);
    ASSERT_TRUE(table.has_value()) << table.error().message();
    for (size_t i = 0; i < from.size(); ++i) {
      for (size_t j = 0; j < to.size(); ++j) {
        const auto& cell = table->durations_s[i * to.size() + j];
        const uint64_t got = cell ? std::llround(*cell * 1000) : kInfWeight;
        ASSERT_EQ(got, closed(from_at[i], to_at[j]))
            << GetParam() << (forward ? " forward " : " backward ") << i << "," << j;
      }
    }
  }
  // The live weights are as they were.
  EXPECT_EQ(router_->weights()->arc_ms, ExpectedArcMs(g, {}));
}

INSTANTIATE_TEST_SUITE_P(Cities, ExactnessTest,
                         ::testing::Values("porto_centre.osm.pbf", "monaco_roads.osm.pbf"),
                         [](const auto& info) {
                           const std::string file(info.param);
                           return file.substr(0, file.find_first_of("_."));
                         });

}  // namespace
}  // namespace medulla::routing
