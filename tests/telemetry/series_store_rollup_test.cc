// SeriesStore rollups: equal to the min/max/mean/count of the raw readings (randomized, late and
// duplicate readings included), through checkpoints, reopen, a simulated crash and the expiry of
// the raw readings; retention of both; limits and errors of ReadRollups.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "telemetry/series_store.h"
#include "telemetry/series_store_fixture.h"
#include "testing/temp_dir.h"

namespace medulla::telemetry {
namespace {

using monitor::Vital;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kFiveMinutes = 5 * kMinute;

// Retention is judged against the wall clock, so these readings are placed relative to it.
int64_t MinuteAgo(int64_t ago_ms) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return IntervalStart(now - ago_ms, kMinute);
}

StoredReading R(int64_t t, double value, const std::string& patient = "p1") {
  return StoredReading{patient, Vital::kHeartRate, t, value};
}

// The rollups of `raw` (time -> value) per interval, for the intervals overlapping [from, to).
std::vector<Rollup> Expected(const std::map<int64_t, double>& raw, int64_t from, int64_t to,
                             int64_t interval) {
  std::map<int64_t, RollupSum> sums;
  const int64_t first = IntervalStart(from, interval);
  for (const auto& [t, v] : raw) {
    const int64_t start = IntervalStart(t, interval);
    if (start >= first && start < to) sums[start].Add(v);
  }
  std::vector<Rollup> out;
  for (const auto& [start, sum] : sums) out.push_back(sum.ToRollup(start));
  return out;
}

void ExpectRollups(const std::vector<Rollup>& got, const std::vector<Rollup>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].start_ms, want[i].start_ms) << i;
    ASSERT_EQ(got[i].count, want[i].count) << i;
    ASSERT_EQ(got[i].min, want[i].min) << i;
    ASSERT_EQ(got[i].max, want[i].max) << i;
    ASSERT_NEAR(got[i].mean, want[i].mean, 1e-9) << i;  // sums added in another order
  }
}

class SeriesStoreRollupTest : public SeriesStoreFixture {
 protected:
  std::vector<Rollup> Rollups(const SeriesStore& s, int64_t from, int64_t to, int64_t interval,
                              size_t limit = SIZE_MAX) {
    auto r = s.ReadRollups("p1", Vital::kHeartRate, from, to, interval, limit);
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r.has_value() ? *r : std::vector<Rollup>{};
  }
};

