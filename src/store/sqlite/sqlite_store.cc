#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <unordered_map>

#include <fmt/format.h>

#include "core/logging.h"
#include "json/parse.h"
#include "json/write.h"
#include "store/sqlite/encrypted_vfs.h"
#include "store/sqlite/search_sql.h"

namespace medulla::store::sqlite {
namespace {

// 1: issue 2 (current keyed by type and id). 2: current has a row key (rk) for the search
// index; a version-1 database is migrated on open.
constexpr int kSchemaVersion = 2;

// The deferred search index: how many tail entries one transaction indexes when idle, and
// the tail length beyond which writers help index (so the tail, and memory, stay bounded).
constexpr size_t kIndexChunk = 2048;
constexpr size_t kMaxIndexTail = 200000;
// The tail keeps the rows the request threads extracted for its first entries only (a few KiB
// each); later entries are extracted again from their stored bodies when indexed.
constexpr size_t kMaxTailRows = 20000;
// How long writes must pause before the commit thread spends the time indexing.
constexpr std::chrono::milliseconds kIndexIdle{10};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS medulla_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Every version of every resource; seq is the commit sequence number (change-feed position).
CREATE TABLE IF NOT EXISTS versions(
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,  -- microseconds since the epoch, millisecond resolution
  op INTEGER NOT NULL,            -- 0 create, 1 update, 2 delete, 3 update that created
  body BLOB                       -- NULL for a delete
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_by_key ON versions(type, id, version);
CREATE INDEX IF NOT EXISTS versions_by_type ON versions(type, seq);
-- One row per commit: its timestamp and first sequence number. lastUpdated never goes
-- backwards with seq, so a _since instant maps to a seq range through this small table.
CREATE TABLE IF NOT EXISTS commit_log(
  last_updated INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(last_updated, seq)
) WITHOUT ROWID;
)sql";

// The current version of each resource, deleted or not. rk, the row key, is what the search
// index refers to (an integer: index rows stay small); it never changes for a (type, id).
constexpr const char* kCurrentSchema = R"sql(
CREATE TABLE IF NOT EXISTS current(
  rk INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  deleted INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS current_by_id ON current(type, id);
-- (type, rk): a type's resources in insertion order, the order of unsorted searches.
CREATE INDEX IF NOT EXISTS current_by_type ON current(type);
CREATE INDEX IF NOT EXISTS current_by_updated ON current(type, last_updated);
)sql";

// Version 1 kept current as a WITHOUT ROWID table keyed (type, id).
constexpr const char* kMigrateFrom1 = R"sql(
DROP INDEX IF EXISTS current_by_updated;
ALTER TABLE current RENAME TO current_v1;
)sql";

// A page stops growing past this many bytes of resources (the next link carries on), so one
// request cannot build a response of gigabytes out of large resources.
constexpr size_t kMaxPageBytes = 32 * 1024 * 1024;

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = core::Logger("store");
  return logger;
}

core::Status StepDone(Db& db, Stmt& stmt, std::string_view what) {
  int rc = stmt.Step();
  if (rc != SQLITE_DONE) return db.Error(what);
  return core::OkStatus();
}

core::Result<std::optional<std::string>> ReadMeta(Db& db, std::string_view key) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare("SELECT value FROM medulla_meta WHERE key = ?"));
  Stmt stmt(raw);
  stmt.Bind(1, key);
  int rc = stmt.Step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(stmt.Text(0));
  if (rc != SQLITE_DONE) return core::Fail(db.Error("read meta"));
  return std::optional<std::string>();
}

core::Status WriteMeta(Db& db, std::string_view key, std::string_view value) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare("INSERT INTO medulla_meta(key, value) VALUES(?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
  Stmt stmt(raw);
  stmt.Bind(1, key);
  stmt.Bind(2, value);
  return StepDone(db, stmt, "write meta");
}

// A statement's SQL and its bindings, built together.
struct SqlBuilder {
  std::string sql;
  std::vector<std::string> texts;  // bound in order for '?' of kind text
  struct Binding {
    bool is_text;
    size_t text_index;
    int64_t number;
  };
  std::vector<Binding> bindings;

  void Text(std::string value) {
    texts.push_back(std::move(value));
    bindings.push_back({true, texts.size() - 1, 0});
  }
  void Number(int64_t v) { bindings.push_back({false, 0, v}); }
  void BindAll(Stmt& stmt) const {
    for (size_t i = 0; i < bindings.size(); ++i) {
      const Binding& b = bindings[i];
      if (b.is_text) {
        stmt.Bind(static_cast<int>(i + 1), std::string_view(texts[b.text_index]));
      } else {
        stmt.Bind(static_cast<int>(i + 1), b.number);
      }
    }
  }
};

VersionRecord ReadVersionRow(Stmt& stmt, int first_col) {
  VersionRecord r;
  r.seq = stmt.Int(first_col);
  r.type = stmt.Text(first_col + 1);
  r.id = stmt.Text(first_col + 2);
  r.version = stmt.Int(first_col + 3);
  r.last_updated = stmt.Int(first_col + 4);
  r.operation = static_cast<Operation>(stmt.Int(first_col + 5));
  r.body = stmt.Text(first_col + 6);
  return r;
}

}  // namespace

// A read connection borrowed from the pool for one call.
class SqliteStore::ReaderLease {
 public:
  static core::Result<ReaderLease> Acquire(SqliteStore& store) {
    {
      std::lock_guard lock(store.readers_mu_);
      if (!store.idle_readers_.empty()) {
        ReaderLease lease(store, std::move(store.idle_readers_.back()));
        store.idle_readers_.pop_back();
        return lease;
      }
    }
    ASSIGN_OR_RETURN(auto db, store.OpenReader());
    return ReaderLease(store, std::move(db));
  }
  ReaderLease(ReaderLease&& other) noexcept : store_(other.store_), db_(std::move(other.db_)) {}
  ~ReaderLease() {
    if (!db_) return;
    std::lock_guard lock(store_.readers_mu_);
    store_.idle_readers_.push_back(std::move(db_));
  }
  Db& db() { return *db_; }

 private:
  ReaderLease(SqliteStore& store, std::unique_ptr<Db> db) : store_(store), db_(std::move(db)) {}
  SqliteStore& store_;
  std::unique_ptr<Db> db_;
};

