#include "telemetry/series_store.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <iterator>

#include "core/time.h"
#include "store/sqlite/sqlite_db.h"
#include "telemetry/block_merge.h"
#include "telemetry/pending_row.h"

namespace medulla::telemetry {
namespace {

using store::sqlite::Db;
using store::sqlite::Stmt;

// The meta table's keys.
constexpr char kRollupIntervalKey[] = "rollup_interval_ms";
constexpr char kCheckpointsKey[] = "checkpoints";
constexpr char kRawCompleteFromKey[] = "raw_complete_from_ms";

std::string Key(std::string_view patient, monitor::Vital vital) {
  std::string k(patient);
  k.push_back('\0');
  k.push_back(static_cast<char>(vital));
  return k;
}

core::Status Failed(const Db& db, std::string_view what) {
  return db.Error(what);
}

// The start of the interval of time_ms; times so early that it would not be representable
// (nothing a device sends) share the earliest interval.
int64_t StartOf(int64_t time_ms, int64_t interval_ms) {
  return IntervalStart(std::max(time_ms, INT64_MIN + interval_ms), interval_ms);
}

// Runs a read transaction on a connection for the lifetime of the object.
class ReadTransaction {
 public:
  explicit ReadTransaction(Db& db) : db_(db), status_(db.Run("BEGIN")) {}
  ~ReadTransaction() {
    if (status_.ok()) (void)db_.Run("COMMIT");
  }
  const core::Status& status() const { return status_; }

 private:
  Db& db_;
  core::Status status_;
};

core::Result<std::optional<int64_t>> MetaValue(Db& db, const char* key) {
  ASSIGN_OR_RETURN(auto* raw, db.Prepare("SELECT value FROM meta WHERE key=?"));
  Stmt st(raw);
  st.Bind(1, std::string_view(key));
  const int rc = st.Step();
  if (rc == SQLITE_ROW) return std::optional<int64_t>(st.Int(0));
  if (rc != SQLITE_DONE) return core::Fail(Failed(db, "reading the store's settings"));
  return std::optional<int64_t>();
}

core::Status SetMetaValue(Db& db, const char* key, int64_t value) {
  ASSIGN_OR_RETURN(auto* raw, db.Prepare("INSERT INTO meta(key, value) VALUES(?, ?) "
                                         "ON CONFLICT(key) DO UPDATE SET value=excluded.value"));
  Stmt st(raw);
  st.Bind(1, std::string_view(key));
  st.Bind(2, value);
  if (st.Step() != SQLITE_DONE) return Failed(db, "writing the store's settings");
  return core::Status();
}

core::Status CheckOptions(const SeriesStoreOptions& o) {
  if (o.block_points < 1 || o.max_block_bytes < 1) {
    return core::InvalidArgument("telemetry blocks must hold at least one reading");
  }
  if (o.rollup_interval_ms < 1000 || o.rollup_interval_ms > 86'400'000) {
    return core::InvalidArgument("the telemetry rollup interval must be 1 s to 1 day");
  }
  constexpr int64_t kMaxRetentionMs = int64_t{1000} * 366 * 86'400'000;  // a millennium
  if (o.retention_ms < 0 || o.rollup_retention_ms < 0 || o.retention_ms > kMaxRetentionMs ||
      o.rollup_retention_ms > kMaxRetentionMs) {
    return core::InvalidArgument("telemetry retentions must be 0 (forever) or positive");
  }
  return core::Status();
}

}  // namespace

struct SeriesStore::Series {
  int64_t id = 0;
  BlockEncoder open{1};
  int64_t open_row = 0;        // the blocks row of the open block, once a checkpoint wrote it
  size_t open_disk_bytes = 0;  // the size of the open block's row, once written
  struct Full {
    int64_t row;        // 0: not written yet
    size_t disk_bytes;  // the size of that row before (an open block written earlier)
    std::string data;
    size_t count;
    int64_t first, last;
  };
  std::vector<Full> full;  // closed blocks a checkpoint has not written yet
  std::vector<Sample> late;
  // The readings applied since the last checkpoint, summed per rollup interval (by its start):
  // the checkpoint that writes them into blocks adds these to the stored rollups.
  std::map<int64_t, RollupSum> unsaved_rollups;
  int64_t latest = INT64_MIN;  // the latest time the series holds, in memory or on disk
  bool dirty = false;
  // As in its row: the last pending row its blocks on disk cover, and how many times they were
  // written (a reader compares it to tell whether memory and disk belong together).
  int64_t saved_pending = 0;
  int64_t version = 0;
};

struct SeriesStore::Queued {
  std::vector<StoredReading> readings;
  AppendCallback done;
};

struct SeriesStore::Snapshot {
  std::vector<std::string> blocks;  // in order of precedence: memory first
  std::vector<Sample> late;
  int64_t raw_from = INT64_MIN;          // blocks and late readings count from here on
  std::map<int64_t, RollupSum> rollups;  // before raw_from, per interval of the read
};

SeriesStore::SeriesStore(SeriesStoreOptions options) : options_(std::move(options)) {}

core::Result<std::unique_ptr<SeriesStore>> SeriesStore::Open(const SeriesStoreOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<SeriesStore> s(new SeriesStore(options));
  RETURN_IF_ERROR(s->Init());
  s->commit_thread_ = std::thread([p = s.get()] { p->CommitLoop(); });
  return s;
}

core::Status SeriesStore::Init() {
  ASSIGN_OR_RETURN(db_, Db::Open(options_.path, false, options_.vfs));
  if (options_.reserve_bytes > 0) {
    // Room at the end of each page for the encrypted VFS's salt and tag (only when created).
    int reserve = options_.reserve_bytes;
    if (sqlite3_file_control(db_->handle(), "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve) !=
        SQLITE_OK) {
      return db_->Error("reserve bytes for encryption");
    }
  }
  RETURN_IF_ERROR(
      db_->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;"
                "CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, patient TEXT NOT NULL,"
                " vital INTEGER NOT NULL, UNIQUE(patient, vital));"
                "CREATE TABLE IF NOT EXISTS blocks(id INTEGER PRIMARY KEY, series INTEGER NOT NULL,"
                " start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, count INTEGER NOT NULL,"
                " data BLOB NOT NULL);"
                "CREATE INDEX IF NOT EXISTS blocks_by_series ON blocks(series, end_ms);"
                "CREATE INDEX IF NOT EXISTS blocks_by_end ON blocks(end_ms);"
                "CREATE TABLE IF NOT EXISTS pending(id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
                "CREATE TABLE IF NOT EXISTS rollups(series INTEGER NOT NULL,"
                " start_ms INTEGER NOT NULL, min_value REAL NOT NULL, max_value REAL NOT NULL,"
                " sum_value REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY(series, start_ms))"
                " WITHOUT ROWID;"
                "CREATE INDEX IF NOT EXISTS rollups_by_start ON rollups(start_ms);"
                "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
                " WITHOUT ROWID;"));
  {
    // Stores from before checkpoints were spread over a cycle: every checkpoint covered all
    // pending rows, so 0 is right for their series.
    ASSIGN_OR_RETURN(auto* raw, db_->Prepare("SELECT COUNT(*) FROM pragma_table_info('series') "
                                             "WHERE name='saved_pending'"));
    Stmt st(raw);
    if (st.Step() != SQLITE_ROW) return Failed(*db_, "reading the series table's columns");
    if (st.Int(0) == 0) {
      RETURN_IF_ERROR(
          db_->Exec("ALTER TABLE series ADD COLUMN saved_pending INTEGER NOT NULL DEFAULT 0;"
                    "ALTER TABLE series ADD COLUMN version INTEGER NOT NULL DEFAULT 0;"));
    }
  }
  ASSIGN_OR_RETURN(reader_, Db::Open(options_.path, true, options_.vfs));
  RETURN_IF_ERROR(reader_->Exec("PRAGMA temp_store=MEMORY;"));
  {
    ASSIGN_OR_RETURN(auto* raw, db_->Prepare("SELECT SUM(count), SUM(length(data)) FROM blocks"));
    Stmt st(raw);
    if (st.Step() == SQLITE_ROW) {
      readings_ = static_cast<uint64_t>(st.Int(0));
      block_bytes_ = static_cast<uint64_t>(st.Int(1));
    }
  }
  RETURN_IF_ERROR(InitRollups());
  // Replay what was acknowledged but not yet checkpointed.
  ASSIGN_OR_RETURN(auto* raw, db_->Prepare("SELECT id, data FROM pending ORDER BY id"));
  Stmt st(raw);
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    std::vector<StoredReading> readings;
    if (!DecodePendingRow(st.Text(1), readings)) {
      return core::Status(core::Code::kInternal, options_.path + ": pending row " +
                                                     std::to_string(st.Int(0)) + " is damaged");
    }
    for (const auto& r : readings) {
      auto& series = series_[Key(r.patient, r.vital)];
      if (!series) {
        ASSIGN_OR_RETURN(series, LoadSeries(r.patient, r.vital));
        order_.push_back(series.get());
      }
    }
    applied_pending_id_ = st.Int(0);
    ApplyLocked(readings, applied_pending_id_);
    ++pending_rows_;
  }
  if (rc != SQLITE_DONE) return Failed(*db_, "replaying pending readings");
  {
    // Pending row ids only grow, also once the table was emptied: a series' saved_pending must
    // never cover a row written after it.
    ASSIGN_OR_RETURN(auto* raw, db_->Prepare("SELECT MAX(saved_pending) FROM series"));
    Stmt max_saved(raw);
    if (max_saved.Step() != SQLITE_ROW) return Failed(*db_, "reading the series' checkpoints");
    applied_pending_id_ = std::max(applied_pending_id_, max_saved.Int(0));
  }
  StartCycle(NowMs());
  return core::Status();
}

