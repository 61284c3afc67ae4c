#include "fhir/resource.h"

#include "json/write.h"

namespace medulla::fhir {
namespace {

void AppendMember(std::string& out, std::string_view key, const json::Value& value) {
  if (!out.empty()) out.push_back(',');
  json::WriteString(key, out);
  out.push_back(':');
  json::Write(value, out);
}

}  // namespace

ResourceParts SplitResource(const json::Value& resource) {
  ResourceParts parts;
  parts.type = std::string(resource.StringOr("resourceType"));
  parts.content.reserve(1024);
  for (const json::Member& m : resource.members()) {
    if (m.key == "resourceType" || m.key == "id") continue;
    if (m.key == "meta" && m.value->is_object()) {
      for (const json::Member& mm : m.value->members()) {
        if (mm.key == "versionId" || mm.key == "lastUpdated") continue;
        AppendMember(parts.meta_rest, mm.key, *mm.value);
      }
      continue;
    }
    AppendMember(parts.content, m.key, *m.value);
  }
  return parts;
}

std::string AssembleResource(const ResourceParts& parts, std::string_view id, int64_t version,
                             core::MicrosSinceEpoch last_updated) {
  std::string out;
  out.reserve(parts.content.size() + parts.meta_rest.size() + 128);
  out += "{\"resourceType\":";
  json::WriteString(parts.type, out);
  out += ",\"id\":";
  json::WriteString(id, out);
  out += ",\"meta\":{\"versionId\":\"";
  out += std::to_string(version);
  out += "\",\"lastUpdated\":\"";
  out += core::FormatInstant(last_updated);
  out += '"';
  if (!parts.meta_rest.empty()) {
    out.push_back(',');
    out += parts.meta_rest;
  }
  out.push_back('}');
  if (!parts.content.empty()) {
    out.push_back(',');
    out += parts.content;
  }
  out.push_back('}');
  return out;
}

}  // namespace medulla::fhir
