// The time-series store for device readings: per-series columnar blocks (Gorilla-coded times and
// values, optional quality and rr columns: telemetry/block.h), not one FHIR resource per reading.
//
// Durability: a batch is acknowledged only after a SQLite transaction holding it (as a compact
// "pending" row, telemetry/pending_row.h) has committed with synchronous=FULL, so an
// acknowledged reading, its quality and its rr intervals survive kill -9 and power loss. Batches
// queued while one commits share the next transaction (group commit). In memory each series
// keeps its open block. Checkpoints write the open and filled blocks to disk, spread over a
// cycle of checkpoint_interval_ms: each commit writes the share of the series that is due by
// then (or sooner when pending rows pile up), so no one commit carries them all and the batches
// behind it are not held up. A series row records the last pending row its blocks cover; a
// cycle that has visited every series deletes the pending rows all of them cover. On open,
// pending rows are replayed into memory, each series skipping those its blocks already hold.
//
// Order: blocks take readings in time order; a reading older than its series' open block goes
// to a late buffer, written as a block of its own. A reading at the same time as one already
// stored is a duplicate and is dropped (first write wins); reads merge and de-duplicate too.
// A reading older than the edge of the raw retention (as of the last checkpoint) is not stored
// (AppendResult::expired): it would be dropped at once, and with its neighbours gone it could not
// be told from a retransmission, which would count twice in the rollups.
//
// Rollups: per series and per rollup_interval_ms, the min, max, sum and count of the values
// (telemetry/rollup.h). Each checkpoint folds the readings it writes into blocks into their
// intervals' rollups in the same transaction, so a reading is in the rollups exactly when it is
// in a block on disk, whatever order it came in: a crash loses neither nor counts one twice (the
// pending rows replayed are those whose readings are in neither). Raw blocks that end before
// now - retention_ms are dropped, which is then always after their rollups are on disk, and
// rollups older than rollup_retention_ms after that. Stores written before rollups existed get
// theirs computed from their blocks when first opened.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "monitor/vital.h"
#include "telemetry/block.h"
#include "telemetry/rollup.h"

namespace medulla::store::sqlite {
class Db;
}

namespace medulla::telemetry {

struct StoredReading {
  std::string patient;
  monitor::Vital vital = monitor::Vital::kHeartRate;
  int64_t time_ms = 0;
  double value = 0;
  float quality = NAN;          // 0..1; NaN: none
  std::vector<uint16_t> rr_ms;  // beat-to-beat intervals, at most kMaxRrPerReading
};

// A reading as Read returns it. Its rr intervals come from ReadRr instead: they are raw beat
// data that only heart-rate-variability analysis wants, up to 256 per reading, and a vector here
// would make every point of every FHIR search carry an (empty) allocation.
struct Point {
  int64_t time_ms = 0;
  double value = 0;
  float quality = NAN;
};

struct RrReading {
  int64_t time_ms = 0;
  std::vector<uint16_t> rr_ms;
};

// Caps on what one read returns; a caller wanting more reads on from the last one returned.
inline constexpr size_t kMaxRollupsPerRead = 100'000;
inline constexpr size_t kMaxRrReadingsPerRead = 10'000;  // up to 256 intervals each

struct SeriesStoreOptions {
  std::string path;            // the SQLite file, e.g. DATA/telemetry.db
  std::string vfs;             // an SQLite VFS (the encrypted one), empty for the default
  int reserve_bytes = 0;       // per page, set at creation (the encrypted VFS's 32)
  size_t block_points = 1024;  // a full block is closed and a new one started
  // ... or one this large: a block is rewritten whole by each checkpoint while it is open, and
  // readings with rr take about 60 bytes each.
  size_t max_block_bytes = 16 * 1024;
  // Every dirty series is written once per this interval (and its pending rows then deleted)...
  int64_t checkpoint_interval_ms = 60'000;
  // ... or sooner, once this many pending rows were added since the cycle began.
  size_t checkpoint_pending_rows = 4096;
  size_t max_queued_readings = 2'000'000;  // beyond: Append answers kResourceExhausted
  int64_t retention_ms = 0;  // blocks that end earlier than now - retention are dropped; 0: never
  // The rollups' interval. Fixed when the store is created: Open refuses another value later.
  int64_t rollup_interval_ms = 5 * 60'000;
  int64_t rollup_retention_ms = 0;  // rollups of intervals that ended before now - this are dropped
  // The wall clock that retention and checkpoint pacing read; null: the system clock. It must
  // outlive the store.
  const core::Clock* clock = nullptr;
};

struct AppendResult {
  size_t stored = 0;
  size_t duplicates = 0;
  // Older than the raw readings kept (retention_ms, as of the last checkpoint): not stored.
  size_t expired = 0;
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
  // The same readings' rr intervals, for those that have any: at most `limit` (and at most
  // kMaxRrReadingsPerRead) readings.
  core::Result<std::vector<RrReading>> ReadRr(const std::string& patient, monitor::Vital vital,
                                              int64_t from_ms, int64_t to_ms, size_t limit) const;
  // Per interval of interval_ms (aligned to the epoch, see telemetry/rollup.h) that overlaps
  // [from_ms, to_ms) and holds readings, in time order, the min, max, mean and count of its
  // values; at most `limit` (and at most kMaxRollupsPerRead) intervals. An interval counts all
  // of its readings, also those outside [from_ms, to_ms). Where raw readings exist the rollups
  // are computed from them, for any interval_ms > 0; before the time where raw readings have
  // expired (retention_ms) they come from the stored rollups, which needs interval_ms to be a
  // multiple of rollup_interval_ms (kInvalidArgument otherwise, saying so). Intervals older than
  // both retentions have nothing left and are left out.
  core::Result<std::vector<Rollup>> ReadRollups(const std::string& patient, monitor::Vital vital,
                                                int64_t from_ms, int64_t to_ms, int64_t interval_ms,
                                                size_t limit) const;
  // The vitals a patient has readings of.
  std::vector<monitor::Vital> VitalsOf(const std::string& patient) const;
  // The patients with readings of any vital, in id order.
  core::Result<std::vector<std::string>> Patients() const;

