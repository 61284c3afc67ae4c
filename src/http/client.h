// A small HTTP(S) client: GET for fetching configuration from other servers (an identity
// provider's JWKS), any method for notifying them (subscription rest-hooks): one request per call,
// bounded in time and size, on Boost.Beast. HTTPS verifies the server's certificate chain (the
// system's trust store, or a given CA file) and its host name; plain http:// is allowed to loopback
// addresses only, for local set-ups and tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace medulla::http {

struct FetchOptions {
  std::chrono::milliseconds timeout{10'000};  // the whole exchange, from resolve to last byte
  size_t max_body_bytes = 1 << 20;
  std::string ca_file;  // PEM CA certificates to trust instead of the system's; empty: system
};

// The parts of an http(s) URL this client needs. kInvalidArgument for anything else (user info,
// a fragment, a non-numeric port...).
struct Url {
  bool https = true;
  std::string host;  // without brackets for IPv6
  std::string port;  // "443" / "80" when the URL names none
  std::string target = "/";
};
core::Result<Url> ParseUrl(std::string_view url);

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // added as given
  std::string content_type;                                  // empty: none
  std::string body;
};
struct ClientResponse {
  int status = 0;
  std::string body;
};
// One request; whatever status the server answers comes back. kUnavailable for network
// failures and timeouts; kTooLarge past max_body_bytes; kInvalidArgument for a bad URL, an
// unknown method, or plain HTTP to a non-loopback host.
core::Result<ClientResponse> Call(const ClientRequest& request, const FetchOptions& options = {});

// GET `url`; the body of a 200 response. kUnavailable for network failures, timeouts and other
// statuses (the message names the URL and the reason); kTooLarge past max_body_bytes;
// kInvalidArgument for a bad URL or plain HTTP to a non-loopback host.
core::Result<std::string> Fetch(const std::string& url, const FetchOptions& options = {});

}  // namespace medulla::http
