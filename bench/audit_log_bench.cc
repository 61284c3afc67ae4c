// The audit log's per-patient index under entries that name many patients (docs/benchmarks.md,
// "Audit log: entries naming many patients"): a telemetry batch from a gateway names 1,000
// patients, so every audited batch indexes 1,000 names. Each entry goes through the real store
// in a commit of its own (a unit without writes, as a fold of reads' entries is), so what is
// timed is the commit thread's work per entry: sealing, inserting the entry and indexing it.
// Bytes written are the process's write() bytes (/proc/self/io wchar): WAL frames plus the
// checkpointer's copies into the database file.
#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/ids.h"
#include "core/metrics.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace medulla;

constexpr int kPatientsPerEntry = 1000;

// Bytes this process has passed to write() so far.
int64_t WrittenBytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") return value;
  }
  return 0;
}

int64_t FileBytes(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

// An entry as the API writes one for a telemetry batch: the access record names the patients
// too ("p"), so the event is about as large as the patient list.
store::AuditEntry BatchEntry(const std::vector<std::string>& patients) {
  store::AuditEntry e;
  e.event = R"({"i":"create","s":200,"a":1,"m":"POST","t":"/telemetry","sub":"gateway-1",)"
            R"("cid":"gateway","role":"admin","jti":"0190a1b2-c3d4","net":"10.0.0.7","p":[)";
  for (size_t i = 0; i < patients.size(); ++i) {
    e.event += fmt::format(R"({}"{}")", i ? "," : "", patients[i]);
  }
  e.event += "]}";
  e.patients = patients;
  e.recorded = core::SystemClock::Instance().Now();
  return e;
}

// Entry `n`'s patients: the same 1,000 every time (distinct = 1,000, a gateway or a ward), or
// the next 1,000 of `distinct` in turn (bench/telemetry_ingest.lua cycles through 10,000).
std::vector<std::string> PatientsOf(int64_t n, int64_t distinct) {
  std::vector<std::string> out;
  out.reserve(kPatientsPerEntry);
  for (int64_t i = 0; i < kPatientsPerEntry; ++i) {
    out.push_back(fmt::format("bench{}", (n * kPatientsPerEntry + i) % distinct));
  }
  return out;
}

struct BenchStore {
  std::string dir =
      std::filesystem::temp_directory_path() / ("medulla-audit-bench-" + core::NewUuidV7());
  core::MetricsRegistry metrics;
  std::unique_ptr<store::sqlite::SqliteStore> store;

  core::Status Open() {
    store::sqlite::SqliteStoreOptions options;
    options.data_dir = dir;
    options.audit_key = std::string(32, 'k');
    auto s = store::sqlite::SqliteStore::Open(options, metrics, core::SystemClock::Instance());
    if (!s) return s.error();
    store = std::move(*s);
    return core::OkStatus();
  }
  // One entry in a commit of its own.
  void Append(store::AuditEntry entry) {
    store::Unit unit;
    unit.audit = [&entry](const std::vector<store::WriteResult>&) {
      std::vector<store::AuditEntry> out;
      out.push_back(std::move(entry));
      return out;
    };
    store::CommitAndWait(*store, std::move(unit));
  }
  ~BenchStore() {
    if (store) (void)store->Close();
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

// Appends state.iterations() entries (fixed below, so that the index outgrows the page cache
// the same way in every run) and reports entries/s over the whole run and over its last
// quarter, where the old per-name index had grown largest; and the mean time of the appends of
// entries 1024, 2048, 3072 and 4096 (each seals the bucket of 1,024 entries before it).
void BM_AuditAppend(benchmark::State& state) {
  const int64_t distinct = state.range(0);
  BenchStore bench;
  if (core::Status s = bench.Open(); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  const int64_t total = static_cast<int64_t>(state.max_iterations);
  const int64_t written_before = WrittenBytes();
  int64_t n = 0;
  auto last_quarter_start = std::chrono::steady_clock::now();
  std::chrono::duration<double> bucket_starts{0};
  for (auto _ : state) {
    state.PauseTiming();
    store::AuditEntry entry = BatchEntry(PatientsOf(n, distinct));
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    bench.Append(std::move(entry));
    if ((n + 1) % 1024 == 0) bucket_starts += std::chrono::steady_clock::now() - start;
    if (++n == total * 3 / 4) last_quarter_start = std::chrono::steady_clock::now();
  }
  const double last_quarter_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - last_quarter_start).count();
  const int64_t written = WrittenBytes() - written_before;
  (void)bench.store->Close();
  const std::string db = bench.dir + "/medulla.db";
  state.SetItemsProcessed(n);
  state.counters["last_quarter_entries/s"] =
      benchmark::Counter(static_cast<double>(total - total * 3 / 4) / last_quarter_s);
  state.counters["bucket_start_ms"] =
      benchmark::Counter(bucket_starts.count() * 1000 / static_cast<double>(total / 1024));
  state.counters["written_KiB/entry"] =
      benchmark::Counter(static_cast<double>(written) / 1024.0 / static_cast<double>(n));
  state.counters["db_KiB/entry"] =
      benchmark::Counter(static_cast<double>(FileBytes(db) + FileBytes(db + "-wal")) / 1024.0 /
                         static_cast<double>(n));
}
BENCHMARK(BM_AuditAppend)
    ->ArgName("distinct_patients")
    ->Arg(1000)
    ->Arg(10000)
    ->Iterations(4096)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// AuditEvent?patient= on a log of 4,600 entries that each name the same 1,000 patients, plus
// "rare" in every 64th entry: the first page (50 entries) for a patient every entry names, and
// for "rare" (its 50 newest entries span 3,200 entries, the newest part of them still in the
// bucket being filled), then the same page again from the middle of the log (before_seq).
void BM_AuditSearchByPatient(benchmark::State& state) {
  static BenchStore* const bench = [] {
    auto* b = new BenchStore;  // shared by the runs; removed at exit
    if (!b->Open().ok()) return b;
    const std::vector<std::string> gateway = PatientsOf(0, kPatientsPerEntry);
    for (int n = 1; n <= 4600; ++n) {
      std::vector<std::string> patients = gateway;
      if (n % 64 == 0) patients.push_back("rare");
      b->Append(BatchEntry(patients));
    }
    std::atexit([] { delete bench; });
    return b;
  }();
  if (!bench->store) {
    state.SkipWithError("could not open the store");
    return;
  }
  store::AuditQuery query;
  query.patient = state.range(0) == 0 ? "bench7" : "rare";
  query.before_seq = state.range(1) == 0 ? 0 : 2300;
  query.count = 50;
  for (auto _ : state) {
    auto page = bench->store->AuditSearch(query);
    if (!page || page->entries.empty()) {
      state.SkipWithError("the search failed or found nothing");
      return;
    }
    benchmark::DoNotOptimize(page);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_AuditSearchByPatient)
    ->ArgNames({"rare", "from_middle"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
