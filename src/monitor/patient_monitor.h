// One patient's monitor: the latest value of each vital, the early-warning scores computed from
// the fresh ones, the trend detectors, and which alert conditions are open. It is fed readings
// in time order (per patient) and reports what changed as events. Everything is judged on the
// readings' own times, never the wall clock, so a replay at any speed behaves like live data.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "monitor/news2.h"
#include "monitor/trend_detector.h"
#include "monitor/vital.h"

namespace medulla::monitor {

struct Reading {
  int64_t time_ms = 0;
  double value = 0;
  Vital vital = Vital::kHeartRate;
  float quality = NAN;  // signal quality 0..1 when the device reports one
  // false: a vital sign recorded through FHIR (a kiosk, an EHR), which comes when someone
  // measures it; device silence is judged on device readings only.
  bool from_device = true;
};

// The kinds of alert. One alert at most is open per patient per condition.
enum class Condition : uint8_t {
  kNews2,          // NEWS2 medium or high risk, or a red score
  kTrend,          // a sustained drift from the patient's own baseline
  kQsofa,          // qSOFA >= 2 (Seymour et al., JAMA 2016;315(8):762-774)
  kGoal,           // a vital outside the range a clinician set in a Goal
  kDeviceSilence,  // no reading for too long
  kSignalQuality,  // most recent readings flagged as poor quality
};
inline constexpr int kConditionCount = 6;
std::string_view ConditionName(Condition c);
std::optional<Condition> ConditionFromName(std::string_view name);  // ConditionName's inverse

enum class Severity : uint8_t { kLow, kModerate, kHigh };
std::string_view SeverityName(Severity s);  // DetectedIssue.severity codes

// The vitals a trend detector can follow: the measured ones, which come first in Vital's order
// (heart rate to diastolic pressure). Consciousness and oxygen are states set by people, not
// levels that drift, and keeping no detector for them keeps a patient's state small.
inline constexpr int kTrendableCount = 6;

struct MonitorSettings {
  // NEWS2.
  int64_t news2_max_age_ms = 30 * 60'000;  // an older value of a parameter counts as missing
  int news2_min_parameters = 3;          // of respiration, SpO2, systolic BP, pulse and temperature
  int news2_alert_total = 5;             // RCP chart 4's key threshold for an urgent response
  bool news2_alert_on_red_score = true;  // a single parameter scoring 3
  int news2_clear_total = 3;  // hysteresis: clears only at or below this, with no red score
  // A score (persisted as a RiskAssessment) is reported when its risk band or red score
  // changes, and otherwise this often: a total that wanders within its band every minute
  // would otherwise write a resource a minute per patient.
  int64_t score_interval_ms = 60 * 60'000;
  // Trend: alert when one vital's CUSUM reaches trend_single spread-hours, or two reach
  // trend_pair (a deterioration moves several vitals at once; chance wander moves one).
  double trend_single = 3.5;
  double trend_pair = 2.5;
  double trend_release = 0.5;  // clears when every CUSUM is below this share of its threshold
  // qSOFA.
  bool qsofa_enabled = true;
  // Every condition must hold this long before an alert opens, and be clear this long before
  // it resolves. A persistence delay is the standard remedy for nuisance alarms in continuous
  // monitoring (Welch, Biomed Instrum Technol 2011;Suppl:46-52): NEWS2's chart is meant for a
  // set of observations at rest, and a wearable read every minute sees a walk or an artefact
  // as a spell of high scores. 10 minutes was chosen on the deterioration bench
  // (docs/monitoring.md): at 5, NEWS2 alerted on two thirds of the stable patients in a week.
  int64_t confirm_ms = 10 * 60'000;
  int64_t resolve_hold_ms = 30 * 60'000;
  // Device silence and signal quality.
  int64_t silence_ms = 15 * 60'000;
  double poor_quality_below = 0.5;  // a reading with quality under this is poor
  double poor_quality_share = 0.6;  // alert when this share of recent readings is poor
  // Per-vital trend parameters (filled with defaults by the constructor); only the first
  // kTrendableCount vitals can be trended.
  std::array<TrendParameters, kVitalCount> trend;
  MonitorSettings();
};

// What the monitor reports.
struct MonitorEvent {
  enum class Kind : uint8_t { kScore, kAlertOpened, kAlertUpdated, kAlertResolved };
  Kind kind = Kind::kScore;
  Condition condition = Condition::kNews2;
  Severity severity = Severity::kLow;
  int64_t time_ms = 0;
  News2Result news2;  // for kScore and NEWS2 alerts
  int qsofa = 0;
  Vital vital = Vital::kHeartRate;  // the vital that drove a trend or goal alert
  double value = 0;                 // its (smoothed) value
  double baseline = 0;              // its baseline (trend) or the goal's bound (goal)
};
using EventSink = std::function<void(const MonitorEvent&)>;

class PatientMonitor {
 public:
  // Feeds one reading; emits events through `sink`. Readings older than the vital's latest are
  // kept for the record but do not move the scores (they arrived out of order).
  void Observe(const Reading& r, const MonitorSettings& s, const EventSink& sink);
  // Opens (or keeps open) the device-silence alert when nothing has arrived for silence_ms.
  void CheckSilence(int64_t now_ms, const MonitorSettings& s, const EventSink& sink);

