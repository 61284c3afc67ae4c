#include "routing/dijkstra.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace medulla::routing {

Dijkstra::Dijkstra(const ArcGraph& graph)
    : node_count_(graph.node_count),
      tail_(graph.tail),
      first_out_(graph.node_count + size_t{1}, 0),
      stamp_(graph.node_count, 0),
      dist_(graph.node_count),
      length_(graph.node_count),
      pred_(graph.node_count),
      seed_(graph.node_count),
      target_stamp_(graph.node_count, 0),
      target_weight_(graph.node_count),
      target_seed_(graph.node_count) {
  // Forward adjacency by counting sort on the tail. Arcs naming a node out of range, and
  // heads of a tail list longer than the head list, are left out: they are never travelled.
  const size_t arc_count = std::min(graph.tail.size(), graph.head.size());
  auto valid = [&](size_t a) { return graph.tail[a] < node_count_ && graph.head[a] < node_count_; };
  for (size_t a = 0; a < arc_count; ++a) {
    if (valid(a)) ++first_out_[graph.tail[a] + 1];
  }
  for (uint32_t v = 0; v < node_count_; ++v) first_out_[v + 1] += first_out_[v];
  arc_.resize(first_out_.back());
  head_.resize(first_out_.back());
  std::vector<uint32_t> fill(first_out_.begin(), first_out_.end() - 1);
  for (size_t a = 0; a < arc_count; ++a) {
    if (!valid(a)) continue;
    const uint32_t slot = fill[graph.tail[a]]++;
    arc_[slot] = static_cast<uint32_t>(a);
    head_[slot] = graph.head[a];
  }
}

PathCost Dijkstra::Route(std::span<const uint32_t> weight, std::span<const uint32_t> length,
                         std::span<const Seed> sources, std::span<const Seed> targets) {
  last_target_node_ = kNone;
  last_source_seed_ = last_target_seed_ = kNoSeed;
  if (weight.size() != tail_.size() || length.size() != tail_.size()) return {};
  if (++current_ == 0) {  // the stamp wrapped: forget everything once every 2^32 queries
    std::fill(stamp_.begin(), stamp_.end(), 0);
    std::fill(target_stamp_.begin(), target_stamp_.end(), 0);
    current_ = 1;
  }
  auto touch = [&](uint32_t v) {
    if (stamp_[v] != current_) {
      stamp_[v] = current_;
      dist_[v] = kInfWeight;
      pred_[v] = kNone;
    }
  };

  using Entry = std::pair<uint64_t, uint32_t>;  // (distance, node), a min-heap
  std::vector<Entry> heap;
  auto push = [&](uint64_t d, uint32_t v) {
    heap.emplace_back(d, v);
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (size_t i = 0; i < sources.size(); ++i) {
    const Seed& s = sources[i];
    if (s.node >= node_count_) continue;
    touch(s.node);
    if (s.weight < dist_[s.node]) {
      dist_[s.node] = s.weight;
      length_[s.node] = s.length;
      seed_[s.node] = static_cast<uint32_t>(i);
      push(s.weight, s.node);
    }
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    const Seed& s = targets[i];
    if (s.node >= node_count_) continue;
    if (target_stamp_[s.node] != current_) {
      target_stamp_[s.node] = current_;
      target_weight_[s.node] = kInfWeight;
    }
    if (s.weight < target_weight_[s.node]) {
      target_weight_[s.node] = s.weight;
      target_seed_[s.node] = static_cast<uint32_t>(i);
    }
  }

  uint64_t best = kInfWeight;
  uint32_t best_node = kNone;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const auto [d, v] = heap.back();
    heap.pop_back();
    if (d != dist_[v]) continue;  // a stale entry: v was reached more cheaply since
    if (d >= best) break;         // nothing left can beat the best target
    if (target_stamp_[v] == current_ && d + target_weight_[v] < best) {
      best = d + target_weight_[v];
      best_node = v;
    }
    for (uint32_t i = first_out_[v]; i < first_out_[v + 1]; ++i) {
      const uint32_t a = arc_[i], h = head_[i];
      const uint64_t nd = d + weight[a];  // a closed arc makes nd >= kInfWeight
      if (nd >= best) continue;
      touch(h);
      if (nd < dist_[h]) {
        dist_[h] = nd;
        pred_[h] = a;
        const uint64_t len = uint64_t{length_[v]} + length[a];
        length_[h] = static_cast<uint32_t>(std::min<uint64_t>(len, kInfWeight));
        push(nd, h);
      }
    }
  }
  if (best_node == kNone) return {};

  last_target_node_ = best_node;
  last_target_seed_ = target_seed_[best_node];
  uint32_t v = best_node;
  while (pred_[v] != kNone) v = tail_[pred_[v]];
  last_source_seed_ = seed_[v];
  const uint64_t len = uint64_t{length_[best_node]} + targets[last_target_seed_].length;
  return PathCost{static_cast<uint32_t>(best),
                  static_cast<uint32_t>(std::min<uint64_t>(len, kInfWeight))};
}

std::vector<uint32_t> Dijkstra::LastPath() const {
  std::vector<uint32_t> path;
  if (last_target_node_ == kNone) return path;
  for (uint32_t v = last_target_node_; pred_[v] != kNone; v = tail_[pred_[v]]) {
    path.push_back(pred_[v]);
  }
  std::reverse(path.begin(), path.end());
  return path;
}

}  // namespace medulla::routing
