// The door-to-treatment model (dispatch/door_to_treatment.h) against its stated formula.
#include "dispatch/door_to_treatment.h"

#include <gtest/gtest.h>

namespace medulla::dispatch {
namespace {

TEST(DoorToTreatmentTest, ReportedWaitIsUsedAndScaledByTheConditionsShare) {
  DoorToTreatmentModel model;
  HospitalStatus s{.reported_ms = 1, .ed_wait_min = 60};
  const Estimate general = DoorToTreatment(model, Condition::kGeneral, s, true);
  EXPECT_DOUBLE_EQ(general.ed_wait_min, 60);
  EXPECT_DOUBLE_EQ(general.total_min, 10 + 60);
  const Estimate stroke = DoorToTreatment(model, Condition::kStroke, s, true);
  EXPECT_DOUBLE_EQ(stroke.total_min, 45 + 0.15 * 60);
  const Estimate arrest = DoorToTreatment(model, Condition::kCardiacArrest, s, true);
  EXPECT_DOUBLE_EQ(arrest.total_min, 5);
}

TEST(DoorToTreatmentTest, OccupancyGivesTheCappedQueueFactor) {
  DoorToTreatmentModel model;
  HospitalStatus half{.reported_ms = 1, .ed_patients = 20, .ed_beds = 40};
  EXPECT_DOUBLE_EQ(DoorToTreatment(model, Condition::kGeneral, half, true).ed_wait_min, 15);
  HospitalStatus full{.reported_ms = 1, .ed_patients = 60, .ed_beds = 40};  // over capacity
  EXPECT_DOUBLE_EQ(DoorToTreatment(model, Condition::kGeneral, full, true).ed_wait_min, 60);
}

TEST(DoorToTreatmentTest, StaleOrMissingStatusAssumesTheDefaultOccupancy) {
  DoorToTreatmentModel model;
  HospitalStatus s{.reported_ms = 1, .ed_wait_min = 0};
  const Estimate stale = DoorToTreatment(model, Condition::kGeneral, s, false);
  EXPECT_DOUBLE_EQ(stale.ed_wait_min, 15 * 3);  // 0.75 / 0.25
  EXPECT_NE(stale.wait_basis.find("assumed"), std::string::npos);
}

}  // namespace
}  // namespace medulla::dispatch
