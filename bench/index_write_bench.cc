// What indexing every R4 search parameter on write costs, measured before designing it
// (issue 3). Two parts:
//  1. BM_Extract: ExtractIndexValues over the resources of the Synthea bundles: ns/resource,
//     and how many index values each resource yields (by kind and for the common types).
//  2. BM_Write: each resource's row plus its index rows written straight to SQLite, set up like
//     the store's writer (WAL, 16 KiB pages, temp_store=MEMORY, 64 MiB cache, synchronous FULL
//     or NORMAL), one SAVEPOINT per resource as the store does per unit, 64 resources per
//     commit, in four layouts:
//       kNone      the body only: the baseline;
//       kGeneric   one WITHOUT ROWID table idx(param_id, value, res), every kind as text;
//       kPerKind   one WITHOUT ROWID table per kind, keyed (param_id, value..., res);
//       kPerKindRowid  the same columns in rowid tables with a secondary index each.
//     Every run writes all Synthea resources exactly kPasses times into a fresh database, so
//     the throughput is over a database growing from empty to that size, and the size at the
//     end gives the bytes per index row (dbstat, when SQLite has it). Counters: t/res (time per
//     resource), rows/res, rows/s, walKB/res (WAL bytes appended), db_MB, B/row.
//     A few variants of kPerKind show where the cost goes (see RegisterWrites).
// Commits are charged with their WAL checkpoints (inline, at SQLite's default threshold): the
// store checkpoints on another thread, but on this 2-core machine with one disk that work
// competes with the commit thread anyway, so the inline figure is the honest upper bound.
#include <benchmark/benchmark.h>

#include <sqlite3.h>
#include <unistd.h>
#include "bench_files.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/search_parameters.h"
#include "json/parse.h"
#include "json/write.h"

namespace medulla::fhir {
namespace {

namespace fs = std::filesystem;

constexpr int kPasses = 5;                  // all of Synthea, this many times, per write run
constexpr size_t kResourcesPerCommit = 64;  // a full group-commit batch under load
constexpr int kPageSize = 16384;            // the store's

fs::path SyntheaDir() {
  const char* dir = std::getenv("MEDULLA_SYNTHEA_DIR");
  return dir != nullptr ? dir : MEDULLA_SYNTHEA_DIR;
}

using bench::ReadFileOrDie;

// The index rows of one resource, already split the way each layout stores them and
// deduplicated on each table's key (a resource often repeats a value: the same code in two
// codings, the same reference from two elements), so the row counts are what a table holds.
struct TokenRow {
  int64_t param;
  std::string system, code;
  auto operator<=>(const TokenRow&) const = default;
};
struct StringRow {
  int64_t param;
  std::string text;
  auto operator<=>(const StringRow&) const = default;
};
struct ReferenceRow {
  int64_t param;
  std::string target_type, target_id;
  auto operator<=>(const ReferenceRow&) const = default;
};
struct DateRow {
  int64_t param;
  int64_t begin, end;
  auto operator<=>(const DateRow&) const = default;
};
struct QuantityRow {  // number and quantity: value, and the quantity's system and code
  int64_t param;
  double value;
  std::string system, code;
  auto operator<=>(const QuantityRow&) const = default;
};
struct GenericRow {
  int64_t param;
  std::string value;
  auto operator<=>(const GenericRow&) const = default;
};

struct Resource {
  const json::Value* json = nullptr;  // in Corpus::docs
  std::string type;
  std::string body;   // compact JSON, the size the store would write
  size_t values = 0;  // ExtractIndexValues().size()
  std::vector<GenericRow> generic;
  std::vector<TokenRow> tokens;
  std::vector<StringRow> strings;
  std::vector<ReferenceRow> references;
  std::vector<DateRow> dates;
  std::vector<QuantityRow> quantities;
  std::vector<StringRow> uris;
  size_t KindRows() const {
    return tokens.size() + strings.size() + references.size() + dates.size() + quantities.size() +
           uris.size();
  }
};

template <typename T>
void SortUnique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Dates as text for the generic table: the sign bit flipped and 16 hex digits, so that text
// order is time order, including the open ends (INT64_MIN, INT64_MAX) of partial periods.
std::string DateKey(int64_t t) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, static_cast<uint64_t>(t) ^ (uint64_t{1} << 63));
  return buf;
}

class Corpus {
 public:
  static const Corpus& Get() {
    static const Corpus corpus;
    return corpus;
  }
  const std::vector<Resource>& resources() const { return resources_; }

