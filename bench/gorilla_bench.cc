// Gorilla block codec throughput on simulated vital signs: encode (Append of every point plus
// one Finish) and decode (Open plus Next to the end), in points/s, and the bytes per point the
// block takes (header included).
//   hr_minute    one week of per-minute heart rate: whole beats in 40..180, exact minutes
//   temp_minute  one week of per-minute temperature: one decimal, drifting by tenths
//   spo2_second  one day of per-second SpO2 (whole percent) with +-20 ms clock jitter
//   raw_second   one day of per-second readings that fit no decimal scale (the escape path)
// Then the stored blocks with their optional columns (telemetry/block.h), in blocks of 1,024
// readings as the store writes them, and the store itself (telemetry/series_store.h):
//   BM_Block{Encode,Decode}/hr_minute{,_quality,_quality_rr}  the week of heart rate, plain, with
//       a quality on every reading (hundredths, 0.85-1.00 with motion dips), and with the beats'
//       rr intervals too; counter B/reading
//   BM_StoreAppend/N   durable appends (synchronous=FULL) of batches of N readings spread over
//       100 patients, with quality: a commit per batch (a run is too short for a checkpoint)
//   BM_StoreRead       Read of a day of one series from disk
//   BM_StoreRollups    ReadRollups of that week per hour: from the raw readings, and from the
//       stored rollups once the raw readings have expired
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "telemetry/block.h"
#include "telemetry/gorilla.h"
#include "telemetry/series_store.h"

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

// ---- Stored blocks: quality and rr columns ----

enum Columns { kPlain, kQuality, kQualityRr };

// The week of per-minute heart rate as readings with quality (and rr): the quality in
// hundredths, 0.85-1.00 with a motion dip (0.45-0.60) one reading in 30; the rr intervals a
// minute of beats at that rate, each +-25 ms from the one before.
const std::vector<Sample>& Readings(Columns columns) {
  static const auto make = [](Columns c) {
    const Series& hr = SeriesNamed(0);
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int> good(85, 100);
    std::bernoulli_distribution dip(1.0 / 30);
    std::normal_distribution<double> beat(0, 25);
    std::vector<Sample> out;
    for (size_t i = 0; i < hr.times.size(); ++i) {
      Sample s{hr.times[i], hr.values[i], NAN, {}};
      if (c != kPlain) s.quality = static_cast<float>((good(rng) - (dip(rng) ? 40 : 0)) / 100.0);
      if (c == kQualityRr) {
        const double mean = 60'000.0 / s.value;
        double rr = mean;
        for (double t = 0; t < 60'000; t += rr) {
          rr = std::clamp(rr + beat(rng), mean * 0.8, mean * 1.2);
          s.rr_ms.push_back(static_cast<uint16_t>(rr));
        }
      }
      out.push_back(std::move(s));
    }
    return out;
  };
  static const std::vector<Sample> all[] = {make(kPlain), make(kQuality), make(kQualityRr)};
  return all[columns];
}

// Blocks of 1,024 readings, as the store closes them.
std::vector<std::string> EncodeBlocks(const std::vector<Sample>& readings) {
  std::vector<std::string> blocks;
  BlockEncoder encoder;
  for (const Sample& s : readings) {
    if (encoder.count() == 1024) {
      blocks.push_back(encoder.Finish());
      encoder = BlockEncoder();
    }
    encoder.Append(s);
  }
  blocks.push_back(encoder.Finish());
  return blocks;
}

void SetBlockCounters(benchmark::State& state, const std::vector<Sample>& readings,
                      const std::vector<std::string>& blocks) {
  size_t bytes = 0, intervals = 0;
  for (const auto& b : blocks) bytes += b.size();
  for (const auto& r : readings) intervals += r.rr_ms.size();
  const double n = static_cast<double>(readings.size());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * readings.size()));
  state.counters["B/reading"] = static_cast<double>(bytes) / n;
  state.counters["rr/reading"] = static_cast<double>(intervals) / n;
}

void BM_BlockEncode(benchmark::State& state, Columns columns) {
  const auto& readings = Readings(columns);
  std::vector<std::string> blocks;
  for (auto _ : state) {
    blocks = EncodeBlocks(readings);
    benchmark::DoNotOptimize(blocks.data());
  }
  SetBlockCounters(state, readings, blocks);
}

void BM_BlockDecode(benchmark::State& state, Columns columns) {
  const auto& readings = Readings(columns);
  const auto blocks = EncodeBlocks(readings);
  for (auto _ : state) {
    double sum = 0;
    Sample s;
    for (const auto& b : blocks) {
      auto decoder = BlockDecoder::Open(b);
      if (!decoder) std::abort();
      while (decoder->Next(s)) sum += s.value + s.quality + static_cast<double>(s.rr_ms.size());
      if (decoder->corrupt()) std::abort();
    }
    benchmark::DoNotOptimize(sum);
  }
  SetBlockCounters(state, readings, blocks);
}

