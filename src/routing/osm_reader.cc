#include "routing/osm_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <exception>

#include <fmt/format.h>
#include <osmium/handler.hpp>
#include <osmium/handler/node_locations_for_ways.hpp>
#include <osmium/index/map/flex_mem.hpp>
#include <osmium/io/pbf_input.hpp>
#include <osmium/osm/relation.hpp>
#include <osmium/osm/way.hpp>
#include <osmium/util/progress_bar.hpp>
#include <osmium/visitor.hpp>

namespace medulla::routing {

namespace {

using LocationIndex =
    osmium::index::map::FlexMem<osmium::unsigned_object_id_type, osmium::Location>;
using LocationHandler = osmium::handler::NodeLocationsForWays<LocationIndex>;

std::string_view Tag(const osmium::TagList& tags, std::string_view key) {
  // TagList::get_value_by_key needs a NUL-terminated key; the profile's keys are literals.
  const char* v = tags.get_value_by_key(std::string(key).c_str());
  return v ? std::string_view(v) : std::string_view();
}

// A via-node restriction from its relation, or nullopt (counted as skipped by the builder's
// caller) for via-way restrictions, exemptions for cars, and malformed relations.
std::optional<TurnRestriction> RestrictionOf(const osmium::Relation& rel, ImportSummary& summary) {
  const osmium::TagList& tags = rel.tags();
  if (Tag(tags, "type") != "restriction") return std::nullopt;
  ++summary.restrictions_read;
  std::string_view kind = Tag(tags, "restriction");
  if (kind.empty()) kind = Tag(tags, "restriction:motorcar");
  const std::string_view except = Tag(tags, "except");
  const bool only = kind.starts_with("only_");
  if ((!only && !kind.starts_with("no_")) || except.find("motorcar") != std::string_view::npos ||
      except.find("emergency") != std::string_view::npos) {
    ++summary.restrictions_skipped;
    return std::nullopt;
  }
  TurnRestriction r;
  r.only = only;
  int from = 0, via = 0, to = 0;
  for (const osmium::RelationMember& m : rel.members()) {
    const std::string_view role = m.role();
    if (role == "from" && m.type() == osmium::item_type::way) {
      r.from_way = m.ref();
      ++from;
    } else if (role == "to" && m.type() == osmium::item_type::way) {
      r.to_way = m.ref();
      ++to;
    } else if (role == "via") {
      if (m.type() != osmium::item_type::node) via = 99;  // via a way: not supported
      r.via_node = m.ref();
      ++via;
    }
  }
  if (from != 1 || via != 1 || to != 1) {
    ++summary.restrictions_skipped;
    return std::nullopt;
  }
  return r;
}

class WayCollector : public osmium::handler::Handler {
 public:
  explicit WayCollector(RoadNetwork& network) : network_(network) {}

  void way(const osmium::Way& way) {
    ++network_.summary.ways_read;
    const osmium::TagList& tags = way.tags();
    const std::optional<WayProfile> profile =
        ProfileOf([&](std::string_view key) { return Tag(tags, key); });
    if (!profile) return;
    ++network_.summary.ways_kept;
    NetworkWay w;
    w.id = way.id();
    w.profile = *profile;
    w.nodes.reserve(way.nodes().size());
    for (const osmium::NodeRef& ref : way.nodes()) {
      w.nodes.push_back(ref.ref());
      if (ref.location().valid()) {
        network_.nodes.try_emplace(ref.ref(), NodeLocation{ref.location().y(), ref.location().x()});
      }
    }
    network_.ways.push_back(std::move(w));
  }

 private:
  RoadNetwork& network_;
};

}  // namespace

core::Result<RoadNetwork> ReadOsmNetwork(const std::string& path, const OsmReadOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return core::Fail(core::NotFound(fmt::format("{}: {}", path, std::strerror(errno))));
  }
  RoadNetwork network;
  const bool bar = options.progress && ::isatty(STDERR_FILENO);
  try {
    // Pass 1: turn restrictions (relations come last in a PBF; reading them first means the
    // ways need not be kept in OSM form).
    {
      osmium::io::Reader reader{osmium::io::File(path, "pbf"), osmium::osm_entity_bits::relation};
      osmium::ProgressBar progress{reader.file_size(), bar};
      if (options.progress && !bar) std::fprintf(stderr, "reading turn restrictions...\n");
      while (osmium::memory::Buffer buffer = reader.read()) {
        progress.update(reader.offset());
        for (const osmium::Relation& rel : buffer.select<osmium::Relation>()) {
          if (auto r = RestrictionOf(rel, network.summary)) network.restrictions.push_back(*r);
        }
      }
      progress.done();
      reader.close();
    }
    // Pass 2: node locations and the ways the profile keeps.
    {
      osmium::io::Reader reader{osmium::io::File(path, "pbf"),
                                osmium::osm_entity_bits::node | osmium::osm_entity_bits::way};
      osmium::ProgressBar progress{reader.file_size(), bar};
      if (options.progress && !bar) std::fprintf(stderr, "reading roads...\n");
      LocationIndex index;
      LocationHandler locations{index};
      locations.ignore_errors();  // a way naming a missing node is cut there by the builder
      WayCollector ways(network);
      while (osmium::memory::Buffer buffer = reader.read()) {
        progress.update(reader.offset());
        osmium::apply(buffer, locations, ways);
      }
      progress.done();
      reader.close();
    }
  } catch (const std::exception& e) {
    return core::Fail(core::InvalidArgument(
        fmt::format("{} is not a readable OSM PBF file: {}", path, e.what())));
  }
  if (network.summary.ways_read == 0) {
    return core::Fail(core::InvalidArgument(fmt::format("{} holds no OSM ways", path)));
  }
  return network;
}

}  // namespace medulla::routing
