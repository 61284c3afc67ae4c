#include "security/audit_event.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "json/parse.h"
#include "json/write.h"
#include "security/jose.h"
#include "security/principal.h"

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

void AccessRecord::SetPrincipal(const Principal* p) {
  authenticated = p != nullptr;
  if (!p) return;
  subject = p->subject;
  client_id = p->client_id;
  role = std::string(RoleName(p->role));
  token_id = p->token_id;
  purpose_of_use = p->purpose_of_use;
}

namespace {

void StrMember(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  out += ',';
  Str(out, key, value);
}

void ListMember(std::string& out, std::string_view key, const std::vector<std::string>& list) {
  if (list.empty()) return;
  out += ',';
  json::WriteString(key, out);
  out += ":[";
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    json::WriteString(list[i], out);
  }
  out += ']';
}

std::vector<std::string> ListOf(const json::Value& root, std::string_view key) {
  std::vector<std::string> out;
  const json::Value* list = root.Find(key);
  if (!list || !list->is_array()) return out;
  for (const json::Value* item : list->items()) {
    if (item->is_string()) out.emplace_back(item->text());
  }
  return out;
}

}  // namespace

std::string EncodeAccessRecord(const AccessRecord& a) {
  std::string out;
  out.reserve(256);
  out += "{";
  Str(out, "i", a.interaction);
  out += fmt::format(R"(,"s":{},"a":{})", a.http_status, a.authenticated ? 1 : 0);
  StrMember(out, "m", a.method);
  StrMember(out, "t", a.target.substr(0, 2048));
  StrMember(out, "o", a.outcome_text);
  StrMember(out, "sub", a.subject);
  StrMember(out, "cid", a.client_id);
  StrMember(out, "role", a.role);
  StrMember(out, "jti", a.token_id);
  StrMember(out, "net", a.remote);
  ListMember(out, "pou", a.purpose_of_use);
  if (a.break_glass) out += R"(,"bg":1)";
  ListMember(out, "p", a.patients);
  ListMember(out, "r", a.resources);
  out += '}';
  return out;
}

core::Result<AccessRecord> DecodeAccessRecord(std::string_view stored) {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(stored));
  const json::Value& root = *doc.root();
  if (!root.is_object()) return core::Fail(core::Internal("an audit entry is not a JSON object"));
  AccessRecord a;
  a.interaction = root.StringOr("i");
  if (const json::Value* s = root.Find("s"); s && s->is_number()) {
    std::from_chars(s->text().data(), s->text().data() + s->text().size(), a.http_status);
  }
  if (const json::Value* auth = root.Find("a"); auth && auth->is_number()) {
    a.authenticated = auth->text() == "1";
  }
  a.method = root.StringOr("m");
  a.target = root.StringOr("t");
  a.outcome_text = root.StringOr("o");
  a.subject = root.StringOr("sub");
  a.client_id = root.StringOr("cid");
  a.role = root.StringOr("role");
  a.token_id = root.StringOr("jti");
  a.remote = root.StringOr("net");
  a.purpose_of_use = ListOf(root, "pou");
  if (const json::Value* bg = root.Find("bg"); bg && bg->is_number()) {
    a.break_glass = bg->text() == "1";
  }
  a.patients = ListOf(root, "p");
  a.resources = ListOf(root, "r");
  return a;
}

std::string RenderAuditEvent(const AccessRecord& a, std::string_view id) {
  std::string out;
  out.reserve(1024);
  out += R"({"resourceType":"AuditEvent",)";
  Str(out, "id", id);
  if (a.break_glass) {
    // Break-glass accesses carry a tag a privacy officer's review can find.
    out += R"(,"meta":{"tag":[)";
    Coding(out, "urn:medulla:audit", "break-glass", "Break-glass access: review");
    out += "]}";
  }
  out += R"(,"type":)";
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
  if (!a.purpose_of_use.empty() || a.break_glass) {
    out += R"(,"purposeOfEvent":[)";
    for (size_t i = 0; i < a.purpose_of_use.size(); ++i) {
      if (i) out += ',';
      out += R"({"coding":[)";
      Coding(out, "http://terminology.hl7.org/CodeSystem/v3-ActReason", a.purpose_of_use[i]);
      out += "]}";
    }
    if (a.break_glass && std::find(a.purpose_of_use.begin(), a.purpose_of_use.end(), "BTG") ==
                             a.purpose_of_use.end()) {
      if (!a.purpose_of_use.empty()) out += ',';
      out += R"({"coding":[)";
      Coding(out, "http://terminology.hl7.org/CodeSystem/v3-ActReason", "BTG", "break the glass");
      out += "]}";
    }
    out += ']';
  }
  out += R"(,"agent":[{"type":{"coding":[)";
  Coding(out, "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP",
         "information recipient");
  out += "]},";
  if (a.authenticated) {
    out += R"("who":{"identifier":{"system":"urn:medulla:subject",)";
    Str(out, "value", a.subject);
    out += "}},";
    if (!a.client_id.empty()) {
      Str(out, "altId", a.client_id);
      out += ',';
    }
    out += R"("role":[{"text":)";
    json::WriteString(a.role, out);
    out += "}],";
    if (!a.token_id.empty()) {
      out += R"("policy":[)";
      json::WriteString(a.token_id, out);
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
  if (size_t q = a.target.find('?'); q != std::string::npos) {
    out += R"(,"role":)";
    Coding(out, "http://terminology.hl7.org/CodeSystem/object-role", "24", "Query");
    out += ',';
    Str(out, "query", Base64(a.target.substr(q + 1, 2048)));
  }
  out += "}]}";
  return out;
}

}  // namespace medulla::security
