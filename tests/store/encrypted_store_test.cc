// Encryption at rest (encrypted_vfs.h, store_cipher.h): through the real store on real files.
// The files must hold no plaintext, open only with their key, survive a kill (files copied
// while the store is open, as a kill leaves them), and refuse damage instead of serving it.
#include "store/sqlite/encrypted_vfs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>

#include <fmt/format.h>

#include "store/sqlite/audit_trail.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/store_cipher.h"
#include "testing/fake_clock.h"
#include "testing/store_writes.h"
#include "testing/temp_dir.h"

namespace medulla::store::sqlite {
namespace {

namespace fs = std::filesystem;
using testing::CommitOne;
using testing::CreateWrite;

const std::string kKey(32, '\x5a');
const std::string kOtherKey(32, '\x33');
constexpr std::string_view kMarker = "Zyxwvutsrqpon";  // a family name to look for in the files

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Every file under dir that contains `needle`.
std::vector<std::string> FilesContaining(const std::string& dir, std::string_view needle) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    if (ReadFile(entry.path()).find(needle) != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

class EncryptedStoreTest : public ::testing::Test {
 protected:
  core::Result<std::unique_ptr<SqliteStore>> Open(const std::string& dir, std::string key) {
    SqliteStoreOptions options;
    options.data_dir = dir;
    options.encryption_key = std::move(key);
    options.audit_key = "audit key";
    return SqliteStore::Open(options, metrics_, clock_);
  }
  std::unique_ptr<SqliteStore> OpenOrDie(const std::string& dir, std::string key = kKey) {
    auto store = Open(dir, std::move(key));
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }
  // Patients p0..p{n-1}, each with the marker in its name, each its own commit.
  static void WritePatients(SqliteStore& store, int n, int from = 0) {
    for (int i = from; i < from + n; ++i) {
      const std::string content =
          fmt::format(R"("name":[{{"family":"{}","given":["Number {}"]}}])", kMarker, i);
      WriteResult r = CommitOne(store, CreateWrite("Patient", fmt::format("p{}", i), content));
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    }
  }
  // Audit entries naming the marker, left in the journal (the store is not closed).
  static void AuditMarkedReads(SqliteStore& store, int n) {
    std::vector<AuditEntry> entries;
    for (int i = 0; i < n; ++i) {
      AuditEntry e;
      e.event = fmt::format(R"({{"who":"{}","what":"Patient/p{}"}})", kMarker, i);
      e.patients = {fmt::format("{}-{}", kMarker, i)};
      e.recorded = 1'795'248'000'000'000 + i;
      entries.push_back(std::move(e));
    }
    std::promise<core::Status> done;
    store.Audit(std::move(entries), [&](core::Status s) { done.set_value(std::move(s)); });
    core::Status s = done.get_future().get();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void ExpectPatients(SqliteStore& store, int n) {
    for (int i = 0; i < n; ++i) {
      auto read = store.ReadCurrent("Patient", fmt::format("p{}", i));
      ASSERT_TRUE(read) << "p" << i << ": " << read.error().ToString();
      EXPECT_NE(read->body.find(kMarker), std::string::npos);
    }
  }

  testing::TempDir dir_;
  core::MetricsRegistry metrics_;
  testing::FakeClock clock_{1795248000};
};

TEST_F(EncryptedStoreTest, FilesHoldNoPlaintextAndReopenWithTheKey) {
  {
    auto store = OpenOrDie(dir_.path());
    ASSERT_TRUE(store);
    WritePatients(*store, 300);  // several pages, the WAL past the first checkpoint
    AuditMarkedReads(*store, 20);
    // While open: the WAL holds the latest pages.
    EXPECT_EQ(FilesContaining(dir_.path(), kMarker), std::vector<std::string>{});
    EXPECT_TRUE(store->Close().ok());
  }
  EXPECT_EQ(FilesContaining(dir_.path(), kMarker), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(dir_.path(), "SQLite format 3"), std::vector<std::string>{});
  auto store = OpenOrDie(dir_.path());
  ASSERT_TRUE(store);
  ExpectPatients(*store, 300);
  SearchQuery query;
  query.type = "Patient";
  query.count = 1000;
  auto found = store->Search(query);
  ASSERT_TRUE(found) << found.error().ToString();
  EXPECT_EQ(found->resources.size(), 300u);
  AuditQuery audit;
  audit.patient = fmt::format("{}-7", kMarker);
  auto audited = store->AuditSearch(audit);
  ASSERT_TRUE(audited) << audited.error().ToString();
  ASSERT_EQ(audited->entries.size(), 1u);
  EXPECT_NE(audited->entries[0].event.find("Patient/p7"), std::string::npos);
}

TEST_F(EncryptedStoreTest, AuditVerifyReadsTheEncryptedLogAndJournal) {
  auto store = OpenOrDie(dir_.path());
  ASSERT_TRUE(store);
  WritePatients(*store, 3);
  AuditMarkedReads(*store, 30);
  const std::string db = dir_.path() + "/medulla.db";
  // Beside the running store, as `medulla audit verify` runs.
  auto verified = VerifyAuditLogFile(db, AuditTrail::JournalFiles(dir_.path()), "audit key", kKey);
  ASSERT_TRUE(verified) << verified.error().ToString();
  EXPECT_FALSE(verified->broken_seq) << verified->problem;
  EXPECT_EQ(verified->entries, 30);
  EXPECT_FALSE(VerifyAuditLogFile(db, AuditTrail::JournalFiles(dir_.path()), "audit key"));
  EXPECT_FALSE(
      VerifyAuditLogFile(db, AuditTrail::JournalFiles(dir_.path()), "audit key", kOtherKey));
}

TEST_F(EncryptedStoreTest, TheSameDataUnencryptedIsPlainInTheFile) {
  // The control for the test above: the search for the marker does find it when unencrypted.
  auto store = OpenOrDie(dir_.path(), "");
  ASSERT_TRUE(store);
  WritePatients(*store, 10);
  AuditMarkedReads(*store, 3);
  EXPECT_FALSE(FilesContaining(dir_.path() + "/audit-journal", kMarker).empty());
  ASSERT_TRUE(store->Close().ok());
  EXPECT_FALSE(FilesContaining(dir_.path(), kMarker).empty());
}

TEST_F(EncryptedStoreTest, OpensOnlyWithItsKey) {
  {
    auto store = OpenOrDie(dir_.path());
    ASSERT_TRUE(store);
    WritePatients(*store, 3);
  }
  auto without = Open(dir_.path(), "");
  ASSERT_FALSE(without);
  EXPECT_NE(without.error().message().find("is encrypted"), std::string::npos)
      << without.error().ToString();
  auto wrong = Open(dir_.path(), kOtherKey);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("does not open"), std::string::npos)
      << wrong.error().ToString();
  auto short_key = Open(dir_.path(), "too short");
  ASSERT_FALSE(short_key);
  // The refusals changed nothing: the right key still opens everything.
  auto store = OpenOrDie(dir_.path());
  ASSERT_TRUE(store);
  ExpectPatients(*store, 3);
}

TEST_F(EncryptedStoreTest, APlaintextStoreRefusesAKey) {
  {
    auto store = OpenOrDie(dir_.path(), "");
    ASSERT_TRUE(store);
    WritePatients(*store, 2);
  }
  auto keyed = Open(dir_.path(), kKey);
  ASSERT_FALSE(keyed);
  EXPECT_NE(keyed.error().message().find("not encrypted"), std::string::npos)
      << keyed.error().ToString();
}

TEST_F(EncryptedStoreTest, AcknowledgedWritesSurviveAKill) {
  // A kill -9 leaves the files as they are at that instant: copy them while the store runs,
  // after the writes were acknowledged and before any checkpoint or close.
  testing::TempDir copy;
  {
    auto store = OpenOrDie(dir_.path());
    ASSERT_TRUE(store);
    WritePatients(*store, 50);
    for (const char* name : {"medulla.db", "medulla.db-wal"}) {
      fs::copy_file(fs::path(dir_.path()) / name, fs::path(copy.path()) / name);
    }
    fs::copy(fs::path(dir_.path()) / "audit-journal", fs::path(copy.path()) / "audit-journal");
  }
  ASSERT_GT(fs::file_size(fs::path(copy.path()) / "medulla.db-wal"), 0u);
  auto store = OpenOrDie(copy.path());
  ASSERT_TRUE(store);
  ExpectPatients(*store, 50);
}

TEST_F(EncryptedStoreTest, AFrameTornByACrashIsDroppedNotFatal) {
  testing::TempDir copy;
  {
    auto store = OpenOrDie(dir_.path());
    ASSERT_TRUE(store);
    WritePatients(*store, 20);
    fs::copy_file(fs::path(dir_.path()) / "medulla.db", fs::path(copy.path()) / "medulla.db");
    std::string wal = ReadFile(fs::path(dir_.path()) / "medulla.db-wal");
    // A frame whose header was written and whose page was cut short by the crash.
    const size_t frame = 24 + 16384;
    ASSERT_EQ((wal.size() - 32) % frame, 0u);
    std::string torn = wal.substr(wal.size() - frame, 24) + std::string(5000, '\x7f');
    WriteFile(fs::path(copy.path()) / "medulla.db-wal", wal + torn);
  }
  auto store = OpenOrDie(copy.path());
  ASSERT_TRUE(store);
  ExpectPatients(*store, 20);
  WritePatients(*store, 5, 20);  // and it goes on writing
  ExpectPatients(*store, 25);
}

TEST_F(EncryptedStoreTest, AFirstPageTornByACrashIsRepairedFromTheWal) {
  // A crash in a checkpoint can tear page 1 of the file; the WAL still holds its latest
  // version, and SQLite repairs it. The key check must not mistake the tear for a wrong key.
  testing::TempDir copy;
  {
    auto store = OpenOrDie(dir_.path());
    ASSERT_TRUE(store);
    WritePatients(*store, 60);  // the database grows: page 1 (its size) is in the WAL
    for (const char* name : {"medulla.db", "medulla.db-wal"}) {
      fs::copy_file(fs::path(dir_.path()) / name, fs::path(copy.path()) / name);
    }
  }
  const fs::path db = fs::path(copy.path()) / "medulla.db";
  std::string bytes = ReadFile(db);
  ASSERT_GE(bytes.size(), 16384u);
  for (size_t i = 8000; i < 16384; ++i) bytes[i] = 0;  // the second half never reached the disk
  WriteFile(db, bytes);
  auto store = OpenOrDie(copy.path());
  ASSERT_TRUE(store);
  ExpectPatients(*store, 60);
}

TEST_F(EncryptedStoreTest, ADamagedPageIsAnErrorNotData) {
  {
    auto store = OpenOrDie(dir_.path());
    ASSERT_TRUE(store);
    WritePatients(*store, 40);
    ASSERT_TRUE(store->Close().ok());  // everything checkpointed into medulla.db
  }
  const fs::path db = fs::path(dir_.path()) / "medulla.db";
  std::string bytes = ReadFile(db);
  ASSERT_GT(bytes.size(), 16384u * 3);
  // One flipped bit in every page but the first.
  for (size_t page = 16384; page < bytes.size(); page += 16384) bytes[page + 200] ^= 0x01;
  WriteFile(db, bytes);
  auto store = Open(dir_.path(), kKey);
  if (!store) return;  // refused at open: fine
  int served = 0;
  for (int i = 0; i < 40; ++i) {
    if (auto read = (*store)->ReadCurrent("Patient", fmt::format("p{}", i))) ++served;
  }
  EXPECT_EQ(served, 0);
}

TEST(StoreCipherTest, SealOpenRoundTripAndBindsAssociatedData) {
  auto cipher = StoreCipher::FromKey(kKey);
  ASSERT_TRUE(cipher);
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  const std::vector<uint8_t> original = data;
  std::array<uint8_t, StoreCipher::kTrailerBytes> trailer{};
  const uint8_t aad[] = {1, 2, 3};
  ASSERT_TRUE(cipher->Seal(data, aad, trailer));
  EXPECT_NE(data, original);
  std::vector<uint8_t> copy = data;
  const uint8_t other_aad[] = {1, 2, 4};
  EXPECT_FALSE(cipher->Open(copy, other_aad, trailer));
  copy = data;
  auto other = StoreCipher::FromKey(kOtherKey);
  EXPECT_FALSE(other->Open(copy, aad, trailer));
  copy = data;
  copy[500] ^= 0x80;
  EXPECT_FALSE(cipher->Open(copy, aad, trailer));
  ASSERT_TRUE(cipher->Open(data, aad, trailer));
  EXPECT_EQ(data, original);
  // Two seals of the same data differ (a fresh nonce each time).
  std::vector<uint8_t> a = original, b = original;
  std::array<uint8_t, StoreCipher::kTrailerBytes> ta{}, tb{};
  ASSERT_TRUE(cipher->Seal(a, aad, ta));
  ASSERT_TRUE(cipher->Seal(b, aad, tb));
  EXPECT_NE(a, b);
  EXPECT_NE(ta, tb);
}

TEST(StoreCipherTest, ParsesHexKeys) {
  auto raw = StoreCipher::ParseHexKey(" " + std::string(64, 'a') + "\n");
  ASSERT_TRUE(raw);
  EXPECT_EQ(*raw, std::string(32, '\xaa'));
  EXPECT_FALSE(StoreCipher::ParseHexKey(std::string(63, 'a')));
  EXPECT_FALSE(StoreCipher::ParseHexKey(std::string(62, 'a') + "zz"));
  EXPECT_FALSE(StoreCipher::ParseHexKey(""));
}

TEST(StoreCipherTest, DerivedKeysDiffer) {
  auto master = StoreCipher::FromKey(kKey);
  ASSERT_TRUE(master);
  EXPECT_NE(master->Derive("a").Fingerprint(), master->Derive("b").Fingerprint());
  EXPECT_EQ(master->Derive("a").Fingerprint(), master->Derive("a").Fingerprint());
  EXPECT_NE(master->Derive("a").Fingerprint(), master->Fingerprint());
}

}  // namespace
}  // namespace medulla::store::sqlite
