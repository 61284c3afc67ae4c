// SeriesStore: ordered reads, merge of late readings, duplicate handling, block rollover,
// durability across reopen and a simulated crash, range reads, storage density, backpressure,
// quality and rr intervals, stores written before those were kept. Rollups:
// series_store_rollup_test.cc.
#include "telemetry/series_store.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "telemetry/gorilla.h"
#include "telemetry/series_store_fixture.h"
#include "testing/temp_dir.h"

namespace medulla::telemetry {
namespace {

using monitor::Vital;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kT0 = 1'795'248'000'000;  // 2026-11-21T08:00:00Z

StoredReading R(const std::string& patient, Vital v, int64_t t, double value) {
  return StoredReading{patient, v, t, value};
}

// Per-minute heart rates from minute `from` (inclusive) to `to` (exclusive).
std::vector<StoredReading> Minutes(const std::string& patient, int from, int to) {
  std::vector<StoredReading> out;
  for (int m = from; m < to; ++m)
    out.push_back(R(patient, Vital::kHeartRate, kT0 + m * kMinute, 60 + m % 40));
  return out;
}

// Expects points to be exactly minutes [from, to) with the values Minutes() gives.
void ExpectMinutes(const std::vector<Point>& points, int from, int to) {
  ASSERT_EQ(points.size(), static_cast<size_t>(to - from));
  for (int m = from; m < to; ++m) {
    const auto& p = points[static_cast<size_t>(m - from)];
    ASSERT_EQ(p.time_ms, kT0 + m * kMinute) << m;
    ASSERT_EQ(p.value, 60 + m % 40) << m;
  }
}

class SeriesStoreTest : public SeriesStoreFixture {
 protected:
  std::vector<Point> ReadAll(const SeriesStore& s, const std::string& patient,
                             Vital v = Vital::kHeartRate) {
    auto r = s.Read(patient, v, INT64_MIN, INT64_MAX, SIZE_MAX);
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r.has_value() ? *r : std::vector<Point>{};
  }
  std::vector<RrReading> ReadAllRr(const SeriesStore& s, const std::string& patient,
                                   Vital v = Vital::kHeartRate) {
    auto r = s.ReadRr(patient, v, INT64_MIN, INT64_MAX, SIZE_MAX);
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r.has_value() ? *r : std::vector<RrReading>{};
  }
};

TEST_F(SeriesStoreTest, AppendThenReadInOrder) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  auto r = s->AppendSync(Minutes("p1", 0, 10));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->stored, 10u);
  EXPECT_EQ(r->duplicates, 0u);
  ExpectMinutes(ReadAll(*s, "p1"), 0, 10);
  EXPECT_TRUE(ReadAll(*s, "p2").empty());
  EXPECT_TRUE(ReadAll(*s, "p1", Vital::kSpO2).empty());
  EXPECT_EQ(s->Stats().readings, 10u);
  EXPECT_EQ(s->Stats().series, 1u);
}

TEST_F(SeriesStoreTest, OutOfOrderPointsAreMerged) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  // Even minutes first, then the odd ones in reverse.
  std::vector<StoredReading> even, odd;
  for (const auto& r : Minutes("p1", 0, 40))
    ((r.time_ms - kT0) / kMinute % 2 == 0 ? even : odd).push_back(r);
  std::reverse(odd.begin(), odd.end());
  ASSERT_EQ(s->AppendSync(even)->stored, 20u);
  auto r = s->AppendSync(odd);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->stored, 20u);
  EXPECT_EQ(r->duplicates, 0u);
  ExpectMinutes(ReadAll(*s, "p1"), 0, 40);
  ASSERT_TRUE(s->Checkpoint().ok());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 40);
  s.reset();
  s = Open(Options());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 40);
}

