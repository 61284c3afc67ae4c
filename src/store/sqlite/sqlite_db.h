// Thin RAII wrappers over the SQLite C API: a connection, cached prepared statements, and
// error mapping to core::Status. Not thread-safe: one owner thread at a time.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"

namespace medulla::store::sqlite {

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// A prepared statement in use: reset and unbound when it goes out of scope.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  sqlite3_stmt* get() const { return s_; }

  void Bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  // The text must outlive the statement's use (SQLITE_STATIC: no copy).
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindNull(int i) { sqlite3_bind_null(s_, i); }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(s_); }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const {
    const void* p = sqlite3_column_blob(s_, col);
    int n = sqlite3_column_bytes(s_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_;
};

class Db {
 public:
  // A small file of its own beside the record (subscription cursors, ambulance positions):
  // `path` empty is in memory (tests); `vfs` and `reserve_bytes` seal it like the record
  // (encrypted_vfs.h; the reserve takes effect when the file is created). WAL with
  // synchronous=NORMAL: a committed write survives the process being killed.
  static core::Result<std::unique_ptr<Db>> OpenSideFile(const std::string& path,
                                                        const std::string& vfs, int reserve_bytes);
  // `vfs`: an SQLite VFS name, empty for the default (tests inject faults through their own).
  static core::Result<std::unique_ptr<Db>> Open(const std::string& path, bool read_only,
                                                const std::string& vfs = "");
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return db_; }
  core::Status Exec(std::string_view sql);
  // Runs one statement through the prepared-statement cache (for hot fixed statements such as
  // SAVEPOINT, where sqlite3_exec would parse the SQL on every call).
  core::Status Run(const std::string& sql);
  // A cached prepared statement for this SQL text.
  core::Result<sqlite3_stmt*> Prepare(const std::string& sql);
  core::Status Error(std::string_view what) const;

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, StmtPtr> cache_;
};

}  // namespace medulla::store::sqlite
