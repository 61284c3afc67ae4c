// The router on hand-drawn networks (tests/routing/ascii_map.h): one-ways, turn restrictions,
// closed and jammed roads, snapping, positions part-way along a road, tables, the time of day.
// Exactness against Dijkstra on the real cities is in router_exactness_test.cc.
#include "routing/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "routing/ascii_map.h"
#include "routing/speed_model.h"
#include "testing/fake_clock.h"

namespace medulla::routing {
namespace {

using routing::testing::AsciiMap;
using routing::testing::AsciiWay;

constexpr double kResidentialKmh = 25;

std::unique_ptr<Router> OpenRouter(const AsciiMap& map, const std::vector<AsciiWay>& ways,
                                   const std::vector<TurnRestriction>& restrictions = {},
                                   RouterOptions options = {.time_of_day = false}) {
  auto data = BuildRoadGraph(map.Network(ways, restrictions));
  EXPECT_TRUE(data.has_value()) << data.error().message();
  auto graph = RoadGraph::FromData(std::move(*data));
  EXPECT_TRUE(graph.has_value()) << graph.error().message();
  auto router = Router::Open(*graph, options);
  EXPECT_TRUE(router.has_value()) << router.error().message();
  return std::move(*router);
}

// The travel time along a chain of letters at one speed, in ms, as the graph rounds it.
uint32_t Ms(const AsciiMap& map, std::string_view letters, double kmh) {
  uint32_t ms = 0;
  for (size_t i = 0; i + 1 < letters.size(); ++i) {
    ms += TravelMs(static_cast<uint32_t>(std::lround(map.Metres(letters[i], letters[i + 1]) * 10)),
                   kmh);
  }
  return ms;
}

double Seconds(const AsciiMap& map, std::string_view letters, double kmh = kResidentialKmh) {
  return Ms(map, letters, kmh) / 1000.0;
}

double RouteSeconds(Router& router, LonLat from, LonLat to) {
  auto r = router.Route(from, to, false);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return r ? r->duration_s : -1;
}

bool Near(LonLat a, LonLat b) {
  return std::abs(a.lon - b.lon) < 1e-6 && std::abs(a.lat - b.lat) < 1e-6;
}

const char* kSquare = R"(
  a - b
  |   |
  d - c
)";

TEST(RouterTest, StraightRoadDurationDistanceAndGeometry) {
  const AsciiMap map("a - b - c");
  auto router = OpenRouter(map, {{1, "abc"}});
  auto r = router->Route(map.At('a'), map.At('c'), true);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_DOUBLE_EQ(r->duration_s, Seconds(map, "abc"));
  EXPECT_NEAR(r->distance_m, map.Metres('a', 'b') + map.Metres('b', 'c'), 0.2);
  ASSERT_GE(r->geometry.size(), 3u);
  EXPECT_TRUE(Near(r->geometry.front(), map.At('a')));
  EXPECT_TRUE(Near(r->geometry.back(), map.At('c')));
  EXPECT_TRUE(std::any_of(r->geometry.begin(), r->geometry.end(),
                          [&](LonLat p) { return Near(p, map.At('b')); }));
}

TEST(RouterTest, OneWayRoadIsDrivenAroundAgainstItsDirection) {
  const AsciiMap map(kSquare);
  auto router =
      OpenRouter(map, {{1, "ab", {{"highway", "residential"}, {"oneway", "yes"}}}, {2, "bcda"}});
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('b')), Seconds(map, "ab"));
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('b'), map.At('a')), Seconds(map, "bcda"));
}

const char* kCross = R"(
      d
      |
  a - b - c
      |
      e
)";

std::vector<AsciiWay> CrossWays() {
  return {{1, "ab"}, {2, "bc"}, {3, "bd"}, {4, "be"}};
}