  // A clinician's target range for a vital (from a FHIR Goal); replaces that vital's trend
  // detection and, for an SpO2 target at or below 92 %, selects NEWS2's SpO2 scale 2.
  void SetTarget(Vital v, std::optional<double> low, std::optional<double> high);
  void ClearTarget(Vital v);

  // The current NEWS2 over the fresh values, or nullopt when too few are fresh.
  std::optional<News2Result> News2At(int64_t now_ms, const MonitorSettings& s) const;
  // qSOFA over fresh values (respiration >= 22, systolic <= 100, not alert); nullopt when none.
  std::optional<int> QsofaAt(int64_t now_ms, const MonitorSettings& s) const;
  // The trend detectors' strongest evidence: the largest CUSUM as a share of trend_single.
  double TrendScore(const MonitorSettings& s) const;
  bool open(Condition c) const { return conditions_[static_cast<int>(c)].open; }
  int64_t last_reading_ms() const { return last_ms_; }

 private:
  struct LatestValue {
    int64_t time_ms = INT64_MIN;
    double value = 0;
  };
  struct ConditionState {
    bool open = false;
    Severity severity = Severity::kLow;
    int64_t active_since = INT64_MIN;    // when the condition started to hold
    int64_t inactive_since = INT64_MIN;  // when it stopped holding
  };
  struct Target {
    float low = -INFINITY;
    float high = INFINITY;
    bool set = false;
  };

  std::optional<double> Fresh(Vital v, int64_t now_ms, int64_t max_age_ms) const;
  // Whether vital `i` is judged by its trend (a trended vital with no clinician's target).
  bool Trended(int i, const MonitorSettings& s) const {
    return i < kTrendableCount && s.trend[i].direction != 0 && !targets_[i].set;
  }
  // Moves one condition through its lifecycle: `holds` opens it (after confirm_ms), `clear`
  // (default: !holds) resolves it (after resolve_hold_ms); neither keeps it as it is, which is
  // the hysteresis between an alert threshold and a lower all-clear one.
  void Judge(Condition c, bool holds, Severity severity, int64_t now_ms, const MonitorSettings& s,
             MonitorEvent event, const EventSink& sink, std::optional<bool> clear = {});
  void Evaluate(int64_t now_ms, Vital changed, const MonitorSettings& s, const EventSink& sink);

  std::array<LatestValue, kVitalCount> latest_{};
  std::array<TrendDetector, kTrendableCount> trends_{};
  std::array<Target, kVitalCount> targets_{};
  std::array<ConditionState, kConditionCount> conditions_{};
  int64_t last_ms_ = INT64_MIN;
  int64_t last_device_ms_ = INT64_MIN;  // the newest reading from a device
  int64_t last_score_ms_ = INT64_MIN;
  News2Risk last_score_risk_ = News2Risk::kLow;  // the band and red score last reported
  bool last_score_red_ = false;
  float poor_quality_ = 0;  // EWMA of the share of poor-quality readings
};

}  // namespace medulla::monitor
