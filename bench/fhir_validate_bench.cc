// Parse + Validate throughput on Synthea data: one Patient (the common single-resource write)
// and one whole patient bundle (the bulk-load path). Also the parts on their own and the
// one-time cost of loading the definitions.
#include <benchmark/benchmark.h>

#include "bench_files.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fhir/definitions.h"
#include "fhir/validator.h"
#include "json/parse.h"
#include "json/write.h"

namespace medulla::fhir {
namespace {

namespace fs = std::filesystem;

fs::path SourceDir() {
  const char* dir = std::getenv("MEDULLA_SOURCE_DIR");
  return dir != nullptr ? dir : MEDULLA_SOURCE_DIR;
}

using bench::ReadFileOrDie;

// A mid-sized bundle (660 KB, 719 resources).
const std::string& BundleText() {
  static const std::string text = ReadFileOrDie(
      SourceDir() / "tests/data/fhir/synthea/Fidel_Bins_79dabd54-65a3-41b3-8975-e868bffce1e1.json");
  return text;
}

// Its Patient resource, written compactly as a client would send it (about 3.5 KB).
const std::string& PatientText() {
  static const std::string text = [] {
    auto doc = json::Parse(BundleText());
    for (const json::Value* e : doc->root()->Find("entry")->items()) {
      const json::Value* r = e->Find("resource");
      if (r->StringOr("resourceType") == "Patient") return json::Write(*r);
    }
    std::fprintf(stderr, "no Patient in the bundle\n");
    std::exit(1);
  }();
  return text;
}

size_t ResourceCount(const std::string& bundle) {
  auto doc = json::Parse(bundle);
  return doc->root()->Find("entry")->size() + 1;  // the entries and the Bundle itself
}

void ParseAndValidate(benchmark::State& state, const std::string& text, size_t resources) {
  const Definitions& defs = Definitions::Embedded();
  json::ParseLimits limits{.max_bytes = 64 << 20, .max_depth = 128};
  for (auto _ : state) {
    auto doc = json::Parse(text, limits);
    auto issues = Validate(defs, *doc->root());
    if (!issues.empty()) state.SkipWithError("unexpected validation issues");
    benchmark::DoNotOptimize(issues);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * resources));
}

void ValidateOnly(benchmark::State& state, const std::string& text, size_t resources) {
  const Definitions& defs = Definitions::Embedded();
  json::ParseLimits limits{.max_bytes = 64 << 20, .max_depth = 128};
  auto doc = json::Parse(text, limits);
  for (auto _ : state) {
    auto issues = Validate(defs, *doc->root());
    benchmark::DoNotOptimize(issues);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * resources));
}

void ParseOnly(benchmark::State& state, const std::string& text, size_t resources) {
  json::ParseLimits limits{.max_bytes = 64 << 20, .max_depth = 128};
  for (auto _ : state) {
    auto doc = json::Parse(text, limits);
    benchmark::DoNotOptimize(doc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * resources));
}

void BM_PatientParseValidate(benchmark::State& state) {
  ParseAndValidate(state, PatientText(), 1);
}
void BM_PatientValidate(benchmark::State& state) {
  ValidateOnly(state, PatientText(), 1);
}
void BM_PatientParse(benchmark::State& state) {
  ParseOnly(state, PatientText(), 1);
}

void BM_BundleParseValidate(benchmark::State& state) {
  ParseAndValidate(state, BundleText(), ResourceCount(BundleText()));
}
void BM_BundleValidate(benchmark::State& state) {
  ValidateOnly(state, BundleText(), ResourceCount(BundleText()));
}
void BM_BundleParse(benchmark::State& state) {
  ParseOnly(state, BundleText(), ResourceCount(BundleText()));
}

// What Definitions::Embedded() costs once at startup (same data, read from data/fhir).
void BM_LoadDefinitions(benchmark::State& state) {
  std::string resources =
      ReadFileOrDie(SourceDir() / "data/fhir/definitions/profiles-resources.json");
  std::string types = ReadFileOrDie(SourceDir() / "data/fhir/definitions/profiles-types.json");
  std::string bindings =
      ReadFileOrDie(SourceDir() / "data/fhir/definitions/required-bindings.json");
  for (auto _ : state) {
    auto defs = Definitions::Load(resources, types, bindings);
    if (!defs) state.SkipWithError(defs.error().message().c_str());
    benchmark::DoNotOptimize(defs);
  }
  state.SetBytesProcessed(static_cast<int64_t>(
      state.iterations() * (resources.size() + types.size() + bindings.size())));
}

BENCHMARK(BM_PatientParseValidate);
BENCHMARK(BM_PatientValidate);
BENCHMARK(BM_PatientParse);
BENCHMARK(BM_BundleParseValidate)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BundleValidate)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BundleParse)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadDefinitions)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medulla::fhir

BENCHMARK_MAIN();
