// The dispatch service around the decision (decision.h): it keeps the fleet and the hospitals
// as the FHIR record says (followed through the change feed), the ambulances' positions (from
// position reports, kept in a PositionStore), answers recommendations on that state, records a
// dispatch as a FHIR Task (and the ambulance as dispatched) when asked, and re-evaluates every
// dispatch in progress when traffic or a hospital's status changes: a better destination is
// written to the Task, whose change reaches subscribers of the dispatch topic
// (subscriptions/topics.h). No HTTP here: api/dispatch_api renders.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "dispatch/decision.h"
#include "dispatch/position_store.h"
#include "records/record_service.h"
#include "store/store.h"

namespace medulla::dispatch {

struct ServiceOptions {
  Policy policy;
  // How often dispatches in progress are re-evaluated even when nothing announced a change
  // (positions move, the time-of-day profile turns).
  std::chrono::milliseconds reevaluate_every{30'000};
  // A new destination replaces the one given only when it saves at least this much, or the
  // one given can no longer take the patient.
  double reroute_min_gain_min = 2;
  // Most incidents in one request; most position reports in one batch.
  size_t max_incidents = 100;
  size_t max_positions = 10'000;
  const core::Clock* clock = nullptr;  // null: the system clock
};

struct RecommendRequest {
  std::vector<Incident> incidents;
  // Hospital ids (Location ids) to choose among; empty: every hospital.
  std::vector<std::string> hospitals;
  routing::Closures closures;
  bool with_geometry = true;
};

// A dispatch in progress: its Task, as the service follows it.
struct TrackedDispatch {
  std::string task;  // Task id
  Incident incident;
  std::string ambulance;          // Device id
  std::string hospital;           // Location id
  std::optional<double> total_s;  // drive + door-to-treatment when last decided
};

// The state a dashboard shows.
struct FleetView {
  std::vector<Hospital> hospitals;
  std::vector<Ambulance> ambulances;
  std::vector<TrackedDispatch> dispatches;
};

class DispatchService {
 public:
  DispatchService(routing::Router& router, records::RecordService& records,
                  std::unique_ptr<PositionStore> positions, ServiceOptions options = {});
  ~DispatchService();  // stops the re-evaluation thread
  DispatchService(const DispatchService&) = delete;
  DispatchService& operator=(const DispatchService&) = delete;

  // Reads hospitals, services, status reports, ambulances, dispatches in progress and the
  // positions kept, then starts re-evaluating. Before the change feed starts.
  core::Status Start();
  // The change feed's consumer (records/change_feed.h).
  void OnChange(const store::VersionRecord& v);

  // NotFound naming an unknown hospital id; InvalidArgument for an incident off the map.
  core::Result<std::vector<Recommendation>> Recommend(const RecommendRequest& request) const;
  // Records the recommendations as dispatches: a Task per incident that got an ambulance and a
  // hospital (owner the ambulance, output the destination), and each ambulance marked
  // dispatched, all in one transaction. `done` gets the Task ids, in order ("" where nothing
  // was dispatched). Conflict when an ambulance changed meanwhile (nothing is written).
  using CommitCallback = std::function<void(core::Result<std::vector<std::string>>)>;
  void Commit(const std::vector<Recommendation>& recommendations, CommitCallback done);

  // Stores and applies position reports. All or nothing: NotFound naming a device that is not
  // a known ambulance, InvalidArgument for a position that is not a longitude/latitude.
  core::Result<size_t> ReportPositions(std::vector<PositionReport> reports);
  // Parses position reports: NDJSON, one {"device":ID,"lon":X,"lat":Y[,"time":INSTANT]} per
  // line (time defaults to now). InvalidArgument naming the line.
  core::Result<std::vector<PositionReport>> ParsePositions(std::string_view body) const;

  // Something the decisions depend on changed (live traffic): re-evaluate now.
  void Reevaluate();
  // Runs one re-evaluation pass on the calling thread; the number of Tasks rewritten. For
  // tests, and what the thread runs.
  size_t ReevaluateNow();

  FleetView View() const;
  const Policy& policy() const { return options_.policy; }

 private:
  struct State;
  int64_t NowMs() const;
  void Apply(const std::string& type, const std::string& id, std::string_view body, bool deleted);
  // Reads the newest MeasureReports of the locations in stale_locations_ (at start, and when
  // a hospital's latest report was deleted).
  void RefreshStaleStatus();
  void Loop();

  routing::Router& router_;
  records::RecordService& records_;
  std::unique_ptr<PositionStore> positions_;
  ServiceOptions options_;

  mutable std::mutex mu_;
  std::unique_ptr<State> state_;              // GUARDED_BY(mu_)
  std::vector<std::string> stale_locations_;  // GUARDED_BY(mu_)

  std::mutex positions_mu_;  // one position batch stored at a time, in order

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool wake_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace medulla::dispatch
