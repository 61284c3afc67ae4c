#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "testing/store_writes.h"
#include "testing/temp_dir.h"

namespace medulla::store::sqlite {
namespace {

class FakeClock final : public core::Clock {
 public:
  core::MicrosSinceEpoch Now() const override { return now; }
  core::MicrosSinceEpoch now = 1795248000LL * 1000000;  // 2026-11-21T08:00:00Z
};

using testing::CommitOne;
using testing::CreateWrite;
using testing::DeleteWrite;
using testing::UpdateWrite;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    SqliteStoreOptions options;
    options.data_dir = dir_.path();
    auto s = SqliteStore::Open(options, metrics_, clock_);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  testing::TempDir dir_;
  core::MetricsRegistry metrics_;
  FakeClock clock_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, CreateStampsIdVersionAndLastUpdated) {
  WriteResult r = CommitOne(*store_, CreateWrite("Patient", "p1"));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.outcome, WriteOutcome::kCreated);
  EXPECT_EQ(r.record.version, 1);
  EXPECT_EQ(r.record.seq, 1);
  EXPECT_EQ(r.record.body, R"({"resourceType":"Patient","id":"p1","meta":{"versionId":"1",)"
                           R"("lastUpdated":"2026-11-21T08:00:00.000Z"},"active":true})");
  auto read = store_->ReadCurrent("Patient", "p1");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->body, r.record.body);
}

TEST_F(SqliteStoreTest, UpdateMakesNewVersionAndKeepsOldOnes) {
  CommitOne(*store_, CreateWrite("Patient", "p1", R"("gender":"male")"));
  WriteResult u = CommitOne(*store_, UpdateWrite("Patient", "p1", R"("gender":"female")"));
  ASSERT_TRUE(u.status.ok());
  EXPECT_EQ(u.outcome, WriteOutcome::kUpdated);
  EXPECT_EQ(u.record.version, 2);
  auto v1 = store_->ReadVersion("Patient", "p1", 1);
  ASSERT_TRUE(v1);
  EXPECT_NE(v1->body.find("male"), std::string::npos);
  EXPECT_EQ(v1->body.find("female"), std::string::npos);
  EXPECT_FALSE(store_->ReadVersion("Patient", "p1", 3));
}

TEST_F(SqliteStoreTest, UpdateOfUnknownIdCreates) {
  WriteResult u = CommitOne(*store_, UpdateWrite("Patient", "new", R"("active":false)"));
  ASSERT_TRUE(u.status.ok());
  EXPECT_EQ(u.outcome, WriteOutcome::kCreated);
  EXPECT_EQ(u.record.version, 1);
}

TEST_F(SqliteStoreTest, IfMatchRejectsStaleVersion) {
  CommitOne(*store_, CreateWrite("Patient", "p1"));
  EXPECT_TRUE(CommitOne(*store_, UpdateWrite("Patient", "p1", R"("active":false)", 1)).status.ok());
  WriteResult stale = CommitOne(*store_, UpdateWrite("Patient", "p1", R"("active":true)", 1));
  EXPECT_EQ(stale.status.code(), core::Code::kPreconditionFailed);
  EXPECT_EQ(store_->ReadCurrent("Patient", "p1")->version, 2);
}

TEST_F(SqliteStoreTest, DeleteWritesTombstoneAndReadsAreGone) {
  CommitOne(*store_, CreateWrite("Patient", "p1"));
  WriteResult d = CommitOne(*store_, DeleteWrite("Patient", "p1"));
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.outcome, WriteOutcome::kDeleted);
  EXPECT_EQ(d.record.version, 2);
  auto read = store_->ReadCurrent("Patient", "p1");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code(), core::Code::kGone);
  EXPECT_EQ(store_->ReadVersion("Patient", "p1", 2).error().code(), core::Code::kGone);
  EXPECT_TRUE(store_->ReadVersion("Patient", "p1", 1));
  EXPECT_EQ(CommitOne(*store_, DeleteWrite("Patient", "p1")).outcome, WriteOutcome::kNoChange);
  EXPECT_EQ(CommitOne(*store_, DeleteWrite("Patient", "never")).outcome, WriteOutcome::kNoChange);
  EXPECT_EQ(store_->ReadCurrent("Patient", "never").error().code(), core::Code::kNotFound);
}

