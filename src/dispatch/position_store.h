// The last reported position of each ambulance, kept durably so that a restart (or kill -9)
// does not forget where the fleet is: a position report is acknowledged only once it is here.
// Its own small SQLite file beside the record (WAL, encrypted like the record when it is), one
// row per ambulance, overwritten by each newer report.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "routing/router.h"

namespace medulla::store::sqlite {
class Db;
}

namespace medulla::dispatch {

struct PositionReport {
  std::string device;  // the ambulance's Device id
  routing::LonLat where;
  int64_t time_ms = 0;  // when the position was taken
};

class PositionStore {
 public:
  // `path` empty: in memory (tests).
  static core::Result<std::unique_ptr<PositionStore>> Open(const std::string& path,
                                                           const std::string& vfs = "",
                                                           int reserve_bytes = 0);
  ~PositionStore();

  core::Result<std::vector<PositionReport>> Load();
  // One transaction; a report older than the one kept for its device changes nothing.
  core::Status Save(std::span<const PositionReport> reports);

 private:
  PositionStore() = default;
  std::unique_ptr<store::sqlite::Db> db_;
};

}  // namespace medulla::dispatch
