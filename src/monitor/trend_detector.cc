#include "monitor/trend_detector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <numbers>

namespace medulla::monitor {
namespace {

constexpr double kMsPerHour = 3'600'000.0;
constexpr int64_t kMsPerMinute = 60'000;
constexpr int kMinutesPerDay = 1440;
// The first reading weighs as much as a minute of data.
constexpr double kFirstWeightHours = 1.0 / 60;
// A reading weighs as much as the time since the one before, at most this: a cuff four times
// a day still fits the rhythm, and one reading after a long gap does not outweigh a day.
constexpr double kMaxWeightHours = 6;
// Until the rhythm has been seen, it is held towards none by this much data's worth: the
// first hours of a day cannot tell a level from a rhythm.
constexpr double kRhythmPriorHours = 0.5;
constexpr float kMaxLearntHours = 1e4;

// The weight a new value gets in an EWMA after x = elapsed / time constant: 1 - exp(-x). Each
// reading needs a few; for the usual small x a cubic is accurate to 1e-5 and spares the exp.
double Alpha(double x) {
  if (x < 0.1) return x * (1.0 - x * (0.5 - x / 6.0));
  return -std::expm1(-x);
}

// cos and sin of the time of day, one entry per minute: a table lookup instead of two calls
// per reading (a minute is 0.25 degrees of phase). UTC: the patient's own phase is learnt, so
// the time zone does not matter.
struct Phase {
  float cos, sin;
};

const std::array<Phase, kMinutesPerDay>& PhaseTable() {
  static const auto table = [] {
    std::array<Phase, kMinutesPerDay> t{};
    for (int m = 0; m < kMinutesPerDay; ++m) {
      const double w = 2 * std::numbers::pi * m / kMinutesPerDay;
      t[static_cast<size_t>(m)] = {static_cast<float>(std::cos(w)),
                                   static_cast<float>(std::sin(w))};
    }
    return t;
  }();
  return table;
}

Phase PhaseAt(int64_t time_ms, bool rhythm) {
  if (!rhythm) return {0, 0};
  int64_t minute = (time_ms / kMsPerMinute) % kMinutesPerDay;
  if (minute < 0) minute += kMinutesPerDay;
  return PhaseTable()[static_cast<size_t>(minute)];
}

}  // namespace

TrendDetector::Fit TrendDetector::Solve() const {
  // The normal equations X'WX b = X'Wy, solved through the adjugate (3 x 3, symmetric). The
  // sums are kept in float; the solution is worked in double.
  const double a = xx_[0], b = xx_[1], c = xx_[2], d = xx_[3], e = xx_[4], f = xx_[5];
  const double m00 = d * f - e * e, m01 = c * e - b * f, m02 = b * e - c * d;
  const double m11 = a * f - c * c, m12 = b * c - a * e, m22 = a * d - b * b;
  const double det = a * m00 + b * m01 + c * m02;
  if (!(det > 1e-9 * a * d * f)) return {a > 0 ? xy_[0] / a : 0.0, 0, 0};  // a level only
  const double y0 = xy_[0], y1 = xy_[1], y2 = xy_[2];
  return {(m00 * y0 + m01 * y1 + m02 * y2) / det, (m01 * y0 + m11 * y1 + m12 * y2) / det,
          (m02 * y0 + m12 * y1 + m22 * y2) / det};
}

void TrendDetector::Learn(float cos_wt, float sin_wt, double value, double weight, double forget) {
  const double x[3] = {1.0, cos_wt, sin_wt};
  int k = 0;
  for (int i = 0; i < 3; ++i) {
    for (int j = i; j < 3; ++j, ++k) {
      xx_[k] = static_cast<float>(forget * xx_[k] + weight * x[i] * x[j]);
    }
    xy_[i] = static_cast<float>(forget * xy_[i] + weight * x[i] * value);
  }
}

double TrendDetector::baseline() const {
  if (!started()) return 0;
  const Fit fit = Solve();
  // The rhythm's terms are zero when it is not fitted (their sums stay at the prior's).
  const Phase ph = PhaseAt(last_ms_, true);
  return fit.level + fit.cos * ph.cos + fit.sin * ph.sin;
}

double TrendDetector::spread(const TrendParameters& p) const {
  return std::max<double>(spread_, p.spread_floor);
}

double TrendDetector::z(const TrendParameters& p) const {
  return p.direction * deviation_ / spread(p);
}

void TrendDetector::Observe(int64_t time_ms, double value, const TrendParameters& p) {
  const Phase ph = PhaseAt(time_ms, p.daily_rhythm);
  if (!started()) {
    last_ms_ = time_ms;
    recent_ = static_cast<float>(value);
    spread_ = static_cast<float>(p.spread_floor);
    xx_[3] = xx_[5] = static_cast<float>(kRhythmPriorHours);
    Learn(ph.cos, ph.sin, value, kFirstWeightHours, 1.0);
    return;
  }
  if (time_ms < last_ms_) return;
  const double dt_hours = static_cast<double>(time_ms - last_ms_) / kMsPerHour;
  last_ms_ = time_ms;
  const bool warm = learnt_hours_ >= p.warmup_hours;
  learnt_hours_ = std::min(static_cast<float>(learnt_hours_ + dt_hours), kMaxLearntHours);

  // The deviation from what is usual now, limited to a few spreads (Huber): a walk or an
  // artefact adds little evidence; a sustained change adds it reading after reading.
  const Fit fit = Solve();
  const double usual = fit.level + fit.cos * ph.cos + fit.sin * ph.sin;
  const double limit = p.robust_limit * spread(p);
  const double residual = std::clamp(value - usual, -limit, limit);

  recent_ += static_cast<float>(Alpha(dt_hours * 60 / p.recent_minutes) * (value - recent_));
  deviation_ +=
      static_cast<float>(Alpha(dt_hours * 60 / p.smoothing_minutes) * (residual - deviation_));
  if (warm) {
    const double step = std::min(dt_hours, p.max_step_hours);
    cusum_ = static_cast<float>(std::clamp(cusum_ + (z(p) - p.slack) * step, 0.0, p.cusum_cap));
  }

  // The baseline always learns, from every reading, so that it cannot freeze: it is the
  // patient's plain mean at each time of day, their usual activity included (limiting what it
  // learns from a walk as well made it lag real changes and raised false alerts on the bench).
  // While warming up every reading counts alike (a least-squares fit of the first day); after,
  // older readings fade with the baseline's time constant.
  const double forget = warm ? 1.0 - Alpha(dt_hours / p.baseline_hours) : 1.0;
  Learn(ph.cos, ph.sin, value, std::min(dt_hours, kMaxWeightHours), forget);
  // The spread of the smoothed deviation, over the same memory (shorter while warming up).
  const double tau = std::clamp<double>(learnt_hours_, 1e-3, p.baseline_hours);
  spread_ += static_cast<float>(Alpha(dt_hours / tau) * (std::abs(deviation_) - spread_));
}

}  // namespace medulla::monitor
