#include "monitor/vital.h"

namespace medulla::monitor {

// Plausible ranges are wide on purpose: they reject sensor garbage and unit mix-ups (a
// temperature in Fahrenheit sent as Cel, SpO2 140 %), never a sick patient's real value.
// They cover the extremes reported in adult and paediatric care.
const std::array<VitalInfo, kVitalCount>& Vitals() {
  static const std::array<VitalInfo, kVitalCount> kVitals = {{
      {Vital::kHeartRate, "8867-4", "heart_rate", "Heart rate", "/min", 0, 350},
      {Vital::kRespiratoryRate, "9279-1", "respiratory_rate", "Respiratory rate", "/min", 0, 120},
      {Vital::kSpO2, "59408-5", "spo2", "Oxygen saturation in Arterial blood by Pulse oximetry",
       "%", 20, 100},
      {Vital::kTemperature, "8310-5", "temperature", "Body temperature", "Cel", 24, 45},
      {Vital::kSystolicBp, "8480-6", "systolic_bp", "Systolic blood pressure", "mm[Hg]", 20, 300},
      {Vital::kDiastolicBp, "8462-4", "diastolic_bp", "Diastolic blood pressure", "mm[Hg]", 5, 250},
      {Vital::kConsciousness, "80288-4", "consciousness", "Level of consciousness (ACVPU)",
       "{score}", 0, 4},
      {Vital::kInspiredOxygen, "3150-0", "inspired_oxygen", "Inhaled oxygen concentration", "%", 21,
       100},
      {Vital::kOxygenFlow, "3151-8", "oxygen_flow", "Inhaled oxygen flow rate", "L/min", 0, 70},
  }};
  return kVitals;
}

std::optional<Vital> VitalFromLoinc(std::string_view code) {
  for (const auto& v : Vitals()) {
    if (v.loinc == code) return v.vital;
  }
  if (code == "2708-6" || code == "20564-1") return Vital::kSpO2;  // O2 saturation (profile code)
  if (code == "8331-1" || code == "8332-9" || code == "8333-7") return Vital::kTemperature;
  return std::nullopt;
}

}  // namespace medulla::monitor
