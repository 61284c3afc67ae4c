#include "routing/router.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

#include "routing/dijkstra.h"
#include "routing/speed_model.h"

namespace medulla::routing {

namespace {

constexpr double kE7 = 1e7;
constexpr double kMetresPerE7Lat = 0.0111194927;  // 1e-7 degree of latitude, mean radius

uint32_t SaturatingAdd(uint32_t a, uint32_t b) {
  const uint64_t s = uint64_t{a} + b;
  return s >= kInfWeight ? kInfWeight : static_cast<uint32_t>(s);
}

uint32_t Part(uint32_t whole, double fraction) {
  if (whole == kInfWeight) return kInfWeight;
  return static_cast<uint32_t>(std::lround(whole * std::clamp(fraction, 0.0, 1.0)));
}

// A position on one directed edge: segment `point` of `edge`, `fraction` along it.
struct Position {
  uint32_t edge;
  uint32_t point;
  double fraction;
};

// The cost from the edge's tail to the position.
PathCost FromTail(const RoadGraph& g, const Router::Weights& w, const Position& pos) {
  PathCost c{0, 0};
  for (uint32_t q = g.edge_point_begin[pos.edge]; q < pos.point; ++q) {
    c.weight = SaturatingAdd(c.weight, w.segment_ms[q]);
    c.length += g.segment_length_dm[q];
  }
  c.weight = SaturatingAdd(c.weight, Part(w.segment_ms[pos.point], pos.fraction));
  c.length += Part(g.segment_length_dm[pos.point], pos.fraction);
  return c;
}

// The cost from the position to the edge's head.
PathCost ToHead(const RoadGraph& g, const Router::Weights& w, const Position& pos) {
  PathCost c{Part(w.segment_ms[pos.point], 1 - pos.fraction),
             Part(g.segment_length_dm[pos.point], 1 - pos.fraction)};
  for (uint32_t q = pos.point + 1; q + 1 < g.edge_point_begin[pos.edge + 1]; ++q) {
    c.weight = SaturatingAdd(c.weight, w.segment_ms[q]);
    c.length += g.segment_length_dm[q];
  }
  return c;
}

// The snapped place on each drivable direction of its road.
std::vector<Position> Directions(const RoadGraph& g, const Snapped& s) {
  const uint32_t e = g.point_edge[s.point];
  std::vector<Position> out{{e, s.point, s.fraction}};
  if (const uint32_t t = g.edge_twin[e]; t != kNoEdge) {
    const uint32_t i = s.point - g.edge_point_begin[e];
    const uint32_t segments = g.edge_point_begin[e + 1] - g.edge_point_begin[e] - 1;
    out.push_back({t, g.edge_point_begin[t] + (segments - 1 - i), 1 - s.fraction});
  }
  return out;
}

// Seeds leaving from the positions (to their edges' heads), with the position each came from.
void SourceSeeds(const RoadGraph& g, const Router::Weights& w, std::span<const Position> from,
                 std::vector<Seed>& seeds, std::vector<uint32_t>& origin) {
  for (uint32_t i = 0; i < from.size(); ++i) {
    const PathCost c = ToHead(g, w, from[i]);
    if (!c.reachable()) continue;
    seeds.push_back({g.edge_head[from[i].edge], c.weight, c.length});
    origin.push_back(i);
  }
}

// Seeds arriving at the positions (from each tail node of their edges' arcs).
void TargetSeeds(const RoadGraph& g, const Router::Weights& w, std::span<const Position> to,
                 std::vector<Seed>& seeds, std::vector<uint32_t>& origin) {
  for (uint32_t i = 0; i < to.size(); ++i) {
    const PathCost c = FromTail(g, w, to[i]);
    if (!c.reachable()) continue;
    for (uint32_t a = g.edge_first_arc[to[i].edge]; a < g.edge_first_arc[to[i].edge + 1]; ++a) {
      seeds.push_back({g.arc_tail[a], c.weight, c.length});
      origin.push_back(i);
    }
  }
}

// Along one road from one position to a later one on the same edge, if there is one.
struct Direct {
  PathCost cost;
  size_t from = 0, to = 0;
};
Direct SameRoad(const RoadGraph& g, const Router::Weights& w, std::span<const Position> from,
                std::span<const Position> to) {
  Direct best;
  for (size_t i = 0; i < from.size(); ++i) {
    for (size_t j = 0; j < to.size(); ++j) {
      const Position& a = from[i];
      const Position& b = to[j];
      if (a.edge != b.edge || b.point < a.point ||
          (b.point == a.point && b.fraction < a.fraction)) {
        continue;
      }
      const PathCost ta = FromTail(g, w, a), tb = FromTail(g, w, b);
      if (!tb.reachable()) continue;
      const PathCost c{tb.weight - ta.weight, tb.length - ta.length};
      if (c.weight < best.cost.weight) best = {c, i, j};
    }
  }
  return best;
}

LonLat PointAt(const RoadGraph& g, uint32_t p) {
  return {g.point_lon[p] / kE7, g.point_lat[p] / kE7};
}

LonLat Along(const RoadGraph& g, const Position& pos) {
  const LonLat a = PointAt(g, pos.point), b = PointAt(g, pos.point + 1);
  return {a.lon + (b.lon - a.lon) * pos.fraction, a.lat + (b.lat - a.lat) * pos.fraction};
}

// A route's line from position s to position t: along their one road when `direct` (t on s's
// edge, further along), otherwise from s to its edge's head, along the edges of `arcs` (input
// arcs in travel order) and from t's edge's tail to t.
std::vector<LonLat> RouteLine(const RoadGraph& g, const Position& s, const Position& t, bool direct,
                              std::span<const uint32_t> arcs) {
  std::vector<LonLat> line;
  auto append_points = [&](uint32_t first, uint32_t last) {  // points [first, last]
    for (uint32_t p = first; p <= last; ++p) line.push_back(PointAt(g, p));
  };
  line.push_back(Along(g, s));
  if (direct) {
    if (t.point > s.point) append_points(s.point + 1, t.point);
    line.push_back(Along(g, t));
    return line;
  }
  append_points(s.point + 1, g.edge_point_begin[s.edge + 1] - 1);
  for (uint32_t arc : arcs) {
    const uint32_t e = g.EdgeOfArc(arc);
    append_points(g.edge_point_begin[e] + 1, g.edge_point_begin[e + 1] - 1);
  }
  append_points(g.edge_point_begin[t.edge] + 1, t.point);
  line.push_back(Along(g, t));
  return line;
}

// The live weights with one request's closures closed: a private copy of the segment times
// (so that seeds on a closed segment cannot pass it) and of the arc sums. No metric, since the
// CCH cannot be re-customised per request, and no arc_dm: closures change no length, so the
// live weights' arc_dm serves.
core::Result<Router::Weights> WithClosures(const RoadGraph& g, const Router::Weights& live,
                                           const Closures& closures) {
  Router::Weights w;
  w.hour = live.hour;
  w.weekend = live.weekend;
  w.segment_ms = live.segment_ms;
  w.arc_ms = live.arc_ms;
  for (const uint32_t p : closures.points) {
    // Closures come from ResolveClosures; anything else naming no segment is refused rather
    // than closing a whole edge by mistake.
    if (p >= g.point_count() || p + 1 >= g.edge_point_begin[g.point_edge[p] + 1]) {
      return core::Fail(
          core::InvalidArgument(fmt::format("closure: point {} starts no road segment", p)));
    }
    w.segment_ms[p] = kInfWeight;
    const uint32_t e = g.point_edge[p];
    // An arc's weight is the saturating sum of its edge's segments: one closed, all closed.
    for (uint32_t a = g.edge_first_arc[e]; a < g.edge_first_arc[e + 1]; ++a) {
      w.arc_ms[a] = kInfWeight;
    }
  }
  return w;
}

}  // namespace

class Router::QueryLease {
 public:
  QueryLease(Router& r, std::unique_ptr<CchQuery> q) : router_(r), query_(std::move(q)) {}
  QueryLease(QueryLease&&) = default;
  ~QueryLease() {
    if (!query_) return;
    std::lock_guard lock(router_.pool_mu_);
    router_.pool_.push_back(std::move(query_));
  }
  CchQuery& operator*() { return *query_; }
  CchQuery* operator->() { return query_.get(); }