TEST_F(SqliteStoreTest, FailingUnitLeavesNoTrace) {
  CommitOne(*store_, CreateWrite("Patient", "p1"));
  Unit unit;
  unit.writes.push_back(CreateWrite("Patient", "p2"));
  unit.writes.push_back(UpdateWrite("Patient", "p1", R"("active":false)", /*if_match=*/7));
  auto results = CommitAndWait(*store_, std::move(unit));
  EXPECT_EQ(results[1].status.code(), core::Code::kPreconditionFailed);
  EXPECT_EQ(results[0].status.code(), core::Code::kConflict);
  EXPECT_EQ(store_->ReadCurrent("Patient", "p2").error().code(), core::Code::kNotFound);
  // Sequence numbers of the rolled-back unit are reused: the feed has no holes.
  EXPECT_EQ(CommitOne(*store_, CreateWrite("Patient", "p3")).record.seq, 2);
}

TEST_F(SqliteStoreTest, ConditionalCreateFindsExisting) {
  CommitOne(*store_, CreateWrite("Patient", "p1"));
  Write w = CreateWrite("Patient", "p2");
  SearchQuery by_id{.type = "Patient"};
  by_id.filters.push_back(
      SearchFilter{.kind = SearchFilter::Kind::kId, .any_of = {{.text = "p1"}}});
  w.if_none_exist = std::move(by_id);
  WriteResult r = CommitOne(*store_, std::move(w));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.outcome, WriteOutcome::kExisting);
  EXPECT_EQ(r.record.id, "p1");
  EXPECT_EQ(store_->ReadCurrent("Patient", "p2").error().code(), core::Code::kNotFound);
}

TEST_F(SqliteStoreTest, SearchPagesInInsertionOrderAndFiltersLastUpdated) {
  for (int i = 0; i < 7; ++i) {
    clock_.now += 1000000;
    CommitOne(*store_, CreateWrite("Observation", fmt::format("o{}", i)));
  }
  CommitOne(*store_, CreateWrite("Patient", "other"));
  CommitOne(*store_, DeleteWrite("Observation", "o3"));
  SearchQuery q{.type = "Observation", .count = 4};
  auto p1 = store_->Search(q);
  ASSERT_TRUE(p1);
  ASSERT_EQ(p1->resources.size(), 4u);
  EXPECT_EQ(p1->resources[0].id, "o0");
  ASSERT_TRUE(p1->next_cursor);
  q.cursor = *p1->next_cursor;
  auto p2 = store_->Search(q);
  ASSERT_TRUE(p2);
  ASSERT_EQ(p2->resources.size(), 2u);  // o3 is deleted
  EXPECT_EQ(p2->resources[0].id, "o5");
  EXPECT_FALSE(p2->next_cursor);
  ASSERT_TRUE(p2->prev_cursor);
  q.cursor = *p2->prev_cursor;
  auto back = store_->Search(q);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->resources.size(), 4u);
  EXPECT_EQ(back->resources[0].id, "o0");
  EXPECT_EQ(back->resources[3].id, "o4");

  SearchQuery recent{.type = "Observation"};
  // lastUpdated >= the 5th second: o4, o5, o6.
  recent.filters.push_back(SearchFilter{.kind = SearchFilter::Kind::kLastUpdated,
                                        .any_of = {{.comparator = Comparator::kGe,
                                                    .begin = 1795248000LL * 1000000 + 5000000,
                                                    .end = 1795248000LL * 1000000 + 5001000}}});
  auto r = store_->Search(recent);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->resources.size(), 3u);  // o4, o5, o6
  EXPECT_EQ(r->resources[0].id, "o4");
  EXPECT_EQ(r->total, 3);
}

