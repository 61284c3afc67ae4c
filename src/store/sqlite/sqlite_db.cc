#include "store/sqlite/sqlite_db.h"

#include <fmt/format.h>

namespace medulla::store::sqlite {

core::Result<std::unique_ptr<Db>> Db::OpenSideFile(const std::string& path, const std::string& vfs,
                                                   int reserve_bytes) {
  ASSIGN_OR_RETURN(auto db, Open(path.empty() ? ":memory:" : path, false, vfs));
  if (reserve_bytes > 0 && sqlite3_file_control(db->handle(), "main", SQLITE_FCNTL_RESERVE_BYTES,
                                                &reserve_bytes) != SQLITE_OK) {
    // Room at the end of each page for the encrypted VFS's salt and tag.
    return core::Fail(db->Error("reserve bytes for encryption"));
  }
  RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  return db;
}

core::Result<std::unique_ptr<Db>> Db::Open(const std::string& path, bool read_only,
                                           const std::string& vfs) {
  sqlite3* handle = nullptr;
  // NOMUTEX: each connection is used by one thread at a time; the store guarantees that.
  int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string msg = handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close(handle);
    return core::Fail(core::Internal(fmt::format("cannot open {}: {}", path, msg)));
  }
  sqlite3_extended_result_codes(handle, 1);
  sqlite3_busy_timeout(handle, 10000);
  return std::unique_ptr<Db>(new Db(handle));
}

Db::~Db() {
  cache_.clear();  // statements must be finalised before the connection closes
  sqlite3_close(db_);
}

core::Status Db::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return core::Internal(fmt::format("sqlite: {} (in: {:.60})", msg, text));
  }
  return core::OkStatus();
}

core::Status Db::Run(const std::string& sql) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(sql));
  Stmt stmt(raw);
  int rc = stmt.Step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return Error(sql);
  return core::OkStatus();
}

core::Result<sqlite3_stmt*> Db::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second.get();
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return core::Fail(Error("prepare"));
  // Bounded: the statements are a fixed set plus search shapes; drop all if it ever grows.
  if (cache_.size() > 256) cache_.clear();
  cache_.emplace(sql, StmtPtr(stmt));
  return stmt;
}

core::Status Db::Error(std::string_view what) const {
  return core::Internal(fmt::format("sqlite {}: {}", what, sqlite3_errmsg(db_)));
}

}  // namespace medulla::store::sqlite