// Three days of per-minute readings (with gaps and seconds of jitter) sent as devices do: in
// batches, some held back and sent minutes to hours late in any order, some sent twice with
// other values (first write wins), and a few only after the first two days' raw readings have
// expired. The rollups must equal those computed from the readings kept, for any interval,
// through checkpoints, a reopen and a crash, before and after the expiry.
TEST_F(SeriesStoreRollupTest, RollupsEqualTheRawReadingsRandomized) {
  std::mt19937_64 rng(20261122);
  std::uniform_int_distribution<int64_t> jitter(-2000, 2000);
  std::uniform_int_distribution<int64_t> delay(kMinute, 6 * kHour);
  std::uniform_int_distribution<int> step(-8, 8);
  std::uniform_int_distribution<size_t> batch_size(1, 60);
  std::bernoulli_distribution gap(0.1), hold_back(0.1), very_late(0.04), twice(0.05);
  const int64_t base = MinuteAgo(3 * kDay);
  const int64_t from = base, to = base + 3 * kDay;
  struct Held {
    StoredReading reading;
    int64_t due;  // sent once the in-order readings have passed this time
  };
  std::vector<StoredReading> in_order, after_expiry;
  std::vector<Held> held;
  int tenths = 720;
  for (int64_t m = 10; m < 3 * 24 * 60 - 10; ++m) {
    if (gap(rng)) continue;
    tenths = std::clamp(tenths + step(rng), 400, 1400);
    const auto r = R(base + m * kMinute + jitter(rng), tenths / 10.0);
    if (very_late(rng)) {
      after_expiry.push_back(r);
    } else if (hold_back(rng)) {
      held.push_back({r, r.time_ms + delay(rng)});
    } else {
      in_order.push_back(r);
    }
    if (twice(rng)) held.push_back({R(r.time_ms, r.value + 50), r.time_ms + delay(rng)});
  }
  std::shuffle(held.begin(), held.end(), rng);
  std::shuffle(after_expiry.begin(), after_expiry.end(), rng);

  // What the store keeps: the first delivery of each time.
  std::map<int64_t, double> kept;
  auto deliver = [&](SeriesStore& s, std::vector<StoredReading> batch) {
    for (const auto& r : batch) kept.try_emplace(r.time_ms, r.value);
    auto result = s.AppendSync(std::move(batch));
    ASSERT_TRUE(result.has_value()) << result.error().message();
    EXPECT_EQ(result->expired, 0u);
  };
  auto check = [&](const SeriesStore& s) {
    for (const int64_t interval : {kFiveMinutes, 3 * kFiveMinutes, kHour, kDay}) {
      ExpectRollups(Rollups(s, from, to, interval), Expected(kept, from, to, interval));
      // A range that starts and ends inside intervals returns them whole.
      const int64_t a = from + 17 * kHour + 7 * kMinute, b = from + 50 * kHour + 3 * kMinute;
      ExpectRollups(Rollups(s, a, b, interval), Expected(kept, a, b, interval));
    }
  };

  SeriesStoreOptions o = Options();
  o.checkpoint_interval_ms = 3'600'000;  // only the explicit ones
  auto s = Open(o);
  ASSERT_TRUE(s);
  size_t next = 0, batches = 0;
  while (next < in_order.size()) {
    const size_t n = std::min(batch_size(rng), in_order.size() - next);
    // The held-back readings now due, in a batch of their own and in no order.
    std::vector<StoredReading> late;
    std::erase_if(held, [&](const Held& h) {
      if (h.due > in_order[next].time_ms) return false;
      late.push_back(h.reading);
      return true;
    });
    if (!late.empty()) deliver(*s, std::move(late));
    deliver(*s, std::vector<StoredReading>(in_order.begin() + static_cast<ptrdiff_t>(next),
                                           in_order.begin() + static_cast<ptrdiff_t>(next + n)));
    next += n;
    if (++batches % 23 == 0) {
      ASSERT_TRUE(s->Checkpoint().ok());
    }
  }
  std::vector<StoredReading> rest;
  for (const auto& h : held) rest.push_back(h.reading);
  deliver(*s, std::move(rest));
  check(*s);
  // Any interval at all while the raw readings are there.
  ExpectRollups(Rollups(*s, from, to, 7 * kMinute), Expected(kept, from, to, 7 * kMinute));
  ASSERT_TRUE(s->Checkpoint().ok());
  check(*s);

  // Reopened with a retention of a day: the first two days' raw readings go at the checkpoint.
  s.reset();
  o.retention_ms = kDay;
  s = Open(o);
  ASSERT_TRUE(s);
  check(*s);
  ASSERT_TRUE(s->Checkpoint().ok());
  const int64_t expired_before = MinuteAgo(kDay);
  auto raw = s->Read("p1", Vital::kHeartRate, from, to, SIZE_MAX);
  ASSERT_TRUE(raw.has_value());
  ASSERT_FALSE(raw->empty());
  EXPECT_GE(raw->front().time_ms, expired_before - kDay / 2);  // blocks go whole
  EXPECT_LT(raw->size(), kept.size() / 2);
  check(*s);

  // The very late readings: refused where the raw readings have expired (10 minutes' margin
  // either side of the retention's edge, which moves with the clock), stored elsewhere.
  std::vector<StoredReading> refused, accepted;
  for (const auto& r : after_expiry) {
    if (r.time_ms < expired_before - 10 * kMinute) refused.push_back(r);
    if (r.time_ms > expired_before + 10 * kMinute) accepted.push_back(r);
  }
  ASSERT_FALSE(refused.empty());
  ASSERT_GT(accepted.size(), 4u);
  auto result = s->AppendSync(refused);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->expired, refused.size());
  EXPECT_EQ(result->stored, 0u);
  check(*s);
  const size_t half = accepted.size() / 2;
  deliver(*s, std::vector<StoredReading>(accepted.begin(),
                                         accepted.begin() + static_cast<ptrdiff_t>(half)));
  check(*s);
  ASSERT_TRUE(s->Checkpoint().ok());
  check(*s);
  deliver(*s, std::vector<StoredReading>(accepted.begin() + static_cast<ptrdiff_t>(half),
                                         accepted.end()));
  check(*s);
  auto crashed = Open(CopyAsCrashed(o, "crash.db"));
  ASSERT_TRUE(crashed);
  check(*crashed);
  ASSERT_TRUE(crashed->Checkpoint().ok());  // the replayed readings are counted once
  check(*crashed);
  crashed.reset();
  crashed = Open(CopyAsCrashed(Options("crash.db"), "crash2.db"));
  ASSERT_TRUE(crashed);
  check(*crashed);
  s.reset();
  s = Open(o);
  ASSERT_TRUE(s);
  check(*s);
}

