#include "routing/road_graph.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace medulla::routing {

namespace {

constexpr char kMagic[8] = {'M', 'E', 'D', 'R', 'O', 'A', 'D', '\0'};
constexpr uint32_t kVersion = 1;

// The arrays in file order. Append only (with a version bump).
enum Section : uint32_t {
  kEdgePointBegin,
  kEdgeFirstArc,
  kEdgeTwin,
  kEdgeHead,
  kEdgeClass,
  kEdgeWay,
  kEdgeFlags,
  kArcTail,
  kArcHead,
  kPointLat,
  kPointLon,
  kPointOsm,
  kPointEdge,
  kSegmentLength,
  kSegmentSpeed,
  kKeyFrom,
  kKeyTo,
  kKeyPoint,
  kCellFirst,
  kCellPoints,
  kOrder,
  kSectionCount,
};

struct SectionEntry {
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t section_count;
  uint32_t node_count;
  uint32_t reserved;
  uint64_t file_size;
  GridShape grid;
  uint32_t reserved2;
  ImportSummary summary;
  SectionEntry sections[kSectionCount];
};

uint64_t Align8(uint64_t n) {
  return (n + 7) & ~uint64_t{7};
}

struct Blob {
  const void* data;
  uint64_t bytes;
};

template <typename T>
Blob BlobOf(const std::vector<T>& v) {
  return {v.data(), v.size() * sizeof(T)};
}

// A read-only mapping, unmapped when the last view goes.
struct Mapping {
  void* base = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (base) munmap(base, size);
  }
};

template <typename T>
core::Status Bind(const uint8_t* base, const SectionEntry& s, std::span<const T>& out,
                  const char* name) {
  if (s.bytes % sizeof(T) != 0 || s.offset % alignof(T) != 0) {
    return core::InvalidArgument(fmt::format("road graph section {} is misaligned", name));
  }
  out = std::span<const T>(reinterpret_cast<const T*>(base + s.offset), s.bytes / sizeof(T));
  return core::OkStatus();
}

template <typename T>
bool AllBelow(std::span<const T> v, uint64_t bound) {
  return std::all_of(v.begin(), v.end(), [&](T x) { return static_cast<uint64_t>(x) < bound; });
}

template <typename T>
bool IsRangeIndex(std::span<const T> first, uint64_t count) {
  return !first.empty() && first.front() == 0 && first.back() == count &&
         std::is_sorted(first.begin(), first.end());
}

}  // namespace

uint32_t RoadGraph::EdgeOfArc(uint32_t arc) const {
  const auto it = std::upper_bound(edge_first_arc.begin(), edge_first_arc.end(), arc);
  return static_cast<uint32_t>(it - edge_first_arc.begin()) - 1;
}

std::pair<size_t, size_t> RoadGraph::FindSegments(int64_t from, int64_t to) const {
  auto before = [&](size_t i, bool or_equal) {
    if (key_from[i] != from) return key_from[i] < from;
    return or_equal ? key_to[i] <= to : key_to[i] < to;
  };
  auto search = [&](bool or_equal) {
    size_t lo = 0, hi = key_from.size();
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (before(mid, or_equal)) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  };
  return {search(false), search(true)};
}

core::Status RoadGraph::Check() const {
  const uint64_t e = edge_twin.size(), m = arc_tail.size(), p = point_lat.size();
  auto bad = [](std::string_view what) {
    return core::InvalidArgument(fmt::format("the road graph is inconsistent: {}", what));
  };
  if (edge_point_begin.size() != e + 1 || edge_first_arc.size() != e + 1 || edge_head.size() != e ||
      edge_class.size() != e || edge_way.size() != e || edge_flags.size() != e) {
    return bad("edge arrays differ in size");
  }
  if (arc_head.size() != m || point_lon.size() != p || point_osm.size() != p ||
      point_edge.size() != p || segment_length_dm.size() != p || segment_speed_kmh.size() != p) {
    return bad("arc or point arrays differ in size");
  }
  if (key_to.size() != key_from.size() || key_point.size() != key_from.size()) {
    return bad("segment keys differ in size");
  }
  if (!IsRangeIndex(edge_point_begin, p) || !IsRangeIndex(edge_first_arc, m)) {
    return bad("edge ranges");
  }
  for (uint64_t i = 0; i < e; ++i) {
    if (edge_point_begin[i + 1] - edge_point_begin[i] < 2) return bad("an edge without a segment");
  }
  if (!AllBelow(arc_tail, node_count_) || !AllBelow(arc_head, node_count_) ||
      !AllBelow(edge_head, node_count_)) {
    return bad("an arc names a node out of range");
  }
  if (!AllBelow(point_edge, e) || !AllBelow(key_point, p) || !AllBelow(cell_points, p)) {
    return bad("an index out of range");
  }
  // Each point names the edge holding it; keys and grid entries name segment starts.
  for (uint64_t i = 0; i < e; ++i) {
    for (uint32_t q = edge_point_begin[i]; q < edge_point_begin[i + 1]; ++q) {
      if (point_edge[q] != i) return bad("a point names the wrong edge");
    }
  }
  auto starts_segment = [&](uint32_t q) { return q + 1 < edge_point_begin[point_edge[q] + 1]; };
  if (!std::all_of(key_point.begin(), key_point.end(), starts_segment) ||
      !std::all_of(cell_points.begin(), cell_points.end(), starts_segment)) {
    return bad("a segment key or grid entry is not a segment");
  }
  if (!std::all_of(edge_twin.begin(), edge_twin.end(),
                   [&](uint32_t t) { return t == kNoEdge || t < e; })) {
    return bad("a twin out of range");
  }
  if (!std::all_of(segment_speed_kmh.begin(), segment_speed_kmh.end(),
                   [](uint8_t s) { return s > 0; })) {
    return bad("a segment without a speed");
  }
  if (uint64_t{grid.rows} * grid.cols + 1 != cell_first.size() ||
      !IsRangeIndex(cell_first, cell_points.size()) || grid.cell <= 0) {
    return bad("the snapping grid");
  }
  if (order.size() != node_count_) return bad("the contraction order");
  return core::OkStatus();
}

