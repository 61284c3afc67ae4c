#include "dispatch/position_store.h"

#include "store/sqlite/sqlite_db.h"

namespace medulla::dispatch {

using store::sqlite::Db;
using store::sqlite::Stmt;

PositionStore::~PositionStore() = default;

core::Result<std::unique_ptr<PositionStore>> PositionStore::Open(const std::string& path,
                                                                 const std::string& vfs,
                                                                 int reserve_bytes) {
  std::unique_ptr<PositionStore> s(new PositionStore());
  ASSIGN_OR_RETURN(s->db_, Db::OpenSideFile(path, vfs, reserve_bytes));
  RETURN_IF_ERROR(
      s->db_->Exec("CREATE TABLE IF NOT EXISTS ambulance_position ("
                   "device TEXT PRIMARY KEY, lon REAL NOT NULL, lat REAL NOT NULL, "
                   "time_ms INTEGER NOT NULL) WITHOUT ROWID"));
  return s;
}

core::Result<std::vector<PositionReport>> PositionStore::Load() {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db_->Prepare("SELECT device, lon, lat, time_ms FROM ambulance_position"));
  Stmt stmt(raw);
  std::vector<PositionReport> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    out.push_back({stmt.Text(0),
                   {sqlite3_column_double(raw, 1), sqlite3_column_double(raw, 2)},
                   stmt.Int(3)});
  }
  if (rc != SQLITE_DONE) return core::Fail(db_->Error("reading ambulance positions"));
  return out;
}

core::Status PositionStore::Save(std::span<const PositionReport> reports) {
  RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  // Whatever fails below leaves no transaction open behind it.
  auto rollback = [&](core::Status error) {
    (void)db_->Exec("ROLLBACK");
    return error;
  };
  auto prepared = db_->Prepare(
      "INSERT INTO ambulance_position (device, lon, lat, time_ms) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(device) DO UPDATE SET "
      "lon = excluded.lon, lat = excluded.lat, "
      "time_ms = excluded.time_ms "
      "WHERE excluded.time_ms >= ambulance_position.time_ms");
  if (!prepared) return rollback(prepared.error());
  sqlite3_stmt* raw = *prepared;
  Stmt stmt(raw);
  for (const PositionReport& r : reports) {
    sqlite3_reset(raw);
    stmt.Bind(1, std::string_view(r.device));
    sqlite3_bind_double(raw, 2, r.where.lon);
    sqlite3_bind_double(raw, 3, r.where.lat);
    stmt.Bind(4, r.time_ms);
    if (stmt.Step() != SQLITE_DONE) return rollback(db_->Error("saving an ambulance position"));
  }
  if (core::Status committed = db_->Exec("COMMIT"); !committed.ok()) return rollback(committed);
  return core::OkStatus();
}

}  // namespace medulla::dispatch
