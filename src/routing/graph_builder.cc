#include "routing/graph_builder.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "routing/cch.h"

namespace medulla::routing {

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;

// A directed edge while building: a piece of one way between two decision points.
struct PendingEdge {
  int64_t way = 0;
  RoadClass road_class = RoadClass::kResidential;
  uint8_t speed_kmh = 1;
  std::vector<int64_t> points;  // OSM node ids, tail first
  uint32_t twin = kNone;
  uint32_t head_node = kNone;
};

// Sizes the snapping grid: cells of about 100 m, fewer and larger on a large map so the cell
// index stays within a few million entries.
GridShape GridFor(int32_t min_lat, int32_t min_lon, int32_t max_lat, int32_t max_lon) {
  constexpr double kMaxCells = 4e6;
  const double height = static_cast<double>(max_lat) - min_lat + 1;
  const double width = static_cast<double>(max_lon) - min_lon + 1;
  double cell = 10'000;  // 0.001 degrees
  if (height * width / (cell * cell) > kMaxCells) cell = std::sqrt(height * width / kMaxCells);
  GridShape g;
  g.min_lat = min_lat;
  g.min_lon = min_lon;
  g.cell = static_cast<int32_t>(std::ceil(cell));
  g.rows = static_cast<uint32_t>(height / g.cell) + 1;
  g.cols = static_cast<uint32_t>(width / g.cell) + 1;
  return g;
}

// The nodes of the largest strongly connected component (Kosaraju, iterative).
std::vector<bool> LargestComponent(uint32_t n, const std::vector<uint32_t>& tail,
                                   const std::vector<uint32_t>& head) {
  auto csr = [n](const std::vector<uint32_t>& from, const std::vector<uint32_t>& to) {
    std::vector<uint32_t> first(n + 1, 0), adj(from.size());
    for (uint32_t f : from) ++first[f + 1];
    std::partial_sum(first.begin(), first.end(), first.begin());
    std::vector<uint32_t> fill(first.begin(), first.end() - 1);
    for (size_t a = 0; a < from.size(); ++a) adj[fill[from[a]]++] = to[a];
    return std::pair(std::move(first), std::move(adj));
  };
  const auto [fwd_first, fwd] = csr(tail, head);
  const auto [bwd_first, bwd] = csr(head, tail);
  // Pass 1: finishing order of a depth-first search on the forward graph.
  std::vector<uint32_t> finished;
  finished.reserve(n);
  std::vector<uint8_t> seen(n, 0);
  std::vector<std::pair<uint32_t, uint32_t>> stack;  // node, next neighbour index
  for (uint32_t s = 0; s < n; ++s) {
    if (seen[s]) continue;
    seen[s] = 1;
    stack.emplace_back(s, fwd_first[s]);
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      if (next < fwd_first[v + 1]) {
        const uint32_t w = fwd[next++];
        if (!seen[w]) {
          seen[w] = 1;
          stack.emplace_back(w, fwd_first[w]);
        }
      } else {
        finished.push_back(v);
        stack.pop_back();
      }
    }
  }
  // Pass 2: components on the reverse graph in reverse finishing order.
  std::vector<uint32_t> component(n, kNone);
  std::vector<uint32_t> sizes;
  std::vector<uint32_t> todo;
  for (auto it = finished.rbegin(); it != finished.rend(); ++it) {
    if (component[*it] != kNone) continue;
    const auto c = static_cast<uint32_t>(sizes.size());
    sizes.push_back(0);
    component[*it] = c;
    todo.push_back(*it);
    while (!todo.empty()) {
      const uint32_t v = todo.back();
      todo.pop_back();
      ++sizes[c];
      for (uint32_t i = bwd_first[v]; i < bwd_first[v + 1]; ++i) {
        if (component[bwd[i]] == kNone) {
          component[bwd[i]] = c;
          todo.push_back(bwd[i]);
        }
      }
    }
  }
  std::vector<bool> in_main(n, false);
  if (sizes.empty()) return in_main;
  const auto main =
      static_cast<uint32_t>(std::max_element(sizes.begin(), sizes.end()) - sizes.begin());
  for (uint32_t v = 0; v < n; ++v) in_main[v] = component[v] == main;
  return in_main;
}

}  // namespace

