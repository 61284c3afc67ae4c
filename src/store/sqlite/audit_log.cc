#include "store/sqlite/audit_log.h"

#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "core/logging.h"
#include "security/jose.h"
#include "store/sqlite/audit_journal.h"
#include "store/sqlite/audit_patient_index.h"
#include "store/sqlite/encrypted_vfs.h"

namespace medulla::store::sqlite {
namespace {

const std::string kGenesis(64, '0');

core::Result<bool> HasTable(Db& db, const std::string& name) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                              "name = ?1"));
  Stmt stmt(raw);
  stmt.Bind(1, std::string_view(name));
  if (stmt.Step() != SQLITE_ROW) return core::Fail(db.Error("read the schema"));
  return stmt.Int(0) > 0;
}

// Logs written before the bucketed index kept each entry's patients as rows of
// audit_patient(patient, seq), in the entry's order (rowid), indexed by (patient, seq): a row
// per name, which made an entry naming N patients dirty N pages of the index.
constexpr const char* kPerNameTable = "audit_patient";

// Moves the per-name rows into lists, builds the buckets from the lists (sealing all but the
// newest) and drops the old table; inside the caller's transaction.
core::Status MovePerNameRowsToLists(Db& db) {
  {
    // A row naming an entry that is not in the log is what verification reported as a
    // deletion: the evidence is not dropped by a migration.
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     db.Prepare("SELECT p.seq FROM audit_patient p WHERE NOT EXISTS "
                                "(SELECT 1 FROM audit_log a WHERE a.seq = p.seq) LIMIT 1"));
    Stmt stmt(raw);
    if (int rc = stmt.Step(); rc == SQLITE_ROW) {
      return core::Internal(fmt::format(
          "the audit log's patient index names entry {}, which is not in the log (deleted?); "
          "`medulla audit verify` reports it. The index cannot be migrated while it does",
          stmt.Int(0)));
    } else if (rc != SQLITE_DONE) {
      return db.Error("read the audit log's patient index");
    }
  }
  {
    // Two statements at once, on the writer at open (its statement cache is nearly empty).
    ASSIGN_OR_RETURN(sqlite3_stmt * raw_rows,
                     db.Prepare("SELECT seq, patient FROM audit_patient ORDER BY seq, rowid"));
    ASSIGN_OR_RETURN(sqlite3_stmt * raw_insert,
                     db.Prepare("INSERT INTO audit_patient_list(seq, patients) VALUES(?, ?)"));
    Stmt rows(raw_rows);
    int64_t seq = 0;
    std::vector<std::string> patients;
    auto flush = [&]() -> core::Status {
      if (patients.empty()) return core::OkStatus();
      const std::string list = JoinAuditPatients(patients);
      Stmt insert(raw_insert);
      insert.Bind(1, seq);
      insert.Bind(2, std::string_view(list));
      if (insert.Step() != SQLITE_DONE) return db.Error("migrate the audit log's patients");
      patients.clear();
      return core::OkStatus();
    };
    int rc;
    while ((rc = rows.Step()) == SQLITE_ROW) {
      if (rows.Int(0) != seq) {
        RETURN_IF_ERROR(flush());
        seq = rows.Int(0);
      }
      patients.push_back(rows.Text(1));
    }
    if (rc != SQLITE_DONE) return db.Error("read the audit log's patient index");
    RETURN_IF_ERROR(flush());
  }
  int64_t first = 0, last = 0, newest = 0;
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     db.Prepare("SELECT coalesce(min(seq), 0), coalesce(max(seq), 0), "
                                "(SELECT coalesce(max(seq), 0) FROM audit_log) "
                                "FROM audit_patient_list"));
    Stmt stmt(raw);
    if (stmt.Step() != SQLITE_ROW) return db.Error("read the audit log");
    first = stmt.Int(0);
    last = stmt.Int(1);
    newest = stmt.Int(2);
  }
  RETURN_IF_ERROR(db.Exec("DELETE FROM audit_patient_bucket"));
  if (last > 0) {
    // The newest bucket stays unsealed: entries are still being appended to it.
    for (int64_t b = AuditBucketOf(first); b <= AuditBucketOf(last); ++b) {
      RETURN_IF_ERROR(WriteAuditBucket(db, b, /*seal=*/b < AuditBucketOf(newest)));
    }
  }
  return db.Exec("DROP INDEX IF EXISTS audit_patient_by_patient; DROP TABLE audit_patient");
}

