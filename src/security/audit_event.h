// One access, as the audit log keeps it and as FHIR shows it.
//
// The log stores a compact JSON record of the facts (about a fifth of the AuditEvent's size:
// every read writes one, so its size is the audit log's cost); AuditEvent?patient= and
// AuditEvent/ID render the FHIR R4 AuditEvent from it, in the style of IHE Basic Audit Log
// Patterns (BALP): who (agent, with client, role and network address), what (the interaction,
// the resources and the patients they belong to), when, why (purpose of use) and the outcome.
// https://profiles.ihe.net/ITI/BALP/
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace medulla::security {

struct Principal;

struct AccessRecord {
  bool authenticated = false;  // false: no valid token (the principal fields are empty)
  std::string subject;
  std::string client_id;
  std::string role;
  std::string token_id;
  std::vector<std::string> purpose_of_use;
  // Data was reached only through break-glass (consent.h): flagged for review.
  bool break_glass = false;
  std::string remote;  // the peer's address
  std::string method;  // HTTP method
  std::string target;  // path and query as sent (the first 2 KiB)
  // FHIR restful-interaction code: read, vread, search-type, create, update, delete,
  // history-instance, transaction, batch, operation, capabilities, or "login" (token endpoint).
  std::string interaction;
  int http_status = 200;
  std::string outcome_text;            // why it failed, for denials and errors
  std::vector<std::string> patients;   // the patients whose data was touched
  std::vector<std::string> resources;  // "Type/id" reached (the first few)
  core::MicrosSinceEpoch recorded = 0;

  // Fills the principal fields (null: unauthenticated).
  void SetPrincipal(const Principal* principal);
};

// The stored form (without `recorded`, which the log keeps in a column of its own), and back.
std::string EncodeAccessRecord(const AccessRecord& access);
core::Result<AccessRecord> DecodeAccessRecord(std::string_view stored);

// The AuditEvent JSON, with `id`.
std::string RenderAuditEvent(const AccessRecord& access, std::string_view id);

// The action code (C, R, U, D, E) for an interaction.
char AuditAction(std::string_view interaction);

}  // namespace medulla::security