 private:
  Router& router_;
  std::unique_ptr<CchQuery> query_;
};

Router::QueryLease Router::Lease() {
  {
    std::lock_guard lock(pool_mu_);
    if (!pool_.empty()) {
      auto q = std::move(pool_.back());
      pool_.pop_back();
      return QueryLease(*this, std::move(q));
    }
  }
  return QueryLease(*this, std::make_unique<CchQuery>(topology_));
}

class Router::SearchLease {
 public:
  SearchLease(Router& r, std::unique_ptr<Dijkstra> d) : router_(r), search_(std::move(d)) {}
  SearchLease(SearchLease&&) = default;
  ~SearchLease() {
    if (!search_) return;
    std::lock_guard lock(router_.pool_mu_);
    router_.search_pool_.push_back(std::move(search_));
  }
  Dijkstra* operator->() { return search_.get(); }

 private:
  Router& router_;
  std::unique_ptr<Dijkstra> search_;
};

Router::SearchLease Router::LeaseSearch() {
  {
    std::lock_guard lock(pool_mu_);
    if (!search_pool_.empty()) {
      auto d = std::move(search_pool_.back());
      search_pool_.pop_back();
      return SearchLease(*this, std::move(d));
    }
  }
  const RoadGraph& g = *graph_;
  const ArcGraph arcs{g.node_count(),
                      {g.arc_tail.begin(), g.arc_tail.end()},
                      {g.arc_head.begin(), g.arc_head.end()}};
  return SearchLease(*this, std::make_unique<Dijkstra>(arcs));
}

Router::Router(std::shared_ptr<const RoadGraph> graph, RouterOptions options)
    : graph_(std::move(graph)), options_(options) {
  if (!options_.clock) options_.clock = &core::SystemClock::Instance();
  live_.assign(graph_->point_count(), kNoLiveSpeed);
}

Router::~Router() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (profile_thread_.joinable()) profile_thread_.join();
}

