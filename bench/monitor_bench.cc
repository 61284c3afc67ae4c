// Monitor engine speed and memory (issue 5's targets: >= 2,000,000 readings/s per core through
// scoring, <= 1 KiB per monitored patient).
//   BM_PatientMonitorObserve   PatientMonitor::Observe on 10,000 patients' per-minute readings
//                              (HR, RR, SpO2 every minute; temperature hourly; blood pressure
//                              4 times a day), interleaved minute by minute across patients as
//                              a live feed arrives; one iteration is one minute of the feed,
//                              after a day of it untimed (the trend detectors' warm-up).
//   BM_EngineEndToEnd          the same feed through MonitorEngine with 1 partition: each
//                              minute submitted in batches of 10,000 readings, then Drain;
//                              readings/s on the partition's one thread (real time), also after
//                              a day untimed.
//   BM_EngineMemoryPerPatient  live heap bytes per patient after 100,000 patients have each
//                              sent a reading to a 1-partition engine: the PatientMonitor, the
//                              engine's hash-map node, bucket and patient id, with the
//                              allocator's rounding (malloc_usable_size); short patient ids
//                              and UUID ids.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "monitor/engine.h"
#include "monitor/patient_monitor.h"

// Live heap bytes (as the allocator sized them), for the memory figure.
namespace {
std::atomic<int64_t> g_live_bytes{0};
}  // namespace

void* operator new(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  g_live_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  return p;
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  g_live_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  operator delete(p);
}

