// What the dispatch decision works on: hospitals with their capabilities and live status,
// ambulances with their positions and status, and incidents. Plain values, filled from FHIR
// resources by dispatch/fhir_mapping.h and read by dispatch/decision.h; nothing here knows FHIR
// or HTTP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/router.h"

namespace medulla::dispatch {

// What a hospital can treat (docs/dispatch.md, "Hospitals"). The codes of the CodeSystem
// kCapabilitySystem are CapabilityCode's.
enum Capability : uint32_t {
  kStrokeUnit = 1u << 0,    // acute stroke unit: intravenous thrombolysis
  kThrombectomy = 1u << 1,  // endovascular thrombectomy (a comprehensive stroke centre)
  kPci = 1u << 2,           // primary PCI cath lab, 24/7
  kTraumaLevel1 = 1u << 3,  // ACS-verified trauma levels
  kTraumaLevel2 = 1u << 4,
  kTraumaLevel3 = 1u << 5,
  kBurns = 1u << 6,
  kPaediatrics = 1u << 7,
  kMaternity = 1u << 8,
};
inline constexpr uint32_t kAnyTraumaCentre = kTraumaLevel1 | kTraumaLevel2 | kTraumaLevel3;
inline constexpr uint32_t kAnyStrokeCentre = kStrokeUnit | kThrombectomy;

inline constexpr std::string_view kCapabilitySystem =
    "https://medulla.health/fhir/CodeSystem/hospital-capability";
std::string_view CapabilityCode(Capability c);
std::optional<Capability> CapabilityFromCode(std::string_view code);
// Every capability, in bit order.
std::vector<Capability> AllCapabilities();

enum class Condition : uint8_t {
  kGeneral,
  kStroke,
  kStemi,
  kMajorTrauma,
  kCardiacArrest,
  kBurns,
  kObstetric,
};
// "general", "stroke", "stemi", "major-trauma", "cardiac-arrest", "burns", "obstetric".
std::string_view ConditionCode(Condition c);
std::optional<Condition> ConditionFromCode(std::string_view code);
// Which incident takes a contested ambulance first: lower is more urgent.
int Priority(Condition c);

// An emergency department's state as last reported (a MeasureReport, dispatch/fhir_mapping.h).
struct HospitalStatus {
  int64_t reported_ms = 0;                     // 0: never reported
  bool diversion = false;                      // the ED takes no ambulances
  std::optional<double> ed_patients, ed_beds;  // occupancy = patients / beds
  std::optional<double> ed_waiting;            // patients waiting to be seen
  std::optional<double> ed_wait_min;           // the ED's own estimate of the wait
  // Beds by type as reported (SANER population codes such as numICUBedsAvail), for display.
  std::vector<std::pair<std::string, double>> beds;
};

struct Hospital {
  std::string id;  // the Location's id
  std::string name;
  routing::LonLat where;
  uint32_t capabilities = 0;  // Capability bits
  HospitalStatus status;
};

enum class AmbulanceStatus : uint8_t {
  kAvailable,
  kDispatched,
  kEnRoute,
  kOnScene,
  kTransporting,
  kAtHospital,
  kOutOfService,
};
inline constexpr std::string_view kAmbulanceStatusUrl =
    "https://medulla.health/fhir/StructureDefinition/ambulance-status";
// "available", "dispatched", "en-route", "on-scene", "transporting", "at-hospital",
// "out-of-service".
std::string_view AmbulanceStatusCode(AmbulanceStatus s);
std::optional<AmbulanceStatus> AmbulanceStatusFromCode(std::string_view code);

struct Ambulance {
  std::string id;  // the Device's id
  std::string name;
  AmbulanceStatus status = AmbulanceStatus::kOutOfService;
  std::optional<routing::LonLat> where;  // the last position report
  int64_t position_ms = 0;               // when it was taken
};

struct Incident {
  std::string id;  // the caller's, echoed back (may be empty)
  routing::LonLat where;
  Condition condition = Condition::kGeneral;
  // Stroke: a positive prehospital severity screen for large-vessel occlusion (RACE >= 5,
  // LAMS >= 4, ...): the thrombectomy bypass rule applies.
  bool lvo_suspected = false;
  bool paediatric = false;  // a child: a paediatric ED is preferred
};

}  // namespace medulla::dispatch
