// Reading one series back: its blocks (on disk and in memory, possibly overlapping when late
// readings got a block of their own) and the late readings not yet in any block, merged into one
// stream in time order without materialising it, so that a read can stop at its limit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "telemetry/block.h"

namespace medulla::telemetry {

// Called with each reading in turn; may move from it. Returns false to stop.
using SampleVisitor = std::function<bool(Sample&)>;

// Visits the readings with from_ms <= time < to_ms of `blocks` and `loose` (any order) in time
// order. A time is visited once: if several sources hold it (a duplicate that slipped past the
// store's checks), the first of `blocks` wins, and `loose` comes after all of them. With
// with_rr false, readings come without their rr intervals. kInternal for a damaged block.
core::Status MergeSeries(const std::vector<std::string>& blocks, std::vector<Sample> loose,
                         int64_t from_ms, int64_t to_ms, bool with_rr, const SampleVisitor& visit);

}  // namespace medulla::telemetry
