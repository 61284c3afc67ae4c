// A real embedded store in a temporary directory with a RecordService over it: the fixture
// shared by tests of the layers above the store (records, api).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "core/metrics.h"
#include "records/record_service.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace medulla::testing {

class RecordFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    store::sqlite::SqliteStoreOptions options;
    options.data_dir = dir_.path() + "/data";
    auto s = store::sqlite::SqliteStore::Open(options, metrics_, core::SystemClock::Instance());
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
    records_ = std::make_unique<records::RecordService>(*store_, fhir::Definitions::Embedded());
  }

  TempDir dir_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<store::sqlite::SqliteStore> store_;
  std::unique_ptr<records::RecordService> records_;
};

}  // namespace medulla::testing
