#include "security/authenticator.h"

#include <algorithm>

#include <fmt/format.h>

#include "json/parse.h"

namespace medulla::security {

Authenticator::Authenticator(KeySet keys, AuthenticatorOptions options, const core::Clock& clock,
                             RemoteKeySet* remote)
    : keys_(std::move(keys)), remote_(remote), options_(std::move(options)), clock_(clock) {}

core::Result<std::shared_ptr<const Principal>> Authenticator::Authenticate(
    std::string_view header) const {
  if (header.empty()) {
    return core::Fail(
        core::Unauthenticated("this endpoint needs an access token "
                              "(Authorization: Bearer ...)"));
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), header.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    return core::Fail(core::Unauthenticated("the Authorization header must be 'Bearer <token>'"));
  }
  std::string_view token = header.substr(kBearer.size());
  const int64_t now = clock_.Now() / 1000000;
  {
    std::shared_lock lock(cache_mu_);
    if (auto it = cache_.find(std::string(token)); it != cache_.end()) {
      // valid_until is exclusive, as VerifyJwt's exp check is.
      if (now < it->second.valid_until) return it->second.principal;
      return core::Fail(core::Unauthenticated("the token has expired"));
    }
  }
  int64_t leeway = options_.leeway_seconds;
  const KeySet* keys = &keys_;
  std::shared_ptr<const KeySet> remote_keys;  // keeps the provider's set alive while in use
  if (auto header = DecodeJwtUnverified(token); header) {
    if (!options_.local_kid.empty() && header->kid == options_.local_kid) leeway = 0;
    if (remote_ && keys_.Find(header->kid, header->alg) == nullptr) {
      remote_keys = remote_->Keys();
      // A key id the provider's set lacks: perhaps a key rotated in since the last fetch.
      if (remote_keys->Find(header->kid, header->alg) == nullptr) remote_->RequestRefresh();
      keys = remote_keys.get();
    }
  }
  JwtExpectations expect{options_.issuer, options_.audience, now, leeway,
                         options_.max_lifetime_seconds};
  ASSIGN_OR_RETURN(JwtClaims claims, VerifyJwt(token, *keys, expect));
  ASSIGN_OR_RETURN(Principal principal, PrincipalFromClaims(claims));
  auto shared = std::make_shared<const Principal>(std::move(principal));
  std::unique_lock lock(cache_mu_);
  // Expired entries are dropped wholesale when the cache is full: simple, and bounded.
  if (cache_.size() >= options_.cache_entries) cache_.clear();
  cache_.emplace(std::string(token), Cached{shared, shared->expires + leeway});
  return shared;
}

core::Result<Principal> Authenticator::PrincipalFromClaims(const JwtClaims& claims) {
  auto doc = json::Parse(claims.payload_json);
  if (!doc || !doc->root()->is_object()) {
    return core::Fail(core::Unauthenticated("the token's claims are not a JSON object"));
  }
  const json::Value& root = *doc->root();
  Principal p;
  p.subject = claims.sub;
  p.client_id = !claims.client_id.empty()       ? claims.client_id
                : !root.StringOr("azp").empty() ? std::string(root.StringOr("azp"))
                                                : claims.sub;
  p.token_id = claims.jti;
  p.expires = claims.exp.value_or(0);
  p.patient = std::string(root.StringOr("patient"));
  p.organization = std::string(root.StringOr("organization"));
  if (const json::Value* purpose = root.Find("purpose_of_use")) {
    if (purpose->is_string()) p.purpose_of_use.emplace_back(purpose->text());
    if (purpose->is_array()) {
      for (const json::Value* v : purpose->items()) {
        if (v->is_string()) p.purpose_of_use.emplace_back(v->text());
      }
    }
  }
  // The role: medulla's own claim; else from the SMART fhirUser claim; else a backend service
  // (system/ scopes only), bounded by its scopes like any other.
  ScopeSet requested = ScopeSet::Parse(claims.scope);
  std::string_view role_name = root.StringOr("role");
  std::string_view fhir_user = root.StringOr("fhirUser");
  std::optional<Role> role;
  if (!role_name.empty()) {
    role = ParseRole(role_name);
    if (!role) {
      return core::Fail(
          core::Unauthenticated(fmt::format("unknown role '{}' in the token", role_name)));
    }
  } else if (fhir_user.find("Patient/") != std::string_view::npos) {
    role = Role::kPatient;
    if (p.patient.empty()) p.patient = std::string(fhir_user.substr(fhir_user.rfind('/') + 1));
  } else if (fhir_user.find("Practitioner") != std::string_view::npos) {
    role = Role::kClinician;
  } else if (requested.HasSystemScope() &&
             std::all_of(requested.scopes().begin(), requested.scopes().end(),
                         [](const Scope& s) { return s.context == ScopeContext::kSystem; })) {
    // A backend service: system/ scopes only, bounded by them like any other token.
    role = Role::kAdmin;
  } else {
    return core::Fail(core::Unauthenticated("the token names no role (role or fhirUser claim)"));
  }
  p.role = *role;
  p.scopes = requested.Intersect(RoleCeiling(p.role));
  if (auto bound = p.PatientBinding(); bound && bound->empty()) {
    return core::Fail(core::Unauthenticated(
        fmt::format("a {} token must carry its patient (the patient claim)", RoleName(p.role))));
  }
  return p;
}

}  // namespace medulla::security
