// The router: snapping, one-to-one routes, tables and live traffic over one road graph.
//
// Queries run on an immutable snapshot of the weights (a customised CCH metric); a traffic
// update or the hour's speed profile builds the next snapshot beside it and swaps it in, so
// queries never wait for an update and an update is live, whole, when UpdateTraffic returns.
// No HTTP here: api/ parses requests and renders answers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "routing/cch.h"
#include "routing/road_graph.h"

namespace medulla::routing {

class Dijkstra;

struct LonLat {
  double lon = 0, lat = 0;
};

struct RouterOptions {
  // A coordinate further than this from every road is refused.
  double max_snap_m = 1000;
  // Free-flow speeds scaled by the hour's congestion (speed_model.h) where no live speed is
  // known; false: free flow always. Local time is the process's (TZ).
  bool time_of_day = true;
  // The clock that picks the hour (null: the system clock).
  const core::Clock* clock = nullptr;
};

// Where a coordinate meets the road network: on segment `point` (its start point) of an edge,
// `fraction` of the way along it.
struct Snapped {
  uint32_t point = 0;
  double fraction = 0;
  double distance_m = 0;  // from the coordinate to the road
  LonLat on_road;
};

struct RouteAnswer {
  double duration_s = 0;
  double distance_m = 0;
  std::vector<LonLat> geometry;  // empty unless asked for
};

struct TableAnswer {
  size_t rows = 0, cols = 0;
  // Row-major; nullopt where the destination cannot be reached.
  std::vector<std::optional<double>> durations_s, distances_m;
};

// A live speed for the directed segment between two adjacent OSM nodes. speed_kmh: nullopt
// returns the segment to its profile speed; 0 closes it.
struct SpeedUpdate {
  int64_t from_node = 0, to_node = 0;
  std::optional<double> speed_kmh;
};

// Road segments closed for one request only (a crash scene, a blocked bridge), leaving the
// live weights every other request sees untouched. Made by Router::ResolveClosures.
struct Closures {
  std::vector<uint32_t> points;  // the closed segments (their start points), sorted, unique
  bool empty() const { return points.empty(); }
};

struct TrafficReport {
  size_t applied = 0;  // segments whose speed changed
  size_t unknown = 0;  // node pairs that are not a segment of the graph (not a road for it)
  double live_after_ms = 0;
};

class Router {
 public:
  static constexpr double kMaxSpeedKmh = 250;

  // Builds the engine's topology from the graph's stored order and customises the first
  // metric.
  static core::Result<std::unique_ptr<Router>> Open(std::shared_ptr<const RoadGraph> graph,
                                                    RouterOptions options = {});
  ~Router();

  // Thread-safe, all of them.
  core::Result<Snapped> Snap(LonLat where) const;
  // NotFound when no road leads from `from` to `to`.
  // `closures`: segments closed for this request only (null or empty: none). With closures
  // the answer is computed by a search on a private copy of the weights (milliseconds rather
  // than microseconds), still exact.
  core::Result<RouteAnswer> Route(LonLat from, LonLat to, bool with_geometry,
                                  const Closures* closures = nullptr);
  core::Result<TableAnswer> Table(std::span<const LonLat> sources,
                                  std::span<const LonLat> destinations,
                                  const Closures* closures = nullptr);
  // The directed segments between adjacent OSM nodes (from, to) as closures. InvalidArgument
  // naming the first pair that is not a segment of the graph, or more than kMaxClosures.
  static constexpr size_t kMaxClosures = 10'000;
  core::Result<Closures> ResolveClosures(
      std::span<const std::pair<int64_t, int64_t>> segments) const;
  // All or nothing: speeds out of range are refused before anything changes. Returns once the
  // new weights answer queries.
  core::Result<TrafficReport> UpdateTraffic(std::span<const SpeedUpdate> updates);

  const RoadGraph& graph() const { return *graph_; }
  std::shared_ptr<const RoadGraph> shared_graph() const { return graph_; }

  // The weights queries use now, per arc (travel ms, kInfWeight when closed) and length (dm).
  struct Weights {
    std::vector<uint32_t> segment_ms;  // per point (segment)
    std::vector<uint32_t> arc_ms, arc_dm;
    std::unique_ptr<CchMetric> metric;
    int hour = -1;  // the profile hour, -1: free flow
    bool weekend = false;
  };
  std::shared_ptr<const Weights> weights() const;
  const std::shared_ptr<const CchTopology>& topology() const { return topology_; }

 private:
  Router(std::shared_ptr<const RoadGraph> graph, RouterOptions options);
  struct Profile {
    int hour = -1;
    bool weekend = false;
  };
  Profile ProfileNow() const;
  // Builds and swaps in the weights for the current live speeds and profile.
  // REQUIRES: update_mu_ held.
  core::Status Rebuild(Profile profile);
  void ProfileLoop();

  class QueryLease;
  QueryLease Lease();
  // A plain search for requests with closures, from its own pool.
  class SearchLease;
  SearchLease LeaseSearch();

  std::shared_ptr<const RoadGraph> graph_;
  RouterOptions options_;
  std::shared_ptr<const CchTopology> topology_;

  mutable std::mutex weights_mu_;
  std::shared_ptr<const Weights> weights_;  // GUARDED_BY(weights_mu_)

  std::mutex update_mu_;        // one rebuild at a time
  std::vector<uint16_t> live_;  // GUARDED_BY(update_mu_): per point, speed_model.h
  Profile profile_;             // GUARDED_BY(update_mu_)

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<CchQuery>> pool_;         // GUARDED_BY(pool_mu_)
  std::vector<std::unique_ptr<Dijkstra>> search_pool_;  // GUARDED_BY(pool_mu_)

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread profile_thread_;
};

}  // namespace medulla::routing
