// SeriesStore checkpoints spread over a cycle: each commit writes the share of the series that
// is due by the clock (or by the pending rows added), the pending rows go only once a cycle has
// visited every series, and a crash part-way through a cycle keeps every acknowledged reading
// once, in the raw readings and in the rollups.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "telemetry/series_store_fixture.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace medulla::telemetry {
namespace {

using monitor::Vital;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kT0 = 1'795'248'000'000;  // 2026-11-21T08:00:00Z
constexpr int kSeries = 100;

std::string Patient(int i) {
  std::string name = "p";
  return name.append(std::to_string(i));
}

// Minutes [from, to) of heart rate for patients [0, kSeries), in one batch.
std::vector<StoredReading> Readings(int from, int to) {
  std::vector<StoredReading> out;
  for (int p = 0; p < kSeries; ++p) {
    for (int m = from; m < to; ++m) {
      out.push_back({Patient(p), Vital::kHeartRate, kT0 + m * kMinute, 50.0 + p + m % 7});
    }
  }
  return out;
}

// One number from the store's file, read through a connection of the test's own.
int64_t Count(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t n = -1;
  if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

class SeriesStoreCheckpointTest : public SeriesStoreFixture {
 protected:
  // The fixture's, paced by the test's clock over a one-minute cycle.
  SeriesStoreOptions Options(const std::string& name = "telemetry.db") const {
    SeriesStoreOptions o = SeriesStoreFixture::Options(name);
    o.checkpoint_interval_ms = 60'000;
    o.clock = &clock_;
    return o;
  }
  // A commit with nothing in it, which writes what is due by now.
  void Commit(SeriesStore& s) { ASSERT_TRUE(s.AppendSync({}).has_value()); }
  static int64_t SeriesOnDisk(const std::string& path) {
    return Count(path, "SELECT COUNT(DISTINCT series) FROM blocks");
  }
  static int64_t PendingRows(const std::string& path) {
    return Count(path, "SELECT COUNT(*) FROM pending");
  }
  // Every patient's minutes [0, to) are there exactly once, raw and in the hourly rollup.
  void ExpectAll(const SeriesStore& s, int to) {
    for (int p = 0; p < kSeries; ++p) {
      auto points = s.Read(Patient(p), Vital::kHeartRate, INT64_MIN, INT64_MAX, SIZE_MAX);
      ASSERT_TRUE(points.has_value()) << points.error().message();
      ASSERT_EQ(points->size(), static_cast<size_t>(to)) << p;
      for (int m = 0; m < to; ++m) {
        ASSERT_EQ((*points)[static_cast<size_t>(m)].time_ms, kT0 + m * kMinute) << p;
      }
      auto rollups =
          s.ReadRollups(Patient(p), Vital::kHeartRate, kT0, kT0 + to * kMinute, 60 * kMinute, 10);
      ASSERT_TRUE(rollups.has_value()) << rollups.error().message();
      ASSERT_EQ(rollups->size(), 1u);
      EXPECT_EQ((*rollups)[0].count, static_cast<uint64_t>(to)) << p;
      EXPECT_EQ((*rollups)[0].min, 50.0 + p) << p;
    }
  }

  medulla::testing::FakeClock clock_{kT0 / 1000};
};

TEST_F(SeriesStoreCheckpointTest, EachCommitWritesTheShareOfTheSeriesDueByTheClock) {
  const auto o = Options();
  auto s = Open(o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(Readings(0, 10)).has_value());
  Commit(*s);
  EXPECT_EQ(SeriesOnDisk(o.path), 0);  // nothing is due yet
  EXPECT_EQ(PendingRows(o.path), 1);   // an empty commit writes no row

  clock_.AdvanceMicros(15'000'000);  // a quarter of the cycle
  Commit(*s);
  EXPECT_EQ(SeriesOnDisk(o.path), kSeries / 4);
  EXPECT_EQ(PendingRows(o.path), 1);  // still needed by the series not yet written
  ExpectAll(*s, 10);

  // Crashed here: the series written skip the pending rows they cover, the others replay them.
  {
    auto crashed = Open(CopyAsCrashed(o, "crash1.db"));
    ASSERT_TRUE(crashed);
    ExpectAll(*crashed, 10);
    EXPECT_EQ(crashed->Stats().readings, static_cast<uint64_t>(kSeries * 10));
  }

  clock_.AdvanceMicros(15'000'000);  // half
  ASSERT_TRUE(s->AppendSync(Readings(10, 20)).has_value());
  EXPECT_EQ(SeriesOnDisk(o.path), kSeries / 2);
  ExpectAll(*s, 20);

  clock_.AdvanceMicros(30'000'000);  // the cycle's end: all written
  Commit(*s);
  EXPECT_EQ(SeriesOnDisk(o.path), kSeries);
  // The pending rows a cycle deletes are those applied before it began: none for the first.
  EXPECT_EQ(PendingRows(o.path), 2);
  ExpectAll(*s, 20);
  {
    auto crashed = Open(CopyAsCrashed(o, "crash2.db"));
    ASSERT_TRUE(crashed);
    ExpectAll(*crashed, 20);
    EXPECT_EQ(crashed->Stats().readings, static_cast<uint64_t>(kSeries * 20));
  }

  // The next cycle: the first half of the series was written at 30 s into the last one but
  // has readings since (minutes 10 to 20): by a third of this cycle, a third of them is written
  // again, and a crash keeps everything once.
  clock_.AdvanceMicros(20'000'000);
  ASSERT_TRUE(s->AppendSync(Readings(20, 30)).has_value());
  Commit(*s);
  ExpectAll(*s, 30);
  EXPECT_EQ(PendingRows(o.path), 3);
  clock_.AdvanceMicros(40'000'000);  // the second cycle's end: the first's rows go
  Commit(*s);
  EXPECT_EQ(PendingRows(o.path), 1);
  ExpectAll(*s, 30);
  auto crashed = Open(CopyAsCrashed(o, "crash3.db"));
  ASSERT_TRUE(crashed);
  ExpectAll(*crashed, 30);
  ASSERT_TRUE(crashed->Checkpoint().ok());
  ExpectAll(*crashed, 30);
  EXPECT_EQ(PendingRows(Options("crash3.db").path), 0);
  crashed.reset();
  crashed = Open(Options("crash3.db"));
  ASSERT_TRUE(crashed);
  ExpectAll(*crashed, 30);
}

TEST_F(SeriesStoreCheckpointTest, PendingRowsPilingUpHastenTheCycle) {
  auto o = Options();
  o.checkpoint_interval_ms = 3'600'000;
  o.checkpoint_pending_rows = 10;
  auto s = Open(o);
  ASSERT_TRUE(s);
  // One row with every series, then rows of one reading each: the share due is counted from
  // the rows added since the cycle began, before each commit's own.
  ASSERT_TRUE(s->AppendSync(Readings(0, 1)).has_value());
  auto one_more = [&, minute = 100]() mutable {
    ASSERT_TRUE(
        s->AppendSync({{"other", Vital::kHeartRate, kT0 + minute++ * kMinute, 70.0}}).has_value());
  };
  for (int i = 0; i < 4; ++i) one_more();  // 5 rows; 4 before the last commit
  EXPECT_EQ(SeriesOnDisk(o.path), 40);
  one_more();
  EXPECT_EQ(SeriesOnDisk(o.path), 50);
  for (int i = 0; i < 5; ++i) one_more();  // the 11th commit sees 10 rows: the cycle ends
  EXPECT_EQ(SeriesOnDisk(o.path), kSeries + 1);
  EXPECT_EQ(PendingRows(o.path), 11);  // the first cycle covers no earlier rows
  // The 11th row after those ends the next cycle, which deletes them.
  for (int i = 0; i < 10; ++i) one_more();
  EXPECT_EQ(PendingRows(o.path), 21);
  one_more();
  EXPECT_EQ(PendingRows(o.path), 11);
  ExpectAll(*s, 1);
}

TEST_F(SeriesStoreCheckpointTest, ALoneSeriesIsWrittenOnceACycleNotAtEveryCommit) {
  const auto o = Options();
  auto s = Open(o);
  ASSERT_TRUE(s);
  for (int m = 0; m < 5; ++m) {
    clock_.AdvanceMicros(11'000'000);
    ASSERT_TRUE(s->AppendSync({{"solo", Vital::kHeartRate, kT0 + m * kMinute, 60.0}}).has_value());
    EXPECT_EQ(Count(o.path, "SELECT COUNT(*) FROM blocks"), 0) << m;
  }
  clock_.AdvanceMicros(6'000'000);
  Commit(*s);
  EXPECT_EQ(Count(o.path, "SELECT SUM(count) FROM blocks"), 5);
}

// Rollup reads while checkpoints come and go: the memory and disk parts of a read always belong
// together (each series row's version), so nothing is counted twice or missed.
TEST_F(SeriesStoreCheckpointTest, RollupReadsStayExactAcrossPartialCheckpoints) {
  const auto o = Options();
  auto s = Open(o);
  ASSERT_TRUE(s);
  for (int m = 0; m < 40; m += 2) {
    ASSERT_TRUE(s->AppendSync(Readings(m, m + 2)).has_value());
    clock_.AdvanceMicros(7'000'000);
    ExpectAll(*s, m + 2);
  }
  s.reset();
  s = Open(o);
  ASSERT_TRUE(s);
  ExpectAll(*s, 40);
  EXPECT_EQ(PendingRows(o.path), 0);  // closing wrote everything
}

}  // namespace
}  // namespace medulla::telemetry