int64_t SeriesStore::NowMs() const {
  const core::Clock& clock =
      options_.clock != nullptr ? *options_.clock : core::SystemClock::Instance();
  return clock.Now() / 1000;
}

void SeriesStore::StartCycle(int64_t now_ms) {
  cursor_ = 0;
  cycle_start_ms_ = now_ms;
  cycle_watermark_ = applied_pending_id_;
  cycle_rows_ = pending_rows_;
  cycle_cutoff_ms_ = RawCutoff(now_ms);
}

int64_t SeriesStore::RawCutoff(int64_t now_ms) const {
  return options_.retention_ms > 0 ? now_ms - options_.retention_ms : INT64_MIN;
}

core::Status SeriesStore::InitRollups() {
  const int64_t interval = options_.rollup_interval_ms;
  ASSIGN_OR_RETURN(const auto stored_interval, MetaValue(*db_, kRollupIntervalKey));
  if (stored_interval) {
    if (*stored_interval != interval) {
      return core::InvalidArgument(
          options_.path + " keeps rollups of " + std::to_string(*stored_interval) +
          " ms intervals, fixed when it was created; the configured rollup interval (" +
          std::to_string(interval) + " ms) must be set back to that");
    }
    ASSIGN_OR_RETURN(const auto checkpoints, MetaValue(*db_, kCheckpointsKey));
    ASSIGN_OR_RETURN(const auto raw_from, MetaValue(*db_, kRawCompleteFromKey));
    checkpoints_ = checkpoints.value_or(0);
    raw_complete_from_ = raw_from.value_or(INT64_MIN);
    return core::Status();
  }
  // A new store, or one written before rollups existed: its blocks get their rollups now, in one
  // transaction with the settings that say it is done (a crash part-way does it again).
  RETURN_IF_ERROR(db_->Run("BEGIN IMMEDIATE"));
  auto backfill = [&]() -> core::Status {
    std::vector<int64_t> ids;
    {
      ASSIGN_OR_RETURN(auto* raw, db_->Prepare("SELECT DISTINCT series FROM blocks"));
      Stmt st(raw);
      while (st.Step() == SQLITE_ROW) ids.push_back(st.Int(0));
    }
    ASSIGN_OR_RETURN(auto* raw,
                     db_->Prepare("SELECT data FROM blocks WHERE series=? ORDER BY start_ms"));
    for (const int64_t id : ids) {
      std::vector<std::string> blocks;
      {
        Stmt st(raw);
        st.Bind(1, id);
        int rc;
        while ((rc = st.Step()) == SQLITE_ROW) blocks.push_back(st.Text(0));
        if (rc != SQLITE_DONE) return Failed(*db_, "reading blocks for their rollups");
      }
      std::map<int64_t, RollupSum> sums;
      auto status = MergeSeries(blocks, {}, INT64_MIN, INT64_MAX, false, [&](Sample& s) {
        sums[StartOf(s.time_ms, interval)].Add(s.value);
        return true;
      });
      if (!status.ok()) {
        return core::Status(core::Code::kInternal,
                            options_.path + ": computing rollups of series " + std::to_string(id) +
                                ": " + status.message());
      }
      RETURN_IF_ERROR(WriteRollups(id, sums));
    }
    RETURN_IF_ERROR(SetMetaValue(*db_, kCheckpointsKey, 0));
    RETURN_IF_ERROR(SetMetaValue(*db_, kRawCompleteFromKey, INT64_MIN));
    return SetMetaValue(*db_, kRollupIntervalKey, interval);
  };
  if (auto s = backfill(); !s.ok()) {
    (void)db_->Run("ROLLBACK");
    return s;
  }
  return db_->Run("COMMIT");
}

