#include "monitor/patient_monitor.h"

#include <algorithm>

namespace medulla::monitor {
namespace {

constexpr int Index(Vital v) {
  return static_cast<int>(v);
}
constexpr int Index(Condition c) {
  return static_cast<int>(c);
}

// The vitals a wearable or a nurse measures continuously enough to have a personal baseline,
// with the direction that means deterioration and the smallest spread a deviation is measured
// in. The floors sit a little above the hour-smoothed wander of a patient at rest, so that
// chance wander rarely accumulates as evidence, and bind for most patients. They, the slack and
// the smoothing were chosen on the simulated cohort of the deterioration bench (whose wander is
// sized from Hurst et al., BMC Pulm Med 2010;10:52, and NOTICE-HF) with seeds other than the
// committed one (docs/monitoring.md, "Deterioration bench").
TrendParameters DefaultTrend(Vital v) {
  TrendParameters p;
  switch (v) {
    case Vital::kHeartRate:
      p.direction = +1;
      p.spread_floor = 4.0;
      break;
    case Vital::kRespiratoryRate:
      p.direction = +1;
      p.spread_floor = 1.0;
      break;
    case Vital::kSpO2:
      p.direction = -1;
      p.spread_floor = 0.7;
      break;
    case Vital::kTemperature:
      p.direction = +1;
      p.spread_floor = 0.15;
      // A patch thermometer reports hourly: each reading stands for its hour (and one missed
      // reading's), not only for the half hour a minute-by-minute vital's gap may count.
      p.max_step_hours = 1.5;
      break;
    case Vital::kSystolicBp:
      p.direction = -1;
      p.spread_floor = 5.0;
      // A cuff four times a day: a day's memory would fit the rhythm to three or four readings.
      p.baseline_hours = 72;
      break;
    default:
      p.direction = 0;
      break;  // not trended
  }
  return p;
}

}  // namespace

std::string_view ConditionName(Condition c) {
  switch (c) {
    case Condition::kNews2:
      return "news2";
    case Condition::kTrend:
      return "trend";
    case Condition::kQsofa:
      return "qsofa";
    case Condition::kGoal:
      return "goal";
    case Condition::kDeviceSilence:
      return "device-silence";
    case Condition::kSignalQuality:
      return "signal-quality";
  }
  return "unknown";
}

std::optional<Condition> ConditionFromName(std::string_view name) {
  for (int i = 0; i < kConditionCount; ++i) {
    if (ConditionName(static_cast<Condition>(i)) == name) return static_cast<Condition>(i);
  }
  return std::nullopt;
}

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kLow:
      return "low";
    case Severity::kModerate:
      return "moderate";
    case Severity::kHigh:
      return "high";
  }
  return "low";
}

MonitorSettings::MonitorSettings() {
  for (int i = 0; i < kVitalCount; ++i) trend[i] = DefaultTrend(static_cast<Vital>(i));
}

std::optional<double> PatientMonitor::Fresh(Vital v, int64_t now_ms, int64_t max_age_ms) const {
  const auto& l = latest_[Index(v)];
  if (l.time_ms == INT64_MIN || now_ms - l.time_ms > max_age_ms) return std::nullopt;
  return l.value;
}

std::optional<News2Result> PatientMonitor::News2At(int64_t now_ms, const MonitorSettings& s) const {
  const int64_t age = s.news2_max_age_ms;
  News2Inputs in;
  in.respiratory_rate = Fresh(Vital::kRespiratoryRate, now_ms, age);
  in.spo2 = Fresh(Vital::kSpO2, now_ms, age);
  in.systolic_bp = Fresh(Vital::kSystolicBp, now_ms, age);
  in.pulse = Fresh(Vital::kHeartRate, now_ms, age);
  in.temperature = Fresh(Vital::kTemperature, now_ms, age);
  // The measured parameters a score needs a minimum of (consciousness and oxygen are assumed).
  const int present = in.respiratory_rate.has_value() + in.spo2.has_value() +
                      in.systolic_bp.has_value() + in.pulse.has_value() +
                      in.temperature.has_value();
  if (present < s.news2_min_parameters) return std::nullopt;
  // A wearable cannot judge consciousness or see an oxygen supply: without a recent
  // assessment the patient is taken as alert and on air (docs/monitoring.md), so the score
  // can only be an underestimate by those two items, never an invented alarm.
  const auto acvpu = Fresh(Vital::kConsciousness, now_ms, age);
  in.consciousness =
      acvpu ? static_cast<Acvpu>(std::clamp<int>(static_cast<int>(*acvpu), 0, 4)) : Acvpu::kAlert;
  const auto fio2 = Fresh(Vital::kInspiredOxygen, now_ms, age);
  const auto flow = Fresh(Vital::kOxygenFlow, now_ms, age);
  in.on_oxygen = (fio2 && *fio2 > 21.5) || (flow && *flow > 0);
  const auto& spo2_target = targets_[Index(Vital::kSpO2)];
  // RCP 2017: scale 2 is for a prescribed target range of 88-92 %; a clinician's Goal with an
  // SpO2 target whose upper bound is 92 % or less is that prescription.
  if (spo2_target.set && spo2_target.high <= 92.0F) in.scale = SpO2Scale::kScale2;
  return ComputeNews2(in);
}

