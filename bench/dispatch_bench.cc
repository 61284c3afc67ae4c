// The dispatch decision on an OSM extract: dispatch::Recommend for one incident against 50
// ambulances and 20 hospitals at random road positions (seeded), with route geometry, over
// 2,000 random incidents of mixed conditions; the same without geometry (the decision's
// tables alone); and RecommendMany of 2 incidents competing for the fleet. Each benchmark
// times decisions one by one and reports p50/p99 in microseconds, as routing_bench does. The
// extract is MEDULLA_ROUTING_PBF (docs/benchmarks.md uses the whole Porto extract of the shared
// data set), else the small central-Porto test extract:
//   MEDULLA_ROUTING_PBF=../shared/data/osm/porto_portugal.osm.pbf
//   build/release/bench/dispatch_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "dispatch/decision.h"
#include "routing/graph_builder.h"
#include "routing/osm_reader.h"
#include "routing/router.h"

namespace medulla::dispatch {
namespace {

using routing::LonLat;

constexpr int kIncidents = 2000;
constexpr int kAmbulances = 50;
constexpr int kHospitals = 20;
constexpr int64_t kNow = 1'750'000'000'000;

struct City {
  std::shared_ptr<const routing::RoadGraph> graph;
  std::unique_ptr<routing::Router> router;
  std::vector<Hospital> hospitals;
  std::vector<Ambulance> ambulances;
  std::vector<Incident> incidents;
  Policy policy;
  std::string file = "/tmp/medulla_dispatch_bench.graph";
};

City& Porto() {
  static City* city = [] {
    auto* c = new City;
    const char* pbf = std::getenv("MEDULLA_ROUTING_PBF");
    auto network =
        routing::ReadOsmNetwork(pbf ? pbf : MEDULLA_TEST_DATA_DIR "/osm/porto_centre.osm.pbf", {});
    if (!network) std::abort();
    auto data = routing::BuildRoadGraph(*network);
    if (!data || !routing::SaveRoadGraph(*data, c->file).ok()) std::abort();
    c->graph = *routing::RoadGraph::Load(c->file);
    c->router = std::move(*routing::Router::Open(c->graph, {.time_of_day = false}));

    std::mt19937 rng(42);
    const routing::RoadGraph& g = *c->graph;
    std::uniform_int_distribution<uint32_t> point(0, g.point_count() - 1);
    auto place = [&]() -> LonLat {
      for (;;) {
        const uint32_t q = point(rng);
        if (!(g.edge_flags[g.point_edge[q]] & routing::kEdgeInMainComponent)) continue;
        return {g.point_lon[q] / 1e7, g.point_lat[q] / 1e7};
      }
    };
    std::bernoulli_distribution coin(0.5);
    auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };

    // Hospitals: every one an ED; specialist units at realistic rates; fresh statuses with a
    // spread of occupancy, a few on diversion, a few stale.
    std::uniform_real_distribution<double> occupancy(0.3, 1.1);
    for (int i = 0; i < kHospitals; ++i) {
      Hospital h{.id = "hospital-" + std::to_string(i), .where = place()};
      const std::pair<Capability, double> rates[] = {
          {kStrokeUnit, 0.4},   {kThrombectomy, 0.15}, {kPci, 0.3},
          {kTraumaLevel1, 0.1}, {kTraumaLevel2, 0.2},  {kTraumaLevel3, 0.2},
          {kBurns, 0.1},        {kPaediatrics, 0.2},   {kMaternity, 0.4}};
      for (const auto& [cap, p] : rates) {
        if (chance(p)) h.capabilities |= cap;
      }
      const bool stale = chance(0.1);
      h.status.reported_ms = stale ? kNow - 24 * 3'600'000LL : kNow - 5 * 60'000;
      h.status.diversion = chance(0.1);
      h.status.ed_beds = 40;
      h.status.ed_patients = 40 * occupancy(rng);
      if (coin(rng)) h.status.ed_wait_min = 60 * occupancy(rng);
      c->hospitals.push_back(std::move(h));
    }
    // Ambulances: most available with a fresh position, some busy, a few with an old fix.
    for (int i = 0; i < kAmbulances; ++i) {
      Ambulance a{.id = "ambulance-" + std::to_string(i), .where = place()};
      a.status = chance(0.8) ? AmbulanceStatus::kAvailable : AmbulanceStatus::kTransporting;
      a.position_ms = chance(0.05) ? kNow - 3'600'000 : kNow - 30'000;
      c->ambulances.push_back(std::move(a));
    }
    // Incidents: conditions mixed evenly, some suspected large-vessel strokes, some children.
    std::uniform_int_distribution<int> condition(0, 6);
    for (int i = 0; i < kIncidents; ++i) {
      Incident in{.id = "incident-" + std::to_string(i), .where = place()};
      in.condition = static_cast<Condition>(condition(rng));
      in.lvo_suspected = in.condition == Condition::kStroke && coin(rng);
      in.paediatric = chance(0.1);
      c->incidents.push_back(std::move(in));
    }
    return c;
  }();
  return *city;
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

void Decide(benchmark::State& state, bool with_geometry) {
  City& c = Porto();
  const RecommendOptions options{.now_ms = kNow, .with_geometry = with_geometry};
  int no_ambulance = 0, no_hospital = 0;
  TimeEach(state, kIncidents, [&](int i) {
    auto r = Recommend(*c.router, c.policy, c.incidents[i], c.hospitals, c.ambulances, options);
    if (!r) std::abort();
    no_ambulance += !r->ambulance;
    no_hospital += !r->hospital;
    benchmark::DoNotOptimize(r);
  });
  // Incidents left without one (a decision cut short is quicker: these should stay near 0).
  state.counters["no_ambulance"] = no_ambulance;
  state.counters["no_hospital"] = no_hospital;
}

// The whole decision for one incident, with the routes to the scene and to the hospital.
void BM_Recommend(benchmark::State& state) {
  Decide(state, true);
}
BENCHMARK(BM_Recommend)->Iterations(1)->Unit(benchmark::kMillisecond);

// The decision alone: snapping, the 50 x 1 and 1 x 20 tables and the rule.
void BM_RecommendNoGeometry(benchmark::State& state) {
  Decide(state, false);
}
BENCHMARK(BM_RecommendNoGeometry)->Iterations(1)->Unit(benchmark::kMillisecond);

// Two incidents at once competing for the fleet, with geometry.
void BM_RecommendMany2(benchmark::State& state) {
  City& c = Porto();
  const RecommendOptions options{.now_ms = kNow, .with_geometry = true};
  TimeEach(state, kIncidents / 2, [&](int i) {
    auto r = RecommendMany(*c.router, c.policy, {&c.incidents[2 * i], 2}, c.hospitals, c.ambulances,
                           options);
    if (!r) std::abort();
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_RecommendMany2)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medulla::dispatch

BENCHMARK_MAIN();
