// The audit log's patients: each entry's list, the bucketed index that answers
// AuditEvent?patient=, and verification of both.
#include "store/sqlite/audit_patient_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "security/jose.h"
#include "store/sqlite/audit_log.h"
#include "testing/temp_dir.h"

namespace medulla::store::sqlite {
namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";

class AuditPatientIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::Open(dir_.path() + "/medulla.db", false);
    ASSERT_TRUE(db) << db.error().ToString();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Exec(kAuditSchema).ok());
    ASSERT_TRUE(appender_.Load(*db_).ok());
  }
  // Appends one entry per list, in one transaction (as the commit thread folds them).
  void Append(const std::vector<std::vector<std::string>>& lists) {
    ASSERT_TRUE(db_->Exec("BEGIN").ok());
    for (const auto& patients : lists) {
      AuditEntry e;
      e.event = fmt::format(R"({{"n":{}}})", appender_.head().next_seq);
      e.patients = patients;
      e.recorded = 1'700'000'000'000'000 + appender_.head().next_seq;
      core::Status s = AuditAppender::Insert(*db_, appender_.Seal(std::move(e)));
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    ASSERT_TRUE(db_->Exec("COMMIT").ok());
    lists_.insert(lists_.end(), lists.begin(), lists.end());
  }
  AuditPage Search(const std::string& patient, int64_t before_seq, size_t count) {
    auto page = SearchAuditLog(
        *db_, AuditQuery{.patient = patient, .before_seq = before_seq, .count = count});
    EXPECT_TRUE(page) << page.error().ToString();
    return page ? *page : AuditPage{};
  }
  std::vector<int64_t> SeqsOf(const AuditPage& page) {
    std::vector<int64_t> out;
    for (const AuditRecord& r : page.entries) out.push_back(r.seq);
    return out;
  }
  // Brute force: the entries that name `patient` below `before_seq`, newest first.
  std::vector<int64_t> Naming(const std::string& patient, int64_t before_seq = INT64_MAX) {
    std::vector<int64_t> out;
    for (int64_t seq = static_cast<int64_t>(lists_.size()); seq >= 1; --seq) {
      const auto& list = lists_[seq - 1];
      if (seq < before_seq && std::find(list.begin(), list.end(), patient) != list.end()) {
        out.push_back(seq);
      }
    }
    return out;
  }
  // Every entry naming `patient` from `before_seq` down, page by page.
  std::vector<int64_t> PageThrough(const std::string& patient, int64_t before_seq, size_t count) {
    std::vector<int64_t> out;
    while (true) {
      AuditPage page = Search(patient, before_seq, count);
      EXPECT_LE(page.entries.size(), count);
      for (const AuditRecord& r : page.entries) {
        EXPECT_EQ(r.event, fmt::format(R"({{"n":{}}})", r.seq));
        out.push_back(r.seq);
      }
      if (!page.next_before_seq) break;
      EXPECT_EQ(page.entries.size(), count);
      EXPECT_EQ(*page.next_before_seq, page.entries.back().seq);
      before_seq = *page.next_before_seq;
    }
    return out;
  }
  AuditVerification Verify() {
    auto v = VerifyAuditLog(*db_, security::HmacSha256Key(kKey));
    EXPECT_TRUE(v) << v.error().ToString();
    return v ? *v : AuditVerification{};
  }
  int64_t Count(const std::string& sql) {
    auto raw = db_->Prepare(sql);
    EXPECT_TRUE(raw);
    Stmt stmt(*raw);
    EXPECT_EQ(stmt.Step(), SQLITE_ROW);
    return stmt.Int(0);
  }

  testing::TempDir dir_;
  std::unique_ptr<Db> db_;
  AuditAppender appender_{kKey};
  std::vector<std::vector<std::string>> lists_;  // entry seq's list is lists_[seq - 1]
};

TEST(AuditPatientListTest, ListsSplitBackIntoTheirIds) {
  const std::vector<std::vector<std::string>> cases = {
      {"p1"}, {"p1", "p10", "p1"}, {""}, {"", ""}, {"a\nb", "c\\d", "e\\nf", "\\"}, {"x", ""}};
  for (const auto& ids : cases) {
    EXPECT_EQ(SplitAuditPatients(JoinAuditPatients(ids)), ids) << JoinAuditPatients(ids);
  }
  EXPECT_EQ(JoinAuditPatients({"p1", "p-2.x"}), "p1\np-2.x");  // FHIR ids are stored as they are
}

