#include "core/time.h"

#include <gtest/gtest.h>

namespace medulla::core {
namespace {

constexpr int64_t kSec = 1000000;

TEST(TimeTest, FormatsInstantAndHttpDate) {
  // 2026-11-21T08:00:00.123Z
  MicrosSinceEpoch t = 1795248000LL * kSec + 123456;
  EXPECT_EQ(FormatInstant(t), "2026-11-21T08:00:00.123Z");
  EXPECT_EQ(FormatHttpDate(t), "Sat, 21 Nov 2026 08:00:00 GMT");
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00.000Z");
}

TEST(TimeTest, DateCoversWholeDay) {
  auto r = ParseFhirDateTimeRange("2026-11-21");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->begin, 1795219200LL * kSec);
  EXPECT_EQ(r->end - r->begin, 86400 * kSec);
}

TEST(TimeTest, YearAndMonthPrecision) {
  auto y = ParseFhirDateTimeRange("2024");
  ASSERT_TRUE(y);
  EXPECT_EQ(y->end - y->begin, 366 * 86400 * kSec);  // leap year
  auto m = ParseFhirDateTimeRange("2023-02");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->end - m->begin, 28 * 86400 * kSec);
}

TEST(TimeTest, ZonesAndFractions) {
  auto z = ParseFhirDateTimeRange("2026-11-21T10:00:00+02:00");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->begin, 1795248000LL * kSec);
  EXPECT_EQ(z->end - z->begin, kSec);
  auto f = ParseFhirDateTimeRange("2026-11-21T08:00:00.5Z");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->begin, 1795248000LL * kSec + 500000);
  EXPECT_EQ(f->end - f->begin, 100000);
}

TEST(TimeTest, RejectsInvalid) {
  for (const char* bad :
       {"03/02/1958", "2026-13-01", "2026-02-30", "2026-11-21T08:00", "2026-11-21T08:00:00",
        "2026-11-21T25:00:00Z", "20261121", "2026-1-1", "2026-11-21T08:00:00.Z", ""}) {
    EXPECT_FALSE(ParseFhirDateTimeRange(bad)) << bad;
  }
}

}  // namespace
}  // namespace medulla::core
