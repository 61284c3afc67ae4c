// medulla routing import: builds the emergency-vehicle road graph of an OSM PBF extract into
// the data directory, where `medulla serve` finds it (routing/road_graph.h).
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.h"
#include "routing/graph_builder.h"
#include "routing/osm_reader.h"
#include "routing/road_graph.h"

namespace medulla::cli {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int RunRoutingImport(const RoutingImportArgs& args) {
  const std::string data_dir = args.data_dir.empty() ? "var/medulla" : args.data_dir;
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "medulla: cannot create %s: %s\n", data_dir.c_str(), ec.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "medulla routing import: reading %s\n", args.file.c_str());
  auto network = routing::ReadOsmNetwork(args.file, {.progress = true});
  if (!network) {
    std::fprintf(stderr, "medulla: %s\n", network.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "  read in %.1f s: %zu drivable ways with %zu nodes; building the graph\n",
               SecondsSince(start), network->ways.size(), network->nodes.size());
  auto data = routing::BuildRoadGraph(*network);
  if (!data) {
    std::fprintf(stderr, "medulla: %s\n", data.error().message().c_str());
    return 1;
  }
  const std::string path = routing::RoadGraphPath(data_dir);
  if (auto s = routing::SaveRoadGraph(*data, path); !s.ok()) {
    std::fprintf(stderr, "medulla: %s\n", s.message().c_str());
    return 1;
  }
  const routing::ImportSummary& sum = data->summary;
  uint64_t length_dm = 0;  // each road once, not once per direction
  for (uint32_t e = 0; e < data->edge_twin.size(); ++e) {
    if (data->edge_twin[e] != routing::kNoEdge && data->edge_twin[e] < e) continue;
    for (uint32_t p = data->edge_point_begin[e]; p < data->edge_point_begin[e + 1]; ++p) {
      length_dm += data->segment_length_dm[p];
    }
  }
  size_t main_edges = 0;
  for (uint8_t f : data->edge_flags) main_edges += (f & routing::kEdgeInMainComponent) != 0;
  const size_t edges = data->edge_twin.size();
  fmt::print(
      "imported {}\n"
      "  ways: {} read, {} drivable\n"
      "  graph: {} nodes, {} edges ({} one-way), {} arcs, {} segments, {:.0f} km of road\n"
      "  turn restrictions: {} read, {} applied, {} skipped (via a way, an exemption, or naming "
      "roads not in the graph)\n"
      "  connected: {:.1f}% of edges in the largest strongly connected part\n"
      "  written {} ({:.1f} MB) in {:.1f} s\n",
      args.file, sum.ways_read, sum.ways_kept, data->node_count, edges, sum.oneway_edges,
      data->arc_tail.size(), data->key_point.size(), length_dm / 10.0 / 1000.0,
      sum.restrictions_read, sum.restrictions_applied, sum.restrictions_skipped,
      edges ? 100.0 * main_edges / edges : 0.0, path, std::filesystem::file_size(path, ec) / 1e6,
      SecondsSince(start));
  return 0;
}

}  // namespace medulla::cli