SqliteStore::SqliteStore(SqliteStoreOptions options, core::MetricsRegistry& metrics,
                         const core::Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      registry_(options_.search_parameters ? *options_.search_parameters
                                           : fhir::SearchParameterRegistry::Embedded()),
      audit_(options_.audit_key,
             [this] {
               std::lock_guard lock(queue_mu_);
               queue_cv_.notify_one();
             }),
      checkpoints_(metrics.GetCounter("medulla_store_checkpoints_total",
                                      "WAL checkpoints run by the background checkpointer.")),
      cache_(options_.read_cache_bytes),
      cache_hits_(metrics.GetCounter("medulla_store_read_cache_total",
                                     "Point reads by cache result.", "result=\"hit\"")),
      cache_misses_(metrics.GetCounter("medulla_store_read_cache_total",
                                       "Point reads by cache result.", "result=\"miss\"")),
      commits_(metrics.GetCounter("medulla_store_commits_total",
                                  "Store transactions committed (each one fsync).")),
      units_committed_(metrics.GetCounter("medulla_store_units_committed_total",
                                          "Write units (requests, bundles) committed.")),
      versions_written_(
          metrics.GetCounter("medulla_store_versions_written_total", "Resource versions written.")),
      commit_failures_(metrics.GetCounter("medulla_store_commit_failures_total",
                                          "Transactions that failed to commit.")),
      queue_depth_(metrics.GetGauge("medulla_store_queue_depth",
                                    "Write units waiting for the commit thread.")),
      commit_seconds_(metrics.GetHistogram("medulla_store_commit_seconds",
                                           "Time to apply and durably commit one batch.",
                                           core::LatencyBuckets())),
      units_per_commit_(metrics.GetHistogram("medulla_store_units_per_commit",
                                             "Write units sharing one commit (group commit).",
                                             {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})) {}

core::Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteStoreOptions& options,
                                                             core::MetricsRegistry& metrics,
                                                             const core::Clock& clock) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return core::Fail(core::Unavailable(
        fmt::format("cannot create data directory {}: {}", options.data_dir, ec.message())));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(options, metrics, clock));
  std::string lock_path = options.data_dir + "/medulla.lock";
  store->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (store->lock_fd_ < 0) {
    return core::Fail(core::Unavailable(fmt::format("cannot open {}", lock_path)));
  }
  if (::flock(store->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return core::Fail(core::Unavailable(
        fmt::format("data directory {} is in use by another medulla process", options.data_dir)));
  }
  store->db_path_ = options.data_dir + "/medulla.db";
  ASSIGN_OR_RETURN(StoreEncryption encryption,
                   PrepareStoreEncryption(store->db_path_, options.encryption_key, options.vfs));
  store->vfs_ = std::move(encryption.vfs);
  if (encryption.key) store->audit_.EncryptWith(*encryption.key);
  RETURN_IF_ERROR(store->Initialize());
  ASSIGN_OR_RETURN(store->checkpointer_, Db::Open(store->db_path_, false, store->vfs_));
  RETURN_IF_ERROR(store->checkpointer_->Exec("PRAGMA synchronous=" + options.synchronous));
  store->commit_thread_ = std::thread([s = store.get()] { s->CommitLoop(); });
  store->checkpoint_thread_ = std::thread([s = store.get()] { s->CheckpointLoop(); });
  return store;
}

core::Status SqliteStore::Initialize() {
  ASSIGN_OR_RETURN(writer_, Db::Open(db_path_, false, vfs_));
  // Takes effect only when the database is created. Resources are a few KiB each: 16 KiB
  // pages hold several, so a commit writes (and the WAL appends) a quarter of the frames.
  RETURN_IF_ERROR(writer_->Exec(fmt::format("PRAGMA page_size={}", options_.page_size)));
  if (!options_.encryption_key.empty()) {
    // Room at the end of each page for its salt and tag (also only when created).
    int reserve = kEncryptedPageReserve;
    int rc = sqlite3_file_control(writer_->handle(), "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    if (rc != SQLITE_OK) return writer_->Error("reserve bytes for encryption");
  }
  RETURN_IF_ERROR(writer_->Exec("PRAGMA journal_mode=WAL"));
  // Savepoint sub-journals in memory: on disk they cost a file create and unlink per unit.
  RETURN_IF_ERROR(writer_->Exec("PRAGMA temp_store=MEMORY"));
  if (options_.synchronous != "full" && options_.synchronous != "normal") {
    return core::InvalidArgument("store.synchronous must be \"full\" or \"normal\"");
  }
  RETURN_IF_ERROR(writer_->Exec("PRAGMA synchronous=" + options_.synchronous));
  RETURN_IF_ERROR(writer_->Exec(fmt::format("PRAGMA cache_size=-{}", options_.cache_size_kib)));
  RETURN_IF_ERROR(writer_->Exec(fmt::format("PRAGMA mmap_size={}", options_.mmap_bytes)));
  // The commit thread never checkpoints; CheckpointLoop does, on its own connection.
  RETURN_IF_ERROR(writer_->Exec("PRAGMA wal_autocheckpoint=0"));
  // When the WAL starts over, trim the file back so a burst does not leave it huge.
  RETURN_IF_ERROR(
      writer_->Exec(fmt::format("PRAGMA journal_size_limit={}",
                                int64_t{options_.checkpoint_pages} * options_.page_size * 2)));
  // After each commit SQLite reports the WAL's length; past the threshold, wake the
  // checkpointer (this replaces SQLite's own auto-checkpoint, which would run here).
  sqlite3_wal_hook(
      writer_->handle(),
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<SqliteStore*>(self)->OnWalCommit(frames);
        return SQLITE_OK;
      },
      this);
  RETURN_IF_ERROR(writer_->Exec(kSchema));
  ASSIGN_OR_RETURN(std::optional<std::string> schema, ReadMeta(*writer_, "schema"));
  int found = kSchemaVersion;
  if (schema) {
    found = -1;
    std::from_chars(schema->data(), schema->data() + schema->size(), found);
  }
  if (found == 1) {
    Log()->info("migrating the database from schema version 1 to {}", kSchemaVersion);
    RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE"));
    core::Status migrated = writer_->Exec(kMigrateFrom1);
    if (migrated.ok()) migrated = writer_->Exec(kCurrentSchema);
    if (migrated.ok()) {
      migrated = writer_->Exec(
          "INSERT INTO current(type, id, version, seq, last_updated, deleted) "
          "SELECT type, id, version, seq, last_updated, deleted FROM current_v1 ORDER BY seq; "
          "DROP TABLE current_v1;");
    }
    if (migrated.ok()) {
      migrated = writer_->Exec(
          fmt::format("UPDATE medulla_meta SET value = '{}' WHERE key = 'schema'", kSchemaVersion));
    }
    if (migrated.ok()) migrated = writer_->Exec("COMMIT");
    if (!migrated.ok()) {
      (void)writer_->Exec("ROLLBACK");
      return migrated;
    }
  } else if (found != kSchemaVersion) {
    return core::Unavailable(fmt::format(
        "data directory has schema version {}, this medulla reads {}", found, kSchemaVersion));
  }
  RETURN_IF_ERROR(writer_->Exec(kCurrentSchema));
  RETURN_IF_ERROR(writer_->Exec(kSearchIndexSchema));
  RETURN_IF_ERROR(writer_->Exec(kAuditSchema));
  RETURN_IF_ERROR(audit_.Open(options_.data_dir, *writer_));
  writer_synchronous_full_ = options_.synchronous == "full";
  RETURN_IF_ERROR(writer_->Exec(fmt::format(
      "INSERT OR IGNORE INTO medulla_meta(key, value) VALUES('schema', '{}')", kSchemaVersion)));
  ASSIGN_OR_RETURN(ParamIds ids, ParamIds::Load(*writer_, registry_));
  param_ids_ = std::make_unique<ParamIds>(std::move(ids));
  ASSIGN_OR_RETURN(std::optional<std::string> indexed, ReadMeta(*writer_, "search_index"));
  std::string fingerprint = SearchIndexFingerprint(registry_);
  if (options_.rebuild_search_index || indexed != fingerprint) {
    RETURN_IF_ERROR(RebuildSearchIndex(fingerprint));
  }
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   writer_->Prepare("SELECT coalesce(max(seq), 0), coalesce(max(last_updated), 0) "
                                    "FROM versions"));
  Stmt stmt(raw);
  if (stmt.Step() != SQLITE_ROW) return writer_->Error("read last seq");
  next_seq_ = stmt.Int(0) + 1;
  last_seq_ = stmt.Int(0);
  last_timestamp_ = stmt.Int(1);
  std::error_code ec;
  if (std::filesystem::file_size(db_path_, ec) < 512 && !ec) {
    // A new database lives in the WAL until the first checkpoint. Write page 1 to the file now,
    // so that the file itself tells what it is (CheckStoreEncryption reads it at the next open).
    RETURN_IF_ERROR(writer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  }
  return CatchUpIndex();
}

