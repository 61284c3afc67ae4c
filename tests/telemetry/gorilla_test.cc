#include "telemetry/gorilla.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace medulla::telemetry {
namespace {

struct Point {
  int64_t time_ms;
  double value;
};

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kMinute = 60'000;
constexpr int64_t kStart = 1'700'000'040'000;  // a whole minute in November 2023

uint64_t Bits(double v) {
  return std::bit_cast<uint64_t>(v);
}

std::string Encode(const std::vector<Point>& points, int scale) {
  GorillaEncoder encoder(scale);
  for (const Point& p : points) EXPECT_TRUE(encoder.Append(p.time_ms, p.value));
  std::string block = encoder.Finish();
  EXPECT_EQ(block.size(), encoder.byte_size());
  return block;
}

// Decodes a whole block, expecting it intact.
std::vector<Point> Decode(const std::string& block) {
  std::vector<Point> points;
  auto decoder = GorillaDecoder::Open(block);
  EXPECT_TRUE(decoder.has_value()) << decoder.error().ToString();
  if (!decoder) return points;
  Point p;
  while (points.size() <= decoder->count() && decoder->Next(p.time_ms, p.value)) {
    points.push_back(p);
  }
  EXPECT_FALSE(decoder->corrupt());
  EXPECT_EQ(points.size(), decoder->count());
  return points;
}

// Encodes and decodes, checking every time and every value bit for bit; returns the block.
std::string ExpectRoundTrip(const std::vector<Point>& points, int scale) {
  std::string block = Encode(points, scale);
  auto decoder = GorillaDecoder::Open(block);
  EXPECT_TRUE(decoder.has_value());
  if (!decoder) return block;
  EXPECT_EQ(decoder->count(), points.size());
  EXPECT_EQ(decoder->decimal_scale(), std::clamp(scale, 0, kGorillaMaxDecimalScale));
  if (!points.empty()) {
    EXPECT_EQ(decoder->first_time(), points.front().time_ms);
    EXPECT_EQ(decoder->last_time(), points.back().time_ms);
  }
  std::vector<Point> decoded = Decode(block);
  EXPECT_EQ(decoded.size(), points.size());
  for (size_t i = 0; i < std::min(decoded.size(), points.size()); ++i) {
    EXPECT_EQ(decoded[i].time_ms, points[i].time_ms) << "point " << i;
    EXPECT_EQ(Bits(decoded[i].value), Bits(points[i].value))
        << "point " << i << ": " << points[i].value << " came back as " << decoded[i].value;
  }
  return block;
}

// ---- series ----

std::vector<int64_t> RegularTimes(size_t n, int64_t step) {
  std::vector<int64_t> times;
  for (size_t i = 0; i < n; ++i) times.push_back(kStart + static_cast<int64_t>(i) * step);
  return times;
}

std::vector<int64_t> JitteredTimes(std::mt19937_64& rng, size_t n, int64_t step, int64_t jitter) {
  std::uniform_int_distribution<int64_t> noise(-jitter, jitter);
  std::vector<int64_t> times;
  for (size_t i = 0; i < n; ++i) {
    int64_t t = kStart + static_cast<int64_t>(i) * step + noise(rng);
    times.push_back(times.empty() ? t : std::max(t, times.back()));
  }
  return times;
}

// Runs of equal times (several readings at one instant) and occasional huge gaps.
std::vector<int64_t> DuplicateAndGapTimes(std::mt19937_64& rng, size_t n) {
  std::vector<int64_t> times = {kStart};
  while (times.size() < n) {
    int64_t step = 0;
    switch (rng() % 6) {
      case 0:
      case 1:
        step = 0;
        break;
      case 2:
        step = 1000;
        break;
      case 3:
        step = static_cast<int64_t>(rng() % 100'000);
        break;
      case 4:
        step = static_cast<int64_t>(rng() % (int64_t{1} << 40));
        break;  // years
      case 5:
        step = static_cast<int64_t>(rng() % (int64_t{1} << 20));
        break;
    }
    times.push_back(times.back() + step);
  }
  return times;
}

// Sorted times anywhere in int64, ends included: deltas and delta-of-deltas near 2^64.
std::vector<int64_t> ExtremeTimes(std::mt19937_64& rng, size_t n) {
  std::vector<int64_t> times = {kMin, kMin, kMin + 1, -1, 0, 1, kMax - 1, kMax, kMax};
  while (times.size() < n) times.push_back(static_cast<int64_t>(rng()));
  std::sort(times.begin(), times.end());
  return times;
}

// Values with `decimals` decimals as a parser produces them (the double nearest k / 10^d).
std::vector<double> DecimalValues(std::mt19937_64& rng, size_t n, int decimals, double lo,
                                  double hi) {
  const double factor = std::pow(10.0, decimals);
  std::uniform_int_distribution<int64_t> units(std::llround(lo * factor),
                                               std::llround(hi * factor));
  std::vector<double> values;
  for (size_t i = 0; i < n; ++i) values.push_back(static_cast<double>(units(rng)) / factor);
  return values;
}

// A random walk of decimal readings, the way vital signs move.
std::vector<double> DecimalWalk(std::mt19937_64& rng, size_t n, int decimals, int64_t start_units,
                                int64_t lo_units, int64_t hi_units, int64_t max_step) {
  const double factor = std::pow(10.0, decimals);
  std::uniform_int_distribution<int64_t> step(-max_step, max_step);
  std::vector<double> values;
  int64_t units = start_units;
  for (size_t i = 0; i < n; ++i) {
    units = std::clamp(units + step(rng), lo_units, hi_units);
    values.push_back(static_cast<double>(units) / factor);
  }
  return values;
}

std::vector<double> RandomBitDoubles(std::mt19937_64& rng, size_t n) {
  std::vector<double> values;
  for (size_t i = 0; i < n; ++i) values.push_back(std::bit_cast<double>(rng()));
  return values;
}

std::vector<Point> Zip(const std::vector<int64_t>& times, const std::vector<double>& values) {
  std::vector<Point> points;
  for (size_t i = 0; i < std::min(times.size(), values.size()); ++i) {
    points.push_back({times[i], values[i]});
  }
  return points;
}

std::vector<double> Specials() {
  return {
      0.0,
      -0.0,
      kInf,
      -kInf,
      std::numeric_limits<double>::quiet_NaN(),
      -std::numeric_limits<double>::quiet_NaN(),
      std::bit_cast<double>(uint64_t{0x7FF0'0000'0000'0001}),  // signalling NaN
      std::bit_cast<double>(uint64_t{0x7FF8'DEAD'BEEF'0001}),  // NaN with a payload
      std::bit_cast<double>(uint64_t{0xFFFF'FFFF'FFFF'FFFF}),
      std::numeric_limits<double>::denorm_min(),
      -std::numeric_limits<double>::denorm_min(),
      std::bit_cast<double>(uint64_t{0x000F'FFFF'FFFF'FFFF}),  // the largest denormal
      std::numeric_limits<double>::min(),
      std::numeric_limits<double>::max(),
      std::numeric_limits<double>::lowest(),
      std::numeric_limits<double>::epsilon(),
      0x1p52,  // the first integer too large for the scaled domain
      0x1p52 - 1,
      -(0x1p52 - 1),
      0x1p53 + 2,
      1e300,
      0.1,
      0.30000000000000004,
      72.3,
      -40.5,
      36.8,
      97,
  };
}

// ---- round trips ----

TEST(GorillaTest, EmptyBlock) {
  GorillaEncoder encoder;
  EXPECT_EQ(encoder.count(), 0u);
  std::string block = encoder.Finish();
  EXPECT_EQ(block.size(), kGorillaHeaderBytes);
  EXPECT_EQ(block.size(), encoder.byte_size());
  auto decoder = GorillaDecoder::Open(block);
  ASSERT_TRUE(decoder);
  EXPECT_EQ(decoder->count(), 0u);
  int64_t t;
  double v;
  EXPECT_FALSE(decoder->Next(t, v));
  EXPECT_FALSE(decoder->corrupt());
}

TEST(GorillaTest, SinglePoint) {
  for (double v : Specials()) {
    for (int64_t t : {kMin, int64_t{-1}, int64_t{0}, kStart, kMax}) {
      ExpectRoundTrip({{t, v}}, 1);
    }
  }
}

TEST(GorillaTest, RegularSeriesOfDecimals) {
  std::mt19937_64 rng(1);
  for (int decimals = 0; decimals <= 3; ++decimals) {
    for (int64_t step : {int64_t{1}, int64_t{1000}, kMinute, int64_t{3'600'000}}) {
      auto values = DecimalValues(rng, 2000, decimals, -50, 250);
      ExpectRoundTrip(Zip(RegularTimes(2000, step), values), decimals);
      ExpectRoundTrip(Zip(RegularTimes(2000, step), values), 1);  // scale too small or large
    }
  }
}

TEST(GorillaTest, JitteredDuplicateAndGapTimes) {
  std::mt19937_64 rng(2);
  for (int round = 0; round < 5; ++round) {
    auto values = DecimalWalk(rng, 3000, 1, 368, 340, 420, 2);
    ExpectRoundTrip(Zip(JitteredTimes(rng, 3000, 1000, 30), values), 1);
    ExpectRoundTrip(Zip(JitteredTimes(rng, 3000, kMinute, 2000), values), 1);
    ExpectRoundTrip(Zip(DuplicateAndGapTimes(rng, 3000), values), 1);
  }
}

TEST(GorillaTest, ExtremeTimes) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 20; ++round) {
    ExpectRoundTrip(Zip(ExtremeTimes(rng, 500), DecimalValues(rng, 500, 1, 0, 100)), 1);
  }
  // Every delta-of-delta bucket edge, each side of it.
  std::vector<int64_t> times = {0};
  int64_t delta = 0;
  for (int64_t edge : {int64_t{128}, int64_t{2048}, int64_t{131072}, int64_t{1} << 31}) {
    for (int64_t dod : {edge - 1, edge, -edge, -edge - 1}) {
      delta = std::max<int64_t>(delta + dod, 0);
      times.push_back(times.back() + delta);
    }
  }
  times.insert(times.begin(), kMin);  // deltas of nearly 2^63 on the way in and out
  times.push_back(kMax);
  ExpectRoundTrip(Zip(times, std::vector<double>(times.size(), 1.5)), 1);
  ExpectRoundTrip({{kMin, 1}, {kMax, 2}, {kMax, 3}, {kMax, 4}}, 1);
  ExpectRoundTrip({{kMin, 1}, {kMin, 2}, {kMax, 3}, {kMax, 4}, {kMax, 4}}, 1);
}

TEST(GorillaTest, RandomDoublesAndSpecials) {
  std::mt19937_64 rng(4);
  for (int scale = 0; scale <= kGorillaMaxDecimalScale; ++scale) {
    ExpectRoundTrip(Zip(RegularTimes(3000, 1000), RandomBitDoubles(rng, 3000)), scale);
    // Specials in every order, among decimal readings (so domain switches both ways).
    for (int round = 0; round < 20; ++round) {
      std::vector<double> values = Specials();
      auto decimals = DecimalValues(rng, 40, 2, -300, 300);
      values.insert(values.end(), decimals.begin(), decimals.end());
      std::shuffle(values.begin(), values.end(), rng);
      ExpectRoundTrip(Zip(RegularTimes(values.size(), kMinute), values), scale);
    }
  }
  // Runs of the same special value.
  for (double v : Specials()) {
    std::vector<double> values(50, v);
    values[25] = 98.6;
    ExpectRoundTrip(Zip(RegularTimes(values.size(), 1000), values), 1);
  }
}

TEST(GorillaTest, NegativeAndOutOfRangeScales) {
  std::mt19937_64 rng(5);
  auto values = DecimalWalk(rng, 1000, 2, -500, -100000, 100000, 250);
  ExpectRoundTrip(Zip(RegularTimes(1000, 1000), values), 2);
  EXPECT_EQ(GorillaEncoder(-3).decimal_scale(), 0);
  EXPECT_EQ(GorillaEncoder(99).decimal_scale(), kGorillaMaxDecimalScale);
  ExpectRoundTrip(Zip(RegularTimes(1000, 1000), values), -3);
  ExpectRoundTrip(Zip(RegularTimes(1000, 1000), values), 99);
}

TEST(GorillaTest, ScaleMismatchStaysLosslessAndNearPlainGorilla) {
  std::mt19937_64 rng(6);
  auto values = DecimalWalk(rng, 5000, 1, 368, 340, 420, 1);
  auto times = RegularTimes(values.size(), kMinute);
  std::string matched = ExpectRoundTrip(Zip(times, values), 1);
  std::string mismatched = ExpectRoundTrip(Zip(times, values), 0);  // every value escapes
  std::printf("temperature, 5000 points: scale 1 %zu bytes, scale 0 (raw) %zu bytes\n",
              matched.size(), mismatched.size());
  EXPECT_LT(matched.size() * 2, mismatched.size());
  // An escaped series pays the domain switch once, then codes like plain Gorilla: no worse
  // than 64 bits per value.
  EXPECT_LT(mismatched.size(), values.size() * 8);
}

TEST(GorillaTest, RepeatedValuesTakeABitOrTwo) {
  std::vector<double> values(10000, 36.8);
  std::string block = ExpectRoundTrip(Zip(RegularTimes(values.size(), 1000), values), 1);
  // 1 bit of time and 1 of value per point, after the first two points.
  EXPECT_LT(block.size(), kGorillaHeaderBytes + 10000 * 2 / 8 + 16);
}

TEST(GorillaTest, AppendRefusesEarlierTimesAndChangesNothing) {
  GorillaEncoder encoder(1);
  EXPECT_TRUE(encoder.Append(kStart, 72.0));
  EXPECT_TRUE(encoder.Append(kStart + 1000, 73.0));
  const std::string before = encoder.Finish();
  EXPECT_FALSE(encoder.Append(kStart + 999, 74.0));
  EXPECT_FALSE(encoder.Append(kMin, 74.0));
  EXPECT_EQ(encoder.Finish(), before);
  EXPECT_EQ(encoder.count(), 2u);
  EXPECT_EQ(encoder.first_time(), kStart);
  EXPECT_EQ(encoder.last_time(), kStart + 1000);
  EXPECT_TRUE(encoder.Append(kStart + 1000, 74.0));  // equal times are fine
  std::vector<Point> decoded = Decode(encoder.Finish());
  ASSERT_EQ(decoded.size(), 3u);
  EXPECT_EQ(decoded[2].time_ms, kStart + 1000);
  EXPECT_EQ(decoded[2].value, 74.0);
}

TEST(GorillaTest, FinishSnapshotsWhileAppendingContinues) {
  std::mt19937_64 rng(7);
  auto points = Zip(JitteredTimes(rng, 500, 1000, 50), RandomBitDoubles(rng, 500));
  GorillaEncoder encoder(1);
  for (size_t i = 0; i < points.size(); ++i) {
    ASSERT_TRUE(encoder.Append(points[i].time_ms, points[i].value));
    if (i % 37 != 0) continue;
    std::string snapshot = encoder.Finish();
    EXPECT_EQ(snapshot.size(), encoder.byte_size());
    std::vector<Point> decoded = Decode(snapshot);
    ASSERT_EQ(decoded.size(), i + 1);
    EXPECT_EQ(decoded.back().time_ms, points[i].time_ms);
    EXPECT_EQ(Bits(decoded.back().value), Bits(points[i].value));
  }
}

// ---- corrupt input ----

// Decodes whatever `block` holds; never more than the declared count.
struct Outcome {
  bool opened = false;
  bool corrupt = false;
  size_t decoded = 0;
};

Outcome DecodeUntrusted(std::string_view bytes) {
  // In an allocation of exactly its size, so that AddressSanitizer sees any read past it.
  std::vector<char> exact(bytes.begin(), bytes.end());
  std::string_view block(exact.data(), exact.size());
  Outcome outcome;
  auto decoder = GorillaDecoder::Open(block);
  if (!decoder) return outcome;
  outcome.opened = true;
  int64_t t;
  double v;
  int64_t previous = decoder->first_time();
  while (outcome.decoded <= decoder->count() && decoder->Next(t, v)) {
    EXPECT_GE(t, previous);
    EXPECT_LE(t, decoder->last_time());
    previous = t;
    ++outcome.decoded;
  }
  EXPECT_LE(outcome.decoded, decoder->count());
  outcome.corrupt = decoder->corrupt();
  EXPECT_TRUE(outcome.corrupt || outcome.decoded == decoder->count());
  int64_t t2;
  double v2;
  EXPECT_FALSE(decoder->Next(t2, v2));  // stays at the end
  return outcome;
}

std::string MixedBlock(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<double> values = DecimalWalk(rng, n, 1, 720, 400, 1800, 3);
  std::vector<double> specials = Specials();
  for (size_t i = 0; i < n; i += 7) values[i] = specials[rng() % specials.size()];
  return Encode(Zip(DuplicateAndGapTimes(rng, n), values), 1);
}

TEST(GorillaTest, TruncatedBlocksAreRefusedOrReportedCorrupt) {
  const std::string block = MixedBlock(8, 300);
  for (size_t size = 0; size < block.size(); ++size) {
    Outcome outcome = DecodeUntrusted(std::string_view(block).substr(0, size));
    EXPECT_TRUE(!outcome.opened || outcome.corrupt) << "truncated to " << size;
  }
  EXPECT_FALSE(DecodeUntrusted(block).corrupt);
  Outcome padded = DecodeUntrusted(block + '\0');  // a stray byte after the padding
  EXPECT_TRUE(!padded.opened || padded.corrupt);
}

TEST(GorillaTest, BitFlipsNeverCrash) {
  const std::string block = MixedBlock(9, 200);
  size_t detected = 0, flips = 0;
  for (size_t bit = 0; bit < block.size() * 8; ++bit) {
    std::string flipped = block;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    Outcome outcome = DecodeUntrusted(flipped);
    ++flips;
    if (!outcome.opened || outcome.corrupt) ++detected;
  }
  std::printf("bit flips detected as corrupt: %zu of %zu\n", detected, flips);
  EXPECT_GT(detected, 0u);
}

TEST(GorillaTest, GarbageNeverCrashes) {
  std::mt19937_64 rng(10);
  const std::string block = MixedBlock(11, 100);
  for (int round = 0; round < 3000; ++round) {
    // A valid header (so decoding gets going) over random bits, or random bytes throughout.
    std::string garbage = round % 2 == 0 ? block.substr(0, kGorillaHeaderBytes) : "";
    const size_t size = rng() % 600;
    while (garbage.size() < size) garbage.push_back(static_cast<char>(rng()));
    if (round % 4 == 1 && garbage.size() >= 2) {
      garbage[0] = 1;                             // the format version
      garbage[1] = static_cast<char>(rng() % 7);  // a valid scale
    }
    DecodeUntrusted(garbage);
  }
}

TEST(GorillaTest, OpenRejectsBadHeaders) {
  std::string block = MixedBlock(12, 50);
  auto with = [&](size_t offset, char byte) {
    std::string copy = block;
    copy[offset] = byte;
    return GorillaDecoder::Open(copy);
  };
  EXPECT_FALSE(GorillaDecoder::Open(""));
  EXPECT_EQ(with(0, 2).error().code(), core::Code::kUnsupported);  // unknown version
  EXPECT_FALSE(with(1, 7));                                        // scale past 6
  EXPECT_FALSE(with(5, 0x10));                                     // a count the stream cannot hold
  EXPECT_FALSE(with(21, static_cast<char>(0x80)));                 // last time before first time
}

// ---- compactness ----

// One week of per-minute readings at exact minutes, with a few missed readings.
std::vector<int64_t> WeekOfMinutes(std::mt19937_64& rng) {
  std::vector<int64_t> times;
  for (int64_t t = kStart; t < kStart + 7 * 24 * 60 * kMinute; t += kMinute) {
    if (rng() % 500 != 0) times.push_back(t);
  }
  return times;
}

TEST(GorillaTest, WeekOfPerMinuteVitalsTakesUnderTwoBytesPerPoint) {
  std::mt19937_64 rng(13);
  auto times = WeekOfMinutes(rng);
  // Heart rate: whole beats per minute wandering in 60..100, a few beats per reading.
  auto heart_rate = DecimalWalk(rng, times.size(), 0, 72, 60, 100, 3);
  // Temperature: one decimal, drifting by a tenth or two.
  auto temperature = DecimalWalk(rng, times.size(), 1, 368, 355, 395, 1);
  const double n = static_cast<double>(times.size());
  const double hr = ExpectRoundTrip(Zip(times, heart_rate), 1).size() / n;
  const double temp = ExpectRoundTrip(Zip(times, temperature), 1).size() / n;
  // And with per-reading clock jitter of up to +-250 ms.
  auto jittered = JitteredTimes(rng, times.size(), kMinute, 250);
  const double hr_jitter = ExpectRoundTrip(Zip(jittered, heart_rate), 1).size() / n;
  std::printf(
      "one week per minute (%zu points), bytes/point: heart rate %.3f, temperature %.3f, "
      "heart rate with +-250 ms jitter %.3f\n",
      times.size(), hr, temp, hr_jitter);
  // Measured 1.18, 0.73 and 2.75; the bounds leave about 25% for changes in the encoder's
  // choices, all within the 2 bytes the store budgets for a per-minute vital.
  EXPECT_LT(hr, 1.5);
  EXPECT_LT(temp, 1.0);
  EXPECT_LT(hr_jitter, 3.5);
}

}  // namespace
}  // namespace medulla::telemetry
