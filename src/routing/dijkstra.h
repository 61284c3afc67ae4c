// Plain Dijkstra with a binary heap on an ArcGraph: the oracle that the CCH engine is tested
// against, and the reference point for its benchmarks. Simple on purpose; no speed-up techniques.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "routing/path_types.h"

namespace medulla::routing {

// Holds its own forward adjacency and per-query scratch: one instance per thread.
class Dijkstra {
 public:
  explicit Dijkstra(const ArcGraph& graph);

  // The best over all (source seed, target seed) pairs of source.weight + path + target.weight
  // (lengths carried along the chosen path), with the same conventions as CchQuery::Route:
  // weight and length are indexed by arc and must have the graph's arc count (otherwise the
  // answer is unreachable); kInfWeight closes an arc; a sum reaching kInfWeight is unreachable;
  // seeds naming a node out of range are ignored.
  PathCost Route(std::span<const uint32_t> weight, std::span<const uint32_t> length,
                 std::span<const Seed> sources, std::span<const Seed> targets);

  // The input arcs of the last Route's best path, in travel order; empty when unreachable or
  // when the source and target seed share a node.
  std::vector<uint32_t> LastPath() const;
  static constexpr size_t kNoSeed = std::numeric_limits<size_t>::max();
  size_t last_source_seed() const { return last_source_seed_; }
  size_t last_target_seed() const { return last_target_seed_; }

 private:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  uint32_t node_count_;
  std::vector<uint32_t> tail_;
  // Forward adjacency: the arcs leaving v are arc_[first_out_[v] .. first_out_[v + 1]].
  std::vector<uint32_t> first_out_, arc_, head_;

  // Scratch, valid where stamp_ equals current_.
  std::vector<uint32_t> stamp_;
  uint32_t current_ = 0;
  std::vector<uint64_t> dist_;
  std::vector<uint32_t> length_;
  std::vector<uint32_t> pred_;  // input arc into v on the best path, kNone at a seed
  std::vector<uint32_t> seed_;  // source seed of v when pred_ is kNone
  std::vector<uint32_t> target_stamp_;
  std::vector<uint64_t> target_weight_;  // best target seed weight at v
  std::vector<uint32_t> target_seed_;

  uint32_t last_target_node_ = kNone;
  size_t last_source_seed_ = kNoSeed, last_target_seed_ = kNoSeed;
};

}  // namespace medulla::routing