core::Result<std::unique_ptr<Router>> Router::Open(std::shared_ptr<const RoadGraph> graph,
                                                   RouterOptions options) {
  std::unique_ptr<Router> r(new Router(std::move(graph), options));
  const RoadGraph& g = *r->graph_;
  ArcGraph arcs{g.node_count(),
                {g.arc_tail.begin(), g.arc_tail.end()},
                {g.arc_head.begin(), g.arc_head.end()}};
  ASSIGN_OR_RETURN(CchTopology topology, CchTopology::Build(arcs, g.order));
  r->topology_ = std::make_shared<const CchTopology>(std::move(topology));
  {
    std::lock_guard lock(r->update_mu_);
    r->profile_ = r->ProfileNow();
    RETURN_IF_ERROR(r->Rebuild(r->profile_));
  }
  if (options.time_of_day) r->profile_thread_ = std::thread([p = r.get()] { p->ProfileLoop(); });
  return r;
}

Router::Profile Router::ProfileNow() const {
  if (!options_.time_of_day) return {};
  const std::time_t now = static_cast<std::time_t>(options_.clock->Now() / 1'000'000);
  std::tm local{};
  localtime_r(&now, &local);
  return {local.tm_hour, local.tm_wday == 0 || local.tm_wday == 6};
}