TEST(RouterTest, NoTurnRestrictionForbidsTheTurn) {
  const AsciiMap map(kCross);
  auto free = OpenRouter(map, CrossWays());
  EXPECT_DOUBLE_EQ(RouteSeconds(*free, map.At('a'), map.At('d')), Seconds(map, "abd"));
  // No left turn from a-b into b-d: the ambulance turns right, turns round at the end of the
  // short b-e and comes back across (b-c is longer).
  auto restricted = OpenRouter(map, CrossWays(), {{1, AsciiMap::Node('b'), 3, false}});
  ASSERT_LT(map.Metres('b', 'e'), map.Metres('b', 'c'));
  EXPECT_DOUBLE_EQ(RouteSeconds(*restricted, map.At('a'), map.At('d')), Seconds(map, "abebd"));
  EXPECT_DOUBLE_EQ(RouteSeconds(*restricted, map.At('a'), map.At('e')), Seconds(map, "abe"));
  // Other approaches to b may still turn into b-d.
  EXPECT_DOUBLE_EQ(RouteSeconds(*restricted, map.At('e'), map.At('d')), Seconds(map, "ebd"));
}

TEST(RouterTest, OnlyStraightOnForbidsEveryOtherTurn) {
  const AsciiMap map(kCross);
  auto router = OpenRouter(map, CrossWays(), {{1, AsciiMap::Node('b'), 2, true}});
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('c')), Seconds(map, "abc"));
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('e')), Seconds(map, "abcbe"));
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('d')), Seconds(map, "abcbd"));
}

TEST(RouterTest, ClosedRoadIsAvoidedAndReopened) {
  const AsciiMap map(kSquare);
  auto router = OpenRouter(map, {{1, "ab"}, {2, "bcda"}});
  const int64_t a = AsciiMap::Node('a'), b = AsciiMap::Node('b');
  auto closed = router->UpdateTraffic(std::vector<SpeedUpdate>{{a, b, 0.0}});
  ASSERT_TRUE(closed.has_value()) << closed.error().message();
  EXPECT_EQ(closed->applied, 1u);
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('b')), Seconds(map, "adcb"));
  // Only that direction is closed.
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('b'), map.At('a')), Seconds(map, "ba"));
  auto reopened = router->UpdateTraffic(std::vector<SpeedUpdate>{{a, b, std::nullopt}});
  ASSERT_TRUE(reopened.has_value());
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('b')), Seconds(map, "ab"));
}

Closures Close(Router& router, std::vector<std::pair<char, char>> segments) {
  std::vector<std::pair<int64_t, int64_t>> nodes;
  for (const auto& [from, to] : segments)
    nodes.emplace_back(AsciiMap::Node(from), AsciiMap::Node(to));
  auto closures = router.ResolveClosures(nodes);
  EXPECT_TRUE(closures.has_value()) << closures.error().message();
  return closures ? *closures : Closures{};
}

double ClosedSeconds(Router& router, LonLat from, LonLat to, const Closures& closures) {
  auto r = router.Route(from, to, false, &closures);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return r ? r->duration_s : -1;
}

TEST(RouterTest, PerRequestClosureDetoursThatRequestOnly) {
  const AsciiMap map(kSquare);
  auto router = OpenRouter(map, {{1, "ab"}, {2, "bcda"}});
  const Closures closures = Close(*router, {{'a', 'b'}});
  ASSERT_EQ(closures.points.size(), 1u);
  auto detour = router->Route(map.At('a'), map.At('b'), true, &closures);
  ASSERT_TRUE(detour.has_value()) << detour.error().message();
  EXPECT_DOUBLE_EQ(detour->duration_s, Seconds(map, "adcb"));
  EXPECT_NEAR(detour->distance_m,
              map.Metres('a', 'd') + map.Metres('d', 'c') + map.Metres('c', 'b'), 0.3);
  ASSERT_GE(detour->geometry.size(), 4u);
  EXPECT_TRUE(Near(detour->geometry.front(), map.At('a')));
  EXPECT_TRUE(Near(detour->geometry.back(), map.At('b')));
  for (char via : {'d', 'c'}) {
    EXPECT_TRUE(std::any_of(detour->geometry.begin(), detour->geometry.end(), [&](LonLat p) {
      return Near(p, map.At(via));
    })) << via;
  }
  // Only that direction is closed.
  EXPECT_DOUBLE_EQ(ClosedSeconds(*router, map.At('b'), map.At('a'), closures), Seconds(map, "ba"));
  // The next request without it, and the live weights, still take the direct road.
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('b')), Seconds(map, "ab"));
  const Closures none;
  EXPECT_DOUBLE_EQ(ClosedSeconds(*router, map.At('a'), map.At('b'), none), Seconds(map, "ab"));
  for (uint32_t ms : router->weights()->arc_ms) EXPECT_NE(ms, kInfWeight);
  for (uint32_t ms : router->weights()->segment_ms) EXPECT_NE(ms, kInfWeight);
}

