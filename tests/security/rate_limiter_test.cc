// Token buckets per key: bursts, refill, Retry-After, independence of keys, bounded memory.
#include "security/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

#include "testing/fake_clock.h"

namespace medulla::security {
namespace {

constexpr int64_t kSecond = 1'000'000;

TEST(RateLimiterTest, ABurstIsAdmittedThenRefusedWithRetryAfter) {
  testing::FakeClock clock(1'700'000'000);
  RateLimiter limiter({.per_second = 2, .burst = 5}, clock);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Admit("kiosk-7").admitted) << i;
  RateLimiter::Decision refused = limiter.Admit("kiosk-7");
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.retry_after_seconds, 1);  // half a second, rounded up to whole seconds
}

TEST(RateLimiterTest, TheBucketRefillsAtTheRate) {
  testing::FakeClock clock(1'700'000'000);
  RateLimiter limiter({.per_second = 2, .burst = 2}, clock);
  EXPECT_TRUE(limiter.Admit("a").admitted);
  EXPECT_TRUE(limiter.Admit("a").admitted);
  EXPECT_FALSE(limiter.Admit("a").admitted);
  clock.AdvanceMicros(kSecond / 2);  // one request's worth
  EXPECT_TRUE(limiter.Admit("a").admitted);
  EXPECT_FALSE(limiter.Admit("a").admitted);
  clock.AdvanceMicros(10 * kSecond);  // refills to the burst, not beyond
  EXPECT_TRUE(limiter.Admit("a").admitted);
  EXPECT_TRUE(limiter.Admit("a").admitted);
  EXPECT_FALSE(limiter.Admit("a").admitted);
}

TEST(RateLimiterTest, AClientUnderTheRateIsNeverRefused) {
  testing::FakeClock clock(1'700'000'000);
  RateLimiter limiter({.per_second = 10, .burst = 1}, clock);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limiter.Admit("steady").admitted) << i;
    clock.AdvanceMicros(kSecond / 10);
  }
}

TEST(RateLimiterTest, RetryAfterSaysWhenOneRequestWillBeAdmitted) {
  testing::FakeClock clock(1'700'000'000);
  RateLimiter limiter({.per_second = 0.1, .burst = 1}, clock);  // one request per 10 s
  EXPECT_TRUE(limiter.Admit("slow").admitted);
  EXPECT_EQ(limiter.Admit("slow").retry_after_seconds, 10);
  clock.AdvanceMicros(4 * kSecond);
  EXPECT_EQ(limiter.Admit("slow").retry_after_seconds, 6);
  clock.AdvanceMicros(6 * kSecond);
  EXPECT_TRUE(limiter.Admit("slow").admitted);
}

TEST(RateLimiterTest, KeysHaveBucketsOfTheirOwn) {
  testing::FakeClock clock(1'700'000'000);
  RateLimiter limiter({.per_second = 1, .burst = 1}, clock);
  EXPECT_TRUE(limiter.Admit("client a").admitted);
  EXPECT_FALSE(limiter.Admit("client a").admitted);
  EXPECT_TRUE(limiter.Admit("client b").admitted);
}

TEST(RateLimiterTest, NoRateMeansNoLimit) {
  testing::FakeClock clock(1'700'000'000);
  RateLimiter limiter({}, clock);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(limiter.Admit("x").admitted);
  EXPECT_EQ(limiter.keys(), 0u);
}

TEST(RateLimiterTest, MemoryIsBounded) {
  testing::FakeClock clock(1'700'000'000);
  RateLimiter limiter({.per_second = 1, .burst = 2}, clock, /*max_keys=*/RateLimiter::kShards * 4);
  for (int i = 0; i < 5000; ++i) limiter.Admit("address " + std::to_string(i));
  EXPECT_LE(limiter.keys(), RateLimiter::kShards * 4);
  EXPECT_GT(limiter.keys(), 0u);
  // The smallest limiter (one bucket per shard) still limits.
  RateLimiter small({.per_second = 1, .burst = 1}, clock, RateLimiter::kShards);
  EXPECT_TRUE(small.Admit("busy").admitted);
  EXPECT_FALSE(small.Admit("busy").admitted);
}

TEST(RateLimiterTest, AClockSetBackRefillsNothing) {
  testing::FakeClock clock(1'700'000'000);
  RateLimiter limiter({.per_second = 1, .burst = 1}, clock);
  EXPECT_TRUE(limiter.Admit("k").admitted);
  clock.SetSeconds(1'600'000'000);
  EXPECT_FALSE(limiter.Admit("k").admitted);
  clock.SetSeconds(1'700'000'001);
  EXPECT_TRUE(limiter.Admit("k").admitted);
}

}  // namespace
}  // namespace medulla::security