void Router::ProfileLoop() {
  std::unique_lock lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, std::chrono::seconds(20), [this] { return stopping_; })) {
    lock.unlock();
    {
      std::lock_guard update(update_mu_);
      const Profile now = ProfileNow();
      if (now.hour != profile_.hour || now.weekend != profile_.weekend) {
        profile_ = now;
        (void)Rebuild(profile_);  // sizes are the graph's: it cannot fail
      }
    }
    lock.lock();
  }
}

core::Status Router::Rebuild(Profile profile) {
  const RoadGraph& g = *graph_;
  auto w = std::make_shared<Weights>();
  w->hour = profile.hour;
  w->weekend = profile.weekend;
  w->segment_ms.resize(g.point_count());
  w->arc_ms.reserve(g.arc_count());
  w->arc_dm.reserve(g.arc_count());
  for (uint32_t e = 0; e < g.edge_count(); ++e) {
    const auto road_class = static_cast<RoadClass>(g.edge_class[e]);
    const double factor =
        profile.hour < 0 ? 1.0 : TimeOfDayFactor(road_class, profile.hour, profile.weekend);
    uint32_t ms = 0, dm = 0;
    for (uint32_t p = g.edge_point_begin[e]; p + 1 < g.edge_point_begin[e + 1]; ++p) {
      const uint16_t live = live_[p];
      uint32_t t;
      if (live == kClosed) {
        t = kInfWeight;
      } else if (live != kNoLiveSpeed) {
        t = TravelMs(g.segment_length_dm[p], live / 10.0);
      } else {
        t = TravelMs(g.segment_length_dm[p], g.segment_speed_kmh[p] * factor);
      }
      w->segment_ms[p] = t;
      ms = SaturatingAdd(ms, t);
      dm += g.segment_length_dm[p];
    }
    for (uint32_t a = g.edge_first_arc[e]; a < g.edge_first_arc[e + 1]; ++a) {
      w->arc_ms.push_back(ms);
      w->arc_dm.push_back(dm);
    }
  }
  w->metric = std::make_unique<CchMetric>(topology_);
  RETURN_IF_ERROR(w->metric->Customize(w->arc_ms, w->arc_dm));
  std::lock_guard lock(weights_mu_);
  weights_ = std::move(w);
  return core::OkStatus();
}

std::shared_ptr<const Router::Weights> Router::weights() const {
  std::lock_guard lock(weights_mu_);
  return weights_;
}

