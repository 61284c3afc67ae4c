// The HTTP face of the built-in token endpoint (security/token_service.h): the form-encoded
// request and the JSON answers of RFC 6749 §5.1 and §5.2.
#pragma once

#include <string_view>

#include "http/message.h"
#include "security/token_service.h"

namespace medulla::api {

// The fields of an application/x-www-form-urlencoded body. Repeated fields are an error
// (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once").
core::Expected<security::TokenRequest, security::OAuthError> ParseTokenRequest(
    const http::Request& request);

http::Response TokenResponse(const security::IssuedToken& token);
http::Response OAuthErrorResponse(const security::OAuthError& error);

}  // namespace medulla::api