TEST(RouterTest, PerRequestClosureOnTheSegmentOfTheOriginOrTarget) {
  const AsciiMap map(kSquare);
  auto router = OpenRouter(map, {{1, "ab"}, {2, "bcda"}});
  const Closures closures = Close(*router, {{'a', 'b'}});
  const double ab = Seconds(map, "ab");
  // From 30% along the closed a -> b: back to a (b -> a is open), and round.
  const LonLat origin = map.Between('a', 'b', 0.3);
  EXPECT_NEAR(RouteSeconds(*router, origin, map.At('b')), 0.7 * ab, 0.002);
  auto r = router->Route(origin, map.At('b'), true, &closures);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_NEAR(r->duration_s, 0.3 * ab + Seconds(map, "adcb"), 0.002);
  ASSERT_GE(r->geometry.size(), 2u);
  EXPECT_TRUE(Near(r->geometry.front(), origin));
  EXPECT_TRUE(Near(r->geometry[1], map.At('a')));
  EXPECT_TRUE(Near(r->geometry.back(), map.At('b')));
  // To 70% along it: round to b, and back along b -> a.
  EXPECT_NEAR(ClosedSeconds(*router, map.At('a'), map.Between('a', 'b', 0.7), closures),
              Seconds(map, "adcb") + 0.3 * ab, 0.002);
  // Both on it, the target further along: not along it, but round the block.
  EXPECT_NEAR(
      ClosedSeconds(*router, map.Between('a', 'b', 0.2), map.Between('a', 'b', 0.8), closures),
      0.2 * ab + Seconds(map, "adcb") + 0.2 * ab, 0.002);
  EXPECT_NEAR(RouteSeconds(*router, map.Between('a', 'b', 0.2), map.Between('a', 'b', 0.8)),
              0.6 * ab, 0.002);
}

TEST(RouterTest, PerRequestClosureCuttingOffTheTarget) {
  const AsciiMap map("a - b - c");
  auto router = OpenRouter(map, {{1, "abc"}});
  const Closures closures = Close(*router, {{'b', 'c'}});
  auto r = router->Route(map.At('a'), map.At('c'), true, &closures);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), core::Code::kNotFound);
  // Short of the closure is still reachable. (Not b itself: it snaps to the very start of the
  // closed b -> c, which no position on a closed segment passes.)
  const std::vector<LonLat> from{map.At('a')}, to{map.At('c'), map.Between('a', 'b', 0.5)};
  auto table = router->Table(from, to, &closures);
  ASSERT_TRUE(table.has_value()) << table.error().message();
  EXPECT_FALSE(table->durations_s[0].has_value());
  EXPECT_FALSE(table->distances_m[0].has_value());
  ASSERT_TRUE(table->durations_s[1].has_value());
  EXPECT_NEAR(*table->durations_s[1], Seconds(map, "ab") / 2, 0.002);
  // Backward (more rows than columns) likewise.
  const std::vector<LonLat> many{map.At('a'), map.Between('a', 'b', 0.5)}, one{map.At('c')};
  auto column = router->Table(many, one, &closures);
  ASSERT_TRUE(column.has_value()) << column.error().message();
  EXPECT_FALSE(column->durations_s[0].has_value());
  EXPECT_FALSE(column->durations_s[1].has_value());
  // Without the closure c is there.
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('c')), Seconds(map, "abc"));
}

