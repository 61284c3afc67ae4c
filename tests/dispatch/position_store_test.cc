// The ambulances' last positions kept durably (dispatch/position_store.h), on a real SQLite file
// in a temporary directory: what is saved loads back, a late (older) report does not overwrite
// a newer one, and the positions outlive the store object.
#include "dispatch/position_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "testing/temp_dir.h"

namespace medulla::dispatch {
namespace {

constexpr int64_t kT = 1'750'000'000'000;  // ms

std::vector<PositionReport> Sorted(std::vector<PositionReport> v) {
  std::sort(v.begin(), v.end(),
            [](const PositionReport& a, const PositionReport& b) { return a.device < b.device; });
  return v;
}

void ExpectSame(const PositionReport& got, const PositionReport& want) {
  EXPECT_EQ(got.device, want.device);
  EXPECT_DOUBLE_EQ(got.where.lon, want.where.lon) << want.device;
  EXPECT_DOUBLE_EQ(got.where.lat, want.where.lat) << want.device;
  EXPECT_EQ(got.time_ms, want.time_ms) << want.device;
}

class PositionStoreTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path() + "/positions.db"; }

  std::unique_ptr<PositionStore> Open() {
    auto s = PositionStore::Open(Path());
    EXPECT_TRUE(s.has_value()) << s.error().message();
    return s ? std::move(*s) : nullptr;
  }

  std::vector<PositionReport> Load(PositionStore& s) {
    auto loaded = s.Load();
    EXPECT_TRUE(loaded.has_value()) << loaded.error().message();
    return loaded ? Sorted(std::move(*loaded)) : std::vector<PositionReport>{};
  }

  testing::TempDir dir_;
};

TEST_F(PositionStoreTest, ANewStoreIsEmptyAndMakesItsFile) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(Load(*s).empty());
  EXPECT_TRUE(std::filesystem::exists(Path()));
}

TEST_F(PositionStoreTest, WhatIsSavedLoadsBack) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const std::vector<PositionReport> reports{
      {"amb-1", {-8.6108123, 41.1496456}, kT},
      {"amb-2", {-8.5912, 41.1789}, kT + 1},
      {"amb-3", {0, 0}, 0},
      {"ambulância 4", {-179.9999999, -89.9999999}, -5},
  };
  ASSERT_TRUE(s->Save(reports).ok());
  const auto loaded = Load(*s);
  ASSERT_EQ(loaded.size(), reports.size());
  const auto want = Sorted(reports);
  for (size_t i = 0; i < want.size(); ++i) ExpectSame(loaded[i], want[i]);
}

TEST_F(PositionStoreTest, SavingNothingChangesNothing) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Save({}).ok());
  EXPECT_TRUE(Load(*s).empty());
  const PositionReport one{"amb-1", {1, 2}, kT};
  ASSERT_TRUE(s->Save({&one, 1}).ok());
  ASSERT_TRUE(s->Save({}).ok());
  const auto loaded = Load(*s);
  ASSERT_EQ(loaded.size(), 1u);
  ExpectSame(loaded[0], one);
}

TEST_F(PositionStoreTest, ANewerReportReplacesTheOneKept) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const std::vector<PositionReport> first{{"amb-1", {1, 2}, kT}};
  const std::vector<PositionReport> second{{"amb-1", {3, 4}, kT + 1000}};
  ASSERT_TRUE(s->Save(first).ok());
  ASSERT_TRUE(s->Save(second).ok());
  const auto loaded = Load(*s);
  ASSERT_EQ(loaded.size(), 1u);
  ExpectSame(loaded[0], second[0]);
}

TEST_F(PositionStoreTest, AnOlderReportDoesNotOverwriteANewerOne) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const std::vector<PositionReport> newer{{"amb-1", {3, 4}, kT + 1000}, {"amb-2", {5, 6}, kT}};
  ASSERT_TRUE(s->Save(newer).ok());
  // A late batch: amb-1's report is older than the one kept, amb-2's is newer.
  const std::vector<PositionReport> late{{"amb-1", {1, 2}, kT}, {"amb-2", {7, 8}, kT + 1}};
  ASSERT_TRUE(s->Save(late).ok());
  const auto loaded = Load(*s);
  ASSERT_EQ(loaded.size(), 2u);
  ExpectSame(loaded[0], newer[0]);
  ExpectSame(loaded[1], late[1]);
}

TEST_F(PositionStoreTest, WithinOneBatchTheNewestReportOfADeviceWins) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const std::vector<PositionReport> batch{
      {"amb-1", {3, 4}, kT + 1000}, {"amb-1", {1, 2}, kT}, {"amb-1", {9, 9}, kT + 10}};
  ASSERT_TRUE(s->Save(batch).ok());
  const auto loaded = Load(*s);
  ASSERT_EQ(loaded.size(), 1u);
  ExpectSame(loaded[0], batch[0]);
}

TEST_F(PositionStoreTest, AReportOfTheSameTimeReplacesTheOneKept) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const std::vector<PositionReport> first{{"amb-1", {1, 2}, kT}};
  const std::vector<PositionReport> again{{"amb-1", {3, 4}, kT}};
  ASSERT_TRUE(s->Save(first).ok());
  ASSERT_TRUE(s->Save(again).ok());
  const auto loaded = Load(*s);
  ASSERT_EQ(loaded.size(), 1u);
  ExpectSame(loaded[0], again[0]);
}

TEST_F(PositionStoreTest, ThePositionsOutliveTheStoreObject) {
  const std::vector<PositionReport> reports{{"amb-1", {-8.61, 41.15}, kT},
                                            {"amb-2", {-8.59, 41.17}, kT + 5}};
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Save(reports).ok());
  }
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    const auto loaded = Load(*s);
    ASSERT_EQ(loaded.size(), 2u);
    ExpectSame(loaded[0], reports[0]);
    ExpectSame(loaded[1], reports[1]);
    // The reopened store still refuses to go back in time, and takes newer reports.
    const std::vector<PositionReport> more{
        {"amb-1", {0, 0}, kT - 1}, {"amb-2", {1, 1}, kT + 6}, {"amb-3", {2, 2}, kT}};
    ASSERT_TRUE(s->Save(more).ok());
  }
  auto s = Open();
  ASSERT_NE(s, nullptr);
  const auto loaded = Load(*s);
  ASSERT_EQ(loaded.size(), 3u);
  ExpectSame(loaded[0], reports[0]);
  ExpectSame(loaded[1], {"amb-2", {1, 1}, kT + 6});
  ExpectSame(loaded[2], {"amb-3", {2, 2}, kT});
}

TEST(PositionStoreMemoryTest, AnEmptyPathKeepsPositionsInMemoryOnly) {
  const std::vector<PositionReport> reports{{"amb-1", {1, 2}, kT}};
  {
    auto s = PositionStore::Open("");
    ASSERT_TRUE(s.has_value()) << s.error().message();
    ASSERT_TRUE((*s)->Save(reports).ok());
    auto loaded = (*s)->Load();
    ASSERT_TRUE(loaded.has_value());
    ASSERT_EQ(loaded->size(), 1u);
    ExpectSame((*loaded)[0], reports[0]);
  }
  auto s = PositionStore::Open("");
  ASSERT_TRUE(s.has_value());
  auto loaded = (*s)->Load();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->empty());
}

TEST(PositionStoreOpenTest, AnUnopenablePathIsAnError) {
  testing::TempDir dir;
  EXPECT_FALSE(PositionStore::Open(dir.path() + "/no/such/dir/positions.db").has_value());
}

}  // namespace
}  // namespace medulla::dispatch
