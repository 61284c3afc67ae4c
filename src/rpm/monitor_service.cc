#include "rpm/monitor_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include "core/logging.h"
#include "core/time.h"
#include "json/parse.h"
#include "json/write.h"
#include "rpm/fhir_inputs.h"

namespace medulla::rpm {
namespace {

using monitor::Condition;
using monitor::MonitorEvent;

int64_t NowMs() {
  return core::SystemClock::Instance().Now() / 1000;
}

std::string Instant(int64_t ms) {
  return core::FormatInstant(ms * 1000);
}

// SNOMED CT 1104051000000101: "Royal College of Physicians NEWS2 (National Early Warning Score
// 2) total score".
constexpr std::string_view kNews2Coding =
    R"({"system":"http://snomed.info/sct","code":"1104051000000101","display":"Royal College of Physicians NEWS2 (National Early Warning Score 2) total score"})";

std::string_view ConditionDisplay(Condition c) {
  switch (c) {
    case Condition::kNews2:
      return "NEWS2 at or above the urgent-response threshold";
    case Condition::kTrend:
      return "Sustained deterioration from the patient's own baseline";
    case Condition::kQsofa:
      return "qSOFA of 2 or more";
    case Condition::kGoal:
      return "Vital sign outside the clinician's target range";
    case Condition::kDeviceSilence:
      return "No readings from the patient's device";
    case Condition::kSignalQuality:
      return "Poor signal quality from the patient's device";
  }
  return "Monitoring alert";
}

std::string Detail(const MonitorEvent& e) {
  switch (e.condition) {
    case Condition::kNews2: {
      std::string s =
          fmt::format("NEWS2 {} ({} risk):", e.news2.total, monitor::News2RiskName(e.news2.risk));
      for (int i = 0; i < monitor::kNews2ParameterCount; ++i) {
        const int v = e.news2.parameter_scores[i];
        s += fmt::format(" {} {}",
                         monitor::News2ParameterName(static_cast<monitor::News2Parameter>(i)),
                         v < 0 ? std::string("missing") : std::to_string(v));
        s += i + 1 < monitor::kNews2ParameterCount ? "," : "";
      }
      return s;
    }
    case Condition::kTrend:
      return fmt::format("{} {:.1f} {} against a personal baseline of {:.1f}",
                         monitor::InfoOf(e.vital).name, e.value, monitor::InfoOf(e.vital).ucum,
                         e.baseline);
    case Condition::kGoal:
      return fmt::format("{} {:.1f} {} beyond the target bound {:.1f}",
                         monitor::InfoOf(e.vital).name, e.value, monitor::InfoOf(e.vital).ucum,
                         e.baseline);
    case Condition::kQsofa:
      return fmt::format("qSOFA {}", e.qsofa);
    case Condition::kDeviceSilence:
      return fmt::format("last reading at {}", Instant(static_cast<int64_t>(e.baseline)));
    case Condition::kSignalQuality:
      return "most recent readings were flagged as poor quality";
  }
  return "";
}

std::string ReadingId(const std::string& patient, monitor::Vital vital, int64_t time_ms) {
  return fmt::format("r.{}.{}.{}", time_ms, static_cast<int>(vital), patient);
}

// A reading's Observation id, "r.<time ms>.<vital>.<patient>" (ReadingId), taken apart.
struct ReadingIdParts {
  int64_t time_ms = 0;
  monitor::Vital vital = monitor::Vital::kHeartRate;
  std::string_view patient;
};
std::optional<ReadingIdParts> ParseReadingId(std::string_view id) {
  if (!id.starts_with("r.")) return std::nullopt;
  std::string_view rest = id.substr(2);
  ReadingIdParts out;
  int vital = -1;
  auto [p1, e1] = std::from_chars(rest.data(), rest.data() + rest.size(), out.time_ms);
  if (e1 != std::errc() || p1 == rest.data() + rest.size() || *p1 != '.') return std::nullopt;
  rest.remove_prefix(static_cast<size_t>(p1 - rest.data()) + 1);
  auto [p2, e2] = std::from_chars(rest.data(), rest.data() + rest.size(), vital);
  if (e2 != std::errc() || p2 == rest.data() + rest.size() || *p2 != '.' || vital < 0 ||
      vital >= monitor::kVitalCount) {
    return std::nullopt;
  }
  rest.remove_prefix(static_cast<size_t>(p2 - rest.data()) + 1);
  out.vital = static_cast<monitor::Vital>(vital);
  out.patient = rest;
  return out;
}

// The vital a trend or goal alert names in its evidence (the reading that tipped it).
std::optional<monitor::Vital> EvidenceVital(const json::Value& issue) {
  const json::Value* evidence = issue.Find("evidence");
  if (!evidence || !evidence->is_array()) return std::nullopt;
  for (const json::Value* e : evidence->items()) {
    const json::Value* details = e->is_object() ? e->Find("detail") : nullptr;
    if (!details || !details->is_array()) continue;
    for (const json::Value* d : details->items()) {
      if (!d->is_object()) continue;
      const std::string_view ref = d->StringOr("reference");
      if (ref.starts_with("Observation/")) {
        if (auto parts = ParseReadingId(ref.substr(12))) return parts->vital;
      }
    }
  }
  return std::nullopt;
}

// The condition code of one of our alerts (DetectedIssue.code), or empty.
std::string_view ConditionCodeOf(const json::Value& issue) {
  const json::Value* code = issue.Find("code");
  const json::Value* codings = code && code->is_object() ? code->Find("coding") : nullptr;
  if (!codings || !codings->is_array()) return {};
  for (const json::Value* c : codings->items()) {
    if (c->is_object() && c->StringOr("system") == kAlertCodeSystem) return c->StringOr("code");
  }
  return {};
}

}  // namespace

std::string ReadingObservation(const std::string& patient, monitor::Vital vital,
                               const telemetry::Point& p) {
  const auto& info = monitor::InfoOf(vital);
  const std::string when = Instant(p.time_ms);
  return fmt::format(
      R"({{"resourceType":"Observation","id":"{}","meta":{{"versionId":"1","lastUpdated":"{}"}},)"
      R"("status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}}]}}],)"
      R"("code":{{"coding":[{{"system":"http://loinc.org","code":"{}","display":"{}"}}]}},)"
      R"("subject":{{"reference":"Patient/{}"}},"effectiveDateTime":"{}",)"
      R"("valueQuantity":{{"value":{},"unit":"{}","system":"http://unitsofmeasure.org","code":"{}"}}}})",
      ReadingId(patient, vital, p.time_ms), when, info.loinc, info.display, patient, when, p.value,
      info.ucum, info.ucum);
}

