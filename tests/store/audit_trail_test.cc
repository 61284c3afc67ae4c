// The audit log's write side: the journal file, folding into the table, recovery after a kill,
// and verification across both.
#include "store/sqlite/audit_trail.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "store/sqlite/audit_journal.h"
#include "store/sqlite/audit_log.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace medulla::store::sqlite {
namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";

AuditEntry Entry(int n, std::vector<std::string> patients = {"p1"}) {
  AuditEntry e;
  e.event = fmt::format(R"({{"i":"read","n":{}}})", n);
  e.patients = std::move(patients);
  e.recorded = 1'700'000'000'000'000 + n;
  return e;
}

std::vector<AuditEntry> Entries(int from, int to) {
  std::vector<AuditEntry> out;
  for (int n = from; n <= to; ++n) out.push_back(Entry(n));
  return out;
}

class AuditTrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::Open(dir_.path() + "/medulla.db", false);
    ASSERT_TRUE(db) << db.error().ToString();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Exec(kAuditSchema).ok());
  }
  std::unique_ptr<AuditTrail> OpenTrail() {
    auto trail = std::make_unique<AuditTrail>(kKey);
    core::Status s = trail->Open(dir_.path(), *db_);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return trail;
  }
  // What the commit thread does: one transaction that folds the journal into the table.
  void Fold(AuditTrail& trail, bool commit = true) {
    ASSERT_TRUE(db_->Exec("BEGIN").ok());
    auto fold = trail.BeginFold();
    ASSERT_TRUE(fold) << fold.error().ToString();
    for (const SealedAuditEntry& e : fold->entries) {
      ASSERT_TRUE(AuditAppender::Insert(*db_, e).ok());
    }
    ASSERT_TRUE(db_->Exec(commit ? "COMMIT" : "ROLLBACK").ok());
    trail.EndFold(std::move(*fold), commit);
  }
  int64_t TableRows() {
    auto raw = db_->Prepare("SELECT count(*) FROM audit_log");
    Stmt stmt(*raw);
    stmt.Step();
    return stmt.Int(0);
  }
  AuditVerification Verify() {
    auto v = VerifyAuditLogFile(dir_.path() + "/medulla.db", AuditTrail::JournalFiles(dir_.path()),
                                kKey);
    EXPECT_TRUE(v) << v.error().ToString();
    return v ? *v : AuditVerification{};
  }

  testing::TempDir dir_;
  std::unique_ptr<Db> db_;
};

TEST(AuditJournalTest, RecordsRoundTripAndAZeroLengthEndsTheJournal) {
  SealedAuditEntry e{
      7, 123, {"a", "b"}, R"({"i":"read"})", std::string(64, '0'), std::string(64, 'f')};
  std::string bytes;
  EncodeAuditJournalRecord(e, bytes);
  EncodeAuditJournalRecord(SealedAuditEntry{8, 124, {}, "{}", e.hash, std::string(64, 'e')}, bytes);
  const size_t written = bytes.size();
  bytes.append(64, '\0');  // the unused rest of the file
  size_t used = 0;
  auto decoded = DecodeAuditJournal(bytes, used);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ(used, written);
  EXPECT_EQ((*decoded)[0].seq, 7);
  EXPECT_EQ((*decoded)[0].patients, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*decoded)[0].event, e.event);
  EXPECT_EQ((*decoded)[1].prev_hash, e.hash);
}

TEST(AuditJournalTest, AnAppendCutShortBeforeItsLengthReadsAsTheEnd) {
  std::string bytes;
  EncodeAuditJournalRecord(
      SealedAuditEntry{1, 1, {}, "{}", std::string(64, '0'), std::string(64, '1')}, bytes);
  std::string second;
  EncodeAuditJournalRecord(
      SealedAuditEntry{2, 2, {}, "{}", std::string(64, '1'), std::string(64, '2')}, second);
  std::fill(second.begin(), second.begin() + 4, '\0');  // the body landed, its length did not
  bytes += second;
  size_t used = 0;
  auto decoded = DecodeAuditJournal(bytes, used);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->size(), 1u);
}

