// JSON parsing into medulla's tree (keeps number text and member order) against simdjson's own
// DOM parser on the same bytes, in the same run: the ratio is the price of our tree.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include "bench_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "json/parse.h"
#include "json/write.h"

namespace {

std::string ReadSyntheaBundle() {
  std::string dir = MEDULLA_TEST_DATA_DIR "/fhir/synthea";
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return medulla::bench::ReadFileOrDie(files.front());
}

const std::string& Bundle() {
  static const std::string text = ReadSyntheaBundle();
  return text;
}

void BM_MedullaParse(benchmark::State& state) {
  const std::string& text = Bundle();
  medulla::json::ParseLimits limits{.max_bytes = 1 << 30};
  for (auto _ : state) {
    auto doc = medulla::json::Parse(text, limits);
    benchmark::DoNotOptimize(doc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_MedullaParse);

void BM_SimdjsonDomParse(benchmark::State& state) {
  const std::string& text = Bundle();
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  for (auto _ : state) {
    auto doc = parser.parse(padded);
    benchmark::DoNotOptimize(doc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_SimdjsonDomParse);

void BM_MedullaWrite(benchmark::State& state) {
  const std::string& text = Bundle();
  auto doc = medulla::json::Parse(text, medulla::json::ParseLimits{.max_bytes = 1 << 30});
  std::string out;
  for (auto _ : state) {
    out.clear();
    medulla::json::Write(*doc->root(), out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_MedullaWrite);

}  // namespace

BENCHMARK_MAIN();
