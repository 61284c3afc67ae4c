// The dispatch decision (dispatch/decision.h) in scenarios on hand-drawn road networks
// (tests/routing/ascii_map.h): each test draws a map, places hospitals, ambulances and
// incidents on its letters, and checks the choice the map makes obvious. Drive times are
// recomputed from the map (Seconds, as router_test.cc's Ms does), not read from the router.
#include "dispatch/decision.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "routing/ascii_map.h"
#include "routing/graph_builder.h"
#include "routing/speed_model.h"

namespace medulla::dispatch {
namespace {

using routing::LonLat;
using routing::Router;
using routing::SpeedUpdate;
using routing::testing::AsciiMap;
using routing::testing::AsciiWay;

constexpr int64_t kNow = 1'750'000'000'000;  // the decision's "now", ms
constexpr double kResidentialKmh = 25;

std::unique_ptr<Router> OpenRouter(const AsciiMap& map, const std::vector<AsciiWay>& ways) {
  auto data = routing::BuildRoadGraph(map.Network(ways));
  EXPECT_TRUE(data.has_value()) << data.error().message();
  auto graph = routing::RoadGraph::FromData(std::move(*data));
  EXPECT_TRUE(graph.has_value()) << graph.error().message();
  auto router = Router::Open(*graph, {.time_of_day = false});
  EXPECT_TRUE(router.has_value()) << router.error().message();
  return std::move(*router);
}

// The travel time along a chain of letters at one speed, in seconds, as the graph rounds it
// (whole milliseconds per segment).
double Seconds(const AsciiMap& map, std::string_view letters, double kmh = kResidentialKmh) {
  uint32_t ms = 0;
  for (size_t i = 0; i + 1 < letters.size(); ++i) {
    ms += routing::TravelMs(
        static_cast<uint32_t>(std::lround(map.Metres(letters[i], letters[i + 1]) * 10)), kmh);
  }
  return ms / 1000.0;
}

// A letter's place exactly as the graph stores its node (to 1e-7 degree): a place snaps to
// the node itself, and routes from it pay no rounded part of a segment.
LonLat At(const AsciiMap& map, char c) {
  const routing::NodeLocation n = map.Location(c);
  return {n.lon / 1e7, n.lat / 1e7};
}

// Within about a metre.
bool Near(LonLat a, LonLat b) {
  return std::abs(a.lon - b.lon) < 1e-5 && std::abs(a.lat - b.lat) < 1e-5;
}

Hospital MakeHospital(std::string id, LonLat where, uint32_t capabilities = 0,
                      HospitalStatus status = {}) {
  return {.id = std::move(id),
          .name = {},
          .where = where,
          .capabilities = capabilities,
          .status = std::move(status)};
}

// A fresh status as a MeasureReport would give it.
HospitalStatus Reported(int64_t age_ms = 0) {
  return {.reported_ms = kNow - age_ms};
}
HospitalStatus OnDiversion(int64_t age_ms = 0) {
  return {.reported_ms = kNow - age_ms, .diversion = true};
}

Ambulance MakeAmbulance(std::string id, std::optional<LonLat> where,
                        AmbulanceStatus status = AmbulanceStatus::kAvailable,
                        int64_t position_ms = kNow) {
  return {.id = std::move(id),
          .name = {},
          .status = status,
          .where = where,
          .position_ms = position_ms};
}

Incident MakeIncident(LonLat where, Condition condition, std::string id = {}) {
  return {.id = std::move(id), .where = where, .condition = condition};
}

RecommendOptions Options() {
  return {.now_ms = kNow, .with_geometry = false};
}

std::string ChosenHospital(const Recommendation& r) {
  return r.hospital ? r.hospitals[*r.hospital].id : "(none)";
}
std::string ChosenAmbulance(const Recommendation& r) {
  return r.ambulance ? r.ambulances[*r.ambulance].id : "(none)";
}

const HospitalCandidate& HospitalEntry(const Recommendation& r, std::string_view id) {
  const auto it = std::find_if(r.hospitals.begin(), r.hospitals.end(),
                               [&](const HospitalCandidate& c) { return c.id == id; });
  EXPECT_NE(it, r.hospitals.end()) << id;
  static const HospitalCandidate kMissing;
  return it == r.hospitals.end() ? kMissing : *it;
}
const AmbulanceCandidate& AmbulanceEntry(const Recommendation& r, std::string_view id) {
  const auto it = std::find_if(r.ambulances.begin(), r.ambulances.end(),
                               [&](const AmbulanceCandidate& c) { return c.id == id; });
  EXPECT_NE(it, r.ambulances.end()) << id;
  static const AmbulanceCandidate kMissing;
  return it == r.ambulances.end() ? kMissing : *it;
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

Recommendation Decide(Router& router, const Incident& incident,
                      const std::vector<Hospital>& hospitals,
                      const std::vector<Ambulance>& ambulances = {},
                      RecommendOptions options = Options(), const Policy& policy = {}) {
  auto r = Recommend(router, policy, incident, hospitals, ambulances, options);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return r ? std::move(*r) : Recommendation{};
}

// One road: the nearer hospital h west of the scene s, the other g further east.
const char* kLine = "h - - - s - - - - - g";

// --- 1. Diversion ------------------------------------------------------------------------------

TEST(DecisionTest, NearestHospitalOnDiversionIsPassedOver) {
  const AsciiMap map(kLine);
  auto router = OpenRouter(map, {{1, "hsg"}});
  ASSERT_LT(Seconds(map, "sh"), Seconds(map, "sg"));
  const Incident incident = MakeIncident(At(map, 's'), Condition::kGeneral);

  // Without a status both EDs count as equally loaded: the nearer one.
  Recommendation open =
      Decide(*router, incident, {MakeHospital("h", At(map, 'h')), MakeHospital("g", At(map, 'g'))});
  EXPECT_EQ(ChosenHospital(open), "h");

  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h'), 0, OnDiversion()),
                                           MakeHospital("g", At(map, 'g'))};
  Recommendation r = Decide(*router, incident, hospitals);
  EXPECT_EQ(ChosenHospital(r), "g");
  const HospitalCandidate& h = HospitalEntry(r, "h");
  EXPECT_FALSE(h.eligible);
  EXPECT_FALSE(h.chosen);
  EXPECT_TRUE(Contains(h.reason, "diversion")) << h.reason;
  // Still measured, for the dispatcher to see.
  ASSERT_TRUE(h.drive_s.has_value());
  EXPECT_DOUBLE_EQ(*h.drive_s, Seconds(map, "sh"));
  // Chosen first; the diverted one, though quicker, after the eligible ones.
  ASSERT_EQ(r.hospitals.size(), 2u);
  EXPECT_EQ(r.hospitals[0].id, "g");
  EXPECT_EQ(r.hospitals[1].id, "h");
}

TEST(DecisionTest, DiversionInAStaleStatusIsNotHonoured) {
  const AsciiMap map(kLine);
  auto router = OpenRouter(map, {{1, "hsg"}});
  const Incident incident = MakeIncident(At(map, 's'), Condition::kGeneral);
  const Policy policy{};
  const std::vector<Hospital> stale = {
      MakeHospital("h", At(map, 'h'), 0, OnDiversion(policy.status_max_age_ms + 1)),
      MakeHospital("g", At(map, 'g'))};
  Recommendation r = Decide(*router, incident, stale);
  EXPECT_EQ(ChosenHospital(r), "h");
  EXPECT_FALSE(Contains(HospitalEntry(r, "h").reason, "diversion"));
  // A stale status's load is unknown too: the assumed occupancy, as for g that never reported.
  EXPECT_DOUBLE_EQ(HospitalEntry(r, "h").door_to_treatment.total_min,
                   HospitalEntry(r, "g").door_to_treatment.total_min);

  // Exactly at the age limit it still counts.
  const std::vector<Hospital> just_fresh = {
      MakeHospital("h", At(map, 'h'), 0, OnDiversion(policy.status_max_age_ms)),
      MakeHospital("g", At(map, 'g'))};
  EXPECT_EQ(ChosenHospital(Decide(*router, incident, just_fresh)), "g");
}

// --- 2. and 3. Stroke ----------------------------------------------------------------------

TEST(DecisionTest, StrokeGoesToTheStrokeUnitPastANearerHospital) {
  const AsciiMap map(kLine);
  auto router = OpenRouter(map, {{1, "hsg"}});
  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h')),
                                           MakeHospital("g", At(map, 'g'), kStrokeUnit)};
  Recommendation r = Decide(*router, MakeIncident(At(map, 's'), Condition::kStroke), hospitals);
  EXPECT_EQ(ChosenHospital(r), "g");
  const HospitalCandidate& h = HospitalEntry(r, "h");
  EXPECT_FALSE(h.eligible);
  EXPECT_EQ(h.reason, "no stroke unit");
  EXPECT_TRUE(HospitalEntry(r, "g").eligible);
  // A general patient goes to the nearer ED.
  EXPECT_EQ(
      ChosenHospital(Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), hospitals)),
      "h");
}