BENCHMARK_CAPTURE(BM_BlockEncode, hr_minute, kPlain);
BENCHMARK_CAPTURE(BM_BlockEncode, hr_minute_quality, kQuality);
BENCHMARK_CAPTURE(BM_BlockEncode, hr_minute_quality_rr, kQualityRr);
BENCHMARK_CAPTURE(BM_BlockDecode, hr_minute, kPlain);
BENCHMARK_CAPTURE(BM_BlockDecode, hr_minute_quality, kQuality);
BENCHMARK_CAPTURE(BM_BlockDecode, hr_minute_quality_rr, kQualityRr);

// ---- The store ----

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gorilla-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<SeriesStore> OpenStore(const SeriesStoreOptions& options) {
  auto store = SeriesStore::Open(options);
  if (!store) std::abort();
  return std::move(*store);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void BM_StoreAppend(benchmark::State& state) {
  const size_t batch_size = static_cast<size_t>(state.range(0));
  constexpr size_t kPatients = 100;
  const auto& readings = Readings(kQuality);
  TempDir dir;
  SeriesStoreOptions options{.path = dir.File("telemetry.db")};
  auto store = OpenStore(options);
  size_t next = 0, appended = 0;
  for (auto _ : state) {
    std::vector<StoredReading> batch;
    for (size_t i = 0; i < batch_size; ++i, ++next) {
      // Every patient has the week's readings, over and over, each time a week later.
      const size_t n = next / kPatients;
      const Sample& s = readings[n % readings.size()];
      const auto week = static_cast<int64_t>(n / readings.size()) * 7 * 24 * 3600'000;
      batch.push_back({"patient-" + std::to_string(next % kPatients),
                       monitor::Vital::kHeartRate,
                       s.time_ms + week,
                       s.value,
                       s.quality,
                       {}});
    }
    auto result = store->AppendSync(std::move(batch));
    if (!result || result->stored != batch_size) std::abort();
    appended += batch_size;
  }
  state.SetItemsProcessed(static_cast<int64_t>(appended));
}
BENCHMARK(BM_StoreAppend)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();

// A store holding the week of heart rate with quality, ending now, checkpointed. With
// expired, it is reopened with a retention of a day: the raw readings of the six days before are
// dropped and only their rollups are left.
struct WeekStore {
  TempDir dir;
  std::unique_ptr<SeriesStore> store;
  int64_t start = 0, end = 0;

  explicit WeekStore(bool expired) {
    const auto& readings = Readings(kQuality);
    const int64_t now = NowMs();
    const int64_t shift = now - now % 60'000 - readings.back().time_ms;
    SeriesStoreOptions options{.path = dir.File("telemetry.db")};
    store = OpenStore(options);
    std::vector<StoredReading> batch;
    for (const Sample& s : readings) {
      batch.push_back(
          {"p1", monitor::Vital::kHeartRate, s.time_ms + shift, s.value, s.quality, {}});
    }
    if (!store->AppendSync(std::move(batch))) std::abort();
    if (!store->Checkpoint().ok()) std::abort();
    if (expired) {
      store.reset();
      options.retention_ms = 24 * 3600'000;
      store = OpenStore(options);
      if (!store->Checkpoint().ok()) std::abort();
    }
    start = readings.front().time_ms + shift;
    end = readings.back().time_ms + shift + 1;
  }
};

void BM_StoreRead(benchmark::State& state) {
  WeekStore week(false);
  size_t n = 0;
  for (auto _ : state) {
    auto points = week.store->Read("p1", monitor::Vital::kHeartRate, week.end - 24 * 3600'000,
                                   week.end, SIZE_MAX);
    if (!points) std::abort();
    n = points->size();
    benchmark::DoNotOptimize(points->data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_StoreRead);

void BM_StoreRollups(benchmark::State& state) {
  WeekStore week(state.range(0) != 0);
  size_t n = 0;
  for (auto _ : state) {
    auto rollups = week.store->ReadRollups("p1", monitor::Vital::kHeartRate, week.start, week.end,
                                           3600'000, SIZE_MAX);
    if (!rollups) std::abort();
    n = rollups->size();
    benchmark::DoNotOptimize(rollups->data());
  }
  state.counters["intervals"] = static_cast<double>(n);
}
BENCHMARK(BM_StoreRollups)->ArgName("expired")->Arg(0)->Arg(1);

}  // namespace
}  // namespace medulla::telemetry

BENCHMARK_MAIN();
