// Blocks with quality and rr columns: lossless round trips, what the columns cost, version-1
// (bare Gorilla) blocks, and a decoder that refuses damage without reading out of bounds.
#include "telemetry/block.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "telemetry/gorilla.h"

namespace medulla::telemetry {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kStart = 1'700'000'040'000;

uint32_t Bits(float f) {
  return std::bit_cast<uint32_t>(f);
}

std::string Encode(const std::vector<Sample>& samples) {
  BlockEncoder encoder;
  for (const Sample& s : samples) EXPECT_TRUE(encoder.Append(s));
  std::string block = encoder.Finish();
  EXPECT_EQ(block.size(), encoder.byte_size());
  return block;
}

std::vector<Sample> Decode(const std::string& block) {
  std::vector<Sample> out;
  auto decoder = BlockDecoder::Open(block);
  EXPECT_TRUE(decoder.has_value()) << decoder.error().ToString();
  if (!decoder) return out;
  Sample s;
  while (out.size() <= decoder->count() && decoder->Next(s)) out.push_back(s);
  EXPECT_FALSE(decoder->corrupt());
  EXPECT_EQ(out.size(), decoder->count());
  return out;
}

// Every time, value bit and quality bit (any NaN reads back as absent) and every interval.
void ExpectSame(const std::vector<Sample>& got, const std::vector<Sample>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].time_ms, want[i].time_ms) << i;
    ASSERT_EQ(std::bit_cast<uint64_t>(got[i].value), std::bit_cast<uint64_t>(want[i].value)) << i;
    if (std::isnan(want[i].quality)) {
      ASSERT_EQ(Bits(got[i].quality), kAbsentQualityBits) << i;
    } else {
      ASSERT_EQ(Bits(got[i].quality), Bits(want[i].quality)) << i << ": " << want[i].quality;
    }
    ASSERT_EQ(got[i].rr_ms, want[i].rr_ms) << i;
  }
}

std::vector<Sample> Minutes(size_t n) {
  std::vector<Sample> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(
        {kStart + static_cast<int64_t>(i) * kMinute, 60.0 + static_cast<double>(i % 30), NAN, {}});
  }
  return out;
}

TEST(BlockTest, WithoutQualityOrRrItCostsAFewBytesOverGorilla) {
  const auto samples = Minutes(500);
  GorillaEncoder gorilla(1);
  for (const auto& s : samples) gorilla.Append(s.time_ms, s.value);
  const std::string block = Encode(samples);
  EXPECT_LE(block.size(), gorilla.byte_size() + 4);
  auto decoder = BlockDecoder::Open(block);
  ASSERT_TRUE(decoder.has_value());
  EXPECT_EQ(decoder->version(), 2);
  EXPECT_FALSE(decoder->has_quality());
  EXPECT_FALSE(decoder->has_rr());
  ExpectSame(Decode(block), samples);
}

TEST(BlockTest, EmptyBlockRoundTrips) {
  const std::string block = BlockEncoder().Finish();
  auto decoder = BlockDecoder::Open(block);
  ASSERT_TRUE(decoder.has_value());
  EXPECT_EQ(decoder->count(), 0u);
  Sample s;
  EXPECT_FALSE(decoder->Next(s));
  EXPECT_FALSE(decoder->corrupt());
}

TEST(BlockTest, QualityIsLosslessForTwoDecimalsAndAnyOtherFloat) {
  auto samples = Minutes(400);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> centi(0, 100);
  std::uniform_real_distribution<float> any(0, 1);
  for (size_t i = 0; i < samples.size(); ++i) {
    switch (i % 8) {
      case 0:
      case 1:  // two decimals, as devices send them (parsed as double, then float)
        samples[i].quality = static_cast<float>(centi(rng) / 100.0);
        break;
      case 2:  // the same again
        samples[i].quality = samples[i - 1].quality;
        break;
      case 3:  // absent
        break;
      case 4:  // more decimals: stored raw
        samples[i].quality = any(rng);
        break;
      case 5:  // edges
        samples[i].quality = i % 16 == 5 ? 0.0f : 1.0f;
        break;
      case 6:  // a NaN with a payload is absent too
        samples[i].quality = std::bit_cast<float>(0x7FC00123u);
        break;
      default:  // -0 is not 0, bit for bit
        samples[i].quality = -0.0f;
    }
  }
  const std::string block = Encode(samples);
  auto decoder = BlockDecoder::Open(block);
  ASSERT_TRUE(decoder.has_value());
  EXPECT_TRUE(decoder->has_quality());
  EXPECT_FALSE(decoder->has_rr());
  ExpectSame(Decode(block), samples);
}

