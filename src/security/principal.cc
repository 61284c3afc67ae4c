#include "security/principal.h"

namespace medulla::security {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kClinician:
      return "clinician";
    case Role::kPatient:
      return "patient";
    case Role::kDevice:
      return "device";
    case Role::kDispatcher:
      return "dispatcher";
    case Role::kAnalyst:
      return "analyst";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "admin" || name == "administrator") return Role::kAdmin;
  if (name == "clinician") return Role::kClinician;
  if (name == "patient") return Role::kPatient;
  if (name == "device") return Role::kDevice;
  if (name == "dispatcher") return Role::kDispatcher;
  if (name == "analyst" || name == "public-health-analyst") return Role::kAnalyst;
  return std::nullopt;
}

namespace {

// Facilities, people and fleet: what dispatch works with.
constexpr std::string_view kDispatcherCeiling =
    "user/Location.rus user/Organization.rs user/HealthcareService.rs user/Device.rus "
    "user/Endpoint.rs user/Practitioner.rs user/PractitionerRole.rs user/MeasureReport.rs "
    "system/Location.rus system/Organization.rs system/HealthcareService.rs system/Device.rus "
    "system/MeasureReport.rs";
// Aggregates and definitions only: no record names a patient.
constexpr std::string_view kAnalystCeiling =
    "user/MeasureReport.rs user/Measure.rs user/Library.rs user/Location.rs user/Organization.rs "
    "system/MeasureReport.rs system/Measure.rs system/Library.rs system/Location.rs "
    "system/Organization.rs";

}  // namespace

const ScopeSet& RoleCeiling(Role role) {
  static const ScopeSet admin = ScopeSet::Parse("system/*.cruds user/*.cruds patient/*.cruds");
  static const ScopeSet clinician = ScopeSet::Parse("user/*.cruds patient/*.cruds");
  static const ScopeSet patient = ScopeSet::Parse("patient/*.rs");
  // Readings (Observation), and reading back what it wrote or is attached to.
  static const ScopeSet device = ScopeSet::Parse("patient/Observation.crs patient/Device.rs");
  static const ScopeSet dispatcher = ScopeSet::Parse(kDispatcherCeiling);
  static const ScopeSet analyst = ScopeSet::Parse(kAnalystCeiling);
  switch (role) {
    case Role::kAdmin:
      return admin;
    case Role::kClinician:
      return clinician;
    case Role::kPatient:
      return patient;
    case Role::kDevice:
      return device;
    case Role::kDispatcher:
      return dispatcher;
    case Role::kAnalyst:
      return analyst;
  }
  return patient;
}

std::string_view DefaultScopes(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "system/*.cruds";
    case Role::kClinician:
      return "user/*.cruds";
    case Role::kPatient:
      return "patient/*.rs";
    case Role::kDevice:
      return "patient/Observation.crs patient/Device.rs";
    case Role::kDispatcher:
      return kDispatcherCeiling.substr(0, kDispatcherCeiling.find(" system/"));
    case Role::kAnalyst:
      return kAnalystCeiling.substr(0, kAnalystCeiling.find(" system/"));
  }
  return "";
}

std::optional<std::string_view> Principal::PatientBinding() const {
  if (role == Role::kPatient || role == Role::kDevice) return std::string_view(patient);
  if (scopes.PatientLevelOnly()) return std::string_view(patient);
  return std::nullopt;
}

}  // namespace medulla::security
