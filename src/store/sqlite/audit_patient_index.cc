#include "store/sqlite/audit_patient_index.h"

#include <string.h>

#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>

namespace medulla::store::sqlite {
namespace {

constexpr int64_t kBucketEntries = int64_t{1} << kAuditBucketBits;
// A sealed row's offsets: up to kMaxListed as 2-byte numbers, more as a bitmap of the bucket.
constexpr size_t kBitmapBytes = kBucketEntries / 8;
constexpr size_t kMaxListed = kBitmapBytes / 2 - 1;

bool NeedsEscape(std::string_view id) {
  return id.find_first_of("\\\n") != std::string_view::npos;
}

void AppendEscaped(std::string& out, std::string_view id) {
  if (!NeedsEscape(id)) {
    out.append(id);
    return;
  }
  for (char c : id) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string Unescape(std::string_view stored) {
  std::string out;
  out.reserve(stored.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i] == '\\' && i + 1 < stored.size()) {
      out += stored[++i] == 'n' ? '\n' : stored[i];
    } else {
      out += stored[i];
    }
  }
  return out;
}

// Calls f(id) for each id of a stored list, in order.
template <typename F>
void ForEachListed(std::string_view list, F&& f) {
  const bool escaped = list.find('\\') != std::string_view::npos;
  size_t start = 0;
  while (true) {
    size_t end = list.find('\n', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view id = list.substr(start, end - start);
    if (escaped && id.find('\\') != std::string_view::npos) {
      f(std::string_view(Unescape(id)));
    } else {
      f(id);
    }
    if (end == list.size()) return;
    start = end + 1;
  }
}

// The text of a column without a copy (valid until the statement steps or resets).
std::string_view ColumnView(const Stmt& stmt, int col) {
  const void* p = sqlite3_column_blob(stmt.get(), col);
  return p ? std::string_view(static_cast<const char*>(p),
                              static_cast<size_t>(sqlite3_column_bytes(stmt.get(), col)))
           : std::string_view();
}

// A sealed row's `entries`: the offsets (ascending, distinct) of the bucket's entries that
// name the patient.
std::string EncodeOffsets(const std::vector<uint16_t>& offsets) {
  std::string out;
  if (offsets.size() <= kMaxListed) {
    for (uint16_t o : offsets) {
      out += static_cast<char>(o & 0xff);
      out += static_cast<char>(o >> 8);
    }
  } else {
    out.assign(kBitmapBytes, '\0');
    for (uint16_t o : offsets) out[o / 8] = static_cast<char>(out[o / 8] | (1 << (o % 8)));
  }
  return out;
}

// nullopt: not a row that sealing writes (a search scans the bucket instead).
std::optional<std::vector<uint16_t>> DecodeOffsets(std::string_view blob) {
  std::vector<uint16_t> out;
  if (blob.size() == kBitmapBytes) {
    for (size_t i = 0; i < kBitmapBytes; ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        if (static_cast<uint8_t>(blob[i]) & (1 << bit)) {
          out.push_back(static_cast<uint16_t>(i * 8 + bit));
        }
      }
    }
    return out;
  }
  if (blob.size() % 2 != 0 || blob.size() / 2 > kMaxListed) return std::nullopt;
  for (size_t i = 0; i < blob.size(); i += 2) {
    const auto o = static_cast<uint16_t>(static_cast<uint8_t>(blob[i]) |
                                         static_cast<uint8_t>(blob[i + 1]) << 8);
    if (o >= kBucketEntries || (!out.empty() && o <= out.back())) return std::nullopt;
    out.push_back(o);
  }
  return out;
}

// Appends to `found` the entries of an unsealed bucket below `before` that name `patient`,
// newest first, until it holds `limit`.
core::Status ScanBucket(Db& db, std::string_view patient, int64_t bucket, int64_t before,
                        size_t limit, std::vector<int64_t>& found) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare("SELECT seq, patients FROM audit_patient_list "
                              "WHERE seq >= ?1 AND seq < ?2 ORDER BY seq DESC"));
  Stmt stmt(raw);
  stmt.Bind(1, AuditBucketStart(bucket));
  stmt.Bind(2, std::min(before, AuditBucketStart(bucket + 1)));
  int rc = SQLITE_DONE;
  while (found.size() < limit && (rc = stmt.Step()) == SQLITE_ROW) {
    if (AuditListNames(ColumnView(stmt, 1), patient)) found.push_back(stmt.Int(0));
  }
  if (found.size() < limit && rc != SQLITE_DONE) return db.Error("search the audit log");
  return core::OkStatus();
}

