// Bearer-token authentication: the Authorization header, token verification against the trusted
// keys (with leeway for other issuers' keys only), the Principal made from the claims, and the
// cache of verified tokens.
#include "security/authenticator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "security/access_token.h"
#include "security/security_fixtures.h"
#include "testing/fake_clock.h"

namespace medulla::security {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kIssuer[] = "urn:medulla:test";
constexpr char kAudience[] = "urn:medulla:test:fhir";
constexpr int64_t kLeeway = 60;
constexpr int64_t kMaxLifetime = 7 * 24 * 3600;

using medulla::testing::FakeClock;

// Generating keys is slow (RSA especially): make each once for the whole binary.
// The built-in issuer's key (RSA, like DATA/keys/token-signing.pem).
const SigningKey& LocalKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kRS256).value();
  return key;
}
// An external identity provider's key, trusted.
const SigningKey& ForeignKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}
// A key nobody trusts.
const SigningKey& StrangerKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}

KeySet TrustedKeys() {
  KeySet keys;
  keys.Add(LocalKey().Public());
  keys.Add(ForeignKey().Public());
  return keys;
}

AuthenticatorOptions Options() {
  AuthenticatorOptions o;
  o.issuer = kIssuer;
  o.audience = kAudience;
  o.leeway_seconds = kLeeway;
  o.local_kid = LocalKey().kid();
  o.max_lifetime_seconds = kMaxLifetime;
  return o;
}

// Claims JSON: a valid clinician token's members with some replaced, added or (value "")
// removed. Values are raw JSON.
std::string Claims(const std::vector<std::pair<std::string, std::string>>& changes = {}) {
  return testing::JsonObjectWith(
      {
          {"iss", "\"urn:medulla:test\""},
          {"aud", "\"urn:medulla:test:fhir\""},
          {"sub", "\"user-1\""},
          {"jti", "\"jti-1\""},
          {"role", "\"clinician\""},
          {"scope", "\"user/*.rs\""},
          {"iat", std::to_string(kNow - 10)},
          {"exp", std::to_string(kNow + 300)},
      },
      changes);
}

std::string Signed(const SigningKey& key, const std::string& claims = Claims()) {
  return key.SignJwt(claims).value();
}

// A token with any header, signed by `key` over exactly what the header says.
std::string SignWith(const SigningKey& key, std::string_view header, std::string_view payload) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  return input + "." + Base64UrlEncode(key.Sign(input).value());
}

std::string Header(std::string_view alg, std::string_view kid) {
  return "{\"alg\":\"" + std::string(alg) + "\",\"typ\":\"JWT\",\"kid\":\"" + std::string(kid) +
         "\"}";
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  core::Result<std::shared_ptr<const Principal>> Auth(const std::string& token) {
    return auth_.Authenticate("Bearer " + token);
  }
  // Refused with kUnauthenticated, the reason containing `why`.
  void ExpectRefused(const std::string& token, std::string_view why) {
    auto p = Auth(token);
    ASSERT_FALSE(p) << "accepted; expected: " << why;
    EXPECT_EQ(p.error().code(), core::Code::kUnauthenticated);
    EXPECT_THAT(p.error().message(), HasSubstr(std::string(why)));
  }
  // A principal (the test fails when the token is refused).
  std::shared_ptr<const Principal> Accepted(const std::string& token) {
    auto p = Auth(token);
    EXPECT_TRUE(p) << p.error().ToString();
    return p ? *p : nullptr;
  }

  FakeClock clock_{kNow};
  Authenticator auth_{TrustedKeys(), Options(), clock_};
};

// ---------------------------------------------------------------------------------------------
// The header.

TEST_F(AuthenticatorTest, MissingHeaderIsUnauthenticated) {
  auto p = auth_.Authenticate("");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), core::Code::kUnauthenticated);
  EXPECT_THAT(p.error().message(), HasSubstr("Bearer"));
}