core::Result<IndexRows> SqliteStore::IndexRowsOf(const std::string& type,
                                                 std::string_view body) const {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(body));
  return BuildIndexRows(type, fhir::ExtractIndexValues(registry_, *doc.root()), *param_ids_);
}

core::Status SqliteStore::IndexTail(size_t upto) {
  if (upto <= index_flushed_) return core::OkStatus();
  Db& db = *writer_;
  // A resource changed several times in the range is indexed once, at its last version.
  std::unordered_map<int64_t, size_t> last;       // rk -> its last task in the range
  std::unordered_map<int64_t, bool> first_fresh;  // rk -> its first task in the range created it
  for (size_t i = index_flushed_; i < upto; ++i) {
    last[index_tail_[i].rk] = i;
    first_fresh.try_emplace(index_tail_[i].rk, index_tail_[i].fresh);
  }
  for (size_t i = index_flushed_; i < upto; ++i) {
    IndexTask& t = index_tail_[i];
    if (last[t.rk] != i) continue;
    IndexRows before, after;
    if (!first_fresh[t.rk]) {
      // The rows in the index are those of the version current at the watermark.
      ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                       db.Prepare("SELECT op, body FROM versions WHERE type = ? AND id = ? AND "
                                  "seq <= ? ORDER BY version DESC LIMIT 1"));
      Stmt stmt(raw);
      stmt.Bind(1, std::string_view(t.type));
      stmt.Bind(2, std::string_view(t.id));
      stmt.Bind(3, indexed_pending_);
      int rc = stmt.Step();
      if (rc == SQLITE_ROW && static_cast<Operation>(stmt.Int(0)) != Operation::kDelete) {
        auto rows = IndexRowsOf(t.type, stmt.Text(1));
        if (rows) before = std::move(*rows);
      } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return db.Error("search index: read indexed version");
      }
    }
    if (!t.deleted) {
      if (t.rows) {
        after = std::move(*t.rows);
        t.rows.reset();
      } else {
        ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare("SELECT body FROM versions WHERE seq = ?"));
        Stmt stmt(raw);
        stmt.Bind(1, t.seq);
        if (stmt.Step() != SQLITE_ROW) return db.Error("search index: read version");
        auto rows = IndexRowsOf(t.type, stmt.Text(0));
        if (!rows) {
          Log()->warn("{}/{} cannot be indexed: {}", t.type, t.id, rows.error().message());
        } else {
          after = std::move(*rows);
        }
      }
    }
    RETURN_IF_ERROR(WriteIndexDiff(db, t.rk, before, after));
  }
  indexed_pending_ = index_tail_[upto - 1].seq;
  RETURN_IF_ERROR(WriteMeta(db, "indexed_seq", std::to_string(indexed_pending_)));
  index_flushed_ = upto;
  return core::OkStatus();
}

SearchContext SqliteStore::WriterSearch(Db& db) const {
  return SearchContext{db, *param_ids_, registry_, kMaxPageBytes, options_.search_timeout};
}

core::Status SqliteStore::ResolveReferences(const Write& w, WriteResult& result) {
  Db& db = *writer_;
  VersionRecord& rec = result.record;
  if (result.outcome != WriteOutcome::kCreated && result.outcome != WriteOutcome::kUpdated) {
    return core::OkStatus();  // nothing was written (an existing match, a delete)
  }
  // Everything the unit wrote so far is searchable first.
  RETURN_IF_ERROR(IndexTail(index_tail_.size()));
  std::string body = rec.body;
  for (const Write::ConditionalReference& ref : w.conditional_references) {
    ASSIGN_OR_RETURN(std::vector<VersionRecord> found, FindMatches(WriterSearch(db), ref.query, 2));
    if (found.size() != 1) {
      return core::PreconditionFailed(
          fmt::format("conditional reference '{}' matches {}; it must match exactly one resource",
                      ref.reference, found.empty() ? "nothing" : "more than one resource"));
    }
    // The reference as the stored JSON spells it, replaced wherever it is a reference.
    std::string from = "\"reference\":", to = "\"reference\":";
    json::WriteString(ref.reference, from);
    json::WriteString(found.front().type + "/" + found.front().id, to);
    for (size_t pos = 0; (pos = body.find(from, pos)) != std::string::npos; pos += to.size()) {
      body.replace(pos, from.size(), to);
    }
  }
  // The stored body and its index rows follow (the tail entry was indexed just above).
  auto task = std::find_if(index_tail_.rbegin(), index_tail_.rend(),
                           [&](const IndexTask& t) { return t.seq == rec.seq; });
  if (task == index_tail_.rend()) return core::Internal("conditional reference: no index task");
  ASSIGN_OR_RETURN(IndexRows before, IndexRowsOf(rec.type, rec.body));
  ASSIGN_OR_RETURN(IndexRows after, IndexRowsOf(rec.type, body));
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare("UPDATE versions SET body = ? WHERE seq = ?"));
  {
    Stmt stmt(raw);
    stmt.BindBlob(1, body);
    stmt.Bind(2, rec.seq);
    if (stmt.Step() != SQLITE_DONE) return db.Error("conditional reference: rewrite");
  }
  RETURN_IF_ERROR(WriteIndexDiff(db, task->rk, before, after));
  rec.body = std::move(body);
  return core::OkStatus();
}

core::Status SqliteStore::WaitForIndex(int64_t target) {
  std::unique_lock lock(queue_mu_);
  if (indexed_seq_.load(std::memory_order_acquire) >= target) return core::OkStatus();
  flush_target_ = std::max(flush_target_, target);
  queue_cv_.notify_one();
  bool caught_up = index_cv_.wait_for(lock, options_.index_wait, [&] {
    return indexed_seq_.load(std::memory_order_acquire) >= target || closing_;
  });
  if (caught_up && indexed_seq_.load(std::memory_order_acquire) >= target) {
    return core::OkStatus();
  }
  return core::Unavailable("the search index is still catching up with recent writes; retry");
}

core::Status SqliteStore::CatchUpIndex() {
  ASSIGN_OR_RETURN(std::optional<std::string> meta, ReadMeta(*writer_, "indexed_seq"));
  int64_t indexed = 0;
  if (meta) std::from_chars(meta->data(), meta->data() + meta->size(), indexed);
  indexed_pending_ = indexed;
  {
    ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        writer_->Prepare("SELECT v.seq, c.rk, v.type, v.id, v.version, v.op FROM versions v "
                         "JOIN current c ON c.type = v.type AND c.id = v.id "
                         "WHERE v.seq > ? ORDER BY v.seq"));
    Stmt stmt(raw);
    stmt.Bind(1, indexed);
    int rc;
    while ((rc = stmt.Step()) == SQLITE_ROW) {
      IndexTask t;
      t.seq = stmt.Int(0);
      t.rk = stmt.Int(1);
      t.type = stmt.Text(2);
      t.id = stmt.Text(3);
      t.fresh = stmt.Int(4) == 1;
      t.deleted = static_cast<Operation>(stmt.Int(5)) == Operation::kDelete;
      index_tail_.push_back(std::move(t));
    }
    if (rc != SQLITE_DONE) return writer_->Error("search index: read the unindexed versions");
  }
  if (index_tail_.empty()) {
    indexed_seq_.store(indexed, std::memory_order_release);
    return core::OkStatus();
  }
  Log()->info("indexing {} versions written since the search index was last updated",
              index_tail_.size());
  while (index_flushed_ < index_tail_.size()) {
    RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE"));
    core::Status s = IndexTail(std::min(index_tail_.size(), index_flushed_ + kIndexChunk));
    if (s.ok()) s = writer_->Exec("COMMIT");
    if (!s.ok()) {
      (void)writer_->Exec("ROLLBACK");
      index_tail_.clear();
      index_flushed_ = 0;
      return s;
    }
  }
  index_tail_.clear();
  index_flushed_ = 0;
  indexed_seq_.store(indexed_pending_, std::memory_order_release);
  return core::OkStatus();
}

