// Who is asking: the identity, role and grants a verified access token carries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "security/scopes.h"

namespace medulla::security {

// The roles a city hub needs (docs/security.md): each bounds what its tokens' scopes can grant
// and which patients' data they reach.
enum class Role : uint8_t {
  kAdmin,       // operators: everything, including the audit log
  kClinician,   // their organisation's patients, and those whose consent shares with it
  kPatient,     // their own compartment, read-only
  kDevice,      // writes readings for its own patient only
  kDispatcher,  // facilities, ambulances and capacity; no clinical records
  kAnalyst,     // public health: aggregates (MeasureReport) and definitions; no records
};

std::string_view RoleName(Role role);
// Accepts the names above ("admin", "clinician", "patient", "device", "dispatcher", "analyst")
// and the long forms "administrator" and "public-health-analyst".
std::optional<Role> ParseRole(std::string_view name);
// The most a role's token may be granted; a token's own scopes are cut down to this.
const ScopeSet& RoleCeiling(Role role);
// The scopes `medulla token` gives a role when none are asked for.
std::string_view DefaultScopes(Role role);

struct Principal {
  Role role = Role::kPatient;
  std::string subject;       // sub
  std::string client_id;     // the OAuth client (client_id, else azp, else sub)
  std::string token_id;      // jti
  std::string patient;       // SMART launch context "patient": the patient the token is bound to
  std::string organization;  // the user's organisation (clinicians, devices' owners)
  std::vector<std::string> purpose_of_use;  // e.g. "TREAT", "ETREAT", "BTG" (v3 ActReason)
  ScopeSet scopes;                          // already bounded by the role's ceiling
  int64_t expires = 0;                      // exp, seconds since the epoch

  // When set, every resource reached must be in this patient's compartment (or be a
  // directory resource: policy.h).
  std::optional<std::string_view> PatientBinding() const;
};

}  // namespace medulla::security
