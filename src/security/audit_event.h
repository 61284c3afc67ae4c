// Renders one access as a FHIR R4 AuditEvent in the style of IHE Basic Audit Log Patterns
// (BALP): who (agent, with client, role and network address), what (the interaction, the
// resources and the patients they belong to), when, why (purpose of use) and the outcome.
// https://profiles.ihe.net/ITI/BALP/
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"
#include "security/principal.h"

namespace medulla::security {

struct AccessRecord {
  const Principal* principal = nullptr;  // null: no valid token
  std::string_view remote;               // the peer's address
  std::string_view method;               // HTTP method
  std::string_view target;               // path and query as sent
  // FHIR restful-interaction code: read, vread, search-type, create, update, delete,
  // history-instance, transaction, batch, operation, capabilities, or "login" (token endpoint).
  std::string_view interaction;
  int http_status = 200;
  std::string_view outcome_text;       // why it failed, for denials and errors
  std::vector<std::string> patients;   // the patients whose data was touched
  std::vector<std::string> resources;  // "Type/id" reached (the first few)
  core::MicrosSinceEpoch recorded = 0;
};

// The AuditEvent JSON, without id (the audit log's sequence number is its id).
std::string RenderAuditEvent(const AccessRecord& access);

// The action code (C, R, U, D, E) for an interaction.
char AuditAction(std::string_view interaction);

}  // namespace medulla::security
