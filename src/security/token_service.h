// The built-in OAuth 2.0 token endpoint for the embedded default: the client-credentials grant
// with `private_key_jwt` client authentication, as SMART Backend Services defines it
// (https://hl7.org/fhir/smart-app-launch/backend-services.html, RFC 7523, RFC 6749 §4.4). A
// registered client (client_registry.h) signs a short-lived assertion with its own key and
// gets a short-lived access token signed with the data directory's key.
//
// The assertion must: be RS256 or ES256, signed by a key in the client's JWKS; carry
// iss = sub = client_id; name this server as aud (the token endpoint URL, or the issuer
// identifier, which RFC 7523 §3 also allows and which generic OAuth clients send); expire within
// five minutes; and carry a jti never seen before (replays are refused while they could still
// be valid).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/time.h"
#include "security/client_registry.h"
#include "security/jose.h"

namespace medulla::security {

// The form fields of a token request (application/x-www-form-urlencoded).
struct TokenRequest {
  std::string grant_type;
  std::string client_assertion_type;
  std::string client_assertion;
  std::string scope;
};

struct TokenServiceOptions {
  std::string issuer;    // the iss of the tokens issued (and an accepted assertion aud)
  std::string audience;  // the aud of the tokens issued
  int64_t token_lifetime_seconds = 300;
  int64_t leeway_seconds = 60;  // clock skew allowed on the client's assertion
  size_t max_replay_entries = 100000;
};

struct IssuedToken {
  std::string access_token;
  int64_t expires_in = 0;
  std::string scope;  // as granted
  std::shared_ptr<const RegisteredClient> client;
};

// RFC 6749 §5.2: the error code a client acts on, and a description for its developer.
struct OAuthError {
  int http_status = 400;
  std::string error;  // invalid_request, invalid_client, invalid_grant, invalid_scope, ...
  std::string description;
  std::string client_id;  // the client the request claimed to be, when known (for the audit)
};

class TokenService {
 public:
  TokenService(const SigningKey& signing, ClientRegistry& clients, TokenServiceOptions options,
               const core::Clock& clock);

  // `token_endpoint`: the URL the request was sent to, as this server names itself.
  core::Expected<IssuedToken, OAuthError> Issue(const TokenRequest& request,
                                                std::string_view token_endpoint);

 private:
  // Records the assertion's jti until it expires; false when it was already used.
  bool FirstUse(const std::string& client_id, const std::string& jti, int64_t expires, int64_t now);

  const SigningKey& signing_;
  ClientRegistry& clients_;
  TokenServiceOptions options_;
  const core::Clock& clock_;
  std::mutex replay_mu_;
  std::unordered_map<std::string, int64_t> seen_;  // client_id + ' ' + jti -> its exp
};

}  // namespace medulla::security