TEST(AuditPatientListTest, AListNamesWholeIdsOnly) {
  const std::string list = JoinAuditPatients({"p10", "p1x", "xp1", "p100", "a\nb"});
  EXPECT_FALSE(AuditListNames(list, "p1"));
  EXPECT_FALSE(AuditListNames(list, "p"));
  EXPECT_FALSE(AuditListNames(list, "p10\np1x"));
  EXPECT_FALSE(AuditListNames(list, "a"));
  EXPECT_TRUE(AuditListNames(list, "p10"));   // first
  EXPECT_TRUE(AuditListNames(list, "xp1"));   // between
  EXPECT_TRUE(AuditListNames(list, "a\nb"));  // last, escaped
  EXPECT_TRUE(AuditListNames(JoinAuditPatients({"p1"}), "p1"));
  EXPECT_FALSE(AuditListNames(JoinAuditPatients({"p1"}), "p10"));
  EXPECT_TRUE(AuditListNames(JoinAuditPatients({"p1", ""}), ""));
  EXPECT_FALSE(AuditListNames(JoinAuditPatients({"p1"}), ""));
}

// Entries over five buckets, sealed and not, naming patients whose ids are prefixes and
// substrings of one another, some in runs of identical lists, some twice in one entry.
TEST_F(AuditPatientIndexTest, QueriesByPatientReturnExactlyTheEntriesNamingThem) {
  const std::vector<std::string> pool = {"p1", "p10", "p100", "p11", "1", "p", "q1", "p1.0"};
  std::mt19937 random(20261122);
  std::vector<std::vector<std::string>> lists;
  for (int i = 0; i < 4700; ++i) {
    std::vector<std::string> patients;
    if (!lists.empty() && random() % 4 == 0) {
      patients = lists.back();  // a run
    } else {
      const size_t n = random() % 4;  // 0 to 3, repeats allowed
      for (size_t k = 0; k < n; ++k) patients.push_back(pool[random() % pool.size()]);
    }
    lists.push_back(std::move(patients));
  }
  // Several transactions, some ending inside a bucket, some at its end.
  for (size_t from = 0; from < lists.size(); from += 1000) {
    Append({lists.begin() + from, lists.begin() + std::min(lists.size(), from + 1000)});
  }
  EXPECT_GT(Count("SELECT count(*) FROM audit_patient_bucket WHERE entries IS NOT NULL"), 0);
  EXPECT_GT(Count("SELECT count(*) FROM audit_patient_bucket WHERE entries IS NULL"), 0);
  for (const std::string& patient : pool) {
    for (int64_t before :
         {int64_t{0}, int64_t{4701}, int64_t{4097}, int64_t{4096}, int64_t{3073}, int64_t{2048},
          int64_t{1025}, int64_t{1024}, int64_t{1000}, int64_t{2}, int64_t{1}}) {
      for (size_t count : {3, 50, 600}) {
        EXPECT_EQ(PageThrough(patient, before, count), Naming(patient, before ? before : INT64_MAX))
            << patient << " before " << before << " count " << count;
      }
    }
  }
  EXPECT_TRUE(Search("p1000", 0, 50).entries.empty());
  EXPECT_TRUE(Search("p1\np10", 0, 50).entries.empty());
  AuditVerification v = Verify();
  EXPECT_FALSE(v.broken_seq) << v.problem;
  EXPECT_EQ(v.entries, 4700);
}

TEST_F(AuditPatientIndexTest, PagesCrossBucketBoundaries) {
  std::vector<std::vector<std::string>> lists(2100);
  for (int64_t seq : {3, 1022, 1023, 1024, 1025, 2047, 2048, 2049}) lists[seq - 1] = {"p1"};
  Append(lists);  // buckets 0 and 1 sealed, 2 not
  AuditPage page = Search("p1", 0, 3);
  EXPECT_EQ(SeqsOf(page), (std::vector<int64_t>{2049, 2048, 2047}));
  ASSERT_TRUE(page.next_before_seq);
  page = Search("p1", *page.next_before_seq, 3);
  EXPECT_EQ(SeqsOf(page), (std::vector<int64_t>{1025, 1024, 1023}));
  ASSERT_TRUE(page.next_before_seq);
  EXPECT_EQ(*page.next_before_seq, 1023);
  page = Search("p1", 1023, 3);
  EXPECT_EQ(SeqsOf(page), (std::vector<int64_t>{1022, 3}));
  EXPECT_FALSE(page.next_before_seq);
  page = Search("p1", 1024, 2);
  EXPECT_EQ(SeqsOf(page), (std::vector<int64_t>{1023, 1022}));
  ASSERT_TRUE(page.next_before_seq);  // a third (seq 3) remains
  EXPECT_EQ(SeqsOf(Search("p1", 1022, 2)), (std::vector<int64_t>{3}));
  EXPECT_FALSE(Search("p1", 1022, 2).next_before_seq);
}