core::Result<Snapped> Router::Snap(LonLat where) const {
  const RoadGraph& g = *graph_;
  if (!std::isfinite(where.lon) || !std::isfinite(where.lat) || std::abs(where.lat) > 90 ||
      std::abs(where.lon) > 180) {
    return core::Fail(core::InvalidArgument(
        fmt::format("({}, {}) is not a longitude,latitude pair", where.lon, where.lat)));
  }
  const GridShape& grid = g.grid;
  const double lat_m = kMetresPerE7Lat;
  const double lon_m = kMetresPerE7Lat * std::cos(where.lat * M_PI / 180);
  const double qlat = where.lat * kE7, qlon = where.lon * kE7;
  // Outside the map: beyond its bounding box by more than the snapping distance.
  const double max_lat = grid.min_lat + double(grid.rows) * grid.cell;
  const double max_lon = grid.min_lon + double(grid.cols) * grid.cell;
  const double out_lat = std::max({0.0, grid.min_lat - qlat, qlat - max_lat}) * lat_m;
  const double out_lon = std::max({0.0, grid.min_lon - qlon, qlon - max_lon}) * lon_m;
  if (std::hypot(out_lat, out_lon) > options_.max_snap_m) {
    return core::Fail(core::InvalidArgument(fmt::format(
        "({:.6f}, {:.6f}) is outside the map (longitude {:.4f} to {:.4f}, latitude {:.4f} to "
        "{:.4f})",
        where.lon, where.lat, grid.min_lon / kE7, max_lon / kE7, grid.min_lat / kE7,
        max_lat / kE7)));
  }
  struct Best {
    double d = INFINITY;
    uint32_t point = 0;
    double t = 0;
  };
  Best any, main;
  auto consider = [&](uint32_t p) {
    const double ax = (g.point_lon[p] - qlon) * lon_m, ay = (g.point_lat[p] - qlat) * lat_m;
    const double bx = (g.point_lon[p + 1] - qlon) * lon_m, by = (g.point_lat[p + 1] - qlat) * lat_m;
    const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    const double t = len2 > 0 ? std::clamp(-(ax * dx + ay * dy) / len2, 0.0, 1.0) : 0.0;
    const double d = std::hypot(ax + t * dx, ay + t * dy);
    if (d < any.d) any = {d, p, t};
    if (d < main.d && (g.edge_flags[g.point_edge[p]] & kEdgeInMainComponent)) main = {d, p, t};
  };
  const double cell_m = grid.cell * std::min(lat_m, lon_m);
  const auto row = static_cast<int64_t>(std::floor((qlat - grid.min_lat) / grid.cell));
  const auto col = static_cast<int64_t>(std::floor((qlon - grid.min_lon) / grid.cell));
  const auto rings = static_cast<int64_t>(options_.max_snap_m / cell_m) + 2;
  for (int64_t k = 0; k <= rings; ++k) {
    for (int64_t r = row - k; r <= row + k; ++r) {
      if (r < 0 || r >= grid.rows) continue;
      const bool edge_row = r == row - k || r == row + k;
      for (int64_t c = col - k; c <= col + k; c += (edge_row ? 1 : 2 * k)) {
        if (c >= 0 && c < grid.cols) {
          const size_t cell = static_cast<size_t>(r) * grid.cols + static_cast<size_t>(c);
          for (uint32_t i = g.cell_first[cell]; i < g.cell_first[cell + 1]; ++i) {
            consider(g.cell_points[i]);
          }
        }
        if (k == 0) break;
      }
    }
    // Every cell not yet seen is at least k cells away.
    const double unseen = k * cell_m;
    if (unseen > std::min(main.d, options_.max_snap_m)) break;
  }
  // A road in the network's main part within reach is preferred to a nearer one cut off from
  // it (a car park's aisle, a fragment at the map's edge), from which nothing could be
  // reached, as OSRM does with its "big component" phantom.
  const Best& pick = main.d <= options_.max_snap_m ? main : any;
  if (!(pick.d <= options_.max_snap_m)) {
    return core::Fail(core::InvalidArgument(
        fmt::format("({:.6f}, {:.6f}) is more than {:.0f} m from any road in the map", where.lon,
                    where.lat, options_.max_snap_m)));
  }
  Snapped s;
  s.point = pick.point;
  s.fraction = pick.t;
  s.distance_m = pick.d;
  s.on_road = Along(g, {g.point_edge[pick.point], pick.point, pick.t});
  return s;
}