// One road at half a minute of residential drive per column: the scene s, a stroke unit u
// 4 min away, thrombectomy centres t (16 min: 12 more than u) and v (24 min: 20 more).
const char* kStrokeRoad = "s - - - u - - - - - - - - - - - t - - - - - - - v";
constexpr double kHalfMinuteColumn_m = kResidentialKmh * 1000 / 60 / 2;

TEST(DecisionTest, SuspectedLargeVesselStrokeBypassesToAThrombectomyCentreWithin15Min) {
  const AsciiMap map(kStrokeRoad, kHalfMinuteColumn_m);
  auto router = OpenRouter(map, {{1, "sutv"}});
  ASSERT_NEAR((Seconds(map, "sut") - Seconds(map, "su")) / 60, 12, 0.1);
  ASSERT_NEAR((Seconds(map, "sutv") - Seconds(map, "su")) / 60, 20, 0.1);
  Incident lvo = MakeIncident(At(map, 's'), Condition::kStroke);
  lvo.lvo_suspected = true;

  const std::vector<Hospital> near_centre = {MakeHospital("u", At(map, 'u'), kStrokeUnit),
                                             MakeHospital("t", At(map, 't'), kThrombectomy)};
  Recommendation r = Decide(*router, lvo, near_centre);
  EXPECT_EQ(ChosenHospital(r), "t");
  EXPECT_TRUE(Contains(r.rule, "bypass to the thrombectomy centre")) << r.rule;
  const HospitalCandidate& u = HospitalEntry(r, "u");
  EXPECT_TRUE(u.eligible);
  EXPECT_TRUE(Contains(u.reason, "within the 15 min allowed")) << u.reason;
  // The stroke unit is quicker to treatment: the bypass is what chose t.
  EXPECT_LT(*u.total_s, *HospitalEntry(r, "t").total_s);

  // 20 min further is too far: the stroke unit.
  const std::vector<Hospital> far_centre = {MakeHospital("u", At(map, 'u'), kStrokeUnit),
                                            MakeHospital("v", At(map, 'v'), kThrombectomy)};
  Recommendation far = Decide(*router, lvo, far_centre);
  EXPECT_EQ(ChosenHospital(far), "u");
  EXPECT_TRUE(Contains(far.rule, "more than the 15 min allowed")) << far.rule;

  // Without a large-vessel screen: the stroke unit, however near the centre.
  Incident stroke = lvo;
  stroke.lvo_suspected = false;
  Recommendation plain = Decide(*router, stroke, near_centre);
  EXPECT_EQ(ChosenHospital(plain), "u");
  EXPECT_FALSE(Contains(plain.rule, "bypass")) << plain.rule;

  // The allowance is the policy's.
  Policy strict;
  strict.stroke_bypass_min = 10;
  EXPECT_EQ(ChosenHospital(Decide(*router, lvo, near_centre, {}, Options(), strict)), "u");
}