TEST_F(AuthenticatorTest, OtherSchemesAreRefused) {
  std::string token = Signed(ForeignKey());
  for (const std::string& header :
       std::vector<std::string>{"Basic dXNlcjpwYXNzd29yZA==", "Token " + token, "Bearer", "Bearer ",
                                "Bearer:" + token, token}) {
    auto p = auth_.Authenticate(header);
    ASSERT_FALSE(p) << header;
    EXPECT_EQ(p.error().code(), core::Code::kUnauthenticated) << header;
  }
}

TEST_F(AuthenticatorTest, SchemeNameIsCaseInsensitive) {
  // RFC 9110 §11.1: the authentication scheme is case-insensitive.
  std::string token = Signed(ForeignKey());
  EXPECT_TRUE(auth_.Authenticate("bearer " + token));
  EXPECT_TRUE(auth_.Authenticate("BEARER " + token));
}

TEST_F(AuthenticatorTest, GarbageTokenIsUnauthenticated) {
  ExpectRefused("not-a-token", "");
  ExpectRefused("a.b.c", "");
  ExpectRefused(std::string(kMaxJwtBytes + 1, 'a'), "");
}

// ---------------------------------------------------------------------------------------------
// A valid token and its Principal.

TEST_F(AuthenticatorTest, MintedTokenBecomesAPrincipal) {
  AccessTokenGrant grant{.issuer = kIssuer,
                         .audience = kAudience,
                         .subject = "dr-who",
                         .client_id = "ehr-app",
                         .role = Role::kClinician,
                         .scope = "user/*.cruds",
                         .organization = "org-7",
                         .purpose_of_use = "ETREAT",
                         .lifetime_seconds = 600};
  auto token = MintAccessToken(LocalKey(), grant, kNow);
  ASSERT_TRUE(token) << token.error().ToString();
  auto p = Accepted(*token);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->role, Role::kClinician);
  EXPECT_EQ(p->subject, "dr-who");
  EXPECT_EQ(p->client_id, "ehr-app");
  EXPECT_FALSE(p->token_id.empty());
  EXPECT_EQ(p->patient, "");
  EXPECT_EQ(p->organization, "org-7");
  EXPECT_EQ(p->purpose_of_use, std::vector<std::string>{"ETREAT"});
  EXPECT_EQ(p->scopes.ToString(), "user/*.cruds");
  EXPECT_EQ(p->expires, kNow + 600);
  EXPECT_FALSE(p->PatientBinding().has_value());
}

TEST_F(AuthenticatorTest, MintedTokensHaveDistinctIds) {
  AccessTokenGrant grant{.issuer = kIssuer,
                         .audience = kAudience,
                         .subject = "x",
                         .role = Role::kAdmin,
                         .scope = "system/*.rs"};
  auto a = Accepted(MintAccessToken(LocalKey(), grant, kNow).value());
  auto b = Accepted(MintAccessToken(LocalKey(), grant, kNow).value());
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->token_id, b->token_id);
}

TEST_F(AuthenticatorTest, PatientTokenIsBoundToItsPatient) {
  auto p = Accepted(Signed(
      ForeignKey(),
      Claims({{"role", "\"patient\""}, {"scope", "\"patient/*.rs\""}, {"patient", "\"p1\""}})));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->role, Role::kPatient);
  EXPECT_EQ(p->patient, "p1");
  ASSERT_TRUE(p->PatientBinding().has_value());
  EXPECT_EQ(*p->PatientBinding(), "p1");
}

TEST_F(AuthenticatorTest, ScopesAreBoundedByTheRoleCeiling) {
  auto p = Accepted(Signed(ForeignKey(), Claims({{"role", "\"patient\""},
                                                 {"patient", "\"p1\""},
                                                 {"scope",
                                                  "\"patient/*.cruds user/*.rs "
                                                  "system/*.r openid\""}})));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->scopes.ToString(), "patient/*.rs");
  auto device =
      Accepted(Signed(ForeignKey(), Claims({{"role", "\"device\""},
                                            {"patient", "\"p2\""},
                                            {"scope", "\"patient/*.cruds system/*.cruds\""}})));
  ASSERT_TRUE(device);
  EXPECT_EQ(device->scopes.ToString(), "patient/Observation.crs patient/Device.rs");
}