std::optional<int> PatientMonitor::QsofaAt(int64_t now_ms, const MonitorSettings& s) const {
  const auto rr = Fresh(Vital::kRespiratoryRate, now_ms, s.news2_max_age_ms);
  const auto sbp = Fresh(Vital::kSystolicBp, now_ms, s.news2_max_age_ms);
  const auto gcs = Fresh(Vital::kConsciousness, now_ms, s.news2_max_age_ms);
  if (!rr && !sbp && !gcs) return std::nullopt;
  // Seymour et al. 2016: respiratory rate >= 22/min, systolic <= 100 mm Hg, altered mentation.
  return static_cast<int>(rr && *rr >= 22) + static_cast<int>(sbp && *sbp <= 100) +
         static_cast<int>(gcs && *gcs >= 1);
}

double PatientMonitor::TrendScore(const MonitorSettings& s) const {
  double best = 0;
  for (int i = 0; i < kTrendableCount; ++i) {
    if (!Trended(i, s)) continue;
    best = std::max(best, static_cast<double>(trends_[i].cusum()));
  }
  return best / s.trend_single;
}

void PatientMonitor::SetTarget(Vital v, std::optional<double> low, std::optional<double> high) {
  auto& t = targets_[Index(v)];
  t.low = low ? static_cast<float>(*low) : -INFINITY;
  t.high = high ? static_cast<float>(*high) : INFINITY;
  t.set = low.has_value() || high.has_value();
}

void PatientMonitor::ClearTarget(Vital v) {
  targets_[Index(v)] = Target{};
}

void PatientMonitor::Observe(const Reading& r, const MonitorSettings& s, const EventSink& sink) {
  const int i = Index(r.vital);
  auto& latest = latest_[i];
  if (r.time_ms < latest.time_ms) return;  // out of order: stored, but the present moved on
  latest = {r.time_ms, r.value};
  const bool poor = !std::isnan(r.quality) && r.quality < s.poor_quality_below;
  // A reading the device itself flagged as poor is not the patient's physiology: the baseline
  // does not learn from it and it is no evidence of a trend. (NEWS2 still scores the latest
  // value, as before; the signal-quality alert reports a run of poor readings.)
  if (i < kTrendableCount && s.trend[i].direction != 0 && !poor) {
    trends_[i].Observe(r.time_ms, r.value, s.trend[i]);
  }
  if (!std::isnan(r.quality)) {
    poor_quality_ += 0.1F * ((poor ? 1.0F : 0.0F) - poor_quality_);  // about the last ten readings
  }
  last_ms_ = std::max(last_ms_, r.time_ms);
  if (r.from_device) last_device_ms_ = std::max(last_device_ms_, r.time_ms);
  Evaluate(last_ms_, r.vital, s, sink);
}

void PatientMonitor::CheckSilence(int64_t now_ms, const MonitorSettings& s, const EventSink& sink) {
  if (last_device_ms_ == INT64_MIN) return;
  const bool silent = now_ms - last_device_ms_ >= s.silence_ms;
  MonitorEvent e;
  e.time_ms = now_ms;
  e.baseline = static_cast<double>(last_device_ms_);
  MonitorSettings immediate = s;
  immediate.confirm_ms = 0;
  immediate.resolve_hold_ms = 0;
  Judge(Condition::kDeviceSilence, silent, Severity::kLow, now_ms, immediate, e, sink);
}