// --- 4. Live traffic -----------------------------------------------------------------------

// The scene s; hospital h up a short side road (x between), hospital g along the main road;
// ambulance a just west (w between), ambulance b far east beyond g.
const char* kJunction = R"(
        h
        |
        x
        |
    a w s - - - - - - g - - - b
)";

TEST(DecisionTest, JamOnTheDirectRoadChangesTheChoiceAndRevertingRestoresIt) {
  const AsciiMap map(kJunction);
  auto router = OpenRouter(map, {{1, "awsgb"}, {2, "hxs"}});
  constexpr double kJamKmh = 4;
  // Free flow: h and a are nearest; jammed, the other ones are.
  ASSERT_LT(Seconds(map, "sxh"), Seconds(map, "sg"));
  ASSERT_GT(Seconds(map, "sxh", kJamKmh), Seconds(map, "sg"));
  ASSERT_LT(Seconds(map, "aws"), Seconds(map, "bgs"));
  ASSERT_GT(Seconds(map, "aws", kJamKmh), Seconds(map, "bgs"));

  const Incident incident = MakeIncident(At(map, 's'), Condition::kGeneral);
  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h')),
                                           MakeHospital("g", At(map, 'g'))};
  const std::vector<Ambulance> ambulances = {MakeAmbulance("a", At(map, 'a')),
                                             MakeAmbulance("b", At(map, 'b'))};
  auto decide = [&] { return Decide(*router, incident, hospitals, ambulances); };

  Recommendation before = decide();
  EXPECT_EQ(ChosenHospital(before), "h");
  EXPECT_EQ(ChosenAmbulance(before), "a");
  EXPECT_DOUBLE_EQ(*HospitalEntry(before, "h").drive_s, Seconds(map, "sxh"));

  const int64_t s = AsciiMap::Node('s'), x = AsciiMap::Node('x'), h = AsciiMap::Node('h');
  const int64_t a = AsciiMap::Node('a'), w = AsciiMap::Node('w');
  // The road to h jammed (scene to hospital direction).
  auto jam = router->UpdateTraffic(std::vector<SpeedUpdate>{{s, x, kJamKmh}, {x, h, kJamKmh}});
  ASSERT_TRUE(jam.has_value()) << jam.error().message();
  ASSERT_EQ(jam->applied, 2u);
  Recommendation jammed = decide();
  EXPECT_EQ(ChosenHospital(jammed), "g");
  EXPECT_EQ(ChosenAmbulance(jammed), "a");
  EXPECT_DOUBLE_EQ(*HospitalEntry(jammed, "h").drive_s, Seconds(map, "sxh", kJamKmh));

  // The ambulance's road jammed too (towards the scene).
  ASSERT_TRUE(router->UpdateTraffic(std::vector<SpeedUpdate>{{a, w, kJamKmh}, {w, s, kJamKmh}})
                  .has_value());
  Recommendation both = decide();
  EXPECT_EQ(ChosenHospital(both), "g");
  EXPECT_EQ(ChosenAmbulance(both), "b");
  EXPECT_DOUBLE_EQ(*AmbulanceEntry(both, "a").arrival_s, Seconds(map, "aws", kJamKmh));
  EXPECT_DOUBLE_EQ(*AmbulanceEntry(both, "b").arrival_s, Seconds(map, "bgs"));

  // The jam in the other direction does not matter to the ambulance: the scene-bound one is
  // reverted, the outbound one jammed.
  ASSERT_TRUE(router
                  ->UpdateTraffic(std::vector<SpeedUpdate>{
                      {a, w, std::nullopt}, {w, s, std::nullopt}, {s, w, kJamKmh}, {w, a, kJamKmh}})
                  .has_value());
  EXPECT_EQ(ChosenAmbulance(decide()), "a");

  // Everything back to its profile speed: the original choice.
  ASSERT_TRUE(router
                  ->UpdateTraffic(std::vector<SpeedUpdate>{{s, x, std::nullopt},
                                                           {x, h, std::nullopt},
                                                           {s, w, std::nullopt},
                                                           {w, a, std::nullopt}})
                  .has_value());
  Recommendation after = decide();
  EXPECT_EQ(ChosenHospital(after), "h");
  EXPECT_EQ(ChosenAmbulance(after), "a");
  EXPECT_DOUBLE_EQ(*HospitalEntry(after, "h").drive_s, Seconds(map, "sxh"));
}