 private:
  Corpus() {
    const SearchParameterRegistry& registry = SearchParameterRegistry::Embedded();
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(SyntheaDir())) {
      if (e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());  // the same order, so the same commits, every run
    json::ParseLimits limits{.max_bytes = 64 << 20, .max_depth = 128};
    for (const fs::path& file : files) {
      auto doc = json::Parse(ReadFileOrDie(file), limits);
      if (!doc) {
        std::fprintf(stderr, "%s: %s\n", file.c_str(), doc.error().ToString().c_str());
        std::exit(1);
      }
      const json::Value* entries = doc->root()->Find("entry");
      if (entries == nullptr || !entries->is_array()) continue;
      for (const json::Value* e : entries->items()) {
        const json::Value* r = e->Find("resource");
        if (r == nullptr) continue;
        Resource res;
        res.json = r;
        res.type = std::string(r->StringOr("resourceType"));
        res.body = json::Write(*r);
        Split(ExtractIndexValues(registry, *r), res);
        resources_.push_back(std::move(res));
      }
      docs_.push_back(std::move(*doc));
    }
    if (resources_.empty()) {
      std::fprintf(stderr, "no resources in %s\n", SyntheaDir().c_str());
      std::exit(1);
    }
  }

  // Integer ids per (parameter, component): a composite's components are indexed under ids of
  // their own in the table of their kind. (The group that pairs components of one item is not
  // stored here: it would be one more integer column, it does not change the write shape.)
  int64_t ParamId(const IndexValue& v) {
    auto [it, added] = param_ids_.try_emplace({v.param, v.component}, param_ids_.size() + 1);
    return it->second;
  }

  void Split(const std::vector<IndexValue>& values, Resource& r) {
    r.values = values.size();
    for (const IndexValue& v : values) {
      const int64_t p = ParamId(v);
      switch (v.type) {
        case SearchParamType::kToken:
          r.tokens.push_back({p, v.system, v.code});
          r.generic.push_back({p, v.system + "|" + v.code});
          break;
        case SearchParamType::kString:
          r.strings.push_back({p, v.value});
          r.generic.push_back({p, v.value});
          break;
        case SearchParamType::kReference:
          // Literal references by type and id; the others (urn:uuid:, #contained, by
          // identifier) as written, with an empty type.
          if (!v.target_id.empty()) {
            r.references.push_back({p, v.target_type, v.target_id});
            r.generic.push_back({p, v.target_type + "/" + v.target_id});
          } else {
            std::string raw = v.value.empty() ? v.system + "|" + v.code : v.value;
            r.references.push_back({p, "", raw});
            r.generic.push_back({p, raw});
          }
          break;
        case SearchParamType::kDate:
          r.dates.push_back({p, v.begin, v.end});
          r.generic.push_back({p, DateKey(v.begin) + DateKey(v.end)});
          break;
        case SearchParamType::kNumber:
        case SearchParamType::kQuantity:
          r.quantities.push_back({p, v.number, v.system, v.code});
          r.generic.push_back({p, v.value + "|" + v.system + "|" + v.code});
          break;
        case SearchParamType::kUri:
          r.uris.push_back({p, v.value});
          r.generic.push_back({p, v.value});
          break;
        case SearchParamType::kComposite:
          break;  // never produced: composites yield their components
      }
    }
    SortUnique(r.generic);
    SortUnique(r.tokens);
    SortUnique(r.strings);
    SortUnique(r.references);
    SortUnique(r.dates);
    SortUnique(r.quantities);
    SortUnique(r.uris);
  }

  std::vector<json::Document> docs_;
  std::vector<Resource> resources_;
  std::map<std::pair<const SearchParameter*, uint8_t>, int64_t> param_ids_;
};

// ---- 1. Extraction -------------------------------------------------------------------------

