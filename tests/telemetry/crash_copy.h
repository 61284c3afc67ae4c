// What kill -9 leaves of a SeriesStore: its database file and WAL copied while it is open.
#pragma once

#include <filesystem>
#include <string>

#include "telemetry/series_store.h"

namespace medulla::telemetry {

// The store's options with `copy_path` as the path, after copying the file and its WAL there.
inline SeriesStoreOptions CopyStoreAsCrashed(const SeriesStoreOptions& o,
                                             const std::string& copy_path) {
  SeriesStoreOptions copy = o;
  copy.path = copy_path;
  std::filesystem::copy_file(o.path, copy.path);
  if (std::filesystem::exists(o.path + "-wal")) {
    std::filesystem::copy_file(o.path + "-wal", copy.path + "-wal");
  }
  return copy;
}

}  // namespace medulla::telemetry