namespace medulla::monitor {
namespace {

constexpr int kPatients = 10'000;
constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;

struct FeedItem {
  uint32_t patient;
  Reading reading;
};

// One hour of the feed, minute by minute (times relative to the hour's start). Values: each
// patient's own baseline, a slow random walk and per-reading noise, whole numbers as devices
// report them; replayed hour after hour with times moved on.
struct Feed {
  std::vector<FeedItem> items;
  std::vector<size_t> minute_begin;  // index of each minute's first item; 61 entries
};

const Feed& HourFeed() {
  static const Feed feed = [] {
    Feed f;
    std::mt19937_64 rng(42);
    std::normal_distribution<double> unit(0, 1);
    struct Base {
      double hr, rr, spo2, temp, sbp;
    };
    std::vector<Base> base(kPatients);
    for (auto& b : base) {
      b = {75 + 10 * unit(rng), 16 + 2 * unit(rng), std::min(99.0, 96.5 + 1.2 * unit(rng)),
           36.7 + 0.25 * unit(rng), 128 + 15 * unit(rng)};
    }
    for (int m = 0; m < 60; ++m) {
      f.minute_begin.push_back(f.items.size());
      for (uint32_t p = 0; p < kPatients; ++p) {
        auto& b = base[p];
        b.hr += 0.3 * unit(rng);
        b.rr += 0.1 * unit(rng);
        const int64_t t = m * kMinuteMs;
        auto add = [&](Vital v, double value) {
          Reading r;
          r.time_ms = t;
          r.vital = v;
          r.value = value;
          r.quality = 0.9F;
          f.items.push_back({p, r});
        };
        add(Vital::kHeartRate, std::round(b.hr + 2 * unit(rng)));
        add(Vital::kRespiratoryRate, std::round(b.rr + 2 * unit(rng)));
        add(Vital::kSpO2, std::min(100.0, std::round(b.spo2 + unit(rng))));
        if (static_cast<int>(p % 60) == m) add(Vital::kTemperature, b.temp);
        if (p % 6 == 0 && static_cast<int>((p * 7) % 60) == m) {
          add(Vital::kSystolicBp, std::round(b.sbp + 5 * unit(rng)));
          add(Vital::kDiastolicBp, std::round(0.6 * b.sbp + 4 * unit(rng)));
        }
      }
    }
    f.minute_begin.push_back(f.items.size());
    return f;
  }();
  return feed;
}

// The trend detectors judge nothing in a patient's first day (TrendParameters::warmup_hours),
// so the timed minutes come after a day and an hour of the feed, fed once per process untimed:
// what is measured is the steady state.
constexpr int64_t kWarmMinutes = 25 * 60;

// Calls fn(item, time offset) for every reading of minute `minute` of the feed (which repeats
// its hour with times moved on).
template <typename Fn>
size_t ForEachInMinute(const Feed& feed, int64_t t0, int64_t minute, Fn fn) {
  const size_t m = static_cast<size_t>(minute % 60);
  const int64_t offset = t0 + (minute / 60) * kHourMs;
  for (size_t i = feed.minute_begin[m]; i < feed.minute_begin[m + 1]; ++i)
    fn(feed.items[i], offset);
  return feed.minute_begin[m + 1] - feed.minute_begin[m];
}

struct WarmMonitors {
  std::vector<PatientMonitor> monitors = std::vector<PatientMonitor>(kPatients);
  int64_t minute = 0;
  int64_t events = 0;
};

void BM_PatientMonitorObserve(benchmark::State& state) {
  const Feed& feed = HourFeed();
  const MonitorSettings settings;
  const int64_t t0 = 1'795'248'000'000;  // 2026-11-21T08:00:00Z
  static WarmMonitors warm;
  const EventSink sink = [&](const MonitorEvent&) { ++warm.events; };
  auto observe = [&](const FeedItem& item, int64_t offset) {
    Reading r = item.reading;
    r.time_ms += offset;
    warm.monitors[item.patient].Observe(r, settings, sink);
  };
  for (; warm.minute < kWarmMinutes; ++warm.minute) ForEachInMinute(feed, t0, warm.minute, observe);
  warm.events = 0;
  int64_t readings = 0;
  for (auto _ : state) {
    readings += static_cast<int64_t>(ForEachInMinute(feed, t0, warm.minute++, observe));
  }
  state.SetItemsProcessed(readings);
  state.counters["events_per_reading"] = benchmark::Counter(
      static_cast<double>(warm.events) / static_cast<double>(std::max<int64_t>(1, readings)));
  state.counters["sizeof_PatientMonitor"] = sizeof(PatientMonitor);
}
BENCHMARK(BM_PatientMonitorObserve)->Unit(benchmark::kMillisecond)->MinTime(3);

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Patient ids: short ("Patient/p123", within std::string's 15-character inline buffer) or, with
// `uuid`, as FHIR servers often mint them ("Patient/" and a 36-character UUID, on the heap).
std::vector<std::string> PatientIds(int n, bool uuid = false) {
  std::vector<std::string> ids;
  ids.reserve(static_cast<size_t>(n));
  char buf[64];
  for (int i = 0; i < n; ++i) {
    if (uuid) {
      std::snprintf(buf, sizeof buf, "Patient/%08x-4b1d-4e5a-9c3f-%012d", i * 2654435761U, i);
    } else {
      std::snprintf(buf, sizeof buf, "Patient/p%d", i);
    }
    ids.emplace_back(buf);
  }
  return ids;
}

// One minute of the feed as the engine's input: batches of at most kBatch readings.
std::vector<std::vector<PatientReading>> MinuteBatches(const Feed& feed,
                                                       const std::vector<std::string>& ids,
                                                       int64_t t0, int64_t minute) {
  constexpr size_t kBatch = 10'000;
  std::vector<std::vector<PatientReading>> batches;
  ForEachInMinute(feed, t0, minute, [&](const FeedItem& item, int64_t offset) {
    if (batches.empty() || batches.back().size() == kBatch) {
      batches.emplace_back();
      batches.back().reserve(kBatch);
    }
    PatientReading pr;
    pr.patient = ids[item.patient];
    pr.reading = item.reading;
    pr.reading.time_ms += offset;
    batches.back().push_back(std::move(pr));
  });
  return batches;
}

struct WarmEngine {
  std::atomic<int64_t> events{0};
  MonitorEngine engine{[] {
                         EngineOptions options;
                         options.partitions = 1;
                         return options;
                       }(),
                       [this](const std::string&, const MonitorEvent&) {
                         events.fetch_add(1, std::memory_order_relaxed);
                       }};
  // Reading times start at the wall clock, so the engine's wall-clock silence check never
  // finds these patients silent; they then run ahead of it a minute per iteration.
  int64_t t0 = WallMs();
  int64_t minute = 0;
};

void BM_EngineEndToEnd(benchmark::State& state) {
  const Feed& feed = HourFeed();
  static const auto ids = PatientIds(kPatients);
  static WarmEngine warm;
  for (; warm.minute < kWarmMinutes; ++warm.minute) {
    for (auto& b : MinuteBatches(feed, ids, warm.t0, warm.minute)) {
      if (!warm.engine.Submit(std::move(b))) state.SkipWithError("engine refused a batch");
    }
    warm.engine.Drain();
  }
  warm.events = 0;
  int64_t readings = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto batches = MinuteBatches(feed, ids, warm.t0, warm.minute++);
    state.ResumeTiming();
    for (auto& b : batches) {
      readings += static_cast<int64_t>(b.size());
      if (!warm.engine.Submit(std::move(b))) state.SkipWithError("engine refused a batch");
    }
    warm.engine.Drain();
  }
  state.SetItemsProcessed(readings);
  state.counters["events_per_reading"] =
      benchmark::Counter(static_cast<double>(warm.events.load()) /
                         static_cast<double>(std::max<int64_t>(1, readings)));
}
BENCHMARK(BM_EngineEndToEnd)->Unit(benchmark::kMillisecond)->MinTime(3)->UseRealTime();

void BM_EngineMemoryPerPatient(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const auto ids = PatientIds(n, state.range(1) != 0);
  double per_patient = 0;
  for (auto _ : state) {
    EngineOptions options;
    options.partitions = 1;
    MonitorEngine engine(options, [](const std::string&, const MonitorEvent&) {});
    engine.Drain();
    const int64_t before = g_live_bytes.load();
    const int64_t t = WallMs();
    for (int from = 0; from < n; from += 10'000) {
      std::vector<PatientReading> batch;
      for (int i = from; i < std::min(n, from + 10'000); ++i) {
        PatientReading pr;
        pr.patient = ids[static_cast<size_t>(i)];
        pr.reading.time_ms = t;
        pr.reading.vital = Vital::kHeartRate;
        pr.reading.value = 72;
        batch.push_back(std::move(pr));
      }
      engine.Submit(std::move(batch));
    }
    // The partition frees the batches it handled after it answers the Drain that followed them;
    // a second Drain is answered only after that.
    engine.Drain();
    engine.Drain();
    const int64_t after = g_live_bytes.load();
    if (engine.patients() != static_cast<size_t>(n)) state.SkipWithError("patients missing");
    per_patient = static_cast<double>(after - before) / n;
  }
  state.counters["bytes_per_patient"] = per_patient;
  state.counters["sizeof_PatientMonitor"] = sizeof(PatientMonitor);
}
BENCHMARK(BM_EngineMemoryPerPatient)
    ->ArgNames({"patients", "uuid_ids"})
    ->Args({100'000, 0})
    ->Args({100'000, 1})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace medulla::monitor

BENCHMARK_MAIN();