core::Result<RouteAnswer> Router::Route(LonLat from, LonLat to, bool with_geometry,
                                        const Closures* closures) {
  ASSIGN_OR_RETURN(Snapped a, Snap(from));
  ASSIGN_OR_RETURN(Snapped b, Snap(to));
  const RoadGraph& g = *graph_;
  const std::shared_ptr<const Weights> live = weights();
  const bool closed = closures && !closures->empty();
  Weights copy;  // the closures' private weights; empty (nothing copied) without closures
  if (closed) {
    ASSIGN_OR_RETURN(copy, WithClosures(g, *live, *closures));
  }
  const Weights& w = closed ? copy : *live;
  const std::vector<Position> pa = Directions(g, a), pb = Directions(g, b);
  std::vector<Seed> sources, targets;
  std::vector<uint32_t> source_pos, target_pos;
  SourceSeeds(g, w, pa, sources, source_pos);
  TargetSeeds(g, w, pb, targets, target_pos);
  const Direct direct = SameRoad(g, w, pa, pb);
  PathCost via_graph;
  std::vector<uint32_t> path;
  size_t source_seed = 0, target_seed = 0;
  // The path is unpacked only when the line is asked for and the route is not along one road.
  auto wants_path = [&] { return with_geometry && via_graph.weight < direct.cost.weight; };
  if (closed) {
    SearchLease search = LeaseSearch();
    via_graph = search->OneToMany(w.arc_ms, live->arc_dm, sources, std::span(&targets, 1),
                                  /*backward=*/false)[0];
    if (wants_path()) {
      Dijkstra::GroupPath p = search->PathTo(0);
      path = std::move(p.arcs);
      source_seed = p.origin_seed;
      target_seed = p.group_seed;
    }
  } else {
    QueryLease query = Lease();
    via_graph = query->Route(*w.metric, sources, targets);
    if (wants_path()) {
      path = query->LastPath(*w.metric);
      source_seed = query->last_source_seed();
      target_seed = query->last_target_seed();
    }
  }
  const bool use_direct = direct.cost.weight <= via_graph.weight;
  const PathCost best = use_direct ? direct.cost : via_graph;
  if (!best.reachable()) {
    return core::Fail(
        core::NotFound(fmt::format("no road leads from ({:.6f}, {:.6f}) to ({:.6f}, {:.6f})",
                                   from.lon, from.lat, to.lon, to.lat)));
  }
  RouteAnswer answer;
  answer.duration_s = best.weight / 1000.0;
  answer.distance_m = best.length / 10.0;
  if (!with_geometry) return answer;
  if (use_direct) {
    answer.geometry = RouteLine(g, pa[direct.from], pb[direct.to], true, {});
  } else {
    answer.geometry =
        RouteLine(g, pa[source_pos[source_seed]], pb[target_pos[target_seed]], false, path);
  }
  return answer;
}

core::Result<TableAnswer> Router::Table(std::span<const LonLat> sources,
                                        std::span<const LonLat> destinations,
                                        const Closures* closures) {
  const RoadGraph& g = *graph_;
  const std::shared_ptr<const Weights> live = weights();
  auto positions = [&](std::span<const LonLat> places,
                       std::string_view side) -> core::Result<std::vector<std::vector<Position>>> {
    std::vector<std::vector<Position>> out;
    for (size_t i = 0; i < places.size(); ++i) {
      auto s = Snap(places[i]);
      if (!s) {
        return core::Fail(
            core::InvalidArgument(fmt::format("{}[{}]: {}", side, i, s.error().message())));
      }
      out.push_back(Directions(g, *s));
    }
    return out;
  };
  ASSIGN_OR_RETURN(auto from, positions(sources, "sources"));
  ASSIGN_OR_RETURN(auto to, positions(destinations, "destinations"));
  const bool closed = closures && !closures->empty();
  Weights copy;  // the closures' private weights; empty (nothing copied) without closures
  if (closed) {
    ASSIGN_OR_RETURN(copy, WithClosures(g, *live, *closures));
  }
  const Weights& w = closed ? copy : *live;
  std::vector<std::vector<Seed>> source_seeds(from.size()), target_seeds(to.size());
  std::vector<uint32_t> ignored;
  for (size_t i = 0; i < from.size(); ++i) SourceSeeds(g, w, from[i], source_seeds[i], ignored);
  for (size_t j = 0; j < to.size(); ++j) TargetSeeds(g, w, to[j], target_seeds[j], ignored);
  std::vector<PathCost> costs;
  if (closed) {
    // One search per group on the smaller side: forward from each source when there are no
    // more rows than columns, else backward from each destination (50 ambulances to one
    // scene: one search).
    costs.resize(from.size() * to.size());
    SearchLease search = LeaseSearch();
    if (from.size() <= to.size()) {
      for (size_t i = 0; i < from.size(); ++i) {
        const std::vector<PathCost> row =
            search->OneToMany(w.arc_ms, live->arc_dm, source_seeds[i], target_seeds, false);
        std::copy(row.begin(), row.end(), costs.begin() + i * to.size());
      }
    } else {
      for (size_t j = 0; j < to.size(); ++j) {
        const std::vector<PathCost> col =
            search->OneToMany(w.arc_ms, live->arc_dm, target_seeds[j], source_seeds, true);
        for (size_t i = 0; i < from.size(); ++i) costs[i * to.size() + j] = col[i];
      }
    }
  } else {
    QueryLease query = Lease();
    costs = query->Table(*w.metric, source_seeds, target_seeds);
  }
  TableAnswer answer;
  answer.rows = from.size();
  answer.cols = to.size();
  answer.durations_s.resize(costs.size());
  answer.distances_m.resize(costs.size());
  for (size_t i = 0; i < from.size(); ++i) {
    for (size_t j = 0; j < to.size(); ++j) {
      PathCost c = costs[i * to.size() + j];
      if (const Direct d = SameRoad(g, w, from[i], to[j]); d.cost.weight < c.weight) c = d.cost;
      if (!c.reachable()) continue;
      answer.durations_s[i * to.size() + j] = c.weight / 1000.0;
      answer.distances_m[i * to.size() + j] = c.length / 10.0;
    }
  }
  return answer;
}

