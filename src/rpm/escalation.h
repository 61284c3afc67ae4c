// Acknowledgement and escalation of monitoring alerts (docs/monitoring.md, "Acknowledgement and
// escalation"): each open alert's Task is owned by a member of the patient's CareTeam and due
// by a deadline; not acknowledged by then, it goes to the next member. Clinicians acknowledge
// through ordinary FHIR (the Task's status), which the change feed brings here.
//
// The record is the state: every decision is made on the Task as read from the store and
// written with If-Match on the version read, so a clinician's concurrent acknowledgement is
// never overwritten (on a conflict the Task is read again and the decision made again). What
// is kept here is only when to look at which Task next; a restart rebuilds it with Resume.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/status.h"
#include "core/time.h"
#include "records/record_service.h"
#include "rpm/alert_task.h"
#include "rpm/care_teams.h"

namespace medulla::rpm {

struct EscalationOptions {
  int64_t acknowledge_ms = 15 * 60'000;  // how long each member has to acknowledge
  int64_t retry_ms = 30'000;             // a failed read or write is tried again after this
};

// Thread-safe. Open, Close and RunDue read and write the record and wait for the store: call
// them from a thread that may block (EscalationWorker's), never from the store's commit thread.
// The others only update the schedule.
class Escalation {
 public:
  Escalation(records::RecordService& records, CareTeams& teams, EscalationOptions options,
             const core::Clock& clock = core::SystemClock::Instance());

  // A new alert's DetectedIssue committed: writes its Task, owned by the first member of the
  // patient's CareTeam and due in acknowledge_ms; without a CareTeam, owned by nobody, with a
  // note saying so, and not escalated. At most one Task per alert (If-None-Exist on focus).
  void Open(const AlertTaskSpec& spec);
  // The alert resolved: closes its Tasks (ClosedAlertTask) and stops escalating them.
  void Close(const std::string& issue_id);
  // Handles every Task whose time has come: escalates those still unacknowledged.
  void RunDue();
  // When RunDue has something to do next (ms since the epoch); nullopt: nothing scheduled.
  std::optional<int64_t> NextDue() const;

  // A Task version from the change feed: one that no longer waits stops being escalated, and
  // a deadline moved by someone else is followed.
  void OnTaskChange(const store::VersionRecord& v);
  // A CareTeam changed: Tasks without an owner look for one at the next RunDue.
  void OnCareTeamChange();
  // At start: an open alert's Task found in the record is followed again, from its deadline
  // (already passed: at once); one without an owner looks for one at once.
  void Resume(const store::VersionRecord& task);

  size_t tracked() const;
  const EscalationOptions& options() const { return options_; }

  // Runs between reading a Task and writing its next version: a test writes there as a
  // clinician would, to meet the If-Match conflict. Set before use.
  void SetBeforeWriteForTest(std::function<void(const std::string& task_id)> hook) {
    before_write_ = std::move(hook);
  }

 private:
  struct Tracked {
    int64_t version = 0;
    std::optional<int64_t> due_ms;  // nullopt: waits for a CareTeam change
  };
  // Reads the Task and takes the next step; on a version conflict, reads it again.
  void Advance(const std::string& task_id);
  // Closes one Task (the alert resolved); on a version conflict, reads it again.
  void CloseTask(const std::string& task_id);
  // Whether the DetectedIssue a Task is focused on is still an open alert.
  bool AlertOpen(const std::string& focus) const;
  void Schedule(const std::string& task_id, int64_t version, std::optional<int64_t> due_ms);
  void Forget(const std::string& task_id);
  int64_t NowMs() const { return clock_.Now() / 1000; }

  records::RecordService& records_;
  CareTeams& teams_;
  const EscalationOptions options_;
  const core::Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Tracked> tracked_;  // Task id -> when to look at it
  std::function<void(const std::string&)> before_write_;
};

}  // namespace medulla::rpm
