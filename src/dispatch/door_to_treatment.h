// Door-to-treatment: how long after arriving at a hospital's door a patient with a given
// condition can expect the condition's definitive treatment to start, given the ED's load.
//
//   door_to_treatment = base(condition) + load_share(condition) * ed_wait
//
// base: the median at an uncrowded capable hospital, from the published targets and registry
// medians cited per condition in door_to_treatment.cc and docs/dispatch.md (e.g. stroke
// door-to-needle: AHA/ASA target <= 60 min, Target: Stroke phase II median 51 min).
// ed_wait: the ED's own estimate when it reports one; otherwise a queueing estimate from its
// occupancy rho = patients / beds, tau * min(rho / (1 - rho), 4) (the M/M/1 queue factor,
// capped so that a full ED does not count as infinite); otherwise, with no fresh status, the
// wait at an assumed occupancy. load_share: how much of the ED queue the condition's patient
// meets: a pre-alerted stroke or STEMI code pathway skips most of it (Schull et al. 2004: high
// crowding added 5-7 min to door-to-needle), a general patient meets all of it.
// These are medulla's defaults, every one configurable; see docs/dispatch.md.
#pragma once

#include <array>
#include <string>

#include "dispatch/model.h"

namespace medulla::dispatch {

struct ConditionTiming {
  double base_min = 30;
  double load_share = 1;
};

struct DoorToTreatmentModel {
  // Indexed by Condition.
  std::array<ConditionTiming, 7> timing = DefaultTimings();
  double queue_scale_min = 15;      // tau
  double queue_factor_cap = 4;      // rho / (1 - rho) at most this
  double unknown_occupancy = 0.75;  // when no fresh status says otherwise

  static std::array<ConditionTiming, 7> DefaultTimings();
};

struct Estimate {
  double base_min = 0;
  double ed_wait_min = 0;  // the ED's wait as estimated
  double load_min = 0;     // load_share * ed_wait_min
  double total_min = 0;    // base + load
  std::string wait_basis;  // where ed_wait came from, in words
};

// `fresh`: the status is recent enough to trust (Policy::status_max_age_ms).
Estimate DoorToTreatment(const DoorToTreatmentModel& model, Condition condition,
                         const HospitalStatus& status, bool fresh);

}  // namespace medulla::dispatch
