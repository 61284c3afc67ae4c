// The access decisions: who may do which interaction on which type, and which resources they
// may see. api/ asks before every route and filters every resource it sends (matches,
// _include, history, $everything, Bundle entries), so no path returns data the policy did not
// pass. docs/security.md describes the model.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "security/principal.h"

namespace medulla::security {

// Types that hold no patient's data: directories of people, places and organisations, and
// definitions. Any principal whose scopes name them may read them, whatever patient it is
// bound to.
bool IsDirectoryType(std::string_view type);

// Type level: do the principal's scopes grant `interaction` on `type`? kPermissionDenied
// naming what is missing.
core::Status CheckInteraction(const Principal& p, std::string_view type, Interaction interaction);

// Instance level: may the principal see a resource of `type` that belongs to `patients` (its
// compartment's patients, fhir::PatientsOf)? A patient-bound principal sees its patient's
// compartment and directory types, nothing else.
bool CanSee(const Principal& p, std::string_view type, std::span<const std::string> patients);

// May the principal write a resource of `type` whose content belongs to `patients`? A
// patient-bound principal (a patient app, a device) writes only into its own patient's
// compartment: the content must name that patient and no other.
core::Status CheckWriteContent(const Principal& p, std::string_view type,
                               std::span<const std::string> patients);

// System-wide operations ($export, system and type history across patients, the audit log)
// need the administrator role.
core::Status CheckAdministrator(const Principal& p, std::string_view what);

// The audit log: the administrator (privacy officer) reads all of it; a patient-bound token
// whose scopes name AuditEvent reads the entries about its own patient (the caller filters).
core::Status CheckAuditLogReader(const Principal& p, bool by_id);

}  // namespace medulla::security
