#include "routing/cch.h"

#include <metis.h>

#include <algorithm>
#include <cassert>
#include <numeric>
#include <string>
#include <utility>

namespace medulla::routing {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

// Ids stored with a flag bit (input arcs, triangles) must stay below it.
constexpr size_t kMaxIds = 0x7fffffffu;

uint32_t SaturatingAdd(uint32_t a, uint32_t b) {
  const uint64_t sum = uint64_t{a} + b;
  return sum >= kInfWeight ? kInfWeight : static_cast<uint32_t>(sum);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CchTopology

std::vector<uint32_t> CchTopology::ComputeOrder(const ArcGraph& graph) {
  const uint32_t n = graph.node_count;
  const size_t arc_count = std::min(graph.tail.size(), graph.head.size());

  // The order depends only on the undirected structure: one edge per pair of adjacent nodes,
  // packed as (low << 32 | high) so that sorting deduplicates parallel and opposite arcs.
  std::vector<uint64_t> edges;
  edges.reserve(arc_count);
  for (size_t a = 0; a < arc_count; ++a) {
    const uint32_t t = graph.tail[a], h = graph.head[a];
    if (t >= n || h >= n || t == h) continue;
    edges.push_back(uint64_t{std::min(t, h)} << 32 | std::max(t, h));
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());

  std::vector<uint32_t> degree(n, 0);
  for (uint64_t e : edges) {
    ++degree[e >> 32];
    ++degree[static_cast<uint32_t>(e)];
  }

  // Isolated nodes go first: contracting them adds nothing. METIS sees only the rest, numbered
  // 0..m-1 (it rejects neither, but a graph of isolated vertices only is a corner it handles
  // poorly, and they would otherwise be scattered through the order for no benefit).
  std::vector<uint32_t> order;
  order.reserve(n);
  std::vector<idx_t> local(n, -1);
  std::vector<uint32_t> global;
  for (uint32_t v = 0; v < n; ++v) {
    if (degree[v] == 0) {
      order.push_back(v);
    } else {
      local[v] = static_cast<idx_t>(global.size());
      global.push_back(v);
    }
  }
  if (global.empty()) return order;

  // METIS wants the symmetric adjacency in CSR form (each edge in both directions), with
  // 32-bit indexes.
  if (2 * edges.size() > size_t{std::numeric_limits<idx_t>::max()}) {
    order.insert(order.end(), global.begin(), global.end());  // exact, only slow
    return order;
  }
  const idx_t m = static_cast<idx_t>(global.size());
  std::vector<idx_t> xadj(global.size() + 1, 0);
  for (size_t i = 0; i < global.size(); ++i) xadj[i + 1] = xadj[i] + degree[global[i]];
  std::vector<idx_t> adjncy(2 * edges.size());
  std::vector<idx_t> fill(xadj.begin(), xadj.end() - 1);
  for (uint64_t e : edges) {
    const idx_t a = local[e >> 32], b = local[static_cast<uint32_t>(e)];
    adjncy[fill[a]++] = b;
    adjncy[fill[b]++] = a;
  }

  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_NUMBERING] = 0;
  options[METIS_OPTION_SEED] = 1;  // a fixed seed: the same graph always gets the same order
  // Order connected components separately: a disconnected city extract (islands, a ferry
  // cut) then costs nothing extra.
  options[METIS_OPTION_CCORDER] = 1;
  // Try three separators at each level and keep the smallest: twice the ordering time, but on
  // the Porto road graph 15-25% fewer arcs per search and triangles to customise.
  options[METIS_OPTION_NSEPS] = 3;
  std::vector<idx_t> perm(global.size()), iperm(global.size());
  idx_t nvtxs = m;
  const int status = METIS_NodeND(&nvtxs, xadj.data(), adjncy.data(), /*vwgt=*/nullptr, options,
                                  perm.data(), iperm.data());
  if (status == METIS_OK) {
    // perm[i] is the vertex placed i-th: METIS orders a sparse matrix for elimination, which is
    // exactly a contraction order (the separators come last).
    for (idx_t i = 0; i < m; ++i) order.push_back(global[perm[i]]);
  } else {
    // Still exact, only slower: contract low-degree nodes first.
    std::stable_sort(global.begin(), global.end(),
                     [&](uint32_t a, uint32_t b) { return degree[a] < degree[b]; });
    order.insert(order.end(), global.begin(), global.end());
  }
  return order;
}

core::Result<CchTopology> CchTopology::Build(const ArcGraph& graph,
                                             std::span<const uint32_t> order) {
  const uint32_t n = graph.node_count;
  if (graph.tail.size() != graph.head.size()) {
    return core::Fail(core::InvalidArgument("graph has " + std::to_string(graph.tail.size()) +
                                            " tails but " + std::to_string(graph.head.size()) +
                                            " heads"));
  }
  const size_t input_arcs = graph.tail.size();
  if (input_arcs > kMaxIds || n > kMaxIds) {
    return core::Fail(core::InvalidArgument("graph too large for 31-bit ids"));
  }
  if (order.size() != n) {
    return core::Fail(core::InvalidArgument("order has " + std::to_string(order.size()) +
                                            " entries for " + std::to_string(n) + " nodes"));
  }

  CchTopology t;
  t.rank_.assign(n, kNone);
  t.order_.assign(order.begin(), order.end());
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t v = order[i];
    if (v >= n || t.rank_[v] != kNone) {
      return core::Fail(core::InvalidArgument("order is not a permutation: node " +
                                              std::to_string(v) + " at position " +
                                              std::to_string(i)));
    }
    t.rank_[v] = i;
  }
  for (size_t a = 0; a < input_arcs; ++a) {
    if (graph.tail[a] >= n || graph.head[a] >= n) {
      return core::Fail(
          core::InvalidArgument("arc " + std::to_string(a) + " names a node out of range"));
    }
  }

