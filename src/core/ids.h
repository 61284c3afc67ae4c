// Server-assigned resource ids.
#pragma once

#include <string>

namespace medulla::core {

// A new UUID version 7 (RFC 9562) in its 36-character text form. Time-ordered, so ids made
// close together sort together and inserts land at the end of the store's id index instead of at
// random pages. Thread-safe.
std::string NewUuidV7();

}  // namespace medulla::core