// --- 5. Incidents competing for ambulances -------------------------------------------------

// Incidents p and q; ambulance a between them (nearest to both), ambulance b far east;
// hospital h west.
const char* kTwoIncidents = "h - - p - a - - - q - - - - - - b";

TEST(DecisionTest, TheMoreUrgentIncidentGetsTheNearestAmbulanceEvenWhenListedSecond) {
  const AsciiMap map(kTwoIncidents);
  auto router = OpenRouter(map, {{1, "hpaqb"}});
  ASSERT_LT(Seconds(map, "ap"), Seconds(map, "aq"));  // a is even nearer to p
  ASSERT_LT(Seconds(map, "aq"), Seconds(map, "bq"));
  const std::vector<Incident> incidents = {
      MakeIncident(At(map, 'p'), Condition::kGeneral, "fall"),
      MakeIncident(At(map, 'q'), Condition::kCardiacArrest, "arrest")};
  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h'))};
  const std::vector<Ambulance> ambulances = {MakeAmbulance("a", At(map, 'a')),
                                             MakeAmbulance("b", At(map, 'b'))};

  auto many = RecommendMany(*router, Policy{}, incidents, hospitals, ambulances, Options());
  ASSERT_TRUE(many.has_value()) << many.error().message();
  ASSERT_EQ(many->size(), 2u);
  const Recommendation& fall = (*many)[0];
  const Recommendation& arrest = (*many)[1];
  // Answers in the order given.
  EXPECT_EQ(fall.incident.id, "fall");
  EXPECT_EQ(arrest.incident.id, "arrest");
  EXPECT_EQ(ChosenAmbulance(arrest), "a");
  EXPECT_EQ(ChosenAmbulance(fall), "b");
  EXPECT_DOUBLE_EQ(*fall.ambulances[*fall.ambulance].arrival_s, Seconds(map, "bqap"));
  const AmbulanceCandidate& taken = AmbulanceEntry(fall, "a");
  EXPECT_FALSE(taken.chosen);
  EXPECT_TRUE(Contains(taken.reason, "sent to incident 2")) << taken.reason;
  EXPECT_TRUE(Contains(taken.reason, "arrest")) << taken.reason;
  EXPECT_TRUE(Contains(taken.reason, "more urgent")) << taken.reason;
  // Both still get a hospital.
  EXPECT_EQ(ChosenHospital(fall), "h");
  EXPECT_EQ(ChosenHospital(arrest), "h");

  // One ambulance: the arrest has it; the fall has a hospital but no ambulance.
  const std::vector<Ambulance> one = {MakeAmbulance("a", At(map, 'a'))};
  auto short_of = RecommendMany(*router, Policy{}, incidents, hospitals, one, Options());
  ASSERT_TRUE(short_of.has_value()) << short_of.error().message();
  EXPECT_EQ(ChosenAmbulance((*short_of)[1]), "a");
  const Recommendation& waiting = (*short_of)[0];
  EXPECT_FALSE(waiting.ambulance.has_value());
  EXPECT_EQ(ChosenHospital(waiting), "h");
  EXPECT_TRUE(Contains(AmbulanceEntry(waiting, "a").reason, "sent to incident 2"));
  // Without an ambulance there is no time to treatment to promise.
  EXPECT_FALSE(waiting.time_to_treatment_s.has_value());
}

TEST(DecisionTest, EquallyUrgentIncidentsChooseInTheOrderGiven) {
  const AsciiMap map(kTwoIncidents);
  auto router = OpenRouter(map, {{1, "hpaqb"}});
  const std::vector<Incident> incidents = {MakeIncident(At(map, 'q'), Condition::kGeneral, "q"),
                                           MakeIncident(At(map, 'p'), Condition::kGeneral, "p")};
  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h'))};
  const std::vector<Ambulance> ambulances = {MakeAmbulance("a", At(map, 'a')),
                                             MakeAmbulance("b", At(map, 'b'))};
  auto many = RecommendMany(*router, Policy{}, incidents, hospitals, ambulances, Options());
  ASSERT_TRUE(many.has_value()) << many.error().message();
  EXPECT_EQ(ChosenAmbulance((*many)[0]), "a");
  EXPECT_EQ(ChosenAmbulance((*many)[1]), "b");
  const std::string& reason = AmbulanceEntry((*many)[1], "a").reason;
  EXPECT_TRUE(Contains(reason, "sent to incident 1")) << reason;
  EXPECT_TRUE(Contains(reason, "earlier in the list")) << reason;
}

// --- 6. ED load ----------------------------------------------------------------------------

// The scene s halfway between hospitals l and m.
const char* kMiddle = "l - - - s - - - m";