SeriesStore::~SeriesStore() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (commit_thread_.joinable()) commit_thread_.join();
}

void SeriesStore::Append(std::vector<StoredReading> batch, AppendCallback done) {
  for (const auto& r : batch) {
    if (r.patient.empty() || r.patient.size() > 255) {
      done(core::Status(core::Code::kInvalidArgument, "patient id must be 1-255 bytes"), {});
      return;
    }
    if (r.rr_ms.size() > kMaxRrPerReading) {
      done(core::InvalidArgument("a reading carries at most " + std::to_string(kMaxRrPerReading) +
                                 " rr intervals"),
           {});
      return;
    }
    if (!std::isnan(r.quality) && !(r.quality >= 0 && r.quality <= 1)) {
      done(core::InvalidArgument("a reading's quality must be 0 to 1 (NaN: none)"), {});
      return;
    }
  }
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_) {
      done(core::Status(core::Code::kUnavailable, "the telemetry store is closing"), {});
      return;
    }
    if (queued_readings_ + batch.size() > options_.max_queued_readings) {
      done(core::Status(core::Code::kResourceExhausted,
                        "telemetry ingest is saturated: retry later"),
           {});
      return;
    }
    queued_readings_ += batch.size();
    queue_.push_back(Queued{std::move(batch), std::move(done)});
  }
  queue_cv_.notify_one();
}

core::Result<AppendResult> SeriesStore::AppendSync(std::vector<StoredReading> batch) {
  std::promise<core::Result<AppendResult>> promise;
  auto future = promise.get_future();
  Append(std::move(batch), [&promise](core::Status s, AppendResult r) {
    if (s.ok()) {
      promise.set_value(r);
    } else {
      promise.set_value(core::Fail(std::move(s)));
    }
  });
  return future.get();
}

void SeriesStore::CommitLoop() {
  // Wake often enough to spread a cycle's writes over it even when no readings come.
  const auto tick =
      std::chrono::milliseconds(std::clamp<int64_t>(options_.checkpoint_interval_ms / 64, 5, 1000));
  for (;;) {
    std::vector<Queued> batch;
    bool stopping, forced;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait_for(lock, tick, [this] { return !queue_.empty() || stopping_; });
      while (!queue_.empty()) {
        queued_readings_ -= queue_.front().readings.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stopping = stopping_;
      forced = force_checkpoint_;
      force_checkpoint_ = false;
    }
    const Slice slice = PlanSlice(NowMs(), forced || stopping);
    if (!batch.empty() || slice.end > slice.begin || slice.cycle_end) {
      const auto status = CommitBatch(batch, slice);
      if (!status.ok()) {
        for (auto& q : batch) q.done(status, {});
      }
    }
    if (stopping) {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty()) return;
    }
  }
}

SeriesStore::Slice SeriesStore::PlanSlice(int64_t now_ms, bool full) const {
  const size_t n = order_.size();
  if (full) return Slice{0, n, true, true};
  // The share of the cycle that is due: by the time it has run, or by the pending rows added.
  const double by_time = static_cast<double>(now_ms - cycle_start_ms_) /
                         static_cast<double>(options_.checkpoint_interval_ms);
  const double by_rows = static_cast<double>(pending_rows_ - cycle_rows_) /
                         static_cast<double>(std::max<size_t>(options_.checkpoint_pending_rows, 1));
  const double share = std::max(by_time, by_rows);
  if (share >= 1) return Slice{cursor_, n, false, true};
  // Series i is due once the share passes (i + 1) / n: a lone series is written once a cycle,
  // not at every commit.
  const auto due = std::min(n, static_cast<size_t>(share * static_cast<double>(n)));
  return Slice{cursor_, std::max(cursor_, due), false, false};
}

