#include "rpm/alert_task.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "core/time.h"
#include "json/parse.h"
#include "json/write.h"

namespace medulla::rpm {
namespace {

std::string Instant(int64_t ms) {
  return core::FormatInstant(ms * 1000);
}

std::string Quoted(std::string_view s) {
  std::string out;
  json::WriteString(s, out);
  return out;
}

std::string_view ReferenceOf(const json::Value* v) {
  return v && v->is_object() ? v->StringOr("reference") : std::string_view();
}

// Edits of a parsed Task. Member names are literals (NewObject keeps the pointers).
class TaskEditor {
 public:
  static core::Result<TaskEditor> Open(std::string_view stored) {
    ASSIGN_OR_RETURN(auto doc, json::Parse(stored));
    if (!doc.root() || !doc.root()->is_object()) {
      return core::Fail(core::Status(core::Code::kInternal, "a stored Task is not an object"));
    }
    return TaskEditor(std::move(doc));
  }

  json::Value& root() { return *doc_.root(); }
  json::Value* String(std::string_view s) { return doc_.NewString(s); }
  json::Value* Text(std::string_view s) {  // a CodeableConcept or Reference-like {"k": s}
    const json::Member m{"text", doc_.NewString(s)};
    return doc_.NewObject({&m, 1});
  }
  void SetOwner(std::string_view reference) {
    const json::Member m{"reference", doc_.NewString(reference)};
    doc_.Set(root(), "owner", doc_.NewObject({&m, 1}));
  }
  // restriction.period.end, keeping what else the restriction and its period say.
  void SetDeadline(int64_t ms) {
    json::Value* restriction = root().Find("restriction");
    if (!restriction || !restriction->is_object()) {
      restriction = doc_.NewObject({});
      doc_.Set(root(), "restriction", restriction);
    }
    json::Value* period = restriction->Find("period");
    if (!period || !period->is_object()) {
      period = doc_.NewObject({});
      doc_.Set(*restriction, "period", period);
    }
    doc_.Set(*period, "end", doc_.NewString(Instant(ms)));
  }
  void AddNote(std::string_view text, int64_t now_ms) {
    const std::array<json::Member, 2> note = {json::Member{"time", doc_.NewString(Instant(now_ms))},
                                              json::Member{"text", doc_.NewString(text)}};
    std::vector<json::Value*> items;
    if (const json::Value* notes = root().Find("note"); notes && notes->is_array()) {
      items.assign(notes->items().begin(), notes->items().end());
    }
    items.push_back(doc_.NewObject(note));
    doc_.Set(root(), "note", doc_.NewArray(items));
  }
  std::string Write(int64_t now_ms) {
    doc_.Set(root(), "lastModified", doc_.NewString(Instant(now_ms)));
    return json::Write(root());
  }
  void Set(std::string_view key, json::Value* value) { doc_.Set(root(), key, value); }