TEST(BlockTest, ConstantQualityCostsABitPerReadingAndNoisyOneUnderAByte) {
  const auto plain = Minutes(1000);
  const size_t base = Encode(plain).size();
  auto constant = plain;
  for (auto& s : constant) s.quality = 0.95f;
  const size_t constant_bytes = Encode(constant).size() - base;
  EXPECT_LE(constant_bytes, 1000 / 8 + 8) << constant_bytes;
  ExpectSame(Decode(Encode(constant)), constant);

  auto noisy = plain;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> centi(85, 100);
  for (auto& s : noisy) s.quality = static_cast<float>(centi(rng) / 100.0);
  const size_t noisy_bytes = Encode(noisy).size() - base;
  EXPECT_LT(noisy_bytes, 1000u) << noisy_bytes;
  ExpectSame(Decode(Encode(noisy)), noisy);
}

TEST(BlockTest, RrRoundTripsDeltaCoded) {
  auto samples = Minutes(300);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> count(0, 80);
  std::normal_distribution<double> beat(0, 25);
  double rr = 850;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i % 7 == 3) continue;  // no rr
    const int n = i == 10 ? static_cast<int>(kMaxRrPerReading) : count(rng);
    for (int k = 0; k < n; ++k) {
      rr = std::clamp(rr + beat(rng), 300.0, 2000.0);
      samples[i].rr_ms.push_back(static_cast<uint16_t>(rr));
    }
  }
  samples[20].rr_ms = {0, 65535, 0, 65535, 1};  // the widest jumps
  const std::string block = Encode(samples);
  auto decoder = BlockDecoder::Open(block);
  ASSERT_TRUE(decoder.has_value());
  EXPECT_TRUE(decoder->has_rr());
  EXPECT_FALSE(decoder->has_quality());
  ExpectSame(Decode(block), samples);

  // Skipping the column gives the same readings without their intervals.
  auto skipping = BlockDecoder::Open(block);
  Sample s;
  size_t n = 0;
  while (skipping->Next(s, false)) {
    EXPECT_TRUE(s.rr_ms.empty());
    EXPECT_EQ(s.time_ms, samples[n++].time_ms);
  }
  EXPECT_FALSE(skipping->corrupt());
  EXPECT_EQ(n, samples.size());
}

TEST(BlockTest, RrOfRestingBeatsTakesAboutAByteAnInterval) {
  auto samples = Minutes(200);
  std::mt19937 rng(9);
  std::normal_distribution<double> beat(0, 30);
  size_t intervals = 0;
  for (auto& s : samples) {
    for (int k = 0; k < 60; ++k) s.rr_ms.push_back(static_cast<uint16_t>(1000 + beat(rng)));
    intervals += 60;
  }
  const size_t rr_bytes = Encode(samples).size() - Encode(Minutes(200)).size();
  EXPECT_LE(rr_bytes, intervals * 2) << rr_bytes;
}

TEST(BlockTest, AppendRefusesTooManyIntervalsAndEarlierTimes) {
  BlockEncoder encoder;
  std::vector<uint16_t> too_many(kMaxRrPerReading + 1, 800);
  EXPECT_FALSE(encoder.Append(kStart, 70, NAN, too_many));
  EXPECT_EQ(encoder.count(), 0u);
  EXPECT_TRUE(encoder.Append(kStart, 70, 0.9f, {}));
  EXPECT_FALSE(encoder.Append(kStart - 1, 70, 0.9f, {}));
  EXPECT_EQ(encoder.count(), 1u);
}