core::Result<std::unique_ptr<SeriesStore::Series>> SeriesStore::LoadSeries(
    const std::string& patient, monitor::Vital vital) {
  auto series = std::make_unique<Series>();
  {
    ASSIGN_OR_RETURN(auto* ins,
                     db_->Prepare("INSERT INTO series(patient, vital) VALUES(?, ?) "
                                  "ON CONFLICT(patient, vital) DO UPDATE SET vital=vital "
                                  "RETURNING id, saved_pending, version"));
    Stmt st(ins);
    st.Bind(1, patient);
    st.Bind(2, static_cast<int64_t>(vital));
    if (st.Step() != SQLITE_ROW) return core::Fail(Failed(*db_, "adding a series"));
    series->id = st.Int(0);
    series->saved_pending = st.Int(1);
    series->version = st.Int(2);
  }
  ASSIGN_OR_RETURN(auto* raw, db_->Prepare("SELECT MAX(end_ms) FROM blocks WHERE series=?"));
  Stmt st(raw);
  st.Bind(1, series->id);
  if (st.Step() != SQLITE_ROW) return core::Fail(Failed(*db_, "reading a series' latest time"));
  series->latest = st.IsNull(0) ? INT64_MIN : st.Int(0);
  return series;
}

core::Status SeriesStore::CommitBatch(std::vector<Queued>& batch, const Slice& slice) {
  const int64_t now = NowMs();
  RETURN_IF_ERROR(db_->Run("BEGIN IMMEDIATE"));
  auto rollback = [this](core::Status s) {
    (void)db_->Run("ROLLBACK");
    checkpoint_after_ = nullptr;
    return s;
  };
  if (auto s = WriteSlice(slice, now); !s.ok()) return rollback(std::move(s));
  // Series seen for the first time get their row in the same transaction as their readings.
  std::unordered_map<std::string, std::unique_ptr<Series>> new_series;
  std::vector<int64_t> pending_ids;  // 0: an empty batch, which needs no row
  int64_t last_id = applied_pending_id_;
  size_t rows = 0;
  std::string blob;
  for (auto& q : batch) {
    if (q.readings.empty()) {
      pending_ids.push_back(0);
      continue;
    }
    for (const auto& r : q.readings) {
      auto key = Key(r.patient, r.vital);
      if (series_.count(key) || new_series.count(key)) continue;
      auto loaded = LoadSeries(r.patient, r.vital);
      if (!loaded) return rollback(loaded.error());
      new_series.emplace(std::move(key), std::move(*loaded));
    }
    blob.clear();
    EncodePendingRow(q.readings, blob);
    // Ids given here rather than by SQLite, which would reuse them once the table is empty.
    const int64_t id = ++last_id;
    auto ins = db_->Prepare("INSERT INTO pending(id, data) VALUES(?, ?)");
    if (!ins) return rollback(ins.error());
    Stmt st(*ins);
    st.Bind(1, id);
    st.BindBlob(2, blob);
    if (st.Step() != SQLITE_DONE) return rollback(Failed(*db_, "queuing readings"));
    pending_ids.push_back(id);
    ++rows;
  }
  if (auto s = db_->Run("COMMIT"); !s.ok()) return rollback(std::move(s));
  if (checkpoint_after_) checkpoint_after_();
  checkpoint_after_ = nullptr;
  cursor_ = slice.end;
  if (slice.cycle_end) pending_rows_ -= slice.full ? pending_rows_ : cycle_rows_;
  pending_rows_ += rows;

  std::vector<AppendResult> results;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, series] : new_series) {
      order_.push_back(series.get());
      series_.emplace(key, std::move(series));
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      results.push_back(ApplyLocked(batch[i].readings, pending_ids[i]));
    }
    applied_pending_id_ = last_id;
  }
  // The next cycle covers the pending rows up to those just applied.
  if (slice.cycle_end) StartCycle(now);
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(core::Status(), results[i]);
  batch.clear();
  return core::Status();
}

bool SeriesStore::StoredAtLocked(const Series& s, int64_t time_ms) {
  auto in_block = [time_ms](std::string_view block) {
    auto dec = BlockDecoder::Open(block);
    if (!dec) return false;
    Sample sample;
    while (dec->Next(sample, false) && sample.time_ms <= time_ms) {
      if (sample.time_ms == time_ms) return true;
    }
    return false;
  };
  for (const auto& p : s.late) {
    if (p.time_ms == time_ms) return true;
  }
  if (s.open.count() > 0 && time_ms >= s.open.first_time() && time_ms <= s.open.last_time() &&
      in_block(s.open.Finish())) {
    return true;
  }
  for (const auto& f : s.full) {
    if (time_ms >= f.first && time_ms <= f.last && in_block(f.data)) return true;
  }
  // Older still: the blocks on disk (a retransmitted batch, or one from before a restart).
  // This runs on the commit thread (or at open), which owns db_.
  auto raw = db_->Prepare(
      "SELECT data FROM blocks WHERE series=? AND start_ms<=? AND end_ms>=? ORDER BY start_ms");
  if (!raw) return false;
  Stmt st(*raw);
  st.Bind(1, s.id);
  st.Bind(2, time_ms);
  st.Bind(3, time_ms);
  while (st.Step() == SQLITE_ROW) {
    if (in_block(st.Text(0))) return true;
  }
  return false;
}

