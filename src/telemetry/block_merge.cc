#include "telemetry/block_merge.h"

#include <algorithm>
#include <optional>
#include <queue>
#include <utility>

namespace medulla::telemetry {
namespace {

// One block, or the loose readings, positioned at its next reading in range.
struct Source {
  std::optional<BlockDecoder> block;
  const std::vector<Sample>* loose = nullptr;
  size_t next_loose = 0;
  Sample current;
};

core::Status Damaged() {
  return core::Status(core::Code::kInternal, "a telemetry block is damaged");
}

// Moves `s` to its next reading in [from_ms, to_ms): true if there is one.
core::Result<bool> Advance(Source& s, int64_t from_ms, int64_t to_ms, bool with_rr) {
  if (s.loose != nullptr) {
    while (s.next_loose < s.loose->size()) {
      const Sample& next = (*s.loose)[s.next_loose++];
      if (next.time_ms < from_ms) continue;
      if (next.time_ms >= to_ms) return false;
      s.current = next;
      return true;
    }
    return false;
  }
  while (s.block->Next(s.current, with_rr)) {
    if (s.current.time_ms < from_ms) continue;
    return s.current.time_ms < to_ms;  // times never decrease within a block
  }
  if (s.block->corrupt()) return core::Fail(Damaged());
  return false;
}

}  // namespace

core::Status MergeSeries(const std::vector<std::string>& blocks, std::vector<Sample> loose,
                         int64_t from_ms, int64_t to_ms, bool with_rr, const SampleVisitor& visit) {
  if (from_ms >= to_ms) return core::Status();
  std::stable_sort(loose.begin(), loose.end(),
                   [](const Sample& a, const Sample& b) { return a.time_ms < b.time_ms; });
  // Sources in order of precedence: the index breaks ties between equal times.
  std::vector<Source> sources;
  sources.reserve(blocks.size() + 1);
  for (const auto& data : blocks) {
    auto decoder = BlockDecoder::Open(data);
    if (!decoder) return Damaged();
    if (decoder->count() == 0 || decoder->last_time() < from_ms || decoder->first_time() >= to_ms) {
      continue;
    }
    sources.push_back(Source{std::move(*decoder), nullptr, 0, {}});
  }
  sources.push_back(Source{std::nullopt, &loose, 0, {}});
  auto later = [&sources](size_t a, size_t b) {
    const int64_t ta = sources[a].current.time_ms, tb = sources[b].current.time_ms;
    return ta != tb ? ta > tb : a > b;
  };
  std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
  for (size_t i = 0; i < sources.size(); ++i) {
    ASSIGN_OR_RETURN(const bool has, Advance(sources[i], from_ms, to_ms, with_rr));
    if (has) heap.push(i);
  }
  bool any = false;
  int64_t last = 0;
  while (!heap.empty()) {
    const size_t i = heap.top();
    heap.pop();
    Source& s = sources[i];
    if (!any || s.current.time_ms != last) {
      any = true;
      last = s.current.time_ms;
      if (!visit(s.current)) return core::Status();
    }
    ASSIGN_OR_RETURN(const bool has, Advance(s, from_ms, to_ms, with_rr));
    if (has) heap.push(i);
  }
  return core::Status();
}

}  // namespace medulla::telemetry