TEST(RouterTest, ClosuresNamingNoSegmentAreRefused) {
  const AsciiMap map("a - b - c");
  auto router = OpenRouter(map, {{1, "abc"}});
  const int64_t a = AsciiMap::Node('a'), c = AsciiMap::Node('c');
  for (const auto& pair : {std::pair<int64_t, int64_t>{a, 42}, {a, c}}) {
    auto r = router->ResolveClosures(std::span(&pair, 1));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find(std::to_string(pair.second)), std::string::npos)
        << r.error().message();
  }
  const std::vector<std::pair<int64_t, int64_t>> too_many(Router::kMaxClosures + 1,
                                                          {a, AsciiMap::Node('b')});
  auto many = router->ResolveClosures(too_many);
  ASSERT_FALSE(many.has_value());
  EXPECT_EQ(many.error().code(), core::Code::kInvalidArgument);
  // Duplicates are one closure.
  auto twice = router->ResolveClosures(
      std::vector<std::pair<int64_t, int64_t>>(2, {AsciiMap::Node('b'), AsciiMap::Node('a')}));
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(twice->points.size(), 1u);
  // Points that start no segment (not made by ResolveClosures) are refused too.
  const Closures bogus{{router->graph().point_count() + 5}};
  auto r = router->Route(map.At('a'), map.At('c'), false, &bogus);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
}

TEST(RouterTest, TableWithClosuresEqualsRoutesBothWays) {
  const AsciiMap map(R"(
  a - b - c
  |   |   |
  d - e - f
)");
  auto router = OpenRouter(map, {{1, "abc", {{"highway", "primary"}}},
                                 {2, "def", {{"highway", "residential"}, {"oneway", "-1"}}},
                                 {3, "ad"},
                                 {4, "be", {{"highway", "service"}}},
                                 {5, "cf"}});
  const Closures closures = Close(*router, {{'a', 'b'}, {'c', 'b'}, {'e', 'b'}});
  const std::vector<LonLat> few{map.At('a'), map.Between('e', 'f', 0.5)};
  const std::vector<LonLat> many{map.At('f'), map.At('d'), map.Between('b', 'c', 0.3), map.At('c'),
                                 map.Between('a', 'b', 0.6)};
  int changed = 0;
  for (const bool rows_first : {true, false}) {  // 2 x 5 (forward), then 5 x 2 (backward)
    const std::vector<LonLat>& from = rows_first ? few : many;
    const std::vector<LonLat>& to = rows_first ? many : few;
    auto table = router->Table(from, to, &closures);
    ASSERT_TRUE(table.has_value()) << table.error().message();
    auto open = router->Table(from, to);
    ASSERT_TRUE(open.has_value());
    ASSERT_EQ(table->rows, from.size());
    ASSERT_EQ(table->cols, to.size());
    for (size_t i = 0; i < from.size(); ++i) {
      for (size_t j = 0; j < to.size(); ++j) {
        const size_t k = i * to.size() + j;
        auto r = router->Route(from[i], to[j], false, &closures);
        if (!r) {
          EXPECT_EQ(r.error().code(), core::Code::kNotFound);
          EXPECT_FALSE(table->durations_s[k].has_value()) << i << "," << j;
          continue;
        }
        ASSERT_TRUE(table->durations_s[k].has_value()) << i << "," << j;
        EXPECT_DOUBLE_EQ(*table->durations_s[k], r->duration_s) << i << "," << j;
        EXPECT_DOUBLE_EQ(*table->distances_m[k], r->distance_m) << i << "," << j;
        changed += *table->durations_s[k] != *open->durations_s[k];
      }
    }
  }
  EXPECT_GT(changed, 2) << "the closures should change some cells";
}

