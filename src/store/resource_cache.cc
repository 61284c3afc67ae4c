#include "store/resource_cache.h"

#include <functional>

namespace medulla::store {

ResourceCache::ResourceCache(size_t capacity_bytes)
    : capacity_per_shard_(capacity_bytes / kShards) {}

std::string ResourceCache::Key(const std::string& type, const std::string& id) {
  std::string key;
  key.reserve(type.size() + id.size() + 1);
  key += type;
  key += '/';
  key += id;
  return key;
}

size_t ResourceCache::ShardOf(const std::string& key) const {
  return std::hash<std::string>{}(key) % kShards;
}

std::optional<VersionRecord> ResourceCache::Get(const std::string& type, const std::string& id,
                                                Ticket* miss_ticket) {
  std::string key = Key(type, id);
  size_t s = ShardOf(key);
  Shard& shard = shards_[s];
  std::lock_guard lock(shard.mu);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) {
    if (miss_ticket) *miss_ticket = Ticket{s, shard.generation};
    return std::nullopt;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  return it->second->record;
}

void ResourceCache::InsertIfUnchanged(const Ticket& ticket, const VersionRecord& record) {
  if (capacity_per_shard_ == 0) return;
  Shard& shard = shards_[ticket.shard];
  std::lock_guard lock(shard.mu);
  if (shard.generation != ticket.generation) return;  // a write raced with this read
  InsertLocked(shard, Key(record.type, record.id), record);
}

void ResourceCache::Put(const VersionRecord& record) {
  std::string key = Key(record.type, record.id);
  Shard& shard = shards_[ShardOf(key)];
  std::lock_guard lock(shard.mu);
  ++shard.generation;
  if (capacity_per_shard_ == 0) return;
  InsertLocked(shard, std::move(key), record);
}

void ResourceCache::InsertLocked(Shard& shard, std::string key, const VersionRecord& record) {
  size_t bytes = record.body.size() + key.size() * 2 + 128;
  if (bytes > capacity_per_shard_ / 4) {
    // Too big to be worth caching; drop any older entry so it cannot be served.
    auto old = shard.index.find(key);
    if (old != shard.index.end()) {
      shard.bytes -= old->second->bytes;
      shard.lru.erase(old->second);
      shard.index.erase(old);
    }
    return;
  }
  auto it = shard.index.find(key);
  if (it != shard.index.end()) {
    shard.bytes -= it->second->bytes;
    it->second->record = record;
    it->second->bytes = bytes;
    shard.bytes += bytes;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  } else {
    shard.lru.push_front(Entry{key, record, bytes});
    shard.index.emplace(std::move(key), shard.lru.begin());
    shard.bytes += bytes;
  }
  while (shard.bytes > capacity_per_shard_ && !shard.lru.empty()) {
    Entry& victim = shard.lru.back();
    shard.bytes -= victim.bytes;
    shard.index.erase(victim.key);
    shard.lru.pop_back();
  }
}

size_t ResourceCache::bytes() const {
  size_t total = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(const_cast<std::mutex&>(s.mu));
    total += s.bytes;
  }
  return total;
}

}  // namespace medulla::store
