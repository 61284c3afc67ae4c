// Bearer-token authentication: a JWT access token, verified (jose.h) against the trusted keys
// (the built-in issuer's, plus an external identity provider's JWKS from a file or its URL),
// turned into a Principal.
// Verified tokens are cached by their exact text until they expire, so the signature is
// checked once per token, not once per request.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"
#include "core/time.h"
#include "security/jose.h"
#include "security/principal.h"
#include "security/remote_key_set.h"

namespace medulla::security {

struct AuthenticatorOptions {
  std::string issuer;    // the iss every token must carry
  std::string audience;  // one of its aud
  // Clock skew allowed on exp/nbf/iat for tokens of other issuers' keys. Tokens signed with
  // `local_kid` (the built-in issuer, on this machine's clock) get none.
  int64_t leeway_seconds = 60;
  std::string local_kid;
  int64_t max_lifetime_seconds = 7 * 24 * 3600;  // longer-lived tokens are refused
  size_t cache_entries = 10000;
};

class Authenticator {
 public:
  // `keys`: trusted always (the built-in issuer's, a JWKS file's). `remote` (may be null): an
  // identity provider's keys from its JWKS URL, looked up for key ids `keys` lacks; it must
  // outlive the authenticator.
  Authenticator(KeySet keys, AuthenticatorOptions options, const core::Clock& clock,
                RemoteKeySet* remote = nullptr);

  // The value of an Authorization header ("Bearer <jwt>"). kUnauthenticated with a short reason
  // (never the token) when it is missing, malformed, forged, expired or for someone else.
  core::Result<std::shared_ptr<const Principal>> Authenticate(std::string_view header) const;
  // The claims of a verified token as a Principal (role bounds, patient binding...).
  static core::Result<Principal> PrincipalFromClaims(const JwtClaims& claims);

  const AuthenticatorOptions& options() const { return options_; }

 private:
  KeySet keys_;
  RemoteKeySet* remote_;
  AuthenticatorOptions options_;
  const core::Clock& clock_;
  mutable std::shared_mutex cache_mu_;
  struct Cached {
    std::shared_ptr<const Principal> principal;
    int64_t valid_until = 0;  // exp plus the leeway it was verified with
  };
  mutable std::unordered_map<std::string, Cached> cache_;
};

}  // namespace medulla::security
