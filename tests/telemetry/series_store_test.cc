// SeriesStore: ordered reads, merge of late readings, duplicate handling, block rollover,
// durability across reopen and a simulated crash, range reads, storage density, backpressure.
#include "telemetry/series_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

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

class SeriesStoreTest : public ::testing::Test {
 protected:
  SeriesStoreOptions Options(const std::string& name = "telemetry.db") const {
    SeriesStoreOptions o;
    o.path = (std::filesystem::path(dir_.path()) / name).string();
    o.block_points = 16;
    return o;
  }
  std::unique_ptr<SeriesStore> Open(const SeriesStoreOptions& o) {
    auto s = SeriesStore::Open(o);
    EXPECT_TRUE(s.has_value()) << s.error().message();
    return s.has_value() ? std::move(*s) : nullptr;
  }
  std::vector<Point> ReadAll(const SeriesStore& s, const std::string& patient,
                             Vital v = Vital::kHeartRate) {
    auto r = s.Read(patient, v, INT64_MIN, INT64_MAX, SIZE_MAX);
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r.has_value() ? *r : std::vector<Point>{};
  }

  testing::TempDir dir_;
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

  const auto from = std::filesystem::path(Options().path);
  const auto to = std::filesystem::path(Options("crash.db").path);
  std::filesystem::copy_file(from, to);
  if (std::filesystem::exists(from.string() + "-wal")) {
    std::filesystem::copy_file(from.string() + "-wal", to.string() + "-wal");
  }
  auto copy = Open(Options("crash.db"));
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
  const auto from = std::filesystem::path(o.path);
  const auto to = std::filesystem::path(Options("crash.db").path);
  std::filesystem::copy_file(from, to);
  if (std::filesystem::exists(from.string() + "-wal")) {
    std::filesystem::copy_file(from.string() + "-wal", to.string() + "-wal");
  }
  auto copy = Open(Options("crash.db"));
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

TEST_F(SeriesStoreTest, VitalsOfListsThePatientsSeries) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->VitalsOf("p1").empty());
  ASSERT_TRUE(s->AppendSync({R("p1", Vital::kSpO2, kT0, 97), R("p1", Vital::kHeartRate, kT0, 70),
                             R("p2", Vital::kTemperature, kT0, 37)})
                  .has_value());
  EXPECT_EQ(s->VitalsOf("p1"), (std::vector<Vital>{Vital::kHeartRate, Vital::kSpO2}));
  EXPECT_EQ(s->VitalsOf("p2"), (std::vector<Vital>{Vital::kTemperature}));
  EXPECT_TRUE(s->VitalsOf("p3").empty());
  s.reset();
  s = Open(Options());
  EXPECT_EQ(s->VitalsOf("p1"), (std::vector<Vital>{Vital::kHeartRate, Vital::kSpO2}));
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

}  // namespace
}  // namespace medulla::telemetry