TEST(AuditJournalTest, DamageIsAnErrorNotASilentEnd) {
  std::string bytes;
  EncodeAuditJournalRecord(
      SealedAuditEntry{1, 1, {"p"}, "{}", std::string(64, '0'), std::string(64, '1')}, bytes);
  std::string overrun = bytes.substr(0, bytes.size() - 3);  // length runs past the file
  size_t used = 0;
  EXPECT_FALSE(DecodeAuditJournal(overrun, used));
  std::string inner = bytes;
  inner[4 + 8 + 8 + 128] = '\x7f';  // an absurd patient count
  EXPECT_FALSE(DecodeAuditJournal(inner, used));
}

TEST_F(AuditTrailTest, AppendedEntriesChainAndFoldIntoTheTable) {
  auto trail = OpenTrail();
  ASSERT_TRUE(trail->Append(Entries(1, 3)).ok());
  ASSERT_TRUE(trail->Append(Entries(4, 5)).ok());
  EXPECT_EQ(trail->sealed(), 5);
  EXPECT_EQ(trail->stored(), 0);
  EXPECT_EQ(trail->unfolded(), 5u);
  Fold(*trail);
  EXPECT_EQ(trail->stored(), 5);
  EXPECT_EQ(trail->unfolded(), 0u);
  EXPECT_EQ(TableRows(), 5);
  AuditVerification v = Verify();
  EXPECT_FALSE(v.broken_seq) << v.problem;
  EXPECT_EQ(v.entries, 5);
}

TEST_F(AuditTrailTest, AFoldThatDoesNotCommitIsRetriedByTheNext) {
  auto trail = OpenTrail();
  ASSERT_TRUE(trail->Append(Entries(1, 2)).ok());
  Fold(*trail, /*commit=*/false);
  EXPECT_EQ(TableRows(), 0);
  EXPECT_EQ(trail->unfolded(), 2u);
  ASSERT_TRUE(trail->Append(Entries(3, 3)).ok());
  Fold(*trail);
  EXPECT_EQ(TableRows(), 3);
  EXPECT_FALSE(Verify().broken_seq);
}

TEST_F(AuditTrailTest, EntriesAKillLeftInTheJournalAreFoldedAtTheNextOpen) {
  {
    auto trail = OpenTrail();
    ASSERT_TRUE(trail->Append(Entries(1, 2)).ok());
    Fold(*trail);
    ASSERT_TRUE(trail->Append(Entries(3, 6)).ok());
    // Killed here: the entries are in the mapped file only.
  }
  EXPECT_EQ(TableRows(), 2);
  AuditVerification before = Verify();  // the journal counts while the server is down
  EXPECT_FALSE(before.broken_seq) << before.problem;
  EXPECT_EQ(before.entries, 6);
  auto trail = OpenTrail();
  EXPECT_EQ(TableRows(), 6);
  EXPECT_EQ(trail->stored(), 6);
  ASSERT_TRUE(trail->Append(Entries(7, 7)).ok());  // the chain goes on from the recovered head
  Fold(*trail);
  AuditVerification after = Verify();
  EXPECT_FALSE(after.broken_seq) << after.problem;
  EXPECT_EQ(after.entries, 7);
  EXPECT_EQ(AuditTrail::JournalFiles(dir_.path()).size(), 1u) << "recovered files are deleted";
}

TEST_F(AuditTrailTest, AnEditedJournalEntryIsNamed) {
  {
    auto trail = OpenTrail();
    ASSERT_TRUE(trail->Append(Entries(1, 3)).ok());
  }
  std::vector<std::string> files = AuditTrail::JournalFiles(dir_.path());
  ASSERT_EQ(files.size(), 1u);
  std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t at = bytes.find(R"("n":2)");
  ASSERT_NE(at, std::string::npos);
  f.seekp(static_cast<std::streamoff>(at + 4));
  f.put('9');  // one byte of entry 2's event: "n":2 becomes "n":9
  f.close();
  AuditVerification v = Verify();
  ASSERT_TRUE(v.broken_seq);
  EXPECT_EQ(*v.broken_seq, 2);
}

