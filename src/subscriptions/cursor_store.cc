#include "subscriptions/cursor_store.h"

#include "store/sqlite/sqlite_db.h"

namespace medulla::subscriptions {

using store::sqlite::Db;
using store::sqlite::Stmt;

CursorStore::~CursorStore() = default;

core::Result<std::unique_ptr<CursorStore>> CursorStore::Open(const std::string& path,
                                                             const std::string& vfs,
                                                             int reserve_bytes) {
  std::unique_ptr<CursorStore> s(new CursorStore());
  ASSIGN_OR_RETURN(s->db_, Db::OpenSideFile(path, vfs, reserve_bytes));
  RETURN_IF_ERROR(
      s->db_->Exec("CREATE TABLE IF NOT EXISTS subscription_cursor ("
                   "id TEXT PRIMARY KEY, seq INTEGER NOT NULL, events INTEGER NOT NULL, "
                   "handshake INTEGER NOT NULL) WITHOUT ROWID"));
  return s;
}

core::Result<std::unordered_map<std::string, Cursor>> CursorStore::Load() {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db_->Prepare("SELECT id, seq, events, handshake FROM subscription_cursor"));
  Stmt stmt(raw);
  std::unordered_map<std::string, Cursor> out;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    out[stmt.Text(0)] =
        Cursor{.seq = stmt.Int(1), .events = stmt.Int(2), .handshake = stmt.Int(3) != 0};
  }
  if (rc != SQLITE_DONE) return core::Fail(db_->Error("reading subscription cursors"));
  return out;
}

core::Status CursorStore::Save(const std::string& id, const Cursor& cursor) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db_->Prepare("INSERT INTO subscription_cursor (id, seq, events, handshake) "
                                "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO UPDATE SET "
                                "seq = excluded.seq, events = excluded.events, "
                                "handshake = excluded.handshake"));
  Stmt stmt(raw);
  stmt.Bind(1, std::string_view(id));
  stmt.Bind(2, cursor.seq);
  stmt.Bind(3, cursor.events);
  stmt.Bind(4, int64_t{cursor.handshake ? 1 : 0});
  if (stmt.Step() != SQLITE_DONE) return db_->Error("saving a subscription cursor");
  return core::OkStatus();
}

core::Status CursorStore::Remove(const std::string& id) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   db_->Prepare("DELETE FROM subscription_cursor WHERE id = ?1"));
  Stmt stmt(raw);
  stmt.Bind(1, std::string_view(id));
  if (stmt.Step() != SQLITE_DONE) return db_->Error("removing a subscription cursor");
  return core::OkStatus();
}

}  // namespace medulla::subscriptions
