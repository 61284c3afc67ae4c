#include "api/oauth.h"

#include <fmt/format.h>

#include "json/write.h"
#include "records/record_service.h"

namespace medulla::api {
namespace {

// Token responses carry credentials: never cached (RFC 6749 §5.1).
void NoStore(http::Response& r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Pragma", "no-cache");
}

}  // namespace

core::Expected<security::TokenRequest, security::OAuthError> ParseTokenRequest(
    const http::Request& request) {
  auto error = [](std::string description) {
    return core::UnexpectedOf<security::OAuthError>(
        security::OAuthError{400, "invalid_request", std::move(description), {}});
  };
  if (request.method != "POST") return error("the token endpoint takes POST only");
  std::string_view type = request.Header("content-type");
  if (!type.starts_with("application/x-www-form-urlencoded")) {
    return error("the token request must be application/x-www-form-urlencoded");
  }
  security::TokenRequest out;
  for (auto& [name, value] : records::ParseQueryString(request.body)) {
    std::string* field = name == "grant_type"              ? &out.grant_type
                         : name == "client_assertion_type" ? &out.client_assertion_type
                         : name == "client_assertion"      ? &out.client_assertion
                         : name == "scope"                 ? &out.scope
                                                           : nullptr;
    if (!field) continue;  // RFC 6749 §3.2: unrecognised parameters are ignored
    if (!field->empty()) return error(fmt::format("{} is given more than once", name));
    *field = value;
  }
  return out;
}

http::Response TokenResponse(const security::IssuedToken& token) {
  std::string body = "{\"access_token\":";
  json::WriteString(token.access_token, body);
  body += fmt::format(",\"token_type\":\"bearer\",\"expires_in\":{},\"scope\":", token.expires_in);
  json::WriteString(token.scope, body);
  body += '}';
  http::Response r;
  r.content_type = "application/json";
  r.body = std::move(body);
  NoStore(r);
  return r;
}

http::Response OAuthErrorResponse(const security::OAuthError& error) {
  std::string body = "{\"error\":";
  json::WriteString(error.error, body);
  body += ",\"error_description\":";
  json::WriteString(error.description, body);
  body += '}';
  http::Response r;
  r.status = error.http_status;
  r.content_type = "application/json";
  r.body = std::move(body);
  NoStore(r);
  if (error.http_status == 401) {
    r.headers.emplace_back("WWW-Authenticate", "private_key_jwt realm=\"medulla\"");
  }
  return r;
}

}  // namespace medulla::api