MonitorService::MonitorService(records::RecordService& records, telemetry::SeriesStore& series,
                               monitor::EngineOptions engine, EscalationOptions escalation)
    : records_(records),
      series_(series),
      assignments_(records),
      care_teams_(records),
      escalation_(records, care_teams_, escalation) {
  // Before the engine: its events post to the worker.
  escalation_worker_ =
      std::make_unique<EscalationWorker>(escalation_, core::SystemClock::Instance());
  engine_ = std::make_unique<monitor::MonitorEngine>(
      std::move(engine),
      [this](const std::string& patient, const MonitorEvent& e) { OnEvent(patient, e); });
}

MonitorService::~MonitorService() {
  engine_.reset();
  {
    std::unique_lock lock(in_flight_mu_);
    in_flight_cv_.wait(lock, [this] { return in_flight_ == 0; });
  }
  // Last: the alerts' writes above post the Tasks' jobs, which it runs before it stops.
  escalation_worker_.reset();
}

records::WriteCallback MonitorService::Tracked(records::WriteCallback done) {
  {
    std::lock_guard lock(in_flight_mu_);
    ++in_flight_;
  }
  return [this, done = std::move(done)](core::Result<records::WriteReply> r) {
    done(std::move(r));
    std::lock_guard lock(in_flight_mu_);
    if (--in_flight_ == 0) in_flight_cv_.notify_all();
  };
}