core::Status SqliteStore::RebuildSearchIndex(const std::string& fingerprint) {
  Db& db = *writer_;
  int64_t total = 0;
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     db.Prepare("SELECT count(*) FROM current WHERE deleted = 0"));
    Stmt stmt(raw);
    if (stmt.Step() != SQLITE_ROW) return db.Error("count resources");
    total = stmt.Int(0);
  }
  Log()->info("building the search index of {} resources", total);
  auto started = std::chrono::steady_clock::now();
  // Emptied and marked incomplete first: an interrupted rebuild starts over on the next open.
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  core::Status cleared = db.Exec(
      "DELETE FROM ix_string; DELETE FROM ix_token; DELETE FROM ix_reference; DELETE FROM ix_uri; "
      "DELETE FROM ix_date; DELETE FROM ix_number; DELETE FROM ix_quantity; "
      "DELETE FROM ix_present; DELETE FROM medulla_meta WHERE key = 'search_index';");
  if (cleared.ok()) cleared = db.Exec("COMMIT");
  if (!cleared.ok()) {
    (void)db.Exec("ROLLBACK");
    return cleared;
  }
  // In batches, one transaction each, in rk order.
  constexpr int64_t kBatch = 4096;
  int64_t done = 0;
  int64_t after_rk = 0;
  for (;;) {
    RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    int64_t in_batch = 0;
    core::Status status = core::OkStatus();
    {
      auto raw = db.Prepare(
          "SELECT c.rk, c.type, v.body FROM current c JOIN versions v ON v.seq = c.seq "
          "WHERE c.rk > ? AND c.deleted = 0 ORDER BY c.rk LIMIT ?");
      if (!raw) {
        status = raw.error();
      } else {
        Stmt stmt(*raw);
        stmt.Bind(1, after_rk);
        stmt.Bind(2, kBatch);
        int rc;
        std::vector<std::tuple<int64_t, std::string, std::string>> rows;
        while ((rc = stmt.Step()) == SQLITE_ROW)
          rows.emplace_back(stmt.Int(0), stmt.Text(1), stmt.Text(2));
        if (rc != SQLITE_DONE) status = db.Error("read resources to index");
        for (const auto& [rk, type, body] : rows) {
          if (!status.ok()) break;
          after_rk = rk;
          ++in_batch;
          auto index = IndexRowsOf(type, body);
          if (!index) {
            Log()->warn("{} (row {}) cannot be indexed: {}", type, rk, index.error().message());
            continue;
          }
          status = WriteIndexDiff(db, rk, IndexRows{}, *index);
        }
      }
    }
    if (status.ok() && in_batch == 0) status = WriteMeta(db, "search_index", fingerprint);
    if (status.ok() && in_batch == 0) {
      status = db.Exec(
          "INSERT INTO medulla_meta(key, value) SELECT 'indexed_seq', coalesce(max(seq), 0) "
          "FROM versions WHERE 1 ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    }
    if (status.ok()) status = db.Exec("COMMIT");
    if (!status.ok()) {
      (void)db.Exec("ROLLBACK");
      return status;
    }
    if (in_batch == 0) break;
    done += in_batch;
    if (options_.reindex_progress) options_.reindex_progress(done, total);
  }
  Log()->info("search index built: {} resources in {:.1f} s", done,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return core::OkStatus();
}

void SqliteStore::OnWalCommit(int frames) {
  if (frames < options_.checkpoint_pages) return;
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_wanted_ = true;
    wal_frames_ = frames;
  }
  checkpoint_cv_.notify_one();
}

void SqliteStore::CheckpointLoop() {
  pthread_setname_np(pthread_self(), "medulla-ckpt");
  for (;;) {
    int frames;
    {
      std::unique_lock lock(checkpoint_mu_);
      checkpoint_cv_.wait(lock, [this] { return checkpoint_wanted_ || checkpoint_stop_; });
      if (checkpoint_stop_) return;
      checkpoint_wanted_ = false;
      frames = wal_frames_;
    }
    // PASSIVE copies what it can without blocking the writer. If writes keep the WAL from ever
    // being fully copied (so SQLite cannot start it over), RESTART makes the writer wait once
    // so the file stops growing.
    int mode = frames >= 4 * options_.checkpoint_pages ? SQLITE_CHECKPOINT_RESTART
                                                       : SQLITE_CHECKPOINT_PASSIVE;
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(checkpointer_->handle(), nullptr, mode, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      Log()->warn("checkpoint failed: {}", sqlite3_errmsg(checkpointer_->handle()));
    }
    checkpoints_.Add();
  }
}

core::Result<std::unique_ptr<Db>> SqliteStore::OpenReader() {
  ASSIGN_OR_RETURN(auto db, Db::Open(db_path_, false, vfs_));
  RETURN_IF_ERROR(db->Exec("PRAGMA query_only=1"));
  // Sorts and ephemeral tables that outgrow the cache spill to memory, never to a file (an
  // encrypted store refuses temporary files: they would hold rows in the clear).
  RETURN_IF_ERROR(db->Exec("PRAGMA temp_store=MEMORY"));
  // Memory-mapped reads: pages come straight from the page cache instead of a pread() each.
  RETURN_IF_ERROR(db->Exec(fmt::format("PRAGMA mmap_size={}", options_.mmap_bytes)));
  RETURN_IF_ERROR(db->Exec(fmt::format("PRAGMA cache_size=-{}", options_.cache_size_kib / 4)));
  return db;
}

SqliteStore::~SqliteStore() {
  Close();
  {
    std::lock_guard lock(readers_mu_);
    idle_readers_.clear();
  }
  writer_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

core::Status SqliteStore::Close() {
  {
    std::lock_guard lock(queue_mu_);
    if (closing_ && !commit_thread_.joinable()) return core::OkStatus();
    closing_ = true;
  }
  queue_cv_.notify_all();
  if (commit_thread_.joinable()) commit_thread_.join();
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  checkpointer_.reset();
  if (!writer_) return core::OkStatus();
  // The commit thread is gone, so the writer is ours: fold the WAL into the database and sync
  // it (this is what makes synchronous=normal commits durable too).
  // The pragma answers (busy, log frames, checkpointed frames); busy=1 means it could not
  // finish (a reader held the WAL), which for synchronous=normal would leave commits unsynced.
  for (int attempt = 0; attempt < 100; ++attempt) {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw, writer_->Prepare("PRAGMA wal_checkpoint(TRUNCATE)"));
    Stmt stmt(raw);
    if (stmt.Step() != SQLITE_ROW) return writer_->Error("final checkpoint");
    if (stmt.Int(0) == 0) return core::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return core::Unavailable("the final checkpoint stayed busy: a reader kept the WAL open");
}

bool SqliteStore::Enqueue(Pending& pending) {
  std::lock_guard lock(queue_mu_);
  if (closing_ || queue_.size() >= options_.max_queued_units) return false;
  queue_.push_back(std::move(pending));
  queue_depth_.Set(static_cast<int64_t>(queue_.size()));
  // The commit thread takes the whole queue each time: only an empty queue can have it waiting
  // (a wake-up per unit was a futex call each, on every read's audit entry).
  if (queue_.size() == 1) queue_cv_.notify_one();
  return true;
}

namespace {
core::Status Refused() {
  return core::Unavailable("the store is closing or its write queue is full");
}
}  // namespace

void SqliteStore::Submit(Unit unit, UnitCallback done) {
  Pending pending{std::move(unit), std::move(done)};
  if (Enqueue(pending)) return;
  std::vector<WriteResult> results(pending.unit.writes.size());
  for (auto& r : results) r.status = Refused();
  pending.done(std::move(results));
}

void SqliteStore::Audit(std::vector<AuditEntry> entries, std::function<void(core::Status)> done) {
  // On the caller's thread: sealed and journaled now, folded into the table by the commit
  // thread (audit_trail.h).
  done(audit_.Append(std::move(entries)));
}

core::Result<AuditPage> SqliteStore::AuditSearch(const AuditQuery& query) {
  // Entries still in the journal move into the table first (read your own audit trail).
  const int64_t target = audit_.sealed();
  if (audit_.stored() < target) {
    std::unique_lock lock(queue_mu_);
    audit_fold_wanted_ = true;
    queue_cv_.notify_one();
    bool stored = index_cv_.wait_for(lock, options_.index_wait,
                                     [&] { return audit_.stored() >= target || closing_; });
    if (!stored || audit_.stored() < target) {
      return core::Fail(
          core::Unavailable("the audit log is catching up with recent entries; retry"));
    }
  }
  ASSIGN_OR_RETURN(auto lease, ReaderLease::Acquire(*this));
  return SearchAuditLog(lease.db(), query);
}

void SqliteStore::CommitLoop() {
  pthread_setname_np(pthread_self(), "medulla-commit");  // for top, perf and gdb
  std::deque<Pending> batch;
  int failures_in_a_row = 0;
  while (true) {
    int64_t flush_target = 0;
    {
      std::unique_lock lock(queue_mu_);
      // Index work (index_tail_, this thread's own) is done when writes pause: with a tail,
      // wait only a little for the next unit; a waiting search cuts the pause short.
      auto ready = [this] {
        return !queue_.empty() || closing_ || flush_target_ > indexed_pending_ ||
               audit_fold_wanted_;
      };
      // Audit entries in the journal are folded into the table when writes pause, like the
      // index tail: at least every kIndexIdle under a load of reads alone (the first entry
      // journaled after a fold wakes this thread from the untimed wait).
      if (index_tail_.empty() && audit_.unfolded() == 0) {
        queue_cv_.wait(lock, [&] { return ready() || audit_.unfolded() > 0; });
      } else {
        queue_cv_.wait_for(lock, kIndexIdle, ready);
      }
      if (queue_.empty() && closing_ &&
          ((index_tail_.empty() && audit_.unfolded() == 0) || failures_in_a_row > 0)) {
        return;
      }
      size_t n = std::min(queue_.size(), options_.max_units_per_commit);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queue_depth_.Set(static_cast<int64_t>(queue_.size()));
      flush_target = flush_target_;
      audit_fold_wanted_ = false;
    }
    bool ok = CommitBatch(batch, flush_target);
    failures_in_a_row = ok ? 0 : failures_in_a_row + 1;
    if (!ok && batch.empty()) {
      // Index-only work failed (a full disk?): back off rather than spin.
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::min(1000, 50 * failures_in_a_row)));
    }
    batch.clear();
  }
}

