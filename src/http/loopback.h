// Whether a host names this machine only: the listeners' rule for plain HTTP, and the client's.
#pragma once

#include <string_view>

namespace medulla::http {

// 127.0.0.0/8, ::1 (bracketed or not) and localhost.
inline bool IsLoopbackHost(std::string_view host) {
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace medulla::http
