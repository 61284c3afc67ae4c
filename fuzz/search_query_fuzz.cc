// Fuzzes the search query path: query-string decoding and search-parameter parsing (prefixes,
// dates, id lists, limits) under both strict and lenient handling.
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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // ParseSearch never touches the store, but a RecordService needs one: open it once, in a
  // directory removed at exit (closing the store first).
  static medulla::core::MetricsRegistry metrics;
  static const std::string dir = (std::filesystem::temp_directory_path() /
                                  ("medulla-search-fuzz-" + std::to_string(::getpid())))
                                     .string();
  static std::unique_ptr<medulla::store::sqlite::SqliteStore> store = [] {
    medulla::store::sqlite::SqliteStoreOptions options;
    options.data_dir = dir;
    auto opened = medulla::store::sqlite::SqliteStore::Open(options, metrics,
                                                            medulla::core::SystemClock::Instance());
    std::atexit([] {
      store.reset();
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return std::move(*opened);
  }();
  static medulla::records::RecordService records(*store, medulla::fhir::Definitions::Embedded());
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool plus_is_space : {false, true}) {
    auto params = medulla::records::ParseQueryString(text, plus_is_space);
    medulla::records::QueryParams applied;
    std::vector<std::string> ignored;
    (void)records.ParseSearch("Observation", params, /*strict=*/false, &applied, &ignored);
    (void)records.ParseSearch("Patient", params, /*strict=*/true, nullptr, nullptr);
    (void)medulla::records::EncodeQueryString(applied);
  }
  return 0;
}