TEST_F(SeriesStoreTest, DuplicatesInTheOpenBlockAreCountedAndDropped) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 0, 10)).has_value());
  // The last one again, an earlier one again with another value, and a new one.
  std::vector<StoredReading> batch = {R("p1", Vital::kHeartRate, kT0 + 9 * kMinute, 1),
                                      R("p1", Vital::kHeartRate, kT0 + 3 * kMinute, 2),
                                      R("p1", Vital::kHeartRate, kT0 + 10 * kMinute, 60 + 10)};
  auto r = s->AppendSync(batch);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->stored, 1u);
  EXPECT_EQ(r->duplicates, 2u);
  ExpectMinutes(ReadAll(*s, "p1"), 0, 11);  // first write wins
  EXPECT_EQ(s->Stats().readings, 11u);
}

TEST_F(SeriesStoreTest, DuplicateLateReadingsAreDropped) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 10, 14)).has_value());
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 0, 2)).has_value());  // late
  auto r = s->AppendSync(Minutes("p1", 0, 2));                  // and again
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->stored, 0u);
  EXPECT_EQ(r->duplicates, 2u);
  // Within one batch too.
  auto twice = s->AppendSync({R("p1", Vital::kHeartRate, kT0 + 5 * kMinute, 65),
                              R("p1", Vital::kHeartRate, kT0 + 5 * kMinute, 99)});
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(twice->stored, 1u);
  EXPECT_EQ(twice->duplicates, 1u);
  const auto points = ReadAll(*s, "p1");
  ASSERT_EQ(points.size(), 7u);
  EXPECT_EQ(points[2].time_ms, kT0 + 5 * kMinute);
  EXPECT_EQ(points[2].value, 65);
}

// A device retransmits a batch whose readings are already in closed blocks (a lost
// acknowledgement). Every reading is a duplicate: none is stored or counted again.
TEST_F(SeriesStoreTest, RetransmittedOlderBatchIsAllDuplicates) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 0, 40)).has_value());  // blocks of 16: 2 closed
  auto r = s->AppendSync(Minutes("p1", 0, 10));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->stored, 0u);
  EXPECT_EQ(r->duplicates, 10u);
  EXPECT_EQ(s->Stats().readings, 40u);
  ExpectMinutes(ReadAll(*s, "p1"), 0, 40);
}

// First write wins for a late duplicate of a reading in a closed block, too: a corrected
// retransmission does not replace what was acknowledged first.
TEST_F(SeriesStoreTest, FirstWriteWinsOverLateDuplicateOfClosedBlock) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 0, 40)).has_value());
  ASSERT_TRUE(s->AppendSync({R("p1", Vital::kHeartRate, kT0 + 3 * kMinute, 200)}).has_value());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 40);
  ASSERT_TRUE(s->Checkpoint().ok());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 40);
}

TEST_F(SeriesStoreTest, RetransmissionAfterCheckpointAndReopenIsAllDuplicates) {
  {
    auto s = Open(Options());
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->AppendSync(Minutes("p1", 0, 20)).has_value());
    ASSERT_TRUE(s->Checkpoint().ok());
    auto r = s->AppendSync(Minutes("p1", 0, 20));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->duplicates, 20u);
  }
  auto s = Open(Options());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Stats().readings, 20u);
  auto r = s->AppendSync(Minutes("p1", 15, 25));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->stored, 5u);
  EXPECT_EQ(r->duplicates, 5u);
  ExpectMinutes(ReadAll(*s, "p1"), 0, 25);
}

TEST_F(SeriesStoreTest, BlocksRollOverAndReadsAcrossBlocksAreComplete) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  // One reading per batch for a while, then big batches, crossing many block boundaries.
  for (int m = 0; m < 20; ++m) ASSERT_TRUE(s->AppendSync(Minutes("p1", m, m + 1)).has_value());
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 20, 100)).has_value());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 100);
  ASSERT_TRUE(s->Checkpoint().ok());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 100);
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 100, 137)).has_value());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 137);
  ASSERT_TRUE(s->Checkpoint().ok());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 137);
  // A range starting and ending inside blocks.
  auto part = s->Read("p1", Vital::kHeartRate, kT0 + 7 * kMinute, kT0 + 71 * kMinute, SIZE_MAX);
  ASSERT_TRUE(part.has_value());
  ExpectMinutes(*part, 7, 71);
  EXPECT_EQ(s->Stats().readings, 137u);
}