// ExtractIndexValues over every resource of `type` (all resources when empty). Counters: the
// mean number of index values per resource, in all and by kind.
void BM_Extract(benchmark::State& state, const std::string& type) {
  const SearchParameterRegistry& registry = SearchParameterRegistry::Embedded();
  std::vector<const json::Value*> subset;
  for (const Resource& r : Corpus::Get().resources()) {
    if (type.empty() || r.type == type) subset.push_back(r.json);
  }
  if (subset.empty()) {
    state.SkipWithError("no resources of that type");
    return;
  }
  std::map<SearchParamType, double> by_kind;
  double values = 0;
  size_t next = 0;
  for (auto _ : state) {
    auto v = ExtractIndexValues(registry, *subset[next]);
    benchmark::DoNotOptimize(v);
    if (++next == subset.size()) next = 0;
  }
  for (const json::Value* r : subset) {  // outside the timing: one pass for the counts
    for (const IndexValue& v : ExtractIndexValues(registry, *r)) {
      ++by_kind[v.type];
      ++values;
    }
  }
  const double n = static_cast<double>(subset.size());
  state.SetItemsProcessed(state.iterations());
  state.counters["resources"] = n;
  state.counters["values/res"] = values / n;
  for (auto [kind, count] : by_kind) {
    state.counters[std::string(SearchParamTypeName(kind)).substr(0, 4) + "/res"] = count / n;
  }
}
BENCHMARK_CAPTURE(BM_Extract, all, std::string());
BENCHMARK_CAPTURE(BM_Extract, Patient, std::string("Patient"));
BENCHMARK_CAPTURE(BM_Extract, Observation, std::string("Observation"));
BENCHMARK_CAPTURE(BM_Extract, Encounter, std::string("Encounter"));
BENCHMARK_CAPTURE(BM_Extract, Claim, std::string("Claim"));
BENCHMARK_CAPTURE(BM_Extract, ExplanationOfBenefit, std::string("ExplanationOfBenefit"));

// ---- 2. Writes -----------------------------------------------------------------------------

enum Layout : int64_t { kNone, kGeneric, kPerKind, kPerKindRowid };

constexpr const char* kBodySchema =
    "CREATE TABLE res(res INTEGER PRIMARY KEY, type TEXT NOT NULL, body BLOB NOT NULL);";

// Any of a parameter's values finds the resource by an index seek on (param_id, value); res
// last in every key makes the key unique and lets a search read resource keys off the index.
constexpr const char* kGenericSchema = R"sql(
CREATE TABLE idx(param_id INTEGER, value TEXT, res INTEGER,
                 PRIMARY KEY(param_id, value, res)) WITHOUT ROWID;
)sql";

// Tokens keyed code before system: `code=x` without a system is the common search and stays
// a prefix seek. Dates get a second index on end, for the `lt`/`le`/`eb` side of ranges.
constexpr const char* kPerKindSchema = R"sql(
CREATE TABLE idx_token(param_id INTEGER, code TEXT, system TEXT, res INTEGER,
                       PRIMARY KEY(param_id, code, system, res)) WITHOUT ROWID;
CREATE TABLE idx_string(param_id INTEGER, norm TEXT, res INTEGER,
                        PRIMARY KEY(param_id, norm, res)) WITHOUT ROWID;
CREATE TABLE idx_reference(param_id INTEGER, target_type TEXT, target_id TEXT, res INTEGER,
                           PRIMARY KEY(param_id, target_type, target_id, res)) WITHOUT ROWID;
CREATE TABLE idx_date(param_id INTEGER, begin INTEGER, end INTEGER, res INTEGER,
                      PRIMARY KEY(param_id, begin, end, res)) WITHOUT ROWID;
CREATE INDEX idx_date_end ON idx_date(param_id, end);
CREATE TABLE idx_quantity(param_id INTEGER, value REAL, system TEXT, code TEXT, res INTEGER,
                          PRIMARY KEY(param_id, value, system, code, res)) WITHOUT ROWID;
CREATE TABLE idx_uri(param_id INTEGER, uri TEXT, res INTEGER,
                     PRIMARY KEY(param_id, uri, res)) WITHOUT ROWID;
)sql";

// The same columns in rowid tables: rows append at the end of the table B-tree, and the key
// goes into a secondary index, so each row is written twice (table and index).
constexpr const char* kPerKindRowidSchema = R"sql(
CREATE TABLE idx_token(param_id INTEGER, code TEXT, system TEXT, res INTEGER);
CREATE INDEX idx_token_key ON idx_token(param_id, code, system, res);
CREATE TABLE idx_string(param_id INTEGER, norm TEXT, res INTEGER);
CREATE INDEX idx_string_key ON idx_string(param_id, norm, res);
CREATE TABLE idx_reference(param_id INTEGER, target_type TEXT, target_id TEXT, res INTEGER);
CREATE INDEX idx_reference_key ON idx_reference(param_id, target_type, target_id, res);
CREATE TABLE idx_date(param_id INTEGER, begin INTEGER, end INTEGER, res INTEGER);
CREATE INDEX idx_date_key ON idx_date(param_id, begin, end, res);
CREATE INDEX idx_date_end ON idx_date(param_id, end);
CREATE TABLE idx_quantity(param_id INTEGER, value REAL, system TEXT, code TEXT, res INTEGER);
CREATE INDEX idx_quantity_key ON idx_quantity(param_id, value, system, code, res);
CREATE TABLE idx_uri(param_id INTEGER, uri TEXT, res INTEGER);
CREATE INDEX idx_uri_key ON idx_uri(param_id, uri, res);
)sql";

