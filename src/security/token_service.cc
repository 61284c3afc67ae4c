#include "security/token_service.h"

#include <algorithm>

#include <fmt/format.h>

#include "security/access_token.h"

namespace medulla::security {
namespace {

constexpr std::string_view kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
// SMART Backend Services: "exp ... no more than five minutes in the future".
constexpr int64_t kMaxAssertionLifetime = 300;

core::UnexpectedOf<OAuthError> Error(int status, std::string error, std::string description,
                                     std::string client_id = {}) {
  return core::UnexpectedOf<OAuthError>(
      OAuthError{status, std::move(error), std::move(description), std::move(client_id)});
}

}  // namespace

TokenService::TokenService(const SigningKey& signing, ClientRegistry& clients,
                           TokenServiceOptions options, const core::Clock& clock)
    : signing_(signing), clients_(clients), options_(std::move(options)), clock_(clock) {}

bool TokenService::FirstUse(const std::string& client_id, const std::string& jti, int64_t expires,
                            int64_t now) {
  std::lock_guard lock(replay_mu_);
  if (seen_.size() >= options_.max_replay_entries) {
    std::erase_if(seen_, [&](const auto& e) { return e.second + options_.leeway_seconds < now; });
  }
  if (seen_.size() >= options_.max_replay_entries) return false;  // refuse rather than forget
  return seen_.emplace(client_id + ' ' + jti, expires).second;
}

core::Expected<IssuedToken, OAuthError> TokenService::Issue(const TokenRequest& request,
                                                            std::string_view token_endpoint) {
  if (request.grant_type != "client_credentials") {
    return Error(400, "unsupported_grant_type",
                 request.grant_type.empty()
                     ? "grant_type is required; this server supports client_credentials"
                     : fmt::format("grant_type '{}' is not supported; this server supports "
                                   "client_credentials",
                                   request.grant_type));
  }
  if (request.client_assertion_type != kJwtBearer || request.client_assertion.empty()) {
    return Error(401, "invalid_client",
                 fmt::format("clients authenticate with a signed JWT: client_assertion_type={} "
                             "and client_assertion (private_key_jwt)",
                             kJwtBearer));
  }
  if (request.scope.empty()) return Error(400, "invalid_scope", "scope is required");

  auto unverified = DecodeJwtUnverified(request.client_assertion);
  if (!unverified) {
    return Error(401, "invalid_client", "client_assertion: " + unverified.error().message());
  }
  const JwtClaims& claimed = unverified->claims;
  if (claimed.iss.empty() || claimed.iss != claimed.sub) {
    return Error(401, "invalid_client", "client_assertion: iss and sub must both be the client_id");
  }
  const std::string& client_id = claimed.iss;
  auto client = clients_.Find(client_id);
  if (!client) {
    if (client.error().code() == core::Code::kNotFound) {
      return Error(401, "invalid_client", "client_assertion: unknown client", client_id);
    }
    return Error(500, "server_error", "the client registry cannot be read", client_id);
  }
  // Either name for this server is accepted as the assertion's audience; VerifyJwt then checks
  // the one the client used, with the signature and the times.
  std::string audience;
  for (const std::string& aud : claimed.aud) {
    if (aud == token_endpoint || aud == options_.issuer) audience = aud;
  }
  if (audience.empty()) {
    return Error(
        401, "invalid_client",
        fmt::format("client_assertion: aud must be the token endpoint ({})", token_endpoint),
        client_id);
  }
  const int64_t now = clock_.Now() / 1000000;
  JwtExpectations expect{client_id, audience, now, options_.leeway_seconds, kMaxAssertionLifetime};
  auto verified = VerifyJwt(request.client_assertion, (*client)->keys, expect);
  if (!verified) {
    return Error(401, "invalid_client", "client_assertion: " + verified.error().message(),
                 client_id);
  }
  if (verified->jti.empty()) {
    return Error(401, "invalid_client", "client_assertion: jti is required", client_id);
  }
  if (!FirstUse(client_id, verified->jti, verified->exp.value_or(now), now)) {
    return Error(401, "invalid_client", "client_assertion: this jti was already used", client_id);
  }

  const RegisteredClient& c = **client;
  ScopeSet granted = ScopeSet::Parse(request.scope)
                         .Intersect(ScopeSet::Parse(c.scope))
                         .Intersect(RoleCeiling(c.role));
  if (c.patient.empty()) {
    // patient/ scopes need a patient to be about: without one the token would be refused.
    ScopeSet without_patient;
    for (const Scope& s : granted.scopes()) {
      if (s.context != ScopeContext::kPatient) without_patient.Add(s);
    }
    granted = std::move(without_patient);
  }
  if (granted.empty()) {
    return Error(400, "invalid_scope",
                 fmt::format("none of the scopes asked for is granted to this client (it may "
                             "have: {})",
                             c.scope),
                 client_id);
  }
  AccessTokenGrant grant{
      .issuer = options_.issuer,
      .audience = options_.audience,
      .subject = c.client_id,
      .client_id = c.client_id,
      .role = c.role,
      .scope = granted.ToString(),
      .patient = c.patient,
      .organization = c.organization,
      .lifetime_seconds = options_.token_lifetime_seconds,
  };
  auto token = MintAccessToken(signing_, grant, now);
  if (!token) return Error(500, "server_error", "the token could not be signed", client_id);
  return IssuedToken{std::move(*token), options_.token_lifetime_seconds, std::move(grant.scope),
                     std::move(*client)};
}

}  // namespace medulla::security