TEST_F(SeriesStoreTest, CheckpointThenReopenReturnsEverything) {
  {
    auto s = Open(Options());
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->AppendSync(Minutes("p1", 0, 50)).has_value());
    ASSERT_TRUE(s->AppendSync({R("p2", Vital::kSpO2, kT0, 97), R("p2", Vital::kSpO2, kT0 + 1, 96)})
                    .has_value());
    ASSERT_TRUE(s->Checkpoint().ok());
    ASSERT_TRUE(s->AppendSync(Minutes("p1", 50, 60)).has_value());  // after the checkpoint
  }
  auto s = Open(Options());
  ASSERT_TRUE(s);
  ExpectMinutes(ReadAll(*s, "p1"), 0, 60);
  const auto spo2 = ReadAll(*s, "p2", Vital::kSpO2);
  ASSERT_EQ(spo2.size(), 2u);
  EXPECT_EQ(spo2[1].value, 96);
  EXPECT_EQ(s->Stats().readings, 62u);
  // Appending continues the series.
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 60, 70)).has_value());
  ExpectMinutes(ReadAll(*s, "p1"), 0, 70);
}

// kill -9: copy the database and its WAL while the store is open, after AppendSync returned,
// and open the copy. Every acknowledged reading must be there.
TEST_F(SeriesStoreTest, AcknowledgedReadingsSurviveACrash) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 0, 30)).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 30, 45)).has_value());
  ASSERT_TRUE(s->AppendSync({R("p2", Vital::kTemperature, kT0, 37.25)}).has_value());
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 5, 8)).has_value());  // duplicates, acknowledged

  auto copy = Open(CopyAsCrashed(Options(), "crash.db"));
  ASSERT_TRUE(copy);
  ExpectMinutes(ReadAll(*copy, "p1"), 0, 45);
  const auto temp = ReadAll(*copy, "p2", Vital::kTemperature);
  ASSERT_EQ(temp.size(), 1u);
  EXPECT_EQ(temp[0].value, 37.25);
  // The original is unaffected.
  ExpectMinutes(ReadAll(*s, "p1"), 0, 45);
}

TEST_F(SeriesStoreTest, CrashWithoutAnyCheckpoint) {
  SeriesStoreOptions o = Options();
  o.checkpoint_interval_ms = 3'600'000;
  auto s = Open(o);
  ASSERT_TRUE(s);
  for (int m = 0; m < 50; m += 5) ASSERT_TRUE(s->AppendSync(Minutes("p1", m, m + 5)).has_value());
  auto copy = Open(CopyAsCrashed(o, "crash.db"));
  ASSERT_TRUE(copy);
  ExpectMinutes(ReadAll(*copy, "p1"), 0, 50);
}

TEST_F(SeriesStoreTest, ReadRangeIsHalfOpenAndLimited) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(Minutes("p1", 0, 50)).has_value());
  auto check = [&](SeriesStore& store) {
    auto r = store.Read("p1", Vital::kHeartRate, kT0 + 10 * kMinute, kT0 + 20 * kMinute, SIZE_MAX);
    ASSERT_TRUE(r.has_value());
    ExpectMinutes(*r, 10, 20);  // from inclusive, to exclusive
    r = store.Read("p1", Vital::kHeartRate, kT0 + 10 * kMinute + 1, kT0 + 20 * kMinute + 1,
                   SIZE_MAX);
    ASSERT_TRUE(r.has_value());
    ExpectMinutes(*r, 11, 21);
    r = store.Read("p1", Vital::kHeartRate, kT0 + 10 * kMinute, kT0 + 40 * kMinute, 5);
    ASSERT_TRUE(r.has_value());
    ExpectMinutes(*r, 10, 15);  // the earliest `limit`
    r = store.Read("p1", Vital::kHeartRate, kT0 + 10 * kMinute, kT0 + 10 * kMinute, SIZE_MAX);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->empty());
    r = store.Read("p1", Vital::kHeartRate, kT0 + 50 * kMinute, INT64_MAX, SIZE_MAX);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->empty());
    r = store.Read("p1", Vital::kHeartRate, kT0, kT0 + 50 * kMinute, 0);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->empty());
  };
  check(*s);
  ASSERT_TRUE(s->Checkpoint().ok());
  check(*s);
  s.reset();
  s = Open(Options());
  check(*s);
}