TEST(RouterTest, ClosedAndOpenRequestsFromManyThreads) {
  const AsciiMap map(kSquare);
  auto router = OpenRouter(map, {{1, "ab"}, {2, "bcda"}});
  const Closures closures = Close(*router, {{'a', 'b'}});
  const double open = Seconds(map, "ab"), closed = Seconds(map, "adcb");
  std::vector<std::thread> threads;
  std::atomic<int> wrong = 0;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const bool close = (i + t) % 2 == 0;
        auto r = router->Route(map.At('a'), map.At('b'), true, close ? &closures : nullptr);
        wrong += !r || r->duration_s != (close ? closed : open);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

TEST(RouterTest, NoRouteWhenEveryWayInIsClosed) {
  const AsciiMap map("a - b - c");
  auto router = OpenRouter(map, {{1, "abc"}});
  const int64_t b = AsciiMap::Node('b'), c = AsciiMap::Node('c');
  ASSERT_TRUE(router->UpdateTraffic(std::vector<SpeedUpdate>{{b, c, 0.0}}).has_value());
  auto r = router->Route(map.At('a'), map.At('c'), false);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), core::Code::kNotFound);
}

TEST(RouterTest, JamReroutesAndIsAppliedWholeOrNotAtAll) {
  const AsciiMap map(R"(
  a - b - c
  |       |
  d - - - e
)");
  auto router = OpenRouter(map, {{1, "abc"}, {2, "adec"}});
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('c')), Seconds(map, "abc"));
  const int64_t a = AsciiMap::Node('a'), b = AsciiMap::Node('b');
  // A bad speed anywhere in the batch: nothing changes.
  auto bad = router->UpdateTraffic(std::vector<SpeedUpdate>{{a, b, 5.0}, {a, b, -3.0}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), core::Code::kInvalidArgument);
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('c')), Seconds(map, "abc"));
  auto jam = router->UpdateTraffic(
      std::vector<SpeedUpdate>{{a, b, 5.0}, {AsciiMap::Node('x'), AsciiMap::Node('y'), 10.0}});
  ASSERT_TRUE(jam.has_value());
  EXPECT_EQ(jam->applied, 1u);
  EXPECT_EQ(jam->unknown, 1u);
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('c')), Seconds(map, "adec"));
}