TEST_F(AuthenticatorTest, RoleLongFormsAreAccepted) {
  auto p = Accepted(
      Signed(ForeignKey(), Claims({{"role", "\"administrator\""}, {"scope", "\"system/*.rs\""}})));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->role, Role::kAdmin);
}

TEST_F(AuthenticatorTest, PurposeOfUseAsStringOrArray) {
  auto one = Accepted(Signed(ForeignKey(), Claims({{"purpose_of_use", "\"TREAT\""}})));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->purpose_of_use, std::vector<std::string>{"TREAT"});
  auto many = Accepted(Signed(
      ForeignKey(), Claims({{"jti", "\"j2\""}, {"purpose_of_use", R"(["TREAT",7,"BTG"])"}})));
  ASSERT_TRUE(many);
  EXPECT_EQ(many->purpose_of_use, (std::vector<std::string>{"TREAT", "BTG"}));
  auto none = Accepted(Signed(ForeignKey(), Claims({{"jti", "\"j3\""}})));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->purpose_of_use.empty());
}

TEST_F(AuthenticatorTest, ClientIdFallsBackToAzpThenSub) {
  auto both = Accepted(
      Signed(ForeignKey(), Claims({{"client_id", "\"the-client\""}, {"azp", "\"the-azp\""}})));
  ASSERT_TRUE(both);
  EXPECT_EQ(both->client_id, "the-client");
  auto azp = Accepted(Signed(ForeignKey(), Claims({{"jti", "\"j2\""}, {"azp", "\"the-azp\""}})));
  ASSERT_TRUE(azp);
  EXPECT_EQ(azp->client_id, "the-azp");
  auto sub = Accepted(Signed(ForeignKey(), Claims({{"jti", "\"j3\""}})));
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->client_id, "user-1");
  EXPECT_EQ(sub->subject, "user-1");
}

TEST_F(AuthenticatorTest, FhirUserPatientMeansPatientRole) {
  auto p =
      Accepted(Signed(ForeignKey(), Claims({{"role", ""},
                                            {"scope", "\"patient/*.rs\""},
                                            {"fhirUser", "\"https://hub/fhir/Patient/p7\""}})));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->role, Role::kPatient);
  EXPECT_EQ(p->patient, "p7");
}

TEST_F(AuthenticatorTest, FhirUserPatientDoesNotOverrideThePatientClaim) {
  auto p = Accepted(Signed(ForeignKey(), Claims({{"role", ""},
                                                 {"scope", "\"patient/*.rs\""},
                                                 {"patient", "\"p1\""},
                                                 {"fhirUser", "\"Patient/p7\""}})));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->patient, "p1");
}

TEST_F(AuthenticatorTest, FhirUserPractitionerMeansClinician) {
  auto p = Accepted(Signed(ForeignKey(), Claims({{"role", ""},
                                                 {"scope", "\"user/*.rs system/*.rs\""},
                                                 {"fhirUser", "\"Practitioner/dr1\""}})));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->role, Role::kClinician);
  EXPECT_EQ(p->scopes.ToString(), "user/*.rs");
}

TEST_F(AuthenticatorTest, SystemScopesWithoutRoleAreABackendService) {
  auto p = Accepted(Signed(ForeignKey(), Claims({{"role", ""}, {"scope", "\"system/*.rs\""}})));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->role, Role::kAdmin);
  EXPECT_EQ(p->scopes.ToString(), "system/*.rs");
}