TEST_F(SeriesStoreTest, VitalsOfAndPatientsListTheSeries) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->VitalsOf("p1").empty());
  ASSERT_TRUE(s->Patients().has_value());
  EXPECT_TRUE(s->Patients()->empty());
  ASSERT_TRUE(s->AppendSync({R("p1", Vital::kSpO2, kT0, 97), R("p1", Vital::kHeartRate, kT0, 70),
                             R("p2", Vital::kTemperature, kT0, 37)})
                  .has_value());
  EXPECT_EQ(s->VitalsOf("p1"), (std::vector<Vital>{Vital::kHeartRate, Vital::kSpO2}));
  EXPECT_EQ(s->VitalsOf("p2"), (std::vector<Vital>{Vital::kTemperature}));
  EXPECT_TRUE(s->VitalsOf("p3").empty());
  s.reset();
  s = Open(Options());
  EXPECT_EQ(s->VitalsOf("p1"), (std::vector<Vital>{Vital::kHeartRate, Vital::kSpO2}));
  EXPECT_EQ(*s->Patients(), (std::vector<std::string>{"p1", "p2"}));
}

TEST_F(SeriesStoreTest, PerMinuteReadingsTakeAtMostThreeBytesEach) {
  SeriesStoreOptions o = Options();
  o.block_points = 1024;  // the default
  auto s = Open(o);
  ASSERT_TRUE(s);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> step(-2, 2);
  int hr = 72;
  std::vector<StoredReading> batch;
  for (int m = 0; m < 10'000; ++m) {
    hr = std::clamp(hr + step(rng), 55, 95);
    batch.push_back(R("p1", Vital::kHeartRate, kT0 + m * kMinute, hr));
    if (batch.size() == 500) {
      ASSERT_TRUE(s->AppendSync(std::move(batch)).has_value());
      batch.clear();
    }
  }
  ASSERT_TRUE(s->Checkpoint().ok());
  const auto stats = s->Stats();
  EXPECT_EQ(stats.readings, 10'000u);
  ASSERT_GT(stats.block_bytes, 0u);
  EXPECT_LE(static_cast<double>(stats.block_bytes) / static_cast<double>(stats.readings), 3.0)
      << stats.block_bytes << " bytes";
  EXPECT_EQ(ReadAll(*s, "p1").size(), 10'000u);
  // The same figure after a reopen, which sums the blocks on disk.
  s.reset();
  s = Open(o);
  ASSERT_TRUE(s);
  const auto reopened = s->Stats();
  EXPECT_EQ(reopened.readings, 10'000u);
  EXPECT_EQ(reopened.block_bytes, stats.block_bytes);
  EXPECT_LE(static_cast<double>(reopened.block_bytes) / 10'000.0, 3.0);
}

TEST_F(SeriesStoreTest, AppendBeyondMaxQueuedIsResourceExhausted) {
  SeriesStoreOptions o = Options();
  o.max_queued_readings = 10;
  auto s = Open(o);
  ASSERT_TRUE(s);
  auto big = s->AppendSync(Minutes("p1", 0, 11));
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), core::Code::kResourceExhausted);
  EXPECT_TRUE(ReadAll(*s, "p1").empty());
  auto ok = s->AppendSync(Minutes("p1", 0, 10));
  ASSERT_TRUE(ok.has_value()) << ok.error().message();
  EXPECT_EQ(ok->stored, 10u);
  EXPECT_EQ(s->Stats().queued, 0u);
}

TEST_F(SeriesStoreTest, AppendCallbackRunsAndBadPatientIdsAreRefused) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  std::promise<core::Status> done;
  s->Append(Minutes("p1", 0, 3), [&](core::Status st, AppendResult r) {
    EXPECT_EQ(r.stored, st.ok() ? 3u : 0u);
    done.set_value(std::move(st));
  });
  EXPECT_TRUE(done.get_future().get().ok());
  auto empty = s->AppendSync({R("", Vital::kHeartRate, kT0, 70)});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), core::Code::kInvalidArgument);
  auto long_id = s->AppendSync({R(std::string(256, 'x'), Vital::kHeartRate, kT0, 70)});
  ASSERT_FALSE(long_id.has_value());
  EXPECT_EQ(long_id.error().code(), core::Code::kInvalidArgument);
}