// The list of entry seq - 1 when it is in the same bucket and `seq` is the newest entry, else
// nullopt. Its patients have their rows for the bucket, unsealed, so `seq` need not probe them:
// they were written (or found) when it was appended, and only a bucket before the newest
// entry's is ever sealed.
core::Result<std::optional<std::string>> PreviousListInBucket(Db& db, int64_t seq) {
  if (seq == AuditBucketStart(AuditBucketOf(seq))) return std::nullopt;
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     db.Prepare("SELECT EXISTS(SELECT 1 FROM audit_log WHERE seq > ?1)"));
    Stmt stmt(raw);
    stmt.Bind(1, seq);
    if (stmt.Step() != SQLITE_ROW) return core::Fail(db.Error("read the audit log"));
    if (stmt.Int(0) != 0) return std::nullopt;
  }
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare("SELECT patients FROM audit_patient_list WHERE seq = ?1"));
  Stmt stmt(raw);
  stmt.Bind(1, seq - 1);
  int rc = stmt.Step();
  if (rc == SQLITE_ROW) return std::optional(stmt.Text(0));
  if (rc != SQLITE_DONE) return core::Fail(db.Error("read the audit log's patients"));
  return std::nullopt;
}

}  // namespace

std::string JoinAuditPatients(const std::vector<std::string>& patients) {
  std::string out;
  size_t bytes = 0;
  for (const std::string& p : patients) bytes += p.size() + 1;
  out.reserve(bytes);
  for (size_t i = 0; i < patients.size(); ++i) {
    if (i > 0) out += '\n';
    AppendEscaped(out, patients[i]);
  }
  return out;
}

std::vector<std::string> SplitAuditPatients(std::string_view list) {
  std::vector<std::string> out;
  ForEachListed(list, [&](std::string_view id) { out.emplace_back(id); });
  return out;
}

bool AuditListNames(std::string_view list, std::string_view patient) {
  std::string id;
  AppendEscaped(id, patient);
  // A stored id has no newline: a match between newlines (or the ends) is a whole id.
  if (list.starts_with(id) && (list.size() == id.size() || list[id.size()] == '\n')) return true;
  if (list.size() <= id.size()) return false;
  if (list.ends_with(id) && list[list.size() - id.size() - 1] == '\n') return true;
  const std::string between = "\n" + id + "\n";
  return memmem(list.data(), list.size(), between.data(), between.size()) != nullptr;
}

void AuditBucketPatients::Add(std::string_view patient, uint16_t first, uint16_t last) {
  auto it = offsets_.find(patient);
  if (it == offsets_.end())
    it = offsets_.emplace(std::string(patient), std::vector<uint16_t>()).first;
  std::vector<uint16_t>& offsets = it->second;
  // Offsets come in order; an entry may name a patient twice.
  for (uint32_t o = offsets.empty() ? first : std::max<uint32_t>(first, offsets.back() + 1u);
       o <= last; ++o) {
    offsets.push_back(static_cast<uint16_t>(o));
  }
}

std::vector<std::pair<std::string_view, const std::vector<uint16_t>*>> AuditBucketPatients::Sorted()
    const {
  std::vector<std::pair<std::string_view, const std::vector<uint16_t>*>> out;
  out.reserve(offsets_.size());
  for (const auto& [patient, offsets] : offsets_) out.emplace_back(patient, &offsets);
  std::sort(out.begin(), out.end());
  return out;
}

core::Status IndexAuditPatients(Db& db, int64_t seq, const std::vector<std::string>& patients) {
  const int64_t bucket = AuditBucketOf(seq);
  if (seq == AuditBucketStart(bucket) && bucket > 0) {
    RETURN_IF_ERROR(WriteAuditBucket(db, bucket - 1, /*seal=*/true));
  }
  if (patients.empty()) return core::OkStatus();
  const std::string list = JoinAuditPatients(patients);
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     db.Prepare("INSERT INTO audit_patient_list(seq, patients) VALUES(?, ?)"));
    Stmt stmt(raw);
    stmt.Bind(1, seq);
    stmt.Bind(2, std::string_view(list));
    if (stmt.Step() != SQLITE_DONE) return db.Error("append to the audit log");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> previous, PreviousListInBucket(db, seq));
  std::unordered_set<std::string_view> indexed;
  if (previous && previous->find('\\') == std::string::npos) {  // (escaped ids: probed)
    ForEachListed(*previous, [&](std::string_view id) { indexed.insert(id); });
  }
  // A probe of cached pages when the patient's row for the bucket is there; a new row the
  // first time the bucket names the patient. An entry that joins a sealed bucket (out of
  // order: the log appends in order) makes its patients' rows unsealed again, so that a
  // search scans the bucket.
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare("INSERT INTO audit_patient_bucket(patient, bucket) VALUES(?, ?) "
                              "ON CONFLICT(patient, bucket) DO UPDATE SET entries = NULL "
                              "WHERE entries IS NOT NULL"));
  for (const std::string& patient : patients) {
    if (indexed.contains(patient)) continue;
    Stmt stmt(raw);
    stmt.Bind(1, std::string_view(patient));
    stmt.Bind(2, bucket);
    if (stmt.Step() != SQLITE_DONE) return db.Error("index the audit log");
  }
  return core::OkStatus();
}

