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
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/time.h"
#include "store/resource_cache.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace medulla::store::sqlite {

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
  StoreStats Stats() const override;
  core::Status Close() override;

 private:
  struct Pending {
    Unit unit;
    UnitCallback done;
  };
  class ReaderLease;

  SqliteStore(SqliteStoreOptions options, core::MetricsRegistry& metrics, const core::Clock& clock);
  core::Status Initialize();
  void CommitLoop();
  void CommitBatch(std::deque<Pending>& batch);
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

  SqliteStoreOptions options_;
  std::string db_path_;
  const core::Clock& clock_;
  int lock_fd_ = -1;

  std::unique_ptr<Db> writer_;                 // owned by the commit thread after Open
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
