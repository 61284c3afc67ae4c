// Pending rows: quality and rr round trip, rows written before they were stored still decode,
// and damaged rows are refused rather than read past their end.
#include "telemetry/pending_row.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

namespace medulla::telemetry {
namespace {

using monitor::Vital;

constexpr int64_t kT0 = 1'795'248'000'000;

std::vector<StoredReading> Batch() {
  return {
      {"p1", Vital::kHeartRate, kT0, 72, 0.93f, {812, 798, 805}},
      {"p1", Vital::kHeartRate, kT0 + 60'000, 73, NAN, {}},
      {"p2", Vital::kSpO2, kT0, 97, 1.0f, {}},
      {std::string(255, 'x'), Vital::kTemperature, kT0, 37.25, NAN,
       std::vector<uint16_t>(kMaxRrPerReading, 65535)},
  };
}

void ExpectSame(const std::vector<StoredReading>& got, const std::vector<StoredReading>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].patient, want[i].patient) << i;
    EXPECT_EQ(got[i].vital, want[i].vital) << i;
    EXPECT_EQ(got[i].time_ms, want[i].time_ms) << i;
    EXPECT_EQ(got[i].value, want[i].value) << i;
    EXPECT_EQ(std::isnan(got[i].quality), std::isnan(want[i].quality)) << i;
    if (!std::isnan(want[i].quality)) {
      EXPECT_EQ(std::bit_cast<uint32_t>(got[i].quality), std::bit_cast<uint32_t>(want[i].quality));
    }
    EXPECT_EQ(got[i].rr_ms, want[i].rr_ms) << i;
  }
}

TEST(PendingRowTest, QualityAndRrRoundTrip) {
  std::string row;
  EncodePendingRow(Batch(), row);
  std::vector<StoredReading> out;
  ASSERT_TRUE(DecodePendingRow(row, out));
  ExpectSame(out, Batch());
}

TEST(PendingRowTest, EmptyBatchRoundTrips) {
  std::string row;
  EncodePendingRow({}, row);
  std::vector<StoredReading> out;
  EXPECT_TRUE(DecodePendingRow(row, out));
  EXPECT_TRUE(DecodePendingRow("", out));
  EXPECT_TRUE(out.empty());
}

// The layout rows had before quality and rr were stored, written out by hand.
TEST(PendingRowTest, VersionOneRowsStillDecode) {
  std::string row;
  for (const auto& [vital, patient, time, value] :
       {std::tuple{Vital::kHeartRate, std::string("p1"), kT0, 72.0},
        std::tuple{Vital::kTemperature, std::string("patient-2"), kT0 + 1, 36.8}}) {
    row.push_back(static_cast<char>(vital));
    row.push_back(static_cast<char>(patient.size()));
    row += patient;
    char buf[16];
    std::memcpy(buf, &time, 8);
    std::memcpy(buf + 8, &value, 8);
    row.append(buf, 16);
  }
  std::vector<StoredReading> out;
  ASSERT_TRUE(DecodePendingRow(row, out));
  ExpectSame(out, {{"p1", Vital::kHeartRate, kT0, 72, NAN, {}},
                   {"patient-2", Vital::kTemperature, kT0 + 1, 36.8, NAN, {}}});
}

TEST(PendingRowTest, DamagedRowsAreRefused) {
  std::string row;
  EncodePendingRow(Batch(), row);
  // Every truncation is refused but those that end where a reading does.
  size_t accepted = 0;
  for (size_t n = 1; n < row.size(); ++n) {
    std::vector<StoredReading> out;
    if (DecodePendingRow(row.substr(0, n), out)) ++accepted;
  }
  EXPECT_EQ(accepted, Batch().size());  // the version byte alone, or after reading 1, 2 or 3
  std::string bad = row;
  bad[1] = static_cast<char>(monitor::kVitalCount);  // no such vital
  std::vector<StoredReading> out;
  EXPECT_FALSE(DecodePendingRow(bad, out));
  bad = row;
  bad[2] = static_cast<char>(bad[2] | 4);  // unknown flag
  EXPECT_FALSE(DecodePendingRow(bad, out));
}

}  // namespace
}  // namespace medulla::telemetry
