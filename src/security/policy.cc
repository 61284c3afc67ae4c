#include "security/policy.h"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace medulla::security {
namespace {

// Practitioners, places, organisations, services, medicines and knowledge artefacts:
// none of them is about one patient.
constexpr std::string_view kDirectoryTypes[] = {
    "ActivityDefinition",
    "CapabilityStatement",
    "CodeSystem",
    "ConceptMap",
    "Endpoint",
    "HealthcareService",
    "Library",
    "Location",
    "Measure",
    "Medication",
    "MedicationKnowledge",
    "NamingSystem",
    "ObservationDefinition",
    "OperationDefinition",
    "Organization",
    "OrganizationAffiliation",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Questionnaire",
    "SearchParameter",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Substance",
    "SubstanceDefinition",
    "TerminologyCapabilities",
    "ValueSet",
    "GraphDefinition",
};

}  // namespace

bool IsDirectoryType(std::string_view type) {
  return std::find(std::begin(kDirectoryTypes), std::end(kDirectoryTypes), type) !=
         std::end(kDirectoryTypes);
}

core::Status CheckInteraction(const Principal& p, std::string_view type, Interaction interaction) {
  if (p.scopes.Allows(type, interaction)) return core::OkStatus();
  return core::PermissionDenied(
      fmt::format("the token's scopes do not grant '{}' on {} (role {}): a scope such as "
                  "user/{}.{} is needed",
                  InteractionLetter(interaction), std::string(type), RoleName(p.role),
                  std::string(type), InteractionLetter(interaction)));
}

bool CanSee(const Principal& p, std::string_view type, std::span<const std::string> patients) {
  std::optional<std::string_view> bound = p.PatientBinding();
  if (!bound) return true;
  if (IsDirectoryType(type)) return true;
  if (bound->empty()) return false;
  return std::find(patients.begin(), patients.end(), *bound) != patients.end();
}

core::Status CheckWriteContent(const Principal& p, std::string_view type,
                               std::span<const std::string> patients) {
  std::optional<std::string_view> bound = p.PatientBinding();
  if (!bound) return core::OkStatus();
  bool only_own = !patients.empty() && !bound->empty() &&
                  std::all_of(patients.begin(), patients.end(),
                              [&](const std::string& id) { return id == *bound; });
  if (only_own) return core::OkStatus();
  return core::PermissionDenied(fmt::format(
      "this token may write only resources of its own patient's record; the {} names {}",
      std::string(type), patients.empty() ? "no patient" : "another patient"));
}

core::Status CheckAdministrator(const Principal& p, std::string_view what) {
  if (p.role == Role::kAdmin) return core::OkStatus();
  return core::PermissionDenied(
      fmt::format("{} needs the admin role (this token's role is {})", what, RoleName(p.role)));
}

core::Status CheckAuditLogReader(const Principal& p, bool by_id) {
  if (p.role == Role::kAdmin) return core::OkStatus();
  if (p.PatientBinding() && p.scopes.Allows("AuditEvent", by_id ? kRead : kSearch)) {
    return core::OkStatus();
  }
  return CheckAdministrator(p, "the audit log");
}

}  // namespace medulla::security