TEST(DecisionTest, CrowdedEdLosesATieOnDriveForGeneralButNotForCardiacArrest) {
  const AsciiMap map(kMiddle);
  auto router = OpenRouter(map, {{1, "lsm"}});
  ASSERT_DOUBLE_EQ(Seconds(map, "sl"), Seconds(map, "sm"));
  HospitalStatus crowded = Reported();
  crowded.ed_patients = 38;
  crowded.ed_beds = 40;
  HospitalStatus quiet = Reported();
  quiet.ed_patients = 10;
  quiet.ed_beds = 40;
  // The crowded one listed first, so that neither list order nor drive favours the quiet one.
  const std::vector<Hospital> hospitals = {MakeHospital("l", At(map, 'l'), 0, crowded),
                                           MakeHospital("m", At(map, 'm'), 0, quiet)};

  Recommendation general =
      Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), hospitals);
  EXPECT_EQ(ChosenHospital(general), "m");
  const HospitalCandidate& l = HospitalEntry(general, "l");
  const HospitalCandidate& m = HospitalEntry(general, "m");
  EXPECT_TRUE(l.eligible);
  EXPECT_GT(l.door_to_treatment.total_min, m.door_to_treatment.total_min);
  // 15 min * min(rho / (1 - rho), 4): 60 min at 95%, 5 min at 25%.
  EXPECT_DOUBLE_EQ(*l.total_s, Seconds(map, "sl") + (10 + 60) * 60);
  EXPECT_DOUBLE_EQ(*m.total_s, Seconds(map, "sm") + (10 + 5) * 60);
  EXPECT_TRUE(Contains(l.reason, "later to treatment")) << l.reason;

  // Cardiac arrest: the ED queue does not apply; both are drive + 5 min, and the crowded one,
  // listed first, keeps the tie.
  Recommendation arrest =
      Decide(*router, MakeIncident(At(map, 's'), Condition::kCardiacArrest), hospitals);
  const HospitalCandidate& la = HospitalEntry(arrest, "l");
  const HospitalCandidate& ma = HospitalEntry(arrest, "m");
  EXPECT_DOUBLE_EQ(*la.total_s, Seconds(map, "sl") + 5 * 60);
  EXPECT_DOUBLE_EQ(*ma.total_s, Seconds(map, "sm") + 5 * 60);
  EXPECT_DOUBLE_EQ(la.door_to_treatment.load_min, 0);
  EXPECT_EQ(ChosenHospital(arrest), "l");
}

// --- 7. Ambulance filters ------------------------------------------------------------------

TEST(DecisionTest, UnavailableUnplacedAndStaleAmbulancesAreNotSent) {
  // The scene s; a, b next to it; d and e further away.
  const AsciiMap map("a - b - s - - - - d - - e - h");
  auto router = OpenRouter(map, {{1, "absdeh"}});
  const Policy policy{};
  const std::vector<Ambulance> ambulances = {
      MakeAmbulance("busy", At(map, 'b'), AmbulanceStatus::kOnScene),
      MakeAmbulance("off", At(map, 'b'), AmbulanceStatus::kOutOfService),
      MakeAmbulance("nowhere", std::nullopt),
      MakeAmbulance("old", At(map, 'a'), AmbulanceStatus::kAvailable, kNow - 30 * 60'000),
      MakeAmbulance("paris", LonLat{2.35, 48.85}),
      MakeAmbulance("far", At(map, 'e'), AmbulanceStatus::kAvailable,
                    kNow - policy.position_max_age_ms),  // just recent enough
      MakeAmbulance("ok", At(map, 'd')),
  };
  Recommendation r = Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral),
                            {MakeHospital("h", At(map, 'h'))}, ambulances);
  EXPECT_EQ(ChosenAmbulance(r), "ok");
  ASSERT_EQ(r.ambulances.size(), ambulances.size());
  EXPECT_EQ(r.ambulances[0].id, "ok");
  EXPECT_EQ(r.ambulances[1].id, "far");  // then by arrival, the unconsidered last
  EXPECT_DOUBLE_EQ(*r.ambulances[0].arrival_s, Seconds(map, "ds"));
  EXPECT_DOUBLE_EQ(*r.ambulances[1].arrival_s, Seconds(map, "eds"));
  EXPECT_TRUE(Contains(r.ambulances[1].reason, "later to the scene than ok"))
      << r.ambulances[1].reason;

  const struct {
    const char* id;
    const char* reason;
  } refused[] = {{"busy", "not available (on-scene)"},
                 {"off", "not available (out-of-service)"},
                 {"nowhere", "no position reported"},
                 {"old", "last position 30 min old"},
                 {"paris", "position not on the road network"}};
  for (const auto& [id, reason] : refused) {
    const AmbulanceCandidate& c = AmbulanceEntry(r, id);
    EXPECT_FALSE(c.chosen) << id;
    EXPECT_FALSE(c.arrival_s.has_value()) << id;
    EXPECT_TRUE(Contains(c.reason, reason)) << id << ": " << c.reason;
  }

  // None of them usable: no ambulance, the hospital all the same.
  const std::vector<Ambulance> none(ambulances.begin(), ambulances.begin() + 5);
  Recommendation empty = Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral),
                                {MakeHospital("h", At(map, 'h'))}, none);
  EXPECT_FALSE(empty.ambulance.has_value());
  EXPECT_EQ(ChosenHospital(empty), "h");
}

// --- 8. No capable hospital ----------------------------------------------------------------