core::Result<std::shared_ptr<const RoadGraph>> RoadGraph::FromData(RoadGraphData data) {
  auto owned = std::make_shared<RoadGraphData>(std::move(data));
  std::shared_ptr<RoadGraph> g(new RoadGraph());
  const RoadGraphData& d = *owned;
  g->node_count_ = d.node_count;
  g->edge_point_begin = d.edge_point_begin;
  g->edge_first_arc = d.edge_first_arc;
  g->edge_twin = d.edge_twin;
  g->edge_head = d.edge_head;
  g->edge_class = d.edge_class;
  g->edge_way = d.edge_way;
  g->edge_flags = d.edge_flags;
  g->arc_tail = d.arc_tail;
  g->arc_head = d.arc_head;
  g->point_lat = d.point_lat;
  g->point_lon = d.point_lon;
  g->point_osm = d.point_osm;
  g->point_edge = d.point_edge;
  g->segment_length_dm = d.segment_length_dm;
  g->segment_speed_kmh = d.segment_speed_kmh;
  g->key_from = d.key_from;
  g->key_to = d.key_to;
  g->key_point = d.key_point;
  g->grid = d.grid;
  g->cell_first = d.cell_first;
  g->cell_points = d.cell_points;
  g->order = d.order;
  g->summary = d.summary;
  g->owner_ = owned;
  RETURN_IF_ERROR(g->Check());
  return std::shared_ptr<const RoadGraph>(std::move(g));
}

