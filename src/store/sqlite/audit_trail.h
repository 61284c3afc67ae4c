// The audit log's write side: one hash chain, extended from any thread.
//
// A read's entry must be stored before its response goes out. Handing it to the commit thread
// and waiting for a SQLite transaction cost reads half their throughput (a transaction per
// batch rewrites whole B-tree pages; the hand-off costs two thread switches). So entries are
// sealed into the chain under a mutex, on the caller's thread, and copied into a journal file
// mapped into memory (audit_journal.h); the commit thread moves them into the audit_log table in
// bulk ("folds" them) with its next transaction. A full journal file is followed by a new one,
// and deleted by the first fold after it; the next open skips entries that a file still holds
// but the table has.
//
// Writes' entries take the same path inside the write's transaction, and that transaction folds
// them, so a write and its entry commit together. If the commit fails, its entries (sealed and
// journaled already, and chained to by later ones) are folded later; the API then records the
// failure in an entry of its own.
//
// Durability: an appended entry is in the page cache, so it survives kill -9; the next write's
// fsync, or the fold, makes it durable across power loss (as a SQLite WAL commit without fsync).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/sqlite/audit_journal.h"
#include "store/sqlite/audit_log.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace medulla::store::sqlite {

class AuditTrail {
 public:
  // `on_first_unfolded` runs (outside the trail's lock) after an Append that found nothing waiting
  // to be folded: the commit thread, which may be asleep with no writes to do, is told to fold.
  explicit AuditTrail(std::string key, std::function<void()> on_first_unfolded = {})
      : appender_(std::move(key)), on_first_unfolded_(std::move(on_first_unfolded)) {}

  // The journal files under `data_dir`, oldest first.
  static std::vector<std::string> JournalFiles(const std::string& data_dir);

  // In an encrypted store: seals the journal's records (before Open).
  void EncryptWith(const StoreCipher& store_key) { cipher_ = AuditJournalKey(store_key); }

  // At open, on the writer connection (no transaction open): finds where the chain stands and
  // folds what a crash or kill left in the journal.
  core::Status Open(const std::string& data_dir, Db& writer);

  // Seals the entries into the chain and journals them (any thread).
  core::Status Append(std::vector<AuditEntry> entries);

  // A fold: entries to insert in the commit thread's open transaction, and the files to delete
  // once it commits.
  struct Fold {
    std::vector<SealedAuditEntry> entries;
    std::vector<std::string> files;
  };
  // Takes every entry not yet in the table, and the full journal files (commit thread).
  core::Result<Fold> BeginFold();
  // After the transaction: deletes the files, or (not committed) keeps the entries for the next.
  void EndFold(Fold fold, bool committed);

  // Entries sealed so far / committed to the table so far (the newest seq of each).
  int64_t sealed() const { return sealed_.load(std::memory_order_acquire); }
  int64_t stored() const { return stored_.load(std::memory_order_acquire); }
  size_t unfolded() const { return unfolded_count_.load(std::memory_order_acquire); }

 private:
  core::Status OpenJournal(int64_t number);  // GUARDED_BY(mu_)
  core::Status AppendLocked(std::vector<AuditEntry> entries, bool& first_unfolded);

  std::mutex mu_;
  AuditAppender appender_;  // GUARDED_BY(mu_)
  std::function<void()> on_first_unfolded_;
  std::optional<StoreCipher> cipher_;       // the journal key of an encrypted store
  std::string dir_;                         // the journal directory
  int64_t journal_number_ = 0;              // GUARDED_BY(mu_): the current file's
  std::unique_ptr<AuditJournal> journal_;   // GUARDED_BY(mu_)
  std::vector<SealedAuditEntry> unfolded_;  // GUARDED_BY(mu_)
  std::vector<std::string> closed_files_;   // GUARDED_BY(mu_): rotated, not yet deleted
  std::atomic<int64_t> sealed_{0};
  std::atomic<int64_t> stored_{0};
  std::atomic<size_t> unfolded_count_{0};
};

}  // namespace medulla::store::sqlite