// docs/security.md and authenticator.cc: a token without role or fhirUser is a backend service
// when it has "system/ scopes only". A role-less token that mixes system/ with user/ or patient/
// scopes is not one: it must not become an admin holding user/ and patient/ scopes.
TEST_F(AuthenticatorTest, RoleLessTokenWithMixedScopesIsNotABackendService) {
  auto p = Auth(Signed(ForeignKey(),
                       Claims({{"role", ""}, {"scope", "\"system/Observation.r user/*.cruds\""}})));
  if (!p) return;  // refusing it is fine
  for (const Scope& s : (*p)->scopes.scopes()) {
    EXPECT_EQ(s.context, ScopeContext::kSystem) << (*p)->scopes.ToString();
  }
}

TEST_F(AuthenticatorTest, TokenWithoutRoleIsRefused) {
  ExpectRefused(Signed(ForeignKey(), Claims({{"role", ""}, {"scope", "\"user/*.rs\""}})),
                "no role");
  ExpectRefused(
      Signed(ForeignKey(),
             Claims({{"role", ""}, {"scope", "\"user/*.rs\""}, {"fhirUser", "\"Person/x\""}})),
      "no role");
}

TEST_F(AuthenticatorTest, UnknownRoleIsRefused) {
  ExpectRefused(Signed(ForeignKey(), Claims({{"role", "\"superuser\""}})), "unknown role");
}

TEST_F(AuthenticatorTest, PatientBoundTokenWithoutPatientIsRefused) {
  ExpectRefused(
      Signed(ForeignKey(), Claims({{"role", "\"patient\""}, {"scope", "\"patient/*.rs\""}})),
      "patient");
  ExpectRefused(Signed(ForeignKey(),
                       Claims({{"role", "\"device\""}, {"scope", "\"patient/Observation.crs\""}})),
                "patient");
  // Patient-level scopes bind a clinician too.
  ExpectRefused(Signed(ForeignKey(), Claims({{"scope", "\"patient/*.rs\""}})), "patient");
}

// ---------------------------------------------------------------------------------------------
// Verification.

TEST_F(AuthenticatorTest, ExpiredTokenIsRefused) {
  ExpectRefused(Signed(LocalKey(), Claims({{"iat", std::to_string(kNow - 600)},
                                           {"exp", std::to_string(kNow - 300)}})),
                "expired");
}

TEST_F(AuthenticatorTest, TokenIsExpiredAtItsExp) {
  // RFC 7519 §4.1.4: the current time must be before exp.
  ExpectRefused(Signed(LocalKey(), Claims({{"exp", std::to_string(kNow)}})), "expired");
}

TEST_F(AuthenticatorTest, TokenWithoutExpIsRefused) {
  ExpectRefused(Signed(ForeignKey(), Claims({{"exp", ""}})), "exp");
}

TEST_F(AuthenticatorTest, NotYetValidTokenIsRefused) {
  ExpectRefused(Signed(ForeignKey(), Claims({{"nbf", std::to_string(kNow + kLeeway + 1)}})),
                "not yet valid");
}

TEST_F(AuthenticatorTest, WrongIssuerIsRefused) {
  ExpectRefused(Signed(ForeignKey(), Claims({{"iss", "\"https://evil.example\""}})),
                "wrong issuer");
  ExpectRefused(Signed(ForeignKey(), Claims({{"iss", ""}})), "wrong issuer");
}

TEST_F(AuthenticatorTest, WrongAudienceIsRefused) {
  ExpectRefused(Signed(ForeignKey(), Claims({{"aud", "\"urn:other:fhir\""}})), "wrong audience");
  ExpectRefused(Signed(ForeignKey(), Claims({{"aud", ""}})), "wrong audience");
}

TEST_F(AuthenticatorTest, AudienceMayBeOneOfSeveral) {
  EXPECT_TRUE(Accepted(
      Signed(ForeignKey(), Claims({{"aud", R"(["urn:other","urn:medulla:test:fhir"])"}}))));
}