records::WriteCallback MonitorService::LogIfFailed(std::string what) {
  return Tracked([what = std::move(what)](core::Result<records::WriteReply> r) {
    if (!r) core::Logger("rpm")->warn("{} not stored: {}", what, r.error().ToString());
  });
}

void MonitorService::Ingest(std::string_view ndjson, const ReadingCheck& check,
                            std::function<void(core::Result<IngestReply>)> done) {
  IngestReply reply;
  std::vector<telemetry::StoredReading> stored;
  std::vector<monitor::PatientReading> feed;
  const int64_t now = NowMs();
  size_t number = 0;
  IngestLimits limits;
  while (!ndjson.empty()) {
    const size_t nl = ndjson.find('\n');
    std::string_view line = ndjson.substr(0, nl);
    ndjson.remove_prefix(nl == std::string_view::npos ? ndjson.size() : nl + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (number > limits.max_lines) {
      return done(core::Fail(
          core::Status(core::Code::kTooLarge,
                       fmt::format("a batch holds at most {} lines; split it", limits.max_lines))));
    }
    auto r = telemetry::ParseReading(line, now, limits.reading);
    if (!r) {
      reply.errors.push_back({number, r.error().message(), r.error().code()});
      continue;
    }
    if (auto s = check(*r); !s.ok()) {
      reply.errors.push_back({number, s.message(), s.code()});
      continue;
    }
    stored.push_back({r->patient, r->vital, r->time_ms, r->value, r->quality, std::move(r->rr_ms)});
    feed.push_back({std::move(r->patient), {r->time_ms, r->value, r->vital, r->quality}});
  }
  if (stored.empty()) return done(std::move(reply));
  series_.Append(std::move(stored), [this, reply = std::move(reply), feed = std::move(feed),
                                     done = std::move(done)](core::Status s,
                                                             telemetry::AppendResult r) mutable {
    if (!s.ok()) return done(core::Fail(std::move(s)));
    reply.accepted = r.stored;
    reply.duplicates = r.duplicates;
    // Durable first, then judged: an alert never rests on a reading that could be lost.
    if (!engine_->Submit(std::move(feed))) {
      core::Logger("rpm")->warn("monitor engine queue full: readings stored but not scored");
    }
    done(std::move(reply));
  });
}

core::Result<MonitorService::ObservationPage> MonitorService::SearchObservations(
    const std::string& patient, const std::vector<monitor::Vital>& vitals, int64_t from_ms,
    int64_t to_ms, size_t limit) const {
  ObservationPage page;
  std::vector<std::pair<monitor::Vital, telemetry::Point>> all;
  const auto which = vitals.empty() ? series_.VitalsOf(patient) : vitals;
  for (const auto v : which) {
    ASSIGN_OR_RETURN(auto points, series_.Read(patient, v, from_ms, to_ms, SIZE_MAX));
    for (const auto& p : points) all.emplace_back(v, p);
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.second.time_ms > b.second.time_ms;
  });
  if (all.size() > limit) {
    page.more = true;
    all.resize(limit);
  }
  for (const auto& [v, p] : all) {
    page.observations.emplace_back(ReadingId(patient, v, p.time_ms),
                                   ReadingObservation(patient, v, p));
  }
  return page;
}

core::Result<std::string> MonitorService::ReadObservation(std::string_view id) const {
  auto not_found = [&] {
    return core::Fail(
        core::Status(core::Code::kNotFound, fmt::format("Observation/{} is not known", id)));
  };
  const auto parts = ParseReadingId(id);
  if (!parts) return not_found();
  const std::string patient(parts->patient);
  const int64_t time_ms = parts->time_ms;
  const monitor::Vital vital = parts->vital;
  ASSIGN_OR_RETURN(auto points, series_.Read(patient, vital, time_ms, time_ms + 1, 1));
  if (points.empty()) return not_found();
  return ReadingObservation(patient, vital, points.front());
}

