// The simulated day (dispatch/simulation.h) on the central-Porto extract, 8 random hospitals,
// 300 incidents: the recommended destination gets patients to treatment sooner than "the
// nearest capable hospital by straight line" and "by drive time", on the mean and on the 90th
// percentile, for several seeds; a seed replays the same day.
#include "dispatch/simulation.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "routing/graph_builder.h"
#include "routing/osm_reader.h"

namespace medulla::dispatch {
namespace {

std::string DataPath(const std::string& name) {
  const char* dir = std::getenv("MEDULLA_TEST_DATA");
  return std::string(dir ? dir : "tests/data") + "/" + name;
}

class SimulatedDayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto network = routing::ReadOsmNetwork(DataPath("osm/porto_centre.osm.pbf"), {});
    ASSERT_TRUE(network) << network.error().message();
    auto data = routing::BuildRoadGraph(*network);
    ASSERT_TRUE(data) << data.error().message();
    auto graph = routing::RoadGraph::FromData(std::move(*data));
    ASSERT_TRUE(graph) << graph.error().message();
    auto router = routing::Router::Open(*graph, {.time_of_day = false});
    ASSERT_TRUE(router) << router.error().message();
    router_ = std::move(*router);
  }
  static void TearDownTestSuite() { router_.reset(); }

  static SimulationConfig Config(uint64_t seed) {
    SimulationConfig c;
    c.seed = seed;
    c.random_hospitals = 8;
    c.incidents = 300;
    return c;
  }

  static SimulationResult Run(const SimulationConfig& config) {
    auto r = SimulateDay(*router_, config);
    EXPECT_TRUE(r) << r.error().message();
    return r ? std::move(*r) : SimulationResult{};
  }

  static void ExpectRecommendationWins(const SimulationResult& r, uint64_t seed) {
    const PolicyOutcome& rec = r.policies[size_t(DestinationPolicy::kRecommended)];
    for (DestinationPolicy baseline :
         {DestinationPolicy::kNearestStraightLine, DestinationPolicy::kNearestDriveTime}) {
      const PolicyOutcome& base = r.policies[size_t(baseline)];
      EXPECT_LT(rec.mean_min, base.mean_min) << "seed " << seed << ", " << PolicyName(baseline);
      EXPECT_LT(rec.p90_min, base.p90_min) << "seed " << seed << ", " << PolicyName(baseline);
    }
    for (size_t p = 0; p < kPolicyCount; ++p) {
      const PolicyOutcome& o = r.policies[p];
      fmt::print("seed {} {:<26} mean {:5.1f} p90 {:5.1f} min, turned away {}\n", seed,
                 PolicyName(static_cast<DestinationPolicy>(p)), o.mean_min, o.p90_min,
                 o.turned_away);
    }
  }

  static inline std::unique_ptr<routing::Router> router_;
};

TEST_F(SimulatedDayTest, TheRecommendationBeatsBothNearestHospitalRulesOnMeanAndP90) {
  const SimulationResult r = Run(Config(1));
  ASSERT_EQ(r.incidents.size(), 300u);
  ExpectRecommendationWins(r, 1);
}

TEST_F(SimulatedDayTest, ItStillHoldsOnOtherDays) {
  for (uint64_t seed : {2, 3}) ExpectRecommendationWins(Run(Config(seed)), seed);
}

TEST_F(SimulatedDayTest, ASeedReplaysTheSameDay) {
  const SimulationResult a = Run(Config(1));
  const SimulationResult b = Run(Config(1));
  EXPECT_TRUE(a == b);
  const SimulationResult c = Run(Config(2));
  EXPECT_FALSE(a == c);
}

TEST_F(SimulatedDayTest, TheWorldIsTheOneConfigured) {
  const SimulationConfig config = Config(1);
  const SimulationResult r = Run(config);
  ASSERT_EQ(r.hospitals.size(), 8u);
  // Random sites at least 1.5 km apart, and every condition has a capable hospital (the
  // central tier has everything).
  uint32_t all = 0;
  for (size_t i = 0; i < r.hospitals.size(); ++i) {
    all |= r.hospitals[i].capabilities;
    for (size_t j = 0; j < i; ++j) {
      const double dlat = (r.hospitals[i].lat - r.hospitals[j].lat) * 111'195;
      const double dlon = (r.hospitals[i].lon - r.hospitals[j].lon) * 111'195 * 0.7527;
      EXPECT_GE(std::hypot(dlat, dlon), 1490) << r.hospitals[i].id << " " << r.hospitals[j].id;
    }
  }
  EXPECT_TRUE(all & kThrombectomy);
  EXPECT_TRUE(all & kBurns);
  int total = 0;
  for (int n : r.condition_count) total += n;
  EXPECT_EQ(total, 300);
  // The mix: general the great majority, each time-critical condition present.
  EXPECT_GT(r.condition_count[size_t(Condition::kGeneral)], 180);
  EXPECT_GT(r.condition_count[size_t(Condition::kStroke)], 0);
  EXPECT_GT(r.condition_count[size_t(Condition::kMajorTrauma)], 0);
  // Incidents by time, within the day; a policy's times are never below the drive alone.
  for (size_t i = 1; i < r.incidents.size(); ++i) {
    EXPECT_LE(r.incidents[i - 1].at_ms, r.incidents[i].at_ms);
  }
  for (const SimulatedIncident& i : r.incidents) {
    for (double m : i.minutes) EXPECT_GT(m, 0);
  }
  EXPECT_GT(r.mean_jammed_share, 0.005);
  EXPECT_LT(r.mean_jammed_share, 0.05);
  // The baselines do not know about diversion and meet it; the recommendation mostly not.
  EXPECT_LE(r.policies[0].turned_away, r.policies[2].turned_away);
}

TEST_F(SimulatedDayTest, LoadFeedbackLeavesTheStatusQuoAsItWas) {
  // With feedback, loads move with the patients a policy moves away from the status quo
  // (nearest by drive time), whose own world is therefore the same day either way.
  SimulationConfig config = Config(1);
  const SimulationResult without = Run(config);
  config.load_feedback = true;
  const SimulationResult with = Run(config);
  const auto status_quo = size_t(DestinationPolicy::kNearestDriveTime);
  EXPECT_TRUE(without.policies[status_quo] == with.policies[status_quo]);
  EXPECT_GT(with.ambulance_patients_per_day, 0);
}

TEST_F(SimulatedDayTest, AHospitalOffTheMapIsRefused) {
  SimulationConfig config = Config(1);
  config.hospitals = {{"sea", {-9.5, 41.15}}};
  auto r = SimulateDay(*router_, config);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("sea"), std::string::npos);
}

}  // namespace
}  // namespace medulla::dispatch