core::Status WriteAuditBucket(Db& db, int64_t bucket, bool seal) {
  AuditBucketPatients named;
  {
    // Consecutive entries with the same list (a gateway's batches, a ward's reads) are a run,
    // whose list is read once: sealing a gateway's bucket then costs its 1,000 names, not a
    // million.
    std::string run;
    uint16_t run_first = 0, run_last = 0;
    bool in_run = false;
    auto add_run = [&] {
      ForEachListed(run, [&](std::string_view id) { named.Add(id, run_first, run_last); });
    };
    ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare("SELECT seq, patients FROM audit_patient_list "
                                                    "WHERE seq >= ?1 AND seq < ?2 ORDER BY seq"));
    Stmt stmt(raw);
    stmt.Bind(1, AuditBucketStart(bucket));
    stmt.Bind(2, AuditBucketStart(bucket + 1));
    int rc;
    while ((rc = stmt.Step()) == SQLITE_ROW) {
      const auto offset = static_cast<uint16_t>(stmt.Int(0) - AuditBucketStart(bucket));
      const std::string_view list = ColumnView(stmt, 1);
      if (in_run && offset == run_last + 1 && list == run) {
        run_last = offset;
        continue;
      }
      if (in_run) add_run();
      run.assign(list);
      run_first = run_last = offset;
      in_run = true;
    }
    if (rc != SQLITE_DONE) return db.Error("read the audit log's patients");
    if (in_run) add_run();
  }
  ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      db.Prepare(seal ? "INSERT INTO audit_patient_bucket(patient, bucket, entries) "
                        "VALUES(?1, ?2, ?3) ON CONFLICT(patient, bucket) "
                        "DO UPDATE SET entries = excluded.entries"
                      : "INSERT INTO audit_patient_bucket(patient, bucket) VALUES(?1, ?2) "
                        "ON CONFLICT(patient, bucket) DO UPDATE SET entries = NULL"));
  for (const auto& [patient, offsets] : named.Sorted()) {
    const std::string entries = seal ? EncodeOffsets(*offsets) : std::string();
    Stmt stmt(raw);
    stmt.Bind(1, patient);
    stmt.Bind(2, bucket);
    if (seal) stmt.BindBlob(3, entries);
    if (stmt.Step() != SQLITE_DONE) return db.Error("index the audit log");
  }
  return core::OkStatus();
}

core::Result<std::vector<int64_t>> FindAuditEntriesOf(Db& db, std::string_view patient,
                                                      int64_t before_seq, size_t limit) {
  std::vector<int64_t> found;
  int64_t top = before_seq > 1 ? AuditBucketOf(before_seq - 1) : -1;
  while (found.size() < limit && top >= 0) {
    // The patient's buckets, newest first, a few at a time. No statement is kept open while
    // another is prepared: Db::Prepare may empty its cache, which finalizes them.
    std::vector<std::pair<int64_t, std::optional<std::string>>> buckets;
    {
      ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                       db.Prepare("SELECT bucket, entries FROM audit_patient_bucket "
                                  "WHERE patient = ?1 AND bucket <= ?2 "
                                  "ORDER BY bucket DESC LIMIT 16"));
      Stmt stmt(raw);
      stmt.Bind(1, patient);
      stmt.Bind(2, top);
      int rc;
      while ((rc = stmt.Step()) == SQLITE_ROW) {
        buckets.emplace_back(stmt.Int(0),
                             stmt.IsNull(1) ? std::nullopt : std::optional(stmt.Text(1)));
      }
      if (rc != SQLITE_DONE) return core::Fail(db.Error("search the audit log"));
    }
    if (buckets.empty()) break;
    for (const auto& [bucket, entries] : buckets) {
      std::optional<std::vector<uint16_t>> offsets;
      if (entries) offsets = DecodeOffsets(*entries);
      if (!offsets) {
        RETURN_IF_ERROR(ScanBucket(db, patient, bucket, before_seq, limit, found));
      } else {
        for (auto it = offsets->rbegin(); it != offsets->rend() && found.size() < limit; ++it) {
          const int64_t seq = AuditBucketStart(bucket) + *it;
          if (seq < before_seq) found.push_back(seq);
        }
      }
      if (found.size() == limit) break;
    }
    top = buckets.back().first - 1;
  }
  return found;
}