 private:
  explicit TaskEditor(json::Document doc) : doc_(std::move(doc)) {}
  json::Document doc_;
};

}  // namespace

AlertTaskState ReadAlertTask(const json::Value& task) {
  AlertTaskState s;
  s.status = std::string(task.StringOr("status"));
  const std::string_view patient = ReferenceOf(task.Find("for"));
  if (patient.starts_with("Patient/")) s.patient = std::string(patient.substr(8));
  s.focus = std::string(ReferenceOf(task.Find("focus")));
  s.owner = std::string(ReferenceOf(task.Find("owner")));
  if (const json::Value* r = task.Find("restriction"); r && r->is_object()) {
    if (const json::Value* p = r->Find("period"); p && p->is_object()) {
      if (auto end = core::ParseFhirDateTimeRange(p->StringOr("end"))) {
        s.deadline_ms = end->begin / 1000;
      }
    }
  }
  if (const json::Value* b = task.Find("businessStatus"); b && b->is_object()) {
    s.exhausted = b->StringOr("text") == kEscalationExhausted;
  }
  return s;
}

bool AwaitsAcknowledgement(std::string_view status) {
  return status == "requested";
}

EscalationStep NextStep(const AlertTaskState& task, const std::vector<std::string>& members) {
  using Kind = EscalationStep::Kind;
  if (task.owner.empty()) {
    if (members.empty()) return {Kind::kWait, {}};
    return {Kind::kAssign, members.front()};
  }
  const auto at = std::find(members.begin(), members.end(), task.owner);
  if (at == members.end()) {
    if (members.empty()) return {Kind::kExhausted, {}};
    return {Kind::kEscalate, members.front()};
  }
  if (at + 1 == members.end()) return {Kind::kExhausted, {}};
  return {Kind::kEscalate, *(at + 1)};
}

std::string NewAlertTask(const AlertTaskSpec& spec, const std::optional<std::string>& owner,
                         std::optional<int64_t> deadline_ms, std::string_view note,
                         int64_t now_ms) {
  std::string body = fmt::format(
      R"({{"resourceType":"Task","status":"requested","intent":"order","priority":"{}",)"
      R"("code":{{"text":"Acknowledge monitoring alert"}},"focus":{{"reference":"DetectedIssue/{}"}},)"
      R"("for":{{"reference":"Patient/{}"}},"authoredOn":"{}","lastModified":"{}")",
      spec.priority, spec.issue_id, spec.patient, Instant(now_ms), Instant(now_ms));
  if (owner) body += fmt::format(R"(,"owner":{{"reference":{}}})", Quoted(*owner));
  if (deadline_ms) {
    body += fmt::format(R"(,"restriction":{{"period":{{"end":"{}"}}}})", Instant(*deadline_ms));
  }
  if (!note.empty()) {
    body += fmt::format(R"(,"note":[{{"time":"{}","text":{}}}])", Instant(now_ms), Quoted(note));
  }
  return body + "}";
}

core::Result<std::string> SteppedAlertTask(std::string_view stored, const AlertTaskState& was,
                                           const EscalationStep& step, int64_t deadline_ms,
                                           int64_t now_ms) {
  using Kind = EscalationStep::Kind;
  ASSIGN_OR_RETURN(auto task, TaskEditor::Open(stored));
  const std::string due = was.deadline_ms ? Instant(*was.deadline_ms) : std::string("the deadline");
  switch (step.kind) {
    case Kind::kWait:
      return core::Fail(core::Status(core::Code::kInternal, "nothing to write for a wait"));
    case Kind::kAssign:
      task.SetOwner(step.to);
      task.SetDeadline(deadline_ms);
      task.AddNote(fmt::format("Assigned to {} at {}: the patient's CareTeam has a member now",
                               step.to, Instant(now_ms)),
                   now_ms);
      break;
    case Kind::kEscalate:
      task.SetOwner(step.to);
      task.SetDeadline(deadline_ms);
      task.AddNote(fmt::format("Not acknowledged by {} by {}; escalated to {} at {}", was.owner,
                               due, step.to, Instant(now_ms)),
                   now_ms);
      break;
    case Kind::kExhausted:
      task.Set("businessStatus", task.Text(kEscalationExhausted));
      task.AddNote(fmt::format("Not acknowledged by {} by {}; no further member of the "
                               "patient's CareTeam to escalate to (escalation exhausted at {})",
                               was.owner, due, Instant(now_ms)),
                   now_ms);
      break;
  }
  return task.Write(now_ms);
}

core::Result<std::optional<std::string>> ClosedAlertTask(std::string_view stored, int64_t now_ms) {
  ASSIGN_OR_RETURN(auto task, TaskEditor::Open(stored));
  const std::string_view status = task.root().StringOr("status");
  static constexpr std::array<std::string_view, 5> kUnderWay = {"received", "accepted",
                                                                "in-progress", "ready", "on-hold"};
  std::string_view closed;
  if (status == "requested" || status == "draft") {
    closed = "cancelled";  // nobody took it up: the request is withdrawn
  } else if (std::find(kUnderWay.begin(), kUnderWay.end(), status) != kUnderWay.end()) {
    closed = "completed";  // someone acknowledged it; the alert is over
  } else {
    return std::optional<std::string>();
  }
  const std::string note =
      fmt::format("Condition cleared: the alert resolved at {}", Instant(now_ms));
  task.Set("status", task.String(closed));
  task.Set("statusReason", task.Text("condition cleared"));
  task.AddNote(note, now_ms);
  return std::optional<std::string>(task.Write(now_ms));
}

}  // namespace medulla::rpm