// A thin owner of one connection and its statements; any SQLite error ends the benchmark
// process, since a half-written run has no meaningful figure.
class Db {
 public:
  explicit Db(const std::string& path) { Check(sqlite3_open(path.c_str(), &db_)); }
  ~Db() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  Db(const Db&) = delete;
  sqlite3* handle() { return db_; }
  Db& operator=(const Db&) = delete;

  void Exec(const std::string& sql) {
    Check(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr));
  }
  sqlite3_stmt* Prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    Check(sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr));
    stmts_.push_back(s);
    return s;
  }
  // Runs a statement whose parameters are bound, then resets it for the next row.
  void Step(sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) Check(rc);
    sqlite3_reset(s);
  }
  int64_t Int(const char* sql) {
    sqlite3_stmt* s = nullptr;
    Check(sqlite3_prepare_v2(db_, sql, -1, &s, nullptr));
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
  }
  // Like Int, but -1 instead of exiting when the statement does not prepare (dbstat may be
  // compiled out).
  int64_t IntOrMinusOne(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return -1;
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
  }

 private:
  void Check(int rc) {
    if (rc == SQLITE_OK) return;
    std::fprintf(stderr, "sqlite: %s\n", db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    std::exit(1);
  }
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> stmts_;
};

struct WalCounter {
  int64_t frames = 0;  // appended in all
  int last = 0;        // frames in the WAL after the previous commit
  static int Hook(void* self, sqlite3* db, const char* name, int wal_frames) {
    auto* c = static_cast<WalCounter*>(self);
    c->frames += wal_frames - c->last;
    c->last = wal_frames;
    if (wal_frames >= 1000) {
      int log = 0, done = 0;
      sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
      if (done == log) c->last = 0;  // the next commit restarts the WAL from its start
    }
    return SQLITE_OK;
  }
};

