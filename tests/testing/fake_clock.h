// A clock the test sets by hand (whole seconds since the epoch) or moves on in microseconds;
// other threads (a store's commit thread) may read it meanwhile.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/time.h"

namespace medulla::testing {

class FakeClock final : public core::Clock {
 public:
  explicit FakeClock(int64_t seconds) : now_(seconds * 1'000'000) {}
  core::MicrosSinceEpoch Now() const override { return now_; }
  void SetSeconds(int64_t seconds) { now_ = seconds * 1'000'000; }
  void AdvanceMicros(int64_t micros) { now_ += micros; }

 private:
  std::atomic<core::MicrosSinceEpoch> now_;
};

}  // namespace medulla::testing
