#include "telemetry/series_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>

#include "core/time.h"
#include "store/sqlite/sqlite_db.h"

namespace medulla::telemetry {
namespace {

using store::sqlite::Db;
using store::sqlite::Stmt;

int64_t NowMs() {
  return core::SystemClock::Instance().Now() / 1000;
}

std::string Key(std::string_view patient, monitor::Vital vital) {
  std::string k(patient);
  k.push_back('\0');
  k.push_back(static_cast<char>(vital));
  return k;
}

// Pending rows: per reading, vital (1 byte), patient length (1), patient, time (8), value (8).
void EncodePending(const std::vector<StoredReading>& batch, std::string& out) {
  for (const auto& r : batch) {
    out.push_back(static_cast<char>(r.vital));
    out.push_back(static_cast<char>(r.patient.size()));
    out += r.patient;
    char buf[16];
    std::memcpy(buf, &r.time_ms, 8);
    std::memcpy(buf + 8, &r.value, 8);
    out.append(buf, 16);
  }
}

bool DecodePending(std::string_view in, std::vector<StoredReading>& out) {
  while (!in.empty()) {
    if (in.size() < 2) return false;
    StoredReading r;
    const auto vital = static_cast<uint8_t>(in[0]);
    const auto len = static_cast<uint8_t>(in[1]);
    if (vital >= monitor::kVitalCount || in.size() < 2u + len + 16u) return false;
    r.vital = static_cast<monitor::Vital>(vital);
    r.patient.assign(in.substr(2, len));
    std::memcpy(&r.time_ms, in.data() + 2 + len, 8);
    std::memcpy(&r.value, in.data() + 10 + len, 8);
    out.push_back(std::move(r));
    in.remove_prefix(18u + len);
  }
  return true;
}

core::Status Failed(const Db& db, std::string_view what) {
  return db.Error(what);
}

}  // namespace

struct SeriesStore::Series {
  int64_t id = 0;
  GorillaEncoder open{1};
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
  std::vector<Point> late;
  bool dirty = false;
};

struct SeriesStore::Queued {
  std::vector<StoredReading> readings;
  AppendCallback done;
};

SeriesStore::SeriesStore(SeriesStoreOptions options) : options_(std::move(options)) {}

core::Result<std::unique_ptr<SeriesStore>> SeriesStore::Open(const SeriesStoreOptions& options) {
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
                "CREATE TABLE IF NOT EXISTS pending(id INTEGER PRIMARY KEY, data BLOB NOT NULL);"));
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
  // Replay what was acknowledged but not yet checkpointed.
  ASSIGN_OR_RETURN(auto* raw, db_->Prepare("SELECT id, data FROM pending ORDER BY id"));
  Stmt st(raw);
  int rc;
  while ((rc = st.Step()) == SQLITE_ROW) {
    std::vector<StoredReading> readings;
    if (!DecodePending(st.Text(1), readings)) {
      return core::Status(core::Code::kInternal, options_.path + ": pending row " +
                                                     std::to_string(st.Int(0)) + " is damaged");
    }
    for (const auto& r : readings) {
      auto& series = series_[Key(r.patient, r.vital)];
      if (!series) {
        ASSIGN_OR_RETURN(const int64_t id, SeriesId(r.patient, r.vital));
        series = std::make_unique<Series>();
        series->id = id;
      }
    }
    ApplyLocked(readings);
    applied_pending_id_ = st.Int(0);
    ++pending_rows_;
  }
  if (rc != SQLITE_DONE) return Failed(*db_, "replaying pending readings");
  last_checkpoint_ms_ = NowMs();
  return core::Status();
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
  for (;;) {
    std::vector<Queued> batch;
    bool stopping, forced;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait_for(lock, std::chrono::milliseconds(options_.checkpoint_interval_ms),
                         [this] { return !queue_.empty() || stopping_; });
      while (!queue_.empty()) {
        queued_readings_ -= queue_.front().readings.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stopping = stopping_;
      forced = force_checkpoint_;
      force_checkpoint_ = false;
    }
    const bool due = forced || NowMs() - last_checkpoint_ms_ >= options_.checkpoint_interval_ms ||
                     pending_rows_ >= options_.checkpoint_pending_rows;
    if (!batch.empty() || due || stopping) {
      const auto status = CommitBatch(batch, due || stopping);
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

core::Result<int64_t> SeriesStore::SeriesId(const std::string& patient, monitor::Vital vital) {
  ASSIGN_OR_RETURN(auto* ins, db_->Prepare("INSERT INTO series(patient, vital) VALUES(?, ?) "
                                           "ON CONFLICT(patient, vital) DO UPDATE SET vital=vital "
                                           "RETURNING id"));
  Stmt st(ins);
  st.Bind(1, patient);
  st.Bind(2, static_cast<int64_t>(vital));
  if (st.Step() != SQLITE_ROW) return core::Fail(Failed(*db_, "adding a series"));
  return st.Int(0);
}

core::Status SeriesStore::CommitBatch(std::vector<Queued>& batch, bool checkpoint) {
  RETURN_IF_ERROR(db_->Run("BEGIN IMMEDIATE"));
  auto rollback = [this](core::Status s) {
    (void)db_->Run("ROLLBACK");
    checkpoint_after_ = nullptr;
    return s;
  };
  if (checkpoint) {
    if (auto s = WriteCheckpoint(); !s.ok()) return rollback(std::move(s));
  }
  // Series seen for the first time get their row in the same transaction as their readings.
  std::unordered_map<std::string, int64_t> new_series;
  std::string blob;
  int64_t last_pending = applied_pending_id_;
  for (auto& q : batch) {
    for (const auto& r : q.readings) {
      auto key = Key(r.patient, r.vital);
      if (series_.count(key) || new_series.count(key)) continue;
      auto id = SeriesId(r.patient, r.vital);
      if (!id) return rollback(id.error());
      new_series.emplace(std::move(key), *id);
    }
    blob.clear();
    EncodePending(q.readings, blob);
    auto ins = db_->Prepare("INSERT INTO pending(data) VALUES(?)");
    if (!ins) return rollback(ins.error());
    Stmt st(*ins);
    st.BindBlob(1, blob);
    if (st.Step() != SQLITE_DONE) return rollback(Failed(*db_, "queuing readings"));
    last_pending = sqlite3_last_insert_rowid(db_->handle());
  }
  if (auto s = db_->Run("COMMIT"); !s.ok()) return rollback(std::move(s));
  if (checkpoint) {
    if (checkpoint_after_) checkpoint_after_();
    checkpoint_after_ = nullptr;
    last_checkpoint_ms_ = NowMs();
    pending_rows_ = 0;
  }
  pending_rows_ += batch.size();

  std::vector<AppendResult> results;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, id] : new_series) {
      auto s = std::make_unique<Series>();
      s->id = id;
      series_.emplace(key, std::move(s));
    }
    for (const auto& q : batch) results.push_back(ApplyLocked(q.readings));
    applied_pending_id_ = last_pending;
  }
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(core::Status(), results[i]);
  batch.clear();
  return core::Status();
}