TEST_F(SqliteStoreTest, HistoryIsNewestFirstAndPaged) {
  CommitOne(*store_, CreateWrite("Patient", "p1"));
  CommitOne(*store_, UpdateWrite("Patient", "p1", R"("active":false)"));
  CommitOne(*store_, CreateWrite("Observation", "o1"));
  CommitOne(*store_, DeleteWrite("Patient", "p1"));
  auto instance = store_->History(HistoryQuery{.type = "Patient", .id = "p1"});
  ASSERT_TRUE(instance);
  ASSERT_EQ(instance->entries.size(), 3u);
  EXPECT_EQ(instance->entries[0].version, 3);
  EXPECT_TRUE(instance->entries[0].deleted());
  auto system = store_->History(HistoryQuery{.count = 2});
  ASSERT_TRUE(system);
  ASSERT_EQ(system->entries.size(), 2u);
  EXPECT_EQ(system->entries[0].seq, 4);
  ASSERT_TRUE(system->next_before_seq);
  auto rest = store_->History(HistoryQuery{.before_seq = *system->next_before_seq, .count = 10});
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->entries.size(), 2u);
  auto type = store_->History(HistoryQuery{.type = "Observation"});
  ASSERT_TRUE(type);
  EXPECT_EQ(type->entries.size(), 1u);
}

TEST_F(SqliteStoreTest, ConcurrentWritersShareCommits) {
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (CommitOne(*store_, CreateWrite("Patient", fmt::format("t{}-{}", t, i))).status.ok())
          ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(store_->Stats().last_seq, kThreads * kPerThread);
  uint64_t commits = metrics_.GetCounter("medulla_store_commits_total", "").Value();
  EXPECT_LT(commits, static_cast<uint64_t>(kThreads * kPerThread));  // group commit happened
}

TEST_F(SqliteStoreTest, DataSurvivesReopenAndSeqContinues) {
  CommitOne(*store_, CreateWrite("Patient", "p1"));
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  Open();
  EXPECT_TRUE(store_->ReadCurrent("Patient", "p1"));
  EXPECT_EQ(CommitOne(*store_, CreateWrite("Patient", "p2")).record.seq, 2);
}

TEST_F(SqliteStoreTest, SecondOpenOfSameDirectoryFails) {
  SqliteStoreOptions options;
  options.data_dir = dir_.path();
  core::MetricsRegistry other;
  auto second = SqliteStore::Open(options, other, clock_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), core::Code::kUnavailable);
}

TEST_F(SqliteStoreTest, SubmitAfterCloseFailsUnavailable) {
  ASSERT_TRUE(store_->Close().ok());
  EXPECT_EQ(CommitOne(*store_, CreateWrite("Patient", "late")).status.code(),
            core::Code::kUnavailable);
}

}  // namespace
}  // namespace medulla::store::sqlite

namespace medulla::store::sqlite {
namespace {

// Regression: _count=0 dereferenced the last row of an empty page and crashed the server.
TEST_F(SqliteStoreTest, CountZeroReturnsOnlyTheTotal) {
  CommitOne(*store_, CreateWrite("Patient", "p1"));
  CommitOne(*store_, CreateWrite("Patient", "p2"));
  auto page = store_->Search(SearchQuery{.type = "Patient", .count = 0});
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->resources.empty());
  EXPECT_FALSE(page->next_cursor);
  EXPECT_EQ(page->total, 2);
  auto history = store_->History(HistoryQuery{.count = 0});
  ASSERT_TRUE(history);
  EXPECT_TRUE(history->entries.empty());
}

}  // namespace
}  // namespace medulla::store::sqlite

namespace medulla::store::sqlite {
namespace {

TEST_F(SqliteStoreTest, CreateOfAnExistingIdIsAConflictAndLeavesNoTrace) {
  CommitOne(*store_, CreateWrite("Patient", "p1", R"("gender":"male")"));
  WriteResult again = CommitOne(*store_, CreateWrite("Patient", "p1", R"("gender":"female")"));
  EXPECT_EQ(again.status.code(), core::Code::kConflict);
  auto read = store_->ReadCurrent("Patient", "p1");
  ASSERT_TRUE(read);
  EXPECT_NE(read->body.find("\"male\""), std::string::npos);
  EXPECT_EQ(store_->Stats().last_seq, 1);
  // No partial row was left behind by the failed insert: the next write takes seq 2 cleanly,
  // and history shows exactly the two real versions.
  WriteResult next = CommitOne(*store_, CreateWrite("Patient", "p2"));
  ASSERT_TRUE(next.status.ok()) << next.status.ToString();
  EXPECT_EQ(next.record.seq, 2);
  auto history = store_->History(HistoryQuery{.count = 10});
  ASSERT_TRUE(history);
  EXPECT_EQ(history->entries.size(), 2u);
}

}  // namespace
}  // namespace medulla::store::sqlite

