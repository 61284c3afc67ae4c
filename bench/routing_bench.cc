// Routing on an OSM extract: one-to-one routes with and without geometry, 1 x 20 and 50 x 1
// tables (also with 200 per-request closures), a live-traffic update of 10% of the segments, loading the graph file, and plain
// Dijkstra on the same pairs as the reference measured in the same run. Each benchmark times
// queries one by one and reports p50/p99 in microseconds. The extract is MEDULLA_ROUTING_PBF
// (docs/benchmarks.md uses the whole Porto extract of the shared data set), else the small
// central-Porto test extract:
//   MEDULLA_ROUTING_PBF=../shared/data/osm/porto_portugal.osm.pbf build/release/bench/routing_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "routing/dijkstra.h"
#include "routing/graph_builder.h"
#include "routing/osm_reader.h"
#include "routing/router.h"

namespace medulla::routing {
namespace {

constexpr int kQueries = 5000;

struct Porto {
  std::shared_ptr<const RoadGraph> graph;
  std::unique_ptr<Router> router;
  std::vector<LonLat> places;  // random points on roads
  std::string file = "/tmp/medulla_routing_bench.graph";
};

Porto& City() {
  static Porto* porto = [] {
    auto* p = new Porto;
    const char* pbf = std::getenv("MEDULLA_ROUTING_PBF");
    auto network =
        ReadOsmNetwork(pbf ? pbf : MEDULLA_TEST_DATA_DIR "/osm/porto_centre.osm.pbf", {});
    if (!network) std::abort();
    auto data = BuildRoadGraph(*network);
    if (!data || !SaveRoadGraph(*data, p->file).ok()) std::abort();
    p->graph = *RoadGraph::Load(p->file);
    p->router = std::move(*Router::Open(p->graph, {.time_of_day = false}));
    std::mt19937 rng(42);
    const RoadGraph& g = *p->graph;
    std::uniform_int_distribution<uint32_t> point(0, g.point_count() - 1);
    while (p->places.size() < 2 * kQueries) {
      const uint32_t q = point(rng);
      if (!(g.edge_flags[g.point_edge[q]] & kEdgeInMainComponent)) continue;
      p->places.push_back({g.point_lon[q] / 1e7, g.point_lat[q] / 1e7});
    }
    return p;
  }();
  return *porto;
}

template <typename F>
void TimeEach(benchmark::State& state, int n, F&& query) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  for (auto _ : state) {
    for (int i = 0; i < n; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      query(i);
      us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
}

void BM_RouteDuration(benchmark::State& state) {
  Porto& p = City();
  TimeEach(state, kQueries, [&](int i) {
    auto r = p.router->Route(p.places[2 * i], p.places[2 * i + 1], false);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_RouteDuration)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_RouteWithGeometry(benchmark::State& state) {
  Porto& p = City();
  TimeEach(state, kQueries, [&](int i) {
    auto r = p.router->Route(p.places[2 * i], p.places[2 * i + 1], true);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_RouteWithGeometry)->Iterations(1)->Unit(benchmark::kMillisecond);

// The scene to 20 hospitals.
void BM_Table1x20(benchmark::State& state) {
  Porto& p = City();
  const std::vector<LonLat> hospitals(p.places.end() - 20, p.places.end());
  TimeEach(state, 2000, [&](int i) {
    auto r = p.router->Table({&p.places[i], 1}, hospitals);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_Table1x20)->Iterations(1)->Unit(benchmark::kMillisecond);

// 50 ambulances to the scene.
void BM_Table50x1(benchmark::State& state) {
  Porto& p = City();
  const std::vector<LonLat> ambulances(p.places.end() - 70, p.places.end() - 20);
  TimeEach(state, 2000, [&](int i) {
    auto r = p.router->Table(ambulances, {&p.places[i], 1});
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_Table50x1)->Iterations(1)->Unit(benchmark::kMillisecond);

// Per-request closures: 200 random segments closed for the request only (a search on a private
// copy of the weights, not the CCH).
Closures RandomClosures(const RoadGraph& g) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> key(0, g.key_from.size() - 1);
  std::vector<std::pair<int64_t, int64_t>> segments;
  for (int i = 0; i < 200; ++i) {
    const size_t k = key(rng);
    segments.emplace_back(g.key_from[k], g.key_to[k]);
  }
  return *City().router->ResolveClosures(segments);
}

void BM_RouteWithClosures(benchmark::State& state) {
  Porto& p = City();
  const Closures closed = RandomClosures(*p.graph);
  TimeEach(state, 500, [&](int i) {
    auto r = p.router->Route(p.places[2 * i], p.places[2 * i + 1], false, &closed);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_RouteWithClosures)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_Table1x20WithClosures(benchmark::State& state) {
  Porto& p = City();
  const Closures closed = RandomClosures(*p.graph);
  const std::vector<LonLat> hospitals(p.places.end() - 20, p.places.end());
  TimeEach(state, 300, [&](int i) {
    auto r = p.router->Table({&p.places[i], 1}, hospitals, &closed);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_Table1x20WithClosures)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_Table50x1WithClosures(benchmark::State& state) {
  Porto& p = City();
  const Closures closed = RandomClosures(*p.graph);
  const std::vector<LonLat> ambulances(p.places.end() - 70, p.places.end() - 20);
  TimeEach(state, 300, [&](int i) {
    auto r = p.router->Table(ambulances, {&p.places[i], 1}, &closed);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_Table50x1WithClosures)->Iterations(1)->Unit(benchmark::kMillisecond);

// The reference: plain Dijkstra between the same nodes the routes snap to.
void BM_DijkstraReference(benchmark::State& state) {
  Porto& p = City();
  const RoadGraph& g = *p.graph;
  ArcGraph arcs{g.node_count(),
                {g.arc_tail.begin(), g.arc_tail.end()},
                {g.arc_head.begin(), g.arc_head.end()}};
  Dijkstra dijkstra(arcs);
  auto w = p.router->weights();
  // The nodes the pairs snap to, found before timing: the reference times the search alone.
  auto node_of = [&](LonLat place) {
    return g.edge_head[g.point_edge[p.router->Snap(place)->point]];
  };
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  for (int i = 0; i < 500; ++i)
    pairs.emplace_back(node_of(p.places[2 * i]), node_of(p.places[2 * i + 1]));
  TimeEach(state, 500, [&](int i) {
    const Seed from{pairs[i].first, 0, 0}, to{pairs[i].second, 0, 0};
    benchmark::DoNotOptimize(dijkstra.Route(w->arc_ms, w->arc_dm, {&from, 1}, {&to, 1}));
  });
}
BENCHMARK(BM_DijkstraReference)->Iterations(1)->Unit(benchmark::kMillisecond);

// 10% of the directed segments given new speeds, until the new weights answer queries.
void BM_TrafficUpdate10Percent(benchmark::State& state) {
  Porto& p = City();
  const RoadGraph& g = *p.graph;
  std::mt19937 rng(3);
  std::uniform_int_distribution<size_t> key(0, g.key_from.size() - 1);
  std::uniform_int_distribution<int> kmh(5, 40);
  TimeEach(state, 20, [&](int) {
    state.PauseTiming();
    std::vector<SpeedUpdate> updates;
    for (size_t i = 0; i < g.key_from.size() / 10; ++i) {
      const size_t k = key(rng);
      updates.push_back({g.key_from[k], g.key_to[k], static_cast<double>(kmh(rng))});
    }
    state.ResumeTiming();
    auto r = p.router->UpdateTraffic(updates);
    benchmark::DoNotOptimize(r);
  });
  state.counters["segments"] = static_cast<double>(g.key_from.size() / 10);
}
BENCHMARK(BM_TrafficUpdate10Percent)->Iterations(1)->Unit(benchmark::kMillisecond);

// Mapping the graph file and building the engine's topology and first metric.
void BM_LoadGraph(benchmark::State& state) {
  Porto& p = City();
  TimeEach(state, 5, [&](int) {
    auto g = RoadGraph::Load(p.file);
    auto r = Router::Open(*g, {.time_of_day = false});
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_LoadGraph)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medulla::routing

BENCHMARK_MAIN();