void BindText(sqlite3_stmt* s, int i, const std::string& text) {
  sqlite3_bind_text(s, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

// Writes one resource and its rows in the given layout; returns the index rows written.
class Writer {
 public:
  Writer(Db& db, Layout layout) : db_(db), layout_(layout) {
    body_ = db.Prepare("INSERT INTO res(res, type, body) VALUES(?, ?, ?)");
    savepoint_ = db.Prepare("SAVEPOINT unit");
    release_ = db.Prepare("RELEASE unit");
    if (layout == kGeneric) {
      generic_ = db.Prepare("INSERT INTO idx(param_id, value, res) VALUES(?, ?, ?)");
    } else if (layout == kPerKind || layout == kPerKindRowid) {
      token_ = db.Prepare("INSERT INTO idx_token(param_id, code, system, res) VALUES(?, ?, ?, ?)");
      string_ = db.Prepare("INSERT INTO idx_string(param_id, norm, res) VALUES(?, ?, ?)");
      reference_ = db.Prepare(
          "INSERT INTO idx_reference(param_id, target_type, target_id, res) VALUES(?, ?, ?, ?)");
      date_ = db.Prepare("INSERT INTO idx_date(param_id, begin, end, res) VALUES(?, ?, ?, ?)");
      quantity_ = db.Prepare(
          "INSERT INTO idx_quantity(param_id, value, system, code, res) VALUES(?, ?, ?, ?, ?)");
      uri_ = db.Prepare("INSERT INTO idx_uri(param_id, uri, res) VALUES(?, ?, ?)");
    }
  }

  size_t Write(const Resource& r, int64_t key, bool savepoint) {
    // The store opens one per unit, so that a failed unit rolls back alone.
    if (savepoint) db_.Step(savepoint_);
    sqlite3_bind_int64(body_, 1, key);
    BindText(body_, 2, r.type);
    sqlite3_bind_blob(body_, 3, r.body.data(), static_cast<int>(r.body.size()), SQLITE_STATIC);
    db_.Step(body_);
    size_t rows = 0;
    switch (layout_) {
      case kNone:
        break;
      case kGeneric:
        for (const GenericRow& g : r.generic) {
          sqlite3_bind_int64(generic_, 1, g.param);
          BindText(generic_, 2, g.value);
          sqlite3_bind_int64(generic_, 3, key);
          db_.Step(generic_);
        }
        rows = r.generic.size();
        break;
      case kPerKind:
      case kPerKindRowid:
        for (const TokenRow& t : r.tokens) {
          sqlite3_bind_int64(token_, 1, t.param);
          BindText(token_, 2, t.code);
          BindText(token_, 3, t.system);
          sqlite3_bind_int64(token_, 4, key);
          db_.Step(token_);
        }
        for (const StringRow& s : r.strings) {
          sqlite3_bind_int64(string_, 1, s.param);
          BindText(string_, 2, s.text);
          sqlite3_bind_int64(string_, 3, key);
          db_.Step(string_);
        }
        for (const ReferenceRow& f : r.references) {
          sqlite3_bind_int64(reference_, 1, f.param);
          BindText(reference_, 2, f.target_type);
          BindText(reference_, 3, f.target_id);
          sqlite3_bind_int64(reference_, 4, key);
          db_.Step(reference_);
        }
        for (const DateRow& d : r.dates) {
          sqlite3_bind_int64(date_, 1, d.param);
          sqlite3_bind_int64(date_, 2, d.begin);
          sqlite3_bind_int64(date_, 3, d.end);
          sqlite3_bind_int64(date_, 4, key);
          db_.Step(date_);
        }
        for (const QuantityRow& q : r.quantities) {
          sqlite3_bind_int64(quantity_, 1, q.param);
          sqlite3_bind_double(quantity_, 2, q.value);
          BindText(quantity_, 3, q.system);
          BindText(quantity_, 4, q.code);
          sqlite3_bind_int64(quantity_, 5, key);
          db_.Step(quantity_);
        }
        for (const StringRow& u : r.uris) {
          sqlite3_bind_int64(uri_, 1, u.param);
          BindText(uri_, 2, u.text);
          sqlite3_bind_int64(uri_, 3, key);
          db_.Step(uri_);
        }
        rows = r.KindRows();
        break;
    }
    if (savepoint) db_.Step(release_);
    return rows;
  }

 private:
  Db& db_;
  Layout layout_;
  sqlite3_stmt* body_ = nullptr;
  sqlite3_stmt* savepoint_ = nullptr;
  sqlite3_stmt* release_ = nullptr;
  sqlite3_stmt* generic_ = nullptr;
  sqlite3_stmt *token_ = nullptr, *string_ = nullptr, *reference_ = nullptr, *date_ = nullptr,
               *quantity_ = nullptr, *uri_ = nullptr;
};

int64_t CommitsForAllPasses(size_t per_commit) {
  const size_t n = Corpus::Get().resources().size() * kPasses;
  return static_cast<int64_t>((n + per_commit - 1) / per_commit);
}

// The knobs beyond the layout; the defaults are the store's.
struct WriteConfig {
  bool durable = true;
  size_t per_commit = kResourcesPerCommit;
  int page_size = kPageSize;
  bool savepoints = true;  // one per resource, as the store has one per unit
};

// One iteration is one commit of config.per_commit resources, taken in order from the
// corpus and wrapping around, each under a new integer key.
void BM_Write(benchmark::State& state, Layout layout, WriteConfig config) {
  const bool durable = config.durable;
  const std::vector<Resource>& resources = Corpus::Get().resources();

  static int run = 0;  // one database per benchmark run, named by its order
  const fs::path path =
      fs::temp_directory_path() /
      ("medulla-index-bench-" + std::to_string(getpid()) + "-" + std::to_string(++run) + ".db");
  auto remove_db = [&] {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  };
  remove_db();
  {
    Db db(path.string());
    // The store's writer settings (src/store/sqlite/sqlite_store.cc), page size first: it
    // only takes effect on an empty database.
    db.Exec("PRAGMA page_size=" + std::to_string(config.page_size));
    db.Exec("PRAGMA journal_mode=WAL");
    db.Exec("PRAGMA temp_store=MEMORY");
    db.Exec(std::string("PRAGMA synchronous=") + (durable ? "FULL" : "NORMAL"));
    db.Exec("PRAGMA cache_size=-65536");
    db.Exec(kBodySchema);
    if (layout == kGeneric) db.Exec(kGenericSchema);
    if (layout == kPerKind) db.Exec(kPerKindSchema);
    if (layout == kPerKindRowid) db.Exec(kPerKindRowidSchema);

    // Counts the WAL frames (pages) each commit appends, and checkpoints at SQLite's default
    // threshold, as the autocheckpoint this hook replaces would.
    WalCounter wal;
    sqlite3_wal_hook(db.handle(), &WalCounter::Hook, &wal);
    Writer writer(db, layout);
    sqlite3_stmt* begin = db.Prepare("BEGIN");
    sqlite3_stmt* commit = db.Prepare("COMMIT");
    int64_t key = 0;
    size_t next = 0;
    double rows = 0;
    double body_bytes = 0;
    for (auto _ : state) {
      db.Step(begin);
      for (size_t i = 0; i < config.per_commit; ++i) {
        const Resource& r = resources[next];
        rows += static_cast<double>(writer.Write(r, ++key, config.savepoints));
        body_bytes += static_cast<double>(r.body.size());
        if (++next == resources.size()) next = 0;
      }
      db.Step(commit);
    }
    const double written = static_cast<double>(key);
    state.SetItemsProcessed(key);
    state.SetBytesProcessed(static_cast<int64_t>(body_bytes));
    // Seconds per resource, shown with an SI prefix (u: microseconds).
    state.counters["t/res"] =
        benchmark::Counter(written, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    // WAL KiB per resource: every page a commit touches is a frame, however little changed.
    state.counters["walKB/res"] =
        static_cast<double>(wal.frames) * config.page_size / 1024 / written;
    state.counters["rows/res"] = rows / written;
    state.counters["rows/s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);

    // Sizes, outside the timing: fold the WAL in, then measure.
    db.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const double db_bytes = static_cast<double>(db.Int("PRAGMA page_count") * config.page_size);
    state.counters["db_MB"] = db_bytes / 1e6;
    if (layout != kNone && rows > 0) {
      // dbstat attributes pages to each B-tree; without it, charge everything beyond the
      // body table's share, estimated as the whole file minus the bodies (an upper bound).
      const int64_t body_table =
          db.IntOrMinusOne("SELECT sum(pgsize) FROM dbstat WHERE name = 'res'");
      const double index_bytes =
          body_table >= 0 ? db_bytes - static_cast<double>(body_table) : db_bytes - body_bytes;
      state.counters["B/row"] = index_bytes / rows;
      state.counters["B/res_idx"] = index_bytes / written;
    }
  }
  // MEDULLA_BENCH_KEEP_DB=1 keeps the databases, to look at them with sqlite3 (dbstat).
  if (std::getenv("MEDULLA_BENCH_KEEP_DB") == nullptr) remove_db();
}

// Registered at run time: the iteration count depends on the corpus, loaded first.
void RegisterWrites() {
  auto add = [](const std::string& name, Layout layout, WriteConfig config) {
    benchmark::RegisterBenchmark(
        ("BM_Write/" + name).c_str(),
        [layout, config](benchmark::State& state) { BM_Write(state, layout, config); })
        ->Iterations(CommitsForAllPasses(config.per_commit))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  };
  const std::pair<Layout, const char*> layouts[] = {{kNone, "none"},
                                                    {kGeneric, "generic"},
                                                    {kPerKind, "per_kind"},
                                                    {kPerKindRowid, "per_kind_rowid"}};
  for (bool durable : {true, false}) {
    for (auto [layout, name] : layouts) {
      add(std::string(name) + (durable ? "/full" : "/normal"), layout, {.durable = durable});
    }
  }
  // What would bring the cost down. Smaller pages: a touched page costs a quarter of the WAL
  // bytes. No savepoint per resource: a savepoint copies each page it first touches into the
  // statement journal, and index rows land on scattered leaf pages. Larger commits without
  // savepoints: what an indexer trailing the commit thread in big batches would pay, since
  // each touched leaf page then takes many rows.
  add("per_kind/full/page_size:4096", kPerKind, {.page_size = 4096});
  add("none/full/no_savepoint", kNone, {.savepoints = false});
  add("per_kind/full/no_savepoint", kPerKind, {.savepoints = false});
  add("per_kind/full/no_savepoint/per_commit:1024", kPerKind,
      {.per_commit = 1024, .savepoints = false});
  add("per_kind/full/no_savepoint/per_commit:8192", kPerKind,
      {.per_commit = 8192, .savepoints = false});
}

}  // namespace

}  // namespace medulla::fhir

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  medulla::fhir::RegisterWrites();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
