// MonitorService::RebuildState: the monitor's state after a restart, from the readings kept.
//
// The engine holds each patient's state in memory only: the latest values NEWS2 and qSOFA
// score, the trend detectors' baselines, and the conditions held, confirmed or open. A replay
// of the stored readings rebuilds them as they were, because the monitor judges readings on
// their own times only (monitor/patient_monitor.h). How far back is enough: NEWS2, qSOFA,
// goals and signal quality look back an hour or less; the trend baseline forgets with a time
// constant of baseline_hours (20 h; 72 h for blood pressure), so after three of them (plus the
// warm-up) what is older weighs under 5 % and the replayed state is the live one to within that.
//
// The reconciliation trusts the rebuilt state only where the replay saw enough before the
// moment in question (`settled`): an alert identified earlier than that, or a condition the
// replay opened earlier than that, is left as it is. Device silence is left to the engine's
// wall-clock check, which the replay does not run.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include "core/logging.h"
#include "core/time.h"
#include "json/parse.h"
#include "rpm/fhir_inputs.h"
#include "rpm/monitor_service.h"

namespace medulla::rpm {
namespace {

using monitor::Condition;
using monitor::MonitorEvent;
using monitor::OpenCondition;
using monitor::PatientReading;

constexpr int64_t kHourMs = 3'600'000;
// Readings read per vital per step: a patient's replay holds at most this many per vital.
constexpr size_t kReadChunk = 100'000;
// Readings handed to the engine between drains, which bounds what waits in its queues.
constexpr size_t kDrainEvery = 1'000'000;
// Vital signs taken from FHIR Observations for the replay, at most.
constexpr size_t kMaxFhirReadings = 2'000'000;

// How long the replay must have run before the rebuilt state judges a condition: for a trend,
// on the vital it names (all of them when it names none; blood pressure, read a few times a
// day, has a 72-hour baseline and needs 10 days).
int64_t SettleMs(Condition c, std::optional<monitor::Vital> vital,
                 const monitor::MonitorSettings& s) {
  if (c == Condition::kTrend) {
    double hours = 0;
    for (int i = 0; i < monitor::kTrendableCount; ++i) {
      if (vital && static_cast<int>(*vital) != i) continue;
      hours = std::max(hours, s.trend[i].warmup_hours + 3 * s.trend[i].baseline_hours);
    }
    return static_cast<int64_t>(hours * kHourMs);
  }
  // The freshest values (news2_max_age), then the hold before opening and before resolving.
  return std::max<int64_t>(s.news2_max_age_ms, kHourMs) + s.confirm_ms + s.resolve_hold_ms;
}

std::string KeyOf(const std::string& patient, Condition c) {
  return patient + "/" + std::string(monitor::ConditionName(c));
}

}  // namespace

core::Result<size_t> MonitorService::RestorePatient(const std::string& patient,
                                                    std::vector<PatientReading> fhir,
                                                    int64_t from_ms, int64_t to_ms) {
  std::stable_sort(fhir.begin(), fhir.end(), [](const auto& a, const auto& b) {
    return a.reading.time_ms < b.reading.time_ms;
  });
  const auto vitals = series_.VitalsOf(patient);
  size_t fed = 0, next_fhir = 0;
  // Step by step through the window: each step reads up to kReadChunk readings per vital and
  // replays, in time order, everything up to the earliest time some vital's read was cut at
  // (past it, that vital's readings are not all in hand yet).
  for (int64_t from = from_ms; from <= to_ms;) {
    std::vector<PatientReading> step;
    int64_t upto = to_ms;
    std::vector<std::pair<monitor::Vital, std::vector<telemetry::Point>>> read;
    for (const auto v : vitals) {
      ASSIGN_OR_RETURN(auto points, series_.Read(patient, v, from, to_ms + 1, kReadChunk));
      if (points.size() == kReadChunk) upto = std::min(upto, points.back().time_ms);
      read.emplace_back(v, std::move(points));
    }
    for (auto& [vital, points] : read) {
      for (const auto& p : points) {
        if (p.time_ms > upto) break;
        step.push_back({patient, {p.time_ms, p.value, vital, p.quality}});
      }
    }
    for (; next_fhir < fhir.size() && fhir[next_fhir].reading.time_ms <= upto; ++next_fhir) {
      step.push_back(std::move(fhir[next_fhir]));
    }
    std::stable_sort(step.begin(), step.end(), [](const auto& a, const auto& b) {
      return a.reading.time_ms < b.reading.time_ms;
    });
    fed += step.size();
    if (!step.empty()) engine_->Restore(std::move(step));
    if (upto >= to_ms) break;
    from = upto + 1;
  }
  return fed;
}

core::Result<MonitorService::RebuildReport> MonitorService::RebuildState(int64_t now_ms,
                                                                         int64_t window_ms) {
  auto log = core::Logger("rpm");
  RebuildReport report;
  if (window_ms <= 0) return report;
  const auto started = std::chrono::steady_clock::now();
  const int64_t from_ms = now_ms - window_ms;

  // Vital signs recorded through FHIR in the window (kiosks, EHRs): the change feed scored
  // them as they came, so they are part of the state.
  std::unordered_map<std::string, std::vector<PatientReading>> fhir;
  size_t fhir_count = 0;
  bool fhir_cut = false;
  const records::QueryParams recent{{"date", "ge" + core::FormatInstant(from_ms * 1000)},
                                    {"_count", "500"}};
  RETURN_IF_ERROR(
      records::ForEachMatch(records_, "Observation", recent, [&](const store::VersionRecord& v) {
        if (fhir_count >= kMaxFhirReadings) {
          fhir_cut = true;
          return;
        }
        auto doc = json::Parse(v.body);
        if (!doc) return;
        // As the change feed took it: only what was written close to its time was scored.
        const int64_t written_ms = v.last_updated / 1000;
        for (auto& r : ReadingsOfObservation(*doc->root())) {
          if (r.reading.time_ms < from_ms || r.reading.time_ms > now_ms ||
              r.reading.time_ms < written_ms - kObservationHorizonMs ||
              r.reading.time_ms > written_ms + kObservationHorizonAheadMs) {
            continue;
          }
          ++fhir_count;
          fhir[r.patient].push_back(std::move(r));
        }
      }));
  if (fhir_cut) {
    log->warn(
        "monitor rebuild: more than {} vital signs in FHIR Observations; the rest are left "
        "out",
        kMaxFhirReadings);
  }

  ASSIGN_OR_RETURN(auto patients, series_.Patients());
  std::vector<std::string> fhir_only;
  for (const auto& [patient, readings] : fhir) {
    if (!std::binary_search(patients.begin(), patients.end(), patient)) {
      fhir_only.push_back(patient);
    }
  }
  patients.insert(patients.end(), fhir_only.begin(), fhir_only.end());
  auto last_progress = started;
  size_t since_drain = 0;
  for (const auto& patient : patients) {
    std::vector<PatientReading> theirs;
    if (auto it = fhir.find(patient); it != fhir.end()) theirs = std::move(it->second);
    ASSIGN_OR_RETURN(const size_t fed, RestorePatient(patient, std::move(theirs), from_ms, now_ms));
    if (fed > 0) ++report.patients;
    report.readings += fed;
    since_drain += fed;
    if (since_drain >= kDrainEvery) {
      engine_->Drain();
      since_drain = 0;
    }
    if (const auto t = std::chrono::steady_clock::now();
        t - last_progress > std::chrono::seconds(5)) {
      last_progress = t;
      log->info("monitor rebuild: {} of {} patients, {} readings so far", report.patients,
                patients.size(), report.readings);
    }
  }

  // Reconcile the alerts with the rebuilt state.
  const auto& settings = engine_->settings();
  auto settled = [&](Condition c, std::optional<monitor::Vital> vital, int64_t t) {
    return t >= from_ms + SettleMs(c, vital, settings);
  };
  std::unordered_set<std::string> open_keys;
  std::vector<OpenCondition> missing;
  for (auto& c : engine_->TakeRestoredConditions()) {
    if (c.event.condition == Condition::kDeviceSilence) continue;
    std::string key = KeyOf(c.patient, c.event.condition);
    open_keys.insert(key);
    bool known;
    {
      std::lock_guard lock(alerts_mu_);
      known = alerts_.contains(key);
    }
    const auto vital = c.event.condition == Condition::kTrend
                           ? std::optional<monitor::Vital>(c.event.vital)
                           : std::nullopt;
    if (!known && settled(c.event.condition, vital, c.event.time_ms)) {
      missing.push_back(std::move(c));
    }
  }
  for (auto& c : missing) {
    c.event.kind = MonitorEvent::Kind::kAlertOpened;
    OpenAlertFor(c.patient, c.event);
    ++report.alerts_opened;
  }
  std::vector<std::string> stale;
  {
    std::lock_guard lock(alerts_mu_);
    for (const auto& [key, alert] : alerts_) {
      // The key is patient '/' condition name (patient ids hold no '/').
      const auto condition =
          monitor::ConditionFromName(std::string_view(key).substr(key.rfind('/') + 1));
      if (!condition || *condition == Condition::kDeviceSilence) continue;
      if (open_keys.contains(key) || alert.issue_id.empty()) continue;
      if (!settled(*condition, alert.vital, alert.identified_ms)) continue;
      stale.push_back(key);
    }
  }
  for (const auto& key : stale) {
    MonitorEvent e;
    e.kind = MonitorEvent::Kind::kAlertResolved;
    e.time_ms = now_ms;
    ResolveAlert(key, e, "Resolved at restart: the readings kept no longer show the condition");
    ++report.alerts_resolved;
  }
  log->info(
      "monitor rebuilt from {} readings of {} patient(s) over {:.1f} days in {:.1f} s; "
      "{} alert(s) opened, {} resolved",
      report.readings, report.patients, static_cast<double>(window_ms) / (24 * kHourMs),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
      report.alerts_opened, report.alerts_resolved);
  return report;
}

}  // namespace medulla::rpm