TEST_F(AuditPatientIndexTest, TheLookupOfOneEntryChecksItsList) {
  Append({{"p10"}, {"p1", "p10"}, {}});
  auto one = [&](int64_t seq, const std::string& patient) {
    auto page = SearchAuditLog(*db_, AuditQuery{.patient = patient, .seq = seq});
    EXPECT_TRUE(page);
    return page ? SeqsOf(*page) : std::vector<int64_t>{};
  };
  EXPECT_TRUE(one(1, "p1").empty());
  EXPECT_EQ(one(1, "p10"), (std::vector<int64_t>{1}));
  EXPECT_EQ(one(2, "p1"), (std::vector<int64_t>{2}));
  EXPECT_TRUE(one(3, "p1").empty());
  EXPECT_TRUE(one(4, "p1").empty());
}

// Appending entries that name the patients the entry before named writes nothing to the
// index: each patient gets a row once per bucket, and sealing rewrites it once.
TEST_F(AuditPatientIndexTest, TheSamePatientsGetABucketRowOncePerBucket) {
  std::vector<std::string> ward;
  for (int i = 0; i < 1000; ++i) ward.push_back(fmt::format("patient-{}", i));
  Append(std::vector<std::vector<std::string>>(999));  // seqs 1 to 999 name nobody
  for (int64_t seq = 1000; seq < 1200; ++seq) {
    const int64_t changes_before = sqlite3_total_changes64(db_->handle());
    Append({ward});
    const int64_t changes = sqlite3_total_changes64(db_->handle()) - changes_before;
    // The entry and its list; at 1000 the first rows of bucket 0, at 1024 those of bucket 1
    // and the sealing of bucket 0.
    const int64_t expected = seq == 1000 ? 2 + 1000 : seq == 1024 ? 2 + 1000 + 1000 : 2;
    ASSERT_EQ(changes, expected) << "entry " << seq;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM audit_patient_bucket"), 2000);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_patient_bucket WHERE bucket = 0 AND "
                  "entries IS NOT NULL"),
            1000);
  EXPECT_EQ(PageThrough("patient-7", 0, 50), Naming("patient-7"));
  EXPECT_FALSE(Verify().broken_seq);
}

TEST_F(AuditPatientIndexTest, VerificationNamesAnEditedPatientList) {
  Append(std::vector<std::vector<std::string>>(1500, {"p1", "p2"}));
  ASSERT_FALSE(Verify().broken_seq);
  ASSERT_TRUE(db_->Exec("UPDATE audit_patient_list SET patients = 'p1' WHERE seq = 1200").ok());
  AuditVerification v = Verify();
  ASSERT_TRUE(v.broken_seq);
  EXPECT_EQ(*v.broken_seq, 1200);
  EXPECT_NE(v.problem.find("edited"), std::string::npos) << v.problem;
}

