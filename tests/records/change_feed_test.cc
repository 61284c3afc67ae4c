// The change feed delivers every committed version once, in commit order, from a given
// position, and is woken by commits (not only by its poll).
#include "records/change_feed.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "testing/record_fixture.h"

namespace medulla::records {
namespace {

class ChangeFeedTest : public testing::RecordFixture {
 protected:
  std::string Create(std::string_view body) {
    std::promise<core::Result<WriteReply>> p;
    records_->Create("Patient", body, std::nullopt,
                     [&](core::Result<WriteReply> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? r->record.id : "";
  }
  struct Seen {
    std::mutex mu;
    std::vector<std::pair<int64_t, std::string>> versions;  // seq, id
  };
};

TEST_F(ChangeFeedTest, DeliversCommitsInOrderFromTheStartPosition) {
  const std::string before = Create(R"({"resourceType":"Patient","gender":"male"})");
  const int64_t start = store_->Stats().last_seq;
  Seen seen;
  // A long poll: only the commit listener can make delivery prompt.
  ChangeFeed feed(*store_, {.poll = std::chrono::seconds(60)});
  feed.Add([&](const store::VersionRecord& v) {
    std::lock_guard lock(seen.mu);
    seen.versions.emplace_back(v.seq, v.id);
  });
  feed.Start(start);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Create(R"({"resourceType":"Patient"})"));
  ASSERT_TRUE(feed.WaitDelivered(store_->Stats().last_seq, std::chrono::seconds(5)));
  std::lock_guard lock(seen.mu);
  ASSERT_EQ(seen.versions.size(), 5u);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(seen.versions[i].second, ids[i]);
    if (i > 0) {
      EXPECT_GT(seen.versions[i].first, seen.versions[i - 1].first);
    }
  }
  for (const auto& [seq, id] : seen.versions)
    EXPECT_NE(id, before) << "delivered from before the start";
}

TEST_F(ChangeFeedTest, ResumesFromAPositionAndPagesThroughBacklogs) {
  for (int i = 0; i < 30; ++i) Create(R"({"resourceType":"Patient"})");
  Seen seen;
  ChangeFeed feed(*store_, {.batch = 7});  // several reads for the backlog
  feed.Add([&](const store::VersionRecord& v) {
    std::lock_guard lock(seen.mu);
    seen.versions.emplace_back(v.seq, v.id);
  });
  feed.Start(10);
  ASSERT_TRUE(feed.WaitDelivered(store_->Stats().last_seq, std::chrono::seconds(5)));
  std::lock_guard lock(seen.mu);
  ASSERT_EQ(seen.versions.size(), static_cast<size_t>(store_->Stats().last_seq - 10));
  EXPECT_EQ(seen.versions.front().first, 11);
  EXPECT_EQ(feed.position(), store_->Stats().last_seq);
}

TEST_F(ChangeFeedTest, ChangesReadsOldestFirstWithALimit) {
  for (int i = 0; i < 4; ++i) Create(R"({"resourceType":"Patient"})");
  auto page = store_->Changes(1, 2);
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 2);
  EXPECT_EQ((*page)[1].seq, 3);
  EXPECT_FALSE((*page)[0].body.empty());
  auto none = store_->Changes(store_->Stats().last_seq, 10);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace medulla::records
