// Road-only (and optionally cropped) extract of an OSM PBF: highway ways (any node in
// the box), all their nodes, and restriction relations whose members are all kept; no
// metadata. How tests/data/osm/*.pbf were made from the shared data set (see the README there):
//   g++ -std=c++20 -O2 tools/osm_road_extract.cc -o /tmp/osm_road_extract -lz -lbz2 -lexpat
//   -lpthread /tmp/osm_road_extract IN.osm.pbf OUT.osm.pbf [MIN_LON MIN_LAT MAX_LON MAX_LAT]
#include <cstdio>
#include <osmium/io/pbf_input.hpp>
#include <osmium/io/pbf_output.hpp>
#include <osmium/osm.hpp>
#include <set>
#include <unordered_map>
int main(int argc, char** argv) {
  const char* in = argv[1];
  const char* out = argv[2];
  double x0 = -1e9, y0 = -1e9, x1 = 1e9, y1 = 1e9;
  if (argc > 6) {
    x0 = atof(argv[3]);
    y0 = atof(argv[4]);
    x1 = atof(argv[5]);
    y1 = atof(argv[6]);
  }
  std::unordered_map<int64_t, osmium::Location> loc;
  std::set<int64_t> ways, nodes;
  {
    osmium::io::Reader r{osmium::io::File(in, "pbf"),
                         osmium::osm_entity_bits::node | osmium::osm_entity_bits::way};
    while (auto b = r.read())
      for (auto& item : b) {
        if (item.type() == osmium::item_type::node) {
          auto& n = static_cast<osmium::Node&>(item);
          loc[n.id()] = n.location();
        } else if (item.type() == osmium::item_type::way) {
          auto& w = static_cast<osmium::Way&>(item);
          if (!w.tags().has_key("highway")) continue;
          bool inside = false;
          for (auto& n : w.nodes()) {
            auto it = loc.find(n.ref());
            if (it != loc.end() && it->second.valid()) {
              double x = it->second.lon(), y = it->second.lat();
              if (x >= x0 && x <= x1 && y >= y0 && y <= y1) inside = true;
            }
          }
          if (!inside) continue;
          ways.insert(w.id());
          for (auto& n : w.nodes()) nodes.insert(n.ref());
        }
      }
  }
  osmium::io::File of{out, "pbf"};
  of.set("add_metadata", "false");
  osmium::io::Header h;
  h.set("generator", "medulla test-data extract (libosmium)");
  osmium::io::Writer wr{of, h, osmium::io::overwrite::allow};
  osmium::io::Reader r{osmium::io::File(in, "pbf")};
  size_t nn = 0, nw = 0, nr = 0;
  while (auto b = r.read())
    for (auto& item : b) {
      if (item.type() == osmium::item_type::node) {
        if (nodes.count(static_cast<osmium::Node&>(item).id())) {
          wr(static_cast<osmium::Node&>(item));
          ++nn;
        }
      } else if (item.type() == osmium::item_type::way) {
        if (ways.count(static_cast<osmium::Way&>(item).id())) {
          wr(static_cast<osmium::Way&>(item));
          ++nw;
        }
      } else if (item.type() == osmium::item_type::relation) {
        auto& rel = static_cast<osmium::Relation&>(item);
        const char* t = rel.tags()["type"];
        if (!t || std::string(t) != "restriction") continue;
        bool ok = true;
        for (auto& m : rel.members()) {
          if (m.type() == osmium::item_type::way && !ways.count(m.ref())) ok = false;
          if (m.type() == osmium::item_type::node && !nodes.count(m.ref())) ok = false;
        }
        if (ok) {
          wr(rel);
          ++nr;
        }
      }
    }
  wr.close();
  printf("%zu nodes %zu ways %zu relations\n", nn, nw, nr);
}
