// What the monitor takes from FHIR resources: vital signs from Observations (with UCUM
// conversion and the blood-pressure panel's components) and targets from Goals.
#include "rpm/fhir_inputs.h"

#include <gtest/gtest.h>

#include "json/parse.h"

namespace medulla::rpm {
namespace {

using monitor::Vital;

std::vector<monitor::PatientReading> Readings(std::string_view text) {
  auto doc = json::Parse(text);
  EXPECT_TRUE(doc) << text;
  return doc ? ReadingsOfObservation(*doc->root()) : std::vector<monitor::PatientReading>{};
}

std::optional<GoalTargets> Targets(std::string_view text) {
  auto doc = json::Parse(text);
  EXPECT_TRUE(doc) << text;
  return doc ? TargetsOfGoal(*doc->root()) : std::nullopt;
}

TEST(ReadingsOfObservation, HeartRateWithItsTimeAndPatient) {
  auto r = Readings(R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
    "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-21T08:00:00Z",
    "valueQuantity":{"value":88,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].patient, "p1");
  EXPECT_EQ(r[0].reading.vital, Vital::kHeartRate);
  EXPECT_DOUBLE_EQ(r[0].reading.value, 88);
  EXPECT_EQ(r[0].reading.time_ms, 1795248000000);
  EXPECT_FALSE(r[0].reading.from_device) << "no device silence is judged on it";
}

TEST(ReadingsOfObservation, ConvertsUnitsThroughUcum) {
  auto r = Readings(R"({"resourceType":"Observation","status":"amended",
    "code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},
    "subject":{"reference":"Patient/p1"},"effectiveInstant":"2026-11-21T08:00:00Z",
    "valueQuantity":{"value":101.3,"code":"[degF]"}})");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NEAR(r[0].reading.value, 38.5, 0.01);
}

TEST(ReadingsOfObservation, BloodPressurePanelComponents) {
  auto r = Readings(R"({"resourceType":"Observation","status":"final",
    "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
    "subject":{"reference":"Patient/p2"},"effectivePeriod":{"start":"2026-11-21T08:00:00Z"},
    "component":[
      {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":92,"code":"mm[Hg]"}},
      {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":55,"code":"mm[Hg]"}}]})");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].reading.vital, Vital::kSystolicBp);
  EXPECT_EQ(r[1].reading.vital, Vital::kDiastolicBp);
  EXPECT_DOUBLE_EQ(r[0].reading.value, 92);
}

TEST(ReadingsOfObservation, LeavesOutWhatCannotBeTrusted) {
  const std::string base = R"("code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)";
  // Not final; no patient subject; no time; implausible; a unit of another dimension; not LOINC.
  for (
      const std::string& text : std::vector<std::string>{
          R"({"resourceType":"Observation","status":"preliminary",)" + base +
              R"("subject":{"reference":"Patient/p"},"effectiveDateTime":"2026-11-21","valueQuantity":{"value":80,"code":"/min"}})",
          R"({"resourceType":"Observation","status":"final",)" + base +
              R"("subject":{"reference":"Group/g"},"effectiveDateTime":"2026-11-21","valueQuantity":{"value":80,"code":"/min"}})",
          R"({"resourceType":"Observation","status":"final",)" + base +
              R"("subject":{"reference":"Patient/p"},"valueQuantity":{"value":80,"code":"/min"}})",
          R"({"resourceType":"Observation","status":"final",)" + base +
              R"("subject":{"reference":"Patient/p"},"effectiveDateTime":"2026-11-21","valueQuantity":{"value":900,"code":"/min"}})",
          R"({"resourceType":"Observation","status":"final",)" + base +
              R"("subject":{"reference":"Patient/p"},"effectiveDateTime":"2026-11-21","valueQuantity":{"value":80,"code":"mm[Hg]"}})",
          std::string(
              R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"8867-4"}]},)") +
              R"("subject":{"reference":"Patient/p"},"effectiveDateTime":"2026-11-21","valueQuantity":{"value":80,"code":"/min"}})",
      }) {
    EXPECT_TRUE(Readings(text).empty()) << text;
  }
}

TEST(TargetsOfGoal, RangeAndBoundTargetsOfAnActiveGoal) {
  auto g = Targets(R"({"resourceType":"Goal","lifecycleStatus":"active",
    "subject":{"reference":"Patient/p3"},"description":{"text":"x"},
    "target":[
      {"measure":{"coding":[{"system":"http://loinc.org","code":"59408-5"}]},
       "detailRange":{"low":{"value":88,"code":"%"},"high":{"value":92,"code":"%"}}},
      {"measure":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
       "detailQuantity":{"value":110,"comparator":"<","code":"/min"}},
      {"measure":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
       "detailRange":{"high":{"value":10,"code":"mmol/L"}}}]})");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->patient, "p3");
  EXPECT_TRUE(g->active);
  ASSERT_EQ(g->targets.size(), 2u) << "glucose is not a monitored vital";
  EXPECT_EQ(g->targets[0].vital, Vital::kSpO2);
  EXPECT_DOUBLE_EQ(*g->targets[0].low, 88);
  EXPECT_DOUBLE_EQ(*g->targets[0].high, 92);
  EXPECT_EQ(g->targets[1].vital, Vital::kHeartRate);
  EXPECT_FALSE(g->targets[1].low);
  EXPECT_DOUBLE_EQ(*g->targets[1].high, 110);
}

TEST(TargetsOfGoal, AGoalNoLongerInForceIsInactive) {
  for (const char* status : {"proposed", "on-hold", "completed", "cancelled", "entered-in-error"}) {
    auto g = Targets(std::string(R"({"resourceType":"Goal","lifecycleStatus":")") + status +
                     R"(","subject":{"reference":"Patient/p"},"description":{"text":"x"}})");
    ASSERT_TRUE(g);
    EXPECT_FALSE(g->active) << status;
  }
  EXPECT_FALSE(
      Targets(R"({"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"x"}})"))
      << "no patient";
}

}  // namespace
}  // namespace medulla::rpm
