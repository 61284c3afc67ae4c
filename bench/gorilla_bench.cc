// Gorilla block codec throughput on simulated vital signs: encode (Append of every point plus
// one Finish) and decode (Open plus Next to the end), in points/s, and the bytes per point the
// block takes (header included).
//   hr_minute    one week of per-minute heart rate: whole beats in 40..180, exact minutes
//   temp_minute  one week of per-minute temperature: one decimal, drifting by tenths
//   spo2_second  one day of per-second SpO2 (whole percent) with +-20 ms clock jitter
//   raw_second   one day of per-second readings that fit no decimal scale (the escape path)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "telemetry/gorilla.h"

namespace medulla::telemetry {
namespace {

struct Series {
  std::vector<int64_t> times;
  std::vector<double> values;
  int scale;
};

constexpr int64_t kStart = 1'700'000'040'000;  // a whole minute in November 2023

// `n` readings every `step_ms` (+- jitter_ms) of a random walk over decimal units.
Series Walk(size_t n, int64_t step_ms, int64_t jitter_ms, int decimals, int64_t start, int64_t lo,
            int64_t hi, int64_t max_step, double move_probability) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> jitter(-jitter_ms, jitter_ms);
  std::uniform_int_distribution<int64_t> step(-max_step, max_step);
  std::bernoulli_distribution moves(move_probability);
  double factor = 1;
  for (int i = 0; i < decimals; ++i) factor *= 10;
  Series s{{}, {}, decimals};
  int64_t units = start;
  for (size_t i = 0; i < n; ++i) {
    int64_t t = kStart + static_cast<int64_t>(i) * step_ms + jitter(rng);
    s.times.push_back(s.times.empty() ? t : std::max(t, s.times.back()));
    if (moves(rng)) units = std::clamp(units + step(rng), lo, hi);
    s.values.push_back(static_cast<double>(units) / factor);
  }
  return s;
}

const Series& SeriesNamed(int which) {
  static const Series hr = Walk(7 * 24 * 60, 60'000, 0, 0, 72, 40, 180, 3, 0.8);
  static const Series temp = Walk(7 * 24 * 60, 60'000, 0, 1, 368, 350, 410, 1, 0.5);
  static const Series spo2 = Walk(24 * 3600, 1000, 20, 0, 97, 85, 100, 1, 0.2);
  static const Series raw = [] {
    Series s = Walk(24 * 3600, 1000, 0, 1, 368, 350, 410, 1, 0.5);
    s.scale = 0;  // one decimal against scale 0: every value takes the raw domain
    for (double& v : s.values) v += 1.0 / 3;
    return s;
  }();
  switch (which) {
    case 0:
      return hr;
    case 1:
      return temp;
    case 2:
      return spo2;
    default:
      return raw;
  }
}

std::string EncodeAll(const Series& s) {
  GorillaEncoder encoder(s.scale);
  for (size_t i = 0; i < s.times.size(); ++i) encoder.Append(s.times[i], s.values[i]);
  return encoder.Finish();
}

void SetCounters(benchmark::State& state, const Series& s, size_t block_bytes) {
  const double points = static_cast<double>(s.times.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * s.times.size()));
  state.counters["B/point"] = static_cast<double>(block_bytes) / points;
  state.counters["points"] = points;
}

void BM_Encode(benchmark::State& state, int series) {
  const Series& s = SeriesNamed(series);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string block = EncodeAll(s);
    bytes = block.size();
    benchmark::DoNotOptimize(block.data());
  }
  SetCounters(state, s, bytes);
}

void BM_Decode(benchmark::State& state, int series) {
  const Series& s = SeriesNamed(series);
  const std::string block = EncodeAll(s);
  for (auto _ : state) {
    auto decoder = GorillaDecoder::Open(block);
    if (!decoder) std::abort();
    int64_t t;
    double v;
    double sum = 0;
    while (decoder->Next(t, v)) sum += v;
    if (decoder->corrupt()) std::abort();
    benchmark::DoNotOptimize(sum);
  }
  SetCounters(state, s, block.size());
}

BENCHMARK_CAPTURE(BM_Encode, hr_minute, 0);
BENCHMARK_CAPTURE(BM_Encode, temp_minute, 1);
BENCHMARK_CAPTURE(BM_Encode, spo2_second, 2);
BENCHMARK_CAPTURE(BM_Encode, raw_second, 3);
BENCHMARK_CAPTURE(BM_Decode, hr_minute, 0);
BENCHMARK_CAPTURE(BM_Decode, temp_minute, 1);
BENCHMARK_CAPTURE(BM_Decode, spo2_second, 2);
BENCHMARK_CAPTURE(BM_Decode, raw_second, 3);

}  // namespace
}  // namespace medulla::telemetry

BENCHMARK_MAIN();