AppendResult SeriesStore::ApplyLocked(const std::vector<StoredReading>& readings,
                                      int64_t pending_id) {
  AppendResult result;
  for (const auto& r : readings) {
    Series& s = *series_.at(Key(r.patient, r.vital));
    // Replaying a pending row that this series' blocks (and rollups) on disk already cover.
    if (pending_id <= s.saved_pending) continue;
    // Older than the raw readings kept: it would be dropped at once, and with its neighbours
    // gone it could not be told from a retransmission, which would count twice in the rollups.
    if (r.time_ms < raw_complete_from_) {
      ++result.expired;
      continue;
    }
    // A reading later than everything the series holds is new (the common case: in order);
    // any other is looked for in memory and on disk. The open block alone would not do: after
    // a restart it may start earlier than blocks already on disk.
    const bool duplicate = r.time_ms <= s.latest && StoredAtLocked(s, r.time_ms);
    if (duplicate) {
      ++result.duplicates;
      continue;
    }
    if (s.open.count() == 0 || r.time_ms > s.open.last_time()) {
      if (s.open.count() >= options_.block_points ||
          s.open.byte_size() >= options_.max_block_bytes) {
        s.full.push_back({s.open_row, s.open_disk_bytes, s.open.Finish(), s.open.count(),
                          s.open.first_time(), s.open.last_time()});
        s.open = BlockEncoder(1);
        s.open_row = 0;
        s.open_disk_bytes = 0;
      }
      s.open.Append(r.time_ms, r.value, r.quality, r.rr_ms);
    } else {
      s.late.push_back({r.time_ms, r.value, r.quality, r.rr_ms});
    }
    s.latest = std::max(s.latest, r.time_ms);
    s.unsaved_rollups[StartOf(r.time_ms, options_.rollup_interval_ms)].Add(r.value);
    s.dirty = true;
    ++result.stored;
    ++readings_;
  }
  return result;
}

core::Status SeriesStore::WriteRollups(int64_t series, const std::map<int64_t, RollupSum>& sums) {
  ASSIGN_OR_RETURN(
      auto* raw,
      db_->Prepare("INSERT INTO rollups(series, start_ms, min_value, max_value, sum_value, count) "
                   "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(series, start_ms) DO UPDATE SET "
                   "min_value=min(min_value, excluded.min_value), "
                   "max_value=max(max_value, excluded.max_value), "
                   "sum_value=sum_value+excluded.sum_value, count=count+excluded.count"));
  for (const auto& [start, sum] : sums) {
    if (sum.count == 0) continue;  // only values that do not count (NaN)
    Stmt st(raw);
    st.Bind(1, series);
    st.Bind(2, start);
    sqlite3_bind_double(st.get(), 3, sum.min);
    sqlite3_bind_double(st.get(), 4, sum.max);
    sqlite3_bind_double(st.get(), 5, sum.sum);
    st.Bind(6, static_cast<int64_t>(sum.count));
    if (st.Step() != SQLITE_DONE) return Failed(*db_, "writing rollups");
  }
  return core::Status();
}

core::Result<int64_t> SeriesStore::WriteBlock(int64_t series, int64_t row, int64_t first,
                                              int64_t last, size_t count, const std::string& data) {
  if (row != 0) {
    ASSIGN_OR_RETURN(auto* raw, db_->Prepare("UPDATE blocks SET start_ms=?, end_ms=?, count=?, "
                                             "data=? WHERE id=?"));
    Stmt st(raw);
    st.Bind(1, first);
    st.Bind(2, last);
    st.Bind(3, static_cast<int64_t>(count));
    st.BindBlob(4, data);
    st.Bind(5, row);
    if (st.Step() != SQLITE_DONE) return core::Fail(Failed(*db_, "writing a block"));
    // A block row is only dropped once memory has let go of it (WriteSlice): one missing here
    // would lose readings.
    if (sqlite3_changes(db_->handle()) != 1) {
      return core::Fail(
          core::Status(core::Code::kInternal, "block row " + std::to_string(row) + " is missing"));
    }
    return row;
  }
  ASSIGN_OR_RETURN(auto* raw, db_->Prepare("INSERT INTO blocks(series, start_ms, end_ms, count, "
                                           "data) VALUES(?, ?, ?, ?, ?)"));
  Stmt st(raw);
  st.Bind(1, series);
  st.Bind(2, first);
  st.Bind(3, last);
  st.Bind(4, static_cast<int64_t>(count));
  st.BindBlob(5, data);
  if (st.Step() != SQLITE_DONE) return core::Fail(Failed(*db_, "writing a block"));
  return sqlite3_last_insert_rowid(db_->handle());
}

