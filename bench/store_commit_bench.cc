// The commit path of the embedded store: units of N Synthea-sized Patient creates, durable
// (synchronous=full) and not. Shows what group commit buys: versions/s grow with the unit size
// because the fsync is shared. The `encrypted` variants run the same on an encrypted store
// (encryption at rest, store/sqlite/encrypted_vfs.h): their ratio to the plain ones is its cost.
#include <benchmark/benchmark.h>

#include <array>
#include <filesystem>
#include <vector>

#include "core/ids.h"
#include "core/metrics.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/store_cipher.h"

namespace {

using namespace medulla;

const std::string kBenchKey(32, '\x42');

fhir::ResourceParts PatientParts() {
  fhir::ResourceParts p;
  p.type = "Patient";
  // About the size of a Synthea Patient (3.5 KB).
  p.content = R"("name":[{"use":"official","family":"Benchmark","given":["Ana"]}],)"
              R"("gender":"female","birthDate":"1958-03-02","text":{"status":"generated",)"
              R"("div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">)" +
              std::string(3200, 'x') + R"(</div>"})";
  return p;
}

void BM_CommitUnits(benchmark::State& state) {
  const size_t per_unit = static_cast<size_t>(state.range(0));
  const bool durable = state.range(1) != 0;
  const bool encrypted = state.range(2) != 0;
  std::string dir = std::filesystem::temp_directory_path() / ("medulla-bench-" + core::NewUuidV7());
  core::MetricsRegistry metrics;
  store::sqlite::SqliteStoreOptions options;
  options.data_dir = dir;
  options.synchronous = durable ? "full" : "normal";
  if (encrypted) options.encryption_key = kBenchKey;
  auto s = store::sqlite::SqliteStore::Open(options, metrics, core::SystemClock::Instance());
  if (!s) {
    state.SkipWithError(s.error().ToString().c_str());
    return;
  }
  const fhir::ResourceParts parts = PatientParts();
  for (auto _ : state) {
    store::Unit unit;
    for (size_t i = 0; i < per_unit; ++i) {
      store::Write w;
      w.type = "Patient";
      w.id = core::NewUuidV7();
      w.resource = parts;
      unit.writes.push_back(std::move(w));
    }
    auto results = store::CommitAndWait(**s, std::move(unit));
    benchmark::DoNotOptimize(results);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * per_unit));
  (void)(*s)->Close();
  s->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_CommitUnits)
    ->ArgNames({"writes_per_commit", "durable", "encrypted"})
    ->Args({1, 1, 0})
    ->Args({16, 1, 0})
    ->Args({64, 1, 0})
    ->Args({256, 1, 0})
    ->Args({64, 0, 0})
    ->Args({1, 1, 1})
    ->Args({64, 1, 1})
    ->Args({64, 0, 1})
    ->UseRealTime();

// Point reads of the current version by id from one thread, on a store of 10,000 Patients:
// with the store's read cache, and without it (every read goes to SQLite, whose page cache
// holds the opened pages), plain and encrypted.
void BM_ReadCurrent(benchmark::State& state) {
  std::string dir = std::filesystem::temp_directory_path() / ("medulla-bench-" + core::NewUuidV7());
  core::MetricsRegistry metrics;
  store::sqlite::SqliteStoreOptions options;
  options.data_dir = dir;
  if (state.range(0) == 0) options.read_cache_bytes = 0;
  if (state.range(1) != 0) options.encryption_key = kBenchKey;
  auto s = store::sqlite::SqliteStore::Open(options, metrics, core::SystemClock::Instance());
  std::vector<std::string> ids;
  store::Unit unit;
  for (int i = 0; i < 10000; ++i) {
    store::Write w;
    w.type = "Patient";
    w.id = core::NewUuidV7();
    w.resource = PatientParts();
    ids.push_back(w.id);
    unit.writes.push_back(std::move(w));
  }
  store::CommitAndWait(**s, std::move(unit));
  size_t i = 0;
  for (auto _ : state) {
    auto r = (*s)->ReadCurrent("Patient", ids[i++ % ids.size()]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  (void)(*s)->Close();
  s->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ReadCurrent)
    ->ArgNames({"read_cache", "encrypted"})
    ->Args({1, 0})
    ->Args({0, 0})
    ->Args({0, 1});

// Sealing and opening one 16 KiB page (the store's page size) with the store cipher: the
// per-page cost of encryption at rest, without I/O.
void BM_SealPage(benchmark::State& state) {
  auto cipher = store::sqlite::StoreCipher::FromKey(kBenchKey);
  std::vector<uint8_t> page(16384 - store::sqlite::StoreCipher::kTrailerBytes, 0x5a);
  std::array<uint8_t, store::sqlite::StoreCipher::kTrailerBytes> trailer{};
  const bool open = state.range(0) != 0;
  if (open) cipher->Seal(page, {}, trailer);
  std::vector<uint8_t> sealed = page;
  for (auto _ : state) {
    if (open) {
      page = sealed;
      benchmark::DoNotOptimize(cipher->Open(page, {}, trailer));
    } else {
      benchmark::DoNotOptimize(cipher->Seal(page, {}, trailer));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 16384));
}
BENCHMARK(BM_SealPage)->ArgName("open")->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