void MonitorService::OnChange(const store::VersionRecord& v) {
  if (v.type == "Device" || v.type == "DeviceUseStatement") {
    // A DeviceUseStatement's device is in its body, gone for a delete: forget them all.
    return assignments_.Invalidate(v.type == "Device" ? v.id : std::string());
  }
  if (v.type == "Task") {
    escalation_.OnTaskChange(v);  // an acknowledgement, a deadline moved, or our own write
    return escalation_worker_->Wake();
  }
  if (v.type == "CareTeam") {
    care_teams_.Invalidate();
    escalation_.OnCareTeamChange();
    return escalation_worker_->Wake();
  }
  if (v.type != "Goal" && v.type != "Observation") return;
  std::optional<json::Document> doc;
  if (!v.deleted()) {
    auto parsed = json::Parse(v.body);
    if (!parsed) return;
    doc = std::move(*parsed);
  }
  if (v.type == "Observation") {
    if (!doc) return;
    auto readings = ReadingsOfObservation(*doc->root());
    // Only the present is monitored: history loaded through FHIR (an EHR's past vitals, an
    // import) raises no alerts about the past, and a time far ahead is a wrong clock.
    const int64_t now = NowMs();
    std::erase_if(readings, [now](const monitor::PatientReading& r) {
      return r.reading.time_ms < now - kObservationHorizonMs ||
             r.reading.time_ms > now + kObservationHorizonAheadMs;
    });
    if (!readings.empty() && !engine_->Submit(std::move(readings))) {
      core::Logger("rpm")->warn("monitor engine queue full: Observation/{} not scored", v.id);
    }
    return;
  }
  // A Goal: clear what its previous version set, then set what this one sets.
  std::optional<GoalTargets> goal;
  if (doc) goal = TargetsOfGoal(*doc->root());
  if (auto it = goals_.find(v.id); it != goals_.end()) {
    for (const auto vital : it->second.second) {
      engine_->SetTarget(it->second.first, vital, std::nullopt, std::nullopt);
    }
    goals_.erase(it);
  }
  if (!goal || !goal->active || goal->targets.empty()) return;
  auto& set = goals_[v.id];
  set.first = goal->patient;
  for (const auto& t : goal->targets) {
    engine_->SetTarget(goal->patient, t.vital, t.low, t.high);
    set.second.push_back(t.vital);
  }
}

core::Status MonitorService::LoadGoals() {
  const records::QueryParams in_force{{"lifecycle-status", "active,accepted"}, {"_count", "500"}};
  return records::ForEachMatch(records_, "Goal", in_force,
                               [this](const store::VersionRecord& v) { OnChange(v); });
}