TEST(DecisionTest, NoCapableHospitalFallsBackToTheQuickestOpenEd) {
  // The scene s; hospitals d (nearest), n, f on one road.
  const AsciiMap map("s - d - - n - - - f");
  auto router = OpenRouter(map, {{1, "sdnf"}});
  const Incident stemi = MakeIncident(At(map, 's'), Condition::kStemi);
  const std::vector<Hospital> hospitals = {
      MakeHospital("f", At(map, 'f'), kStrokeUnit | kTraumaLevel2),
      MakeHospital("d", At(map, 'd'), 0, OnDiversion()), MakeHospital("n", At(map, 'n'))};
  Recommendation r = Decide(*router, stemi, hospitals);
  EXPECT_EQ(ChosenHospital(r), "n");
  EXPECT_TRUE(Contains(r.rule, "no hospital able to treat stemi")) << r.rule;
  EXPECT_TRUE(Contains(r.rule, "quickest ED not on diversion")) << r.rule;
  const HospitalCandidate& n = r.hospitals[*r.hospital];
  EXPECT_FALSE(n.eligible);
  EXPECT_TRUE(Contains(n.reason, "no PCI cath lab")) << n.reason;
  EXPECT_TRUE(Contains(HospitalEntry(r, "d").reason, "diversion"));
  EXPECT_EQ(HospitalEntry(r, "f").reason, "no PCI cath lab");

  // A cath lab anywhere reachable wins over every nearer ED.
  std::vector<Hospital> with_pci = hospitals;
  with_pci[0].capabilities |= kPci;
  EXPECT_EQ(ChosenHospital(Decide(*router, stemi, with_pci)), "f");

  // Every ED on diversion: diversion is set aside, and the rule says so.
  std::vector<Hospital> all_diverted = hospitals;
  for (Hospital& h : all_diverted) h.status = OnDiversion();
  Recommendation diverted = Decide(*router, stemi, all_diverted);
  EXPECT_EQ(ChosenHospital(diverted), "d");
  EXPECT_TRUE(Contains(diverted.rule, "diversion set aside")) << diverted.rule;
  Recommendation general =
      Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), all_diverted);
  EXPECT_EQ(ChosenHospital(general), "d");
  EXPECT_TRUE(Contains(general.rule, "diversion set aside")) << general.rule;
}

// With every ED on diversion, diversion is set aside but the capability requirement is not: a
// stroke still goes to the stroke unit, not to the nearer hospital without one.
TEST(DecisionTest, EveryEdOnDiversionStillSendsAStrokeToAStrokeUnit) {
  const AsciiMap map(kLine);
  auto router = OpenRouter(map, {{1, "hsg"}});
  const std::vector<Hospital> hospitals = {
      MakeHospital("h", At(map, 'h'), 0, OnDiversion()),
      MakeHospital("g", At(map, 'g'), kStrokeUnit, OnDiversion())};
  Recommendation r = Decide(*router, MakeIncident(At(map, 's'), Condition::kStroke), hospitals);
  EXPECT_TRUE(Contains(r.rule, "diversion set aside")) << r.rule;
  EXPECT_EQ(ChosenHospital(r), "g") << r.rule;
}

// A fresh status that reports no ED load (a diversion flag alone, or beds without patients)
// is recent: the dispatcher must not be told it is stale.
TEST(DecisionTest, FreshStatusWithoutLoadIsNotCalledStale) {
  const AsciiMap map(kLine);
  auto router = OpenRouter(map, {{1, "hsg"}});
  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h'), 0, Reported())};
  Recommendation r = Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), hospitals);
  const std::string& basis = HospitalEntry(r, "h").door_to_treatment.wait_basis;
  EXPECT_TRUE(Contains(basis, "assumed")) << basis;
  EXPECT_FALSE(Contains(basis, "no recent ED status")) << basis;
}

// An incident beside a one-way road that no road leads into (an exit-only lane: p -> q below)
// is snapped to a road that can be reached (graph_builder.cc: an edge is in the main component
// only when its tail is too), so it gets an ambulance. On the whole Porto extract 2 of 2,000
// random road positions used to snap onto such lanes, e.g. (-8.6090523, 41.1381238).
TEST(DecisionTest, IncidentOnAnExitOnlyOneWayStillGetsAnAmbulance) {
  const AsciiMap map(R"(
    p
    |
a - q - b
|       |
d - - - e
)");
  auto router = OpenRouter(map, {{1, "aqb"},
                                 {2, "bed"},
                                 {3, "da"},
                                 {4, "pq", {{"highway", "residential"}, {"oneway", "yes"}}}});
  const Incident incident = MakeIncident(map.Between('p', 'q', 0.5), Condition::kGeneral);
  Recommendation r = Decide(*router, incident, {MakeHospital("h", At(map, 'e'))},
                            {MakeAmbulance("d", At(map, 'd'))});
  EXPECT_EQ(ChosenHospital(r), "h");
  EXPECT_EQ(ChosenAmbulance(r), "d") << AmbulanceEntry(r, "d").reason;
}