bool SqliteStore::CommitBatch(std::deque<Pending>& batch, int64_t flush_target) {
  auto started = std::chrono::steady_clock::now();
  const size_t tail_at_begin = index_tail_.size();
  // One timestamp per transaction, never going backwards, at millisecond resolution (what
  // meta.lastUpdated shows), so lastUpdated order agrees with seq order.
  core::MicrosSinceEpoch now = clock_.Now() / 1000 * 1000;
  if (now < last_timestamp_) now = last_timestamp_;
  const int64_t seq_at_begin = next_seq_;

  std::vector<std::vector<WriteResult>> results;
  results.reserve(batch.size());
  // A batch without writes (a fold of reads' audit entries, index work) is written to the WAL
  // without an fsync: durable across a process crash, and made durable across power loss by
  // the next write's commit (an fsync of the WAL covers every frame before it). Writes keep
  // the configured mode.
  if (options_.synchronous == "full") {
    const bool writes = std::any_of(batch.begin(), batch.end(),
                                    [](const Pending& p) { return !p.unit.writes.empty(); });
    if (writes != writer_synchronous_full_ &&
        writer_->Run(writes ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL").ok()) {
      writer_synchronous_full_ = writes;
    }
  }
  core::Status begin = BeginWithRetry();
  bool committed = false;
  AuditTrail::Fold fold;
  core::Status failure = core::Unavailable("the store could not commit the write");
  if (begin.ok()) {
    bool broken = false;
    for (Pending& p : batch) {
      results.push_back(ApplyUnit(p.unit, now, broken));
      // An I/O error, a full disk or lack of memory can make SQLite roll back the whole
      // transaction. Then nothing more may run: a later SAVEPOINT would silently open (and its
      // RELEASE commit) a transaction of its own.
      if (broken) break;
      if (p.unit.audit) {
        if (core::Status s = audit_.Append(p.unit.audit(results.back())); !s.ok()) {
          broken = true;
          Log()->error("audit log: {}", s.message());
          break;
        }
      }
    }
    if (!broken) {
      // Index work rides along in the same transaction: all of the tail when a search waits
      // for it, a chunk when idle or when the tail grows too long.
      size_t upto = index_flushed_;
      if (flush_target > indexed_pending_) {
        upto = index_tail_.size();
      } else if (batch.empty() || index_tail_.size() - index_flushed_ > kMaxIndexTail) {
        upto = std::min(index_tail_.size(), index_flushed_ + kIndexChunk);
      }
      if (core::Status indexed = IndexTail(upto); !indexed.ok()) {
        broken = true;
        Log()->error("search index: {}", indexed.message());
      }
    }
    // Every audit entry sealed so far and not yet in the table goes in with this transaction:
    // the batch's writes' own, and reads' from the journal.
    if (!broken) {
      if (auto begun = audit_.BeginFold(); begun) {
        fold = std::move(*begun);
        for (const SealedAuditEntry& e : fold.entries) {
          if (core::Status s = AuditAppender::Insert(*writer_, e); !s.ok()) {
            broken = true;
            Log()->error("audit log: {}", s.message());
            break;
          }
        }
      } else {
        broken = true;
        Log()->error("audit journal: {}", begun.error().message());
      }
    }
    if (!broken && next_seq_ > seq_at_begin) {
      if (core::Status logged = RecordCommit(now, seq_at_begin); !logged.ok()) {
        broken = true;
        Log()->error("commit log: {}", logged.message());
      }
    }
    if (!broken) {
      core::Status commit = writer_->Run("COMMIT");
      if (commit.ok()) {
        committed = true;
      } else {
        Log()->error("commit failed: {}", commit.message());
        failure = core::Internal("the store could not commit the write: " + commit.message());
      }
    } else {
      Log()->error("a write failed in a way that ended the transaction; the batch is rolled back");
      failure = core::Internal("the store could not commit the write (I/O error or full disk)");
    }
    if (!committed && !sqlite3_get_autocommit(writer_->handle())) {
      (void)writer_->Exec("ROLLBACK");
    }
  } else {
    Log()->error("begin failed: {}", begin.message());
  }

  const bool folded = !fold.entries.empty();
  audit_.EndFold(std::move(fold), committed);
  if (committed && folded) {
    { std::lock_guard lock(queue_mu_); }  // a waiting AuditEvent search is in wait() or sees it
    index_cv_.notify_all();
  }
  if (committed) {
    last_timestamp_ = now;
    last_seq_.store(next_seq_ - 1, std::memory_order_release);
    {
      std::lock_guard lock(commit_listener_mu_);
      if (commit_listener_) commit_listener_(next_seq_ - 1);
    }
    if (index_flushed_ > 0) {
      index_tail_.erase(index_tail_.begin(),
                        index_tail_.begin() + static_cast<std::ptrdiff_t>(index_flushed_));
      index_flushed_ = 0;
      {
        std::lock_guard lock(queue_mu_);
        indexed_seq_.store(indexed_pending_, std::memory_order_release);
      }
      index_cv_.notify_all();
    }
    commits_.Add();
    units_committed_.Add(batch.size());
    versions_written_.Add(static_cast<uint64_t>(next_seq_ - seq_at_begin));
    // Write through before acknowledging: an acknowledged write is visible to every reader.
    for (const auto& unit_results : results) {
      for (const WriteResult& r : unit_results) {
        if (r.status.ok() && r.record.seq > 0 &&
            (r.outcome == WriteOutcome::kCreated || r.outcome == WriteOutcome::kUpdated ||
             r.outcome == WriteOutcome::kDeleted)) {
          cache_.Put(r.record);
        }
      }
    }
  } else {
    // Re-read where the sequence really stands rather than assume nothing reached the disk.
    RecoverSequence(seq_at_begin);
    // The batch's versions are gone, and so are the index rows it wrote for older ones.
    index_tail_.resize(tail_at_begin);
    index_flushed_ = 0;
    indexed_pending_ = indexed_seq_.load(std::memory_order_acquire);
    commit_failures_.Add();
    results.clear();
    for (Pending& p : batch) {
      std::vector<WriteResult> failed(p.unit.writes.size());
      for (auto& r : failed) r.status = failure;
      results.push_back(std::move(failed));
    }
  }
  commit_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  units_per_commit_.Observe(static_cast<double>(batch.size()));
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
  return committed;
}

core::Status SqliteStore::RecordCommit(core::MicrosSinceEpoch timestamp, int64_t first_seq) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   writer_->Prepare("INSERT INTO commit_log(last_updated, seq) VALUES(?, ?)"));
  Stmt stmt(raw);
  stmt.Bind(1, timestamp);
  stmt.Bind(2, first_seq);
  return StepDone(*writer_, stmt, "commit log");
}

