// The fixture of the SeriesStore tests: a temporary directory, the store's options there (small
// blocks, so tests cross block boundaries), opening, and what kill -9 leaves of a store.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "telemetry/series_store.h"
#include "testing/temp_dir.h"

namespace medulla::telemetry {

class SeriesStoreFixture : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const {
    return (std::filesystem::path(dir_.path()) / name).string();
  }
  SeriesStoreOptions Options(const std::string& name = "telemetry.db") const {
    SeriesStoreOptions o;
    o.path = Path(name);
    o.block_points = 16;
    return o;
  }
  std::unique_ptr<SeriesStore> Open(const SeriesStoreOptions& o) {
    auto s = SeriesStore::Open(o);
    EXPECT_TRUE(s.has_value()) << s.error().message();
    return s.has_value() ? std::move(*s) : nullptr;
  }
  // `o` with the file `name` as its path, after copying o's database and WAL there while the
  // store is open: what kill -9 leaves.
  SeriesStoreOptions CopyAsCrashed(const SeriesStoreOptions& o, const std::string& name) const {
    SeriesStoreOptions copy = o;
    copy.path = Path(name);
    std::filesystem::copy_file(o.path, copy.path);
    if (std::filesystem::exists(o.path + "-wal")) {
      std::filesystem::copy_file(o.path + "-wal", copy.path + "-wal");
    }
    return copy;
  }

  medulla::testing::TempDir dir_;
};

}  // namespace medulla::telemetry
