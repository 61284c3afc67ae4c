// The CapabilityStatement served at /metadata: exactly what this server supports, search
// parameters and their modifiers included (from the registry the index is built from).
#pragma once

#include <string>
#include <string_view>

#include "fhir/search_parameters.h"

namespace medulla::api {

// `base_url` may be empty (then implementation.url is left out).
std::string CapabilityStatementJson(const fhir::SearchParameterRegistry& registry,
                                    const std::string& software_version,
                                    const std::string& base_url);

// The Subscriptions websocket for a FHIR base: ws(s)://host/websocket.
std::string WebSocketUrl(std::string_view base_url);

}  // namespace medulla::api
