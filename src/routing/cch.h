// Customizable contraction hierarchies (CCH): exact shortest paths on a directed graph whose
// weights change (live traffic, closures) without redoing the expensive preprocessing.
//
// Reference: Julian Dibbelt, Ben Strasser, Dorothea Wagner, "Customizable Contraction
// Hierarchies", ACM Journal of Experimental Algorithmics 21(1), 2016 (arXiv:1402.0402).
// From that paper: the contraction with fill-in via the elimination tree, basic customisation
// over lower triangles, and the elimination-tree query. Pruning that query by the best
// tentative distance is from Buchhold, Sanders, Wagner, "Real-time Traffic Assignment Using
// Engineered Customizable Contraction Hierarchies", ACM JEA 24, 2019.
//
// The three phases, and the class that owns each:
//   1. CchTopology::ComputeOrder: a nested-dissection order of the nodes (METIS). Seconds.
//   2. CchTopology::Build: contracts the undirected graph in that order, adding "fill-in" edges
//      so that the result is chordal, and precomputes everything that depends only on the
//      topology (the elimination tree, each CCH arc's lower triangles). Metric-independent.
//   3. CchMetric::Customize: given a weight and length per input arc, computes the weight of
//      every CCH arc in both directions. Milliseconds; redo whenever the weights change.
//      Its cost, and Build's memory (8 bytes each), is the number of lower triangles.
// Then CchQuery answers queries against a customised metric.
//
// Internally nodes are renumbered by rank (position in the order), so every CCH arc goes from a
// lower to a higher node id and an upward search walks memory in increasing address order. A
// CCH arc {u, w}, u < w, has an "up" weight (travel u -> w) and a "down" weight (travel w -> u).
//
// Threading: CchTopology and a customised CchMetric are immutable and may be shared by any
// number of threads; each thread owns its CchQuery. Re-customising a CchMetric while queries
// read it is a race: customise a fresh CchMetric and swap a shared_ptr instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "routing/path_types.h"

namespace medulla::routing {

// The metric-independent part: the chordal supergraph of the input graph for one contraction
// order, in rank-numbered CSR form. Immutable after Build; thread-safe to share.
class CchTopology {
 public:
  // A nested-dissection contraction order from METIS_NodeND on the symmetrised graph (self
  // loops dropped, parallel arcs merged). order[i] is the node contracted i-th, so the last
  // nodes are the top-level separator. Isolated nodes are contracted first (they cost nothing);
  // arcs naming a node >= node_count are ignored (Build rejects them). Deterministic for a given
  // graph. Takes seconds on a city graph: compute once and store it with the graph.
  static std::vector<uint32_t> ComputeOrder(const ArcGraph& graph);

  // The chordal supergraph for `order` (contraction with fill-in), its elimination tree and the
  // lower triangles of every CCH arc. InvalidArgument if order is not a permutation of
  // 0..node_count-1, tail and head differ in size, or an arc names a node out of range.
  // Any permutation gives exact answers; a good order (ComputeOrder) makes everything fast.
  static core::Result<CchTopology> Build(const ArcGraph& graph, std::span<const uint32_t> order);

  uint32_t node_count() const { return static_cast<uint32_t>(rank_.size()); }
  // Undirected edges of the chordal supergraph; each carries an up and a down weight.
  size_t cch_arc_count() const { return head_.size(); }
  size_t input_arc_count() const { return input_to_cch_.size(); }
  // The number of (CCH arc, lower triangle) pairs Customize relaxes: its running time.
  size_t triangle_count() const { return triangle_arcs_.size() / 2; }
  // The height of the elimination tree: an upper bound on a one-seed search space in nodes.
  uint32_t elimination_tree_height() const { return tree_height_; }

  // rank(node) = position of node in the order; node_at_rank is its inverse.
  uint32_t rank(uint32_t node) const { return rank_[node]; }
  uint32_t node_at_rank(uint32_t rank) const { return order_[rank]; }