  // Writes every series to disk now and deletes all pending rows (a whole cycle at once).
  core::Status Checkpoint();
  SeriesStoreStats Stats() const;

 private:
  struct Series;
  struct Queued;
  struct Snapshot;
  explicit SeriesStore(SeriesStoreOptions options);
  core::Status Init();
  core::Status InitRollups();  // records the interval; computes rollups of older stores' blocks
  // The series a commit writes: order_[begin, end); with cycle_end, the cycle is complete.
  struct Slice {
    size_t begin = 0, end = 0;
    bool full = false;  // all series, and every pending row is then covered
    bool cycle_end = false;
  };
  struct SeriesRow {
    int64_t id, saved_pending, version;
  };
  void CommitLoop();
  int64_t NowMs() const;
  Slice PlanSlice(int64_t now_ms, bool full) const;
  core::Status CommitBatch(std::vector<Queued>& batch, const Slice& slice);
  // Inside the commit transaction: the slice's series, and at a cycle's end the pending rows
  // the cycle covered and what has expired. Sets checkpoint_after_.
  core::Status WriteSlice(const Slice& slice, int64_t now_ms);
  core::Result<int64_t> WriteBlock(int64_t series, int64_t row, int64_t first, int64_t last,
                                   size_t count, const std::string& data);
  // Adds (or finds) the series' row; a series from before a restart has blocks and a version.
  core::Result<std::unique_ptr<Series>> LoadSeries(const std::string& patient,
                                                   monitor::Vital vital);
  void StartCycle(int64_t now_ms);
  // Blocks that end before this are past the raw retention (INT64_MIN: none).
  int64_t RawCutoff(int64_t now_ms) const;
  // Readings of a pending row that the series' blocks on disk already hold are skipped.
  AppendResult ApplyLocked(const std::vector<StoredReading>& readings, int64_t pending_id);
  // Whether the series already holds a reading at this time (memory, then disk).
  bool StoredAtLocked(const Series& s, int64_t time_ms);
  core::Status WriteRollups(int64_t series, const std::map<int64_t, RollupSum>& sums);
  // What one series holds for a read of [from_ms, to_ms). With interval_ms 0: its blocks
  // (memory first) and late readings. With interval_ms > 0 (from_ms and to_ms multiples of it):
  // the same from where raw readings are complete on, and before that its rollups (stored and
  // not yet written) summed per interval_ms, at most `limit` intervals of them, all as of one
  // checkpoint.
  core::Result<Snapshot> TakeSnapshot(const std::string& patient, monitor::Vital vital,
                                      int64_t from_ms, int64_t to_ms, int64_t interval_ms,
                                      size_t limit) const;

  SeriesStoreOptions options_;
  std::unique_ptr<store::sqlite::Db> db_;      // the commit thread's
  std::unique_ptr<store::sqlite::Db> reader_;  // reads, under read_mu_
  mutable std::mutex read_mu_;

  mutable std::mutex mu_;                                            // the in-memory series
  std::unordered_map<std::string, std::unique_ptr<Series>> series_;  // patient + '\0' + vital
  uint64_t readings_ = 0;
  uint64_t block_bytes_ = 0;
  int64_t applied_pending_id_ = 0;  // pending rows up to here are applied in memory
  // Checkpoint cycles committed; the meta table holds the same count, which tells a reader
  // whether what it read from memory and from disk belong together as to what has expired (and
  // each series row's version, as to its blocks and rollups).
  int64_t checkpoints_ = 0;
  // Raw readings at or after this time are all kept; earlier ones may have expired.
  int64_t raw_complete_from_ = INT64_MIN;

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Queued> queue_;
  size_t queued_readings_ = 0;
  bool stopping_ = false;
  bool force_checkpoint_ = false;

  // The commit thread's: the checkpoint cycle.
  std::vector<Series*> order_;  // the order a cycle visits the series in
  size_t cursor_ = 0;           // order_[0, cursor_) visited in this cycle
  int64_t cycle_start_ms_ = 0;
  int64_t cycle_watermark_ = 0;  // pending rows up to here were applied when the cycle began
  size_t cycle_rows_ = 0;        // how many of the pending rows those are
  size_t pending_rows_ = 0;      // in the table
  int64_t cycle_cutoff_ms_ = INT64_MIN;     // this cycle's edge of the raw retention
  std::function<void()> checkpoint_after_;  // what a checkpoint changes in memory once committed
  std::thread commit_thread_;
};

}  // namespace medulla::telemetry