TEST_F(AuditTrailTest, AFullJournalFileIsFollowedByANewOneAndDeletedOnceFolded) {
  auto trail = OpenTrail();
  const std::string big(64 * 1024, 'x');
  const int n = static_cast<int>(AuditJournal::kCapacity / big.size()) + 10;
  for (int i = 1; i <= n; ++i) {
    AuditEntry e = Entry(i);
    e.event = fmt::format(R"({{"n":{},"pad":"{}"}})", i, big);
    ASSERT_TRUE(trail->Append({std::move(e)}).ok());
  }
  EXPECT_EQ(AuditTrail::JournalFiles(dir_.path()).size(), 2u);
  EXPECT_EQ(Verify().entries, n);
  Fold(*trail);
  EXPECT_EQ(AuditTrail::JournalFiles(dir_.path()).size(), 1u);
  EXPECT_EQ(TableRows(), n);
  EXPECT_FALSE(Verify().broken_seq);
}

SqliteStoreOptions StoreOptions(const testing::TempDir& dir) {
  SqliteStoreOptions options;
  options.data_dir = dir.path();
  options.audit_key = kKey;
  return options;
}

// Through the store: a read's entry is searchable at once, and survives a restart.
TEST(SqliteStoreAuditTest, EntriesAreSearchableAtOnceAndSurviveRestart) {
  testing::TempDir dir;
  core::MetricsRegistry metrics;
  const SqliteStoreOptions options = StoreOptions(dir);
  for (int round = 0; round < 2; ++round) {
    auto store = SqliteStore::Open(options, metrics, core::SystemClock::Instance());
    ASSERT_TRUE(store) << store.error().ToString();
    core::Status status = core::Internal("not called");
    (*store)->Audit({Entry(round, {"alice"})}, [&](core::Status s) { status = s; });
    ASSERT_TRUE(status.ok()) << status.ToString();
    auto page = (*store)->AuditSearch(AuditQuery{.patient = "alice"});
    ASSERT_TRUE(page) << page.error().ToString();
    ASSERT_EQ(page->entries.size(), static_cast<size_t>(round + 1));
    EXPECT_EQ(page->entries.front().event, Entry(round).event);
  }
  auto v =
      VerifyAuditLogFile(dir.path() + "/medulla.db", AuditTrail::JournalFiles(dir.path()), kKey);
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->broken_seq);
  EXPECT_EQ(v->entries, 2);
}

// Under a load of reads alone (no writes, no audit searches), the commit thread still folds
// their entries into the table: it must not sleep until the next write while the journal
// grows (it did, once: 300,000 entries then went into the first create's transaction).
TEST(SqliteStoreAuditTest, ReadsEntriesAreFoldedWithoutAnyWrite) {
  testing::TempDir dir;
  core::MetricsRegistry metrics;
  auto store = SqliteStore::Open(StoreOptions(dir), metrics, core::SystemClock::Instance());
  ASSERT_TRUE(store) << store.error().ToString();
  for (int n = 1; n <= 3; ++n) {
    (*store)->Audit({Entry(n)}, [](core::Status s) { ASSERT_TRUE(s.ok()) << s.ToString(); });
  }
  auto reader = Db::Open(dir.path() + "/medulla.db", /*read_only=*/true);
  ASSERT_TRUE(reader) << reader.error().ToString();
  int64_t rows = 0;
  for (int tries = 0; tries < 200 && rows < 3; ++tries) {  // up to 2 s; a fold takes ~10 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto stmt = (*reader)->Prepare("SELECT count(*) FROM audit_log");
    ASSERT_TRUE(stmt);
    Stmt count(*stmt);
    ASSERT_EQ(count.Step(), SQLITE_ROW);
    rows = count.Int(0);
  }
  EXPECT_EQ(rows, 3);
}

}  // namespace
}  // namespace medulla::store::sqlite