bool SeriesStore::StoredAtLocked(const Series& s, int64_t time_ms) {
  auto in_block = [time_ms](std::string_view block) {
    auto dec = GorillaDecoder::Open(block);
    if (!dec) return false;
    int64_t t;
    double v;
    while (dec->Next(t, v) && t <= time_ms) {
      if (t == time_ms) return true;
    }
    return false;
  };
  for (const auto& p : s.late) {
    if (p.time_ms == time_ms) return true;
  }
  if (s.open.count() > 0 && time_ms >= s.open.first_time()) {
    const std::string block = s.open.Finish();
    return in_block(block);
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

AppendResult SeriesStore::ApplyLocked(const std::vector<StoredReading>& readings) {
  AppendResult result;
  for (const auto& r : readings) {
    Series& s = *series_.at(Key(r.patient, r.vital));
    bool duplicate = false;
    // An empty open block (a new series, a block just closed, a restart) knows nothing of what
    // came before it: the first reading is checked against the closed blocks.
    if (s.open.count() == 0 && StoredAtLocked(s, r.time_ms)) {
      duplicate = true;
    } else if (s.open.count() == 0 || r.time_ms > s.open.last_time()) {
      if (s.open.count() >= options_.block_points) {
        s.full.push_back({s.open_row, s.open_disk_bytes, s.open.Finish(), s.open.count(),
                          s.open.first_time(), s.open.last_time()});
        s.open = GorillaEncoder(1);
        s.open_row = 0;
        s.open_disk_bytes = 0;
      }
      s.open.Append(r.time_ms, r.value);
    } else if (r.time_ms == s.open.last_time()) {
      duplicate = true;
    } else {
      // Out of order: a duplicate if the open block or the late buffer has this time already.
      duplicate = StoredAtLocked(s, r.time_ms);
      if (!duplicate) s.late.push_back({r.time_ms, r.value});
    }
    if (duplicate) {
      ++result.duplicates;
      continue;
    }
    s.dirty = true;
    ++result.stored;
    ++readings_;
  }
  return result;
}

core::Status SeriesStore::WriteCheckpoint() {
  // The commit thread is the only writer of the in-memory series, so it may read them without
  // the lock; it takes the lock only to change them, after the commit.
  ASSIGN_OR_RETURN(auto* ins_raw,
                   db_->Prepare("INSERT INTO blocks(series, start_ms, end_ms, count, data) "
                                "VALUES(?, ?, ?, ?, ?)"));
  ASSIGN_OR_RETURN(auto* upd_raw,
                   db_->Prepare("UPDATE blocks SET start_ms=?, end_ms=?, count=?, data=? "
                                "WHERE id=?"));
  auto write = [&](int64_t series, int64_t row, int64_t first, int64_t last, size_t count,
                   const std::string& data) -> core::Result<int64_t> {
    if (row != 0) {
      Stmt st(upd_raw);
      st.Bind(1, first);
      st.Bind(2, last);
      st.Bind(3, static_cast<int64_t>(count));
      st.BindBlob(4, data);
      st.Bind(5, row);
      if (st.Step() != SQLITE_DONE) return core::Fail(Failed(*db_, "writing a block"));
      return row;
    }
    Stmt st(ins_raw);
    st.Bind(1, series);
    st.Bind(2, first);
    st.Bind(3, last);
    st.Bind(4, static_cast<int64_t>(count));
    st.BindBlob(5, data);
    if (st.Step() != SQLITE_DONE) return core::Fail(Failed(*db_, "writing a block"));
    return sqlite3_last_insert_rowid(db_->handle());
  };
  struct After {
    Series* series;
    size_t full_written;
    size_t late_written;
    int64_t open_row;
    size_t open_disk_bytes;
  };
  std::vector<After> after;
  uint64_t added_bytes = 0;
  for (auto& [key, sp] : series_) {
    Series& s = *sp;
    if (!s.dirty) continue;
    After a{&s, s.full.size(), s.late.size(), s.open_row, s.open_disk_bytes};
    for (const auto& f : s.full) {
      ASSIGN_OR_RETURN(const int64_t row, write(s.id, f.row, f.first, f.last, f.count, f.data));
      (void)row;
      added_bytes += f.data.size() - f.disk_bytes;
    }
    if (!s.late.empty()) {
      auto late = s.late;
      std::stable_sort(late.begin(), late.end(),
                       [](const Point& x, const Point& y) { return x.time_ms < y.time_ms; });
      GorillaEncoder enc(1);
      for (const auto& p : late) {
        if (enc.count() == 0 || p.time_ms != enc.last_time()) enc.Append(p.time_ms, p.value);
      }
      const auto data = enc.Finish();
      ASSIGN_OR_RETURN(const int64_t row,
                       write(s.id, 0, enc.first_time(), enc.last_time(), enc.count(), data));
      (void)row;
      added_bytes += data.size();
    }
    if (s.open.count() > 0) {
      const auto data = s.open.Finish();
      ASSIGN_OR_RETURN(a.open_row, write(s.id, s.open_row, s.open.first_time(), s.open.last_time(),
                                         s.open.count(), data));
      added_bytes += data.size() - s.open_disk_bytes;
      a.open_disk_bytes = data.size();
    }
    after.push_back(a);
  }
  {
    ASSIGN_OR_RETURN(auto* del, db_->Prepare("DELETE FROM pending WHERE id <= ?"));
    Stmt st(del);
    st.Bind(1, applied_pending_id_);
    if (st.Step() != SQLITE_DONE) return Failed(*db_, "clearing pending readings");
  }
  if (options_.retention_ms > 0) {
    ASSIGN_OR_RETURN(auto* del, db_->Prepare("DELETE FROM blocks WHERE end_ms < ?"));
    Stmt st(del);
    st.Bind(1, NowMs() - options_.retention_ms);
    if (st.Step() != SQLITE_DONE) return Failed(*db_, "dropping expired blocks");
  }
  // Applied once the transaction commits (CommitBatch runs right after this; a failure rolls
  // back and leaves memory as it was, with the pending rows still there).
  checkpoint_after_ = [this, after = std::move(after), added_bytes] {
    std::lock_guard lock(mu_);
    for (const auto& a : after) {
      a.series->full.erase(a.series->full.begin(),
                           a.series->full.begin() + static_cast<ptrdiff_t>(a.full_written));
      a.series->late.erase(a.series->late.begin(),
                           a.series->late.begin() + static_cast<ptrdiff_t>(a.late_written));
      a.series->open_row = a.open_row;
      a.series->open_disk_bytes = a.open_disk_bytes;
      a.series->dirty = false;
    }
    block_bytes_ += added_bytes;
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

core::Result<std::vector<Point>> SeriesStore::Read(const std::string& patient, monitor::Vital vital,
                                                   int64_t from_ms, int64_t to_ms,
                                                   size_t limit) const {
  std::vector<std::string> blocks;
  std::vector<Point> points, late;
  int64_t id = 0;
  // Memory first, then disk: a checkpoint clears memory only after its commit, so a block is
  // always in one of the two by the time it is looked for.
  {
    std::lock_guard lock(mu_);
    if (auto it = series_.find(Key(patient, vital)); it != series_.end()) {
      const Series& s = *it->second;
      id = s.id;
      if (s.open.count() > 0 && s.open.last_time() >= from_ms && s.open.first_time() < to_ms) {
        blocks.push_back(s.open.Finish());
      }
      for (const auto& f : s.full) {
        if (f.last >= from_ms && f.first < to_ms) blocks.push_back(f.data);
      }
      for (const auto& p : s.late) {
        if (p.time_ms >= from_ms && p.time_ms < to_ms) late.push_back(p);
      }
    }
  }
  {
    std::lock_guard lock(read_mu_);
    if (id == 0) {
      ASSIGN_OR_RETURN(auto* raw,
                       reader_->Prepare("SELECT id FROM series WHERE patient=? AND vital=?"));
      Stmt st(raw);
      st.Bind(1, patient);
      st.Bind(2, static_cast<int64_t>(vital));
      if (st.Step() != SQLITE_ROW) return late;
      id = st.Int(0);
    }
    ASSIGN_OR_RETURN(auto* raw,
                     reader_->Prepare("SELECT data FROM blocks WHERE series=? AND end_ms>=? AND "
                                      "start_ms<? ORDER BY start_ms"));
    Stmt st(raw);
    st.Bind(1, id);
    st.Bind(2, from_ms);
    st.Bind(3, to_ms);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) blocks.push_back(st.Text(0));
    if (rc != SQLITE_DONE) return core::Fail(Failed(*reader_, "reading blocks"));
  }
  for (const auto& b : blocks) {
    auto dec = GorillaDecoder::Open(b);
    if (!dec) return core::Fail(dec.error());
    int64_t t;
    double v;
    while (dec->Next(t, v)) {
      if (t >= from_ms && t < to_ms) points.push_back({t, v});
    }
    if (dec->corrupt()) {
      return core::Fail(core::Status(core::Code::kInternal, "a telemetry block is damaged"));
    }
  }
  // Late points last, so that if a duplicate slipped in, the first write (in a block) wins.
  points.insert(points.end(), late.begin(), late.end());
  std::stable_sort(points.begin(), points.end(),
                   [](const Point& a, const Point& b) { return a.time_ms < b.time_ms; });
  points.erase(std::unique(points.begin(), points.end(),
                           [](const Point& a, const Point& b) { return a.time_ms == b.time_ms; }),
               points.end());
  if (points.size() > limit) points.resize(limit);
  return points;
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
