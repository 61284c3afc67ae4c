// Hospitals and ambulances as FHIR resources (docs/dispatch.md, "Hospitals and ambulances as
// FHIR"), read into the plain values the decision works on (model.h):
//  - a hospital is a Location typed HOSP (v3 RoleCode) with a position; its Organization is
//    Location.managingOrganization;
//  - its capabilities are codes of kCapabilitySystem on the HealthcareServices that name it in
//    HealthcareService.location (in type, specialty or characteristic);
//  - its live ED status is a MeasureReport in the style of the SANER capacity-reporting IG:
//    subject the Location, `date` when measured, and populations coded from kEdStatusSystem
//    (edPatients, edBeds, edWaiting, edWaitMinutes, diversion) or SANER's MeasuredValues (bed
//    counts such as numICUBedsAvail, kept for display);
//  - an ambulance is a Device typed kDeviceKindSystem#ambulance, its status the extension
//    kAmbulanceStatusUrl (valueCode); its position comes from position reports, not FHIR.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/model.h"
#include "json/value.h"

namespace medulla::dispatch {

inline constexpr std::string_view kRoleCodeSystem =
    "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
inline constexpr std::string_view kEdStatusSystem =
    "https://medulla.health/fhir/CodeSystem/ed-status";
inline constexpr std::string_view kSanerMeasuredValues =
    "http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues";
inline constexpr std::string_view kDeviceKindSystem =
    "https://medulla.health/fhir/CodeSystem/device-kind";
inline constexpr std::string_view kDispatchTaskSystem =
    "https://medulla.health/fhir/CodeSystem/dispatch";
inline constexpr std::string_view kDispatchTaskCode = "ambulance-dispatch";

// A Location that is a hospital site (type HOSP, a position, status not inactive); nullopt
// otherwise. Capabilities and status are left empty: they come from other resources.
std::optional<Hospital> HospitalFromLocation(const json::Value& location, const std::string& id);

// The Location ids a HealthcareService names and the capabilities it offers there.
struct ServiceOffer {
  std::vector<std::string> locations;
  uint32_t capabilities = 0;
};
// nullopt when the service is not active (active: false) or names no local Location.
std::optional<ServiceOffer> OfferFromHealthcareService(const json::Value& service);

struct StatusReport {
  std::string location;  // the subject's id
  HospitalStatus status;
};
// nullopt when the MeasureReport's subject is not a local Location, it has no valid `date`
// (nor period.end), or its status is not complete.
std::optional<StatusReport> StatusFromMeasureReport(const json::Value& report);

// nullopt when the Device is not typed as an ambulance. Device.status inactive or
// entered-in-error makes it out of service whatever the extension says.
std::optional<Ambulance> AmbulanceFromDevice(const json::Value& device, const std::string& id);

// Whether a Task is an ambulance dispatch (code kDispatchTaskSystem#ambulance-dispatch).
bool IsDispatchTask(const json::Value& task);

// "Location/123" -> "123" when the reference is to that type on this server; nullopt otherwise.
std::optional<std::string> LocalId(const json::Value* reference, std::string_view type);

}  // namespace medulla::dispatch
