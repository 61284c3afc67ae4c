// Plain Dijkstra with a binary heap on an ArcGraph: the oracle that the CCH engine is tested
// against, and the reference point for its benchmarks. Simple on purpose; no speed-up techniques.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
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

  // One search from `origin` to many groups of seeds: result[g] is the best over (origin seed,
  // seed of groups[g]) pairs, with Route's conventions (an empty group, or one whose seeds are
  // all out of range, is unreachable). Forward: from the origin seeds (as sources) to the
  // groups' (as targets). Backward: on the reversed arcs, the origin seeds being targets and
  // the groups' sources, so result[g] is from group g to the origin; this is what lets 50
  // ambulances to one scene be one search rather than 50. The search stops once every group's
  // best is final (no unsettled node could improve it) or nothing is left to settle.
  std::vector<PathCost> OneToMany(std::span<const uint32_t> weight,
                                  std::span<const uint32_t> length, std::span<const Seed> origin,
                                  std::span<const std::vector<Seed>> groups, bool backward);

  // The last OneToMany's best path for one group: its input arcs in travel order (empty when
  // unreachable, when the seeds share a node, or after a Route), and which origin seed and
  // which seed of the group (indexes into the spans given) it joins, kNoSeed when unreachable.
  struct GroupPath {
    std::vector<uint32_t> arcs;
    size_t origin_seed = kNoSeed, group_seed = kNoSeed;
  };
  GroupPath PathTo(size_t group) const;

 private:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  // Starts a query: a fresh stamp, and the last query's answers forgotten.
  void Begin();
  // Shared by Route and OneToMany: v's entry made valid for this query; a heap push; the
  // origin seeds put on the (emptied) heap; arc relaxed from v settled at d, unless the new
  // distance reaches `bound`.
  void Touch(uint32_t v);
  void Push(uint64_t d, uint32_t v);
  void SeedOrigins(std::span<const Seed> origins);
  void Relax(uint32_t v, uint64_t d, uint32_t arc, uint32_t head, std::span<const uint32_t> weight,
             std::span<const uint32_t> length, uint64_t bound);

  uint32_t node_count_;
  std::vector<std::pair<uint64_t, uint32_t>> heap_;  // (distance, node), a min-heap
  std::vector<uint32_t> tail_, arc_head_;            // per input arc
  // Forward adjacency: the arcs leaving v are arc_[first_out_[v] .. first_out_[v + 1]].
  std::vector<uint32_t> first_out_, arc_, head_;
  // Backward adjacency (OneToMany backward): the arcs entering v are
  // in_arc_[first_in_[v] .. first_in_[v + 1]], coming from in_tail_.
  std::vector<uint32_t> first_in_, in_arc_, in_tail_;

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

  // OneToMany: pred_ holds the arc into v (forward) or out of v (backward) on its best path.
  struct GroupSeed {  // one valid seed of a group, sorted by node; target_seed_[node] is the
    uint32_t node;    // first of its node's
    uint32_t group;
    uint32_t index;  // in the group
    uint32_t weight, length;
  };
  struct GroupBest {
    uint64_t weight = kInfWeight;
    uint32_t length = 0;
    uint32_t node = kNone;  // where the best path meets the group's seed
    uint32_t seed = kNone;  // that seed's index in the group
    bool final = false;
  };
  std::vector<GroupSeed> group_seeds_;
  std::vector<GroupBest> groups_;
  bool backward_ = false;
};

}  // namespace medulla::routing