// Idempotent: once it has committed there is no audit_patient. A crash before the commit
// leaves the old table as it was (and the new ones empty), and the next open starts over.
core::Status MigratePerNameIndex(Db& db) {
  ASSIGN_OR_RETURN(bool per_name, HasTable(db, kPerNameTable));
  if (!per_name) return core::OkStatus();
  core::Logger("store")->info("moving the audit log's patient index to lists and buckets");
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  core::Status moved = MovePerNameRowsToLists(db);
  if (moved.ok()) moved = db.Exec("COMMIT");
  if (!moved.ok()) {
    (void)db.Exec("ROLLBACK");
    return moved;
  }
  return core::OkStatus();
}

}  // namespace

std::string AuditChainHash(const security::HmacSha256Key& key, std::string_view prev_hash,
                           int64_t seq, int64_t recorded, const std::vector<std::string>& patients,
                           std::string_view event) {
  // Unambiguous: fixed-width hash, numbers and ids (no newlines in FHIR ids) each end a line,
  // and the event, the only free text, comes last.
  std::string input;
  input.reserve(prev_hash.size() + event.size() + 64 + patients.size() * 40);
  input.append(prev_hash);
  input += fmt::format("\n{}\n{}\n{}\n", seq, recorded, patients.size());
  for (const std::string& p : patients) {
    input += p;
    input += '\n';
  }
  input.append(event);
  return security::HexEncode(key.Mac(input));
}

core::Status AuditAppender::Load(Db& db) {
  RETURN_IF_ERROR(MigratePerNameIndex(db));
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"));
  Stmt stmt(raw);
  int rc = stmt.Step();
  if (rc == SQLITE_ROW) {
    head_ = Head{stmt.Int(0) + 1, stmt.Text(1)};
  } else if (rc == SQLITE_DONE) {
    head_ = Head{1, kGenesis};
  } else {
    return db.Error("read the audit log's head");
  }
  return core::OkStatus();
}

SealedAuditEntry AuditAppender::Seal(AuditEntry entry) {
  SealedAuditEntry sealed;
  sealed.seq = head_.next_seq;
  sealed.recorded = entry.recorded;
  sealed.hash =
      AuditChainHash(key_, head_.hash, sealed.seq, entry.recorded, entry.patients, entry.event);
  sealed.prev_hash = std::move(head_.hash);
  sealed.patients = std::move(entry.patients);
  sealed.event = std::move(entry.event);
  head_ = Head{sealed.seq + 1, sealed.hash};
  return sealed;
}

core::Status AuditAppender::Continue(const SealedAuditEntry& entry) {
  if (entry.seq != head_.next_seq || entry.prev_hash != head_.hash) {
    return core::Internal(fmt::format(
        "the audit journal's entry {} does not continue the audit log (which ends at {})",
        entry.seq, head_.next_seq - 1));
  }
  head_ = Head{entry.seq + 1, entry.hash};
  return core::OkStatus();
}

core::Status AuditAppender::Insert(Db& db, const SealedAuditEntry& entry) {
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     db.Prepare("INSERT INTO audit_log(seq, recorded, event, prev_hash, hash) "
                                "VALUES(?, ?, ?, ?, ?)"));
    Stmt stmt(raw);
    stmt.Bind(1, entry.seq);
    stmt.Bind(2, entry.recorded);
    stmt.Bind(3, std::string_view(entry.event));
    stmt.Bind(4, std::string_view(entry.prev_hash));
    stmt.Bind(5, std::string_view(entry.hash));
    if (stmt.Step() != SQLITE_DONE) return db.Error("append to the audit log");
  }
  return IndexAuditPatients(db, entry.seq, entry.patients);
}

namespace {

constexpr const char* kEntryBySeq = "SELECT seq, recorded, event FROM audit_log WHERE seq = ?1";

// Entry `seq` if it names `patient`.
core::Result<AuditPage> EntryOfPatient(Db& db, int64_t seq, std::string_view patient) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare("SELECT a.seq, a.recorded, a.event, l.patients FROM audit_log a "
                              "JOIN audit_patient_list l ON l.seq = a.seq WHERE a.seq = ?1"));
  Stmt stmt(raw);
  stmt.Bind(1, seq);
  AuditPage page;
  int rc = stmt.Step();
  if (rc == SQLITE_ROW) {
    if (AuditListNames(stmt.Text(3), patient)) {
      page.entries.push_back(AuditRecord{stmt.Int(0), stmt.Int(1), stmt.Text(2)});
    }
  } else if (rc != SQLITE_DONE) {
    return core::Fail(db.Error("search the audit log"));
  }
  return page;
}

