// The audit log's patients (audit_log.h): each entry's list, and the index behind
// `AuditEvent?patient=`.
//
// An entry's patients are one row of audit_patient_list, the ids in the entry's order (the
// order its hash covers) joined by '\n'. The index does not name every entry: it names, per
// patient, the buckets of 1,024 consecutive entries (bucket = seq >> 10) that name the patient.
// Appending an entry that names the same patients as the one before it (a gateway's telemetry
// batches, a ward's reads) then writes nothing to the index: a patient's row for a bucket is
// written the first time an entry of the bucket names them, and once more when the bucket is
// full, to seal it. Sealing writes, into each of the bucket's rows, which of its entries name
// that patient, so a search reads only those entries. Only the newest bucket is unsealed: a
// search scans its lists. The old index (a row per patient per entry) made every entry naming
// N patients insert N rows at N places in a B-tree, dirtying about N pages per commit once the
// index outgrew the cache (docs/benchmarks.md, "Audit log: entries naming many patients").
//
// The index is derived from the lists, so `medulla audit verify` checks it against them: a row
// removed, added or edited to hide an entry from a search, or to add one, is reported.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "store/sqlite/sqlite_db.h"

namespace medulla::store::sqlite {

constexpr int kAuditBucketBits = 10;  // 1,024 entries per bucket

constexpr int64_t AuditBucketOf(int64_t seq) {
  return seq >> kAuditBucketBits;
}
constexpr int64_t AuditBucketStart(int64_t bucket) {
  return bucket << kAuditBucketBits;
}

// The stored list: the ids joined by '\n'. FHIR ids ([A-Za-z0-9\-\.]{1,64}) are stored as they
// are; any other id has '\' and newline escaped ("\\", "\n"), so that every list splits back
// into the ids it was made of. An entry without patients has no list.
std::string JoinAuditPatients(const std::vector<std::string>& patients);
std::vector<std::string> SplitAuditPatients(std::string_view list);
// Whether the list names `patient` (a whole id, not part of one).
bool AuditListNames(std::string_view list, std::string_view patient);

// Stores entry `seq`'s list and indexes it, on the writer inside its open transaction, after
// the entry itself. The first entry of a bucket seals the bucket before it.
core::Status IndexAuditPatients(Db& db, int64_t seq, const std::vector<std::string>& patients);

// The entries that name `patient` below `before_seq` (exclusive), newest first, at most
// `limit` of them.
core::Result<std::vector<int64_t>> FindAuditEntriesOf(Db& db, std::string_view patient,
                                                      int64_t before_seq, size_t limit);

// Writes the index rows of every patient named in the bucket (replacing those there), sealed
// or not, from the bucket's lists. Sealing reads all the lists of the bucket; the new rows
// are written in patient order.
core::Status WriteAuditBucket(Db& db, int64_t bucket, bool seal);

// The patients the entries of one bucket name, each with the offsets (seq & 1023) of the
// entries that name them: what a sealed bucket's rows hold.
class AuditBucketPatients {
 public:
  // The entries from offset `first` to `last` name `patient` (added in offset order).
  void Add(std::string_view patient, uint16_t first, uint16_t last);
  bool empty() const { return offsets_.empty(); }
  size_t size() const { return offsets_.size(); }
  // In patient order (the index's order: its rows are then written or read in sequence).
  std::vector<std::pair<std::string_view, const std::vector<uint16_t>*>> Sorted() const;
  void clear() { offsets_.clear(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<uint16_t>, Hash, std::equal_to<>> offsets_;
};

// Checks the index against the lists while `medulla audit verify` walks the entries in order:
// Add each entry's patients, then Finish.
class AuditIndexCheck {
 public:
  explicit AuditIndexCheck(Db& db) : db_(db) {}
  // nullopt, or the first entry that the index does not name under its patients as its list
  // does (problem() says how). A bucket's rows are checked once its last entry is added.
  core::Result<std::optional<int64_t>> Add(int64_t seq, const std::vector<std::string>& patients);
  core::Result<std::optional<int64_t>> Finish();
  const std::string& problem() const { return problem_; }

 private:
  core::Result<std::optional<int64_t>> CheckBucket();

  Db& db_;
  int64_t bucket_ = -1;
  AuditBucketPatients named_;                 // in bucket_
  std::map<int64_t, int64_t> rows_expected_;  // per bucket: the patients its lists name
  std::string problem_;
};

}  // namespace medulla::store::sqlite
