// Fuzzes the search path end to end: query-string decoding, the search grammar (prefixes,
// modifiers, chains, _has, includes, sort, cursors) under strict and lenient handling, and the
// execution of whatever parses against a small store (the generated SQL must never fail other
// than with a clean error, crash or hang).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string_view>

#include <unistd.h>

#include "core/metrics.h"
#include "records/record_service.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using medulla::records::RecordService;

// A store with a few linked resources, opened once, removed at exit.
RecordService& Records() {
  static medulla::core::MetricsRegistry metrics;
  static const std::string dir = (std::filesystem::temp_directory_path() /
                                  ("medulla-search-fuzz-" + std::to_string(::getpid())))
                                     .string();
  static std::unique_ptr<medulla::store::sqlite::SqliteStore> store = [] {
    medulla::store::sqlite::SqliteStoreOptions options;
    options.data_dir = dir;
    auto opened = medulla::store::sqlite::SqliteStore::Open(options, metrics,
                                                            medulla::core::SystemClock::Instance());
    if (!opened) std::abort();
    std::atexit([] {
      store.reset();
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return std::move(*opened);
  }();
  static RecordService records = [] {
    RecordService r(*store, medulla::fhir::Definitions::Embedded());
    auto put = [&](std::string_view type, std::string_view id, std::string_view body) {
      std::atomic<bool> done = false;
      r.Update(type, id, body, std::nullopt, [&](auto) { done = true; });
      while (!done) usleep(100);
    };
    put("Patient", "p1",
        R"({"resourceType":"Patient","name":[{"family":"Smith","given":["Ann"]}],)"
        R"("gender":"female","birthDate":"1970-05-01","identifier":[{"system":"s","value":"1"}]})");
    put("Observation", "o1",
        R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":)"
        R"("http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},)"
        R"("effectiveDateTime":"2024-01-02T03:04:05Z","valueQuantity":{"value":72,)"
        R"("system":"http://unitsofmeasure.org","code":"/min"}})");
    return r;
  }();
  return records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RecordService& records = Records();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool plus_is_space : {false, true}) {
    auto params = medulla::records::ParseQueryString(text, plus_is_space);
    (void)records.ParseSearch("Patient", params, /*strict=*/true);
    auto result = records.Search("Observation", params, /*strict=*/false);
    if (result) (void)medulla::records::EncodeQueryString(result->applied);
  }
  return 0;
}
