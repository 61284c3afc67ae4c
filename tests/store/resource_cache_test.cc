#include "store/resource_cache.h"

#include <gtest/gtest.h>

namespace medulla::store {
namespace {

VersionRecord Rec(std::string id, int64_t version, size_t body_bytes = 100,
                  Operation op = Operation::kUpdate) {
  VersionRecord r;
  r.type = "Patient";
  r.id = std::move(id);
  r.version = version;
  r.seq = version;
  r.operation = op;
  if (op != Operation::kDelete) r.body = std::string(body_bytes, 'x');
  return r;
}

TEST(ResourceCacheTest, PutThenGetHits) {
  ResourceCache cache(1 << 20);
  cache.Put(Rec("a", 1));
  auto hit = cache.Get("Patient", "a", nullptr);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->version, 1);
  EXPECT_FALSE(cache.Get("Patient", "b", nullptr));
}

TEST(ResourceCacheTest, ReaderCannotOverwriteANewerWrite) {
  ResourceCache cache(1 << 20);
  ResourceCache::Ticket ticket;
  ASSERT_FALSE(cache.Get("Patient", "a", &ticket));  // a reader misses, goes to the database...
  cache.Put(Rec("a", 2));                            // ...a write of version 2 lands...
  cache.InsertIfUnchanged(ticket, Rec("a", 1));      // ...and the reader brings back version 1
  EXPECT_EQ(cache.Get("Patient", "a", nullptr)->version, 2);
}

TEST(ResourceCacheTest, MissWithoutRaceIsCached) {
  ResourceCache cache(1 << 20);
  ResourceCache::Ticket ticket;
  ASSERT_FALSE(cache.Get("Patient", "a", &ticket));
  cache.InsertIfUnchanged(ticket, Rec("a", 1));
  EXPECT_TRUE(cache.Get("Patient", "a", nullptr));
}

TEST(ResourceCacheTest, TombstonesAreCached) {
  ResourceCache cache(1 << 20);
  cache.Put(Rec("a", 1));
  cache.Put(Rec("a", 2, 0, Operation::kDelete));
  auto hit = cache.Get("Patient", "a", nullptr);
  ASSERT_TRUE(hit);
  EXPECT_TRUE(hit->deleted());
}

TEST(ResourceCacheTest, StaysWithinCapacity) {
  ResourceCache cache(16 * 8 * 1024);  // 8 KiB per shard
  for (int i = 0; i < 1000; ++i) {
    std::string id = "p";
    id += std::to_string(i);  // not "p" + ...: g++ 12 warns falsely (-Wrestrict, PR105329)
    cache.Put(Rec(id, 1, 1000));
  }
  EXPECT_LE(cache.bytes(), 16u * 8 * 1024);
  EXPECT_TRUE(cache.Get("Patient", "p999", nullptr));  // most recent survives
}

TEST(ResourceCacheTest, ZeroCapacityCachesNothing) {
  ResourceCache cache(0);
  cache.Put(Rec("a", 1));
  EXPECT_FALSE(cache.Get("Patient", "a", nullptr));
}

}  // namespace
}  // namespace medulla::store
