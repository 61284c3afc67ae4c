// Per-client request rate limits: a token bucket per key (an OAuth client, or the address of a
// caller without a valid token), as RFC 6585 §4 and RFC 9110 §10.2.3 describe the answer: 429
// Too Many Requests with Retry-After.
//
// A bucket holds up to `burst` requests and refills at `per_second`; a request takes one. A
// client that keeps under the rate is never refused, a client that bursts is refused only
// after `burst` requests in a row, and a refused one learns in Retry-After when one request
// will be admitted again.
//
// Memory is bounded: the keys live in shards of at most `max_keys / kShards` buckets each. A
// full shard first forgets buckets that have refilled (forgetting them changes nothing), then
// the one idle longest.
// Thread-safety: Admit may be called from any number of threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time.h"

namespace medulla::security {

struct RateLimit {
  double per_second = 0;  // 0: no limit
  double burst = 0;       // the bucket's size (at least 1)
};

class RateLimiter {
 public:
  static constexpr size_t kShards = 16;

  RateLimiter(RateLimit limit, const core::Clock& clock, size_t max_keys = 100'000);

  struct Decision {
    bool admitted = true;
    int64_t retry_after_seconds = 0;  // when refused: whole seconds until a request is admitted
  };
  // Takes one request from `key`'s bucket.
  Decision Admit(std::string_view key);

  bool enabled() const { return limit_.per_second > 0; }
  // Keys with a bucket now (for tests and metrics).
  size_t keys() const;

 private:
  struct Bucket {
    double tokens = 0;
    core::MicrosSinceEpoch last = 0;  // when `tokens` was last brought up to date
  };
  // Lookups by string_view without a temporary std::string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket, KeyHash, std::equal_to<>> buckets;  // GUARDED_BY(mu)
  };
  // Makes room for one more bucket in a full shard (its lock held).
  void Evict(Shard& shard, core::MicrosSinceEpoch now) const;
  double Refilled(const Bucket& b, core::MicrosSinceEpoch now) const;

  const RateLimit limit_;
  const core::Clock& clock_;
  const size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace medulla::security