// ---- Quality and rr intervals ----

// Per-minute heart rate with a quality on most readings and rr intervals on some.
std::vector<StoredReading> WithQualityAndRr(const std::string& patient, int from, int to) {
  auto out = Minutes(patient, from, to);
  for (auto& r : out) {
    const int m = static_cast<int>((r.time_ms - kT0) / kMinute);
    if (m % 5 != 4) r.quality = static_cast<float>((70 + m % 31) / 100.0);
    if (m % 3 == 0) {
      for (int k = 0; k < 60; ++k) r.rr_ms.push_back(static_cast<uint16_t>(900 + (m * 7 + k) % 50));
    }
  }
  return out;
}

// Expects exactly the readings WithQualityAndRr gives for the minutes in `minutes`.
void ExpectQualityAndRr(const std::vector<Point>& points, const std::vector<RrReading>& rr,
                        const std::vector<int>& minutes) {
  std::vector<StoredReading> want;
  for (int m : minutes) want.push_back(WithQualityAndRr("p", m, m + 1)[0]);
  ASSERT_EQ(points.size(), want.size());
  size_t with_rr = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(points[i].time_ms, want[i].time_ms) << i;
    ASSERT_EQ(points[i].value, want[i].value) << i;
    if (std::isnan(want[i].quality)) {
      ASSERT_TRUE(std::isnan(points[i].quality)) << i;
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(points[i].quality),
                std::bit_cast<uint32_t>(want[i].quality))
          << i;
    }
    if (want[i].rr_ms.empty()) continue;
    ASSERT_LT(with_rr, rr.size());
    ASSERT_EQ(rr[with_rr].time_ms, want[i].time_ms);
    ASSERT_EQ(rr[with_rr].rr_ms, want[i].rr_ms);
    ++with_rr;
  }
  EXPECT_EQ(with_rr, rr.size());
}

std::vector<int> Range(int from, int to) {
  std::vector<int> out;
  for (int m = from; m < to; ++m) out.push_back(m);
  return out;
}

TEST_F(SeriesStoreTest, QualityAndRrRoundTripThroughMemoryCheckpointAndReopen) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  // Even minutes in order (blocks of 16 roll over), then the odd ones late, in reverse.
  std::vector<StoredReading> even, odd;
  for (auto& r : WithQualityAndRr("p1", 0, 60))
    ((r.time_ms - kT0) / kMinute % 2 == 0 ? even : odd).push_back(std::move(r));
  std::reverse(odd.begin(), odd.end());
  ASSERT_EQ(s->AppendSync(even)->stored, 30u);
  ASSERT_EQ(s->AppendSync(odd)->stored, 30u);
  auto check = [&](const SeriesStore& store) {
    ExpectQualityAndRr(ReadAll(store, "p1"), ReadAllRr(store, "p1"), Range(0, 60));
  };
  check(*s);
  ASSERT_TRUE(s->Checkpoint().ok());
  check(*s);
  ASSERT_TRUE(s->AppendSync(WithQualityAndRr("p1", 60, 70)).has_value());
  s.reset();
  s = Open(Options());
  ASSERT_TRUE(s);
  ExpectQualityAndRr(ReadAll(*s, "p1"), ReadAllRr(*s, "p1"), Range(0, 70));
}