void PatientMonitor::Evaluate(int64_t now_ms, Vital changed, const MonitorSettings& s,
                              const EventSink& sink) {
  // Any reading ends a silence at once.
  if (conditions_[Index(Condition::kDeviceSilence)].open) CheckSilence(now_ms, s, sink);

  MonitorEvent base;
  base.time_ms = now_ms;

  // NEWS2: opens at the key threshold (or a red score), clears only well below it.
  if (const auto news2 = News2At(now_ms, s)) {
    MonitorEvent e = base;
    e.news2 = *news2;
    // Reported when what a clinician acts on changes (the band, a red score), else on the
    // interval: the total alone moves with every breath counted.
    if (last_score_ms_ == INT64_MIN || news2->risk != last_score_risk_ ||
        news2->single_parameter_3 != last_score_red_ ||
        now_ms - last_score_ms_ >= s.score_interval_ms) {
      e.kind = MonitorEvent::Kind::kScore;
      sink(e);
      last_score_risk_ = news2->risk;
      last_score_red_ = news2->single_parameter_3;
      last_score_ms_ = now_ms;
    }
    const bool red = s.news2_alert_on_red_score && news2->single_parameter_3;
    const bool holds = news2->total >= s.news2_alert_total || red;
    const bool clear = news2->total <= s.news2_clear_total && !news2->single_parameter_3;
    const Severity sev = news2->risk == News2Risk::kHigh     ? Severity::kHigh
                         : news2->risk == News2Risk::kMedium ? Severity::kModerate
                                                             : Severity::kLow;
    Judge(Condition::kNews2, holds, sev, now_ms, s, e, sink, clear);
  }

  // Trend: the strongest drift, or two moderate ones together.
  {
    int strong = 0, paired = 0;
    bool all_clear = true;
    MonitorEvent e = base;
    float best = -1;
    for (int i = 0; i < kTrendableCount; ++i) {
      if (!Trended(i, s) || !trends_[i].warmed_up(s.trend[i])) continue;
      const float c = trends_[i].cusum();
      strong += c >= s.trend_single;
      paired += c >= s.trend_pair;
      if (c >= s.trend_release * s.trend_pair) all_clear = false;
      if (c > best) {
        best = c;
        e.vital = static_cast<Vital>(i);
        e.value = trends_[i].smoothed();
        e.baseline = trends_[i].baseline();
      }
    }
    Judge(Condition::kTrend, strong > 0 || paired >= 2, Severity::kModerate, now_ms, s, e, sink,
          all_clear);
  }

  if (s.qsofa_enabled) {
    if (const auto q = QsofaAt(now_ms, s)) {
      MonitorEvent e = base;
      e.qsofa = *q;
      Judge(Condition::kQsofa, *q >= 2, Severity::kModerate, now_ms, s, e, sink, *q < 2);
    }
  }

  // Goals: the smoothed value outside a clinician's range.
  if (targets_[Index(changed)].set || conditions_[Index(Condition::kGoal)].open) {
    bool outside = false;
    MonitorEvent e = base;
    for (int i = 0; i < kVitalCount; ++i) {
      const auto& t = targets_[i];
      if (!t.set || latest_[i].time_ms == INT64_MIN) continue;
      const double v = i < kTrendableCount && s.trend[i].direction != 0 && trends_[i].started()
                           ? trends_[i].recent()
                           : latest_[i].value;
      if (v < t.low || v > t.high) {
        outside = true;
        e.vital = static_cast<Vital>(i);
        e.value = v;
        e.baseline = v < t.low ? t.low : t.high;
      }
    }
    Judge(Condition::kGoal, outside, Severity::kModerate, now_ms, s, e, sink, !outside);
  }

  Judge(Condition::kSignalQuality, poor_quality_ > s.poor_quality_share, Severity::kLow, now_ms, s,
        base, sink, poor_quality_ < s.poor_quality_share / 2);
}

void PatientMonitor::Judge(Condition c, bool holds, Severity severity, int64_t now_ms,
                           const MonitorSettings& s, MonitorEvent e, const EventSink& sink,
                           std::optional<bool> clear) {
  auto& st = conditions_[Index(c)];
  const bool is_clear = clear.value_or(!holds);
  e.condition = c;
  e.severity = severity;
  if (holds) {
    st.inactive_since = INT64_MIN;
    if (st.active_since == INT64_MIN) st.active_since = now_ms;
    if (!st.open && now_ms - st.active_since >= s.confirm_ms) {
      st.open = true;
      st.severity = severity;
      e.kind = MonitorEvent::Kind::kAlertOpened;
      sink(e);
    } else if (st.open && severity > st.severity) {
      st.severity = severity;
      e.kind = MonitorEvent::Kind::kAlertUpdated;
      sink(e);
    }
    return;
  }
  st.active_since = INT64_MIN;
  if (!st.open) return;
  if (!is_clear) {
    st.inactive_since = INT64_MIN;  // between the thresholds: stays open, as it was
    return;
  }
  if (st.inactive_since == INT64_MIN) st.inactive_since = now_ms;
  if (now_ms - st.inactive_since >= s.resolve_hold_ms) {
    st.open = false;
    st.inactive_since = INT64_MIN;
    e.kind = MonitorEvent::Kind::kAlertResolved;
    e.severity = st.severity;
    sink(e);
  }
}

}  // namespace medulla::monitor
