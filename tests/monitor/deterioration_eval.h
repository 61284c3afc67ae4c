// The deterioration bench's evaluation: every simulated patient's readings go, in time order,
// through a real PatientMonitor with the given settings (default MonitorSettings unless a
// caller changes them); each detector's AlertOpened events are scored against the recorded
// critical events.
//
//   sensitivity            deteriorating patients with an alert of the detector opened in the
//                          window [event - 48 h, event], over all deteriorating patients
//   median lead time       event time minus the first alert opened in that window, over the
//                          patients detected
//   false alerts / day     alerts opened on stable patients, and on deteriorating patients
//                          before their window, over the patient-days monitored in those
//                          periods (7 days per stable patient, start to window start for a
//                          deteriorating one). An alert after the trajectory's onset but more
//                          than 48 h before the event counts as false here (strict); it is
//                          also reported separately as "early".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "monitor/deterioration_sim.h"
#include "monitor/patient_monitor.h"

namespace medulla::monitor::sim {

struct BenchConfig {
  SimOptions sim;
  int patients = 2000;
  double window_hours = 48;
  MonitorSettings settings;  // the defaults
};

// One patient's outcome, for one detector.
struct PatientOutcome {
  int index = 0;
  Trajectory trajectory = Trajectory::kStable;
  int64_t start_ms = 0;
  int64_t onset_ms = INT64_MAX;
  int64_t event_ms = INT64_MAX;
  int64_t end_ms = 0;
  std::array<int64_t, kConditionCount> first_in_window{};  // ms, INT64_MIN when none
  std::array<int, kConditionCount> false_alerts{};         // before the window (or all, stable)
  std::array<int, kConditionCount> early_alerts{};         // after onset, before the window
  int max_news2 = -1;  // the highest NEWS2 scored (deteriorating: in the window)
};

struct DetectorFigures {
  Condition condition = Condition::kNews2;
  int deteriorating = 0;
  int detected = 0;
  double sensitivity = 0;
  double median_lead_hours = 0;  // NAN when nothing was detected
  int false_alerts = 0;          // strict (see above); includes early_alerts
  int early_alerts = 0;
  double false_per_patient_day = 0;
  // Without the early alerts, over stable days and deteriorating patients' days before onset.
  double false_per_patient_day_lenient = 0;
  int stable_patients_with_alert = 0;
  std::array<int, kTrajectoryCount> detected_by_type{};
  std::array<double, kTrajectoryCount> median_lead_by_type{};
};

struct BenchReport {
  int patients = 0;
  int stable = 0;
  int deteriorating = 0;
  std::array<int, kTrajectoryCount> by_type{};
  int64_t readings = 0;
  double patient_days = 0;          // denominator of the strict false-alert rate
  double patient_days_lenient = 0;  // stable days + deteriorating days before onset
  int reached_news2_5 = 0;          // deteriorating patients whose NEWS2 ever reached 5
  DetectorFigures news2;
  DetectorFigures trend;
  // Over patients both detectors found in the window: median of (trend lead - NEWS2 lead).
  int both_detected = 0;
  double median_paired_gain_hours = 0;
  double seconds = 0;  // wall time of the run
  std::vector<PatientOutcome> outcomes;
};

// Simulates and monitors patients [0, config.patients), on `threads` threads (patients are
// independent, so the figures do not depend on it).
BenchReport RunBench(const BenchConfig& config, int threads = 1);

// The report as a text table.
std::string FormatReport(const BenchReport& r);

double Median(std::vector<double> v);

}  // namespace medulla::monitor::sim