double DistanceMetres(NodeLocation a, NodeLocation b) {
  constexpr double kEarthRadius = 6'371'008.8;  // mean radius (IUGG)
  constexpr double kRad = M_PI / 180e7;
  const double lat1 = a.lat * kRad, lat2 = b.lat * kRad;
  // In int64: two longitudes far apart differ by more than an int32 holds.
  double dlon = static_cast<double>(int64_t{b.lon} - a.lon) * kRad;
  if (dlon > M_PI) dlon -= 2 * M_PI;  // the short way round, across the 180th meridian
  if (dlon < -M_PI) dlon += 2 * M_PI;
  const double dlat = lat2 - lat1;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(lat1) * std::cos(lat2) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadius * std::asin(std::min(1.0, std::sqrt(h)));
}

core::Result<RoadGraphData> BuildRoadGraph(const RoadNetwork& network) {
  RoadGraphData d;
  d.summary = network.summary;

  // Each way as runs of located nodes (a node without a location breaks the way), without
  // repeated consecutive nodes.
  struct Run {
    const NetworkWay* way;
    std::vector<int64_t> nodes;
  };
  std::vector<Run> runs;
  for (const NetworkWay& w : network.ways) {
    if (!w.profile.forward && !w.profile.backward) continue;
    Run run{&w, {}};
    for (int64_t id : w.nodes) {
      if (!network.nodes.contains(id)) {
        if (run.nodes.size() >= 2) runs.push_back(run);
        run.nodes.clear();
        continue;
      }
      if (run.nodes.empty() || run.nodes.back() != id) run.nodes.push_back(id);
    }
    if (run.nodes.size() >= 2) runs.push_back(std::move(run));
  }
  if (runs.empty()) {
    return core::Fail(core::InvalidArgument("the map has no road an ambulance can drive on"));
  }

  // Decision points: way ends, nodes shared by ways (or met twice by one), via nodes.
  std::unordered_map<int64_t, uint32_t> uses;
  std::unordered_map<int64_t, bool> is_via;
  for (const TurnRestriction& r : network.restrictions) is_via[r.via_node] = true;
  for (const Run& r : runs) {
    for (int64_t id : r.nodes) ++uses[id];
    uses[r.nodes.front()] += 2;
    uses[r.nodes.back()] += 2;
  }
  auto decision = [&](int64_t id) { return uses[id] >= 2 || is_via.contains(id); };

  // Edges: each run cut at decision points, one edge per drivable direction.
  std::vector<PendingEdge> edges;
  for (const Run& r : runs) {
    size_t start = 0;
    for (size_t i = 1; i < r.nodes.size(); ++i) {
      if (i + 1 != r.nodes.size() && !decision(r.nodes[i])) continue;
      std::vector<int64_t> piece(r.nodes.begin() + static_cast<ptrdiff_t>(start),
                                 r.nodes.begin() + static_cast<ptrdiff_t>(i) + 1);
      uint32_t fwd = kNone;
      if (r.way->profile.forward) {
        fwd = static_cast<uint32_t>(edges.size());
        edges.push_back({r.way->id, r.way->profile.road_class, r.way->profile.forward_kmh, piece});
      }
      if (r.way->profile.backward) {
        std::reverse(piece.begin(), piece.end());
        const auto bwd = static_cast<uint32_t>(edges.size());
        edges.push_back(
            {r.way->id, r.way->profile.road_class, r.way->profile.backward_kmh, std::move(piece)});
        if (fwd != kNone) {
          edges[fwd].twin = bwd;
          edges[bwd].twin = fwd;
        }
      }
      start = i;
    }
  }

  // Graph nodes: one per decision point, except that a via node becomes one node per edge
  // arriving at it (the node "having come from that edge").
  std::unordered_map<int64_t, uint32_t> node_id;
  std::unordered_map<int64_t, std::vector<uint32_t>> arriving;  // via node -> edges
  uint32_t n = 0;
  for (uint32_t e = 0; e < edges.size(); ++e) {
    const int64_t head = edges[e].points.back();
    if (is_via.contains(head)) {
      edges[e].head_node = n++;
      arriving[head].push_back(e);
    } else {
      auto [it, fresh] = node_id.try_emplace(head, n);
      if (fresh) ++n;
      edges[e].head_node = it->second;
    }
  }
  // Nodes only ever left (a road's start that no edge reaches) still need an id.
  for (const PendingEdge& e : edges) {
    const int64_t tail = e.points.front();
    if (!is_via.contains(tail) && node_id.try_emplace(tail, n).second) ++n;
  }

  // Restrictions by via node and from-way.
  struct TurnRule {
    int64_t to_way;
    bool only;
  };
  std::unordered_map<int64_t, std::unordered_map<int64_t, std::vector<TurnRule>>> rules;
  for (const TurnRestriction& r : network.restrictions) {
    rules[r.via_node][r.from_way].push_back({r.to_way, r.only});
  }
  auto allowed = [&](int64_t via, int64_t from_way, int64_t to_way) {
    const auto at = rules.find(via);
    if (at == rules.end()) return true;
    const auto from = at->second.find(from_way);
    if (from == at->second.end()) return true;
    bool has_only = false, only_match = false;
    for (const TurnRule& rule : from->second) {
      if (rule.only) {
        has_only = true;
        only_match |= rule.to_way == to_way;
      } else if (rule.to_way == to_way) {
        return false;
      }
    }
    return !has_only || only_match;
  };

  // Which restrictions name an arriving and a leaving edge at their via node (applied).
  {
    std::unordered_map<int64_t, std::vector<int64_t>> leaving_ways;
    for (const PendingEdge& e : edges) {
      if (is_via.contains(e.points.front())) leaving_ways[e.points.front()].push_back(e.way);
    }
    for (const TurnRestriction& r : network.restrictions) {
      const auto in = arriving.find(r.via_node);
      const auto out = leaving_ways.find(r.via_node);
      const bool from_ok = in != arriving.end() &&
                           std::any_of(in->second.begin(), in->second.end(),
                                       [&](uint32_t e) { return edges[e].way == r.from_way; });
      const bool to_ok =
          out != leaving_ways.end() &&
          std::find(out->second.begin(), out->second.end(), r.to_way) != out->second.end();
      if (from_ok && to_ok) {
        ++d.summary.restrictions_applied;
      } else {
        ++d.summary.restrictions_skipped;
      }
    }
  }

  // Arcs, grouped by edge; points and segments in edge order.
  d.node_count = n;
  d.edge_point_begin.reserve(edges.size() + 1);
  d.edge_first_arc.reserve(edges.size() + 1);
  for (uint32_t e = 0; e < edges.size(); ++e) {
    const PendingEdge& pe = edges[e];
    d.edge_point_begin.push_back(static_cast<uint32_t>(d.point_lat.size()));
    d.edge_first_arc.push_back(static_cast<uint32_t>(d.arc_tail.size()));
    d.edge_twin.push_back(pe.twin);
    d.edge_head.push_back(pe.head_node);
    d.edge_class.push_back(static_cast<uint8_t>(pe.road_class));
    d.edge_way.push_back(pe.way);
    if (pe.twin == kNone) ++d.summary.oneway_edges;
    const int64_t tail = pe.points.front();
    if (const auto via = arriving.find(tail); is_via.contains(tail)) {
      if (via != arriving.end()) {
        for (uint32_t in : via->second) {
          if (allowed(tail, edges[in].way, pe.way)) {
            d.arc_tail.push_back(edges[in].head_node);
            d.arc_head.push_back(pe.head_node);
          }
        }
      }
    } else {
      d.arc_tail.push_back(node_id.at(tail));
      d.arc_head.push_back(pe.head_node);
    }
    for (size_t i = 0; i < pe.points.size(); ++i) {
      const NodeLocation here = network.nodes.at(pe.points[i]);
      d.point_lat.push_back(here.lat);
      d.point_lon.push_back(here.lon);
      d.point_osm.push_back(pe.points[i]);
      d.point_edge.push_back(e);
      uint32_t length_dm = 0;
      if (i + 1 < pe.points.size()) {
        const double metres = DistanceMetres(here, network.nodes.at(pe.points[i + 1]));
        length_dm = static_cast<uint32_t>(std::lround(metres * 10));
      }
      d.segment_length_dm.push_back(length_dm);
      d.segment_speed_kmh.push_back(std::max<uint8_t>(pe.speed_kmh, 1));
    }
  }
  d.edge_point_begin.push_back(static_cast<uint32_t>(d.point_lat.size()));
  d.edge_first_arc.push_back(static_cast<uint32_t>(d.arc_tail.size()));

  // Main component: an edge is in it when its head is and one of its arcs leaves from it. The
  // head alone is not enough: a one-way road that nothing leads into (an exit-only lane out of
  // a car park) can be left for the network but never reached, so a place snapped onto it
  // would get no ambulance.
  const std::vector<bool> in_main = LargestComponent(n, d.arc_tail, d.arc_head);
  d.edge_flags.resize(edges.size(), 0);
  for (uint32_t e = 0; e < edges.size(); ++e) {
    bool tail_in_main = false;
    for (uint32_t a = d.edge_first_arc[e]; a < d.edge_first_arc[e + 1]; ++a) {
      tail_in_main = tail_in_main || in_main[d.arc_tail[a]];
    }
    if (in_main[edges[e].head_node] && tail_in_main) d.edge_flags[e] |= kEdgeInMainComponent;
  }

  // Segment keys for traffic updates.
  std::vector<uint32_t> segs;
  for (uint32_t e = 0; e < edges.size(); ++e) {
    for (uint32_t p = d.edge_point_begin[e]; p + 1 < d.edge_point_begin[e + 1]; ++p) {
      segs.push_back(p);
    }
  }
  std::sort(segs.begin(), segs.end(), [&](uint32_t a, uint32_t b) {
    return std::pair(d.point_osm[a], d.point_osm[a + 1]) <
           std::pair(d.point_osm[b], d.point_osm[b + 1]);
  });
  for (uint32_t p : segs) {
    d.key_from.push_back(d.point_osm[p]);
    d.key_to.push_back(d.point_osm[p + 1]);
    d.key_point.push_back(p);
  }

  // Snapping grid over one edge of each twin pair.
  const auto [min_lat, max_lat] = std::minmax_element(d.point_lat.begin(), d.point_lat.end());
  const auto [min_lon, max_lon] = std::minmax_element(d.point_lon.begin(), d.point_lon.end());
  d.grid = GridFor(*min_lat, *min_lon, *max_lat, *max_lon);
  const GridShape& g = d.grid;
  auto for_cells = [&](uint32_t p, auto&& visit) {
    const auto [la, lb] = std::minmax(d.point_lat[p], d.point_lat[p + 1]);
    const auto [oa, ob] = std::minmax(d.point_lon[p], d.point_lon[p + 1]);
    // In int64: a map across the 180th meridian spans more longitude than an int32 holds.
    const int64_t min_lat = g.min_lat, min_lon = g.min_lon;
    for (int64_t r = (la - min_lat) / g.cell; r <= (lb - min_lat) / g.cell; ++r) {
      for (int64_t c = (oa - min_lon) / g.cell; c <= (ob - min_lon) / g.cell; ++c) {
        visit(static_cast<size_t>(r) * g.cols + static_cast<size_t>(c));
      }
    }
  };
  d.cell_first.assign(size_t{g.rows} * g.cols + 1, 0);
  std::vector<uint32_t> indexed;
  for (uint32_t p : segs) {
    const uint32_t e = d.point_edge[p];
    if (d.edge_twin[e] != kNone && d.edge_twin[e] < e) continue;
    indexed.push_back(p);
    for_cells(p, [&](size_t cell) { ++d.cell_first[cell + 1]; });
  }
  std::partial_sum(d.cell_first.begin(), d.cell_first.end(), d.cell_first.begin());
  d.cell_points.resize(d.cell_first.back());
  {
    std::vector<uint32_t> fill(d.cell_first.begin(), d.cell_first.end() - 1);
    std::sort(indexed.begin(), indexed.end());
    for (uint32_t p : indexed) for_cells(p, [&](size_t cell) { d.cell_points[fill[cell]++] = p; });
  }

  ArcGraph arcs{n, d.arc_tail, d.arc_head};
  d.order = CchTopology::ComputeOrder(arcs);
  return d;
}

}  // namespace medulla::routing
