// TrendDetector with the default parameters of MonitorSettings: the daily rhythm is learnt and
// raises no trend, a slow climb is caught before a fixed threshold, the baseline keeps learning
// (an episode that recovers clears, a lasting change becomes the new normal), and irregular
// sampling is handled. The rhythm is also checked against a detector without it (a level only),
// which does alert, so the test shows what the rhythm is for.
#include "monitor/trend_detector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <optional>
#include <random>
#include <vector>

#include "monitor/patient_monitor.h"

namespace medulla::monitor {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kT0 = 1'795'248'000'000;  // 2026-11-21T08:00:00Z

const MonitorSettings& Defaults() {
  static const MonitorSettings s;
  return s;
}
const TrendParameters& HeartRate() {
  return Defaults().trend[static_cast<int>(Vital::kHeartRate)];
}

double HourOfDay(int64_t t) {
  return static_cast<double>(t % kDay) / kHour;
}

// A resting heart rate with a daily rhythm: lowest at 04:00, `amplitude` half the swing.
double Rhythm(int64_t t, double mean, double amplitude) {
  return mean - amplitude * std::cos(2 * std::numbers::pi * (HourOfDay(t) - 4) / 24);
}

struct FedRun {
  double max_cusum = 0;               // after warm-up
  std::optional<int64_t> crossed;     // first time the CUSUM reached trend_single
  std::optional<int64_t> zero_after;  // first time it was back at 0 after crossing
};

// Feeds `value(t)` plus noise every `step(rng)` from `from` to `to`.
FedRun Feed(TrendDetector& d, const TrendParameters& p, int64_t from, int64_t to,
            const std::function<double(int64_t)>& value, std::mt19937& rng, double noise_sd,
            const std::function<int64_t(std::mt19937&)>& step) {
  std::normal_distribution<double> noise(0, noise_sd);
  FedRun run;
  for (int64_t t = from; t < to; t += step(rng)) {
    d.Observe(t, value(t) + noise(rng), p);
    if (!d.warmed_up(p)) continue;
    run.max_cusum = std::max(run.max_cusum, d.cusum());
    if (!run.crossed && d.cusum() >= Defaults().trend_single) run.crossed = t;
    if (run.crossed && !run.zero_after && d.cusum() == 0) run.zero_after = t;
  }
  return run;
}

int64_t EveryMinute(std::mt19937&) {
  return kMinute;
}

TEST(TrendDetector, DailyRhythmRaisesNoTrend) {
  // A week of a resting heart rate swinging 16 /min peak to trough (the top of the simulated
  // cohort's 10-16), with minute-to-minute noise, starting in the afternoon (the previous
  // detector learnt its baseline then and alerted as the evening peak came round).
  auto hr = [](int64_t t) { return Rhythm(t, 72, 8); };
  std::mt19937 rng(1);
  TrendDetector d;
  const int64_t start = kT0 + 6 * kHour;
  const FedRun run = Feed(d, HeartRate(), start, start + 7 * kDay, hr, rng, 2.5, EveryMinute);
  EXPECT_FALSE(run.crossed);
  EXPECT_LT(run.max_cusum, 1.0);
  // The rhythm is in the baseline: at 16:00, near the peak, it expects about 80.
  const int64_t peak = start + 7 * kDay + 2 * kHour;
  d.Observe(peak, hr(peak), HeartRate());
  EXPECT_NEAR(d.baseline(), hr(peak), 1.5);

  // Control: the same data against a level alone accumulates evidence every afternoon.
  TrendParameters level_only = HeartRate();
  level_only.daily_rhythm = false;
  std::mt19937 rng2(1);
  TrendDetector flat;
  const FedRun control =
      Feed(flat, level_only, start, start + 7 * kDay, hr, rng2, 2.5, EveryMinute);
  EXPECT_TRUE(control.crossed);
}

TEST(TrendDetector, TemperatureRhythmRaisesNoTrend) {
  // Hourly from a patch: 36.7 Cel swinging 0.8 peak to trough, noise 0.1.
  TrendParameters p = Defaults().trend[static_cast<int>(Vital::kTemperature)];
  std::mt19937 rng(2);
  TrendDetector d;
  const FedRun run = Feed(
      d, p, kT0, kT0 + 7 * kDay, [](int64_t t) { return Rhythm(t, 36.7, 0.4); }, rng, 0.1,
      [](std::mt19937&) { return kHour; });
  EXPECT_FALSE(run.crossed);
  EXPECT_LT(run.max_cusum, 1.5);
}

TEST(TrendDetector, SlowClimbIsCaughtBeforeAFixedThreshold) {
  // Two days with the rhythm, then a climb of 30 /min over 24 h (1.25 /min an hour).
  const int64_t climb_from = kT0 + 2 * kDay;
  auto hr = [&](int64_t t) {
    const double climb = t > climb_from ? 30.0 * static_cast<double>(t - climb_from) / kDay : 0;
    return Rhythm(t, 70, 5) + std::min(climb, 30.0);
  };
  // When the true value first reaches 91, NEWS2's first pulse band, and 111, the band that
  // scores 2.
  std::optional<int64_t> at91, at111;
  for (int64_t t = climb_from; t < climb_from + kDay; t += kMinute) {
    if (!at91 && hr(t) >= 91) at91 = t;
    if (!at111 && hr(t) >= 111) at111 = t;
  }
  ASSERT_TRUE(at91);
  std::mt19937 rng(3);
  TrendDetector d;
  const FedRun run = Feed(d, HeartRate(), kT0, climb_from + kDay, hr, rng, 2.5, EveryMinute);
  ASSERT_TRUE(run.crossed) << "the climb was never caught";
  EXPECT_GT(*run.crossed, climb_from);
  // Caught hours before the value reaches even NEWS2's first band.
  EXPECT_LT(*run.crossed, *at91 - 2 * kHour)
      << "caught " << (*run.crossed - climb_from) / kMinute << " min into the climb, 91 at "
      << (*at91 - climb_from) / kMinute;
  EXPECT_FALSE(at111 && *at111 < *run.crossed);
}

TEST(TrendDetector, EpisodeThatRecoversClearsAndTheAlertResolves) {
  // Two days at rest, 12 hours 20 /min up (a fever, say), then back to normal. The CUSUM must
  // reach the alert and then drain to 0: the old detector froze its baseline while the CUSUM
  // was above 0, so a baseline learnt at the wrong time never learnt again.
  const int64_t episode = kT0 + 2 * kDay;
  auto hr = [&](int64_t t) {
    return Rhythm(t, 72, 6) + (t >= episode && t < episode + 12 * kHour ? 20.0 : 0.0);
  };
  std::mt19937 rng(4);
  std::normal_distribution<double> noise(0, 2.5);
  MonitorSettings s;
  PatientMonitor monitor;
  int opened = 0, resolved = 0;
  std::optional<int64_t> resolved_at;
  const EventSink sink = [&](const MonitorEvent& e) {
    if (e.condition != Condition::kTrend) return;
    if (e.kind == MonitorEvent::Kind::kAlertOpened) ++opened;
    if (e.kind == MonitorEvent::Kind::kAlertResolved) {
      ++resolved;
      resolved_at = e.time_ms;
    }
  };
  for (int64_t t = kT0; t < episode + 3 * kDay; t += kMinute) {
    Reading r;
    r.time_ms = t;
    r.vital = Vital::kHeartRate;
    r.value = hr(t) + noise(rng);
    monitor.Observe(r, s, sink);
  }
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(resolved, 1);
  ASSERT_TRUE(resolved_at);
  EXPECT_LT(*resolved_at, episode + 12 * kHour + kDay) << "cleared more than a day after";
  EXPECT_FALSE(monitor.open(Condition::kTrend));
  EXPECT_LT(monitor.TrendScore(s), 0.1);
}

TEST(TrendDetector, LastingChangeBecomesTheNewNormal) {
  // A step of 12 /min that stays (a new medication, say): alerted, then learnt within days.
  const int64_t step_at = kT0 + 2 * kDay;
  auto hr = [&](int64_t t) { return Rhythm(t, 72, 6) + (t >= step_at ? 12.0 : 0.0); };
  std::mt19937 rng(5);
  TrendDetector d;
  const FedRun run = Feed(d, HeartRate(), kT0, step_at + 5 * kDay, hr, rng, 2.5, EveryMinute);
  ASSERT_TRUE(run.crossed);
  ASSERT_TRUE(run.zero_after) << "the baseline never learnt the new level";
  EXPECT_LT(*run.zero_after, step_at + 3 * kDay);
  EXPECT_NEAR(d.baseline(), hr(step_at + 5 * kDay), 2.0);
  EXPECT_EQ(d.cusum(), 0);
}

TEST(TrendDetector, IrregularSamplingLearnsTheRhythmAndCatchesAClimb) {
  // Readings 1 to 90 minutes apart (exponential, mean 20), with a three-hour gap about once a
  // day: no trend from the rhythm, and a climb of 20 /min over 12 h caught nearly as soon as
  // from the same signal every minute. Each reading weighs as much as the time it stands for.
  const int64_t climb_from = kT0 + 4 * kDay;
  auto hr = [&](int64_t t) {
    const double climb =
        t > climb_from ? 20.0 * static_cast<double>(t - climb_from) / (12 * kHour) : 0;
    return Rhythm(t, 75, 7) + std::min(climb, 20.0);
  };
  auto irregular = [](std::mt19937& g) {
    std::exponential_distribution<double> gap(1.0 / 20);
    const int64_t minutes = std::clamp<int64_t>(static_cast<int64_t>(gap(g)), 1, 90);
    return minutes * kMinute + (std::uniform_real_distribution<>(0, 1)(g) < 0.015 ? 3 * kHour : 0);
  };
  std::mt19937 rng(6);
  TrendDetector d;
  const FedRun quiet = Feed(d, HeartRate(), kT0, climb_from, hr, rng, 2.5, irregular);
  EXPECT_FALSE(quiet.crossed);
  EXPECT_LT(quiet.max_cusum, 1.5);
  const FedRun climb =
      Feed(d, HeartRate(), climb_from, climb_from + 12 * kHour, hr, rng, 2.5, irregular);
  ASSERT_TRUE(climb.crossed);

  std::mt19937 rng2(6);
  TrendDetector every_minute;
  const FedRun regular =
      Feed(every_minute, HeartRate(), kT0, climb_from + 12 * kHour, hr, rng2, 2.5, EveryMinute);
  ASSERT_TRUE(regular.crossed);
  EXPECT_LT(*climb.crossed, *regular.crossed + 2 * kHour)
      << "irregular " << (*climb.crossed - climb_from) / kMinute << " min, regular "
      << (*regular.crossed - climb_from) / kMinute << " min into the climb";
}

TEST(TrendDetector, CuffFourTimesADayLearnsItsRhythm) {
  // Systolic pressure at 06:00, 12:00, 18:00 and 22:00, dipping 12 mm Hg at night (Morris et
  // al. 2013), noise 5: the fitted baseline follows the rhythm at those four times (a level
  // alone would be 4-6 mm Hg off at 06:00 and 18:00), and raises no trend.
  const TrendParameters& p = Defaults().trend[static_cast<int>(Vital::kSystolicBp)];
  TrendParameters level_only = p;
  level_only.daily_rhythm = false;
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 5);
  auto sbp = [](int64_t t) { return Rhythm(t, 128, 6); };
  TrendDetector d, flat;
  double max_cusum = 0, squared = 0, squared_flat = 0;
  int n = 0;
  const int64_t midnight = kT0 - 8 * kHour;
  for (int day = 0; day < 14; ++day) {
    for (int hour : {6, 12, 18, 22}) {
      const int64_t t = midnight + day * kDay + hour * kHour;
      const double v = sbp(t) + noise(rng);
      d.Observe(t, v, p);
      flat.Observe(t, v, level_only);
      if (d.warmed_up(p)) max_cusum = std::max(max_cusum, d.cusum());
      if (day < 7) continue;
      squared += std::pow(d.baseline() - sbp(t), 2);
      squared_flat += std::pow(flat.baseline() - sbp(t), 2);
      ++n;
    }
  }
  const double rms = std::sqrt(squared / n), rms_flat = std::sqrt(squared_flat / n);
  EXPECT_LT(rms, 3.0);
  EXPECT_LT(rms, rms_flat);
  EXPECT_LT(max_cusum, Defaults().trend_single);
}

TEST(TrendDetector, NothingIsJudgedDuringTheWarmUp) {
  std::mt19937 rng(8);
  TrendDetector d;
  // A value far from the first one: learnt, never judged before a day of data.
  const FedRun run = Feed(
      d, HeartRate(), kT0, kT0 + 23 * kHour,
      [](int64_t t) { return t < kT0 + 2 * kHour ? 70.0 : 110.0; }, rng, 1.0, EveryMinute);
  EXPECT_FALSE(d.warmed_up(HeartRate()));
  EXPECT_EQ(d.cusum(), 0);
  EXPECT_FALSE(run.crossed);
  d.Observe(kT0 + 25 * kHour, 110, HeartRate());
  EXPECT_TRUE(d.warmed_up(HeartRate()));
  // Older readings are ignored.
  const double before = d.baseline();
  d.Observe(kT0 + 24 * kHour, 300, HeartRate());
  EXPECT_EQ(d.baseline(), before);
}

TEST(TrendDetector, StateIsSmall) {
  // Six per monitored patient, inside the 1 KiB a patient may use (patient_monitor_test).
  EXPECT_LE(sizeof(TrendDetector), 64u);
}

}  // namespace
}  // namespace medulla::monitor