core::Result<std::optional<int64_t>> AuditIndexCheck::Add(
    int64_t seq, const std::vector<std::string>& patients) {
  if (const int64_t bucket = AuditBucketOf(seq); bucket != bucket_) {
    if (bucket_ >= 0) {
      ASSIGN_OR_RETURN(std::optional<int64_t> broken, CheckBucket());
      if (broken) return broken;
    }
    bucket_ = bucket;
    named_.clear();
  }
  const auto offset = static_cast<uint16_t>(seq - AuditBucketStart(bucket_));
  for (const std::string& patient : patients) named_.Add(patient, offset, offset);
  return std::nullopt;
}

core::Result<std::optional<int64_t>> AuditIndexCheck::CheckBucket() {
  if (named_.empty()) return std::nullopt;
  rows_expected_[bucket_] = static_cast<int64_t>(named_.size());
  const int64_t start = AuditBucketStart(bucket_);
  std::optional<int64_t> first;  // the first entry the rows misrepresent
  auto broken_at = [&](int64_t seq, std::string problem) {
    if (!first || seq < *first) {
      first = seq;
      problem_ = std::move(problem);
    }
  };
  for (const auto& [patient, offsets] : named_.Sorted()) {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw, db_.Prepare("SELECT entries FROM audit_patient_bucket "
                                                     "WHERE patient = ?1 AND bucket = ?2"));
    Stmt stmt(raw);
    stmt.Bind(1, patient);
    stmt.Bind(2, bucket_);
    int rc = stmt.Step();
    if (rc == SQLITE_DONE) {
      broken_at(start + offsets->front(),
                "the patient index leaves it out under a patient it names (a row removed)");
      continue;
    }
    if (rc != SQLITE_ROW) return core::Fail(db_.Error("read the audit log's patient index"));
    if (stmt.IsNull(0)) continue;  // unsealed: a search reads the lists
    std::optional<std::vector<uint16_t>> sealed = DecodeOffsets(stmt.Text(0));
    if (!sealed) {
      broken_at(start + offsets->front(), "its bucket's row in the patient index is damaged");
      continue;
    }
    // The first entry named by one and not by the other.
    auto [a, b] = std::mismatch(offsets->begin(), offsets->end(), sealed->begin(), sealed->end());
    if (a != offsets->end() || b != sealed->end()) {
      const uint16_t at = a == offsets->end() ? *b : b == sealed->end() ? *a : std::min(*a, *b);
      broken_at(start + at,
                "the patient index does not name it under the patients it names "
                "(a row edited)");
    }
  }
  return first;
}

core::Result<std::optional<int64_t>> AuditIndexCheck::Finish() {
  if (bucket_ >= 0) {
    ASSIGN_OR_RETURN(std::optional<int64_t> broken, CheckBucket());
    if (broken) return broken;
    named_.clear();
    bucket_ = -1;
  }
  // Every row the lists call for is there (above); a bucket with more rows than that names
  // patients none of its entries name.
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db_.Prepare("SELECT bucket, count(*) FROM audit_patient_bucket "
                               "GROUP BY bucket ORDER BY bucket"));
  Stmt stmt(raw);
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    const int64_t bucket = stmt.Int(0);
    auto expected = rows_expected_.find(bucket);
    if (stmt.Int(1) > (expected == rows_expected_.end() ? 0 : expected->second)) {
      problem_ = fmt::format(
          "the patient index names, for entries {} to {}, patients that none of them names "
          "(a row added)",
          AuditBucketStart(bucket), AuditBucketStart(bucket + 1) - 1);
      return std::optional<int64_t>(std::max<int64_t>(1, AuditBucketStart(bucket)));
    }
  }
  if (rc != SQLITE_DONE) return core::Fail(db_.Error("read the audit log's patient index"));
  return std::nullopt;
}

}  // namespace medulla::store::sqlite
