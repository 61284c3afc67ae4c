#include "api/capability.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "core/time.h"
#include "json/write.h"
#include "subscriptions/topics.h"

namespace medulla::api {
namespace {

using fhir::SearchParamType;

// What the search grammar accepts for each parameter type (records/search_request.cc).
std::string_view Documentation(SearchParamType type) {
  switch (type) {
    case SearchParamType::kString:
      return "Prefix match ignoring case and accents; modifiers :exact, :contains, :missing";
    case SearchParamType::kToken:
      return "code, system|code, |code or system|; modifiers :not, :text, :missing";
    case SearchParamType::kReference:
      return "Type/id, id or URL; modifiers :[type], :identifier, :missing; chains of up to two "
             "links (param:Type.param); reverse chains with _has";
    case SearchParamType::kDate:
      return "Prefixes eq, ne, lt, gt, le, ge, sa, eb, ap with the precision of the value; "
             "modifier :missing";
    case SearchParamType::kNumber:
      return "Prefixes eq, ne, lt, gt, le, ge, sa, eb, ap; eq within the precision written; "
             "modifier :missing";
    case SearchParamType::kQuantity:
      return "[prefix]number[|system|code] or number||code, UCUM units converted; prefixes as "
             "for numbers; modifier :missing";
    case SearchParamType::kUri:
      return "Exact; modifiers :above, :below, :contains, :missing";
    case SearchParamType::kComposite:
      return "One value per component separated by '$' (code$value), matched within the same "
             "item; each component takes its own type's syntax and prefixes; modifier :missing";
  }
  return "";
}

}  // namespace

std::string WebSocketUrl(std::string_view base) {
  if (base.starts_with("https://")) return fmt::format("wss://{}/websocket", base.substr(8));
  if (base.starts_with("http://")) return fmt::format("ws://{}/websocket", base.substr(7));
  return fmt::format("{}/websocket", base);
}

std::string CapabilityStatementJson(const fhir::SearchParameterRegistry& registry,
                                    const std::string& software_version,
                                    const std::string& base_url) {
  const auto& types = registry.definitions().ResourceTypes();
  // _revinclude: for each target type, the reference parameters that can point at it.
  std::map<std::string, std::set<std::string>, std::less<>> rev;
  for (const std::string& source : types) {
    for (const fhir::SearchParameter& p : registry.ForType(source)) {
      if (p.type != SearchParamType::kReference) continue;
      for (const std::string& target : p.targets) rev[target].insert(source + ":" + p.name);
    }
  }
  std::string out;
  out.reserve(types.size() * 6000);
  out += R"({"resourceType":"CapabilityStatement","status":"active","date":")";
  out += core::FormatInstant(core::SystemClock::Instance().Now()).substr(0, 10);
  out += R"(","publisher":"medulla","kind":"instance","software":{"name":"medulla","version":)";
  json::WriteString(software_version, out);
  out += R"(},"implementation":{"description":"medulla city health data hub")";
  if (!base_url.empty()) {
    out += ",\"url\":";
    json::WriteString(base_url, out);
  }
  out += R"(},"fhirVersion":"4.0.1","format":["json","application/fhir+json"],)";
  out += R"("rest":[{"mode":"server",)";
  if (!base_url.empty()) {
    // Where the Subscriptions websocket channel listens (R4 capabilitystatement-websocket).
    out += R"("extension":[{"url":"http://hl7.org/fhir/StructureDefinition/)"
           R"(capabilitystatement-websocket","valueUri":)";
    json::WriteString(WebSocketUrl(base_url), out);
    out += "}],";
  }
  out += R"("resource":[)";
  bool first = true;
  for (const std::string& type : types) {
    if (!first) out += ",";
    first = false;
    out += "{\"type\":";
    json::WriteString(type, out);
    if (type == "Subscription") {
      // The topics topic-based subscriptions may name (Subscriptions Backport IG).
      out += R"(,"extension":[)";
      bool first_topic = true;
      for (const subscriptions::Topic& t : subscriptions::Topics()) {
        if (!first_topic) out += ",";
        first_topic = false;
        out += R"({"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/)"
               R"(capabilitystatement-subscriptiontopic-canonical","valueCanonical":)";
        json::WriteString(t.url, out);
        out += "}";
      }
      out += "]";
    }
    out +=
        R"(,"versioning":"versioned-update","readHistory":true,"updateCreate":true,)"
        R"("conditionalCreate":true,"conditionalRead":"not-supported","conditionalUpdate":false,)"
        R"("conditionalDelete":"not-supported","interaction":[{"code":"read"},{"code":"vread"},)"
        R"({"code":"update"},{"code":"delete"},{"code":"history-instance"},)"
        R"({"code":"history-type"},{"code":"create"},{"code":"search-type"}],)";
    // _include: every reference parameter of the type, and "*".
    out += R"("searchInclude":["*")";
    for (const fhir::SearchParameter& p : registry.ForType(type)) {
      if (p.type != SearchParamType::kReference) continue;
      out += ",";
      json::WriteString(type + ":" + p.name, out);
    }
    out += "],\"searchRevInclude\":[";
    bool first_rev = true;
    if (auto it = rev.find(type); it != rev.end()) {
      for (const std::string& r : it->second) {
        if (!first_rev) out += ",";
        first_rev = false;
        json::WriteString(r, out);
      }
    }
    // Operations on the type (search.html, bulk data IG).
    if (type == "Patient") {
      out += R"(],"operation":[{"name":"everything","definition":)"
             R"("http://hl7.org/fhir/OperationDefinition/Patient-everything"},)"
             R"({"name":"export","definition":)"
             R"("http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"})";
    } else if (type == "Subscription") {
      out += R"(],"operation":[{"name":"status","definition":)"
             R"("http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/)"
             R"(backport-subscription-status"},{"name":"get-ws-binding-token","definition":)"
             R"("http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/)"
             R"(backport-subscription-get-ws-binding-token"})";
    } else if (type == "Group") {
      out += R"(],"operation":[{"name":"export","definition":)"
             R"("http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"})";
    }
    out += "],\"searchParam\":[";
    bool first_param = true;
    for (const fhir::SearchParameter& p : registry.ForType(type)) {
      if (!first_param) out += ",";
      first_param = false;
      out += "{\"name\":";
      json::WriteString(p.name, out);
      if (!p.url.empty()) {
        out += ",\"definition\":";
        json::WriteString(p.url, out);
      }
      out += ",\"type\":";
      json::WriteString(fhir::SearchParamTypeName(p.type), out);
      out += ",\"documentation\":";
      json::WriteString(Documentation(p.type), out);
      out += "}";
    }
    out += "]}";
  }
  out += R"(],"interaction":[{"code":"transaction"},{"code":"batch"},{"code":"history-system"}],)"
         R"("operation":[{"name":"export","definition":)"
         R"("http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}]}]})";
  return out;
}

}  // namespace medulla::api
