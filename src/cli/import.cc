#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/store_key.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/time.h"
#include "fhir/definitions.h"
#include "records/importer.h"
#include "records/record_service.h"
#include "store/sqlite/sqlite_store.h"

namespace medulla::cli {
namespace {

// A one-line progress bar on stderr, redrawn at most every 100 ms; only on a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(size_t total_bytes)
      : total_(total_bytes), enabled_(isatty(STDERR_FILENO) == 1) {}
  void Update(size_t done, size_t files_done, size_t files_total) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && done < total_) return;
    last_ = now;
    double frac = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
    int width = 30;
    int filled = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(filled), '=');
    bar.resize(static_cast<size_t>(width), ' ');
    std::fprintf(stderr, "\r[%s] %3.0f%%  %zu/%zu files  %.1f/%.1f MB", bar.c_str(), frac * 100,
                 files_done, files_total, done / 1e6, total_ / 1e6);
    std::fflush(stderr);
  }
  void Finish() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  size_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

int RunImport(const ImportArgs& args) {
  core::InitLogging("warn");
  std::string data_dir = args.data_dir.empty() ? "var/medulla" : args.data_dir;
  size_t total_bytes = 0;
  for (const auto& f : args.files) {
    std::error_code ec;
    auto size = std::filesystem::file_size(f, ec);
    if (ec) {
      std::fprintf(stderr, "medulla import: %s: %s\n", f.c_str(), ec.message().c_str());
      return 1;
    }
    total_bytes += size;
  }
  auto started = std::chrono::steady_clock::now();
  core::MetricsRegistry metrics;
  store::sqlite::SqliteStoreOptions options;
  options.data_dir = data_dir;
  auto store_key = LoadStoreKey();
  if (!store_key) {
    std::fprintf(stderr, "medulla import: %s\n", store_key.error().message().c_str());
    return 1;
  }
  options.encryption_key = std::move(*store_key);
  // Import commits without an fsync each and makes everything durable once at the end
  // (Checkpoint below): WAL with synchronous=NORMAL never corrupts, and the command reports
  // success only after the final sync.
  options.synchronous = "normal";
  auto store = store::sqlite::SqliteStore::Open(options, metrics, core::SystemClock::Instance());
  if (!store) {
    std::fprintf(stderr, "medulla import: %s\n", store.error().message().c_str());
    return 1;
  }
  records::RecordOptions record_options;
  records::RecordService records(**store, fhir::Definitions::Embedded(), record_options);
  ProgressBar bar(total_bytes);
  size_t files_done = 0;
  records::Importer importer(
      records, **store, [&](size_t bytes) { bar.Update(bytes, files_done, args.files.size()); });
  core::Status status;
  for (const auto& f : args.files) {
    status = importer.ImportFile(f);
    ++files_done;
    if (!status.ok()) break;
  }
  if (status.ok()) bar.Update(total_bytes, files_done, args.files.size());
  core::Status finished = importer.Finish();
  if (status.ok()) status = finished;
  bar.Finish();
  core::Status closed = (*store)->Close();
  if (status.ok()) status = closed;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const records::ImportStats& stats = importer.stats();
  if (!status.ok()) {
    std::fprintf(stderr, "medulla import: %s\n", status.message().c_str());
    std::fprintf(stderr,
                 "medulla import: stopped; %zu resources from earlier units were stored, the "
                 "failing unit was not\n",
                 stats.resources);
    return 1;
  }
  std::printf("imported %zu resources from %zu files (%.1f MB) in %.2f s: %.0f resources/s\n",
              stats.resources, stats.files, stats.bytes / 1e6, seconds,
              seconds > 0 ? stats.resources / seconds : 0.0);
  for (const auto& [type, n] : stats.by_type) std::printf("  %-28s %zu\n", type.c_str(), n);
  return 0;
}

}  // namespace medulla::cli
