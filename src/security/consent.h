// Patients' choices about sharing their record across organisations (FHIR R4 Consent with
// scope patient-privacy, https://hl7.org/fhir/R4/consent.html), and the decision whether a
// clinician may see one patient's data.
//
// The model (docs/security.md, "Consent"):
// - A clinician sees the patients their own organisation manages (Patient.managingOrganization),
//   unless the patient's consent denies that organisation by name.
// - Other organisations see a patient only as the patient's consent says. With no consent, the
//   city's default decides: opt-in (not shared; the default) or opt-out (shared).
// - The governing consent is the patient's most recent active patient-privacy Consent (a new
//   choice replaces the old one). Its provision is a base rule (permit or deny) with nested
//   exceptions of the opposite type; each rule applies when its actors name the organisation
//   (or it names none), its purposes meet the token's purpose of use (or it names none) and now
//   is within its period. The deepest rule that applies decides.
// - Break-glass: a clinician whose token carries an emergency purpose of use (ETREAT or BTG,
//   v3 ActReason) passes a denial; the access is flagged for review in the audit log.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "security/principal.h"

namespace medulla::json {
class Value;
}

namespace medulla::security {

// One provision of a Consent, reduced to what the sharing decision reads.
struct ConsentRule {
  bool permit = false;
  // Whether the rule names actors at all: one that names only people or teams (which this
  // model cannot match) applies to no organisation, not to every one.
  bool names_actors = false;
  std::vector<std::string> organizations;  // actor references to Organization, as ids
  std::vector<std::string> purposes;       // purpose codes (v3 ActReason)
  core::MicrosSinceEpoch period_begin = 0;
  core::MicrosSinceEpoch period_end = 0;  // 0: open-ended
  std::vector<ConsentRule> exceptions;
};

struct PatientConsent {
  std::string id;
  std::string patient;              // the Patient id
  core::MicrosSinceEpoch when = 0;  // Consent.dateTime, else when it was stored
  ConsentRule provision;
};

// The Consent's sharing rule, or nullopt when it does not govern sharing: not active, not
// scope patient-privacy, or without a provision type. `stored_at` stands in for a missing
// dateTime. Malformed parts (a period that is not a date) make it an error: a consent that
// cannot be read must not be silently ignored.
core::Result<std::optional<PatientConsent>> ReadConsent(const json::Value& consent,
                                                        core::MicrosSinceEpoch stored_at);

enum class SharingDefault { kOptIn, kOptOut };

struct SharingDecision {
  bool allowed = false;
  bool break_glass = false;  // allowed only because of an emergency purpose of use
  std::string reason;        // for the audit entry and the log
};

// Purposes of use that open break-glass access (v3 ActReason).
bool IsEmergencyPurpose(std::string_view code);

// May `clinician` see the data of a patient managed by `managing_organization` (an id; empty:
// none) with these consents (any order)?
SharingDecision DecideSharing(const Principal& clinician, std::string_view managing_organization,
                              std::span<const PatientConsent> consents, SharingDefault fallback,
                              core::MicrosSinceEpoch now);

// "Organization/x", an absolute URL ending so, or "x": the id.
std::string OrganizationId(std::string_view reference);

}  // namespace medulla::security