// One read transaction for the statements of a search: one snapshot, and the WAL's read lock
// taken once rather than by each statement (which cost more than the search itself).
class ReadTransaction {
 public:
  explicit ReadTransaction(Db& db) : db_(db) {}
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  ~ReadTransaction() {
    if (open_) (void)db_.Run("COMMIT");
  }
  core::Status Begin() {
    if (!sqlite3_get_autocommit(db_.handle())) return core::OkStatus();  // the caller's
    RETURN_IF_ERROR(db_.Run("BEGIN"));
    open_ = true;
    return core::OkStatus();
  }

 private:
  Db& db_;
  bool open_ = false;
};

core::Result<AuditPage> SearchByPatient(Db& db, const AuditQuery& query) {
  const int64_t before = query.before_seq > 0 ? query.before_seq : INT64_MAX;
  AuditPage page;
  if (query.count == 0) return page;
  ReadTransaction transaction(db);
  RETURN_IF_ERROR(transaction.Begin());
  // One more than the page: is there a next?
  ASSIGN_OR_RETURN(std::vector<int64_t> found,
                   FindAuditEntriesOf(db, query.patient, before, query.count + 1));
  if (found.size() > query.count) {
    found.pop_back();
    page.next_before_seq = found.back();
  }
  for (int64_t seq : found) {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare(kEntryBySeq));
    Stmt stmt(raw);
    stmt.Bind(1, seq);
    int rc = stmt.Step();
    if (rc == SQLITE_ROW) {
      page.entries.push_back(AuditRecord{stmt.Int(0), stmt.Int(1), stmt.Text(2)});
    } else if (rc != SQLITE_DONE) {
      return core::Fail(db.Error("search the audit log"));
    }
  }
  return page;
}

}  // namespace

core::Result<AuditPage> SearchAuditLog(Db& db, const AuditQuery& query) {
  if (!query.patient.empty()) {
    return query.seq > 0 ? EntryOfPatient(db, query.seq, query.patient)
                         : SearchByPatient(db, query);
  }
  const int64_t before = query.before_seq > 0 ? query.before_seq : INT64_MAX;
  const int64_t limit = static_cast<int64_t>(query.count) + 1;  // one more: is there a next?
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare(query.seq > 0 ? kEntryBySeq
                                            : "SELECT seq, recorded, event FROM audit_log "
                                              "WHERE seq < ?2 ORDER BY seq DESC LIMIT ?3"));
  Stmt stmt(raw);
  if (query.seq > 0) {
    stmt.Bind(1, query.seq);
  } else {
    stmt.Bind(2, before);
    stmt.Bind(3, limit);
  }
  AuditPage page;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    if (query.seq == 0 && page.entries.size() == query.count) {
      page.next_before_seq = page.entries.back().seq;
      break;
    }
    page.entries.push_back(AuditRecord{stmt.Int(0), stmt.Int(1), stmt.Text(2)});
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return core::Fail(db.Error("search the audit log"));
  return page;
}

namespace {

// Checks that an entry continues the chain verified so far and extends `out` with it; false,
// with out.broken_seq and out.problem set, if it does not. `where` ends the problem's text.
bool Extend(AuditVerification& out, const security::HmacSha256Key& key, int64_t seq,
            int64_t recorded, const std::vector<std::string>& patients, std::string_view event,
            std::string_view prev, std::string_view hash, std::string_view where) {
  auto broken = [&](int64_t at, std::string problem) {
    out.broken_seq = at;
    out.problem = fmt::format("{}{}", problem, where);
    return false;
  };
  const int64_t expected = out.head_seq + 1;
  if (seq != expected) {
    return broken(expected, seq > expected
                                ? fmt::format("entries {} to {} are missing", expected, seq - 1)
                                : "entries are out of order");
  }
  if (prev != (out.head_hash.empty() ? kGenesis : out.head_hash)) {
    return broken(seq, "its previous-hash does not match the entry before it");
  }
  if (AuditChainHash(key, prev, seq, recorded, patients, event) != hash) {
    return broken(seq, "its contents do not match its hash (edited)");
  }
  ++out.entries;
  out.head_seq = seq;
  out.head_hash = hash;
  return true;
}

}  // namespace

