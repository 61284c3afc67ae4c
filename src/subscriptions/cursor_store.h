// Where each subscription's delivery stands, kept durably (encrypted like the record when it is) so
// that a restart resumes delivery where it stopped: every event up to `cursor` (a store commit
// sequence number) has been delivered or judged not to match. Its own small SQLite file beside the
// record, written in WAL mode: a process killed with -9 keeps what was written; at worst a
// notification whose cursor was not yet saved is sent again (delivery is at least once, never
// lost).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/status.h"

namespace medulla::store::sqlite {
class Db;
}

namespace medulla::subscriptions {

struct Cursor {
  int64_t seq = 0;         // delivered up to this commit
  int64_t events = 0;      // events-since-subscription-start
  bool handshake = false;  // topic-based: the handshake was delivered
};

class CursorStore {
 public:
  // `path` empty: in memory (tests). `vfs` and `reserve_bytes`: the record's encryption at
  // rest (store/sqlite/encrypted_vfs.h), as for telemetry.db.
  static core::Result<std::unique_ptr<CursorStore>> Open(const std::string& path,
                                                         const std::string& vfs = "",
                                                         int reserve_bytes = 0);
  ~CursorStore();

  core::Result<std::unordered_map<std::string, Cursor>> Load();
  core::Status Save(const std::string& subscription_id, const Cursor& cursor);
  core::Status Remove(const std::string& subscription_id);

 private:
  CursorStore() = default;
  std::unique_ptr<store::sqlite::Db> db_;
};

}  // namespace medulla::subscriptions
