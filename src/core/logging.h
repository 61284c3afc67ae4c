// Logging through spdlog: one named logger per module. Never log PHI: resource types, ids,
// counts and durations only, never bodies, names or query values.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace medulla::core {

// Configures the default sink (stderr) and level ("trace".."off"). Call once at start-up.
void InitLogging(const std::string& level);

// The logger for a module ("http", "store", "api", ...), created on first use. Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& module);

}  // namespace medulla::core