  // The input edges by lower rank, as upper neighbours (duplicates are removed below).
  std::vector<uint32_t> input_first(n + 1, 0), input_up(input_arcs);
  for (size_t a = 0; a < input_arcs; ++a) {
    const uint32_t x = t.rank_[graph.tail[a]], y = t.rank_[graph.head[a]];
    if (x != y) ++input_first[std::min(x, y) + 1];
  }
  std::partial_sum(input_first.begin(), input_first.end(), input_first.begin());
  {
    std::vector<uint32_t> fill(input_first.begin(), input_first.end() - 1);
    for (size_t a = 0; a < input_arcs; ++a) {
      const uint32_t x = t.rank_[graph.tail[a]], y = t.rank_[graph.head[a]];
      if (x != y) input_up[fill[std::min(x, y)]++] = std::max(x, y);
    }
  }

  // Contraction with fill-in, in rank order. Contracting v joins all its upper neighbours
  // pairwise. Rather than adding those edges explicitly we use the elimination tree (Dibbelt
  // et al.): v's upper neighbourhood is final once all lower nodes are contracted, and it is
  // v's input upper neighbours united with the upper neighbourhoods of v's children in the
  // elimination tree, minus v itself. (A child's neighbourhood is a clique containing v, its
  // lowest member; contracting v passes the rest on to v's own parent.) Total work: linear in
  // the chordal graph's size plus sorting each neighbourhood.
  t.first_out_.assign(1, 0);
  t.first_out_.reserve(n + 1);
  t.head_.reserve(input_arcs);
  t.parent_.assign(n, kNone);
  std::vector<uint32_t> first_child(n, kNone), next_sibling(n, kNone), mark(n, kNone);
  std::vector<uint32_t> neighbours;
  for (uint32_t v = 0; v < n; ++v) {
    neighbours.clear();
    auto add = [&](uint32_t w) {
      if (mark[w] != v) {
        mark[w] = v;
        neighbours.push_back(w);
      }
    };
    for (uint32_t i = input_first[v]; i < input_first[v + 1]; ++i) add(input_up[i]);
    for (uint32_t c = first_child[v]; c != kNone; c = next_sibling[c]) {
      // The child's first (lowest) upper neighbour is v itself.
      for (uint32_t a = t.first_out_[c] + 1; a < t.first_out_[c + 1]; ++a) add(t.head_[a]);
    }
    std::sort(neighbours.begin(), neighbours.end());
    t.head_.insert(t.head_.end(), neighbours.begin(), neighbours.end());
    if (t.head_.size() > kMaxIds) {
      return core::Fail(core::InvalidArgument("contraction order gives too many CCH arcs"));
    }
    t.first_out_.push_back(static_cast<uint32_t>(t.head_.size()));
    if (!neighbours.empty()) {
      const uint32_t p = neighbours.front();
      t.parent_[v] = p;
      next_sibling[v] = first_child[p];
      first_child[p] = v;
    }
  }
  t.head_.shrink_to_fit();
  const uint32_t m = static_cast<uint32_t>(t.head_.size());
  t.tail_.resize(m);
  for (uint32_t v = 0; v < n; ++v) {
    std::fill(t.tail_.begin() + t.first_out_[v], t.tail_.begin() + t.first_out_[v + 1], v);
  }
  {
    // Depth of each node, top down (parents have higher ranks).
    std::vector<uint32_t> depth(n, 1);
    for (uint32_t v = n; v-- > 0;) {
      if (t.parent_[v] != kNone) depth[v] = depth[t.parent_[v]] + 1;
      t.tree_height_ = std::max(t.tree_height_, depth[v]);
    }
  }

