#include "routing/road_profile.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medulla::routing {
namespace {

using Tags = std::map<std::string, std::string, std::less<>>;

std::optional<WayProfile> Profile(const Tags& tags) {
  return ProfileOf([&](std::string_view key) -> std::string_view {
    const auto it = tags.find(key);
    return it == tags.end() ? std::string_view() : std::string_view(it->second);
  });
}

// ---------------------------------------------------------------------------------------------
// Which ways are kept

TEST(ProfileOfTest, KeepsEveryDrivableClassWithItsClass) {
  const std::vector<std::pair<std::string, RoadClass>> classes = {
      {"motorway", RoadClass::kMotorway},
      {"motorway_link", RoadClass::kMotorwayLink},
      {"trunk", RoadClass::kTrunk},
      {"trunk_link", RoadClass::kTrunkLink},
      {"primary", RoadClass::kPrimary},
      {"primary_link", RoadClass::kPrimaryLink},
      {"secondary", RoadClass::kSecondary},
      {"secondary_link", RoadClass::kSecondaryLink},
      {"tertiary", RoadClass::kTertiary},
      {"tertiary_link", RoadClass::kTertiaryLink},
      {"unclassified", RoadClass::kUnclassified},
      {"residential", RoadClass::kResidential},
      {"living_street", RoadClass::kLivingStreet},
      {"service", RoadClass::kService},
  };
  ASSERT_EQ(classes.size(), static_cast<size_t>(RoadClass::kCount));
  for (const auto& [highway, road_class] : classes) {
    SCOPED_TRACE(highway);
    const auto p = Profile({{"highway", highway}});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->road_class, road_class);
    EXPECT_EQ(RoadClassName(road_class), highway);
  }
}

TEST(ProfileOfTest, DropsWaysThatAreNotRoadsForMotorVehicles) {
  for (const char* highway : {"footway", "track", "construction", "proposed", "path", "cycleway",
                              "pedestrian", "steps", "bridleway", "platform", "raceway", ""}) {
    SCOPED_TRACE(highway);
    EXPECT_FALSE(Profile({{"highway", highway}}).has_value());
  }
  EXPECT_FALSE(Profile({{"building", "yes"}}).has_value()) << "no highway tag at all";
  EXPECT_FALSE(Profile({{"highway", "Residential"}}).has_value()) << "values are case-sensitive";
}

TEST(ProfileOfTest, DropsAreas) {
  EXPECT_FALSE(Profile({{"highway", "service"}, {"area", "yes"}}).has_value());
  EXPECT_TRUE(Profile({{"highway", "service"}, {"area", "no"}}).has_value());
}

TEST(ProfileOfTest, DropsRoadsClosedToMotorVehicles) {
  for (const char* key : {"access", "vehicle", "motor_vehicle", "motorcar"}) {
    for (const char* value : {"no", "private"}) {
      SCOPED_TRACE(std::string(key) + "=" + value);
      EXPECT_FALSE(Profile({{"highway", "residential"}, {key, value}}).has_value());
    }
  }
  EXPECT_TRUE(Profile({{"highway", "residential"}, {"access", "yes"}}).has_value());
  EXPECT_TRUE(Profile({{"highway", "residential"}, {"access", "destination"}}).has_value());
}

TEST(ProfileOfTest, AGeneralYesDoesNotOverrideASpecificNo) {
  EXPECT_FALSE(Profile({{"highway", "residential"}, {"access", "yes"}, {"motor_vehicle", "no"}})
                   .has_value());
}

// Regression: OSM access tags form a hierarchy, the more specific overriding the more general
// (access < vehicle < motor_vehicle < motorcar; OSM wiki Key:access, and OSRM's car profile,
// which reads the most specific tag present). ProfileOf dropped a way when any of them
// forbade, so "access=no + motor_vehicle=yes", a road open to motor vehicles only, was lost.
TEST(ProfileOfTest, ASpecificYesOverridesAGeneralNo) {
  EXPECT_TRUE(
      Profile({{"highway", "service"}, {"access", "no"}, {"motor_vehicle", "yes"}}).has_value());
  EXPECT_TRUE(Profile({{"highway", "residential"}, {"vehicle", "private"}, {"motorcar", "yes"}})
                  .has_value());
}

TEST(ProfileOfTest, AnEmergencyExemptionOpensAClosedRoad) {
  for (const char* emergency : {"yes", "designated"}) {
    SCOPED_TRACE(emergency);
    for (const char* access : {"no", "private"}) {
      EXPECT_TRUE(Profile({{"highway", "service"}, {"access", access}, {"emergency", emergency}})
                      .has_value());
    }
    EXPECT_TRUE(Profile({{"highway", "service"}, {"motor_vehicle", "no"}, {"emergency", emergency}})
                    .has_value());
  }
}

