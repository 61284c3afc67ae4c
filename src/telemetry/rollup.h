// Downsampled readings: the minimum, maximum, mean and count of one series' values per interval
// of time. Intervals are aligned to the Unix epoch ([k * interval, (k + 1) * interval)), so those
// of one length nest in those of any multiple of it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace medulla::telemetry {

struct Rollup {
  int64_t start_ms = 0;  // the interval is [start_ms, start_ms + its length)
  double min = 0;
  double max = 0;
  double mean = 0;
  uint64_t count = 0;
};

// What a rollup is built from; mergeable in any order, so a late reading folds into its
// interval like any other. Only finite values count: a NaN or an infinity would poison the
// mean, and the store keeps them in the raw readings only.
struct RollupSum {
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  uint64_t count = 0;

  void Add(double value) {
    if (!std::isfinite(value)) return;
    min = std::min(min, value);
    max = std::max(max, value);
    sum += value;
    ++count;
  }
  void Merge(const RollupSum& other) {
    if (other.count == 0) return;
    min = std::min(min, other.min);
    max = std::max(max, other.max);
    sum += other.sum;
    count += other.count;
  }
  Rollup ToRollup(int64_t start_ms) const {
    return Rollup{start_ms, min, max, count > 0 ? sum / static_cast<double>(count) : 0, count};
  }
};

// The start of the interval holding time_ms (floor, also for times before 1970). REQUIRES:
// interval_ms > 0 and time_ms >= INT64_MIN + interval_ms (so that the start is representable).
inline int64_t IntervalStart(int64_t time_ms, int64_t interval_ms) {
  int64_t q = time_ms / interval_ms;
  if (time_ms % interval_ms < 0) --q;
  return q * interval_ms;
}

}  // namespace medulla::telemetry
