// The acknowledgement Task of a monitoring alert, as FHIR: how it is written when the alert
// opens, what escalation reads from it, and its next version when it escalates or the alert
// resolves. Pure functions over the JSON; rpm/escalation.h does the reading and writing.
//
// The Task is the escalation's whole state: `owner` is who must acknowledge now,
// `restriction.period.end` by when, `note` the history, and `businessStatus` "escalation
// exhausted" marks one that has nobody left to go to. So a restart resumes from the record.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "json/value.h"

namespace medulla::rpm {

inline constexpr std::string_view kEscalationExhausted = "escalation exhausted";

// A new alert's Task.
struct AlertTaskSpec {
  std::string issue_id;  // the DetectedIssue it is focused on
  std::string patient;   // the id
  std::string priority;  // "stat" or "urgent"
};

// What escalation reads from a Task.
struct AlertTaskState {
  std::string status;
  std::string patient;                 // Task.for, the id
  std::string focus;                   // "DetectedIssue/ID"
  std::string owner;                   // a reference; empty when nobody owns it
  std::optional<int64_t> deadline_ms;  // restriction.period.end
  bool exhausted = false;              // businessStatus says "escalation exhausted"
};
AlertTaskState ReadAlertTask(const json::Value& task);

// Only `requested` waits for someone: any other status is a person's answer and stops the
// escalation. received, accepted, in-progress and completed acknowledge; rejected, cancelled,
// on-hold, failed and entered-in-error are decisions about the Task too (docs/monitoring.md).
bool AwaitsAcknowledgement(std::string_view status);

// What to do with a Task that waits: at its deadline, or while it has no owner.
struct EscalationStep {
  enum class Kind {
    kWait,       // no owner and nobody to give it to: wait for a CareTeam
    kAssign,     // no owner: the first member
    kEscalate,   // the owner did not acknowledge in time: the next member
    kExhausted,  // the owner was the last member: it stays there, marked
  };
  Kind kind = Kind::kWait;
  std::string to;  // kAssign, kEscalate: the member
};
// `members`: the patient's CareTeam members in escalation order. An owner who is not among
// them (the team changed, or a clinician handed the Task to someone else) hands it on to the
// first member.
EscalationStep NextStep(const AlertTaskState& task, const std::vector<std::string>& members);

// Bodies. `now_ms` stamps the note and lastModified.
// `owner` and `deadline_ms` set, or neither (`note` says why).
std::string NewAlertTask(const AlertTaskSpec& spec, const std::optional<std::string>& owner,
                         std::optional<int64_t> deadline_ms, std::string_view note, int64_t now_ms);
// The stored version `stored` (read as `was`) after `step`: the new owner due by
// `deadline_ms`, or the exhausted mark; a note says who did not acknowledge and to whom it went.
core::Result<std::string> SteppedAlertTask(std::string_view stored, const AlertTaskState& was,
                                           const EscalationStep& step, int64_t deadline_ms,
                                           int64_t now_ms);
// The stored version closed because the alert's condition cleared: `requested` becomes
// cancelled, work under way (received, accepted, in-progress, ready, on-hold) completed, with
// a note "condition cleared". nullopt when there is nothing to close (already completed,
// cancelled, rejected, failed or entered-in-error).
core::Result<std::optional<std::string>> ClosedAlertTask(std::string_view stored, int64_t now_ms);

}  // namespace medulla::rpm