core::Status SeriesStore::WriteSlice(const Slice& slice, int64_t now) {
  // The commit thread is the only writer of the in-memory series, so it may read them without
  // the lock; it takes the lock only to change them, after the commit.
  //
  // Blocks that end before the cutoff are dropped at the cycle's end: their rollups are on disk,
  // since every block on disk was written together with its readings' rollups (or got them at
  // open, InitRollups). The cutoff is fixed for the cycle, so that an open block this cycle has
  // visited (and not let go of) never ends before it: its row is still there to rewrite.
  const int64_t raw_cutoff = slice.full ? RawCutoff(now) : cycle_cutoff_ms_;
  struct After {
    Series* series;
    bool written;
    size_t full_written;
    size_t late_written;
    int64_t open_row;
    size_t open_disk_bytes;
    bool open_expired;  // its row goes at the cycle's end: start a new block
  };
  std::vector<After> after;
  uint64_t added_bytes = 0;
  ASSIGN_OR_RETURN(auto* saved_raw,
                   db_->Prepare("UPDATE series SET saved_pending=?, version=version+1 WHERE id=?"));
  for (size_t i = slice.begin; i < slice.end; ++i) {
    Series& s = *order_[i];
    const bool open_expired = s.open.count() > 0 && s.open.last_time() < raw_cutoff;
    if (!s.dirty && !open_expired) continue;
    After a{&s, s.dirty, s.full.size(), s.late.size(), s.open_row, s.open_disk_bytes, open_expired};
    if (!s.dirty) {
      after.push_back(a);
      continue;
    }
    for (const auto& f : s.full) {
      ASSIGN_OR_RETURN(const int64_t row,
                       WriteBlock(s.id, f.row, f.first, f.last, f.count, f.data));
      (void)row;
      added_bytes += f.data.size() - f.disk_bytes;
    }
    if (!s.late.empty()) {
      auto late = s.late;
      std::stable_sort(late.begin(), late.end(),
                       [](const Sample& x, const Sample& y) { return x.time_ms < y.time_ms; });
      BlockEncoder enc(1);
      for (const auto& p : late) {
        if (enc.count() == 0 || p.time_ms != enc.last_time()) enc.Append(p);
      }
      const auto data = enc.Finish();
      ASSIGN_OR_RETURN(const int64_t row,
                       WriteBlock(s.id, 0, enc.first_time(), enc.last_time(), enc.count(), data));
      (void)row;
      added_bytes += data.size();
    }
    if (s.open.count() > 0) {
      const auto data = s.open.Finish();
      ASSIGN_OR_RETURN(a.open_row, WriteBlock(s.id, s.open_row, s.open.first_time(),
                                              s.open.last_time(), s.open.count(), data));
      added_bytes += data.size() - s.open_disk_bytes;
      a.open_disk_bytes = data.size();
    }
    // The same transaction as the blocks: a reading is in the rollups exactly when it is in a
    // block on disk.
    RETURN_IF_ERROR(WriteRollups(s.id, s.unsaved_rollups));
    Stmt st(saved_raw);
    st.Bind(1, applied_pending_id_);
    st.Bind(2, s.id);
    if (st.Step() != SQLITE_DONE) return Failed(*db_, "writing a series' checkpoint");
    after.push_back(a);
  }
  uint64_t dropped_readings = 0, dropped_bytes = 0;
  int64_t raw_complete_from = raw_complete_from_;
  if (slice.cycle_end) {
    {
      // Every series has been visited since the cycle began: its blocks cover the pending rows
      // applied by then (a full slice: all of them, as it visits every series now).
      ASSIGN_OR_RETURN(auto* del, db_->Prepare("DELETE FROM pending WHERE id <= ?"));
      Stmt st(del);
      st.Bind(1, slice.full ? applied_pending_id_ : cycle_watermark_);
      if (st.Step() != SQLITE_DONE) return Failed(*db_, "clearing pending readings");
    }
    if (options_.retention_ms > 0) {
      // At most kMaxDroppedBlocks a cycle, the earliest first, so that a retention newly set on
      // a large store does not hold up ingest; the rest go in the next cycles.
      constexpr int64_t kMaxDroppedBlocks = 20'000;
      ASSIGN_OR_RETURN(auto* del, db_->Prepare("DELETE FROM blocks WHERE id IN (SELECT id FROM "
                                               "blocks WHERE end_ms < ? ORDER BY end_ms LIMIT ?) "
                                               "RETURNING count, length(data), end_ms"));
      Stmt st(del);
      st.Bind(1, raw_cutoff);
      st.Bind(2, kMaxDroppedBlocks);
      int rc;
      int64_t dropped_blocks = 0, last_end = INT64_MIN;
      while ((rc = st.Step()) == SQLITE_ROW) {
        dropped_readings += static_cast<uint64_t>(st.Int(0));
        dropped_bytes += static_cast<uint64_t>(st.Int(1));
        last_end = std::max(last_end, st.Int(2));
        ++dropped_blocks;
      }
      if (rc != SQLITE_DONE) return Failed(*db_, "dropping expired blocks");
      // Every reading at or after the cutoff is in a block that ends at or after it: still
      // there. When blocks were left, every reading after the last end dropped is (no block
      // still there ends before it).
      const int64_t complete_from = dropped_blocks < kMaxDroppedBlocks ? raw_cutoff : last_end + 1;
      raw_complete_from = std::max(raw_complete_from, complete_from);
      RETURN_IF_ERROR(SetMetaValue(*db_, kRawCompleteFromKey, raw_complete_from));
    }
    if (options_.rollup_retention_ms > 0) {
      // Intervals that ended before now - rollup retention; after the rollups written above, so
      // that a late reading's rollup for such an interval goes too.
      ASSIGN_OR_RETURN(auto* del, db_->Prepare("DELETE FROM rollups WHERE start_ms <= ?"));
      Stmt st(del);
      st.Bind(1, now - options_.rollup_retention_ms - options_.rollup_interval_ms);
      if (st.Step() != SQLITE_DONE) return Failed(*db_, "dropping expired rollups");
    }
    RETURN_IF_ERROR(SetMetaValue(*db_, kCheckpointsKey, checkpoints_ + 1));
  }
  // Applied once the transaction commits (CommitBatch runs right after this; a failure rolls
  // back and leaves memory as it was, with the pending rows still there).
  checkpoint_after_ = [this, after = std::move(after), added_bytes, dropped_readings, dropped_bytes,
                       raw_complete_from, saved = applied_pending_id_,
                       cycle_end = slice.cycle_end] {
    std::lock_guard lock(mu_);
    for (const auto& a : after) {
      Series& s = *a.series;
      if (a.written) {
        s.full.erase(s.full.begin(), s.full.begin() + static_cast<ptrdiff_t>(a.full_written));
        s.late.erase(s.late.begin(), s.late.begin() + static_cast<ptrdiff_t>(a.late_written));
        s.open_row = a.open_row;
        s.open_disk_bytes = a.open_disk_bytes;
        s.unsaved_rollups.clear();  // nothing is applied between the checkpoint and this
        s.dirty = false;
        s.saved_pending = saved;
        ++s.version;
      }
      if (a.open_expired) {
        s.open = BlockEncoder(1);
        s.open_row = 0;
        s.open_disk_bytes = 0;
      }
    }
    block_bytes_ += added_bytes;
    block_bytes_ -= std::min(block_bytes_, dropped_bytes);
    readings_ -= std::min(readings_, dropped_readings);
    raw_complete_from_ = raw_complete_from;
    if (cycle_end) ++checkpoints_;
  };
  return core::Status();
}