  // Each input arc's CCH arc: the edge between its ends, found by binary search in the lower
  // end's (sorted) upper neighbours.
  t.input_to_cch_.resize(input_arcs);
  for (size_t a = 0; a < input_arcs; ++a) {
    const uint32_t x = t.rank_[graph.tail[a]], y = t.rank_[graph.head[a]];
    if (x == y) {
      t.input_to_cch_[a] = kNone;
      continue;
    }
    const uint32_t lo = std::min(x, y), hi = std::max(x, y);
    const auto begin = t.head_.begin() + t.first_out_[lo],
               end = t.head_.begin() + t.first_out_[lo + 1];
    const auto it = std::lower_bound(begin, end, hi);
    assert(it != end && *it == hi);
    const uint32_t arc = static_cast<uint32_t>(it - t.head_.begin());
    t.input_to_cch_[a] = arc << 1 | (x < y ? 1u : 0u);
  }

  // Lower triangles, enumerated from their lowest node: for every node x and every pair
  // u < w of its upper neighbours, x is a lower triangle of the edge {u, w} (which exists,
  // since x's upper neighbours form a clique). {u, w} is found by walking u's sorted upper
  // neighbours alongside x's, which are a subset of them. Two passes, counting then filling,
  // store the triangles grouped by arc (CSR) so that Customize reads them sequentially, and
  // ordered by x within an arc.
  auto for_each_triangle = [&](auto&& visit) {
    for (uint32_t x = 0; x < n; ++x) {
      const uint32_t begin = t.first_out_[x], end = t.first_out_[x + 1];
      for (uint32_t xu = begin; xu < end; ++xu) {
        const uint32_t u = t.head_[xu];
        uint32_t uw = t.first_out_[u];
        for (uint32_t xw = xu + 1; xw < end; ++xw) {
          const uint32_t w = t.head_[xw];
          while (t.head_[uw] != w) ++uw;
          assert(uw < t.first_out_[u + 1]);
          visit(uw, xu, xw);
        }
      }
    }
  };
  t.first_triangle_.assign(size_t{m} + 1, 0);
  size_t triangles = 0;
  for_each_triangle([&](uint32_t uw, uint32_t, uint32_t) {
    ++t.first_triangle_[uw + 1];
    ++triangles;
  });
  if (triangles > kMaxIds) {
    return core::Fail(core::InvalidArgument("contraction order gives too many triangles"));
  }
  std::partial_sum(t.first_triangle_.begin(), t.first_triangle_.end(), t.first_triangle_.begin());
  t.triangle_arcs_.resize(2 * triangles);
  {
    std::vector<uint32_t> fill(t.first_triangle_.begin(), t.first_triangle_.end() - 1);
    for_each_triangle([&](uint32_t uw, uint32_t xu, uint32_t xw) {
      const uint32_t slot = fill[uw]++;
      t.triangle_arcs_[2 * size_t{slot}] = xu;
      t.triangle_arcs_[2 * size_t{slot} + 1] = xw;
    });
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// CchMetric

CchMetric::CchMetric(std::shared_ptr<const CchTopology> topology) : topology_(std::move(topology)) {
  const size_t m = topology_->cch_arc_count();
  weight_.assign(m, ArcWeights{kInfWeight, kInfWeight});
  length_up_.assign(m, 0);
  length_down_.assign(m, 0);
  unpack_up_.assign(m, kNoPath);
  unpack_down_.assign(m, kNoPath);
}

core::Status CchMetric::Customize(std::span<const uint32_t> weight,
                                  std::span<const uint32_t> length) {
  const CchTopology& t = *topology_;
  if (weight.size() != t.input_arc_count() || length.size() != t.input_arc_count()) {
    return core::InvalidArgument("metric has " + std::to_string(weight.size()) + " weights and " +
                                 std::to_string(length.size()) + " lengths for " +
                                 std::to_string(t.input_arc_count()) + " arcs");
  }
  const size_t m = t.cch_arc_count();

  // Each CCH arc starts as the best of its input arcs in each direction (parallel arcs: the
  // fastest wins; a fill-in edge has none and starts closed).
  std::fill(weight_.begin(), weight_.end(), ArcWeights{kInfWeight, kInfWeight});
  std::fill(unpack_up_.begin(), unpack_up_.end(), kNoPath);
  std::fill(unpack_down_.begin(), unpack_down_.end(), kNoPath);
  for (size_t a = 0; a < weight.size(); ++a) {
    const uint32_t c = t.input_to_cch_[a];
    if (c == kNone || weight[a] == kInfWeight) continue;
    const uint32_t arc = c >> 1;
    if (c & 1) {
      if (weight[a] < weight_[arc].up) {
        weight_[arc].up = weight[a];
        unpack_up_[arc] = kInputArcFlag | static_cast<uint32_t>(a);
      }
    } else if (weight[a] < weight_[arc].down) {
      weight_[arc].down = weight[a];
      unpack_down_[arc] = kInputArcFlag | static_cast<uint32_t>(a);
    }
  }

  // Basic customisation (Dibbelt et al.): in order of their lower end, each arc {u, w} takes
  // the best of itself and u -> x -> w over its lower triangles x. Those triangles' arcs
  // {x, u}, {x, w} have the lower end x < u, so they are already final: one pass suffices.
  // Arc ids follow the lower end (CSR), so this is one sweep over the arcs and the triangles.
  // Sums are 64-bit: a candidate is taken only when strictly below the current weight, which
  // is at most kInfWeight, so nothing reaching kInfWeight is ever stored.
  const uint32_t* first_triangle = t.first_triangle_.data();
  const uint32_t* triangle_arcs = t.triangle_arcs_.data();
  ArcWeights* w = weight_.data();
  for (size_t a = 0; a < m; ++a) {
    uint64_t up = w[a].up, down = w[a].down;
    uint32_t unpack_up = unpack_up_[a], unpack_down = unpack_down_[a];
    for (uint32_t tri = first_triangle[a]; tri < first_triangle[a + 1]; ++tri) {
      const ArcWeights xu = w[triangle_arcs[2 * size_t{tri}]];
      const ArcWeights xw = w[triangle_arcs[2 * size_t{tri} + 1]];
      // up: u -> x (down {x, u}) then x -> w (up {x, w}); down: w -> x, then x -> u.
      const uint64_t via_up = uint64_t{xu.down} + xw.up;
      const uint64_t via_down = uint64_t{xw.down} + xu.up;
      if (via_up < up) {
        up = via_up;
        unpack_up = tri;
      }
      if (via_down < down) {
        down = via_down;
        unpack_down = tri;
      }
    }
    w[a] = ArcWeights{static_cast<uint32_t>(up), static_cast<uint32_t>(down)};
    unpack_up_[a] = unpack_up;
    unpack_down_[a] = unpack_down;
  }

  // Lengths of the chosen paths, in a second sweep so the loop above stays on weights only.
  // A triangle's arcs have smaller ids than the arc itself, so they are already done.
  auto path_length = [&](uint32_t unpack, bool up) -> uint32_t {
    if (unpack == kNoPath) return 0;
    if (unpack & kInputArcFlag) return length[unpack & ~kInputArcFlag];
    const uint32_t xu = triangle_arcs[2 * size_t{unpack}],
                   xw = triangle_arcs[2 * size_t{unpack} + 1];
    return up ? SaturatingAdd(length_down_[xu], length_up_[xw])
              : SaturatingAdd(length_down_[xw], length_up_[xu]);
  };
  for (size_t a = 0; a < m; ++a) {
    length_up_[a] = path_length(unpack_up_[a], true);
    length_down_[a] = path_length(unpack_down_[a], false);
  }
  return core::OkStatus();
}

void CchMetric::Unpack(uint32_t arc, bool up, std::vector<uint32_t>& stack,
                       std::vector<uint32_t>& out) const {
  const uint32_t* triangle_arcs = topology_->triangle_arcs_.data();
  stack.clear();
  stack.push_back(arc << 1 | (up ? 1u : 0u));
  while (!stack.empty()) {
    const uint32_t top = stack.back();
    stack.pop_back();
    const uint32_t a = top >> 1;
    const bool a_up = top & 1;
    const uint32_t unpack = a_up ? unpack_up_[a] : unpack_down_[a];
    assert(unpack != kNoPath);
    if (unpack & kInputArcFlag) {
      out.push_back(unpack & ~kInputArcFlag);
      continue;
    }
    const uint32_t xu = triangle_arcs[2 * size_t{unpack}],
                   xw = triangle_arcs[2 * size_t{unpack} + 1];
    // Pushed in reverse travel order. Up (u -> w): u -> x down {x, u}, x -> w up {x, w}.
    // Down (w -> u): w -> x down {x, w}, x -> u up {x, u}.
    if (a_up) {
      stack.push_back(xw << 1 | 1);
      stack.push_back(xu << 1);
    } else {
      stack.push_back(xu << 1 | 1);
      stack.push_back(xw << 1);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CchQuery

CchQuery::CchQuery(std::shared_ptr<const CchTopology> topology) : topology_(std::move(topology)) {
  const uint32_t n = topology_->node_count();
  for (Side* side : {&forward_, &backward_}) {
    side->stamp.assign(n, 0);
    side->dist.assign(n, kInfWeight);
    side->length.assign(n, 0);
    side->pred.assign(n, kNone);
    side->seed.assign(n, kNone);
  }
}

bool CchQuery::Start(Side& side, std::span<const Seed> seeds) {
  const CchTopology& t = *topology_;
  if (++side.current == 0) {  // the stamp wrapped: forget everything once every 2^32 queries
    std::fill(side.stamp.begin(), side.stamp.end(), 0);
    side.current = 1;
  }
  const uint32_t stamp = side.current;
  side.nodes.clear();
  bool any = false;
  size_t chains = 0;
  for (size_t i = 0; i < seeds.size(); ++i) {
    const Seed& seed = seeds[i];
    if (seed.node >= t.node_count()) continue;
    const uint32_t v = t.rank_[seed.node];
    // Climb to the root, stopping where an earlier seed's chain already went (the rest of the
    // way is shared). Every node a search from v can reach is on this chain.
    if (side.stamp[v] != stamp) ++chains;
    for (uint32_t u = v; u != kNone && side.stamp[u] != stamp; u = t.parent_[u]) {
      side.stamp[u] = stamp;
      side.dist[u] = kInfWeight;
      side.pred[u] = kNone;
      side.nodes.push_back(u);
    }
    if (seed.weight < side.dist[v]) {
      side.dist[v] = seed.weight;
      side.length[v] = seed.length;
      side.seed[v] = static_cast<uint32_t>(i);
      any = true;
    }
  }
  // One chain is ascending already; the union of several needs sorting into rank order.
  if (chains > 1) std::sort(side.nodes.begin(), side.nodes.end());
  return any;
}

PathCost CchQuery::Route(const CchMetric& metric, std::span<const Seed> sources,
                         std::span<const Seed> targets) {
  meet_ = kNone;
  last_source_seed_ = last_target_seed_ = kNoSeed;
  if (metric.topology_.get() != topology_.get()) return {};
  const bool have_sources = Start(forward_, sources);
  const bool have_targets = Start(backward_, targets);
  if (!have_sources || !have_targets) return {};

  const CchTopology& t = *topology_;
  const uint32_t* first_out = t.first_out_.data();
  const uint32_t* head = t.head_.data();
  const CchMetric::ArcWeights* weight = metric.weight_.data();
  uint32_t* fdist = forward_.dist.data();
  uint32_t* bdist = backward_.dist.data();
  uint32_t* fpred = forward_.pred.data();
  uint32_t* bpred = backward_.pred.data();
  const std::vector<uint32_t>& fnodes = forward_.nodes;
  const std::vector<uint32_t>& bnodes = backward_.nodes;

  // Both search spaces in one ascending merge. A node's distance is final when it comes up
  // (everything below it that can reach it came first), so a node in both spaces is a meeting
  // candidate at that moment; and a node whose distance is not below the best meeting so far
  // need not be expanded, since all arcs go up and weights are non-negative (Buchhold et al.).
  // Below the lowest common ancestor nothing can be pruned; above it most of the big
  // separator cliques usually are.
  uint64_t best = kInfWeight;
  uint32_t meet = kNone;
  size_t i = 0, j = 0;
  while (i < fnodes.size() || j < bnodes.size()) {
    const uint32_t fv = i < fnodes.size() ? fnodes[i] : kNone;
    const uint32_t bv = j < bnodes.size() ? bnodes[j] : kNone;
    const uint32_t v = std::min(fv, bv);
    const bool in_forward = fv == v, in_backward = bv == v;
    if (in_forward) ++i;
    if (in_backward) ++j;
    if (in_forward && in_backward) {
      const uint64_t d = uint64_t{fdist[v]} + bdist[v];
      if (d < best) {
        best = d;
        meet = v;
      }
    }
    if (in_forward && fdist[v] < best) {
      const uint64_t d = fdist[v];
      for (uint32_t a = first_out[v]; a < first_out[v + 1]; ++a) {
        const uint64_t nd = d + weight[a].up;
        if (nd < fdist[head[a]]) {
          fdist[head[a]] = static_cast<uint32_t>(nd);
          fpred[head[a]] = a;
        }
      }
    }
    if (in_backward && bdist[v] < best) {
      const uint64_t d = bdist[v];
      for (uint32_t a = first_out[v]; a < first_out[v + 1]; ++a) {
        const uint64_t nd = d + weight[a].down;
        if (nd < bdist[head[a]]) {
          bdist[head[a]] = static_cast<uint32_t>(nd);
          bpred[head[a]] = a;
        }
      }
    }
  }
  if (meet == kNone) return {};

  // The length along the chosen path: the CCH arcs' lengths (each that of the path it unpacks
  // to) down both pred chains, plus the seeds'.
  meet_ = meet;
  uint64_t length = 0;
  uint32_t v = meet;
  while (fpred[v] != kNone) {
    length += metric.length_up_[fpred[v]];
    v = t.tail_[fpred[v]];
  }
  last_source_seed_ = forward_.seed[v];
  length += sources[last_source_seed_].length;
  v = meet;
  while (bpred[v] != kNone) {
    length += metric.length_down_[bpred[v]];
    v = t.tail_[bpred[v]];
  }
  last_target_seed_ = backward_.seed[v];
  length += targets[last_target_seed_].length;
  return PathCost{static_cast<uint32_t>(best),
                  static_cast<uint32_t>(std::min<uint64_t>(length, kInfWeight))};
}

std::vector<uint32_t> CchQuery::LastPath(const CchMetric& metric) const {
  std::vector<uint32_t> path;
  if (meet_ == kNone || metric.topology_.get() != topology_.get()) return path;
  const CchTopology& t = *topology_;
  std::vector<uint32_t> up_arcs, stack;
  for (uint32_t v = meet_; forward_.pred[v] != kNone; v = t.tail_[forward_.pred[v]]) {
    up_arcs.push_back(forward_.pred[v]);
  }
  // Collected from the meeting node down; travelled from the source up.
  for (auto it = up_arcs.rbegin(); it != up_arcs.rend(); ++it) {
    metric.Unpack(*it, true, stack, path);
  }
  for (uint32_t v = meet_; backward_.pred[v] != kNone; v = t.tail_[backward_.pred[v]]) {
    metric.Unpack(backward_.pred[v], false, stack, path);
  }
  return path;
}

template <bool kUp>
void CchQuery::SearchAll(const CchMetric& metric, Side& side) {
  const CchTopology& t = *topology_;
  const uint32_t* first_out = t.first_out_.data();
  const uint32_t* head = t.head_.data();
  const CchMetric::ArcWeights* weight = metric.weight_.data();
  const uint32_t* arc_length = kUp ? metric.length_up_.data() : metric.length_down_.data();
  uint32_t* dist = side.dist.data();
  uint32_t* length = side.length.data();
  for (uint32_t v : side.nodes) {
    const uint64_t d = dist[v];
    if (d == kInfWeight) continue;
    for (uint32_t a = first_out[v]; a < first_out[v + 1]; ++a) {
      const uint64_t nd = d + (kUp ? weight[a].up : weight[a].down);
      if (nd < dist[head[a]]) {
        dist[head[a]] = static_cast<uint32_t>(nd);
        length[head[a]] = SaturatingAdd(length[v], arc_length[a]);
      }
    }
  }
}

std::vector<PathCost> CchQuery::Table(const CchMetric& metric,
                                      std::span<const std::vector<Seed>> sources,
                                      std::span<const std::vector<Seed>> targets) {
  meet_ = kNone;  // the searches below overwrite what LastPath would read
  last_source_seed_ = last_target_seed_ = kNoSeed;
  if (metric.topology_.get() != topology_.get() || sources.empty() || targets.empty()) {
    return std::vector<PathCost>(sources.size() * targets.size());
  }
  const CchTopology& t = *topology_;
  auto degree = [&](uint32_t v) { return uint64_t{t.first_out_[v + 1] - t.first_out_[v]}; };

  // The side with fewer groups is searched group by group ("outer"); the union of the other
  // side's chains is what a sweep would scan. Unite it, and add up what searching each of the
  // other side's groups separately would scan, to choose a strategy.
  const bool sources_outer = sources.size() <= targets.size();
  const std::span<const std::vector<Seed>> inner = sources_outer ? targets : sources;
  const size_t outer_count = sources_outer ? sources.size() : targets.size();
  flat_seeds_.clear();
  uint64_t chain_arcs = 0, chain_nodes = 0;
  for (const std::vector<Seed>& group : inner) {
    for (const Seed& seed : group) {
      flat_seeds_.push_back(seed);
      if (seed.node >= t.node_count()) continue;
      for (uint32_t v = t.rank_[seed.node]; v != kNone; v = t.parent_[v]) {
        chain_arcs += degree(v);
        ++chain_nodes;
      }
    }
  }
  Side& inner_side = sources_outer ? backward_ : forward_;
  if (!Start(inner_side, flat_seeds_)) {
    return std::vector<PathCost>(sources.size() * targets.size());  // no valid inner seed
  }
  uint64_t union_arcs = 0;
  for (uint32_t v : inner_side.nodes) union_arcs += degree(v);
  // Costs in arcs scanned (and space entries combined), taking an outer group's search to
  // cost what an inner group's does on average.
  const uint64_t search = chain_arcs / inner.size();
  const uint64_t sweeps = outer_count * (search + union_arcs);
  const uint64_t spaces = (sources.size() + targets.size()) * search +
                          sources.size() * targets.size() * chain_nodes / inner.size();
  const bool use_sweeps = table_strategy_ == TableStrategy::kAuto
                              ? sweeps <= spaces
                              : table_strategy_ == TableStrategy::kSweeps;
  if (use_sweeps) return TableBySweeps(metric, sources, targets, sources_outer);
  return TableBySpaces(metric, sources, targets);
}

template <bool kUp>
void CchQuery::Sweep(const CchMetric& metric, const Side& search, Side& sweep) {
  // Top down over the union (sweep.nodes, ascending, so walked backwards): a node's exact
  // distance is its own search's, or one down-step from a higher node of the union, whose
  // distance is already exact. Shortest paths in a customised CCH go up then down, and every
  // node on the way down to a union node is its ancestor, so in the union.
  const CchTopology& t = *topology_;
  const uint32_t* first_out = t.first_out_.data();
  const uint32_t* head = t.head_.data();
  const CchMetric::ArcWeights* weight = metric.weight_.data();
  // Forward (kUp): distances from the source, pulled along w -> v, the arcs' down direction.
  // Backward: distances to the target, pulled along v -> w, the up direction.
  const uint32_t* arc_length = kUp ? metric.length_down_.data() : metric.length_up_.data();
  uint32_t* dist = sweep.dist.data();
  uint32_t* length = sweep.length.data();
  const uint32_t stamp = search.current;
  for (auto it = sweep.nodes.rbegin(); it != sweep.nodes.rend(); ++it) {
    const uint32_t v = *it;
    const bool searched = search.stamp[v] == stamp;
    uint64_t d = searched ? search.dist[v] : kInfWeight;
    uint32_t len = searched ? search.length[v] : 0;
    for (uint32_t a = first_out[v]; a < first_out[v + 1]; ++a) {
      const uint64_t via = uint64_t{dist[head[a]]} + (kUp ? weight[a].down : weight[a].up);
      if (via < d) {
        d = via;
        len = SaturatingAdd(length[head[a]], arc_length[a]);
      }
    }
    dist[v] = static_cast<uint32_t>(d);
    length[v] = len;
  }
}

std::vector<PathCost> CchQuery::TableBySweeps(const CchMetric& metric,
                                              std::span<const std::vector<Seed>> sources,
                                              std::span<const std::vector<Seed>> targets,
                                              bool sources_outer) {
  const CchTopology& t = *topology_;
  std::vector<PathCost> result(sources.size() * targets.size());
  // The inner side already holds the union (Table's Start); its distances are the sweep's.
  Side& outer_side = sources_outer ? forward_ : backward_;
  Side& inner_side = sources_outer ? backward_ : forward_;
  const std::span<const std::vector<Seed>> outer = sources_outer ? sources : targets;
  const std::span<const std::vector<Seed>> inner = sources_outer ? targets : sources;
  for (size_t k = 0; k < outer.size(); ++k) {
    if (!Start(outer_side, outer[k])) continue;
    if (sources_outer) {
      SearchAll<true>(metric, outer_side);
      Sweep<true>(metric, outer_side, inner_side);
    } else {
      SearchAll<false>(metric, outer_side);
      Sweep<false>(metric, outer_side, inner_side);
    }
    for (size_t g = 0; g < inner.size(); ++g) {
      uint64_t best = kInfWeight, best_length = 0;
      for (const Seed& seed : inner[g]) {
        if (seed.node >= t.node_count()) continue;
        const uint32_t r = t.rank_[seed.node];
        const uint64_t d = uint64_t{inner_side.dist[r]} + seed.weight;
        if (d < best) {
          best = d;
          best_length = uint64_t{inner_side.length[r]} + seed.length;
        }
      }
      if (best < kInfWeight) {
        const size_t cell = sources_outer ? k * targets.size() + g : g * targets.size() + k;
        result[cell] = PathCost{static_cast<uint32_t>(best),
                                static_cast<uint32_t>(std::min<uint64_t>(best_length, kInfWeight))};
      }
    }
  }
  return result;
}

std::vector<PathCost> CchQuery::TableBySpaces(const CchMetric& metric,
                                              std::span<const std::vector<Seed>> sources,
                                              std::span<const std::vector<Seed>> targets) {
  std::vector<PathCost> result(sources.size() * targets.size());
  // Every target group's backward search space, kept as (node, distance, length).
  space_.clear();
  space_first_.assign(1, 0);
  for (const std::vector<Seed>& group : targets) {
    if (Start(backward_, group)) {
      SearchAll<false>(metric, backward_);
      for (uint32_t v : backward_.nodes) {
        if (backward_.dist[v] != kInfWeight) {
          space_.push_back(SpaceEntry{v, backward_.dist[v], backward_.length[v]});
        }
      }
    }
    space_first_.push_back(space_.size());
  }

  // Each source group's forward search, then per target the best meeting node over the
  // target's space (forward entries are valid only where stamped by this search).
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!Start(forward_, sources[i])) continue;
    SearchAll<true>(metric, forward_);
    const uint32_t stamp = forward_.current;
    for (size_t j = 0; j < targets.size(); ++j) {
      uint64_t best = kInfWeight, best_length = 0;
      for (size_t k = space_first_[j]; k < space_first_[j + 1]; ++k) {
        const SpaceEntry& e = space_[k];
        if (forward_.stamp[e.node] != stamp) continue;
        const uint64_t d = uint64_t{forward_.dist[e.node]} + e.dist;
        if (d < best) {
          best = d;
          best_length = uint64_t{forward_.length[e.node]} + e.length;
        }
      }
      if (best < kInfWeight) {
        result[i * targets.size() + j] =
            PathCost{static_cast<uint32_t>(best),
                     static_cast<uint32_t>(std::min<uint64_t>(best_length, kInfWeight))};
      }
    }
  }
  return result;
}

}  // namespace medulla::routing
