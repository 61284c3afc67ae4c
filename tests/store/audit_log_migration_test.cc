// A data directory written before the bucketed patient index keeps a row per patient per
// audit entry (audit_patient). Opening it moves them into lists and buckets, in one
// transaction; until then `medulla audit verify` reads the old table.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "security/jose.h"
#include "store/sqlite/audit_log.h"
#include "store/sqlite/audit_trail.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace medulla::store::sqlite {
namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";

// The audit tables as the per-name index created them.
constexpr const char* kPerNameSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_log(
  seq INTEGER PRIMARY KEY,
  recorded INTEGER NOT NULL,
  event TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_patient(patient TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS audit_patient_by_patient ON audit_patient(patient, seq);
)sql";

std::string EventOf(int64_t seq) {
  return fmt::format(R"({{"n":{}}})", seq);
}

// Entry seq's patients are lists[seq - 1]: a pool of ids that are prefixes of one another,
// runs of the same list, lists with a patient twice, entries without patients.
std::vector<std::vector<std::string>> RandomLists(size_t n) {
  const std::vector<std::string> pool = {"p1", "p10", "p100", "p2", "x"};
  std::mt19937 random(7);
  std::vector<std::vector<std::string>> lists;
  for (size_t i = 0; i < n; ++i) {
    std::vector<std::string> patients;
    if (!lists.empty() && random() % 3 == 0) {
      patients = lists.back();
    } else {
      for (size_t k = random() % 4; k > 0; --k) patients.push_back(pool[random() % pool.size()]);
    }
    lists.push_back(std::move(patients));
  }
  return lists;
}

// Writes the chain as the per-name index did: the entries, and a row per patient in each
// entry's order.
void WritePerNameLog(Db& db, const std::vector<std::vector<std::string>>& lists) {
  ASSERT_TRUE(db.Exec(kPerNameSchema).ok());
  const security::HmacSha256Key key(kKey);
  std::string prev(64, '0');
  ASSERT_TRUE(db.Exec("BEGIN").ok());
  for (size_t i = 0; i < lists.size(); ++i) {
    const auto seq = static_cast<int64_t>(i + 1);
    const int64_t recorded = 1'700'000'000'000'000 + seq;
    const std::string event = EventOf(seq);
    const std::string hash = AuditChainHash(key, prev, seq, recorded, lists[i], event);
    {
      auto raw = db.Prepare("INSERT INTO audit_log VALUES(?, ?, ?, ?, ?)");
      ASSERT_TRUE(raw);
      Stmt stmt(*raw);
      stmt.Bind(1, seq);
      stmt.Bind(2, recorded);
      stmt.Bind(3, std::string_view(event));
      stmt.Bind(4, std::string_view(prev));
      stmt.Bind(5, std::string_view(hash));
      ASSERT_EQ(stmt.Step(), SQLITE_DONE);
    }
    for (const std::string& patient : lists[i]) {
      auto raw = db.Prepare("INSERT INTO audit_patient(patient, seq) VALUES(?, ?)");
      ASSERT_TRUE(raw);
      Stmt stmt(*raw);
      stmt.Bind(1, std::string_view(patient));
      stmt.Bind(2, seq);
      ASSERT_EQ(stmt.Step(), SQLITE_DONE);
    }
    prev = hash;
  }
  ASSERT_TRUE(db.Exec("COMMIT").ok());
}

std::vector<int64_t> Naming(const std::vector<std::vector<std::string>>& lists,
                            const std::string& patient) {
  std::vector<int64_t> out;
  for (auto seq = static_cast<int64_t>(lists.size()); seq >= 1; --seq) {
    const auto& list = lists[seq - 1];
    if (std::find(list.begin(), list.end(), patient) != list.end()) out.push_back(seq);
  }
  return out;
}

int64_t Count(Db& db, const std::string& sql) {
  auto raw = db.Prepare(sql);
  EXPECT_TRUE(raw) << raw.error().ToString();
  if (!raw) return -1;
  Stmt stmt(*raw);
  EXPECT_EQ(stmt.Step(), SQLITE_ROW);
  return stmt.Int(0);
}

int64_t Tables(Db& db, const std::string& name) {
  return Count(db, fmt::format("SELECT count(*) FROM sqlite_master WHERE name = '{}'", name));
}

AuditVerification VerifyFile(const testing::TempDir& dir) {
  auto v =
      VerifyAuditLogFile(dir.path() + "/medulla.db", AuditTrail::JournalFiles(dir.path()), kKey);
  EXPECT_TRUE(v) << v.error().ToString();
  return v ? *v : AuditVerification{};
}

TEST(AuditLogMigrationTest, OpeningTheStoreMovesThePerNameRowsToListsAndBuckets) {
  testing::TempDir dir;
  std::vector<std::vector<std::string>> lists = RandomLists(2600);  // buckets 0 to 2
  {
    auto db = Db::Open(dir.path() + "/medulla.db", false);
    ASSERT_TRUE(db) << db.error().ToString();
    WritePerNameLog(**db, lists);
  }
  AuditVerification before = VerifyFile(dir);  // read as it is, not migrated
  EXPECT_FALSE(before.broken_seq) << before.problem;
  EXPECT_EQ(before.entries, 2600);

  core::MetricsRegistry metrics;
  SqliteStoreOptions options;
  options.data_dir = dir.path();
  options.audit_key = kKey;
  {
    auto store = SqliteStore::Open(options, metrics, core::SystemClock::Instance());
    ASSERT_TRUE(store) << store.error().ToString();
    for (std::string patient : {"p1", "p10", "p100", "p2", "x", "p"}) {
      std::vector<int64_t> found;
      AuditQuery query{.patient = patient, .count = 40};
      while (true) {
        auto page = (*store)->AuditSearch(query);
        ASSERT_TRUE(page) << page.error().ToString();
        for (const AuditRecord& r : page->entries) {
          EXPECT_EQ(r.event, EventOf(r.seq));
          found.push_back(r.seq);
        }
        if (!page->next_before_seq) break;
        query.before_seq = *page->next_before_seq;
      }
      EXPECT_EQ(found, Naming(lists, patient)) << patient;
    }
    // The chain goes on from the migrated head.
    AuditEntry e;
    e.event = EventOf(2601);
    e.patients = {"p10", "p1"};
    e.recorded = 1'700'000'000'000'000 + 2601;
    core::Status appended = core::Internal("not called");
    (*store)->Audit({e}, [&](core::Status s) { appended = s; });
    ASSERT_TRUE(appended.ok()) << appended.ToString();
    lists.push_back(e.patients);
    auto page = (*store)->AuditSearch(AuditQuery{.patient = "p1", .count = 1});
    ASSERT_TRUE(page);
    ASSERT_EQ(page->entries.size(), 1u);
    EXPECT_EQ(page->entries[0].seq, 2601);
    ASSERT_TRUE((*store)->Close().ok());
  }
  auto db = Db::Open(dir.path() + "/medulla.db", true);
  ASSERT_TRUE(db);
  EXPECT_EQ(Tables(**db, "audit_patient"), 0);
  EXPECT_EQ(Tables(**db, "audit_patient_by_patient"), 0);
  EXPECT_EQ(Count(**db, "SELECT count(*) FROM audit_patient_list"),
            std::count_if(lists.begin(), lists.end(), [](const auto& l) { return !l.empty(); }));
  // Buckets 0 and 1 sealed; 2, where entries are still appended, not.
  EXPECT_EQ(Count(**db,
                  "SELECT count(*) FROM audit_patient_bucket WHERE entries IS NULL AND "
                  "bucket < 2"),
            0);
  EXPECT_EQ(Count(**db,
                  "SELECT count(*) FROM audit_patient_bucket WHERE entries IS NOT NULL "
                  "AND bucket = 2"),
            0);
  AuditVerification after = VerifyFile(dir);
  EXPECT_FALSE(after.broken_seq) << after.problem;
  EXPECT_EQ(after.entries, 2601);
}

// A migration that fails part way (here: a list already there for an entry) leaves the old
// table as it was, and the next open, once the cause is gone, migrates; after that, opening
// again changes nothing.
TEST(AuditLogMigrationTest, AMigrationIsAllOrNothingAndRunsOnce) {
  testing::TempDir dir;
  const std::vector<std::vector<std::string>> lists = RandomLists(1500);
  auto opened = Db::Open(dir.path() + "/medulla.db", false);
  ASSERT_TRUE(opened);
  Db& db = **opened;
  WritePerNameLog(db, lists);
  ASSERT_TRUE(db.Exec(kAuditSchema).ok());  // as the store does before the appender loads
  const int64_t per_name_rows = Count(db, "SELECT count(*) FROM audit_patient");
  ASSERT_TRUE(db.Exec("INSERT INTO audit_patient_list VALUES(1400, 'p1')").ok());

  AuditAppender appender(kKey);
  core::Status failed = appender.Load(db);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(Count(db, "SELECT count(*) FROM audit_patient"), per_name_rows);
  EXPECT_EQ(Tables(db, "audit_patient_by_patient"), 1);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM audit_patient_list"), 1);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM audit_patient_bucket"), 0);

  ASSERT_TRUE(db.Exec("DELETE FROM audit_patient_list").ok());
  core::Status migrated = appender.Load(db);
  ASSERT_TRUE(migrated.ok()) << migrated.ToString();
  EXPECT_EQ(appender.head().next_seq, 1501);
  EXPECT_EQ(Tables(db, "audit_patient"), 0);
  const int64_t buckets = Count(db, "SELECT count(*) FROM audit_patient_bucket");
  const int64_t changes = sqlite3_total_changes64(db.handle());
  ASSERT_TRUE(appender.Load(db).ok());
  EXPECT_EQ(sqlite3_total_changes64(db.handle()), changes);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM audit_patient_bucket"), buckets);
  auto v = VerifyAuditLog(db, security::HmacSha256Key(kKey));
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->broken_seq) << v->problem;
  EXPECT_EQ(v->entries, 1500);
}

