#include "dispatch/door_to_treatment.h"

#include <algorithm>

#include <fmt/format.h>

namespace medulla::dispatch {

std::array<ConditionTiming, 7> DoorToTreatmentModel::DefaultTimings() {
  std::array<ConditionTiming, 7> t{};
  // General: to be seen by an emergency clinician; the ED's whole queue applies.
  t[static_cast<size_t>(Condition::kGeneral)] = {.base_min = 10, .load_share = 1.0};
  // Stroke, door-to-needle (thrombolysis). AHA/ASA 2019 guideline: <= 60 min; Target: Stroke
  // phase II median 51 min; an urban comprehensive centre 43 min (Jaffe et al., West J Emerg
  // Med 2020), where crowding did not lengthen it: a small share of the queue.
  t[static_cast<size_t>(Condition::kStroke)] = {.base_min = 45, .load_share = 0.15};
  // STEMI, door-to-balloon. 2013 ACCF/AHA: first medical contact to device <= 90 min; observed
  // 65 min (Harris et al.) to 84 min, 107 min under high crowding (Kulstad & Kelley 2009).
  t[static_cast<size_t>(Condition::kStemi)] = {.base_min = 65, .load_share = 0.15};
  // Major trauma: trauma-team activation on a pre-alert; the destination's level matters more
  // than minutes (MacKenzie et al., NEJM 2006; Newgard et al., Ann Emerg Med 2010).
  t[static_cast<size_t>(Condition::kMajorTrauma)] = {.base_min = 20, .load_share = 0.1};
  // Cardiac arrest: resuscitation continues on arrival; the ED queue does not apply.
  t[static_cast<size_t>(Condition::kCardiacArrest)] = {.base_min = 5, .load_share = 0};
  t[static_cast<size_t>(Condition::kBurns)] = {.base_min = 30, .load_share = 0.5};
  t[static_cast<size_t>(Condition::kObstetric)] = {.base_min = 20, .load_share = 0.5};
  return t;
}

Estimate DoorToTreatment(const DoorToTreatmentModel& model, Condition condition,
                         const HospitalStatus& status, bool fresh) {
  const ConditionTiming& timing = model.timing[static_cast<size_t>(condition)];
  // The M/M/1 factor rho / (1 - rho), capped: an ED at 80 % occupancy reaches the cap.
  auto queue_wait = [&](double rho) {
    rho = std::clamp(rho, 0.0, 0.95);
    return model.queue_scale_min * std::min(rho / (1 - rho), model.queue_factor_cap);
  };
  Estimate e;
  e.base_min = timing.base_min;
  if (fresh && status.ed_wait_min) {
    e.ed_wait_min = std::max(0.0, *status.ed_wait_min);
    e.wait_basis = fmt::format("the ED's estimated wait, {:.0f} min", e.ed_wait_min);
  } else if (fresh && status.ed_patients && status.ed_beds && *status.ed_beds > 0) {
    const double rho = *status.ed_patients / *status.ed_beds;
    e.ed_wait_min = queue_wait(rho);
    e.wait_basis = fmt::format("ED occupancy {:.0f}% ({:.0f} patients, {:.0f} beds)", rho * 100,
                               *status.ed_patients, *status.ed_beds);
  } else {
    e.ed_wait_min = queue_wait(model.unknown_occupancy);
    const char* why = status.reported_ms == 0 ? "no ED status"
                      : fresh                 ? "ED status without load figures"
                                              : "no recent ED status";
    e.wait_basis = fmt::format("{}: occupancy assumed {:.0f}%", why, model.unknown_occupancy * 100);
  }
  e.load_min = timing.load_share * e.ed_wait_min;
  e.total_min = e.base_min + e.load_min;
  return e;
}

}  // namespace medulla::dispatch
