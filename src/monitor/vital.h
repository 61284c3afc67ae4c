// The vital signs the monitor understands: their codes, canonical units and plausible ranges.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace medulla::monitor {

// A vital sign as the monitor keeps it: one value per reading, in the canonical unit below.
enum class Vital : uint8_t {
  kHeartRate,        // /min
  kRespiratoryRate,  // /min
  kSpO2,             // % (peripheral oxygen saturation)
  kTemperature,      // Cel
  kSystolicBp,       // mm[Hg]
  kDiastolicBp,      // mm[Hg]
  kConsciousness,    // ACVPU as a number: 0 Alert, 1 new Confusion, 2 Voice, 3 Pain, 4 Unresponsive
  kInspiredOxygen,   // % (FiO2 as a percentage; 21 is room air)
  kOxygenFlow,       // L/min of supplemental oxygen; 0 is room air
};
inline constexpr int kVitalCount = 9;

struct VitalInfo {
  Vital vital;
  std::string_view loinc;    // the code readings carry
  std::string_view name;     // short machine name ("heart_rate")
  std::string_view display;  // LOINC display for people
  std::string_view ucum;     // the canonical unit
  double plausible_min;      // readings outside [min, max] are rejected as implausible
  double plausible_max;
};

// One row per Vital, in enum order.
const std::array<VitalInfo, kVitalCount>& Vitals();
inline const VitalInfo& InfoOf(Vital v) {
  return Vitals()[static_cast<int>(v)];
}

// The vital a LOINC code stands for. Accepts the vital-signs profile's codes and the common
// alternatives (2708-6 for SpO2, 8480-6/8462-4 for blood pressure, 80288-4 for consciousness,
// 3150-0 inspired oxygen, 3151-8 oxygen flow).
std::optional<Vital> VitalFromLoinc(std::string_view code);

// Whether a value (canonical unit) is physiologically plausible for the vital.
inline bool Plausible(Vital v, double value) {
  const auto& i = InfoOf(v);
  return value >= i.plausible_min && value <= i.plausible_max;
}

}  // namespace medulla::monitor