namespace medulla::store::sqlite {
namespace {

TEST_F(SqliteStoreTest, HistorySinceIsExactAtCommitBoundaries) {
  const core::MicrosSinceEpoch t0 = clock_.now;
  CommitOne(*store_, CreateWrite("Patient", "a"));
  clock_.now = t0 + 5000000;
  CommitOne(*store_, CreateWrite("Patient", "b"));
  CommitOne(*store_, UpdateWrite("Patient", "a", R"("active":false)"));
  clock_.now = t0 + 9000000;
  CommitOne(*store_, CreateWrite("Patient", "c"));

  auto count = [&](core::MicrosSinceEpoch since) {
    auto page = store_->History(HistoryQuery{.since = since, .count = 100});
    EXPECT_TRUE(page);
    return page ? page->entries.size() : 0u;
  };
  EXPECT_EQ(count(t0), 4u);
  EXPECT_EQ(count(t0 + 1000), 3u);
  EXPECT_EQ(count(t0 + 5000000), 3u);
  EXPECT_EQ(count(t0 + 5001000), 1u);
  EXPECT_EQ(count(t0 + 9000000), 1u);
  EXPECT_EQ(count(t0 + 3600LL * 1000000), 0u);  // the future: answered from the commit log
  auto instance = store_->History(HistoryQuery{.type = "Patient", .id = "a", .since = t0 + 1000});
  ASSERT_TRUE(instance);
  EXPECT_EQ(instance->entries.size(), 1u);
}

}  // namespace
}  // namespace medulla::store::sqlite

#include "testing/faulty_vfs.h"

namespace medulla::store::sqlite {
namespace {

// Regression (review): when the disk fills mid-batch SQLite may end the whole transaction.
// The store must then fail the whole batch, never acknowledge a write that is not stored,
// keep its sequence numbers consistent, and work again once space is back.
class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::RegisterFaultyVfs();
    SqliteStoreOptions options;
    options.data_dir = dir_.path();
    options.vfs = testing::kFaultyVfsName;
    options.cache_size_kib = 64;   // a small cache spills pages mid-transaction
    options.read_cache_bytes = 0;  // every read goes to the database
    auto s = SqliteStore::Open(options, metrics_, clock_);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override { testing::SetWritesFail(false); }

  testing::TempDir dir_;
  core::MetricsRegistry metrics_;
  FakeClock clock_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(FullDiskTest, WritesFailWholeAndTheStoreRecovers) {
  const std::string big(20000,
                        'x');  // big rows: the failure hits while inserting, not only at COMMIT
  ASSERT_TRUE(
      CommitOne(*store_, CreateWrite("Patient", "before", "\"text\":{\"div\":\"" + big + "\"}"))
          .status.ok());
  testing::SetWritesFail(true);
  // Several units in flight at once, so they share batches.
  std::vector<std::thread> writers;
  std::atomic<int> acknowledged{0};
  std::vector<std::string> acked_ids(16);
  for (int t = 0; t < 16; ++t) {
    writers.emplace_back([&, t] {
      std::string id = fmt::format("during{}", t);
      WriteResult r =
          CommitOne(*store_, CreateWrite("Patient", id, "\"text\":{\"div\":\"" + big + "\"}"));
      if (r.status.ok()) {
        ++acknowledged;
        acked_ids[t] = id;
      } else {
        EXPECT_EQ(r.status.code(), core::Code::kInternal) << r.status.ToString();
      }
    });
  }
  for (auto& w : writers) w.join();
  testing::SetWritesFail(false);
  // Nothing acknowledged is missing, nothing unacknowledged is there.
  for (int t = 0; t < 16; ++t) {
    auto read = store_->ReadCurrent("Patient", fmt::format("during{}", t));
    EXPECT_EQ(read.has_value(), !acked_ids[t].empty()) << t;
  }
  // The store works again, with sequence numbers that continue from what is really stored.
  WriteResult after = CommitOne(*store_, CreateWrite("Patient", "after"));
  ASSERT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_EQ(after.record.seq, 2 + acknowledged.load());
  EXPECT_TRUE(store_->ReadCurrent("Patient", "before"));
  EXPECT_TRUE(store_->ReadCurrent("Patient", "after"));
  EXPECT_GT(metrics_.GetCounter("medulla_store_commit_failures_total", "").Value(), 0u);
}

}  // namespace
}  // namespace medulla::store::sqlite
