#include "monitor/trend_detector.h"

#include <algorithm>
#include <cmath>

namespace medulla::monitor {
namespace {

constexpr double kMsPerHour = 3'600'000.0;

// The weight a new value gets in an EWMA with time constant tau after dt has passed.
double Alpha(double dt_ms, double tau_ms) {
  return 1.0 - std::exp(-dt_ms / tau_ms);
}

}  // namespace

void TrendDetector::Observe(int64_t time_ms, double value, const TrendParameters& p) {
  if (last_ms_ == INT64_MIN) {
    last_ms_ = time_ms;
    warm_until_ms_ = time_ms + static_cast<int64_t>(p.warmup_hours * kMsPerHour);
    baseline_ = smoothed_ = static_cast<float>(value);
    spread_ = static_cast<float>(p.spread_floor);
    return;
  }
  if (time_ms < last_ms_) return;
  const double dt = static_cast<double>(time_ms - last_ms_);
  last_ms_ = time_ms;

  const double smoothing_ms = std::max(p.smoothing_minutes * 60'000.0, 1.0);
  // A reading after a long gap replaces the smoothed value rather than nudging it.
  smoothed_ += static_cast<float>(Alpha(dt, smoothing_ms) * (value - smoothed_));

  const double spread = std::max<double>(spread_, p.spread_floor);
  const double z = p.direction * (smoothed_ - baseline_) / spread;
  z_ = static_cast<float>(z);

  if (!warmed_up()) {
    // Learning: the baseline follows quickly (a quarter of its time constant) so that it
    // reflects this patient rather than the first reading alone.
    const double a = Alpha(dt, p.baseline_hours * kMsPerHour / 4);
    const double dev = std::abs(value - baseline_);
    baseline_ += static_cast<float>(a * (value - baseline_));
    spread_ += static_cast<float>(a * (dev - spread_));
    return;
  }

  const double step_hours = std::min(dt / kMsPerHour, p.max_step_hours);
  // Capped, so that a long illness does not take days to clear once the patient recovers.
  cusum_ = static_cast<float>(std::clamp(cusum_ + (z - p.slack) * step_hours, 0.0, p.cusum_cap));

  // The baseline learns only while nothing is accumulating: a deterioration in progress must
  // not become the new normal. Values on the good side always teach it.
  if (cusum_ == 0.0F) {
    const double a = Alpha(dt, p.baseline_hours * kMsPerHour);
    const double dev = std::abs(value - baseline_);
    baseline_ += static_cast<float>(a * (value - baseline_));
    spread_ += static_cast<float>(a * (dev - spread_));
  }
}

}  // namespace medulla::monitor