// A per-name row for an entry that is not in the log is what verification reports as a
// deletion: the migration keeps that evidence rather than dropping it.
TEST(AuditLogMigrationTest, APerNameRowWithoutItsEntryIsNotMigratedAway) {
  testing::TempDir dir;
  auto opened = Db::Open(dir.path() + "/medulla.db", false);
  ASSERT_TRUE(opened);
  Db& db = **opened;
  WritePerNameLog(db, RandomLists(20));
  ASSERT_TRUE(db.Exec("INSERT INTO audit_patient(patient, seq) VALUES('p1', 21)").ok());
  auto before = VerifyAuditLog(db, security::HmacSha256Key(kKey));
  ASSERT_TRUE(before);
  EXPECT_EQ(before->broken_seq, 21);
  ASSERT_TRUE(db.Exec(kAuditSchema).ok());
  AuditAppender appender(kKey);
  core::Status refused = appender.Load(db);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("entry 21"), std::string::npos) << refused.message();
  EXPECT_EQ(Tables(db, "audit_patient"), 1);
  auto still = VerifyAuditLog(db, security::HmacSha256Key(kKey));
  ASSERT_TRUE(still);
  EXPECT_EQ(still->broken_seq, 21);
}

}  // namespace
}  // namespace medulla::store::sqlite