TEST(RouterTest, SnapsToTheNearestRoadAndRefusesPlacesOffTheMap) {
  const AsciiMap map("a - b - c");
  RouterOptions options{.max_snap_m = 50, .time_of_day = false};
  auto router = OpenRouter(map, {{1, "abc"}}, {}, options);
  // 30 m north of the middle of a-b.
  LonLat off = map.Between('a', 'b', 0.5);
  off.lat += 30 / 111'194.9266;
  auto s = router->Snap(off);
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_NEAR(s->distance_m, 30, 0.5);
  EXPECT_NEAR(s->fraction, 0.5, 0.01);
  EXPECT_NEAR(RouteSeconds(*router, off, map.At('c')), Seconds(map, "ab") / 2 + Seconds(map, "bc"),
              0.002);
  // 100 m off the road: within the map's box, but too far from any road.
  LonLat far = map.At('b');
  far.lat += 100 / 111'194.9266;
  auto too_far = router->Route(far, map.At('c'), false);
  ASSERT_FALSE(too_far.has_value());
  EXPECT_NE(too_far.error().message().find("from any road"), std::string::npos);
  auto paris = router->Route({2.35, 48.85}, map.At('c'), false);
  ASSERT_FALSE(paris.has_value());
  EXPECT_EQ(paris.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(paris.error().message().find("outside the map"), std::string::npos);
  EXPECT_FALSE(router->Snap({200, 0}).has_value());
  EXPECT_FALSE(router->Snap({std::nan(""), 41}).has_value());
}

TEST(RouterTest, PositionsAlongOneRoad) {
  const AsciiMap map(kSquare);
  auto router =
      OpenRouter(map, {{1, "ab", {{"highway", "residential"}, {"oneway", "yes"}}}, {2, "bcda"}});
  const double ab = Seconds(map, "ab");
  // With the one-way's direction: straight along it.
  auto ahead = router->Route(map.Between('a', 'b', 0.2), map.Between('a', 'b', 0.8), true);
  ASSERT_TRUE(ahead.has_value());
  EXPECT_NEAR(ahead->duration_s, 0.6 * ab, 0.002);
  EXPECT_EQ(ahead->geometry.size(), 2u);
  // Against it: on to b and all the way round.
  EXPECT_NEAR(RouteSeconds(*router, map.Between('a', 'b', 0.8), map.Between('a', 'b', 0.2)),
              0.2 * ab + Seconds(map, "bcda") + 0.2 * ab, 0.002);
  // A two-way road may be driven either way from a position on it.
  EXPECT_NEAR(RouteSeconds(*router, map.Between('b', 'c', 0.7), map.Between('b', 'c', 0.1)),
              0.6 * Seconds(map, "bc"), 0.002);
}

TEST(RouterTest, TableEqualsRoutes) {
  const AsciiMap map(R"(
  a - b - c
  |   |   |
  d - e - f
)");
  auto router = OpenRouter(map, {{1, "abc", {{"highway", "primary"}}},
                                 {2, "def", {{"highway", "residential"}, {"oneway", "-1"}}},
                                 {3, "ad"},
                                 {4, "be", {{"highway", "service"}}},
                                 {5, "cf"}});
  const std::vector<LonLat> from{map.At('a'), map.Between('e', 'f', 0.5), map.At('c')};
  const std::vector<LonLat> to{map.At('f'), map.At('d'), map.Between('b', 'c', 0.3)};
  auto table = router->Table(from, to);
  ASSERT_TRUE(table.has_value()) << table.error().message();
  ASSERT_EQ(table->rows, 3u);
  ASSERT_EQ(table->cols, 3u);
  for (size_t i = 0; i < from.size(); ++i) {
    for (size_t j = 0; j < to.size(); ++j) {
      auto r = router->Route(from[i], to[j], false);
      ASSERT_TRUE(r.has_value());
      ASSERT_TRUE(table->durations_s[i * 3 + j].has_value());
      EXPECT_DOUBLE_EQ(*table->durations_s[i * 3 + j], r->duration_s) << i << "," << j;
      EXPECT_DOUBLE_EQ(*table->distances_m[i * 3 + j], r->distance_m) << i << "," << j;
    }
  }
  auto bad = router->Table(from, std::vector<LonLat>{{2.35, 48.85}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("destinations[0]"), std::string::npos);
}

TEST(RouterTest, TimeOfDayProfileSlowsThePeak) {
  setenv("TZ", "UTC", 1);
  tzset();
  std::tm peak{};
  peak.tm_year = 2026 - 1900;
  peak.tm_mon = 10;   // November
  peak.tm_mday = 23;  // a Monday
  peak.tm_hour = 8;
  peak.tm_min = 30;
  medulla::testing::FakeClock clock(timegm(&peak));
  const AsciiMap map("a - b - c");
  auto router = OpenRouter(map, {{1, "abc"}}, {}, {.time_of_day = true, .clock = &clock});
  const double factor = TimeOfDayFactor(RoadClass::kResidential, 8, false);
  ASSERT_LT(factor, 1.0);
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('c')),
                   Seconds(map, "abc", kResidentialKmh * factor));
  EXPECT_EQ(router->weights()->hour, 8);
  // A live speed replaces the profile on its segment.
  ASSERT_TRUE(router
                  ->UpdateTraffic(
                      std::vector<SpeedUpdate>{{AsciiMap::Node('a'), AsciiMap::Node('b'), 40.0}})
                  .has_value());
  EXPECT_DOUBLE_EQ(RouteSeconds(*router, map.At('a'), map.At('c')),
                   Seconds(map, "ab", 40) + Seconds(map, "bc", kResidentialKmh * factor));
}

}  // namespace
}  // namespace medulla::routing
