#include "rpm/escalation.h"

#include <algorithm>
#include <future>
#include <vector>

#include "core/logging.h"
#include "json/parse.h"

namespace medulla::rpm {
namespace {

// A Task that clinicians keep changing under us is left for the next round after this many
// conflicting writes in a row.
constexpr int kMaxAttempts = 5;

bool Gone(const core::Status& s) {
  return s.code() == core::Code::kNotFound || s.code() == core::Code::kGone;
}

// Submits one write and waits for the store's answer (given on its commit thread).
core::Result<records::WriteReply> WaitFor(
    const std::function<void(records::WriteCallback)>& submit) {
  std::promise<core::Result<records::WriteReply>> promise;
  auto answer = promise.get_future();
  submit([&promise](core::Result<records::WriteReply> r) { promise.set_value(std::move(r)); });
  return answer.get();
}

size_t PositionOf(const std::vector<std::string>& members, const std::string& member) {
  return static_cast<size_t>(std::find(members.begin(), members.end(), member) - members.begin()) +
         1;
}

}  // namespace

Escalation::Escalation(records::RecordService& records, CareTeams& teams, EscalationOptions options,
                       const core::Clock& clock)
    : records_(records), teams_(teams), options_(options), clock_(clock) {}

void Escalation::Open(const AlertTaskSpec& spec) {
  auto log = core::Logger("rpm");
  const int64_t now = NowMs();
  auto members = teams_.MembersOf(spec.patient);
  std::optional<std::string> owner;
  std::optional<int64_t> deadline;
  std::string note;
  if (!members) {
    log->warn("CareTeam of Patient/{} not read: {}; the Task of DetectedIssue/{} has no owner yet",
              spec.patient, members.error().ToString(), spec.issue_id);
    note = "The patient's CareTeam could not be read when the alert opened: nobody is assigned yet";
  } else if (members->empty()) {
    log->warn(
        "Patient/{} has no active CareTeam: the Task of DetectedIssue/{} has no owner and "
        "is not escalated",
        spec.patient, spec.issue_id);
    note = "The patient has no active CareTeam: nobody is assigned and the alert is not escalated";
  } else {
    owner = members->front();
    deadline = now + options_.acknowledge_ms;
  }
  const std::string body = NewAlertTask(spec, owner, deadline, note, now);
  const std::string once = "focus=DetectedIssue/" + spec.issue_id;
  auto created = WaitFor(
      [&](records::WriteCallback done) { records_.Create("Task", body, once, std::move(done)); });
  if (!created) {
    log->warn("acknowledgement Task of DetectedIssue/{} not stored: {}", spec.issue_id,
              created.error().ToString());
    return;
  }
  if (created->outcome == store::WriteOutcome::kExisting) return Resume(created->record);
  const std::string& id = created->record.id;
  if (owner) {
    log->info("Task/{} (DetectedIssue/{}): owned by the first of {} CareTeam member(s)", id,
              spec.issue_id, members->size());
    Schedule(id, created->record.version, deadline);
  } else {
    // Without a team it waits for one (OnCareTeamChange); a failed lookup is tried again.
    Schedule(id, created->record.version,
             members ? std::nullopt : std::optional<int64_t>(now + options_.retry_ms));
  }
}

void Escalation::Close(const std::string& issue_id) {
  const records::QueryParams params{{"focus", "DetectedIssue/" + issue_id}, {"_count", "100"}};
  auto found = records_.Search("Task", params, false);
  if (!found) {
    // Its Tasks still waiting are closed when their deadline comes (Advance sees the alert
    // resolved).
    core::Logger("rpm")->warn("Tasks of DetectedIssue/{} not found to close: {}", issue_id,
                              found.error().ToString());
    return;
  }
  for (const auto& v : found->page.resources) CloseTask(v.id);
}

void Escalation::CloseTask(const std::string& task_id) {
  auto log = core::Logger("rpm");
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto read = records_.Read("Task", task_id);
    if (!read) {
      if (!Gone(read.error())) {
        log->warn("Task/{} not read to close it: {}", task_id, read.error().ToString());
      }
      return Forget(task_id);
    }
    const int64_t now = NowMs();
    auto closed = ClosedAlertTask(read->body, now);
    if (!closed || !*closed) return Forget(task_id);
    if (before_write_) before_write_(task_id);
    auto written = WaitFor([&](records::WriteCallback done) {
      records_.Update("Task", task_id, **closed, read->version, std::move(done));
    });
    if (written) {
      log->info("Task/{} closed: the alert's condition cleared", task_id);
      return Forget(task_id);
    }
    if (written.error().code() != core::Code::kPreconditionFailed) {
      log->warn("Task/{} not closed: {}", task_id, written.error().ToString());
      // Advance closes it when it comes round, seeing the alert resolved.
      return Schedule(task_id, read->version, now + options_.retry_ms);
    }
  }
  Schedule(task_id, 0, NowMs() + options_.retry_ms);
}

bool Escalation::AlertOpen(const std::string& focus) const {
  if (!focus.starts_with("DetectedIssue/")) return true;
  auto issue = records_.Read("DetectedIssue", focus.substr(14));
  if (!issue) return !Gone(issue.error());  // unsure: escalating is the safe side
  auto doc = json::Parse(issue->body);
  return !doc || doc->root()->StringOr("status") == "preliminary";
}