core::Status SqliteStore::BeginWithRetry() {
  // A RESTART checkpoint holds the write lock while it copies the WAL; wait it out (bounded)
  // instead of failing every unit of the batch.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    core::Status s = writer_->Run("BEGIN IMMEDIATE");
    int code = sqlite3_errcode(writer_->handle()) & 0xff;
    if (s.ok() || code != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void SqliteStore::RecoverSequence(int64_t fallback) {
  next_seq_ = fallback;
  auto raw = writer_->Prepare("SELECT coalesce(max(seq), 0) FROM versions");
  if (!raw) return;
  Stmt stmt(*raw);
  if (stmt.Step() == SQLITE_ROW) {
    next_seq_ = std::max(fallback, stmt.Int(0) + 1);
    last_seq_.store(next_seq_ - 1, std::memory_order_release);
  }
}

std::vector<WriteResult> SqliteStore::ApplyUnit(Unit& unit, core::MicrosSinceEpoch now,
                                                bool& broken) {
  std::vector<WriteResult> results;
  if (unit.writes.empty()) return results;
  results.reserve(unit.writes.size());
  // Conditional writes search: the index must first catch up with everything before them
  // (in this transaction, outside the unit's savepoint so that a failed unit cannot undo it).
  bool conditional = std::any_of(unit.writes.begin(), unit.writes.end(),
                                 [](const Write& w) { return w.if_none_exist.has_value(); });
  if (conditional) {
    if (core::Status s = IndexTail(index_tail_.size()); !s.ok()) {
      broken = true;
      results.assign(unit.writes.size(), WriteResult{});
      for (auto& r : results) r.status = s;
      return results;
    }
  }
  const int64_t seq_mark = next_seq_;
  const size_t tail_mark = index_tail_.size();
  // Index work done inside the unit's savepoint is undone with it.
  const size_t flushed_mark = index_flushed_;
  const int64_t pending_mark = indexed_pending_;
  auto undo_marks = [&] {
    next_seq_ = seq_mark;
    index_tail_.resize(tail_mark);
    index_flushed_ = flushed_mark;
    indexed_pending_ = pending_mark;
  };
  auto fail_all = [&](const core::Status& s) {
    results.assign(unit.writes.size(), WriteResult{});
    for (auto& r : results) r.status = s;
    undo_marks();
    return results;
  };
  const bool resolves_references =
      std::any_of(unit.writes.begin(), unit.writes.end(),
                  [](const Write& w) { return !w.conditional_references.empty(); });
  if (unit.writes.size() == 1 && !resolves_references) {
    // A single write (every REST create, update and delete) needs no savepoint: its checks
    // (preconditions, an existing id) fail before it modifies anything, and a failure after
    // its first modification is an I/O-level one that fails the whole batch anyway. The
    // savepoint would copy every page the write touches into a statement journal.
    bool modified = false;
    results.push_back(ApplyWrite(unit.writes.front(), now, modified));
    if (!results.back().status.ok()) {
      next_seq_ = seq_mark;
      index_tail_.resize(tail_mark);
      if (modified || sqlite3_get_autocommit(writer_->handle())) broken = true;
    }
    return results;
  }
  if (core::Status sp = writer_->Run("SAVEPOINT unit"); !sp.ok()) {
    broken = true;
    return fail_all(sp);
  }
  bool failed = false;
  size_t failed_index = 0;
  for (size_t i = 0; i < unit.writes.size(); ++i) {
    bool modified = false;  // the savepoint undoes partial writes
    results.push_back(ApplyWrite(unit.writes[i], now, modified));
    if (!results.back().status.ok()) {
      failed = true;
      failed_index = i;
      break;
    }
  }
  if (!failed && resolves_references) {
    for (size_t i = 0; i < unit.writes.size(); ++i) {
      if (unit.writes[i].conditional_references.empty()) continue;
      if (core::Status s = ResolveReferences(unit.writes[i], results[i]); !s.ok()) {
        results[i].status = s;
        failed = true;
        failed_index = i;
        break;
      }
    }
  }
  if (!failed) {
    if (writer_->Run("RELEASE unit").ok()) return results;
    failed = true;
    failed_index = results.size();  // no single write to blame
  }
  // Undo the unit alone. If that fails, or SQLite already ended the whole transaction, the
  // batch is broken.
  bool undone = writer_->Run("ROLLBACK TO unit").ok() && writer_->Run("RELEASE unit").ok();
  if (!undone || sqlite3_get_autocommit(writer_->handle())) broken = true;
  undo_marks();
  if (failed_index >= results.size()) {
    return fail_all(core::Internal("the store could not release the unit's savepoint"));
  }
  results.resize(unit.writes.size());
  for (size_t i = 0; i < results.size(); ++i) {
    if (i == failed_index) continue;
    results[i] = WriteResult{};
    results[i].status = core::Conflict(
        fmt::format("not stored: write {} of the same all-or-nothing unit failed", failed_index));
  }
  return results;
}

WriteResult SqliteStore::ApplyWrite(Write& w, core::MicrosSinceEpoch now, bool& modified) {
  WriteResult result;
  Db& db = *writer_;
  auto fail = [&](core::Status s) {
    result.status = std::move(s);
    return result;
  };

  if (w.if_none_exist) {
    // On the commit thread, inside the transaction: no other write can slip in between the
    // search and the write.
    auto found = FindMatches(WriterSearch(db), *w.if_none_exist, 2);
    if (!found) return fail(found.error());
    if (w.planned_match) {
      std::string now_found = found->empty()      ? ""
                              : found->size() > 1 ? "more than one resource"
                                                  : found->front().id;
      if (now_found != *w.planned_match) {
        return fail(core::PreconditionFailed(
            "the entry's search criteria match something else than when the bundle was planned "
            "(a concurrent write); send the bundle again"));
      }
    }
    if (w.operation == Operation::kCreate && found->size() == 1) {
      result.outcome = WriteOutcome::kExisting;
      result.record = std::move(found->front());
      return result;
    }
    if (w.operation == Operation::kCreate && found->size() > 1) {
      return fail(core::PreconditionFailed(
          "conditional create: the If-None-Exist criteria match more than one resource"));
    }
  }

  // The current version, if any. A create needs no lookup: its id is new (a fresh UUID), and
  // should it exist after all, the unique (type, id, version) index rejects the insert.
  int64_t current_version = 0;
  bool current_deleted = false;
  if (w.operation != Operation::kCreate) {
    auto raw = db.Prepare("SELECT version, deleted FROM current WHERE type = ? AND id = ?");
    if (!raw) return fail(raw.error());
    Stmt stmt(*raw);
    stmt.Bind(1, std::string_view(w.type));
    stmt.Bind(2, std::string_view(w.id));
    int rc = stmt.Step();
    if (rc == SQLITE_ROW) {
      current_version = stmt.Int(0);
      current_deleted = stmt.Int(1) != 0;
    } else if (rc != SQLITE_DONE) {
      return fail(db.Error("read current"));
    }
  }

  VersionRecord& rec = result.record;
  rec.type = w.type;
  rec.id = w.id;
  rec.last_updated = now;
  switch (w.operation) {
    case Operation::kCreate:
      if (current_version != 0) {
        return fail(core::Conflict(fmt::format("{}/{} already exists", w.type, w.id)));
      }
      result.outcome = WriteOutcome::kCreated;
      break;
    case Operation::kUpdate:
    case Operation::kUpdateCreated:  // only the store sets this; treated as an update
      if (w.if_match &&
          (current_version == 0 || current_deleted || *w.if_match != current_version)) {
        return fail(core::PreconditionFailed(
            current_version == 0 || current_deleted
                ? fmt::format("If-Match: {}/{} has no current version", w.type, w.id)
                : fmt::format("If-Match: version {} is not the current version {}", *w.if_match,
                              current_version)));
      }
      result.outcome =
          current_version == 0 || current_deleted ? WriteOutcome::kCreated : WriteOutcome::kUpdated;
      break;
    case Operation::kDelete:
      if (w.if_match &&
          (current_version == 0 || current_deleted || *w.if_match != current_version)) {
        return fail(core::PreconditionFailed(
            fmt::format("If-Match: {}/{} is not at version {}", w.type, w.id, *w.if_match)));
      }
      if (current_version == 0 || current_deleted) {
        result.outcome = WriteOutcome::kNoChange;
        rec.version = current_version;
        rec.operation = Operation::kDelete;
        return result;
      }
      result.outcome = WriteOutcome::kDeleted;
      break;
  }
  rec.version = current_version + 1;
  rec.seq = next_seq_;
  rec.operation = w.operation == Operation::kUpdate && result.outcome == WriteOutcome::kCreated
                      ? Operation::kUpdateCreated
                      : w.operation;
  if (w.operation != Operation::kDelete) {
    rec.body = fhir::AssembleResource(w.resource, w.id, rec.version, now);
  }
  {
    auto raw = db.Prepare(
        "INSERT INTO versions(seq, type, id, version, last_updated, op, body) "
        "VALUES(?, ?, ?, ?, ?, ?, ?)");
    if (!raw) return fail(raw.error());
    Stmt stmt(*raw);
    stmt.Bind(1, rec.seq);
    stmt.Bind(2, std::string_view(rec.type));
    stmt.Bind(3, std::string_view(rec.id));
    stmt.Bind(4, rec.version);
    stmt.Bind(5, now);
    stmt.Bind(6, static_cast<int64_t>(rec.operation));
    if (rec.operation == Operation::kDelete) {
      stmt.BindNull(7);
    } else {
      stmt.BindBlob(7, rec.body);
    }
    int rc = stmt.Step();
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {  // versions_by_key: the id exists already
      return fail(core::Conflict(fmt::format("{}/{} already exists", w.type, w.id)));
    }
    if (rc != SQLITE_DONE) return fail(db.Error("insert version"));
    modified = true;  // from here on a failure leaves a partial write in the transaction
  }
  int64_t rk = 0;
  {
    auto raw = db.Prepare(
        "INSERT INTO current(type, id, version, seq, last_updated, deleted) "
        "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(type, id) DO UPDATE SET "
        "version = excluded.version, seq = excluded.seq, last_updated = excluded.last_updated, "
        "deleted = excluded.deleted RETURNING rk");
    if (!raw) return fail(raw.error());
    Stmt stmt(*raw);
    stmt.Bind(1, std::string_view(rec.type));
    stmt.Bind(2, std::string_view(rec.id));
    stmt.Bind(3, rec.version);
    stmt.Bind(4, rec.seq);
    stmt.Bind(5, now);
    stmt.Bind(6, static_cast<int64_t>(rec.operation == Operation::kDelete ? 1 : 0));
    if (stmt.Step() != SQLITE_ROW) return fail(db.Error("upsert current"));
    rk = stmt.Int(0);
    if (stmt.Step() != SQLITE_DONE) return fail(db.Error("upsert current"));
  }
  // The search index follows later, in batches (IndexTail): here the version only joins the
  // tail, with its rows when the caller extracted its values.
  {
    IndexTask task;
    task.seq = rec.seq;
    task.rk = rk;
    task.type = rec.type;
    task.id = rec.id;
    task.fresh = rec.version == 1;
    task.deleted = rec.operation == Operation::kDelete;
    if (!task.deleted && w.index_values && index_tail_.size() < kMaxTailRows) {
      task.rows = BuildIndexRows(rec.type, *w.index_values, *param_ids_);
    }
    index_tail_.push_back(std::move(task));
  }
  ++next_seq_;
  return result;
}

core::Result<VersionRecord> SqliteStore::ReadCurrent(const std::string& type,
                                                     const std::string& id) {
  ResourceCache::Ticket ticket;
  if (auto cached = cache_.Get(type, id, &ticket)) {
    cache_hits_.Add();
    if (cached->deleted()) {
      return core::Fail(
          core::Gone(fmt::format("{}/{} was deleted (version {})", type, id, cached->version)));
    }
    return std::move(*cached);
  }
  cache_misses_.Add();
  auto loaded = ReadCurrentFromDb(type, id);
  if (loaded) cache_.InsertIfUnchanged(ticket, *loaded);
  return loaded;
}

core::Result<VersionRecord> SqliteStore::ReadCurrentFromDb(const std::string& type,
                                                           const std::string& id) {
  ASSIGN_OR_RETURN(auto lease, ReaderLease::Acquire(*this));
  ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      lease.db().Prepare("SELECT v.seq, v.type, v.id, v.version, v.last_updated, v.op, v.body "
                         "FROM current c JOIN versions v ON v.seq = c.seq "
                         "WHERE c.type = ? AND c.id = ?"));
  Stmt stmt(raw);
  stmt.Bind(1, std::string_view(type));
  stmt.Bind(2, std::string_view(id));
  int rc = stmt.Step();
  if (rc == SQLITE_DONE)
    return core::Fail(core::NotFound(fmt::format("{}/{} is not known", type, id)));
  if (rc != SQLITE_ROW) return core::Fail(lease.db().Error("read"));
  VersionRecord r = ReadVersionRow(stmt, 0);
  if (r.deleted()) {
    return core::Fail(
        core::Gone(fmt::format("{}/{} was deleted (version {})", type, id, r.version)));
  }
  return r;
}

core::Result<VersionRecord> SqliteStore::ReadVersion(const std::string& type, const std::string& id,
                                                     int64_t version) {
  ASSIGN_OR_RETURN(auto lease, ReaderLease::Acquire(*this));
  ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      lease.db().Prepare("SELECT seq, type, id, version, last_updated, op, body FROM versions "
                         "WHERE type = ? AND id = ? AND version = ?"));
  Stmt stmt(raw);
  stmt.Bind(1, std::string_view(type));
  stmt.Bind(2, std::string_view(id));
  stmt.Bind(3, version);
  int rc = stmt.Step();
  if (rc == SQLITE_DONE) {
    return core::Fail(core::NotFound(fmt::format("{}/{} has no version {}", type, id, version)));
  }
  if (rc != SQLITE_ROW) return core::Fail(lease.db().Error("vread"));
  VersionRecord r = ReadVersionRow(stmt, 0);
  if (r.deleted()) {
    return core::Fail(
        core::Gone(fmt::format("version {} of {}/{} is a deletion", version, type, id)));
  }
  return r;
}