 private:
  friend class CchMetric;
  friend class CchQuery;

  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  // Node ids below are ranks.
  std::vector<uint32_t> rank_;   // input node -> rank
  std::vector<uint32_t> order_;  // rank -> input node
  // The CCH arcs in CSR form: the arcs of node v (to higher ranks) are
  // first_out_[v] .. first_out_[v + 1], sorted by head. An arc's id is its index.
  std::vector<uint32_t> first_out_;
  std::vector<uint32_t> head_;
  std::vector<uint32_t> tail_;
  // Elimination tree: parent_[v] is the lowest-ranked upper neighbour of v (kNone for a root).
  // Every upper neighbour of v is an ancestor of v, so a search from v only ever reaches the
  // path from v to its root.
  std::vector<uint32_t> parent_;
  uint32_t tree_height_ = 0;
  // Lower triangles: CCH arc a = {u, w} with u < w and a node x < u adjacent to both form a
  // triangle; the path u -> x -> w may be shorter than the arc. The triangles of arc a are
  // first_triangle_[a] .. first_triangle_[a + 1]; triangle t consists of the arcs
  // triangle_arcs_[2t] = {x, u} and triangle_arcs_[2t + 1] = {x, w}, ordered by x.
  std::vector<uint32_t> first_triangle_;
  std::vector<uint32_t> triangle_arcs_;
  // Input arc -> (CCH arc << 1 | 1 when it runs upward, 0 when downward); kNone for a
  // self-loop, which no shortest path uses.
  std::vector<uint32_t> input_to_cch_;
};

// One set of weights on a CchTopology: every CCH arc's up and down weight, plus what each
// unpacks to. Customize once, then read from any number of threads.
class CchMetric {
 public:
  // Until Customize succeeds every arc is closed (only same-node queries succeed).
  explicit CchMetric(std::shared_ptr<const CchTopology> topology);

  // weight[a] and length[a] for every input arc a; sizes must equal input_arc_count()
  // (InvalidArgument otherwise, and the metric is left unchanged). kInfWeight closes an arc.
  // Basic customisation: CCH arcs in order of their lower end, each taking the minimum over its
  // input arcs and its lower triangles (whose arcs are already final). Single-threaded.
  core::Status Customize(std::span<const uint32_t> weight, std::span<const uint32_t> length);

  const std::shared_ptr<const CchTopology>& topology() const { return topology_; }

 private:
  friend class CchQuery;

  // What a CCH arc, in one direction, unpacks to: an input arc (kInputArcFlag | arc id) or the
  // lower triangle t whose two arcs form its fastest path; kNoPath when its weight is infinite.
  static constexpr uint32_t kInputArcFlag = 0x80000000u;
  static constexpr uint32_t kNoPath = std::numeric_limits<uint32_t>::max();

  // Up and down weights side by side: a search in either direction touches one cache line.
  struct ArcWeights {
    uint32_t up;
    uint32_t down;
  };

  // Appends the input arcs that CCH arc `arc`, travelled up or down, unpacks to, in travel
  // order. `stack` is scratch.
  void Unpack(uint32_t arc, bool up, std::vector<uint32_t>& stack,
              std::vector<uint32_t>& out) const;

  std::shared_ptr<const CchTopology> topology_;
  std::vector<ArcWeights> weight_;  // per CCH arc
  std::vector<uint32_t> length_up_, length_down_;
  std::vector<uint32_t> unpack_up_, unpack_down_;
};

// Per-thread query scratch, sized for the topology and reused across queries (nothing is
// cleared between queries: validity is tracked by a stamp per node). About 40 bytes per node
// (11 MB for the Porto graph), so keep a pool rather than make one per request. Not
// thread-safe.
class CchQuery {
 public:
  explicit CchQuery(std::shared_ptr<const CchTopology> topology);

  // The best over all (source seed, target seed) pairs of source.weight + path +
  // target.weight, lengths likewise. A source and target seed on the same node give a path of
  // no arcs between them. Seeds naming a node out of range are ignored; no seeds on either
  // side, or a metric of another topology, give unreachable (weight kInfWeight).
  // The search walks the elimination tree, no priority queue: upward from the sources over the
  // union of their ancestor chains in rank order, and likewise from the targets with the down
  // weights; they meet on the common ancestors. Nodes whose tentative distance is no better
  // than the best meeting found so far are not expanded.
  PathCost Route(const CchMetric& metric, std::span<const Seed> sources,
                 std::span<const Seed> targets);

