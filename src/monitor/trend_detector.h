// Personal-baseline trend detection for one vital sign. The baseline is what is usual for this
// patient at this time of day: a level plus a 24-hour rhythm, fitted to the patient's own
// readings and kept up to date as they come. A one-sided CUSUM accumulates how far the smoothed
// deviation from it sits in the direction of deterioration, so a slow climb builds up evidence
// long before it crosses a fixed threshold such as NEWS2's bands, while the normal daily swing
// (in the bench's simulated patients heart rate 10-16 /min peak to trough, temperature 0.6-1.0
// Cel) builds up none.
//
// Methods:
// - The rhythm is a cosinor, value = M + a cos(wt) + b sin(wt) with w = 2 pi / 24 h (Nelson et
//   al., Chronobiologia 1979;6:305-323; Cornelissen, Theor Biol Med Model 2014;11:16). Heart
//   rate (lowest in the early morning: Speed et al., PLOS Digit Health 2023;2:e0000236) and
//   blood pressure (the sleep dip: Morris et al., Am J Hypertens 2013;26:822) follow one, as
//   do temperature and respiration.
// - It is fitted by exponentially weighted recursive least squares (Ljung & Soderstrom, Theory
//   and Practice of Recursive Identification, MIT Press 1983): every reading weighs as much as the
//   time it stands for, so a wearable every minute and a cuff four times a day are both fitted
//   correctly, and old readings fade with the baseline's time constant. It never stops
//   learning, so it cannot freeze; a lasting change is accepted as the new normal over one to
//   three days.
// - A single reading's deviation counts for at most a few spreads in the evidence (Huber, Ann
//   Math Stat 1964;35:73-101; as in the robust exponential smoothing of Gelper, Fried & Croux,
//   J Forecast 2010;29:285-300), so a walk to the bathroom or an artefact spike adds little.
// - Page's cumulative sum (Page, Biometrika 1954;41:100-115) on the smoothed deviation in units
//   of the patient's spread, as used for physiological trend detection by Charbonnier & Gentil
//   (Control Eng Pract 2007, doi:10.1016/j.conengprac.2006.12.005) and the personalised
//   baselines of remote monitoring (Stehlik et al., Circ Heart Fail 2020;13:e006513, LINK-HF).
// The defaults (per vital, in MonitorSettings) were chosen on the simulated cohort of
// tests/monitor/deterioration_sim.h with seeds other than the committed one; docs/monitoring.md
// has the figures.
#pragma once

#include <cstdint>

namespace medulla::monitor {

struct TrendParameters {
  int direction = +1;  // +1: rising is deterioration (heart rate); -1: falling (SpO2); 0: none
  // The smallest spread (canonical units) a deviation is measured in: below it, the ordinary
  // minute-to-minute wander would count as evidence. The per-vital defaults bind in practice.
  double spread_floor = 1.0;
  double baseline_hours = 20;     // time constant of the baseline once warm: how fast a new
                                  // level is accepted as normal
  double smoothing_minutes = 60;  // time constant of the smoothed deviation the CUSUM judges
  double recent_minutes = 30;     // time constant of the recent value goals are judged on
  double warmup_hours = 24;       // no trend is judged before a full day of the rhythm is seen
  double slack = 0.7;             // CUSUM reference value k, in spreads
  double max_step_hours = 0.5;    // a reading counts as evidence for at most this long (a gap
                                  // is not evidence)
  double cusum_cap = 12;          // the CUSUM never exceeds this, so recovery shows in hours
  double robust_limit = 3;        // one reading's deviation counts for at most this many spreads
  bool daily_rhythm = true;       // fit the 24-hour rhythm (false: a level only)
};

// The state of one vital's detector: 64 bytes (a monitored patient keeps six).
class TrendDetector {
 public:
  // Feeds one reading. Times must not go backwards (older readings are ignored).
  void Observe(int64_t time_ms, double value, const TrendParameters& p);
  // Page's statistic: spread-hours of deterioration beyond the slack since it last was zero.
  double cusum() const { return cusum_; }
  // How far the smoothed value is from the baseline, in spreads, signed so that positive is
  // deterioration.
  double z(const TrendParameters& p) const;
  // What is usual for the patient at the time of the latest reading.
  double baseline() const;
  // The smoothed value the CUSUM judges: the baseline plus the smoothed deviation from it.
  double smoothed() const { return baseline() + deviation_; }
  // The value over about the last recent_minutes, for goals.
  double recent() const { return recent_; }
  double spread(const TrendParameters& p) const;
  bool started() const { return last_ms_ != INT64_MIN; }
  bool warmed_up(const TrendParameters& p) const {
    return started() && learnt_hours_ >= p.warmup_hours;
  }

 private:
  struct Fit {
    double level, cos, sin;
  };
  Fit Solve() const;
  void Learn(float cos_wt, float sin_wt, double value, double weight, double forget);

  int64_t last_ms_ = INT64_MIN;
  float learnt_hours_ = 0;  // since the first reading
  // The weighted least-squares sums for value ~ (1, cos wt, sin wt): X'WX (symmetric: 00 01 02
  // 11 12 22) and X'Wy. The fit is solved from them when needed.
  float xx_[6] = {};
  float xy_[3] = {};
  float deviation_ = 0;  // smoothed (value - baseline)
  float recent_ = 0;
  float spread_ = 0;  // mean absolute smoothed deviation
  float cusum_ = 0;
};

}  // namespace medulla::monitor
