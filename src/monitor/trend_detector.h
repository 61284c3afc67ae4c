// Personal-baseline trend detection for one vital sign: an EWMA baseline of the patient's own
// values, and a one-sided CUSUM of how far the recent (smoothed) value has moved from it in the
// direction of deterioration. A slow climb accumulates in the CUSUM long before it crosses a
// fixed threshold such as NEWS2's bands.
//
// Method: exponentially weighted moving averages (Roberts 1959; Hunter 1986) for the baseline
// and its spread, and Page's cumulative sum (Page 1954), as used for physiological trend
// detection by e.g. Charbonnier & Gentil (J Clin Monit Comput 2007) and the personalised
// baselines of remote-monitoring studies (Stehlik et al., Circ Heart Fail 2020, LINK-HF).
// Sampling is irregular (a wearable every minute, a nurse every four hours), so every weight
// is a function of elapsed time, not of the number of readings.
#pragma once

#include <cstdint>

namespace medulla::monitor {

struct TrendParameters {
  int direction = +1;             // +1: rising is deterioration (heart rate); -1: falling (SpO2)
  double spread_floor = 1.0;      // the smallest spread (canonical units) a z-score divides by
  double baseline_hours = 12;     // time constant of the baseline EWMA
  double smoothing_minutes = 30;  // time constant of the short-term smoothing
  double warmup_hours = 1;        // no trend is judged before the baseline has this much data
  double slack = 1.0;             // CUSUM reference value k, in spreads
  double max_step_hours = 2;      // a gap counts at most this long in the CUSUM
  double cusum_cap = 12;          // the CUSUM never exceeds this
};

// The state of one vital's detector. Small on purpose (a monitored patient keeps several).
class TrendDetector {
 public:
  // Feeds one reading. Times must not go backwards (older readings are ignored).
  void Observe(int64_t time_ms, double value, const TrendParameters& p);
  // Page's statistic: spread-hours of deterioration beyond the slack since it last was zero.
  double cusum() const { return cusum_; }
  // How far the smoothed value is from the baseline, in spreads, signed so that positive is
  // deterioration.
  double z() const { return z_; }
  double baseline() const { return baseline_; }
  double smoothed() const { return smoothed_; }
  bool warmed_up() const { return last_ms_ != INT64_MIN && last_ms_ >= warm_until_ms_; }

 private:
  int64_t last_ms_ = INT64_MIN;
  int64_t warm_until_ms_ = INT64_MAX;
  float baseline_ = 0;
  float spread_ = 0;
  float smoothed_ = 0;
  float z_ = 0;
  float cusum_ = 0;
};

}  // namespace medulla::monitor