// Across the edge of the retention: the interval that holds it keeps the rollups of its expired
// readings and takes late readings after the edge; readings before the edge are refused.
TEST_F(SeriesStoreRollupTest, LateReadingsAtTheEdgeOfTheRetention) {
  SeriesStoreOptions o = Options();
  o.retention_ms = kDay;
  auto s = Open(o);
  ASSERT_TRUE(s);
  const int64_t edge = MinuteAgo(kDay);
  std::map<int64_t, double> kept;
  std::vector<StoredReading> batch;
  for (int m = -90; m <= -30; m += 3) batch.push_back(R(edge + m * kMinute, 60 + m % 7));
  for (const auto& r : batch) kept[r.time_ms] = r.value;
  ASSERT_TRUE(s->AppendSync(batch).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());  // written, and dropped as expired
  auto raw = s->Read("p1", Vital::kHeartRate, edge - kDay, edge + kDay, SIZE_MAX);
  ASSERT_TRUE(raw.has_value());
  EXPECT_TRUE(raw->empty());
  const int64_t later = MinuteAgo(kHour);
  ASSERT_TRUE(s->AppendSync({R(later, 90)}).has_value());
  kept[later] = 90;
  auto check = [&](const SeriesStore& store) {
    for (const int64_t interval : {kFiveMinutes, kHour, kDay, 10 * kDay}) {
      const int64_t a = edge - 2 * kHour, b = later + 1;
      ExpectRollups(Rollups(store, a, b, interval), Expected(kept, a, b, interval));
    }
  };
  check(*s);
  // Late readings after the edge: in memory, then on disk.
  ASSERT_TRUE(s->AppendSync({R(edge + 15 * kMinute, 30), R(edge + 20 * kMinute, 120)}).has_value());
  kept[edge + 15 * kMinute] = 30;
  kept[edge + 20 * kMinute] = 120;
  check(*s);
  ASSERT_TRUE(s->Checkpoint().ok());
  check(*s);
  // Before it: refused, and the rollups stay as they are.
  auto late = s->AppendSync({R(edge - 20 * kMinute, 10), R(edge - 31 * kMinute, 61)});
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->expired, 2u);
  EXPECT_EQ(late->stored, 0u);
  check(*s);
  s.reset();
  s = Open(o);
  ASSERT_TRUE(s);
  check(*s);
}

TEST_F(SeriesStoreRollupTest, IntervalsThatAreNoMultipleNeedRawReadings) {
  SeriesStoreOptions o = Options();
  o.retention_ms = kDay;
  auto s = Open(o);
  ASSERT_TRUE(s);
  const int64_t old = MinuteAgo(3 * kDay), recent = MinuteAgo(kHour);
  ASSERT_TRUE(s->AppendSync({R(old, 70)}).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  ASSERT_TRUE(s->AppendSync({R(recent, 80)}).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  auto refused = s->ReadRollups("p1", Vital::kHeartRate, old, recent + 1, 7 * kMinute, 10);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("multiple"), std::string::npos)
      << refused.error().message();
  // Where the raw readings are, any interval.
  ExpectRollups(Rollups(*s, recent, recent + 1, 7 * kMinute),
                {{IntervalStart(recent, 7 * kMinute), 80, 80, 80, 1}});
  // A multiple of the stored interval across both.
  const auto both = Rollups(*s, old, recent + 1, kHour);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].start_ms, IntervalStart(old, kHour));
  EXPECT_EQ(both[1].start_ms, IntervalStart(recent, kHour));
  auto zero = s->ReadRollups("p1", Vital::kHeartRate, old, recent, 0, 10);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code(), core::Code::kInvalidArgument);
}

TEST_F(SeriesStoreRollupTest, ReadRollupsIsLimitedAndPages) {
  SeriesStoreOptions o = Options();
  o.retention_ms = kDay;
  auto s = Open(o);
  ASSERT_TRUE(s);
  const int64_t old = IntervalStart(MinuteAgo(2 * kDay), kFiveMinutes);
  const int64_t recent = IntervalStart(MinuteAgo(3 * kHour), kFiveMinutes);
  std::vector<StoredReading> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(R(old + i * kFiveMinutes, 60 + i));
  ASSERT_TRUE(s->AppendSync(batch).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());  // only their rollups are left
  batch.clear();
  for (int i = 0; i < 6; ++i) batch.push_back(R(recent + i * kFiveMinutes, 70 + i));
  ASSERT_TRUE(s->AppendSync(batch).has_value());  // in memory
  std::vector<Rollup> all;
  int64_t from = old;
  for (;;) {
    const auto page = Rollups(*s, from, recent + kHour, kFiveMinutes, 4);
    ASSERT_LE(page.size(), 4u);
    if (page.empty()) break;
    all.insert(all.end(), page.begin(), page.end());
    from = page.back().start_ms + kFiveMinutes;
  }
  ASSERT_EQ(all.size(), 12u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(all[static_cast<size_t>(i)].start_ms, old + i * kFiveMinutes);
    EXPECT_EQ(all[static_cast<size_t>(i)].mean, 60 + i);
    EXPECT_EQ(all[static_cast<size_t>(6 + i)].start_ms, recent + i * kFiveMinutes);
    EXPECT_EQ(all[static_cast<size_t>(6 + i)].mean, 70 + i);
  }
  EXPECT_TRUE(Rollups(*s, old, recent + kHour, kFiveMinutes, 0).empty());
  EXPECT_TRUE(Rollups(*s, recent, old, kFiveMinutes).empty());
}