TEST_F(SeriesStoreTest, QualityAndRrSurviveACrash) {
  SeriesStoreOptions o = Options();
  o.checkpoint_interval_ms = 3'600'000;
  auto s = Open(o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(WithQualityAndRr("p1", 0, 30)).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  // Only in pending rows: in order, and late.
  ASSERT_TRUE(s->AppendSync(WithQualityAndRr("p1", 40, 50)).has_value());
  ASSERT_TRUE(s->AppendSync(WithQualityAndRr("p1", 30, 40)).has_value());
  auto copy = Open(CopyAsCrashed(o, "crash.db"));
  ASSERT_TRUE(copy);
  ExpectQualityAndRr(ReadAll(*copy, "p1"), ReadAllRr(*copy, "p1"), Range(0, 50));
  // And once more after the replayed readings are checkpointed in the copy.
  ASSERT_TRUE(copy->Checkpoint().ok());
  copy.reset();
  copy = Open(Options("crash.db"));
  ASSERT_TRUE(copy);
  ExpectQualityAndRr(ReadAll(*copy, "p1"), ReadAllRr(*copy, "p1"), Range(0, 50));
}

TEST_F(SeriesStoreTest, ReadRrIsRangedAndLimited) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(WithQualityAndRr("p1", 0, 30)).has_value());
  auto rr = s->ReadRr("p1", Vital::kHeartRate, kT0 + 4 * kMinute, kT0 + 20 * kMinute, 3);
  ASSERT_TRUE(rr.has_value());
  ASSERT_EQ(rr->size(), 3u);  // minutes 6, 9 and 12 (4 to 20, every third)
  EXPECT_EQ((*rr)[0].time_ms, kT0 + 6 * kMinute);
  EXPECT_EQ((*rr)[2].time_ms, kT0 + 12 * kMinute);
  EXPECT_EQ((*rr)[0].rr_ms.size(), 60u);
  EXPECT_TRUE(ReadAllRr(*s, "p2").empty());
}

