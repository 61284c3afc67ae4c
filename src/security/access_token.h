// Minting medulla's own access tokens: a JWT signed with the data directory's key (local_keys.h)
// that the Authenticator accepts. Used by `medulla token` and by the built-in token endpoint
// (token_service.h), so both issue exactly the same claims.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "security/jose.h"
#include "security/principal.h"

namespace medulla::security {

struct AccessTokenGrant {
  std::string issuer;
  std::string audience;
  std::string subject;
  std::string client_id;
  Role role = Role::kPatient;
  std::string scope;  // space-separated SMART scopes, as granted
  std::string patient;
  std::string organization;
  std::string purpose_of_use;  // v3 ActReason, e.g. ETREAT; empty: none
  int64_t lifetime_seconds = 300;
};

// The signed token, valid from `now` (seconds since the epoch) for grant.lifetime_seconds, with a
// fresh jti.
core::Result<std::string> MintAccessToken(const SigningKey& key, const AccessTokenGrant& grant,
                                          int64_t now);

}  // namespace medulla::security
