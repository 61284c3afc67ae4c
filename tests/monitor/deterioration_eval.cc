#include "monitor/deterioration_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

namespace medulla::monitor::sim {
namespace {

constexpr int kNews2 = static_cast<int>(Condition::kNews2);
constexpr int kTrend = static_cast<int>(Condition::kTrend);

PatientOutcome RunPatient(const BenchConfig& config, int index, std::vector<SimReading>& buf,
                          int64_t& readings) {
  const PatientParams p = DrawPatient(config.sim, index);
  Simulate(p, config.sim, &buf);
  PatientOutcome o;
  o.index = index;
  o.trajectory = p.trajectory;
  o.start_ms = p.start_ms;
  o.onset_ms = p.onset_ms;
  o.event_ms = p.event_ms;
  o.end_ms = p.end_ms;
  o.first_in_window.fill(INT64_MIN);
  const int64_t window_start =
      p.deteriorates() ? p.event_ms - static_cast<int64_t>(config.window_hours * kHourMs)
                       : INT64_MAX;
  const EventSink sink = [&](const MonitorEvent& e) {
    if (e.kind == MonitorEvent::Kind::kScore) {
      if (e.time_ms >= window_start || !p.deteriorates()) {
        o.max_news2 = std::max(o.max_news2, e.news2.total);
      }
      return;
    }
    if (e.kind != MonitorEvent::Kind::kAlertOpened) return;
    const int c = static_cast<int>(e.condition);
    if (e.time_ms < window_start) {
      ++o.false_alerts[c];
      if (e.time_ms > p.onset_ms) ++o.early_alerts[c];
    } else if (e.time_ms <= p.event_ms && o.first_in_window[c] == INT64_MIN) {
      o.first_in_window[c] = e.time_ms;
    }
  };
  PatientMonitor monitor;
  for (const auto& s : buf) {
    // Live ingest refuses implausible values before they reach the monitor.
    if (!Plausible(s.reading.vital, s.reading.value)) continue;
    monitor.Observe(s.reading, config.settings, sink);
    ++readings;
  }
  return o;
}

DetectorFigures Score(const BenchReport& r, Condition condition) {
  const int c = static_cast<int>(condition);
  DetectorFigures f;
  f.condition = condition;
  std::vector<double> leads;
  std::array<std::vector<double>, kTrajectoryCount> by_type;
  for (const auto& o : r.outcomes) {
    f.false_alerts += o.false_alerts[c];
    f.early_alerts += o.early_alerts[c];
    if (o.trajectory == Trajectory::kStable) {
      f.stable_patients_with_alert += o.false_alerts[c] > 0;
      continue;
    }
    ++f.deteriorating;
    if (o.first_in_window[c] == INT64_MIN) continue;
    ++f.detected;
    const double lead = static_cast<double>(o.event_ms - o.first_in_window[c]) / kHourMs;
    leads.push_back(lead);
    const int t = static_cast<int>(o.trajectory);
    ++f.detected_by_type[t];
    by_type[t].push_back(lead);
  }
  f.sensitivity = f.deteriorating > 0 ? static_cast<double>(f.detected) / f.deteriorating : 0;
  f.median_lead_hours = Median(leads);
  for (int t = 0; t < kTrajectoryCount; ++t) f.median_lead_by_type[t] = Median(by_type[t]);
  f.false_per_patient_day = r.patient_days > 0 ? f.false_alerts / r.patient_days : 0;
  f.false_per_patient_day_lenient =
      r.patient_days_lenient > 0 ? (f.false_alerts - f.early_alerts) / r.patient_days_lenient : 0;
  return f;
}

}  // namespace

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

BenchReport RunBench(const BenchConfig& config, int threads) {
  const auto began = std::chrono::steady_clock::now();
  BenchReport r;
  r.patients = config.patients;
  r.outcomes.resize(static_cast<size_t>(std::max(0, config.patients)));
  threads = std::max(1, threads);
  std::vector<int64_t> readings(static_cast<size_t>(threads), 0);
  auto work = [&](int k) {
    std::vector<SimReading> buf;
    for (int i = k; i < config.patients; i += threads) {
      r.outcomes[static_cast<size_t>(i)] = RunPatient(config, i, buf, readings[k]);
    }
  };
  if (threads == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (int k = 0; k < threads; ++k) pool.emplace_back(work, k);
    for (auto& t : pool) t.join();
  }
  for (int64_t n : readings) r.readings += n;

  const int64_t window = static_cast<int64_t>(config.window_hours * kHourMs);
  std::vector<double> gains;
  for (const auto& o : r.outcomes) {
    ++r.by_type[static_cast<int>(o.trajectory)];
    if (o.trajectory == Trajectory::kStable) {
      ++r.stable;
      const double days = static_cast<double>(o.end_ms - o.start_ms) / kDayMs;
      r.patient_days += days;
      r.patient_days_lenient += days;
      continue;
    }
    ++r.deteriorating;
    const int64_t window_start = o.event_ms - window;
    r.patient_days += static_cast<double>(std::max<int64_t>(0, window_start - o.start_ms)) / kDayMs;
    r.patient_days_lenient +=
        static_cast<double>(std::max<int64_t>(0, std::min(window_start, o.onset_ms) - o.start_ms)) /
        kDayMs;
    r.reached_news2_5 += o.max_news2 >= 5;
    if (o.first_in_window[kNews2] != INT64_MIN && o.first_in_window[kTrend] != INT64_MIN) {
      ++r.both_detected;
      gains.push_back(static_cast<double>(o.first_in_window[kNews2] - o.first_in_window[kTrend]) /
                      kHourMs);
    }
  }
  r.median_paired_gain_hours = Median(gains);
  r.news2 = Score(r, Condition::kNews2);
  r.trend = Score(r, Condition::kTrend);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return r;
}

std::string FormatReport(const BenchReport& r) {
  std::string s;
  char line[512];
  std::snprintf(line, sizeof line,
                "Deterioration bench: %d patients, %d stable, %d deteriorating (%d sepsis, %d "
                "heart-failure, %d respiratory); %.1f M readings, %.0f patient-days at risk of a "
                "false alert; %.1f s\n",
                r.patients, r.stable, r.deteriorating, r.by_type[1], r.by_type[2], r.by_type[3],
                static_cast<double>(r.readings) / 1e6, r.patient_days, r.seconds);
  s += line;
  s += "| detector | sensitivity (alert <= 48 h before the event) | median lead time | false "
       "alerts / patient-day | same, early alerts not counted | stable patients with an alert |\n"
       "|---|---|---|---|---|---|\n";
  for (const DetectorFigures* f : {&r.news2, &r.trend}) {
    std::snprintf(line, sizeof line, "| %s | %.3f (%d/%d) | %.1f h | %.4f (%d) | %.4f | %d/%d |\n",
                  f->condition == Condition::kNews2 ? "NEWS2 >= 5 or red score" : "trend (CUSUM)",
                  f->sensitivity, f->detected, f->deteriorating, f->median_lead_hours,
                  f->false_per_patient_day, f->false_alerts, f->false_per_patient_day_lenient,
                  f->stable_patients_with_alert, r.stable);
    s += line;
  }
  s += "| trajectory | patients | NEWS2: detected, median lead | trend: detected, median lead |\n"
       "|---|---|---|---|\n";
  for (int t = 1; t < kTrajectoryCount; ++t) {
    std::snprintf(line, sizeof line, "| %s | %d | %d, %.1f h | %d, %.1f h |\n",
                  std::string(TrajectoryName(static_cast<Trajectory>(t))).c_str(), r.by_type[t],
                  r.news2.detected_by_type[t], r.news2.median_lead_by_type[t],
                  r.trend.detected_by_type[t], r.trend.median_lead_by_type[t]);
    s += line;
  }
  std::snprintf(line, sizeof line,
                "Deteriorating patients whose NEWS2 reached 5 in the window: %d/%d. Found by both "
                "detectors: %d; median (NEWS2 alert - trend alert) among them: %.1f h. Early "
                "alerts (after onset, > 48 h before the event): NEWS2 %d, trend %d.\n",
                r.reached_news2_5, r.deteriorating, r.both_detected, r.median_paired_gain_hours,
                r.news2.early_alerts, r.trend.early_alerts);
  s += line;
  return s;
}

}  // namespace medulla::monitor::sim