core::Status MonitorService::LoadOpenAlerts() {
  auto log = core::Logger("rpm");
  // The open alerts, each under its key as if it had just been opened.
  std::unordered_map<std::string, AlertTaskSpec> open;  // DetectedIssue id -> its Task
  const records::QueryParams alerts{
      {"status", "preliminary"}, {"code", std::string(kAlertCodeSystem) + "|"}, {"_count", "500"}};
  RETURN_IF_ERROR(
      records::ForEachMatch(records_, "DetectedIssue", alerts, [&](const store::VersionRecord& v) {
        auto doc = json::Parse(v.body);
        if (!doc) return;
        json::Value& root = *doc->root();
        const json::Value* subject = root.Find("patient");
        const std::string_view reference =
            subject && subject->is_object() ? subject->StringOr("reference") : "";
        const std::string_view code = ConditionCodeOf(root);
        if (!reference.starts_with("Patient/") || code.empty()) return;
        const std::string patient(reference.substr(8));
        const std::string key = patient + "/" + std::string(code);
        const bool high = root.StringOr("severity") == "high";
        const auto identified = core::ParseFhirDateTimeRange(root.StringOr("identifiedDateTime"));
        // The body as OpenAlertFor keeps it: no id or meta, and no closing brace.
        doc->Remove(root, "id");
        doc->Remove(root, "meta");
        std::string body = json::Write(root);
        body.pop_back();
        std::lock_guard lock(alerts_mu_);
        auto [it, added] = alerts_.try_emplace(key);
        if (!added) {
          log->warn(
              "DetectedIssue/{} and DetectedIssue/{} are open for one condition; the first is "
              "followed",
              it->second.issue_id, v.id);
          return;
        }
        it->second.issue_id = v.id;
        it->second.body = std::move(body);
        if (identified) it->second.identified_ms = identified->begin / 1000;
        it->second.vital = EvidenceVital(root);
        open.emplace(v.id, AlertTaskSpec{v.id, patient, high ? "stat" : "urgent"});
      }));
  // Their Tasks still awaiting acknowledgement: escalated again from their deadlines.
  std::unordered_set<std::string> followed;
  const records::QueryParams waiting{{"status", "requested"}, {"_count", "500"}};
  RETURN_IF_ERROR(
      records::ForEachMatch(records_, "Task", waiting, [&](const store::VersionRecord& v) {
        auto doc = json::Parse(v.body);
        if (!doc) return;
        const std::string focus = ReadAlertTask(*doc->root()).focus;
        if (!focus.starts_with("DetectedIssue/") || !open.contains(focus.substr(14))) return;
        escalation_.Resume(v);
        followed.insert(focus.substr(14));
      }));
  // An alert whose Task was never written (stopped between the two writes) gets it now.
  for (const auto& [id, spec] : open) {
    if (followed.contains(id)) continue;
    ASSIGN_OR_RETURN(
        auto tasks,
        records_.Search("Task", {{"focus", "DetectedIssue/" + id}, {"_count", "1"}}, false));
    if (!tasks.page.resources.empty()) continue;  // answered already
    escalation_worker_->Post([this, spec] { escalation_.Open(spec); });
  }
  log->info("{} open alert(s) loaded; {} of their Tasks await acknowledgement", open.size(),
            followed.size());
  escalation_worker_->Wake();
  return core::Status();
}

void MonitorService::OnEvent(const std::string& patient, const MonitorEvent& e) {
  switch (e.kind) {
    case MonitorEvent::Kind::kScore:
      return WriteScore(patient, e);
    case MonitorEvent::Kind::kAlertOpened:
    case MonitorEvent::Kind::kAlertUpdated:
      return OpenAlertFor(patient, e);
    case MonitorEvent::Kind::kAlertResolved:
      return ResolveAlert(patient + "/" + std::string(monitor::ConditionName(e.condition)), e);
  }
}

void MonitorService::WriteScore(const std::string& patient, const MonitorEvent& e) {
  static constexpr std::string_view kRiskCodes[] = {"low", "low", "moderate", "high"};
  const auto& n = e.news2;
  const std::string body = fmt::format(
      R"({{"resourceType":"RiskAssessment","status":"final","subject":{{"reference":"Patient/{}"}},)"
      R"("occurrenceDateTime":"{}","code":{{"coding":[{}],"text":"NEWS2"}},)"
      R"("method":{{"text":"Royal College of Physicians NEWS2 2017, chart 1"}},)"
      R"("prediction":[{{"outcome":{{"text":"Clinical deterioration: {} clinical risk per RCP NEWS2 chart 4"}},)"
      R"("qualitativeRisk":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/risk-probability","code":"{}"}}]}}}}],)"
      R"("note":[{{"text":"{}"}}]}})",
      patient, Instant(e.time_ms), kNews2Coding, monitor::News2RiskName(n.risk),
      kRiskCodes[static_cast<int>(n.risk)], Detail(e));
  records_.Create("RiskAssessment", body, std::nullopt, LogIfFailed("NEWS2 score"));
}