core::Result<TrafficReport> Router::UpdateTraffic(std::span<const SpeedUpdate> updates) {
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < updates.size(); ++i) {
    const auto& s = updates[i].speed_kmh;
    if (s && !(std::isfinite(*s) && *s >= 0 && *s <= kMaxSpeedKmh)) {
      return core::Fail(core::InvalidArgument(fmt::format(
          "update {}: speed_kmh must be between 0 (closed) and {:.0f}", i + 1, kMaxSpeedKmh)));
    }
  }
  const RoadGraph& g = *graph_;
  TrafficReport report;
  std::lock_guard lock(update_mu_);
  for (const SpeedUpdate& u : updates) {
    const auto [lo, hi] = g.FindSegments(u.from_node, u.to_node);
    if (lo == hi) {
      ++report.unknown;
      continue;
    }
    uint16_t value = kNoLiveSpeed;
    if (u.speed_kmh) {
      value = *u.speed_kmh == 0
                  ? kClosed
                  : static_cast<uint16_t>(std::max(1L, std::lround(*u.speed_kmh * 10)));
    }
    for (size_t k = lo; k < hi; ++k) {
      uint16_t& slot = live_[g.key_point[k]];
      if (slot != value) {
        slot = value;
        ++report.applied;
      }
    }
  }
  if (report.applied > 0) RETURN_IF_ERROR(Rebuild(profile_));
  report.live_after_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return report;
}

core::Result<Closures> Router::ResolveClosures(
    std::span<const std::pair<int64_t, int64_t>> segments) const {
  if (segments.size() > kMaxClosures) {
    return core::Fail(core::InvalidArgument(
        fmt::format("{} closures: at most {} per request", segments.size(), kMaxClosures)));
  }
  Closures out;
  for (const auto& [from, to] : segments) {
    const auto [lo, hi] = graph_->FindSegments(from, to);
    if (lo == hi) {
      return core::Fail(core::InvalidArgument(fmt::format(
          "closure {} -> {}: not a road segment between adjacent OSM nodes in the map", from, to)));
    }
    for (size_t k = lo; k < hi; ++k) out.points.push_back(graph_->key_point[k]);
  }
  std::sort(out.points.begin(), out.points.end());
  out.points.erase(std::unique(out.points.begin(), out.points.end()), out.points.end());
  return out;
}

}  // namespace medulla::routing