TEST_F(SeriesStoreRollupTest, RollupRetentionDropsOldRollups) {
  SeriesStoreOptions o = Options();
  o.retention_ms = kDay;
  o.rollup_retention_ms = 3 * kDay;
  auto s = Open(o);
  ASSERT_TRUE(s);
  const int64_t ancient = MinuteAgo(5 * kDay), old = MinuteAgo(2 * kDay);
  const int64_t recent = MinuteAgo(kHour);
  ASSERT_TRUE(s->AppendSync({R(ancient, 50), R(old, 60)}).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  ASSERT_TRUE(s->AppendSync({R(recent, 70)}).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  const auto left = Rollups(*s, ancient, recent + 1, kFiveMinutes);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].mean, 60);
  EXPECT_EQ(left[1].mean, 70);
  // A late reading of an interval whose rollup has gone is not kept either.
  ASSERT_TRUE(s->AppendSync({R(ancient + kMinute, 55)}).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  EXPECT_EQ(Rollups(*s, ancient, recent + 1, kFiveMinutes).size(), 2u);
}

// A series silent for longer than the retention: its open block's row is dropped, and the next
// reading starts a new block instead of updating the dropped row (which would lose it).
TEST_F(SeriesStoreRollupTest, ReadingAfterTheOpenBlockExpiredIsKept) {
  SeriesStoreOptions o = Options();
  o.retention_ms = kDay;
  auto s = Open(o);
  ASSERT_TRUE(s);
  const int64_t old = MinuteAgo(3 * kDay);
  ASSERT_TRUE(s->AppendSync({R(old, 70), R(old + kMinute, 71)}).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());  // written and dropped
  EXPECT_EQ(s->Stats().readings, 0u);
  const int64_t now = MinuteAgo(0);
  ASSERT_TRUE(s->AppendSync({R(now, 72)}).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  s.reset();
  s = Open(o);
  ASSERT_TRUE(s);
  auto points = s->Read("p1", Vital::kHeartRate, INT64_MIN, INT64_MAX, SIZE_MAX);
  ASSERT_TRUE(points.has_value());
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].time_ms, now);
  EXPECT_EQ(s->Stats().readings, 1u);
  const std::map<int64_t, double> all = {{old, 70}, {old + kMinute, 71}, {now, 72}};
  ExpectRollups(Rollups(*s, old, now + 1, kDay), Expected(all, old, now + 1, kDay));
}

TEST_F(SeriesStoreRollupTest, TheRollupIntervalIsFixedWhenTheStoreIsCreated) {
  SeriesStoreOptions o = Options();
  ASSERT_TRUE(Open(o));
  o.rollup_interval_ms = 10 * kMinute;
  auto refused = SeriesStore::Open(o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("300000"), std::string::npos)
      << refused.error().message();
  o.rollup_interval_ms = 0;
  EXPECT_FALSE(SeriesStore::Open(o).has_value());
}

TEST_F(SeriesStoreRollupTest, DuplicatesAfterAReopenAreNotCountedTwice) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  const int64_t t = IntervalStart(MinuteAgo(kDay), kHour);
  std::vector<StoredReading> all;
  for (int m = 0; m < 40; ++m) all.push_back(R(t + m * kMinute, 60 + m));
  ASSERT_TRUE(s->AppendSync(all).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  s.reset();
  s = Open(Options());
  ASSERT_TRUE(s);
  // After the restart the open block is empty: a new reading at minute 5 starts it, and the
  // retransmitted minutes 6 to 39 after it are still duplicates of blocks on disk.
  ASSERT_TRUE(s->AppendSync({R(t + 5 * kMinute + 30'000, 100)}).has_value());
  auto again = s->AppendSync(std::vector<StoredReading>(all.begin() + 6, all.end()));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->stored, 0u);
  EXPECT_EQ(again->duplicates, 34u);
  ASSERT_TRUE(s->Checkpoint().ok());
  const auto hour = Rollups(*s, t, t + kHour, kHour);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(hour[0].count, 41u);
  EXPECT_EQ(hour[0].max, 100);
}

}  // namespace
}  // namespace medulla::telemetry
