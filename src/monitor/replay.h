// Replays a stay through a PatientMonitor (the engine's per-patient code, as live readings go
// through it) and reports, for every hour, each detector's score and whether its alert is open.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "monitor/patient_monitor.h"
#include "monitor/physionet.h"

namespace medulla::monitor {

// The detectors a replay reports, in output order.
enum class Detector : uint8_t { kNews2, kQsofa, kTrend };
inline constexpr int kDetectorCount = 3;
std::string_view DetectorName(Detector d);

struct HourVerdict {
  std::optional<double> score[kDetectorCount];  // nullopt: too little fresh data to score
  bool alert[kDetectorCount] = {};
};

// Settings for hourly ICU charting: values stay fresh for four hours (a nurse's observation
// round), alerts open and clear on the hour they hold (no confirmation delay).
MonitorSettings HourlyReplaySettings();

std::vector<HourVerdict> ReplayStay(const Stay& stay, const MonitorSettings& settings);

// Area under the ROC curve of scores against 0/1 outcomes (Mann-Whitney; ties count half).
// nullopt when either class is empty.
std::optional<double> Auroc(std::span<const double> scores, std::span<const int> outcomes);

}  // namespace medulla::monitor