TEST(ProfileOfTest, EmergencyNoClosesAnOpenRoad) {
  EXPECT_FALSE(Profile({{"highway", "primary"}, {"emergency", "no"}}).has_value());
  EXPECT_FALSE(
      Profile({{"highway", "primary"}, {"access", "yes"}, {"emergency", "no"}}).has_value());
}

// ---------------------------------------------------------------------------------------------
// Directions

TEST(ProfileOfTest, TwoWayByDefault) {
  const auto p = Profile({{"highway", "residential"}});
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->forward);
  EXPECT_TRUE(p->backward);
}

TEST(ProfileOfTest, OnewayYesIsForwardOnly) {
  for (const char* v : {"yes", "true", "1"}) {
    SCOPED_TRACE(v);
    const auto p = Profile({{"highway", "residential"}, {"oneway", v}});
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->forward);
    EXPECT_FALSE(p->backward);
  }
}

TEST(ProfileOfTest, OnewayMinusOneIsBackwardOnly) {
  const auto p = Profile({{"highway", "residential"}, {"oneway", "-1"}});
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->forward);
  EXPECT_TRUE(p->backward);
}

TEST(ProfileOfTest, OnewayNoIsBothWays) {
  const auto p = Profile({{"highway", "residential"}, {"oneway", "no"}});
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->forward);
  EXPECT_TRUE(p->backward);
}

TEST(ProfileOfTest, MotorwaysAndRoundaboutsAreImpliedOneWay) {
  for (const Tags& tags :
       {Tags{{"highway", "motorway"}}, Tags{{"highway", "residential"}, {"junction", "roundabout"}},
        Tags{{"highway", "primary"}, {"junction", "circular"}}}) {
    const auto p = Profile(tags);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->forward);
    EXPECT_FALSE(p->backward);
  }
}

TEST(ProfileOfTest, OnewayNoOverridesTheImpliedOneWay) {
  for (const Tags& tags :
       {Tags{{"highway", "motorway"}, {"oneway", "no"}},
        Tags{{"highway", "residential"}, {"junction", "roundabout"}, {"oneway", "no"}}}) {
    const auto p = Profile(tags);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->forward);
    EXPECT_TRUE(p->backward);
  }
}

TEST(ProfileOfTest, OnewayMinusOneOnARoundaboutIsBackwardOnly) {
  const auto p =
      Profile({{"highway", "residential"}, {"junction", "roundabout"}, {"oneway", "-1"}});
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->forward);
  EXPECT_TRUE(p->backward);
}

TEST(ProfileOfTest, DropsReversibleRoads) {
  EXPECT_FALSE(Profile({{"highway", "primary"}, {"oneway", "reversible"}}).has_value());
  EXPECT_FALSE(Profile({{"highway", "primary"}, {"oneway", "alternating"}}).has_value());
}

// ---------------------------------------------------------------------------------------------
// Speeds

TEST(ProfileOfTest, WithoutMaxspeedTheClassDefaultBothWays) {
  for (RoadClass c : {RoadClass::kMotorway, RoadClass::kPrimary, RoadClass::kResidential,
                      RoadClass::kService, RoadClass::kLivingStreet}) {
    SCOPED_TRACE(std::string(RoadClassName(c)));
    const auto p = Profile({{"highway", std::string(RoadClassName(c))}});
    ASSERT_TRUE(p);
    EXPECT_EQ(p->forward_kmh, static_cast<uint8_t>(DefaultSpeedKmh(c)));
    EXPECT_EQ(p->backward_kmh, static_cast<uint8_t>(DefaultSpeedKmh(c)));
  }
  EXPECT_EQ(DefaultSpeedKmh(RoadClass::kResidential), 25);
  EXPECT_EQ(DefaultSpeedKmh(RoadClass::kMotorway), 90);
}

