#include "store/sqlite/audit_log.h"

#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "security/jose.h"
#include "store/sqlite/audit_journal.h"
#include "store/sqlite/encrypted_vfs.h"

namespace medulla::store::sqlite {
namespace {

const std::string kGenesis(64, '0');

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
  if (!entry.patients.empty()) {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     db.Prepare("INSERT INTO audit_patient(patient, seq) VALUES(?, ?)"));
    for (const std::string& patient : entry.patients) {
      Stmt stmt(raw);
      stmt.Bind(1, std::string_view(patient));
      stmt.Bind(2, entry.seq);
      if (stmt.Step() != SQLITE_DONE) return db.Error("append to the audit log");
    }
  }
  return core::OkStatus();
}

core::Result<AuditPage> SearchAuditLog(Db& db, const AuditQuery& query) {
  const int64_t before = query.before_seq > 0 ? query.before_seq : INT64_MAX;
  const int64_t limit = static_cast<int64_t>(query.count) + 1;  // one more: is there a next?
  std::string sql;
  if (query.seq > 0 && !query.patient.empty()) {
    sql =
        "SELECT a.seq, a.recorded, a.event FROM audit_patient p JOIN audit_log a ON a.seq = p.seq "
        "WHERE p.seq = ?1 AND p.patient = ?2";
  } else if (query.seq > 0) {
    sql = "SELECT seq, recorded, event FROM audit_log WHERE seq = ?1";
  } else if (!query.patient.empty()) {
    sql =
        "SELECT a.seq, a.recorded, a.event FROM audit_patient p JOIN audit_log a ON a.seq = p.seq "
        "WHERE p.patient = ?2 AND p.seq < ?3 ORDER BY p.seq DESC LIMIT ?4";
  } else {
    sql = "SELECT seq, recorded, event FROM audit_log WHERE seq < ?3 ORDER BY seq DESC LIMIT ?4";
  }
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare(sql));
  Stmt stmt(raw);
  if (query.seq > 0) stmt.Bind(1, query.seq);
  if (!query.patient.empty()) stmt.Bind(2, std::string_view(query.patient));
  if (query.seq == 0) {
    stmt.Bind(3, before);
    stmt.Bind(4, limit);
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
  ASSIGN_OR_RETURN(sqlite3_stmt * raw_rows,
                   db.Prepare("SELECT seq, recorded, event, prev_hash, hash FROM audit_log "
                              "ORDER BY seq"));
  ASSIGN_OR_RETURN(sqlite3_stmt * raw_patients,
                   db.Prepare("SELECT seq, patient FROM audit_patient ORDER BY seq, rowid"));
  Stmt rows(raw_rows);
  Stmt patients(raw_patients);
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
    if (prc == SQLITE_ROW && patients.Int(0) < seq) {
      return broken(patients.Int(0), "a patient index row has no entry");
    }
    while (prc == SQLITE_ROW && patients.Int(0) == seq) {
      touched.push_back(patients.Text(1));
      prc = patients.Step();
    }
    if (!Extend(out, key, seq, rows.Int(1), touched, rows.Text(2), rows.Text(3), rows.Text(4),
                "")) {
      return out;
    }
  }
  if (rc != SQLITE_DONE) return core::Fail(db.Error("read the audit log"));
  if (prc == SQLITE_ROW) return broken(patients.Int(0), "a patient index row has no entry");
  if (prc != SQLITE_DONE) return core::Fail(db.Error("read the audit log's patient index"));
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
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     db->Prepare("SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'"));
    bool has_log = false;
    {
      Stmt stmt(raw);
      if (stmt.Step() != SQLITE_ROW) return core::Fail(db->Error("read the schema"));
      has_log = stmt.Int(0) > 0;
    }
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
