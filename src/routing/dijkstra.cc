#include "routing/dijkstra.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace medulla::routing {

Dijkstra::Dijkstra(const ArcGraph& graph)
    : node_count_(graph.node_count),
      tail_(graph.tail),
      arc_head_(graph.head),
      first_out_(graph.node_count + size_t{1}, 0),
      first_in_(graph.node_count + size_t{1}, 0),
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
  // Backward adjacency likewise, by the head.
  for (size_t a = 0; a < arc_count; ++a) {
    if (valid(a)) ++first_in_[graph.head[a] + 1];
  }
  for (uint32_t v = 0; v < node_count_; ++v) first_in_[v + 1] += first_in_[v];
  in_arc_.resize(first_in_.back());
  in_tail_.resize(first_in_.back());
  fill.assign(first_in_.begin(), first_in_.end() - 1);
  for (size_t a = 0; a < arc_count; ++a) {
    if (!valid(a)) continue;
    const uint32_t slot = fill[graph.head[a]]++;
    in_arc_[slot] = static_cast<uint32_t>(a);
    in_tail_[slot] = graph.tail[a];
  }
}

void Dijkstra::Begin() {
  last_target_node_ = kNone;
  last_source_seed_ = last_target_seed_ = kNoSeed;
  groups_.clear();
  if (++current_ == 0) {  // the stamp wrapped: forget everything once every 2^32 queries
    std::fill(stamp_.begin(), stamp_.end(), 0);
    std::fill(target_stamp_.begin(), target_stamp_.end(), 0);
    current_ = 1;
  }
}

void Dijkstra::Touch(uint32_t v) {
  if (stamp_[v] != current_) {
    stamp_[v] = current_;
    dist_[v] = kInfWeight;
    pred_[v] = kNone;
  }
}

void Dijkstra::Push(uint64_t d, uint32_t v) {
  heap_.emplace_back(d, v);
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
}

void Dijkstra::SeedOrigins(std::span<const Seed> origins) {
  heap_.clear();
  for (size_t i = 0; i < origins.size(); ++i) {
    const Seed& s = origins[i];
    if (s.node >= node_count_) continue;
    Touch(s.node);
    if (s.weight < dist_[s.node]) {
      dist_[s.node] = s.weight;
      length_[s.node] = s.length;
      seed_[s.node] = static_cast<uint32_t>(i);
      Push(s.weight, s.node);
    }
  }
}

void Dijkstra::Relax(uint32_t v, uint64_t d, uint32_t arc, uint32_t head,
                     std::span<const uint32_t> weight, std::span<const uint32_t> length,
                     uint64_t bound) {
  const uint64_t nd = d + weight[arc];  // a closed arc makes nd >= kInfWeight >= bound
  if (nd >= bound) return;
  Touch(head);
  if (nd < dist_[head]) {
    dist_[head] = nd;
    pred_[head] = arc;
    const uint64_t len = uint64_t{length_[v]} + length[arc];
    length_[head] = static_cast<uint32_t>(std::min<uint64_t>(len, kInfWeight));
    Push(nd, head);
  }
}

