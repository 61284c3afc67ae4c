#include "security/audit_event.h"

#include <fmt/format.h>

#include "json/write.h"
#include "security/jose.h"

namespace medulla::security {
namespace {

constexpr size_t kMaxEntities = 20;  // an event names at most this many resources

// FHIR base64Binary is standard base64 with padding (RFC 4648 §4).
std::string Base64(std::string_view bytes) {
  std::string s = Base64UrlEncode(bytes);
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4) s += '=';
  return s;
}

void Str(std::string& out, std::string_view key, std::string_view value) {
  json::WriteString(key, out);
  out += ':';
  json::WriteString(value, out);
}

void Coding(std::string& out, std::string_view system, std::string_view code,
            std::string_view display = {}) {
  out += '{';
  Str(out, "system", system);
  out += ',';
  Str(out, "code", code);
  if (!display.empty()) {
    out += ',';
    Str(out, "display", display);
  }
  out += '}';
}

}  // namespace

char AuditAction(std::string_view interaction) {
  if (interaction == "create") return 'C';
  if (interaction == "update" || interaction == "patch") return 'U';
  if (interaction == "delete") return 'D';
  if (interaction == "transaction" || interaction == "batch" || interaction == "operation" ||
      interaction == "login") {
    return 'E';
  }
  return 'R';
}

std::string RenderAuditEvent(const AccessRecord& a) {
  std::string out;
  out.reserve(1024);
  out += R"({"resourceType":"AuditEvent","type":)";
  Coding(out, "http://terminology.hl7.org/CodeSystem/audit-event-type", "rest",
         "Restful Operation");
  out += R"(,"subtype":[)";
  Coding(out, "http://hl7.org/fhir/restful-interaction", a.interaction);
  out += "],";
  Str(out, "action", std::string(1, AuditAction(a.interaction)));
  out += ',';
  Str(out, "recorded", core::FormatInstant(a.recorded));
  out += ',';
  // 0 success, 4 minor failure (refused: 4xx), 8 serious failure (5xx).
  Str(out, "outcome", a.http_status < 400 ? "0" : a.http_status < 500 ? "4" : "8");
  if (!a.outcome_text.empty() || a.http_status >= 400) {
    out += ',';
    Str(out, "outcomeDesc",
        a.outcome_text.empty() ? fmt::format("HTTP {}", a.http_status)
                               : fmt::format("HTTP {}: {}", a.http_status, a.outcome_text));
  }
  const Principal* p = a.principal;
  if (p && !p->purpose_of_use.empty()) {
    out += R"(,"purposeOfEvent":[)";
    for (size_t i = 0; i < p->purpose_of_use.size(); ++i) {
      if (i) out += ',';
      out += R"({"coding":[)";
      Coding(out, "http://terminology.hl7.org/CodeSystem/v3-ActReason", p->purpose_of_use[i]);
      out += "]}";
    }
    out += ']';
  }
  out += R"(,"agent":[{"type":{"coding":[)";
  Coding(out, "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP",
         "information recipient");
  out += "]},";
  if (p) {
    out += R"("who":{"identifier":{"system":"urn:medulla:subject",)";
    Str(out, "value", p->subject);
    out += "}},";
    if (!p->client_id.empty()) {
      Str(out, "altId", p->client_id);
      out += ',';
    }
    out += R"("role":[{"text":)";
    json::WriteString(RoleName(p->role), out);
    out += "}],";
    if (!p->token_id.empty()) {
      out += R"("policy":[)";
      json::WriteString(p->token_id, out);
      out += "],";
    }
  } else {
    out += R"("who":{"display":"unauthenticated"},)";
  }
  out += R"("requestor":true,"network":{)";
  Str(out, "address", a.remote);
  out += R"(,"type":"2"}}],"source":{"site":"medulla","observer":{"display":"medulla"},"type":[)";
  Coding(out, "http://terminology.hl7.org/CodeSystem/security-source-type", "4",
         "Application Server");
  out += R"(]},"entity":[)";
  bool first = true;
  auto comma = [&] {
    if (!first) out += ',';
    first = false;
  };
  size_t named = 0;
  for (const std::string& patient : a.patients) {
    if (named++ == kMaxEntities) break;
    comma();
    out += R"({"what":{"reference":)";
    json::WriteString("Patient/" + patient, out);
    out += R"(},"type":)";
    Coding(out, "http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person");
    out += R"(,"role":)";
    Coding(out, "http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient");
    out += '}';
  }
  for (const std::string& r : a.resources) {
    if (named++ == kMaxEntities) break;
    comma();
    out += R"({"what":{"reference":)";
    json::WriteString(r, out);
    out += R"(},"type":)";
    Coding(out, "http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object");
    out += '}';
  }
  // The request itself: method and target (a search's query: BALP puts it in entity.query).
  comma();
  out += R"({"type":)";
  Coding(out, "http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object");
  out += ',';
  Str(out, "description", fmt::format("{} {}", a.method, a.target.substr(0, 2048)));
  if (size_t q = a.target.find('?'); q != std::string_view::npos) {
    out += R"(,"role":)";
    Coding(out, "http://terminology.hl7.org/CodeSystem/object-role", "24", "Query");
    out += ',';
    Str(out, "query", Base64(a.target.substr(q + 1, 2048)));
  }
  out += "}]}";
  return out;
}

}  // namespace medulla::security
