// The emergency-vehicle road profile: which OSM ways an ambulance drives on, in which
// directions, and at what free-flow speed. Plain functions over a way's tags, so the profile is
// tested without any OSM file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace medulla::routing {

// Road classes kept in the graph, from OSM highway=*. The order is the file format's (stored
// per edge): append only.
enum class RoadClass : uint8_t {
  kMotorway,
  kMotorwayLink,
  kTrunk,
  kTrunkLink,
  kPrimary,
  kPrimaryLink,
  kSecondary,
  kSecondaryLink,
  kTertiary,
  kTertiaryLink,
  kUnclassified,
  kResidential,
  kLivingStreet,
  kService,
  kCount,
};
std::string_view RoadClassName(RoadClass c);

// A way's tag value by key; empty when the way has no such tag.
using TagLookup = std::function<std::string_view(std::string_view key)>;

struct WayProfile {
  RoadClass road_class = RoadClass::kResidential;
  bool forward = true;   // drivable in the way's node order
  bool backward = true;  // drivable against it
  // Free-flow speeds in km/h (1..250), per direction.
  uint8_t forward_kmh = 0;
  uint8_t backward_kmh = 0;
};

// The profile of a way, or nullopt when an ambulance does not drive on it (not a road for motor
// vehicles, closed to them without an emergency exemption, an area, under construction).
std::optional<WayProfile> ProfileOf(const TagLookup& tags);

// A maxspeed value in km/h: "50", "30 mph", "PT:urban" style zone names, "walk", "none"
// (nullopt for what cannot be read; the class default is used then).
std::optional<double> ParseMaxspeed(std::string_view value, RoadClass road_class);

// The free-flow speed when the way has no usable maxspeed (km/h).
double DefaultSpeedKmh(RoadClass c);

}  // namespace medulla::routing