TEST_F(SeriesStoreTest, BlocksCloseAtTheirByteLimit) {
  SeriesStoreOptions o = Options();
  o.block_points = 1024;
  o.max_block_bytes = 1000;  // about 15 readings with 60 rr intervals
  auto s = Open(o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->AppendSync(WithQualityAndRr("p1", 0, 200)).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  ExpectQualityAndRr(ReadAll(*s, "p1"), ReadAllRr(*s, "p1"), Range(0, 200));
  s.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(length(data)) FROM blocks", -1, &st, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_GE(sqlite3_column_int(st, 0), 5);
  EXPECT_LT(sqlite3_column_int(st, 1), 1000 + 200);  // the limit plus the last reading
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SeriesStoreTest, AppendRefusesTooManyRrIntervalsAndQualityOutOfRange) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  auto r = R("p1", Vital::kHeartRate, kT0, 70);
  r.rr_ms.assign(kMaxRrPerReading + 1, 800);
  auto too_many = s->AppendSync({r});
  ASSERT_FALSE(too_many.has_value());
  EXPECT_EQ(too_many.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(too_many.error().message().find("256"), std::string::npos);
  r.rr_ms.assign(kMaxRrPerReading, 800);  // the most is fine
  ASSERT_TRUE(s->AppendSync({r}).has_value());
  for (float bad : {-0.01f, 1.01f, INFINITY}) {
    auto q = R("p1", Vital::kHeartRate, kT0 + kMinute, 70);
    q.quality = bad;
    auto refused = s->AppendSync({q});
    ASSERT_FALSE(refused.has_value()) << bad;
    EXPECT_EQ(refused.error().code(), core::Code::kInvalidArgument);
  }
  EXPECT_EQ(ReadAll(*s, "p1").size(), 1u);
}

// A telemetry.db as the store wrote it before quality, rr and rollups were kept: bare Gorilla
// blocks, version-1 pending rows, no rollups or meta table. Everything reads, the blocks get
// their rollups, and new readings carry quality and rr.
TEST_F(SeriesStoreTest, StoreWrittenBeforeQualityAndRrStillReads) {
  const SeriesStoreOptions o = Options();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(o.path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL;"
                     "CREATE TABLE series(id INTEGER PRIMARY KEY, patient TEXT NOT NULL,"
                     " vital INTEGER NOT NULL, UNIQUE(patient, vital));"
                     "CREATE TABLE blocks(id INTEGER PRIMARY KEY, series INTEGER NOT NULL,"
                     " start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, count INTEGER NOT NULL,"
                     " data BLOB NOT NULL);"
                     "CREATE INDEX blocks_by_series ON blocks(series, end_ms);"
                     "CREATE TABLE pending(id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
                     "INSERT INTO series(id, patient, vital) VALUES(1, 'p1', 0);",
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
    GorillaEncoder old(1);
    for (const auto& r : Minutes("p1", 0, 20)) old.Append(r.time_ms, r.value);
    const std::string block = old.Finish();
    std::string pending;  // version 1: vital, patient length, patient, time, value
    for (const auto& r : Minutes("p1", 20, 25)) {
      pending.push_back(static_cast<char>(r.vital));
      pending.push_back(static_cast<char>(r.patient.size()));
      pending += r.patient;
      char buf[16];
      std::memcpy(buf, &r.time_ms, 8);
      std::memcpy(buf + 8, &r.value, 8);
      pending.append(buf, 16);
    }
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "INSERT INTO blocks(series, start_ms, end_ms, count, data) "
                                 "VALUES(1, ?, ?, 20, ?)",
                                 -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, old.first_time());
    sqlite3_bind_int64(st, 2, old.last_time());
    sqlite3_bind_blob(st, 3, block.data(), static_cast<int>(block.size()), SQLITE_STATIC);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT INTO pending(data) VALUES(?)", -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_blob(st, 1, pending.data(), static_cast<int>(pending.size()), SQLITE_STATIC);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  auto s = Open(o);
  ASSERT_TRUE(s);
  auto check = [&](const SeriesStore& store, int to) {
    const auto points = ReadAll(store, "p1");
    ExpectMinutes(points, 0, to);
    for (size_t i = 0; i < 25; ++i) EXPECT_TRUE(std::isnan(points[i].quality)) << i;
    auto rr = store.ReadRr("p1", Vital::kHeartRate, kT0, kT0 + 25 * kMinute, SIZE_MAX);
    ASSERT_TRUE(rr.has_value());
    EXPECT_TRUE(rr->empty());
    // Rollups of the old readings: 5-minute intervals of 60 + m.
    auto rollups =
        store.ReadRollups("p1", Vital::kHeartRate, kT0, kT0 + 25 * kMinute, 5 * kMinute, SIZE_MAX);
    ASSERT_TRUE(rollups.has_value()) << rollups.error().message();
    ASSERT_EQ(rollups->size(), 5u);
    EXPECT_EQ((*rollups)[4].start_ms, kT0 + 20 * kMinute);
    EXPECT_EQ((*rollups)[4].min, 80);
    EXPECT_EQ((*rollups)[4].max, 84);
    EXPECT_EQ((*rollups)[4].mean, 82);
    EXPECT_EQ((*rollups)[4].count, 5u);
  };
  check(*s, 25);
  EXPECT_EQ(s->Stats().readings, 25u);
  auto r = R("p1", Vital::kHeartRate, kT0 + 25 * kMinute, 60 + 25);
  r.quality = 0.5f;
  r.rr_ms = {700, 710};
  ASSERT_TRUE(s->AppendSync({r}).has_value());
  ASSERT_TRUE(s->Checkpoint().ok());
  s.reset();
  s = Open(o);
  ASSERT_TRUE(s);
  check(*s, 26);
  EXPECT_EQ(ReadAll(*s, "p1")[25].quality, 0.5f);
  ASSERT_EQ(ReadAllRr(*s, "p1").size(), 1u);
  EXPECT_EQ(ReadAllRr(*s, "p1")[0].rr_ms, (std::vector<uint16_t>{700, 710}));
}

// The figure: at most 3 bytes per reading on disk for a day of per-minute heart rate
// with realistic noise and a quality on every reading. Printed alongside: the same without
// quality, and with about 60 rr intervals per reading (raw beat data, not held to 3 bytes).
TEST_F(SeriesStoreTest, ADayOfPerMinuteHeartRateWithQualityTakesAtMostThreeBytesEach) {
  constexpr int kReadings = 24 * 60;
  // Heart rate: a daily rhythm (10 beats/min peak to trough) plus an AR(1) wander and beat-to-
  // beat noise, in whole beats as devices send it. Quality: 0.85-1.00 in hundredths, with
  // short motion dips. Rr: 60 s of beats around the minute's rate, +-25 ms apart.
  std::mt19937 rng(2026);
  std::normal_distribution<double> noise(0, 1);
  std::uniform_int_distribution<int> good(85, 100);
  std::bernoulli_distribution dip(0.03);
  std::vector<StoredReading> plain, with_quality, with_rr;
  double wander = 0;
  for (int m = 0; m < kReadings; ++m) {
    wander = 0.95 * wander + noise(rng);
    const double rhythm = 5 * std::sin(2 * M_PI * m / kReadings);
    const double hr = std::round(72 + rhythm + wander + noise(rng));
    auto r = R("p1", Vital::kHeartRate, kT0 + m * kMinute, hr);
    plain.push_back(r);
    r.quality = static_cast<float>((dip(rng) ? good(rng) - 40 : good(rng)) / 100.0);
    with_quality.push_back(r);
    double rr = 60'000.0 / hr;
    for (double t = 0; t < 60'000; t += rr) {
      rr = std::clamp(rr + 25 * noise(rng), 60'000.0 / (hr + 15), 60'000.0 / (hr - 15));
      r.rr_ms.push_back(static_cast<uint16_t>(rr));
    }
    with_rr.push_back(r);
  }
  auto bytes_per_reading = [&](const std::string& name, const std::vector<StoredReading>& all) {
    SeriesStoreOptions o = Options(name);
    o.block_points = 1024;  // the default
    o.max_block_bytes = SeriesStoreOptions{}.max_block_bytes;
    auto s = Open(o);
    EXPECT_TRUE(s);
    if (!s) return 0.0;
    for (size_t i = 0; i < all.size(); i += 60) {  // an hour per batch
      std::vector<StoredReading> batch(all.begin() + static_cast<ptrdiff_t>(i),
                                       all.begin() + static_cast<ptrdiff_t>(i + 60));
      EXPECT_TRUE(s->AppendSync(std::move(batch)).has_value());
    }
    EXPECT_TRUE(s->Checkpoint().ok());
    EXPECT_EQ(s->Stats().readings, static_cast<uint64_t>(kReadings));
    return static_cast<double>(s->Stats().block_bytes) / kReadings;
  };
  const double plain_bytes = bytes_per_reading("plain.db", plain);
  const double quality_bytes = bytes_per_reading("quality.db", with_quality);
  const double rr_bytes = bytes_per_reading("rr.db", with_rr);
  size_t intervals = 0;
  for (const auto& r : with_rr) intervals += r.rr_ms.size();
  std::printf(
      "per-minute heart rate, bytes per reading: %.2f without quality, %.2f with quality, "
      "%.2f with quality and %.1f rr intervals (%.2f bytes per interval)\n",
      plain_bytes, quality_bytes, rr_bytes, static_cast<double>(intervals) / kReadings,
      (rr_bytes - quality_bytes) * kReadings / static_cast<double>(intervals));
  EXPECT_LE(plain_bytes, 3.0);
  EXPECT_LE(quality_bytes, 3.0);
  EXPECT_GT(rr_bytes, quality_bytes);
}

}  // namespace
}  // namespace medulla::telemetry