void MonitorService::OpenAlertFor(const std::string& patient, const MonitorEvent& e) {
  const std::string key = patient + "/" + std::string(monitor::ConditionName(e.condition));
  const std::string body = fmt::format(
      R"({{"resourceType":"DetectedIssue","status":"preliminary",)"
      R"("code":{{"coding":[{{"system":"{}","code":"{}","display":"{}"}}],"text":"{}"}},)"
      R"("severity":"{}","patient":{{"reference":"Patient/{}"}},"identifiedDateTime":"{}",)"
      R"("detail":"{}")",
      kAlertCodeSystem, monitor::ConditionName(e.condition), ConditionDisplay(e.condition),
      ConditionDisplay(e.condition), monitor::SeverityName(e.severity), patient, Instant(e.time_ms),
      Detail(e));
  // Evidence: the reading that tipped it (the vital that drove a trend or goal alert).
  std::string evidence;
  if (e.condition == Condition::kTrend || e.condition == Condition::kGoal) {
    evidence = fmt::format(R"(,"evidence":[{{"detail":[{{"reference":"Observation/{}"}}]}}])",
                           ReadingId(patient, e.vital, e.time_ms));
  }
  std::lock_guard lock(alerts_mu_);
  auto [it, added] = alerts_.try_emplace(key);
  if (!added && !it->second.issue_id.empty()) {
    // A change of severity: the same alert, updated.
    const std::string id = it->second.issue_id;
    const std::string updated = body + fmt::format(R"(,"id":"{}"{}}})", id, evidence);
    it->second.body = body + evidence;  // what its resolution starts from
    records_.Update("DetectedIssue", id, updated, std::nullopt, LogIfFailed("alert update"));
    return;
  }
  if (!added) return;  // its create is still in flight
  it->second.body = body + evidence;
  records_.Create(
      "DetectedIssue", body + evidence + "}", std::nullopt,
      Tracked([this, key, patient, severity = e.severity](core::Result<records::WriteReply> r) {
        if (!r) {
          core::Logger("rpm")->warn("alert not stored: {}", r.error().ToString());
          std::lock_guard lock(alerts_mu_);
          alerts_.erase(key);
          return;
        }
        const std::string issue_id = r->record.id;
        // The acknowledgement the care team owes: a Task focused on the alert, owned by the
        // first member of the patient's CareTeam (looked up on the worker, not on this commit
        // thread).
        escalation_worker_->Post(
            [this, spec = AlertTaskSpec{issue_id, patient,
                                        severity == monitor::Severity::kHigh ? "stat" : "urgent"}] {
              escalation_.Open(spec);
            });
        std::optional<MonitorEvent> resolve;
        {
          std::lock_guard lock(alerts_mu_);
          auto it = alerts_.find(key);
          if (it == alerts_.end()) return;
          it->second.issue_id = issue_id;
          if (it->second.resolve_when_created) resolve = it->second.resolution;
        }
        if (resolve) ResolveAlert(key, *resolve);
      }));
}

void MonitorService::ResolveAlert(const std::string& key, const MonitorEvent& e,
                                  std::string_view why) {
  OpenAlert alert;
  {
    std::lock_guard lock(alerts_mu_);
    auto it = alerts_.find(key);
    if (it == alerts_.end()) return;
    if (it->second.issue_id.empty()) {
      it->second.resolve_when_created = true;
      it->second.resolution = e;
      return;
    }
    alert = std::move(it->second);
    alerts_.erase(it);
  }
  std::string body = alert.body;
  const auto status = body.find(R"("status":"preliminary")");
  if (status != std::string::npos) body.replace(status, 22, R"("status":"final")");
  body += fmt::format(R"(,"id":"{}","mitigation":[{{"action":{{"text":"{}"}},"date":"{}"}}]}})",
                      alert.issue_id, why, Instant(e.time_ms));
  records_.Update("DetectedIssue", alert.issue_id, body, std::nullopt,
                  LogIfFailed("alert resolution"));
  // Its Task is closed too, which ends its escalation.
  escalation_worker_->Post([this, id = alert.issue_id] { escalation_.Close(id); });
}

}  // namespace medulla::rpm