core::Result<std::shared_ptr<const RoadGraph>> RoadGraph::Load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return core::Fail(core::NotFound(fmt::format(
          "no road graph at {}: import one with `medulla routing import FILE.osm.pbf`", path)));
    }
    return core::Fail(core::Unavailable(fmt::format("{}: {}", path, std::strerror(errno))));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return core::Fail(core::Unavailable(fmt::format("{}: {}", path, std::strerror(errno))));
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < sizeof(FileHeader)) {
    ::close(fd);
    return core::Fail(core::InvalidArgument(fmt::format("{} is not a road graph file", path)));
  }
  void* base = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) {
    return core::Fail(core::Unavailable(fmt::format("{}: mmap: {}", path, std::strerror(errno))));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->base = base;
  mapping->size = size;
  // Queries touch the graph at random: read it in now rather than fault page by page.
  madvise(base, size, MADV_WILLNEED);

  FileHeader h;
  std::memcpy(&h, base, sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
    return core::Fail(core::InvalidArgument(fmt::format("{} is not a road graph file", path)));
  }
  if (h.version != kVersion || h.section_count != kSectionCount) {
    return core::Fail(core::InvalidArgument(
        fmt::format("{} is a road graph of format {}; this medulla reads {}: import it again", path,
                    h.version, kVersion)));
  }
  if (h.file_size != size) {
    return core::Fail(core::InvalidArgument(fmt::format(
        "{} is truncated or damaged ({} bytes, the header says {})", path, size, h.file_size)));
  }
  for (const SectionEntry& s : h.sections) {
    if (s.offset < sizeof(FileHeader) || s.offset > size || s.bytes > size - s.offset) {
      return core::Fail(
          core::InvalidArgument(fmt::format("{}: a section lies outside the file", path)));
    }
  }
  std::shared_ptr<RoadGraph> g(new RoadGraph());
  const auto* b = static_cast<const uint8_t*>(base);
  const SectionEntry* s = h.sections;
  g->node_count_ = h.node_count;
  g->grid = h.grid;
  g->summary = h.summary;
  RETURN_IF_ERROR(Bind(b, s[kEdgePointBegin], g->edge_point_begin, "edge_point_begin"));
  RETURN_IF_ERROR(Bind(b, s[kEdgeFirstArc], g->edge_first_arc, "edge_first_arc"));
  RETURN_IF_ERROR(Bind(b, s[kEdgeTwin], g->edge_twin, "edge_twin"));
  RETURN_IF_ERROR(Bind(b, s[kEdgeHead], g->edge_head, "edge_head"));
  RETURN_IF_ERROR(Bind(b, s[kEdgeClass], g->edge_class, "edge_class"));
  RETURN_IF_ERROR(Bind(b, s[kEdgeWay], g->edge_way, "edge_way"));
  RETURN_IF_ERROR(Bind(b, s[kEdgeFlags], g->edge_flags, "edge_flags"));
  RETURN_IF_ERROR(Bind(b, s[kArcTail], g->arc_tail, "arc_tail"));
  RETURN_IF_ERROR(Bind(b, s[kArcHead], g->arc_head, "arc_head"));
  RETURN_IF_ERROR(Bind(b, s[kPointLat], g->point_lat, "point_lat"));
  RETURN_IF_ERROR(Bind(b, s[kPointLon], g->point_lon, "point_lon"));
  RETURN_IF_ERROR(Bind(b, s[kPointOsm], g->point_osm, "point_osm"));
  RETURN_IF_ERROR(Bind(b, s[kPointEdge], g->point_edge, "point_edge"));
  RETURN_IF_ERROR(Bind(b, s[kSegmentLength], g->segment_length_dm, "segment_length"));
  RETURN_IF_ERROR(Bind(b, s[kSegmentSpeed], g->segment_speed_kmh, "segment_speed"));
  RETURN_IF_ERROR(Bind(b, s[kKeyFrom], g->key_from, "key_from"));
  RETURN_IF_ERROR(Bind(b, s[kKeyTo], g->key_to, "key_to"));
  RETURN_IF_ERROR(Bind(b, s[kKeyPoint], g->key_point, "key_point"));
  RETURN_IF_ERROR(Bind(b, s[kCellFirst], g->cell_first, "cell_first"));
  RETURN_IF_ERROR(Bind(b, s[kCellPoints], g->cell_points, "cell_points"));
  RETURN_IF_ERROR(Bind(b, s[kOrder], g->order, "order"));
  g->owner_ = mapping;
  if (core::Status st2 = g->Check(); !st2.ok()) {
    return core::Fail(core::InvalidArgument(fmt::format("{}: {}", path, st2.message())));
  }
  return std::shared_ptr<const RoadGraph>(std::move(g));
}

std::string RoadGraphPath(const std::string& data_dir) {
  return data_dir + "/routing.graph";
}

core::Status SaveRoadGraph(const RoadGraphData& d, const std::string& path) {
  const Blob blobs[kSectionCount] = {BlobOf(d.edge_point_begin),
                                     BlobOf(d.edge_first_arc),
                                     BlobOf(d.edge_twin),
                                     BlobOf(d.edge_head),
                                     BlobOf(d.edge_class),
                                     BlobOf(d.edge_way),
                                     BlobOf(d.edge_flags),
                                     BlobOf(d.arc_tail),
                                     BlobOf(d.arc_head),
                                     BlobOf(d.point_lat),
                                     BlobOf(d.point_lon),
                                     BlobOf(d.point_osm),
                                     BlobOf(d.point_edge),
                                     BlobOf(d.segment_length_dm),
                                     BlobOf(d.segment_speed_kmh),
                                     BlobOf(d.key_from),
                                     BlobOf(d.key_to),
                                     BlobOf(d.key_point),
                                     BlobOf(d.cell_first),
                                     BlobOf(d.cell_points),
                                     BlobOf(d.order)};
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.section_count = kSectionCount;
  h.node_count = d.node_count;
  h.grid = d.grid;
  h.summary = d.summary;
  uint64_t offset = Align8(sizeof(FileHeader));
  for (uint32_t i = 0; i < kSectionCount; ++i) {
    h.sections[i] = {offset, blobs[i].bytes};
    offset = Align8(offset + blobs[i].bytes);
  }
  h.file_size = offset;

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return core::Unavailable(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  auto write_all = [&](const void* data, uint64_t bytes, uint64_t at) {
    const auto* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::pwrite(fd, p, bytes, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      p += n;
      at += static_cast<uint64_t>(n);
      bytes -= static_cast<uint64_t>(n);
    }
    return true;
  };
  bool ok = write_all(&h, sizeof h, 0);
  for (uint32_t i = 0; ok && i < kSectionCount; ++i) {
    ok = write_all(blobs[i].data, blobs[i].bytes, h.sections[i].offset);
  }
  ok = ok && ::ftruncate(fd, static_cast<off_t>(h.file_size)) == 0 && ::fsync(fd) == 0;
  const int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = ok ? errno : saved_errno;
    ::unlink(tmp.c_str());
    return core::Unavailable(fmt::format("cannot write {}: {}", path, std::strerror(e)));
  }
  return core::OkStatus();
}

}  // namespace medulla::routing
