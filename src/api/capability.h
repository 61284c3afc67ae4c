// The CapabilityStatement served at /metadata: exactly what this server supports.
#pragma once

#include <string>
#include <vector>

namespace medulla::api {

// `base_url` may be empty (then implementation.url is left out).
std::string CapabilityStatementJson(const std::vector<std::string>& resource_types,
                                    const std::string& software_version,
                                    const std::string& base_url);

}  // namespace medulla::api