TEST_F(AuthenticatorTest, LifetimeOverTheMaximumIsRefused) {
  // The built-in issuer's tokens: no leeway.
  ExpectRefused(Signed(LocalKey(), Claims({{"exp", std::to_string(kNow + kMaxLifetime + 1)}})),
                "lifetime");
  EXPECT_TRUE(Accepted(Signed(LocalKey(), Claims({{"exp", std::to_string(kNow + kMaxLifetime)}}))));
  // Other issuers' tokens: the leeway on top.
  ExpectRefused(
      Signed(ForeignKey(), Claims({{"exp", std::to_string(kNow + kMaxLifetime + kLeeway + 1)}})),
      "lifetime");
}

TEST_F(AuthenticatorTest, UnknownKidIsRefused) {
  ExpectRefused(Signed(StrangerKey()), "unknown kid");
}

TEST_F(AuthenticatorTest, SignatureByAnotherKeyIsRefused) {
  // The header names the trusted key, the signature is another key's.
  ExpectRefused(SignWith(StrangerKey(), Header("ES256", ForeignKey().kid()), Claims()),
                "signature does not verify");
}

TEST_F(AuthenticatorTest, TamperedPayloadIsRefused) {
  std::string token = Signed(
      ForeignKey(),
      Claims({{"role", "\"patient\""}, {"patient", "\"p1\""}, {"scope", "\"patient/*.rs\""}}));
  ASSERT_TRUE(Accepted(token));
  size_t first = token.find('.');
  size_t second = token.find('.', first + 1);
  std::string forged =
      token.substr(0, first + 1) +
      Base64UrlEncode(Claims({{"role", "\"admin\""}, {"scope", "\"system/*.cruds\""}})) +
      token.substr(second);
  ExpectRefused(forged, "signature does not verify");
}

TEST_F(AuthenticatorTest, AlgNoneIsRefused) {
  std::string token =
      Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + Base64UrlEncode(Claims()) + ".";
  ExpectRefused(token, "unsupported alg 'none'");
}

TEST_F(AuthenticatorTest, Hs256MacedWithThePublicKeyIsRefused) {
  // The algorithm-confusion attack: an HMAC keyed with the (public) verification key.
  std::string input =
      Base64UrlEncode(Header("HS256", LocalKey().kid())) + "." +
      Base64UrlEncode(Claims({{"role", "\"admin\""}, {"scope", "\"system/*.cruds\""}}));
  std::string token = input + "." + Base64UrlEncode(HmacSha256(LocalKey().Public().ToPem(), input));
  ExpectRefused(token, "unsupported alg 'HS256'");
}

TEST_F(AuthenticatorTest, KeyVerifiesOnlyItsOwnAlgorithm) {
  // An ES256 signature under the RSA key's kid.
  ExpectRefused(SignWith(ForeignKey(), Header("ES256", LocalKey().kid()), Claims()), "alg");
}

TEST_F(AuthenticatorTest, ErrorsDoNotEchoTheToken) {
  std::string token =
      Signed(ForeignKey(), Claims({{"sub", "\"secret-subject-xyz\""}, {"aud", "\"urn:other\""}}));
  auto p = Auth(token);
  ASSERT_FALSE(p);
  EXPECT_THAT(p.error().message(), Not(HasSubstr(token)));
  EXPECT_THAT(p.error().message(), Not(HasSubstr(token.substr(0, token.find('.')))));
  EXPECT_THAT(p.error().message(), Not(HasSubstr("secret-subject-xyz")));
}

// ---------------------------------------------------------------------------------------------
// Leeway.

TEST_F(AuthenticatorTest, ForeignKeysGetTheLeewayOnExp) {
  EXPECT_TRUE(Accepted(Signed(ForeignKey(), Claims({{"iat", std::to_string(kNow - 400)},
                                                    {"exp", std::to_string(kNow - 30)}}))));
  ExpectRefused(Signed(ForeignKey(), Claims({{"iat", std::to_string(kNow - 400)},
                                             {"exp", std::to_string(kNow - kLeeway)}})),
                "expired");
}

