// A bounded in-memory cache of current resource versions, in front of a store's point reads.
//
// Coherence: the commit thread writes through (Put) after a commit and before it acknowledges
// the write, so an acknowledged write is always visible. A reader that missed and loaded from
// the database may insert only if no write touched its shard since the miss (a per-shard
// generation counter), so a slow reader can never put back an older version over a newer one.
// Thread-safe; sharded to keep lock hold times short.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "store/store.h"

namespace medulla::store {

class ResourceCache {
 public:
  explicit ResourceCache(size_t capacity_bytes);

  // What a miss must hand back to InsertIfUnchanged.
  struct Ticket {
    size_t shard;
    uint64_t generation;
  };

  // A hit returns the cached current version (possibly a deletion marker: check deleted()).
  std::optional<VersionRecord> Get(const std::string& type, const std::string& id,
                                   Ticket* miss_ticket);
  // After a miss: caches what the reader loaded unless a write came in between.
  void InsertIfUnchanged(const Ticket& ticket, const VersionRecord& record);
  // Write-through from the commit thread: the new current version (or tombstone).
  void Put(const VersionRecord& record);

  size_t bytes() const;

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    std::string key;
    VersionRecord record;
    size_t bytes;
  };
  struct Shard {
    std::mutex mu;
    std::list<Entry> lru;  // front = most recently used
    std::unordered_map<std::string, std::list<Entry>::iterator> index;
    size_t bytes = 0;
    uint64_t generation = 0;
  };
  static std::string Key(const std::string& type, const std::string& id);
  size_t ShardOf(const std::string& key) const;
  void InsertLocked(Shard& shard, std::string key, const VersionRecord& record);

  size_t capacity_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace medulla::store