core::Status SeriesStore::Checkpoint() {
  std::promise<core::Status> promise;
  auto future = promise.get_future();
  // An empty append forces a commit; it checkpoints when due, so make it due.
  {
    std::lock_guard lock(queue_mu_);
    force_checkpoint_ = true;
  }
  Append({}, [&promise](core::Status s, AppendResult) { promise.set_value(std::move(s)); });
  return future.get();
}

core::Result<SeriesStore::Snapshot> SeriesStore::TakeSnapshot(const std::string& patient,
                                                              monitor::Vital vital, int64_t from_ms,
                                                              int64_t to_ms, int64_t interval_ms,
                                                              size_t limit) const {
  const bool rollups = interval_ms > 0;
  // Rollups in memory and on disk must be of the same checkpoint (one that committed between
  // the two reads would count its readings twice); it is rare, so just read again.
  for (int attempt = 0; attempt < 8; ++attempt) {
    Snapshot snap;
    int64_t id = 0, checkpoints = 0, version = -1;
    // Per interval of the read, the summed rollups before raw_from; never more than `limit`
    // intervals: those from `cap` on are left out.
    int64_t cap = INT64_MAX;
    auto add_rollup = [&](int64_t start, const RollupSum& sum) {
      const int64_t key = IntervalStart(start, interval_ms);
      if (key >= cap || sum.count == 0) return key < cap;
      snap.rollups[key].Merge(sum);
      if (snap.rollups.size() > limit) {
        cap = std::prev(snap.rollups.end())->first;
        snap.rollups.erase(cap);
      }
      return true;
    };
    // Memory first, then disk: a checkpoint clears memory only after its commit, so a block is
    // always in one of the two by the time it is looked for.
    {
      std::lock_guard lock(mu_);
      checkpoints = checkpoints_;
      snap.raw_from = from_ms;
      if (rollups && raw_complete_from_ > from_ms) {
        // Raw readings from the first interval that starts at or after the time they are
        // complete from.
        const int64_t w = raw_complete_from_;
        const int64_t start = IntervalStart(w, interval_ms);
        snap.raw_from = std::min(
            to_ms, start == w || start > INT64_MAX - interval_ms ? start : start + interval_ms);
      }
      if (auto it = series_.find(Key(patient, vital)); it != series_.end()) {
        const Series& s = *it->second;
        id = s.id;
        version = s.version;
        const int64_t from = snap.raw_from;
        if (s.open.count() > 0 && s.open.last_time() >= from && s.open.first_time() < to_ms) {
          snap.blocks.push_back(s.open.Finish());
        }
        for (const auto& f : s.full) {
          if (f.last >= from && f.first < to_ms) snap.blocks.push_back(f.data);
        }
        for (const auto& p : s.late) {
          if (p.time_ms >= from && p.time_ms < to_ms) snap.late.push_back(p);
        }
        if (rollups) {
          for (auto r = s.unsaved_rollups.lower_bound(from_ms);
               r != s.unsaved_rollups.end() && r->first < snap.raw_from; ++r) {
            add_rollup(r->first, r->second);
          }
        }
      }
    }
    std::lock_guard lock(read_mu_);
    std::optional<ReadTransaction> transaction;
    if (rollups) {
      transaction.emplace(*reader_);
      RETURN_IF_ERROR(transaction->status());
      ASSIGN_OR_RETURN(const auto on_disk, MetaValue(*reader_, kCheckpointsKey));
      if (on_disk.value_or(0) != checkpoints) continue;
    }
    if (id == 0 || rollups) {
      ASSIGN_OR_RETURN(auto* raw, reader_->Prepare("SELECT id, version FROM series "
                                                   "WHERE patient=? AND vital=?"));
      Stmt st(raw);
      st.Bind(1, patient);
      st.Bind(2, static_cast<int64_t>(vital));
      if (st.Step() != SQLITE_ROW) return snap;
      id = st.Int(0);
      // A checkpoint of this series committed since memory was read: its rollups would count
      // twice.
      if (rollups && version >= 0 && st.Int(1) != version) continue;
    }
    if (snap.raw_from < to_ms) {
      ASSIGN_OR_RETURN(auto* raw,
                       reader_->Prepare("SELECT data FROM blocks WHERE series=? AND end_ms>=? AND "
                                        "start_ms<? ORDER BY start_ms"));
      Stmt st(raw);
      st.Bind(1, id);
      st.Bind(2, snap.raw_from);
      st.Bind(3, to_ms);
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) snap.blocks.push_back(st.Text(0));
      if (rc != SQLITE_DONE) return core::Fail(Failed(*reader_, "reading blocks"));
    }
    if (rollups && from_ms < snap.raw_from) {
      ASSIGN_OR_RETURN(
          auto* raw, reader_->Prepare("SELECT start_ms, min_value, max_value, sum_value, count "
                                      "FROM rollups WHERE series=? AND start_ms>=? AND start_ms<? "
                                      "ORDER BY start_ms"));
      Stmt st(raw);
      st.Bind(1, id);
      st.Bind(2, from_ms);
      st.Bind(3, snap.raw_from);
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) {
        RollupSum sum;
        sum.min = sqlite3_column_double(st.get(), 1);
        sum.max = sqlite3_column_double(st.get(), 2);
        sum.sum = sqlite3_column_double(st.get(), 3);
        sum.count = static_cast<uint64_t>(st.Int(4));
        if (!add_rollup(st.Int(0), sum)) break;  // rows come in time order
      }
      if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        return core::Fail(Failed(*reader_, "reading rollups"));
      }
    }
    return snap;
  }
  return core::Fail(
      core::Status(core::Code::kUnavailable, "the telemetry store is busy checkpointing: retry"));
}

