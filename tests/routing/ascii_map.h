// Road networks drawn as text, as OSRM's cucumber features draw them:
//
//       d
//       |
//   a - b - c
//
// Each letter is an OSM node at its column and row on a grid of `spacing_m` metres (a column is
// one character), placed in Porto; everything else is decoration. Ways list their nodes as a
// string ("abc") with OSM tags; restrictions name ways by their ids.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "routing/graph_builder.h"
#include "routing/router.h"

namespace medulla::routing::testing {

struct AsciiWay {
  int64_t id;
  std::string nodes;
  std::map<std::string, std::string> tags = {{"highway", "residential"}};
};

class AsciiMap {
 public:
  static constexpr double kOriginLat = 41.15, kOriginLon = -8.61;

  explicit AsciiMap(std::string_view drawing, double spacing_m = 100) {
    int row = 0, col = 0;
    for (char c : drawing) {
      if (c == '\n') {
        ++row;
        col = 0;
        continue;
      }
      if (std::isalpha(static_cast<unsigned char>(c))) {
        const double lat = kOriginLat - row * spacing_m / kMetresPerDegree;
        const double lon =
            kOriginLon + col * spacing_m / (kMetresPerDegree * std::cos(kOriginLat * M_PI / 180));
        places_[c] = {lon, lat};
      }
      ++col;
    }
  }

  // The OSM node id of a letter.
  static int64_t Node(char c) { return 1000 + static_cast<unsigned char>(c); }
  LonLat At(char c) const { return places_.at(c); }
  // A point `share` of the way from one letter to another.
  LonLat Between(char a, char b, double share) const {
    const LonLat p = At(a), q = At(b);
    return {p.lon + (q.lon - p.lon) * share, p.lat + (q.lat - p.lat) * share};
  }
  NodeLocation Location(char c) const {
    return {static_cast<int32_t>(std::lround(At(c).lat * 1e7)),
            static_cast<int32_t>(std::lround(At(c).lon * 1e7))};
  }
  // Metres between two adjacent letters, as the graph measures them.
  double Metres(char a, char b) const { return DistanceMetres(Location(a), Location(b)); }

  RoadNetwork Network(const std::vector<AsciiWay>& ways,
                      const std::vector<TurnRestriction>& restrictions = {}) const {
    RoadNetwork net;
    for (const AsciiWay& w : ways) {
      NetworkWay way;
      way.id = w.id;
      auto profile = ProfileOf([&](std::string_view key) -> std::string_view {
        const auto it = w.tags.find(std::string(key));
        return it == w.tags.end() ? std::string_view() : std::string_view(it->second);
      });
      if (!profile) continue;
      way.profile = *profile;
      for (char c : w.nodes) {
        way.nodes.push_back(Node(c));
        net.nodes[Node(c)] = Location(c);
      }
      net.ways.push_back(std::move(way));
    }
    net.restrictions = restrictions;
    return net;
  }

 private:
  static constexpr double kMetresPerDegree = 111'194.9266;  // mean Earth radius
  std::map<char, LonLat> places_;
};

}  // namespace medulla::routing::testing
