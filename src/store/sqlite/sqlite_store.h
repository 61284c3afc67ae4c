// The embedded store: one SQLite database in WAL mode in the data directory.
//
// Writes go through one commit thread. Units that arrive while a commit is in flight are
// applied together in the next transaction, so many concurrent writers share one fsync (group
// commit); each unit sits in its own SAVEPOINT so a failing unit rolls back alone. A unit's
// callback runs only after COMMIT has returned with synchronous=FULL, so an acknowledged write
// survives kill -9 and power loss. Reads use a pool of connections, one per concurrent reader;
// WAL lets them run beside the writer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/time.h"
#include "store/resource_cache.h"
#include "store/sqlite/audit_log.h"
#include "store/sqlite/audit_trail.h"
#include "store/sqlite/search_index.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace medulla::store::sqlite {

struct SearchContext;

struct SqliteStoreOptions {
  std::string data_dir = "var/medulla";
  // "full": fsync the WAL on every commit (durable across power loss); "normal": durable
  // across process crashes only. Full is the default.
  std::string synchronous = "full";
  size_t max_units_per_commit = 2000;
  size_t max_queued_units = 100000;  // beyond this, Submit fails kUnavailable (back-pressure)
  int64_t cache_size_kib = 64 * 1024;
  int page_size = 16384;                       // for new databases
  int64_t mmap_bytes = 1LL << 30;              // address space for memory-mapped reads (0: off)
  size_t read_cache_bytes = 64 * 1024 * 1024;  // current versions kept in memory (0: off)
  int checkpoint_pages = 2048;                 // WAL frames between background checkpoints (32 MiB)
  std::string vfs;  // SQLite VFS for every connection; empty: the default (tests inject faults)
  // The search parameters to index; nullptr: the embedded FHIR R4 definitions.
  const fhir::SearchParameterRegistry* search_parameters = nullptr;
  // Rebuild the search index on open even if it is current (`medulla reindex`). It is rebuilt
  // anyway when the search parameters' definitions differ from those it was built with.
  bool rebuild_search_index = false;
  std::function<void(int64_t done, int64_t total)> reindex_progress;  // during a rebuild
  // How long a search waits for the index to catch up with writes before 503.
  std::chrono::milliseconds index_wait{30000};
  // How long one search may run (each page; a conditional write's criteria too) before it
  // fails kTooCostly.
  std::chrono::milliseconds search_timeout{10000};
  // The key of the audit log's hash chain (audit_log.h): the data directory's audit key. Tests
  // may leave it empty (HMAC with an empty key still chains, but anyone can recompute it).
  std::string audit_key;
  // The store key (32 raw bytes): the database, its WAL and the audit journal are encrypted
  // (encrypted_vfs.h). Empty: they are not. Fixed when the data directory is created.
  std::string encryption_key;
};

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database in options.data_dir and takes an exclusive lock on
  // the directory: a second process on the same directory fails with kUnavailable.
  static core::Result<std::unique_ptr<SqliteStore>> Open(const SqliteStoreOptions& options,
                                                         core::MetricsRegistry& metrics,
                                                         const core::Clock& clock);
  ~SqliteStore() override;

  void Submit(Unit unit, UnitCallback done) override;
  core::Result<VersionRecord> ReadCurrent(const std::string& type, const std::string& id) override;
  core::Result<VersionRecord> ReadVersion(const std::string& type, const std::string& id,
                                          int64_t version) override;
  core::Result<SearchPage> Search(const SearchQuery& query) override;
  core::Result<HistoryPage> History(const HistoryQuery& query) override;
  core::Result<std::vector<VersionRecord>> Changes(int64_t after_seq, size_t limit) override;
  void SetCommitListener(std::function<void(int64_t last_seq)> listener) override {
    std::lock_guard lock(commit_listener_mu_);
    commit_listener_ = std::move(listener);
  }
  void Audit(std::vector<AuditEntry> entries, std::function<void(core::Status)> done) override;
  core::Result<AuditPage> AuditSearch(const AuditQuery& query) override;
  StoreStats Stats() const override;
  core::Status Close() override;

 private:
  struct Pending {
    Unit unit;
    UnitCallback done;
  };
  class ReaderLease;

  SqliteStore(SqliteStoreOptions options, core::MetricsRegistry& metrics, const core::Clock& clock);
  // Queues `pending` for the commit thread; false (and `pending` untouched) when the store is
  // closing or the queue is full.
  bool Enqueue(Pending& pending);
  core::Status Initialize();
  void CommitLoop();
  // Commits the batch (possibly empty: index work only); false if the transaction failed.
  // Audit entries waiting in the journal move into the table with it (audit_trail.h).
  bool CommitBatch(std::deque<Pending>& batch, int64_t flush_target);
  // Applies one unit in its own savepoint. Sets `broken` when the enclosing transaction can no
  // longer be trusted (SQLite ended it, or the savepoint could not be undone).
  std::vector<WriteResult> ApplyUnit(Unit& unit, core::MicrosSinceEpoch now, bool& broken);
  core::Status BeginWithRetry();
  void RecoverSequence(int64_t fallback);
  core::Status RecordCommit(core::MicrosSinceEpoch timestamp, int64_t first_seq);
  // The first seq committed at or after `since`; 0 if none; nullopt if unknown (no log).
  static core::Result<std::optional<int64_t>> FirstSeqSince(Db& db, core::MicrosSinceEpoch since);
  // `modified` is set once the write has changed the database (so a later failure cannot be
  // undone without a savepoint).
  WriteResult ApplyWrite(Write& write, core::MicrosSinceEpoch now, bool& modified);
  core::Result<std::unique_ptr<Db>> OpenReader();
  core::Result<VersionRecord> ReadCurrentFromDb(const std::string& type, const std::string& id);
  // The search index rows of a stored resource body.
  core::Result<IndexRows> IndexRowsOf(const std::string& type, std::string_view body) const;
  core::Status RebuildSearchIndex(const std::string& fingerprint);

  // The search index is written behind the commits: each version written joins index_tail_,
  // and the commit thread indexes the tail in large batches (cheaper per row: see
  // docs/architecture.md) when idle, when the tail grows long, or when a search waits for it.
  // A search first waits until everything committed before it is indexed (read your writes);
  // conditional writes index the tail first, inside their transaction.
  struct IndexTask {
    int64_t seq = 0;
    int64_t rk = 0;
    std::string type;
    std::string id;
    bool fresh = false;             // version 1: nothing of it is in the index yet
    bool deleted = false;           // a deletion: its rows go
    std::optional<IndexRows> rows;  // the new rows; nullopt: extract from the stored body
  };
  // Replaces the write's conditional references by their matches, in the stored body and in
  // the index (commit thread, inside the unit's savepoint).
  core::Status ResolveReferences(const Write& w, WriteResult& result);
  // The context of a search on the writer connection (conditional writes and references).
  SearchContext WriterSearch(Db& db) const;
  // Indexes tail entries [index_flushed_, upto) in the open transaction (commit thread).
  core::Status IndexTail(size_t upto);
  // Blocks until versions up to `target` are indexed (any thread but the commit thread).
  core::Status WaitForIndex(int64_t target);
  // On open: indexes the versions written after the index's watermark (a crash, a kill).
  core::Status CatchUpIndex();
  std::vector<IndexTask> index_tail_;    // commit thread only
  size_t index_flushed_ = 0;             // commit thread: tail entries indexed, not yet committed
  int64_t indexed_pending_ = 0;          // commit thread: the watermark including those
  std::atomic<int64_t> indexed_seq_{0};  // the committed watermark
  int64_t flush_target_ = 0;             // GUARDED_BY(queue_mu_): a search waits for this seq
  std::condition_variable index_cv_;     // with queue_mu_: indexed_seq_ advanced

  SqliteStoreOptions options_;
  std::string db_path_;
  std::string vfs_;  // options_.vfs, or the encrypting VFS over it
  const core::Clock& clock_;
  int lock_fd_ = -1;

  const fhir::SearchParameterRegistry& registry_;
  std::unique_ptr<ParamIds> param_ids_;        // immutable after Open
  std::unique_ptr<Db> writer_;                 // owned by the commit thread after Open
  AuditTrail audit_;                           // thread-safe
  bool audit_fold_wanted_ = false;             // GUARDED_BY(queue_mu_): an AuditEvent search
  bool writer_synchronous_full_ = false;       // commit thread: the writer's current mode
  int64_t next_seq_ = 1;                       // commit thread only
  core::MicrosSinceEpoch last_timestamp_ = 0;  // commit thread only

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;  // GUARDED_BY(queue_mu_)
  bool closing_ = false;       // GUARDED_BY(queue_mu_)
  std::thread commit_thread_;

  // WAL checkpoints run on their own thread and connection, off the serial commit path: the
  // commit thread only nudges it when the WAL has grown past checkpoint_pages.
  void CheckpointLoop();
  std::unique_ptr<Db> checkpointer_;
  std::thread checkpoint_thread_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;  // GUARDED_BY(checkpoint_mu_)
  bool checkpoint_stop_ = false;    // GUARDED_BY(checkpoint_mu_)
  int wal_frames_ = 0;              // GUARDED_BY(checkpoint_mu_)
  void OnWalCommit(int frames);     // commit thread
  core::Counter& checkpoints_;
  std::atomic<int64_t> last_seq_{0};
  std::mutex commit_listener_mu_;                 // the listener is replaced while commits run
  std::function<void(int64_t)> commit_listener_;  // SetCommitListener

  ResourceCache cache_;
  core::Counter& cache_hits_;
  core::Counter& cache_misses_;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Db>> idle_readers_;  // GUARDED_BY(readers_mu_)

  core::Counter& commits_;
  core::Counter& units_committed_;
  core::Counter& versions_written_;
  core::Counter& commit_failures_;
  core::Gauge& queue_depth_;
  core::Histogram& commit_seconds_;
  core::Histogram& units_per_commit_;
};

}  // namespace medulla::store::sqlite