TEST(DecisionTest, PlacesWithNoRoadBetweenThemAreListedAsUnreachable) {
  // Two roads 5 km apart, no road between them: the scene s on one, the island i-j on the
  // other, too far from the first for a place on it to be snapped across.
  const AsciiMap map(R"(
s - g

i - j
)",
                     2500);
  auto router = OpenRouter(map, {{1, "sg"}, {2, "ij"}});
  const std::vector<Hospital> hospitals = {MakeHospital("i", At(map, 'i')),
                                           MakeHospital("g", At(map, 'g'))};
  const std::vector<Ambulance> ambulances = {MakeAmbulance("j", At(map, 'j')),
                                             MakeAmbulance("g", At(map, 'g'))};
  Recommendation r =
      Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), hospitals, ambulances);
  EXPECT_EQ(ChosenHospital(r), "g");
  EXPECT_EQ(ChosenAmbulance(r), "g");
  const HospitalCandidate& island = HospitalEntry(r, "i");
  EXPECT_FALSE(island.eligible);
  EXPECT_FALSE(island.drive_s.has_value());
  EXPECT_EQ(island.reason, "no road leads there");
  const AmbulanceCandidate& stranded = AmbulanceEntry(r, "j");
  EXPECT_FALSE(stranded.chosen);
  EXPECT_FALSE(stranded.arrival_s.has_value());
  EXPECT_EQ(stranded.reason, "no road leads from it to the scene");

  // Only the island hospital: none can be reached.
  Recommendation none = Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral),
                               {MakeHospital("i", At(map, 'i'))}, ambulances);
  EXPECT_FALSE(none.hospital.has_value());
  EXPECT_EQ(none.rule, "no hospital can be reached");
  EXPECT_FALSE(none.time_to_treatment_s.has_value());
  EXPECT_TRUE(none.route_to_hospital.empty());
}

// --- 9. Places off the map -----------------------------------------------------------------

TEST(DecisionTest, IncidentOffTheMapIsInvalidArgument) {
  const AsciiMap map(kLine);
  auto router = OpenRouter(map, {{1, "hsg"}});
  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h'))};
  const std::vector<Ambulance> ambulances = {MakeAmbulance("a", At(map, 'g'))};
  const Incident paris = MakeIncident({2.35, 48.85}, Condition::kGeneral);
  auto r = Recommend(*router, Policy{}, paris, hospitals, ambulances, Options());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(r.error().message(), "incident")) << r.error().message();

  // 200 m off the only road, inside the map's box.
  LonLat beside = At(map, 's');
  beside.lat += 200 / 111'194.9266;
  auto strict = Router::Open(router->shared_graph(), {.max_snap_m = 50, .time_of_day = false});
  ASSERT_TRUE(strict.has_value());
  auto off_road = Recommend(**strict, Policy{}, MakeIncident(beside, Condition::kGeneral),
                            hospitals, ambulances, Options());
  ASSERT_FALSE(off_road.has_value());
  EXPECT_EQ(off_road.error().code(), core::Code::kInvalidArgument);

  // In a batch, the bad one is named and nothing is answered.
  const std::vector<Incident> incidents = {MakeIncident(At(map, 's'), Condition::kGeneral), paris};
  auto many = RecommendMany(*router, Policy{}, incidents, hospitals, ambulances, Options());
  ASSERT_FALSE(many.has_value());
  EXPECT_EQ(many.error().code(), core::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(many.error().message(), "incident 2")) << many.error().message();

  // An origin off the map too.
  RecommendOptions from_paris = Options();
  from_paris.origin = LonLat{2.35, 48.85};
  auto origin = Recommend(*router, Policy{}, MakeIncident(At(map, 's'), Condition::kGeneral),
                          hospitals, ambulances, from_paris);
  ASSERT_FALSE(origin.has_value());
  EXPECT_EQ(origin.error().code(), core::Code::kInvalidArgument);
}

TEST(DecisionTest, HospitalOffTheRoadNetworkIsListedNotChosen) {
  const AsciiMap map(kLine);
  auto router = OpenRouter(map, {{1, "hsg"}});
  const std::vector<Hospital> hospitals = {MakeHospital("paris", {2.35, 48.85}),
                                           MakeHospital("g", At(map, 'g'))};
  Recommendation r = Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), hospitals);
  EXPECT_EQ(ChosenHospital(r), "g");
  const HospitalCandidate& paris = HospitalEntry(r, "paris");
  EXPECT_FALSE(paris.eligible);
  EXPECT_FALSE(paris.drive_s.has_value());
  EXPECT_TRUE(Contains(paris.reason, "not on the road network")) << paris.reason;
  EXPECT_EQ(r.hospitals.back().id, "paris");
}

// --- 10. Totals and geometry ---------------------------------------------------------------

