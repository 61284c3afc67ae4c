// A resource prepared for storage: its JSON split so that the store can stamp the server-owned
// fields (id, meta.versionId, meta.lastUpdated) at commit time without parsing it again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/time.h"
#include "fhir/primitives.h"  // IsValidId
#include "json/value.h"

namespace medulla::fhir {

struct ResourceParts {
  std::string type;
  // The members of `meta` other than versionId and lastUpdated, serialised and comma-separated
  // without braces ("" when none): `"tag":[...],"profile":[...]`.
  std::string meta_rest;
  // The members of the resource other than resourceType, id and meta, serialised the same way.
  std::string content;
};

// Splits a validated resource into parts. The resource's own id and meta.versionId/lastUpdated
// are dropped: the server owns them.
ResourceParts SplitResource(const json::Value& resource);

// The stored form: {"resourceType":..,"id":..,"meta":{"versionId":..,"lastUpdated":..,...},...}
std::string AssembleResource(const ResourceParts& parts, std::string_view id, int64_t version,
                             core::MicrosSinceEpoch last_updated);

}  // namespace medulla::fhir