TEST(ProfileOfTest, SpeedIsEightyPercentOfMaxspeed) {
  const auto p = Profile({{"highway", "primary"}, {"maxspeed", "50"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->forward_kmh, 40);
  EXPECT_EQ(p->backward_kmh, 40);
  const auto mph = Profile({{"highway", "primary"}, {"maxspeed", "30 mph"}});
  ASSERT_TRUE(mph);
  EXPECT_EQ(mph->forward_kmh, 39);  // 48.28 km/h x 0.8 = 38.6
}

TEST(ProfileOfTest, UnreadableMaxspeedFallsBackToTheClassDefault) {
  const auto p = Profile({{"highway", "primary"}, {"maxspeed", "fast"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->forward_kmh, 65);
  EXPECT_EQ(p->backward_kmh, 65);
}

TEST(ProfileOfTest, MaxspeedNoneOnAMotorway) {
  const auto p = Profile({{"highway", "motorway"}, {"maxspeed", "none"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->forward_kmh, 104);  // 130 x 0.8
}

TEST(ProfileOfTest, DirectionalMaxspeedsOverrideTheGeneralOne) {
  const auto p = Profile({{"highway", "secondary"},
                          {"maxspeed", "50"},
                          {"maxspeed:forward", "70"},
                          {"maxspeed:backward", "30"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->forward_kmh, 56);
  EXPECT_EQ(p->backward_kmh, 24);
}

TEST(ProfileOfTest, OneDirectionalMaxspeedLeavesTheOtherDirectionOnTheGeneralOne) {
  const auto fwd =
      Profile({{"highway", "secondary"}, {"maxspeed", "50"}, {"maxspeed:forward", "70"}});
  ASSERT_TRUE(fwd);
  EXPECT_EQ(fwd->forward_kmh, 56);
  EXPECT_EQ(fwd->backward_kmh, 40);
  const auto bwd = Profile({{"highway", "secondary"}, {"maxspeed:backward", "30"}});
  ASSERT_TRUE(bwd);
  EXPECT_EQ(bwd->forward_kmh, 55);  // the class default
  EXPECT_EQ(bwd->backward_kmh, 24);
}

TEST(ProfileOfTest, SpeedsStayAtLeastOneKmh) {
  const auto p = Profile({{"highway", "service"}, {"maxspeed", "1"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->forward_kmh, 1);  // 0.8 rounds to 1
}

// ---------------------------------------------------------------------------------------------
// ParseMaxspeed

void ExpectKmh(std::string_view value, double want, RoadClass c = RoadClass::kPrimary) {
  SCOPED_TRACE(std::string(value));
  const std::optional<double> got = ParseMaxspeed(value, c);
  ASSERT_TRUE(got.has_value());
  EXPECT_NEAR(*got, want, 1e-9);
}

void ExpectUnreadable(std::string_view value, RoadClass c = RoadClass::kPrimary) {
  const std::optional<double> got = ParseMaxspeed(value, c);
  EXPECT_FALSE(got.has_value()) << "'" << value << "' read as " << got.value_or(-1);
}

TEST(ParseMaxspeedTest, PlainKmh) {
  ExpectKmh("50", 50);
  ExpectKmh("120", 120);
  ExpectKmh("50 km/h", 50);
  ExpectKmh("50 kmh", 50);
  ExpectKmh(" 50 ", 50);
}

TEST(ParseMaxspeedTest, MilesAndKnots) {
  ExpectKmh("30 mph", 30 * 1.609344);
  ExpectKmh("30mph", 30 * 1.609344);
  ExpectKmh("10 knots", 18.52);
}

TEST(ParseMaxspeedTest, CountryZones) {
  ExpectKmh("PT:urban", 50);
  ExpectKmh("PT:rural", 90);
  ExpectKmh("DE:motorway", 120);
  ExpectKmh("FR:living_street", 20);
  ExpectKmh("DE:zone30", 30);
  ExpectKmh("FR:zone:30", 30);
  ExpectKmh("DE:zone:20", 20);
  ExpectUnreadable("PT:somewhere");
}

TEST(ParseMaxspeedTest, NoneOnlyOnMotorways) {
  ExpectKmh("none", 130, RoadClass::kMotorway);
  ExpectUnreadable("none", RoadClass::kPrimary);
  ExpectUnreadable("none", RoadClass::kResidential);
}

TEST(ParseMaxspeedTest, Walk) {
  ExpectKmh("walk", 10);
}

TEST(ParseMaxspeedTest, GarbageIsNullopt) {
  for (const char* v : {"", " ", "fast", "signals", "variable", "50 furlongs", "km/h", "-30", "0",
                        "5000", "nan", "inf", "mph", "fifty", ";30"}) {
    SCOPED_TRACE(v);
    ExpectUnreadable(v);
  }
}

TEST(ParseMaxspeedTest, SeveralValuesTakeTheFirst) {
  ExpectKmh("50;30", 50);
  ExpectKmh("30 mph;20 mph", 30 * 1.609344);
}

}  // namespace
}  // namespace medulla::routing