TEST(DecisionTest, TimeToTreatmentAddsArrivalSceneDriveAndDoorAndRoutesJoinThePlaces) {
  const AsciiMap map(R"(
  a - - - s
          |
          |
          x - - - - h
)");
  auto router = OpenRouter(map, {{1, "asxh"}});
  HospitalStatus waiting = Reported();
  waiting.ed_wait_min = 20;
  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h'), 0, waiting)};
  const std::vector<Ambulance> ambulances = {MakeAmbulance("a", At(map, 'a'))};
  const Policy policy{};
  RecommendOptions options = Options();
  options.with_geometry = true;
  Recommendation r = Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), hospitals,
                            ambulances, options, policy);
  ASSERT_TRUE(r.ambulance && r.hospital);
  const double arrival = Seconds(map, "as"), drive = Seconds(map, "sxh");
  const double door_min = 10 + 20;  // general: base 10 min + the whole reported wait
  EXPECT_DOUBLE_EQ(*r.ambulances[*r.ambulance].arrival_s, arrival);
  const HospitalCandidate& h = r.hospitals[*r.hospital];
  EXPECT_DOUBLE_EQ(*h.drive_s, drive);
  EXPECT_NEAR(*h.distance_m, map.Metres('s', 'x') + map.Metres('x', 'h'), 0.2);
  EXPECT_DOUBLE_EQ(h.door_to_treatment.total_min, door_min);
  EXPECT_DOUBLE_EQ(*h.total_s, drive + door_min * 60);
  ASSERT_TRUE(r.time_to_treatment_s.has_value());
  EXPECT_DOUBLE_EQ(*r.time_to_treatment_s,
                   arrival + policy.on_scene_min * 60 + drive + door_min * 60);

  ASSERT_GE(r.route_to_scene.size(), 2u);
  EXPECT_TRUE(Near(r.route_to_scene.front(), At(map, 'a')));
  EXPECT_TRUE(Near(r.route_to_scene.back(), At(map, 's')));
  ASSERT_GE(r.route_to_hospital.size(), 3u);
  EXPECT_TRUE(Near(r.route_to_hospital.front(), At(map, 's')));
  EXPECT_TRUE(Near(r.route_to_hospital.back(), At(map, 'h')));
  EXPECT_TRUE(std::any_of(r.route_to_hospital.begin(), r.route_to_hospital.end(),
                          [&](LonLat p) { return Near(p, At(map, 'x')); }));

  // Without geometry: the same decision, no routes.
  Recommendation bare = Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), hospitals,
                               ambulances, Options(), policy);
  EXPECT_EQ(*bare.time_to_treatment_s, *r.time_to_treatment_s);
  EXPECT_TRUE(bare.route_to_scene.empty());
  EXPECT_TRUE(bare.route_to_hospital.empty());
}

TEST(DecisionTest, FromAnOriginEnRouteNoAmbulanceNorSceneTimeIsCounted) {
  const AsciiMap map(R"(
  a - - - s
          |
          |
          x - - - - h
)");
  auto router = OpenRouter(map, {{1, "asxh"}});
  HospitalStatus waiting = Reported();
  waiting.ed_wait_min = 20;
  const std::vector<Hospital> hospitals = {MakeHospital("h", At(map, 'h'), 0, waiting)};
  RecommendOptions options = Options();
  options.with_geometry = true;
  options.choose_ambulance = false;
  options.origin = At(map, 'x');  // the ambulance, transporting, is at x
  Recommendation r = Decide(*router, MakeIncident(At(map, 's'), Condition::kGeneral), hospitals,
                            {MakeAmbulance("a", At(map, 'a'))}, options);
  EXPECT_FALSE(r.ambulance.has_value());
  EXPECT_TRUE(r.ambulances.empty());
  EXPECT_TRUE(r.route_to_scene.empty());
  ASSERT_TRUE(r.time_to_treatment_s.has_value());
  EXPECT_DOUBLE_EQ(*r.time_to_treatment_s, Seconds(map, "xh") + 30 * 60);
  ASSERT_FALSE(r.route_to_hospital.empty());
  EXPECT_TRUE(Near(r.route_to_hospital.front(), At(map, 'x')));
  EXPECT_TRUE(Near(r.route_to_hospital.back(), At(map, 'h')));
}

// --- Other destination preferences ---------------------------------------------------------

TEST(DecisionTest, MajorTraumaPrefersALevelOneCentreWithin20MinAndAChildAPaediatricEd) {
  // Half a minute per column: a level II centre t 2 min from the scene, a level I centre o
  // 15 min further, a paediatric ED k 6 min the other way.
  const AsciiMap map("k - - - - - s - t - - - - - - - - - - - - - - o", kHalfMinuteColumn_m);
  auto router = OpenRouter(map, {{1, "ksto"}});
  ASSERT_NEAR(Seconds(map, "st") / 60, 2, 0.1);
  ASSERT_NEAR((Seconds(map, "sto") - Seconds(map, "st")) / 60, 15, 0.1);
  ASSERT_NEAR(Seconds(map, "sk") / 60, 6, 0.1);
  const std::vector<Hospital> hospitals = {MakeHospital("t", At(map, 't'), kTraumaLevel2),
                                           MakeHospital("o", At(map, 'o'), kTraumaLevel1),
                                           MakeHospital("k", At(map, 'k'), kPaediatrics)};
  Recommendation trauma =
      Decide(*router, MakeIncident(At(map, 's'), Condition::kMajorTrauma), hospitals);
  EXPECT_EQ(ChosenHospital(trauma), "o");
  EXPECT_TRUE(Contains(trauma.rule, "level I trauma centre")) << trauma.rule;
  EXPECT_EQ(HospitalEntry(trauma, "k").reason, "not a trauma centre");

  // A child with a fever: the paediatric ED, 6 min against 2.
  Incident child = MakeIncident(At(map, 's'), Condition::kGeneral);
  child.paediatric = true;
  EXPECT_EQ(ChosenHospital(Decide(*router, child, hospitals)), "k");
  child.paediatric = false;
  EXPECT_EQ(ChosenHospital(Decide(*router, child, hospitals)), "t");
}

}  // namespace
}  // namespace medulla::dispatch
