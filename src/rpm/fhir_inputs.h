// What the monitor takes from ordinary FHIR resources on the change feed: vital-sign readings
// from Observations (a kiosk's or an EHR's, not only devices'), and a clinician's target ranges
// from Goals. Pure functions over parsed JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "json/value.h"
#include "monitor/engine.h"

namespace medulla::rpm {

// The vital signs an Observation holds, in canonical units: its valueQuantity when its code is
// a vital's LOINC code, and each component's (a blood-pressure panel, 85354-9, carries systolic
// and diastolic as components). Needs status final/amended/corrected, a Patient subject and an
// effective time (effectiveDateTime, effectiveInstant or effectivePeriod.start); implausible
// values and units that do not convert are left out. Empty when nothing applies. The readings
// are marked not from a device (no device silence is judged on them).
std::vector<monitor::PatientReading> ReadingsOfObservation(const json::Value& observation);

// How old (or how far ahead) a vital sign written through FHIR may be when it is written and
// still reach the monitor: a kiosk's or an EHR's entry is recorded within hours of the
// measurement; older ones are history (an import), and later ones a wrong clock.
inline constexpr int64_t kObservationHorizonMs = 6 * 3600'000;
inline constexpr int64_t kObservationHorizonAheadMs = 10 * 60'000;

// A Goal's targets for vitals: target.measure (LOINC) with target.detailRange low/high or a
// detailQuantity bound ("<" an upper one, ">" a lower one). `active`: its lifecycleStatus is
// active or accepted; a Goal in any other state (proposed, on-hold, completed, cancelled...)
// sets no target, and the targets it set are cleared.
struct VitalTarget {
  monitor::Vital vital = monitor::Vital::kHeartRate;
  std::optional<double> low;
  std::optional<double> high;
};
struct GoalTargets {
  std::string patient;
  bool active = true;
  std::vector<VitalTarget> targets;
};
std::optional<GoalTargets> TargetsOfGoal(const json::Value& goal);

}  // namespace medulla::rpm
