#include "store/sqlite/search_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace medulla::store::sqlite {

const char kSearchIndexSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS search_params(pid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS ix_string(
  pid INTEGER NOT NULL, value TEXT NOT NULL, rk INTEGER NOT NULL, exact TEXT NOT NULL,
  PRIMARY KEY(pid, value, rk, exact)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix_token(
  pid INTEGER NOT NULL, code TEXT NOT NULL, rk INTEGER NOT NULL, system TEXT NOT NULL,
  PRIMARY KEY(pid, code, rk, system)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix_reference(
  pid INTEGER NOT NULL, target_id TEXT NOT NULL, rk INTEGER NOT NULL, target_type TEXT NOT NULL,
  PRIMARY KEY(pid, target_id, rk, target_type)) WITHOUT ROWID;
-- rk-first access to references: forward _include and reverse chains (_has).
CREATE INDEX IF NOT EXISTS ix_reference_by_rk ON ix_reference(pid, rk);
CREATE TABLE IF NOT EXISTS ix_uri(
  pid INTEGER NOT NULL, value TEXT NOT NULL, rk INTEGER NOT NULL,
  PRIMARY KEY(pid, value, rk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix_date(
  pid INTEGER NOT NULL, rk INTEGER NOT NULL, begin INTEGER NOT NULL, end INTEGER NOT NULL,
  PRIMARY KEY(pid, rk, begin, end)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix_number(
  pid INTEGER NOT NULL, rk INTEGER NOT NULL, value REAL NOT NULL,
  PRIMARY KEY(pid, rk, value)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix_quantity(
  pid INTEGER NOT NULL, rk INTEGER NOT NULL, value REAL NOT NULL, system TEXT NOT NULL,
  code TEXT NOT NULL, unit TEXT NOT NULL, canonical_value REAL, canonical_code TEXT NOT NULL,
  PRIMARY KEY(pid, rk, value, system, code, unit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ix_present(
  pid INTEGER NOT NULL, rk INTEGER NOT NULL, sort_key,
  PRIMARY KEY(pid, rk)) WITHOUT ROWID;
)sql";

namespace {

std::string Key(std::string_view type, std::string_view param, std::string_view suffix) {
  return fmt::format("{}.{}{}", type, param, suffix);
}

std::string CompositeSuffix(size_t component) {
  return fmt::format("${}", component);
}

template <typename T>
void SortUnique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Elements of sorted `a` that are not in sorted `b`.
template <typename T>
std::vector<const T*> Minus(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<const T*> out;
  auto j = b.begin();
  for (const T& x : a) {
    while (j != b.end() && *j < x) ++j;
    if (j == b.end() || !(*j == x)) out.push_back(&x);
  }
  return out;
}

void Keep(std::map<int64_t, IndexRows::SortKey>& smallest, int64_t pid, IndexRows::SortKey key) {
  auto [it, inserted] = smallest.try_emplace(pid, key);
  if (!inserted && key < it->second) it->second = std::move(key);
}

// Runs `sql` once per row, binding with `bind(stmt, row)`.
template <typename Row, typename BindFn>
core::Status RunEach(Db& db, const std::string& sql, const std::vector<const Row*>& rows,
                     BindFn bind) {
  if (rows.empty()) return core::OkStatus();
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare(sql));
  for (const Row* row : rows) {
    Stmt stmt(raw);
    bind(stmt, *row);
    if (stmt.Step() != SQLITE_DONE) return db.Error("search index");
  }
  return core::OkStatus();
}

}  // namespace

core::Result<ParamIds> ParamIds::Load(Db& db, const fhir::SearchParameterRegistry& registry) {
  ParamIds ids;
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare("SELECT pid, name FROM search_params"));
    Stmt stmt(raw);
    int rc;
    while ((rc = stmt.Step()) == SQLITE_ROW) ids.ids_.emplace(stmt.Text(1), stmt.Int(0));
    if (rc != SQLITE_DONE) return core::Fail(db.Error("load search parameter ids"));
  }
  std::vector<std::string> missing;
  auto want = [&](std::string key) {
    if (!ids.ids_.contains(key)) missing.push_back(std::move(key));
  };
  for (const std::string& type : registry.definitions().ResourceTypes()) {
    for (const fhir::SearchParameter& p : registry.ForType(type)) {
      want(Key(type, p.name, ""));
      if (p.type == fhir::SearchParamType::kToken) want(Key(type, p.name, ":text"));
      if (p.type == fhir::SearchParamType::kReference) want(Key(type, p.name, ":identifier"));
      for (size_t c = 0; c < p.components.size(); ++c) want(Key(type, p.name, CompositeSuffix(c)));
    }
  }
  if (missing.empty()) return ids;
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare("INSERT INTO search_params(name) VALUES(?)"));
  for (const std::string& key : missing) {
    Stmt stmt(raw);
    stmt.Bind(1, std::string_view(key));
    if (stmt.Step() != SQLITE_DONE) {
      core::Status error = db.Error("assign search parameter ids");
      (void)db.Exec("ROLLBACK");
      return core::Fail(error);
    }
    ids.ids_.emplace(key, sqlite3_last_insert_rowid(db.handle()));
  }
  RETURN_IF_ERROR(db.Exec("COMMIT"));
  return ids;
}

std::optional<int64_t> ParamIds::Find(std::string_view type, std::string_view param,
                                      std::string_view suffix) const {
  auto it = ids_.find(Key(type, param, suffix));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

namespace {

IndexRows::Reference ReferenceRow(int64_t pid, const fhir::IndexValue& v) {
  if (!v.target_id.empty()) return {pid, v.target_id, v.target_type};
  return {pid, v.value, ""};
}

IndexRows::Quantity QuantityRow(int64_t pid, const fhir::IndexValue& v) {
  IndexRows::Quantity q{pid, v.number, v.system, v.code, v.unit, std::nullopt, ""};
  if (v.canonical_number) {
    q.canonical_value = v.canonical_number;
    q.canonical_code = v.canonical_code;
  }
  return q;
}

// Whether a component value gives a row (AddCompositeComponent adds one).
bool Searchable(const fhir::IndexValue& v) {
  using fhir::SearchParamType;
  switch (v.type) {
    case SearchParamType::kString:
    case SearchParamType::kReference:
      return !v.value.empty();
    case SearchParamType::kToken:
      return !v.code.empty();  // display text is not searchable in composites
    case SearchParamType::kComposite:
      return false;
    default:
      return true;
  }
}

// The composite items (by group) that have a searchable value for every component: only they
// can match a composite search, so only they are indexed. Most Observations are an item of
// code-value-concept, -string and -date with a code but no such value; their code rows would
// be a third of ix_token.
std::set<uint32_t> CompleteItems(std::span<const fhir::IndexValue> values) {
  std::map<uint32_t, uint64_t> seen;  // group -> components with a value (bit per component)
  std::map<uint32_t, size_t> wanted;  // group -> its parameter's component count
  for (const fhir::IndexValue& v : values) {
    if (v.param == nullptr || v.param->type != fhir::SearchParamType::kComposite) continue;
    wanted[v.group] = v.param->components.size();
    if (Searchable(v) && v.component < 64) seen[v.group] |= uint64_t{1} << v.component;
  }
  std::set<uint32_t> complete;
  for (const auto& [group, n] : wanted) {
    uint64_t all = n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
    if (seen[group] == all) complete.insert(group);
  }
  return complete;
}

// One component value of a composite item, as a row of its type's table under `pid` (the
// component's key). False when the value has nothing searchable.
bool AddCompositeComponent(IndexRows& rows, int64_t pid, const fhir::IndexValue& v) {
  using fhir::SearchParamType;
  if (!Searchable(v)) return false;
  switch (v.type) {
    case SearchParamType::kString:
      rows.strings.push_back({pid, v.value, v.exact, v.group});
      return true;
    case SearchParamType::kToken:
      rows.tokens.push_back({pid, v.code, v.system, v.group});
      return true;
    case SearchParamType::kReference: {
      IndexRows::Reference r = ReferenceRow(pid, v);
      r.group = v.group;
      rows.references.push_back(std::move(r));
      return true;
    }
    case SearchParamType::kUri:
      rows.uris.push_back({pid, v.value, v.group});
      return true;
    case SearchParamType::kDate:
      rows.dates.push_back({pid, v.begin, v.end, v.group});
      return true;
    case SearchParamType::kNumber:
      rows.numbers.push_back({pid, v.number, v.group});
      return true;
    case SearchParamType::kQuantity: {
      IndexRows::Quantity q = QuantityRow(pid, v);
      q.group = v.group;
      rows.quantities.push_back(std::move(q));
      return true;
    }
    case SearchParamType::kComposite:
      return false;
  }
  return false;
}

}  // namespace

// Bump when the extraction or the row layout changes, so existing indexes are rebuilt.
constexpr int kIndexFormat =
    4;  // 2: canonical UCUM quantities; 3: composites; 4: complete items only

std::string SearchIndexFingerprint(const fhir::SearchParameterRegistry& registry) {
  // FNV-1a, 64 bits: a change detector, not a security measure.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  };
  for (const std::string& type : registry.definitions().ResourceTypes()) {
    mix(type);
    for (const fhir::SearchParameter& p : registry.ForType(type)) {
      mix(p.name);
      mix(fhir::SearchParamTypeName(p.type));
      mix(p.expression.text());
      for (const auto& c : p.components) mix(c.expression.text());
    }
  }
  return fmt::format("{}:{:016x}", kIndexFormat, h);
}

IndexRows BuildIndexRows(std::string_view type, std::span<const fhir::IndexValue> values,
                         const ParamIds& ids) {
  using fhir::SearchParamType;
  IndexRows rows;
  std::map<int64_t, IndexRows::SortKey> smallest;
  const std::set<uint32_t> complete = CompleteItems(values);
  for (const fhir::IndexValue& v : values) {
    if (v.param == nullptr) continue;
    const bool composite = v.param->type == SearchParamType::kComposite;
    if (composite && (v.group >= kCompositeGroups || !complete.contains(v.group))) continue;
    std::optional<int64_t> pid = ids.Find(type, v.param->name);
    if (!pid) continue;
    if (composite) {
      // The component's rows go under "param$<component>", keyed by the item (group); the
      // composite itself only records presence, for :missing (it is not sortable).
      std::optional<int64_t> cpid = ids.Find(type, v.param->name, CompositeSuffix(v.component));
      if (!cpid) continue;
      if (AddCompositeComponent(rows, *cpid, v)) Keep(smallest, *pid, int64_t{0});
      continue;
    }
    switch (v.type) {
      case SearchParamType::kString:
        rows.strings.push_back({*pid, v.value, v.exact});
        Keep(smallest, *pid, v.value);
        break;
      case SearchParamType::kToken:
        if (!v.code.empty()) {
          rows.tokens.push_back({*pid, v.code, v.system});
          Keep(smallest, *pid, v.code);
        }
        if (!v.display.empty()) {
          if (auto text = ids.Find(type, v.param->name, ":text"))
            rows.strings.push_back({*text, v.display, v.display});
          if (v.code.empty()) Keep(smallest, *pid, v.display);
        }
        break;
      case SearchParamType::kReference:
        if (!v.value.empty()) {
          rows.references.push_back(ReferenceRow(*pid, v));
          Keep(smallest, *pid, v.value);
        } else if (!v.code.empty()) {
          if (auto ident = ids.Find(type, v.param->name, ":identifier"))
            rows.tokens.push_back({*ident, v.code, v.system});
          Keep(smallest, *pid, v.code);
        }
        break;
      case SearchParamType::kUri:
        rows.uris.push_back({*pid, v.value});
        Keep(smallest, *pid, v.value);
        break;
      case SearchParamType::kDate:
        rows.dates.push_back({*pid, v.begin, v.end});
        Keep(smallest, *pid, v.begin);
        break;
      case SearchParamType::kNumber:
        rows.numbers.push_back({*pid, v.number});
        Keep(smallest, *pid, v.number);
        break;
      case SearchParamType::kQuantity:
        rows.quantities.push_back(QuantityRow(*pid, v));
        Keep(smallest, *pid, v.number);
        break;
      case SearchParamType::kComposite:
        break;
    }
  }
  for (auto& [pid, key] : smallest) rows.present.push_back({pid, std::move(key)});
  SortUnique(rows.strings);
  SortUnique(rows.tokens);
  SortUnique(rows.references);
  SortUnique(rows.uris);
  SortUnique(rows.dates);
  SortUnique(rows.numbers);
  SortUnique(rows.quantities);
  return rows;
}

namespace {

void BindSortKey(Stmt& stmt, int i, const IndexRows::SortKey& key) {
  if (const auto* n = std::get_if<int64_t>(&key)) {
    stmt.Bind(i, *n);
  } else if (const auto* d = std::get_if<double>(&key)) {
    sqlite3_bind_double(stmt.get(), i, *d);
  } else {
    stmt.Bind(i, std::string_view(std::get<std::string>(key)));
  }
}

void BindDouble(Stmt& stmt, int i, double v) {
  sqlite3_bind_double(stmt.get(), i, v);
}

}  // namespace

namespace {

// Binds one row's columns in the order of both its DELETE's WHERE and its INSERT's VALUES
// (SQLite ignores bindings past a statement's last parameter: DELETE has fewer).
void BindRow(Stmt& s, int64_t rk, const IndexRows::String& r) {
  s.Bind(1, r.pid);
  s.Bind(2, std::string_view(r.value));
  s.Bind(3, IndexRowKey(rk, r.group));
  s.Bind(4, std::string_view(r.exact));
}
void BindRow(Stmt& s, int64_t rk, const IndexRows::Token& r) {
  s.Bind(1, r.pid);
  s.Bind(2, std::string_view(r.code));
  s.Bind(3, IndexRowKey(rk, r.group));
  s.Bind(4, std::string_view(r.system));
}
void BindRow(Stmt& s, int64_t rk, const IndexRows::Reference& r) {
  s.Bind(1, r.pid);
  s.Bind(2, std::string_view(r.target_id));
  s.Bind(3, IndexRowKey(rk, r.group));
  s.Bind(4, std::string_view(r.target_type));
}
void BindRow(Stmt& s, int64_t rk, const IndexRows::Uri& r) {
  s.Bind(1, r.pid);
  s.Bind(2, std::string_view(r.value));
  s.Bind(3, IndexRowKey(rk, r.group));
}
void BindRow(Stmt& s, int64_t rk, const IndexRows::Date& r) {
  s.Bind(1, r.pid);
  s.Bind(2, IndexRowKey(rk, r.group));
  s.Bind(3, r.begin);
  s.Bind(4, r.end);
}
void BindRow(Stmt& s, int64_t rk, const IndexRows::Number& r) {
  s.Bind(1, r.pid);
  s.Bind(2, IndexRowKey(rk, r.group));
  BindDouble(s, 3, r.value);
}
void BindRow(Stmt& s, int64_t rk, const IndexRows::Quantity& r) {
  s.Bind(1, r.pid);
  s.Bind(2, IndexRowKey(rk, r.group));
  BindDouble(s, 3, r.value);
  s.Bind(4, std::string_view(r.system));
  s.Bind(5, std::string_view(r.code));
  s.Bind(6, std::string_view(r.unit));
  if (r.canonical_value) {
    BindDouble(s, 7, *r.canonical_value);
  } else {
    s.BindNull(7);
  }
  s.Bind(8, std::string_view(r.canonical_code));
}
void BindRow(Stmt& s, int64_t rk, const IndexRows::Present& r) {
  s.Bind(1, r.pid);
  s.Bind(2, rk);
  BindSortKey(s, 3, r.sort_key);
}

// The statements of one index table: delete a row by its whole key, insert a row.
struct TableSql {
  const char* remove;
  const char* insert;
};
constexpr TableSql kStringSql{
    "DELETE FROM ix_string WHERE pid=?1 AND value=?2 AND rk=?3 AND exact=?4",
    "INSERT INTO ix_string(pid, value, rk, exact) VALUES(?1, ?2, ?3, ?4)"};
constexpr TableSql kTokenSql{
    "DELETE FROM ix_token WHERE pid=?1 AND code=?2 AND rk=?3 AND system=?4",
    "INSERT INTO ix_token(pid, code, rk, system) VALUES(?1, ?2, ?3, ?4)"};
constexpr TableSql kReferenceSql{
    "DELETE FROM ix_reference WHERE pid=?1 AND target_id=?2 AND rk=?3 AND target_type=?4",
    "INSERT INTO ix_reference(pid, target_id, rk, target_type) VALUES(?1, ?2, ?3, ?4)"};
constexpr TableSql kUriSql{"DELETE FROM ix_uri WHERE pid=?1 AND value=?2 AND rk=?3",
                           "INSERT INTO ix_uri(pid, value, rk) VALUES(?1, ?2, ?3)"};
constexpr TableSql kDateSql{"DELETE FROM ix_date WHERE pid=?1 AND rk=?2 AND begin=?3 AND end=?4",
                            "INSERT INTO ix_date(pid, rk, begin, end) VALUES(?1, ?2, ?3, ?4)"};
constexpr TableSql kNumberSql{"DELETE FROM ix_number WHERE pid=?1 AND rk=?2 AND value=?3",
                              "INSERT INTO ix_number(pid, rk, value) VALUES(?1, ?2, ?3)"};
constexpr TableSql kQuantitySql{
    "DELETE FROM ix_quantity WHERE pid=?1 AND rk=?2 AND value=?3 AND system=?4 AND code=?5 AND "
    "unit=?6",
    "INSERT INTO ix_quantity(pid, rk, value, system, code, unit, canonical_value, "
    "canonical_code) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"};
constexpr TableSql kPresentSql{"DELETE FROM ix_present WHERE pid=?1 AND rk=?2",
                               "INSERT INTO ix_present(pid, rk, sort_key) VALUES(?1, ?2, ?3)"};

template <typename Row>
core::Status Apply(Db& db, const TableSql& sql, int64_t rk, const std::vector<Row>& before,
                   const std::vector<Row>& after, bool deleting) {
  if (deleting) {
    return RunEach<Row>(db, sql.remove, Minus(before, after),
                        [&](Stmt& s, const Row& r) { BindRow(s, rk, r); });
  }
  return RunEach<Row>(db, sql.insert, Minus(after, before),
                      [&](Stmt& s, const Row& r) { BindRow(s, rk, r); });
}

}  // namespace

core::Status WriteIndexDiff(Db& db, int64_t rk, const IndexRows& before, const IndexRows& after) {
  // Deletes first: a row that only changed its sort key is deleted and inserted again.
  for (bool deleting : {true, false}) {
    RETURN_IF_ERROR(Apply(db, kStringSql, rk, before.strings, after.strings, deleting));
    RETURN_IF_ERROR(Apply(db, kTokenSql, rk, before.tokens, after.tokens, deleting));
    RETURN_IF_ERROR(Apply(db, kReferenceSql, rk, before.references, after.references, deleting));
    RETURN_IF_ERROR(Apply(db, kUriSql, rk, before.uris, after.uris, deleting));
    RETURN_IF_ERROR(Apply(db, kDateSql, rk, before.dates, after.dates, deleting));
    RETURN_IF_ERROR(Apply(db, kNumberSql, rk, before.numbers, after.numbers, deleting));
    RETURN_IF_ERROR(Apply(db, kQuantitySql, rk, before.quantities, after.quantities, deleting));
    RETURN_IF_ERROR(Apply(db, kPresentSql, rk, before.present, after.present, deleting));
  }
  return core::OkStatus();
}

}  // namespace medulla::store::sqlite