core::Result<std::vector<Point>> SeriesStore::Read(const std::string& patient, monitor::Vital vital,
                                                   int64_t from_ms, int64_t to_ms,
                                                   size_t limit) const {
  std::vector<Point> points;
  if (limit == 0 || from_ms >= to_ms) return points;
  ASSIGN_OR_RETURN(auto snap, TakeSnapshot(patient, vital, from_ms, to_ms, 0, 0));
  RETURN_IF_ERROR(
      MergeSeries(snap.blocks, std::move(snap.late), from_ms, to_ms, false, [&](Sample& s) {
        points.push_back({s.time_ms, s.value, s.quality});
        return points.size() < limit;
      }));
  return points;
}

core::Result<std::vector<RrReading>> SeriesStore::ReadRr(const std::string& patient,
                                                         monitor::Vital vital, int64_t from_ms,
                                                         int64_t to_ms, size_t limit) const {
  std::vector<RrReading> out;
  limit = std::min(limit, kMaxRrReadingsPerRead);
  if (limit == 0 || from_ms >= to_ms) return out;
  ASSIGN_OR_RETURN(auto snap, TakeSnapshot(patient, vital, from_ms, to_ms, 0, 0));
  RETURN_IF_ERROR(
      MergeSeries(snap.blocks, std::move(snap.late), from_ms, to_ms, true, [&](Sample& s) {
        if (!s.rr_ms.empty()) out.push_back({s.time_ms, std::move(s.rr_ms)});
        return out.size() < limit;
      }));
  return out;
}

core::Result<std::vector<Rollup>> SeriesStore::ReadRollups(const std::string& patient,
                                                           monitor::Vital vital, int64_t from_ms,
                                                           int64_t to_ms, int64_t interval_ms,
                                                           size_t limit) const {
  if (interval_ms <= 0) {
    return core::Fail(core::InvalidArgument("a rollup interval must be a positive number of ms"));
  }
  std::vector<Rollup> out;
  limit = std::min(limit, kMaxRollupsPerRead);
  // Whole intervals: from the start of from_ms's to the end of (to_ms - 1)'s.
  from_ms = std::max(from_ms, INT64_MIN + interval_ms);
  if (limit == 0 || from_ms >= to_ms) return out;
  const int64_t from = IntervalStart(from_ms, interval_ms);
  const int64_t last = IntervalStart(to_ms - 1, interval_ms);
  const int64_t to = last > INT64_MAX - interval_ms ? INT64_MAX : last + interval_ms;
  ASSIGN_OR_RETURN(auto snap, TakeSnapshot(patient, vital, from, to, interval_ms, limit));
  if (snap.raw_from > from && interval_ms % options_.rollup_interval_ms != 0) {
    return core::Fail(core::InvalidArgument(
        "rollups of " + std::to_string(interval_ms) + " ms before " +
        std::to_string(snap.raw_from) +
        " ms, where raw readings have expired, come from the stored rollups: the interval must "
        "be a multiple of theirs (" +
        std::to_string(options_.rollup_interval_ms) + " ms)"));
  }
  for (const auto& [start, sum] : snap.rollups) out.push_back(sum.ToRollup(start));
  std::map<int64_t, RollupSum> raw;
  const size_t room = limit - std::min(limit, out.size());
  if (room > 0) {
    RETURN_IF_ERROR(
        MergeSeries(snap.blocks, std::move(snap.late), snap.raw_from, to, false, [&](Sample& s) {
          if (!std::isfinite(s.value)) return true;
          const int64_t key = IntervalStart(s.time_ms, interval_ms);
          // Samples come in time order: a new key is the latest.
          if (!raw.count(key) && raw.size() == room) return false;
          raw[key].Add(s.value);
          return true;
        }));
  }
  for (const auto& [start, sum] : raw) out.push_back(sum.ToRollup(start));
  return out;
}

std::vector<monitor::Vital> SeriesStore::VitalsOf(const std::string& patient) const {
  std::vector<monitor::Vital> out;
  std::lock_guard lock(read_mu_);
  auto raw = reader_->Prepare("SELECT vital FROM series WHERE patient=? ORDER BY vital");
  if (!raw) return out;
  Stmt st(*raw);
  st.Bind(1, patient);
  while (st.Step() == SQLITE_ROW) {
    const auto v = st.Int(0);
    if (v >= 0 && v < monitor::kVitalCount) out.push_back(static_cast<monitor::Vital>(v));
  }
  return out;
}

core::Result<std::vector<std::string>> SeriesStore::Patients() const {
  std::vector<std::string> out;
  std::lock_guard lock(read_mu_);
  ASSIGN_OR_RETURN(auto* raw, reader_->Prepare("SELECT DISTINCT patient FROM series "
                                               "ORDER BY patient"));
  Stmt st(raw);
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) out.push_back(st.Text(0));
  if (rc != SQLITE_DONE) return core::Fail(Failed(*reader_, "listing the patients"));
  return out;
}

SeriesStoreStats SeriesStore::Stats() const {
  SeriesStoreStats s;
  {
    std::lock_guard lock(mu_);
    s.readings = readings_;
    s.block_bytes = block_bytes_;
    s.series = series_.size();
  }
  {
    std::lock_guard lock(queue_mu_);
    s.queued = queued_readings_;
  }
  return s;
}

}  // namespace medulla::telemetry
