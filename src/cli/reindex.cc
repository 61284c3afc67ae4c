// medulla reindex: rebuilds the search index of a data directory from the stored resources,
// after the search parameter definitions changed (a new medulla rebuilds it on its own when it
// notices; this forces it, e.g. after restoring an old backup).
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/store_key.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/time.h"
#include "store/sqlite/sqlite_store.h"

namespace medulla::cli {

int RunReindex(const ReindexArgs& args) {
  core::InitLogging("warn");
  std::string data_dir = args.data_dir.empty() ? "var/medulla" : args.data_dir;
  auto started = std::chrono::steady_clock::now();
  core::MetricsRegistry metrics;
  store::sqlite::SqliteStoreOptions options;
  options.data_dir = data_dir;
  auto store_key = LoadStoreKey();
  if (!store_key) {
    std::fprintf(stderr, "medulla reindex: %s\n", store_key.error().message().c_str());
    return 1;
  }
  options.encryption_key = std::move(*store_key);
  options.rebuild_search_index = true;
  const bool tty = isatty(STDERR_FILENO) == 1;
  options.reindex_progress = [tty](int64_t done, int64_t total) {
    if (tty) {
      std::fprintf(stderr, "\rindexed %lld of %lld resources", static_cast<long long>(done),
                   static_cast<long long>(total));
      std::fflush(stderr);
    }
  };
  auto store = store::sqlite::SqliteStore::Open(options, metrics, core::SystemClock::Instance());
  if (tty) std::fprintf(stderr, "\n");
  if (!store) {
    std::fprintf(stderr, "medulla reindex: %s\n", store.error().message().c_str());
    return 1;
  }
  if (core::Status closed = (*store)->Close(); !closed.ok()) {
    std::fprintf(stderr, "medulla reindex: %s\n", closed.message().c_str());
    return 1;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("search index of %s rebuilt in %.1f s\n", data_dir.c_str(), seconds);
  return 0;
}

}  // namespace medulla::cli