TEST_F(AuthenticatorTest, ForeignKeysGetTheLeewayOnNbfAndIat) {
  EXPECT_TRUE(Accepted(Signed(ForeignKey(), Claims({{"nbf", std::to_string(kNow + 30)},
                                                    {"iat", std::to_string(kNow + 30)}}))));
}

TEST_F(AuthenticatorTest, LocalKidGetsNoLeeway) {
  ExpectRefused(Signed(LocalKey(), Claims({{"iat", std::to_string(kNow - 400)},
                                           {"exp", std::to_string(kNow - 30)}})),
                "expired");
  ExpectRefused(Signed(LocalKey(), Claims({{"nbf", std::to_string(kNow + 30)}})), "not yet valid");
  ExpectRefused(Signed(LocalKey(), Claims({{"iat", std::to_string(kNow + 30)}})), "future");
}

TEST_F(AuthenticatorTest, LeewayComesFromTheOptions) {
  AuthenticatorOptions options = Options();
  options.leeway_seconds = 0;
  Authenticator strict(TrustedKeys(), options, clock_);
  auto p = strict.Authenticate("Bearer " +
                               Signed(ForeignKey(), Claims({{"iat", std::to_string(kNow - 400)},
                                                            {"exp", std::to_string(kNow - 30)}})));
  ASSERT_FALSE(p);
  EXPECT_THAT(p.error().message(), HasSubstr("expired"));
}

// ---------------------------------------------------------------------------------------------
// The cache.

TEST_F(AuthenticatorTest, CacheReturnsTheSamePrincipal) {
  std::string token = Signed(ForeignKey());
  auto a = Accepted(token);
  auto b = Accepted(token);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.get(), b.get());
  auto c = auth_.Authenticate("bearer " + token);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->get(), a.get());
}

TEST_F(AuthenticatorTest, CachedLocalTokenIsRefusedOnceExpired) {
  std::string token = Signed(LocalKey(), Claims({{"exp", std::to_string(kNow + 300)}}));
  ASSERT_TRUE(Accepted(token));
  clock_.SetSeconds(kNow + 299);
  EXPECT_TRUE(Accepted(token));
  clock_.SetSeconds(kNow + 301);
  ExpectRefused(token, "expired");
}

TEST_F(AuthenticatorTest, CachedForeignTokenKeepsItsLeewayOnly) {
  std::string token = Signed(ForeignKey(), Claims({{"exp", std::to_string(kNow + 300)}}));
  ASSERT_TRUE(Accepted(token));
  clock_.SetSeconds(kNow + 300 + kLeeway - 1);
  EXPECT_TRUE(Accepted(token));
  clock_.SetSeconds(kNow + 300 + kLeeway + 1);
  ExpectRefused(token, "expired");
}

// A cached token must be refused from the same instant on as a fresh verification refuses it
// (VerifyJwt: expired when now >= exp + leeway), not one second later.
TEST_F(AuthenticatorTest, CacheAgreesWithVerificationAtTheExpiryInstant) {
  for (const SigningKey* key : {&LocalKey(), &ForeignKey()}) {
    clock_.SetSeconds(kNow);
    std::string token = Signed(*key, Claims({{"exp", std::to_string(kNow + 300)}}));
    ASSERT_TRUE(Accepted(token));
    const int64_t leeway = key == &LocalKey() ? 0 : kLeeway;
    clock_.SetSeconds(kNow + 300 + leeway);
    Authenticator fresh(TrustedKeys(), Options(), clock_);
    ASSERT_FALSE(fresh.Authenticate("Bearer " + token)) << "a fresh verification refuses it";
    EXPECT_FALSE(Auth(token)) << "the cached token is still accepted (leeway " << leeway << ")";
  }
}

TEST_F(AuthenticatorTest, RefusedTokensStayRefused) {
  std::string token = Signed(ForeignKey(), Claims({{"aud", "\"urn:other\""}}));
  ExpectRefused(token, "wrong audience");
  ExpectRefused(token, "wrong audience");
}

