#include "security/access_token.h"

#include <fmt/format.h>

#include "core/ids.h"
#include "json/write.h"

namespace medulla::security {

core::Result<std::string> MintAccessToken(const SigningKey& key, const AccessTokenGrant& grant,
                                          int64_t now) {
  std::string claims = "{";
  auto str = [&claims](std::string_view name, std::string_view value) {
    if (claims.size() > 1) claims += ',';
    json::WriteString(name, claims);
    claims += ':';
    json::WriteString(value, claims);
  };
  str("iss", grant.issuer);
  str("aud", grant.audience);
  str("sub", grant.subject);
  str("client_id", grant.client_id);
  str("jti", core::NewUuidV7());
  str("role", RoleName(grant.role));
  str("scope", grant.scope);
  if (!grant.patient.empty()) str("patient", grant.patient);
  if (!grant.organization.empty()) str("organization", grant.organization);
  if (!grant.purpose_of_use.empty()) str("purpose_of_use", grant.purpose_of_use);
  claims += fmt::format(R"(,"iat":{},"exp":{}}})", now, now + grant.lifetime_seconds);
  return key.SignJwt(claims);
}

}  // namespace medulla::security
