// The audit log in the embedded store: append-only, hash-chained AuditEvents (docs/security.md).
//
// Each row's hash is HMAC-SHA256, under the data directory's audit key, of the previous row's
// hash, its own sequence number, time, patients and event. Editing or deleting a row breaks
// the chain from there on, and recomputing the chain after an edit needs the key, which lives
// outside the database. Truncating the newest rows leaves a valid chain: `medulla audit
// verify` prints the head (sequence and hash) so that it can be recorded elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "security/jose.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace medulla::store::sqlite {

constexpr const char* kAuditSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_log(
  seq INTEGER PRIMARY KEY,        -- the AuditEvent's id
  recorded INTEGER NOT NULL,      -- microseconds since the epoch
  event TEXT NOT NULL,            -- the AuditEvent JSON, without id
  prev_hash TEXT NOT NULL,        -- the previous row's hash (hex); 64 zeros for the first
  hash TEXT NOT NULL              -- AuditChainHash of this row (hex)
);
-- The patients each entry touched, in its order (covered by the entry's hash): the ids joined
-- by newlines (audit_patient_index.h). An entry without patients has no row.
CREATE TABLE IF NOT EXISTS audit_patient_list(
  seq INTEGER PRIMARY KEY,
  patients TEXT NOT NULL
);
-- AuditEvent?patient=: the buckets of 1,024 entries (seq >> 10) that name each patient, and
-- once the bucket is full (sealed), which of its entries do; NULL: the bucket's lists say.
CREATE TABLE IF NOT EXISTS audit_patient_bucket(
  patient TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  entries BLOB,
  PRIMARY KEY(patient, bucket)
) WITHOUT ROWID;
)sql";

// The hex hash of one entry given the previous one's.
std::string AuditChainHash(const security::HmacSha256Key& key, std::string_view prev_hash,
                           int64_t seq, int64_t recorded, const std::vector<std::string>& patients,
                           std::string_view event);

// An entry given its place in the chain: sequence number and hashes.
struct SealedAuditEntry {
  int64_t seq = 0;
  int64_t recorded = 0;
  std::vector<std::string> patients;
  std::string event;
  std::string prev_hash;
  std::string hash;
};

// Extends the chain (commit thread only): Seal gives each entry the next sequence number and
// its hash, in memory; Insert stores a sealed entry on the writer connection, inside its open
// transaction.
class AuditAppender {
 public:
  explicit AuditAppender(std::string_view key) : key_(key) {}
  // Reads where the stored chain stands (at open), first moving a log written with the old
  // per-name patient index (audit_patient) to the lists and buckets, in one transaction.
  core::Status Load(Db& db);
  SealedAuditEntry Seal(AuditEntry entry);
  // Continues the chain with an entry sealed before (the journal's, at open): it must be the
  // next one.
  core::Status Continue(const SealedAuditEntry& entry);
  static core::Status Insert(Db& db, const SealedAuditEntry& entry);

  // Where the chain stands, to return to after a failed transaction.
  struct Head {
    int64_t next_seq = 1;
    std::string hash;
  };
  const Head& head() const { return head_; }
  void Restore(Head head) { head_ = std::move(head); }

 private:
  security::HmacSha256Key key_;
  Head head_;
};

core::Result<AuditPage> SearchAuditLog(Db& db, const AuditQuery& query);

struct AuditVerification {
  int64_t entries = 0;
  int64_t head_seq = 0;  // the newest entry
  std::string head_hash;
  // The first entry that does not verify, and why; nullopt: the chain is intact.
  std::optional<int64_t> broken_seq;
  std::string problem;
};
// Walks the whole chain in `db` (read-only use), and checks the patient index against the
// entries' lists. A log not yet migrated (read-only: a server has not opened it since the
// upgrade) is read as it is.
core::Result<AuditVerification> VerifyAuditLog(Db& db, const security::HmacSha256Key& key);
// The same on a database file, opened read-only (a server may be using it), followed by the
// entries of the audit journal's files (AuditTrail::JournalFiles) not yet in the database.
// `encryption_key`: the store key of an encrypted store (encrypted_vfs.h), else empty.
core::Result<AuditVerification> VerifyAuditLogFile(const std::string& path,
                                                   const std::vector<std::string>& journal_files,
                                                   std::string_view key,
                                                   std::string_view encryption_key = {});

}  // namespace medulla::store::sqlite
