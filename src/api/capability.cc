#include "api/capability.h"

#include "core/time.h"
#include "json/write.h"

namespace medulla::api {

std::string CapabilityStatementJson(const std::vector<std::string>& resource_types,
                                    const std::string& software_version,
                                    const std::string& base_url) {
  std::string out;
  out.reserve(resource_types.size() * 700 + 1024);
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
  out += R"("rest":[{"mode":"server","resource":[)";
  bool first = true;
  for (const std::string& type : resource_types) {
    if (!first) out += ",";
    first = false;
    out += "{\"type\":";
    json::WriteString(type, out);
    out +=
        R"(,"versioning":"versioned-update","readHistory":true,"updateCreate":true,)"
        R"("conditionalCreate":true,"conditionalRead":"not-supported","conditionalUpdate":false,)"
        R"("conditionalDelete":"not-supported","interaction":[{"code":"read"},{"code":"vread"},)"
        R"({"code":"update"},{"code":"delete"},{"code":"history-instance"},)"
        R"({"code":"history-type"},{"code":"create"},{"code":"search-type"}],)"
        R"("searchParam":[{"name":"_id","type":"token","documentation":"Logical id; comma-separated values are ORed"},)"
        R"({"name":"_lastUpdated","type":"date","documentation":"Prefixes eq, ne, lt, gt, le, ge, sa, eb, ap"}]})";
  }
  out +=
      R"(],"interaction":[{"code":"transaction"},{"code":"batch"},{"code":"history-system"}]}]})";
  return out;
}

}  // namespace medulla::api