TEST_F(AuthenticatorTest, FullCacheStillVerifiesAndExpires) {
  AuthenticatorOptions options = Options();
  options.cache_entries = 1;
  Authenticator small(TrustedKeys(), options, clock_);
  std::string a =
      Signed(LocalKey(), Claims({{"jti", "\"a\""}, {"exp", std::to_string(kNow + 100)}}));
  std::string b =
      Signed(LocalKey(), Claims({{"jti", "\"b\""}, {"exp", std::to_string(kNow + 200)}}));
  EXPECT_TRUE(small.Authenticate("Bearer " + a));
  EXPECT_TRUE(small.Authenticate("Bearer " + b));
  EXPECT_TRUE(small.Authenticate("Bearer " + a));
  clock_.SetSeconds(kNow + 150);
  EXPECT_FALSE(small.Authenticate("Bearer " + a));
  EXPECT_TRUE(small.Authenticate("Bearer " + b));
  clock_.SetSeconds(kNow + 250);
  EXPECT_FALSE(small.Authenticate("Bearer " + b));
}

// ---------------------------------------------------------------------------------------------
// PrincipalFromClaims on its own.

// An identity provider's keys from its JWKS URL (remote_key_set.h): a token signed with a key
// the provider has just rotated in is refused until the set is fetched again, which the token
// itself asks for; the built-in key keeps working throughout.
TEST(AuthenticatorRemoteKeysTest, AKeyRotatedInAtTheProviderIsTrustedAfterTheRefetch) {
  std::mutex mu;
  std::string published = testing::KeysOf({&ForeignKey()}).ToJwks();
  RemoteKeySet provider(
      "https://idp.test/jwks",
      [&]() -> core::Result<std::string> {
        std::lock_guard lock(mu);
        return published;
      },
      {.refresh = std::chrono::hours(1), .min_interval = std::chrono::milliseconds(20)});
  ASSERT_TRUE(provider.Start().ok());
  FakeClock clock(kNow);
  KeySet local;
  local.Add(LocalKey().Public());
  Authenticator auth(std::move(local), Options(), clock, &provider);
  EXPECT_TRUE(auth.Authenticate("Bearer " + Signed(ForeignKey())));
  EXPECT_TRUE(auth.Authenticate("Bearer " + Signed(LocalKey())));

  {
    std::lock_guard lock(mu);
    published = testing::KeysOf({&ForeignKey(), &StrangerKey()}).ToJwks();
  }
  const std::string rotated = Signed(StrangerKey(), Claims({{"jti", "\"jti-rotated\""}}));
  auto first = auth.Authenticate("Bearer " + rotated);
  ASSERT_FALSE(first) << "not in the set fetched at start";
  bool accepted = false;
  for (int i = 0; i < 500 && !accepted; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    accepted = auth.Authenticate("Bearer " + rotated).has_value();
  }
  EXPECT_TRUE(accepted) << "the refetch the unknown key id asked for brings the new key";
  EXPECT_EQ(provider.fetches(), 2);
}

TEST(PrincipalFromClaimsTest, ReadsPrivateClaimsFromThePayload) {
  JwtClaims claims;
  claims.sub = "s";
  claims.jti = "j";
  claims.scope = "patient/*.rs";
  claims.exp = kNow + 10;
  claims.payload_json = R"({"role":"patient","patient":"p5","organization":"o1"})";
  auto p = Authenticator::PrincipalFromClaims(claims);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->role, Role::kPatient);
  EXPECT_EQ(p->patient, "p5");
  EXPECT_EQ(p->organization, "o1");
  EXPECT_EQ(p->client_id, "s");
  EXPECT_EQ(p->token_id, "j");
  EXPECT_EQ(p->expires, kNow + 10);
}

TEST(PrincipalFromClaimsTest, NonObjectPayloadIsRefused) {
  JwtClaims claims;
  claims.payload_json = "[1]";
  auto p = Authenticator::PrincipalFromClaims(claims);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), core::Code::kUnauthenticated);
}

}  // namespace
}  // namespace medulla::security
