#include "security/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace medulla::security {

RateLimiter::RateLimiter(RateLimit limit, const core::Clock& clock, size_t max_keys)
    : limit_{limit.per_second, std::max(1.0, limit.burst)},
      clock_(clock),
      max_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

double RateLimiter::Refilled(const Bucket& b, core::MicrosSinceEpoch now) const {
  // A wall clock set back refills nothing rather than draining the bucket.
  const double elapsed = now > b.last ? static_cast<double>(now - b.last) / 1e6 : 0.0;
  return std::min(limit_.burst, b.tokens + elapsed * limit_.per_second);
}

void RateLimiter::Evict(Shard& shard, core::MicrosSinceEpoch now) const {
  std::erase_if(shard.buckets,
                [&](const auto& kv) { return Refilled(kv.second, now) >= limit_.burst; });
  if (shard.buckets.size() < max_per_shard_) return;
  auto idlest =
      std::min_element(shard.buckets.begin(), shard.buckets.end(),
                       [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
  shard.buckets.erase(idlest);
}

RateLimiter::Decision RateLimiter::Admit(std::string_view key) {
  if (!enabled()) return {};
  const core::MicrosSinceEpoch now = clock_.Now();
  Shard& shard = shards_[KeyHash{}(key) % kShards];
  std::lock_guard lock(shard.mu);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) Evict(shard, now);
    it = shard.buckets.emplace(std::string(key), Bucket{limit_.burst, now}).first;
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b, now);
  b.last = std::max(b.last, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {};
  }
  const double wait = (1.0 - b.tokens) / limit_.per_second;
  return {false, std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)))};
}

size_t RateLimiter::keys() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace medulla::security
