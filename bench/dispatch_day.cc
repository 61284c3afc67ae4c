// The simulated day (dispatch/simulation.h) on an OSM extract: the recommended destination
// against "the nearest capable hospital by straight line" and "by drive time", time to
// treatment from leaving the scene, mean and 90th percentile, per condition. The extract is
// MEDULLA_ROUTING_PBF, else the small central-Porto test extract; the hospital sites are
// MEDULLA_HOSPITALS_CSV (id,lon,lat with a header), else random road points. docs/benchmarks.md
// runs the whole Porto extract of the shared data set with the 20 synthetic sites kept in the
// repository:
//   MEDULLA_ROUTING_PBF=../shared/data/osm/porto_portugal.osm.pbf
//     MEDULLA_HOSPITALS_CSV=tests/data/routing/hospitals.csv build/release/bench/dispatch_day
// Also: MEDULLA_DISPATCH_SEEDS (comma-separated, default 1), MEDULLA_DISPATCH_INCIDENTS
// (default 1000), MEDULLA_DISPATCH_HOSPITALS (random sites, default 10).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "dispatch/simulation.h"
#include "routing/graph_builder.h"
#include "routing/osm_reader.h"
#include "routing/router.h"

namespace medulla::dispatch {
namespace {

std::string Env(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::vector<HospitalSite> ReadSites(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    fmt::print(stderr, "cannot read {}\n", path);
    std::exit(1);
  }
  std::vector<HospitalSite> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream fields(line);
    std::string id, lon, lat;
    std::getline(fields, id, ',');
    std::getline(fields, lon, ',');
    std::getline(fields, lat, ',');
    out.push_back({id, {std::stod(lon), std::stod(lat)}});
  }
  return out;
}

std::string Capabilities(uint32_t caps) {
  std::string out;
  for (Capability c : AllCapabilities()) {
    if (!(caps & c)) continue;
    if (!out.empty()) out += ",";
    out += CapabilityCode(c);
  }
  return out.empty() ? "ED only" : out;
}

void PrintTable(const std::string& title, const SimulationResult& r) {
  fmt::print("\n{}\n", title);
  fmt::print("{:<26} {:>6} {:>6} {:>7} {:>9} |", "policy", "mean", "p90", "turned", "transfer");
  for (size_t c = 0; c < kConditionCount; ++c) {
    fmt::print(" {:>8.8}", ConditionCode(static_cast<Condition>(c)));
  }
  fmt::print("\n");
  for (size_t p = 0; p < kPolicyCount; ++p) {
    const PolicyOutcome& o = r.policies[p];
    fmt::print("{:<26} {:>6.1f} {:>6.1f} {:>7} {:>9} |",
               PolicyName(static_cast<DestinationPolicy>(p)), o.mean_min, o.p90_min, o.turned_away,
               o.transfers);
    for (size_t c = 0; c < kConditionCount; ++c) {
      if (r.condition_count[c] == 0) {
        fmt::print(" {:>8}", "-");
      } else {
        fmt::print(" {:>8.1f}", o.condition_mean_min[c]);
      }
    }
    fmt::print("\n");
  }
  int differ = 0;
  for (const SimulatedIncident& i : r.incidents) differ += i.chosen[0] != i.chosen[2];
  fmt::print("the recommendation differs from the nearest by drive time for {} of {} incidents\n",
             differ, r.incidents.size());
}

int Main() {
  const std::string pbf =
      Env("MEDULLA_ROUTING_PBF", MEDULLA_TEST_DATA_DIR "/osm/porto_centre.osm.pbf");
  const std::string csv = Env("MEDULLA_HOSPITALS_CSV", "");
  const auto t0 = std::chrono::steady_clock::now();
  auto network = routing::ReadOsmNetwork(pbf, {});
  if (!network) {
    fmt::print(stderr, "{}: {}\n", pbf, network.error().message());
    return 1;
  }
  auto data = routing::BuildRoadGraph(*network);
  if (!data) {
    fmt::print(stderr, "{}\n", data.error().message());
    return 1;
  }
  auto graph = routing::RoadGraph::FromData(std::move(*data));
  if (!graph) {
    fmt::print(stderr, "{}\n", graph.error().message());
    return 1;
  }
  auto router = routing::Router::Open(*graph, {.time_of_day = false});
  if (!router) {
    fmt::print(stderr, "{}\n", router.error().message());
    return 1;
  }
  const double import_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  SimulationConfig config;
  config.incidents = std::stoi(Env("MEDULLA_DISPATCH_INCIDENTS", "1000"));
  config.random_hospitals = std::stoi(Env("MEDULLA_DISPATCH_HOSPITALS", "10"));
  if (!csv.empty()) config.hospitals = ReadSites(csv);
  std::vector<uint64_t> seeds;
  {
    std::stringstream list(Env("MEDULLA_DISPATCH_SEEDS", "1"));
    for (std::string s; std::getline(list, s, ',');) seeds.push_back(std::stoull(s));
  }
  fmt::print("extract {}: {} nodes, {} arcs (imported in {:.1f} s)\n", pbf, (*graph)->node_count(),
             (*graph)->arc_count(), import_s);
  fmt::print("hospitals: {}\n", csv.empty()
                                    ? fmt::format("{} random road points, {:.0f} m apart",
                                                  config.random_hospitals, config.min_separation_m)
                                    : csv);
  fmt::print("time to treatment in minutes, from leaving the scene: drive + door-to-treatment\n");

  for (uint64_t seed : seeds) {
    config.seed = seed;
    config.load_feedback = false;
    const auto start = std::chrono::steady_clock::now();
    auto result = SimulateDay(**router, config);
    if (!result) {
      fmt::print(stderr, "seed {}: {}\n", seed, result.error().message());
      return 1;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    config.load_feedback = true;
    auto with_feedback = SimulateDay(**router, config);
    if (!with_feedback) {
      fmt::print(stderr, "seed {}: {}\n", seed, with_feedback.error().message());
      return 1;
    }
    const SimulationResult& r = *result;
    fmt::print(
        "\n== seed {}: {:04}-{:02}-{:02} (a weekday), {} incidents, {} hospitals, "
        "simulated in {:.1f} s\n",
        seed, config.year, config.month, config.day, r.incidents.size(), r.hospitals.size(),
        seconds);
    fmt::print("hospitals:\n");
    for (const SimulatedHospital& h : r.hospitals) {
      fmt::print("  {:<4} {:>3.0f} ED beds, {:>4.0f} min on diversion  {}\n", h.id, h.ed_beds,
                 h.diversion_min, Capabilities(h.capabilities));
    }
    fmt::print("diversion episodes: {}; jammed segments: {:.1f}% on average\n",
               r.diversion_episodes, r.mean_jammed_share * 100);
    std::string counts;
    for (size_t c = 0; c < kConditionCount; ++c) {
      counts += fmt::format("{}{} {}", c ? ", " : "", ConditionCode(static_cast<Condition>(c)),
                            r.condition_count[c]);
    }
    fmt::print("incidents: {}\n", counts);
    PrintTable("ED loads as the curves say, whatever the policies do (load_feedback off)", r);
    PrintTable(fmt::format("with load feedback: each policy's patients load the EDs it chose "
                           "(load_feedback on: {:.0f} ambulance patients a day, {:.0f} h stay)",
                           with_feedback->ambulance_patients_per_day, config.ed_stay_h),
               *with_feedback);
  }
  return 0;
}

}  // namespace
}  // namespace medulla::dispatch

int main() {
  return medulla::dispatch::Main();
}