core::Result<SearchPage> SqliteStore::Search(const SearchQuery& query) {
  // Read your writes: everything committed before the search began is indexed first.
  RETURN_IF_ERROR(WaitForIndex(last_seq_.load(std::memory_order_acquire)));
  ASSIGN_OR_RETURN(auto lease, ReaderLease::Acquire(*this));
  // One read transaction for the whole search (probes, page, includes, total): one snapshot.
  RETURN_IF_ERROR(lease.db().Run("BEGIN"));
  auto page = ExecuteSearch(
      SearchContext{lease.db(), *param_ids_, registry_, kMaxPageBytes, options_.search_timeout},
      query);
  (void)lease.db().Run("COMMIT");
  return page;
}

core::Result<HistoryPage> SqliteStore::History(const HistoryQuery& q) {
  ASSIGN_OR_RETURN(auto lease, ReaderLease::Acquire(*this));
  SqlBuilder b;
  b.sql = "SELECT seq, type, id, version, last_updated, op, body FROM versions WHERE 1";
  if (!q.type.empty()) {
    b.sql += " AND type = ?";
    b.Text(q.type);
  }
  if (!q.id.empty()) {
    b.sql += " AND id = ?";
    b.Text(q.id);
  }
  if (q.before_seq > 0) {
    b.sql += " AND seq < ?";
    b.Number(q.before_seq);
  }
  if (q.since) {
    ASSIGN_OR_RETURN(std::optional<int64_t> first, FirstSeqSince(lease.db(), *q.since));
    if (first && *first == 0) return HistoryPage{};  // nothing was written since
    if (first) {
      b.sql += " AND seq >= ?";
      b.Number(*first);
    }
    b.sql += " AND last_updated >= ?";  // exact either way; the seq bound makes it a range scan
    b.Number(*q.since);
  }
  b.sql += !q.id.empty() ? " ORDER BY version DESC LIMIT ?" : " ORDER BY seq DESC LIMIT ?";
  b.Number(static_cast<int64_t>(q.count) + 1);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, lease.db().Prepare(b.sql));
  Stmt stmt(raw);
  b.BindAll(stmt);
  HistoryPage page;
  int rc = SQLITE_DONE;
  size_t bytes = 0;
  while (q.count > 0 && (rc = stmt.Step()) == SQLITE_ROW) {
    if (page.entries.size() == q.count || bytes > kMaxPageBytes) {
      page.next_before_seq = page.entries.back().seq;
      break;
    }
    page.entries.push_back(ReadVersionRow(stmt, 0));
    bytes += page.entries.back().body.size();
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return core::Fail(lease.db().Error("history"));
  return page;
}