TEST_F(AuditPatientIndexTest, VerificationNamesADeletedOrAddedPatientList) {
  Append({{"p1"}, {}, {"p1"}});
  ASSERT_TRUE(db_->Exec("DELETE FROM audit_patient_list WHERE seq = 3").ok());
  ASSERT_TRUE(Verify().broken_seq);
  EXPECT_EQ(*Verify().broken_seq, 3);
  ASSERT_TRUE(db_->Exec("INSERT INTO audit_patient_list VALUES(3, 'p1'), (2, 'p2')").ok());
  EXPECT_EQ(Verify().broken_seq, 2);
  ASSERT_TRUE(db_->Exec("DELETE FROM audit_patient_list WHERE seq = 2").ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO audit_patient_list VALUES(9, 'p1')").ok());
  AuditVerification v = Verify();
  EXPECT_EQ(v.broken_seq, 9);
  EXPECT_EQ(v.problem, "a patient list has no entry");
}

// The index is derived from the lists: a row removed, edited or added to hide an entry from
// AuditEvent?patient=, or to add one, is reported like an edited entry.
TEST_F(AuditPatientIndexTest, VerificationNamesAnIndexThatDisagreesWithTheLists) {
  std::vector<std::vector<std::string>> lists(1100, {"p1"});
  lists[99] = {"p1", "p2"};  // sealed bucket 0
  lists[1049] = {"p2"};      // unsealed bucket 1
  Append(lists);
  ASSERT_FALSE(Verify().broken_seq);
  auto broken_after = [&](const std::string& edit, const std::string& undo) {
    EXPECT_TRUE(db_->Exec(edit).ok());
    AuditVerification v = Verify();
    EXPECT_TRUE(db_->Exec(undo).ok());
    EXPECT_FALSE(Verify().broken_seq) << "undone: " << undo;
    return v.broken_seq;
  };
  EXPECT_EQ(broken_after("DELETE FROM audit_patient_bucket WHERE patient = 'p2' AND bucket = 0",
                         "INSERT INTO audit_patient_bucket VALUES('p2', 0, NULL)"),
            100);
  EXPECT_EQ(broken_after("DELETE FROM audit_patient_bucket WHERE patient = 'p2' AND bucket = 1",
                         "INSERT INTO audit_patient_bucket VALUES('p2', 1, NULL)"),
            1050);
  // Sealed: entry 100 is offset 100 of bucket 0; 7 is an entry that does not name p2.
  EXPECT_EQ(broken_after("UPDATE audit_patient_bucket SET entries = x'07006400' WHERE "
                         "patient = 'p2' AND bucket = 0",
                         "UPDATE audit_patient_bucket SET entries = x'6400' WHERE "
                         "patient = 'p2' AND bucket = 0"),
            7);
  EXPECT_EQ(broken_after("UPDATE audit_patient_bucket SET entries = x'01' WHERE "
                         "patient = 'p2' AND bucket = 0",
                         "UPDATE audit_patient_bucket SET entries = x'6400' WHERE "
                         "patient = 'p2' AND bucket = 0"),
            100);
  EXPECT_EQ(broken_after("INSERT INTO audit_patient_bucket VALUES('p3', 0, NULL)",
                         "DELETE FROM audit_patient_bucket WHERE patient = 'p3'"),
            1);
  EXPECT_EQ(broken_after("INSERT INTO audit_patient_bucket VALUES('p3', 5, NULL)",
                         "DELETE FROM audit_patient_bucket WHERE patient = 'p3'"),
            5 * 1024);
  // An unsealed row (NULL) stays right whatever the bucket's entries: searches scan it.
  ASSERT_TRUE(db_->Exec("UPDATE audit_patient_bucket SET entries = NULL").ok());
  EXPECT_FALSE(Verify().broken_seq);
  EXPECT_EQ(PageThrough("p2", 0, 1), Naming("p2"));
}

// The log appends in order; an entry that joins a bucket already sealed (not something the
// store does) must not leave the sealed rows short of it.
TEST_F(AuditPatientIndexTest, AnEntryJoiningASealedBucketIsStillFound) {
  std::vector<std::vector<std::string>> lists(1030, {"p1"});
  lists[9] = {"p1", "p3"};    // p3's sealed row for bucket 0 names entry 10 only
  lists[498] = {"p1", "p4"};  // and p4's entry 499, the one before
  Append(lists);
  ASSERT_TRUE(db_->Exec("DELETE FROM audit_patient_list WHERE seq = 500").ok());
  ASSERT_TRUE(db_->Exec("DELETE FROM audit_log WHERE seq = 500").ok());
  ASSERT_TRUE(WriteAuditBucket(*db_, 0, /*seal=*/true).ok());  // as if 500 had never been there
  SealedAuditEntry e{500, 1, {"p3", "p2", "p4"}, R"({"n":500})", std::string(64, '0'), "x"};
  ASSERT_TRUE(AuditAppender::Insert(*db_, e).ok());
  lists_[499] = e.patients;
  EXPECT_EQ(PageThrough("p3", 0, 100), Naming("p3"));
  EXPECT_EQ(PageThrough("p2", 0, 100), Naming("p2"));
  EXPECT_EQ(PageThrough("p4", 0, 100), Naming("p4"));
  EXPECT_EQ(PageThrough("p1", 0, 100), Naming("p1"));
}

}  // namespace
}  // namespace medulla::store::sqlite