  // The input arcs of the last Route's best path in travel order (shortcuts unpacked); empty
  // when unreachable or when the source and target seed share a node. `metric` must be the one
  // passed to that Route. Which source and target seed (indexes into the spans given to Route)
  // the path uses: last_source_seed() and last_target_seed(), kNoSeed when unreachable.
  std::vector<uint32_t> LastPath(const CchMetric& metric) const;
  static constexpr size_t kNoSeed = std::numeric_limits<size_t>::max();
  size_t last_source_seed() const { return last_source_seed_; }
  size_t last_target_seed() const { return last_target_seed_; }

  // Many-to-many: result[i * targets.size() + j] is the best from source group i to target
  // group j (each group a list of seeds, as in Route; an empty group gives unreachable). Two
  // strategies, chosen by an estimate of the arcs each would scan:
  //  - few groups on one side (1 x 20, 50 x 1): one search per group on the small side, each
  //    followed by a top-down sweep over the union of the other side's ancestor chains, which
  //    yields exact distances to (or from) every node in it. The chains share their top
  //    (the big separators), so the union costs a few searches, not one per group.
  //  - otherwise (20 x 20): each target group's backward search space is computed once and
  //    kept, each source group's forward search runs once, and each pair is combined over the
  //    target's kept space.
  std::vector<PathCost> Table(const CchMetric& metric, std::span<const std::vector<Seed>> sources,
                              std::span<const std::vector<Seed>> targets);
  // Forces one of Table's strategies (kAuto, the default, estimates), so tests cover both.
  enum class TableStrategy { kAuto, kSweeps, kSpaces };
  void SetTableStrategyForTest(TableStrategy strategy) { table_strategy_ = strategy; }

 private:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  // One direction's search state, indexed by rank. An entry is valid only when stamp[v] equals
  // the current stamp; other entries hold stale values from earlier queries.
  struct Side {
    std::vector<uint32_t> stamp;
    std::vector<uint32_t> dist;
    std::vector<uint32_t> length;  // set at seeds; carried along by Table's searches only
    std::vector<uint32_t> pred;    // CCH arc that set dist, kNone at a seed
    std::vector<uint32_t> seed;    // the seed whose weight set dist, when pred is kNone
    std::vector<uint32_t> nodes;   // the search space (valid entries), ascending
    uint32_t current = 0;
  };
  // A kept backward search space entry (TableBySpaces).
  struct SpaceEntry {
    uint32_t node;
    uint32_t dist;
    uint32_t length;
  };

  // Fills side.nodes with the union of the seeds' ancestor chains, ascending, initialising
  // each node's entry, and sets the seed nodes' distances. Returns false when no seed is valid.
  bool Start(Side& side, std::span<const Seed> seeds);
  // The full search of one side (Table): every node in side.nodes relaxes its arcs, carrying
  // lengths along. kUp: forward search on up weights; otherwise backward on down weights.
  template <bool kUp>
  void SearchAll(const CchMetric& metric, Side& side);
  // Exact distances from (kUp) or to (otherwise) the seeds of the finished `search`, for
  // every node of sweep.nodes, into sweep.dist and sweep.length.
  template <bool kUp>
  void Sweep(const CchMetric& metric, const Side& search, Side& sweep);
  // Table's two strategies. TableBySweeps REQUIRES: the inner side (backward_ for targets when
  // sources_outer, else forward_) holds the union of the inner groups' chains.
  std::vector<PathCost> TableBySweeps(const CchMetric& metric,
                                      std::span<const std::vector<Seed>> sources,
                                      std::span<const std::vector<Seed>> targets,
                                      bool sources_outer);
  std::vector<PathCost> TableBySpaces(const CchMetric& metric,
                                      std::span<const std::vector<Seed>> sources,
                                      std::span<const std::vector<Seed>> targets);

  std::shared_ptr<const CchTopology> topology_;
  Side forward_, backward_;
  // The last Route's meeting node (rank), kNone when unreachable or after a Table.
  uint32_t meet_ = kNone;
  size_t last_source_seed_ = kNoSeed, last_target_seed_ = kNoSeed;
  // TableBySpaces' kept backward search spaces, one after another: group j's valid entries
  // are space_[space_first_[j] .. space_first_[j + 1]].
  std::vector<SpaceEntry> space_;
  std::vector<size_t> space_first_;
  std::vector<Seed> flat_seeds_;  // Table: all seeds of the inner side
  TableStrategy table_strategy_ = TableStrategy::kAuto;
};

}  // namespace medulla::routing