// Blocks written before quality and rr were stored are bare Gorilla blocks.
TEST(BlockTest, VersionOneBlocksDecodeWithoutQualityOrRr) {
  GorillaEncoder old(1);
  for (int i = 0; i < 50; ++i) old.Append(kStart + i * kMinute, 36.5 + 0.1 * (i % 5));
  const std::string block = old.Finish();
  ASSERT_EQ(block[0], 1);
  auto decoder = BlockDecoder::Open(block);
  ASSERT_TRUE(decoder.has_value());
  EXPECT_EQ(decoder->version(), 1);
  EXPECT_EQ(decoder->count(), 50u);
  Sample s;
  int n = 0;
  while (decoder->Next(s)) {
    EXPECT_EQ(s.time_ms, kStart + n * kMinute);
    EXPECT_EQ(s.value, 36.5 + 0.1 * (n % 5));
    EXPECT_TRUE(std::isnan(s.quality));
    EXPECT_TRUE(s.rr_ms.empty());
    ++n;
  }
  EXPECT_FALSE(decoder->corrupt());
  EXPECT_EQ(n, 50);
}

// A version-1 block as the store wrote it before quality and rr were stored (hex, so that it does
// not depend on today's encoder): 70, 71.5, 71 and 72 beats/min at 08:00:00, 08:01:00, 08:02:00
// and 08:03:05 on 2026-11-21.
TEST(BlockTest, VersionOneFixtureDecodes) {
  const std::string hex =
      "010104000000008c1efda1010000a85e21fda1010000c28c085fc75306e1bba1bc09c44580";
  std::string block;
  for (size_t i = 0; i < hex.size(); i += 2) {
    block.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  const std::vector<Sample> want = {{1'795'248'000'000, 70, NAN, {}},
                                    {1'795'248'060'000, 71.5, NAN, {}},
                                    {1'795'248'120'000, 71, NAN, {}},
                                    {1'795'248'185'000, 72, NAN, {}}};
  ExpectSame(Decode(block), want);
}

TEST(BlockTest, UnknownVersionsAndFlagsAreRefused) {
  auto samples = Minutes(5);
  samples[1].quality = 0.5f;
  samples[2].rr_ms = {800};
  std::string block = Encode(samples);
  std::string bad = block;
  bad[0] = 3;
  EXPECT_EQ(BlockDecoder::Open(bad).error().code(), core::Code::kUnsupported);
  bad = block;
  bad[1] = static_cast<char>(bad[1] | 4);
  EXPECT_FALSE(BlockDecoder::Open(bad).has_value());
  EXPECT_FALSE(BlockDecoder::Open("").has_value());
  EXPECT_FALSE(BlockDecoder::Open(block + "x").has_value());
}

// Every truncation and every single bit flip of a block with both columns: the decoder either
// refuses it, stops as corrupt, or decodes at most `count` readings in time order; it never
// reads out of bounds (the ASan build checks that) or loops.
TEST(BlockTest, DamageIsRefusedOrContained) {
  auto samples = Minutes(40);
  for (size_t i = 0; i < samples.size(); ++i) {
    samples[i].quality = i % 3 == 0 ? NAN : static_cast<float>((80 + i % 17) / 100.0);
    if (i % 2 == 0) samples[i].rr_ms = {static_cast<uint16_t>(800 + i), 790, 1200};
  }
  const std::string block = Encode(samples);
  auto check = [](const std::string& damaged) {
    auto decoder = BlockDecoder::Open(damaged);
    if (!decoder) return;
    Sample s;
    size_t n = 0;
    int64_t last = INT64_MIN;
    while (decoder->Next(s)) {
      ASSERT_GE(s.time_ms, last);
      ASSERT_LE(s.rr_ms.size(), kMaxRrPerReading);
      last = s.time_ms;
      ASSERT_LE(++n, decoder->count());
    }
  };
  for (size_t n = 0; n < block.size(); ++n) check(block.substr(0, n));
  for (size_t bit = 0; bit < block.size() * 8; ++bit) {
    std::string damaged = block;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    check(damaged);
  }
}

}  // namespace
}  // namespace medulla::telemetry