core::Result<AuditVerification> VerifyAuditLog(Db& db, const security::HmacSha256Key& key) {
  AuditVerification out;
  // One snapshot for the whole walk, the index check at the end included: `medulla audit
  // verify` may run beside a server that keeps appending (and sealing buckets).
  ReadTransaction transaction(db);
  RETURN_IF_ERROR(transaction.Begin());
  // A log not migrated yet keeps a row per name; a migrated one, a list per entry and the
  // buckets, which are checked against the lists.
  ASSIGN_OR_RETURN(const bool per_name, HasTable(db, kPerNameTable));
  ASSIGN_OR_RETURN(sqlite3_stmt * raw_rows,
                   db.Prepare("SELECT seq, recorded, event, prev_hash, hash FROM audit_log "
                              "ORDER BY seq"));
  ASSIGN_OR_RETURN(
      sqlite3_stmt * raw_patients,
      db.Prepare(per_name ? "SELECT seq, patient FROM audit_patient ORDER BY seq, rowid"
                          : "SELECT seq, patients FROM audit_patient_list ORDER BY seq"));
  Stmt rows(raw_rows);
  Stmt patients(raw_patients);
  AuditIndexCheck index(db);
  const char* orphan =
      per_name ? "a patient index row has no entry" : "a patient list has no entry";
  int prc = patients.Step();
  auto broken = [&](int64_t seq, std::string problem) {
    out.broken_seq = seq;
    out.problem = std::move(problem);
    return out;
  };
  int rc;
  while ((rc = rows.Step()) == SQLITE_ROW) {
    const int64_t seq = rows.Int(0);
    std::vector<std::string> touched;
    if (prc == SQLITE_ROW && patients.Int(0) < seq) return broken(patients.Int(0), orphan);
    while (prc == SQLITE_ROW && patients.Int(0) == seq) {
      if (per_name) {
        touched.push_back(patients.Text(1));
      } else {
        touched = SplitAuditPatients(patients.Text(1));
      }
      prc = patients.Step();
    }
    if (!Extend(out, key, seq, rows.Int(1), touched, rows.Text(2), rows.Text(3), rows.Text(4),
                "")) {
      return out;
    }
    if (!per_name) {
      ASSIGN_OR_RETURN(std::optional<int64_t> misindexed, index.Add(seq, touched));
      if (misindexed) return broken(*misindexed, index.problem());
    }
  }
  if (rc != SQLITE_DONE) return core::Fail(db.Error("read the audit log"));
  if (prc == SQLITE_ROW) return broken(patients.Int(0), orphan);
  if (prc != SQLITE_DONE) return core::Fail(db.Error("read the audit log's patients"));
  if (!per_name) {
    ASSIGN_OR_RETURN(std::optional<int64_t> misindexed, index.Finish());
    if (misindexed) return broken(*misindexed, index.problem());
  }
  return out;
}

core::Result<AuditVerification> VerifyAuditLogFile(const std::string& path,
                                                   const std::vector<std::string>& journal_files,
                                                   std::string_view key_bytes,
                                                   std::string_view encryption_key) {
  const security::HmacSha256Key key(key_bytes);
  AuditVerification out;
  ASSIGN_OR_RETURN(StoreEncryption encryption, PrepareStoreEncryption(path, encryption_key, ""));
  std::optional<StoreCipher> journal_key;
  if (encryption.key) journal_key = AuditJournalKey(*encryption.key);
  {
    ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(path, /*read_only=*/true, encryption.vfs));
    RETURN_IF_ERROR(db->Exec("PRAGMA temp_store=MEMORY"));  // as the store's readers
    // A store that never served has no audit tables yet: an empty, intact log.
    ASSIGN_OR_RETURN(const bool has_log, HasTable(*db, "audit_log"));
    if (has_log) {
      ASSIGN_OR_RETURN(out, VerifyAuditLog(*db, key));
      if (out.broken_seq) return out;
    }
  }
  // Then the entries a running or killed server has not folded into the table yet. Read the
  // files as they are: opening them as the server does would cut a torn end off.
  for (const std::string& file : journal_files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) continue;  // folded and deleted meanwhile
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t used = 0;
    ASSIGN_OR_RETURN(std::vector<SealedAuditEntry> entries,
                     DecodeAuditJournal(bytes, used, journal_key ? &*journal_key : nullptr));
    for (const SealedAuditEntry& e : entries) {
      if (e.seq <= out.head_seq) continue;  // already in the table
      if (!Extend(out, key, e.seq, e.recorded, e.patients, e.event, e.prev_hash, e.hash,
                  " (in the journal)")) {
        return out;
      }
    }
  }
  return out;
}

}  // namespace medulla::store::sqlite