void Escalation::Advance(const std::string& task_id) {
  auto log = core::Logger("rpm");
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto read = records_.Read("Task", task_id);
    if (!read) {
      if (Gone(read.error())) return Forget(task_id);
      log->warn("Task/{} not read for escalation: {}", task_id, read.error().ToString());
      return Schedule(task_id, 0, NowMs() + options_.retry_ms);
    }
    auto doc = json::Parse(read->body);
    if (!doc) return Forget(task_id);
    const AlertTaskState task = ReadAlertTask(*doc->root());
    const int64_t now = NowMs();
    if (!AwaitsAcknowledgement(task.status) || task.exhausted) return Forget(task_id);
    if (!task.owner.empty()) {
      if (!task.deadline_ms) return Forget(task_id);  // someone took the deadline away
      if (*task.deadline_ms > now) return Schedule(task_id, read->version, task.deadline_ms);
    }
    // A resolution whose close failed, or a clinician who closed the DetectedIssue itself.
    if (!AlertOpen(task.focus)) return CloseTask(task_id);
    auto members = teams_.MembersOf(task.patient);
    if (!members) {
      log->warn("CareTeam of Patient/{} not read for Task/{}: {}", task.patient, task_id,
                members.error().ToString());
      return Schedule(task_id, read->version, now + options_.retry_ms);
    }
    const EscalationStep step = NextStep(task, *members);
    if (step.kind == EscalationStep::Kind::kWait) {
      return Schedule(task_id, read->version, std::nullopt);
    }
    const int64_t deadline = now + options_.acknowledge_ms;
    auto body = SteppedAlertTask(read->body, task, step, deadline, now);
    if (!body) {
      log->warn("Task/{} not escalated: {}", task_id, body.error().ToString());
      return Forget(task_id);
    }
    if (before_write_) before_write_(task_id);
    auto written = WaitFor([&](records::WriteCallback done) {
      records_.Update("Task", task_id, *body, read->version, std::move(done));
    });
    if (written) {
      switch (step.kind) {
        case EscalationStep::Kind::kExhausted:
          log->warn(
              "Task/{} not acknowledged by the last of {} CareTeam member(s): escalation "
              "exhausted",
              task_id, members->size());
          return Forget(task_id);
        case EscalationStep::Kind::kAssign:
          log->info("Task/{}: assigned to the first of {} CareTeam member(s)", task_id,
                    members->size());
          break;
        default:
          log->info("Task/{} not acknowledged in time: escalated to member {} of {}", task_id,
                    PositionOf(*members, step.to), members->size());
          break;
      }
      return Schedule(task_id, written->record.version, deadline);
    }
    if (written.error().code() != core::Code::kPreconditionFailed) {
      log->warn("Task/{} not escalated: {}", task_id, written.error().ToString());
      return Schedule(task_id, read->version, now + options_.retry_ms);
    }
    // Someone wrote the Task since it was read (an acknowledgement, perhaps): read it again
    // and decide again.
  }
  Schedule(task_id, 0, NowMs() + options_.retry_ms);
}

void Escalation::RunDue() {
  const int64_t now = NowMs();
  std::vector<std::string> due;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, t] : tracked_) {
      if (t.due_ms && *t.due_ms <= now) due.push_back(id);
    }
  }
  std::sort(due.begin(), due.end());  // a deterministic order, for the tests and the logs
  for (const auto& id : due) Advance(id);
}

std::optional<int64_t> Escalation::NextDue() const {
  std::lock_guard lock(mu_);
  std::optional<int64_t> next;
  for (const auto& [id, t] : tracked_) {
    if (t.due_ms && (!next || *t.due_ms < *next)) next = t.due_ms;
  }
  return next;
}

void Escalation::OnTaskChange(const store::VersionRecord& v) {
  {
    std::lock_guard lock(mu_);
    auto it = tracked_.find(v.id);
    if (it == tracked_.end()) return;
    if (v.deleted()) {
      tracked_.erase(it);
      return;
    }
    if (v.version < it->second.version) return;  // the feed is behind our own write
  }
  auto doc = json::Parse(v.body);
  if (!doc) return;
  const AlertTaskState task = ReadAlertTask(*doc->root());
  std::lock_guard lock(mu_);
  auto it = tracked_.find(v.id);
  if (it == tracked_.end()) return;
  if (!AwaitsAcknowledgement(task.status) || task.exhausted) {
    tracked_.erase(it);  // acknowledged (or otherwise answered): no more escalation
    return;
  }
  it->second.version = v.version;
  if (!task.owner.empty() && task.deadline_ms) it->second.due_ms = task.deadline_ms;
}

void Escalation::OnCareTeamChange() {
  const int64_t now = NowMs();
  std::lock_guard lock(mu_);
  for (auto& [id, t] : tracked_) {
    if (!t.due_ms) t.due_ms = now;
  }
}

void Escalation::Resume(const store::VersionRecord& v) {
  auto doc = json::Parse(v.body);
  if (!doc) return;
  const AlertTaskState task = ReadAlertTask(*doc->root());
  if (!AwaitsAcknowledgement(task.status) || task.exhausted) return;
  if (task.owner.empty()) return Schedule(v.id, v.version, NowMs());
  if (task.deadline_ms) Schedule(v.id, v.version, task.deadline_ms);
}

size_t Escalation::tracked() const {
  std::lock_guard lock(mu_);
  return tracked_.size();
}

void Escalation::Schedule(const std::string& task_id, int64_t version,
                          std::optional<int64_t> due_ms) {
  std::lock_guard lock(mu_);
  auto& t = tracked_[task_id];
  t.version = std::max(t.version, version);
  t.due_ms = due_ms;
}

void Escalation::Forget(const std::string& task_id) {
  std::lock_guard lock(mu_);
  tracked_.erase(task_id);
}

}  // namespace medulla::rpm
