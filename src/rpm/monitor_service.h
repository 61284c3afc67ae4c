// Remote patient monitoring, wired: device readings in (NDJSON lines), stored durably in the
// time-series store, fed to the monitor engine, and the engine's scores and alerts written back
// as FHIR resources (RiskAssessment; DetectedIssue with a Task for acknowledgement, escalated
// through the patient's CareTeam: rpm/escalation.h). Readings are also served as FHIR
// Observations, so any FHIR client sees them. No HTTP in here.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "monitor/engine.h"
#include "records/record_service.h"
#include "rpm/care_teams.h"
#include "rpm/device_assignments.h"
#include "rpm/escalation.h"
#include "rpm/escalation_worker.h"
#include "telemetry/reading.h"
#include "telemetry/series_store.h"

namespace medulla::rpm {

struct IngestLimits {
  size_t max_lines = 100'000;  // per batch
  telemetry::ReadingLimits reading;
};

struct LineError {
  size_t line = 0;  // 1-based
  std::string reason;
  core::Code code = core::Code::kInvalidArgument;  // kPermissionDenied: the caller may not
};

struct IngestReply {
  size_t accepted = 0;
  size_t duplicates = 0;
  std::vector<LineError> errors;
};

// Which readings the caller may write (device-to-patient association, scopes, consent).
using ReadingCheck = std::function<core::Status(const telemetry::DeviceReading&)>;

class MonitorService {
 public:
  MonitorService(records::RecordService& records, telemetry::SeriesStore& series,
                 monitor::EngineOptions engine, EscalationOptions escalation = {});
  // Stops the engine, waits for the FHIR writes it started, then for the escalation's.
  ~MonitorService();

  // Parses every line, stores those that are valid and allowed (one durable append), feeds
  // them to the engine, and answers once they are durable. A malformed or refused line is
  // reported with its number and does not stop the others. kResourceExhausted when the
  // engine or store queue is full (the caller answers 429).
  void Ingest(std::string_view ndjson, const ReadingCheck& check,
              std::function<void(core::Result<IngestReply>)> done);

  // Readings as FHIR Observation JSON: a patient's vitals (all when `vitals` is empty) with
  // from_ms <= time < to_ms, newest first, at most `limit`; `more` tells whether some were
  // left out.
  struct ObservationPage {
    std::vector<std::pair<std::string, std::string>> observations;  // id, JSON
    bool more = false;
  };
  core::Result<ObservationPage> SearchObservations(const std::string& patient,
                                                   const std::vector<monitor::Vital>& vitals,
                                                   int64_t from_ms, int64_t to_ms,
                                                   size_t limit) const;
  // One reading by its Observation id ("r.<time ms>.<vital>.<patient>"); kNotFound if none.
  core::Result<std::string> ReadObservation(std::string_view id) const;
  static bool IsReadingId(std::string_view id) { return id.starts_with("r."); }

  // A version committed to the record (the change feed, in commit order): Goals set the
  // patient's targets, vital-sign Observations from kiosks and EHRs are scored like device
  // readings, Device/DeviceUseStatement changes refresh the device assignments, and Task and
  // CareTeam changes reach the escalation (an acknowledgement stops it).
  void OnChange(const store::VersionRecord& version);
  // At start, before the feed follows new commits: the Goals in force set their targets.
  core::Status LoadGoals();
  // At start, before the feed follows new commits: the open alerts (DetectedIssues of
  // kAlertCodeSystem still `preliminary`) are known again, so that a condition that opens
  // again updates its alert instead of writing a second one, and their Tasks awaiting
  // acknowledgement are escalated again from their deadlines (an alert whose Task was never
  // written gets it now). The engine's own state starts empty.
  core::Status LoadOpenAlerts();

  // At start, after LoadGoals and LoadOpenAlerts and before any reading comes in: the
  // monitor's state is rebuilt from the readings of [now_ms - window_ms, now_ms] (the device
  // readings stored, and vital signs recorded as FHIR Observations), replayed in time order
  // per patient without reporting their events, which were reported when they first came.
  // Then the open alerts are reconciled with the rebuilt state (rpm/state_rebuild.cc says
  // when each side is trusted): a condition open in it with no alert gets one (the stop came
  // between the two), and an alert whose condition is no longer open is resolved.
  struct RebuildReport {
    size_t patients = 0;
    size_t readings = 0;
    size_t alerts_opened = 0;
    size_t alerts_resolved = 0;
  };
  core::Result<RebuildReport> RebuildState(int64_t now_ms, int64_t window_ms);

  // Which devices may write for which patients (Device, DeviceUseStatement).
  DeviceAssignments& assignments() { return assignments_; }

  // The time-series store's counts, for /metrics.
  telemetry::SeriesStoreStats SeriesStats() const { return series_.Stats(); }

  void Drain() { engine_->Drain(); }
  monitor::MonitorEngine& engine() { return *engine_; }

 private:
  struct OpenAlert {
    std::string issue_id;                 // empty until the create commits
    std::string body;                     // the DetectedIssue as created
    int64_t identified_ms = INT64_MIN;    // DetectedIssue.identifiedDateTime
    std::optional<monitor::Vital> vital;  // a trend or goal alert's, from its evidence
    bool resolve_when_created = false;
    monitor::MonitorEvent resolution;
  };
  void OnEvent(const std::string& patient, const monitor::MonitorEvent& e);
  void WriteScore(const std::string& patient, const monitor::MonitorEvent& e);
  void OpenAlertFor(const std::string& patient, const monitor::MonitorEvent& e);
  void ResolveAlert(const std::string& key, const monitor::MonitorEvent& e,
                    std::string_view why = "Resolved: the condition cleared");
  // Readings of one patient in [from_ms, to_ms], in time order: its stored device readings and
  // `fhir` (vital signs from Observations, in any order), fed to the engine's Restore.
  core::Result<size_t> RestorePatient(const std::string& patient,
                                      std::vector<monitor::PatientReading> fhir, int64_t from_ms,
                                      int64_t to_ms);

  records::RecordService& records_;
  telemetry::SeriesStore& series_;
  DeviceAssignments assignments_;
  std::unique_ptr<monitor::MonitorEngine> engine_;
  // `done` wrapped so that the destructor can wait for it: the writes' callbacks run on the
  // store's commit thread and use this object.
  records::WriteCallback Tracked(records::WriteCallback done);
  // Tracked, logging a failed write (nothing retries it: the next event writes again).
  records::WriteCallback LogIfFailed(std::string what);
  std::mutex in_flight_mu_;
  std::condition_variable in_flight_cv_;
  size_t in_flight_ = 0;  // writes whose callback has not run yet

  // The vitals each Goal set a target for (goal id -> patient, vitals), so that a Goal that
  // is deleted or changed clears what it set. Only the change feed's thread uses it.
  std::unordered_map<std::string, std::pair<std::string, std::vector<monitor::Vital>>> goals_;

  std::mutex alerts_mu_;
  std::unordered_map<std::string, OpenAlert> alerts_;  // patient '/' condition

  // Acknowledgement and escalation of the alerts' Tasks, on a thread of their own.
  CareTeams care_teams_;
  Escalation escalation_;
  std::unique_ptr<EscalationWorker> escalation_worker_;
};

// The code system of the alert conditions (DetectedIssue.code).
inline constexpr std::string_view kAlertCodeSystem =
    "https://medulla.health/fhir/CodeSystem/monitor-alert";

// The FHIR Observation of one reading.
std::string ReadingObservation(const std::string& patient, monitor::Vital vital,
                               const telemetry::Point& p);

}  // namespace medulla::rpm