core::Result<std::vector<VersionRecord>> SqliteStore::Changes(int64_t after_seq, size_t limit) {
  ASSIGN_OR_RETURN(auto lease, ReaderLease::Acquire(*this));
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   lease.db().Prepare("SELECT seq, type, id, version, last_updated, op, body "
                                      "FROM versions WHERE seq > ? ORDER BY seq LIMIT ?"));
  Stmt stmt(raw);
  stmt.Bind(1, after_seq);
  stmt.Bind(2, static_cast<int64_t>(limit));
  std::vector<VersionRecord> out;
  int rc = SQLITE_DONE;
  size_t bytes = 0;
  while (bytes <= kMaxPageBytes && (rc = stmt.Step()) == SQLITE_ROW) {
    out.push_back(ReadVersionRow(stmt, 0));
    bytes += out.back().body.size();
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return core::Fail(lease.db().Error("changes"));
  return out;
}

core::Result<std::optional<int64_t>> SqliteStore::FirstSeqSince(Db& db,
                                                                core::MicrosSinceEpoch since) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db.Prepare("SELECT seq FROM commit_log WHERE last_updated >= ? "
                              "ORDER BY last_updated, seq LIMIT 1"));
  {
    Stmt stmt(raw);
    stmt.Bind(1, since);
    int rc = stmt.Step();
    if (rc == SQLITE_ROW) return std::optional<int64_t>(stmt.Int(0));
    if (rc != SQLITE_DONE) return core::Fail(db.Error("commit log"));
  }
  // No commit at or after `since`. With a commit log that is definite (0: nothing since);
  // a database from before the log existed has none, and falls back to a scan (nullopt).
  ASSIGN_OR_RETURN(sqlite3_stmt * any, db.Prepare("SELECT 1 FROM commit_log LIMIT 1"));
  Stmt stmt(any);
  return stmt.Step() == SQLITE_ROW ? std::optional<int64_t>(0) : std::nullopt;
}

StoreStats SqliteStore::Stats() const {
  StoreStats s;
  s.last_seq = last_seq_.load(std::memory_order_acquire);
  std::lock_guard lock(queue_mu_);
  s.queue_depth = static_cast<int64_t>(queue_.size());
  return s;
}

}  // namespace medulla::store::sqlite