PathCost Dijkstra::Route(std::span<const uint32_t> weight, std::span<const uint32_t> length,
                         std::span<const Seed> sources, std::span<const Seed> targets) {
  Begin();
  if (weight.size() != tail_.size() || length.size() != tail_.size()) return {};
  SeedOrigins(sources);
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
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    const auto [d, v] = heap_.back();
    heap_.pop_back();
    if (d != dist_[v]) continue;  // a stale entry: v was reached more cheaply since
    if (d >= best) break;         // nothing left can beat the best target
    if (target_stamp_[v] == current_ && d + target_weight_[v] < best) {
      best = d + target_weight_[v];
      best_node = v;
    }
    for (uint32_t i = first_out_[v]; i < first_out_[v + 1]; ++i) {
      Relax(v, d, arc_[i], head_[i], weight, length, best);
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

std::vector<PathCost> Dijkstra::OneToMany(std::span<const uint32_t> weight,
                                          std::span<const uint32_t> length,
                                          std::span<const Seed> origin,
                                          std::span<const std::vector<Seed>> groups,
                                          bool backward) {
  Begin();
  groups_.resize(groups.size());
  backward_ = backward;
  std::vector<PathCost> out(groups.size());
  if (weight.size() != tail_.size() || length.size() != tail_.size()) return out;
  SeedOrigins(origin);
  // The groups' seeds by node, so that settling a node finds its seeds at once.
  group_seeds_.clear();
  for (uint32_t g = 0; g < groups.size(); ++g) {
    for (uint32_t k = 0; k < groups[g].size(); ++k) {
      const Seed& s = groups[g][k];
      if (s.node < node_count_ && s.weight < kInfWeight) {
        group_seeds_.push_back({s.node, g, k, s.weight, s.length});
      }
    }
  }
  std::sort(group_seeds_.begin(), group_seeds_.end(),
            [](const GroupSeed& a, const GroupSeed& b) { return a.node < b.node; });
  for (uint32_t i = 0; i < group_seeds_.size(); ++i) {
    const uint32_t v = group_seeds_[i].node;
    if (target_stamp_[v] != current_) {
      target_stamp_[v] = current_;
      target_seed_[v] = i;
    }
  }
  // A group is final once the search has settled every node closer than its best: no path
  // through a node still to settle can beat it. Groups without a valid seed are final at once.
  for (GroupBest& b : groups_) b.final = true;
  for (const GroupSeed& s : group_seeds_) groups_[s.group].final = false;
  size_t open =
      std::count_if(groups_.begin(), groups_.end(), [](const GroupBest& b) { return !b.final; });
  std::vector<std::pair<uint64_t, uint32_t>>
      bests;  // (a group's best so far, group), a min-heap; stale entries skipped

  const std::span<const uint32_t> first = backward ? first_in_ : first_out_;
  const std::span<const uint32_t> arcs = backward ? in_arc_ : arc_;
  const std::span<const uint32_t> next = backward ? in_tail_ : head_;
  while (open > 0 && !heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    const auto [d, v] = heap_.back();
    heap_.pop_back();
    if (d != dist_[v]) continue;  // a stale entry: v was reached more cheaply since
    while (!bests.empty() && bests.front().first <= d) {
      std::pop_heap(bests.begin(), bests.end(), std::greater<>());
      GroupBest& b = groups_[bests.back().second];
      if (!b.final && b.weight == bests.back().first) {
        b.final = true;
        --open;
      }
      bests.pop_back();
    }
    if (open == 0) break;
    if (target_stamp_[v] == current_) {
      for (uint32_t i = target_seed_[v]; i < group_seeds_.size() && group_seeds_[i].node == v;
           ++i) {
        const GroupSeed& s = group_seeds_[i];
        GroupBest& b = groups_[s.group];
        const uint64_t w = d + s.weight;
        if (b.final || w >= b.weight) continue;  // b.weight starts at kInfWeight
        b.weight = w;
        b.length =
            static_cast<uint32_t>(std::min<uint64_t>(uint64_t{length_[v]} + s.length, kInfWeight));
        b.node = v;
        b.seed = s.index;
        bests.emplace_back(w, s.group);
        std::push_heap(bests.begin(), bests.end(), std::greater<>());
      }
    }
    for (uint32_t i = first[v]; i < first[v + 1]; ++i) {
      Relax(v, d, arcs[i], next[i], weight, length, kInfWeight);
    }
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g].weight < kInfWeight) {
      out[g] = PathCost{static_cast<uint32_t>(groups_[g].weight), groups_[g].length};
    }
  }
  return out;
}

Dijkstra::GroupPath Dijkstra::PathTo(size_t group) const {
  GroupPath path;
  if (group >= groups_.size() || groups_[group].node == kNone) return path;
  const GroupBest& b = groups_[group];
  path.group_seed = b.seed;
  // The pred chain leads from the group's node back to an origin seed: against the travel
  // direction forward, with it backward.
  uint32_t v = b.node;
  while (pred_[v] != kNone) {
    const uint32_t a = pred_[v];
    path.arcs.push_back(a);
    v = backward_ ? arc_head_[a] : tail_[a];
  }
  if (!backward_) std::reverse(path.arcs.begin(), path.arcs.end());
  path.origin_seed = seed_[v];
  return path;
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
