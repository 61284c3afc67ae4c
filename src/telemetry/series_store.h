// The time-series store for device readings: per-series columnar blocks (Gorilla-coded times and
// values, telemetry/gorilla.h), not one FHIR resource per reading.
//
// Durability: a batch is acknowledged only after a SQLite transaction holding it (as a compact
// "pending" row) has committed with synchronous=FULL, so an acknowledged reading survives
// kill -9 and power loss. Batches queued while one commits share the next transaction (group
// commit). In memory each series keeps its open block; a checkpoint (every minute, or when
// pending rows pile up) writes the open and filled blocks and deletes the pending rows it
// covers, in one transaction. On open, pending rows are replayed into memory.
//
// Order: blocks take readings in time order; a reading older than its series' open block goes
// to a late buffer, written as a block of its own. A reading at the same time as one already
// stored is a duplicate and is dropped (first write wins); reads merge and de-duplicate too.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "monitor/vital.h"
#include "telemetry/gorilla.h"

namespace medulla::store::sqlite {
class Db;
}

namespace medulla::telemetry {

struct StoredReading {
  std::string patient;
  monitor::Vital vital = monitor::Vital::kHeartRate;
  int64_t time_ms = 0;
  double value = 0;
};

struct Point {
  int64_t time_ms = 0;
  double value = 0;
};

struct SeriesStoreOptions {
  std::string path;            // the SQLite file, e.g. DATA/telemetry.db
  std::string vfs;             // an SQLite VFS (the encrypted one), empty for the default
  int reserve_bytes = 0;       // per page, set at creation (the encrypted VFS's 32)
  size_t block_points = 1024;  // a full block is closed and a new one started
  int64_t checkpoint_interval_ms = 60'000;
  size_t checkpoint_pending_rows = 4096;
  size_t max_queued_readings = 2'000'000;  // beyond: Append answers kResourceExhausted
  int64_t retention_ms = 0;  // blocks that end earlier than now - retention are dropped
};

struct AppendResult {
  size_t stored = 0;
  size_t duplicates = 0;
};

struct SeriesStoreStats {
  uint64_t readings = 0;     // stored since open (after de-duplication) plus those on disk
  uint64_t block_bytes = 0;  // bytes of coded blocks on disk
  uint64_t series = 0;
  uint64_t queued = 0;  // readings waiting for their commit
};

class SeriesStore {
 public:
  static core::Result<std::unique_ptr<SeriesStore>> Open(const SeriesStoreOptions& options);
  ~SeriesStore();  // commits what is queued and checkpoints
  SeriesStore(const SeriesStore&) = delete;
  SeriesStore& operator=(const SeriesStore&) = delete;

  // Queues a batch; `done` runs on the commit thread once it is durable (or failed). Readings
  // are visible to Read before `done` runs.
  using AppendCallback = std::function<void(core::Status, AppendResult)>;
  void Append(std::vector<StoredReading> batch, AppendCallback done);
  // Blocks until the batch is durable (tests, import).
  core::Result<AppendResult> AppendSync(std::vector<StoredReading> batch);

  // The readings of one series with from_ms <= time < to_ms, in time order, at most `limit`.
  core::Result<std::vector<Point>> Read(const std::string& patient, monitor::Vital vital,
                                        int64_t from_ms, int64_t to_ms, size_t limit) const;
  // The vitals a patient has readings of.
  std::vector<monitor::Vital> VitalsOf(const std::string& patient) const;

  core::Status Checkpoint();
  SeriesStoreStats Stats() const;

 private:
  struct Series;
  struct Queued;
  explicit SeriesStore(SeriesStoreOptions options);
  core::Status Init();
  void CommitLoop();
  core::Status CommitBatch(std::vector<Queued>& batch, bool checkpoint);
  core::Status WriteCheckpoint();  // inside the commit transaction
  AppendResult ApplyLocked(const std::vector<StoredReading>& readings);
  // Whether the series already holds a reading at this time (memory, then disk).
  bool StoredAtLocked(const Series& s, int64_t time_ms);
  Series& SeriesLocked(const std::string& patient, monitor::Vital vital);
  core::Result<int64_t> SeriesId(const std::string& patient, monitor::Vital vital);

  SeriesStoreOptions options_;
  std::unique_ptr<store::sqlite::Db> db_;      // the commit thread's
  std::unique_ptr<store::sqlite::Db> reader_;  // reads, under read_mu_
  mutable std::mutex read_mu_;

  mutable std::mutex mu_;                                            // the in-memory series
  std::unordered_map<std::string, std::unique_ptr<Series>> series_;  // patient + '\0' + vital
  uint64_t readings_ = 0;
  uint64_t block_bytes_ = 0;
  int64_t applied_pending_id_ = 0;  // pending rows up to here are applied in memory

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Queued> queue_;
  size_t queued_readings_ = 0;
  bool stopping_ = false;
  int64_t last_checkpoint_ms_ = 0;
  size_t pending_rows_ = 0;
  bool force_checkpoint_ = false;
  std::function<void()> checkpoint_after_;  // what a checkpoint changes in memory once committed
  std::thread commit_thread_;
};

}  // namespace medulla::telemetry
