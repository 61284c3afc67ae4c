#include "routing/road_profile.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace medulla::routing {

namespace {

struct ClassInfo {
  std::string_view highway;
  RoadClass road_class;
  double default_kmh;
};

// Free-flow speeds by class without a posted limit: those of OSRM's car profile (profiles/
// car.lua, speeds table), which the city's traffic engineers know and the reference figures use.
constexpr std::array<ClassInfo, static_cast<size_t>(RoadClass::kCount)> kClasses{{
    {"motorway", RoadClass::kMotorway, 90},
    {"motorway_link", RoadClass::kMotorwayLink, 45},
    {"trunk", RoadClass::kTrunk, 85},
    {"trunk_link", RoadClass::kTrunkLink, 40},
    {"primary", RoadClass::kPrimary, 65},
    {"primary_link", RoadClass::kPrimaryLink, 30},
    {"secondary", RoadClass::kSecondary, 55},
    {"secondary_link", RoadClass::kSecondaryLink, 25},
    {"tertiary", RoadClass::kTertiary, 40},
    {"tertiary_link", RoadClass::kTertiaryLink, 20},
    {"unclassified", RoadClass::kUnclassified, 25},
    {"residential", RoadClass::kResidential, 25},
    {"living_street", RoadClass::kLivingStreet, 10},
    {"service", RoadClass::kService, 15},
}};

// A posted limit is a ceiling, not the speed driven: as OSRM's car profile, 80% of it.
constexpr double kPostedLimitShare = 0.8;

bool IsOneOf(std::string_view v, std::initializer_list<std::string_view> values) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// "no"/"private" and the like close a road to general traffic.
bool Forbids(std::string_view access) {
  return IsOneOf(access, {"no", "private", "agricultural", "forestry", "discouraged"});
}

uint8_t ToKmh(double kmh) {
  return static_cast<uint8_t>(std::clamp(std::lround(kmh), 1L, 250L));
}

}  // namespace

std::string_view RoadClassName(RoadClass c) {
  const auto i = static_cast<size_t>(c);
  return i < kClasses.size() ? kClasses[i].highway : "unknown";
}

double DefaultSpeedKmh(RoadClass c) {
  const auto i = static_cast<size_t>(c);
  return i < kClasses.size() ? kClasses[i].default_kmh : 10;
}

std::optional<double> ParseMaxspeed(std::string_view value, RoadClass road_class) {
  if (const auto semi = value.find(';'); semi != std::string_view::npos) {
    value = value.substr(0, semi);  // "50;30": the first is the general limit
  }
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value == "none") {
    return road_class == RoadClass::kMotorway ? std::optional<double>(130) : std::nullopt;
  }
  if (value == "walk") return 10;
  if (value == "signals" || value == "variable") return std::nullopt;
  // Zone limits "PT:urban", "DE:zone30", "FR:zone:30".
  if (const auto colon = value.find(':'); colon != std::string_view::npos) {
    std::string_view zone = value.substr(colon + 1);
    if (zone == "urban") return 50;
    if (zone == "rural") return 90;
    if (zone == "motorway") return 120;
    if (zone == "trunk") return 100;
    if (zone == "living_street") return 20;
    if (zone.starts_with("zone")) {
      zone.remove_prefix(4);
      if (!zone.empty() && zone.front() == ':') zone.remove_prefix(1);
      value = zone;
    } else {
      return std::nullopt;
    }
  }
  double number = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || !(number > 0) || number > 300) return std::nullopt;
  std::string_view unit(end, static_cast<size_t>(value.data() + value.size() - end));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (unit == "mph") return number * 1.609344;
  if (unit == "knots") return number * 1.852;
  if (unit.empty() || unit == "km/h" || unit == "kmh" || unit == "kph") return number;
  return std::nullopt;
}

std::optional<WayProfile> ProfileOf(const TagLookup& tags) {
  const std::string_view highway = tags("highway");
  const auto info = std::find_if(kClasses.begin(), kClasses.end(),
                                 [&](const ClassInfo& c) { return c.highway == highway; });
  if (info == kClasses.end()) return std::nullopt;
  if (tags("area") == "yes") return std::nullopt;
  // Access: an emergency exemption opens a road closed to others; "emergency=no" closes it.
  const std::string_view emergency = tags("emergency");
  if (emergency == "no") return std::nullopt;
  if (!IsOneOf(emergency, {"yes", "designated", "permissive"})) {
    // The most specific access tag present decides (OSM access hierarchy: motorcar over
    // motor_vehicle over vehicle over access), so "access=no + motor_vehicle=yes" is open.
    for (std::string_view key : {"motorcar", "motor_vehicle", "vehicle", "access"}) {
      const std::string_view value = tags(key);
      if (value.empty()) continue;
      if (Forbids(value)) return std::nullopt;
      break;
    }
  }

  WayProfile p;
  p.road_class = info->road_class;
  const std::string_view oneway = tags("oneway");
  const std::string_view junction = tags("junction");
  if (IsOneOf(oneway, {"reversible", "alternating"})) return std::nullopt;  // direction by time
  if (IsOneOf(oneway, {"yes", "true", "1"})) {
    p.backward = false;
  } else if (IsOneOf(oneway, {"-1", "reverse"})) {
    p.forward = false;
  } else if (oneway != "no" && (IsOneOf(junction, {"roundabout", "circular"}) ||
                                p.road_class == RoadClass::kMotorway)) {
    p.backward = false;  // implied one-way
  }

  const double fallback = info->default_kmh;
  auto posted = [&](std::string_view key) -> std::optional<double> {
    std::string_view v = tags(key);
    if (v.empty()) return std::nullopt;
    return ParseMaxspeed(v, p.road_class);
  };
  const std::optional<double> both = posted("maxspeed");
  const std::optional<double> fwd = posted("maxspeed:forward");
  const std::optional<double> bwd = posted("maxspeed:backward");
  auto speed = [&](const std::optional<double>& directional) {
    const std::optional<double>& limit = directional ? directional : both;
    return ToKmh(limit ? *limit * kPostedLimitShare : fallback);
  };
  p.forward_kmh = speed(fwd);
  p.backward_kmh = speed(bwd);
  return p;
}

}  // namespace medulla::routing
