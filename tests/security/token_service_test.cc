// The built-in token endpoint: SMART Backend Services' client_credentials grant with
// private_key_jwt client assertions, against a clients file on disk.
#include "security/token_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "security/authenticator.h"
#include "security/security_fixtures.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace medulla::security {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kIssuer[] = "https://hub.example.org";
constexpr char kAudience[] = "https://hub.example.org/fhir";
constexpr char kTokenEndpoint[] = "https://hub.example.org/auth/token";
constexpr char kJwtBearer[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr int64_t kLeeway = 60;

using medulla::testing::FakeClock;

// The data directory's key, which signs the access tokens.
const SigningKey& ServerKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kRS256).value();
  return key;
}
// The registered clients' keys.
const SigningKey& ClientKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}
const SigningKey& OtherClientKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}

KeySet KeysOf(const SigningKey& key) {
  return testing::KeysOf({&key});
}

// A device gateway for patient p1. Its registration allows updates and deletes of Observations,
// which the device role's ceiling does not.
RegisteredClient Gateway() {
  RegisteredClient c;
  c.client_id = "gateway-1";
  c.role = Role::kDevice;
  c.scope = "patient/Observation.cruds patient/Device.rs";
  c.patient = "p1";
  c.organization = "org-1";
  c.keys = KeysOf(ClientKey());
  return c;
}

// A hospital system, registered for more than a clinician may have (system/ scopes).
RegisteredClient Ehr() {
  RegisteredClient c;
  c.client_id = "ehr";
  c.role = Role::kClinician;
  c.scope = "user/*.rs user/Observation.cruds system/*.rs";
  c.organization = "org-2";
  c.keys = KeysOf(OtherClientKey());
  return c;
}

// The assertion's claims; `aud` and the others are raw JSON, empty to leave one out.
struct Assertion {
  std::string iss = "\"gateway-1\"";
  std::string sub = "\"gateway-1\"";
  std::string aud = std::string("\"") + kTokenEndpoint + "\"";
  std::string jti;  // fresh when empty; "-" to leave out
  int64_t exp = kNow + 240;
  std::string Json() const {
    static int counter = 0;
    std::string out = "{";
    auto member = [&out](std::string_view name, std::string_view raw) {
      if (raw.empty()) return;
      if (out.size() > 1) out += ',';
      out += "\"" + std::string(name) + "\":" + std::string(raw);
    };
    member("iss", iss);
    member("sub", sub);
    member("aud", aud);
    if (jti != "-") {
      member("jti", jti.empty() ? "\"jti-" + std::to_string(++counter) + "\"" : "\"" + jti + "\"");
    }
    member("iat", std::to_string(kNow));
    member("exp", std::to_string(exp));
    return out + "}";
  }
};

std::string Sign(const Assertion& a, const SigningKey& key = ClientKey()) {
  return key.SignJwt(a.Json()).value();
}

TokenRequest Request(std::string assertion, std::string scope = "patient/Observation.rs") {
  return TokenRequest{"client_credentials", kJwtBearer, std::move(assertion), std::move(scope)};
}

class TokenServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(SaveClientsFile(path_, {Gateway(), Ehr()}).ok()); }

  std::expected<IssuedToken, OAuthError> Issue(const TokenRequest& request) {
    return service_.Issue(request, kTokenEndpoint);
  }
  // Refused with `status` and `error`.
  void ExpectError(const TokenRequest& request, int status, std::string_view error) {
    auto issued = Issue(request);
    ASSERT_FALSE(issued) << "issued; expected " << error;
    EXPECT_EQ(issued.error().http_status, status) << issued.error().description;
    EXPECT_EQ(issued.error().error, error) << issued.error().description;
    EXPECT_FALSE(issued.error().description.empty());
  }
  // The access token's claims, checked with the server's key as the Authenticator would.
  JwtClaims Verify(const std::string& token) {
    JwtExpectations expect{kIssuer, kAudience, clock_.Now() / 1'000'000, 0, 0};
    auto claims = VerifyJwt(token, KeysOf(ServerKey()), expect);
    EXPECT_TRUE(claims) << claims.error().ToString();
    return claims ? *claims : JwtClaims{};
  }

  medulla::testing::TempDir dir_;
  std::string path_ = ClientsFilePath(dir_.path());
  ClientRegistry registry_{path_};
  FakeClock clock_{kNow};
  TokenService service_{ServerKey(), registry_,
                        TokenServiceOptions{.issuer = kIssuer,
                                            .audience = kAudience,
                                            .token_lifetime_seconds = 300,
                                            .leeway_seconds = kLeeway},
                        clock_};
};

// ---------------------------------------------------------------------------------------------
// Success.

TEST_F(TokenServiceTest, IssuesATokenTheServerVerifies) {
  auto issued = Issue(Request(Sign(Assertion{})));
  ASSERT_TRUE(issued) << issued.error().description;
  EXPECT_EQ(issued->expires_in, 300);
  EXPECT_EQ(issued->scope, "patient/Observation.rs");
  ASSERT_TRUE(issued->client);
  EXPECT_EQ(issued->client->client_id, "gateway-1");

  JwtClaims claims = Verify(issued->access_token);
  EXPECT_EQ(claims.iss, kIssuer);
  EXPECT_EQ(claims.aud, std::vector<std::string>{kAudience});
  EXPECT_EQ(claims.sub, "gateway-1");
  EXPECT_EQ(claims.client_id, "gateway-1");
  EXPECT_EQ(claims.scope, "patient/Observation.rs");
  EXPECT_EQ(claims.iat, kNow);
  EXPECT_EQ(claims.exp, kNow + 300);
  EXPECT_FALSE(claims.jti.empty());

  auto principal = Authenticator::PrincipalFromClaims(claims);
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_EQ(principal->role, Role::kDevice);
  EXPECT_EQ(principal->patient, "p1");
  EXPECT_EQ(principal->organization, "org-1");
  EXPECT_EQ(principal->client_id, "gateway-1");
}

TEST_F(TokenServiceTest, TokenIsSignedByTheServerKeyOnly) {
  auto issued = Issue(Request(Sign(Assertion{})));
  ASSERT_TRUE(issued) << issued.error().description;
  JwtExpectations expect{kIssuer, kAudience, kNow, 0, 0};
  EXPECT_FALSE(VerifyJwt(issued->access_token, KeysOf(ClientKey()), expect));
}

TEST_F(TokenServiceTest, TheAuthenticatorAcceptsTheToken) {
  auto issued = Issue(Request(Sign(Assertion{}), "patient/Observation.crs"));
  ASSERT_TRUE(issued) << issued.error().description;
  Authenticator auth(KeysOf(ServerKey()),
                     AuthenticatorOptions{
                         .issuer = kIssuer, .audience = kAudience, .local_kid = ServerKey().kid()},
                     clock_);
  auto principal = auth.Authenticate("Bearer " + issued->access_token);
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_EQ((*principal)->role, Role::kDevice);
  EXPECT_EQ((*principal)->PatientBinding(), std::optional<std::string_view>("p1"));
  EXPECT_TRUE((*principal)->scopes.Allows("Observation", kCreate));
}

TEST_F(TokenServiceTest, GrantedScopeIsRequestAndRegistrationAndRoleCeiling) {
  // Asked: everything on Observations and Patients. Registered: Observation.cruds and
  // Device.rs. The device ceiling: Observation.crs and Device.rs.
  auto issued = Issue(Request(Sign(Assertion{}), "patient/Observation.cruds patient/Patient.rs"));
  ASSERT_TRUE(issued) << issued.error().description;
  EXPECT_EQ(issued->scope, "patient/Observation.crs");
  EXPECT_EQ(Verify(issued->access_token).scope, "patient/Observation.crs");
}

TEST_F(TokenServiceTest, RegistrationBeyondTheRoleIsCutByTheCeiling) {
  // The clinician client is registered for system/*.rs, which its role may not have.
  Assertion a{.iss = "\"ehr\"", .sub = "\"ehr\""};
  auto issued = Issue(Request(Sign(a, OtherClientKey()),
                              "system/*.rs user/Observation.cruds user/Patient.rs openid"));
  ASSERT_TRUE(issued) << issued.error().description;
  EXPECT_EQ(issued->scope, "user/Observation.cruds user/Patient.rs");
  auto principal = Authenticator::PrincipalFromClaims(Verify(issued->access_token));
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_EQ(principal->role, Role::kClinician);
  EXPECT_EQ(principal->organization, "org-2");
  EXPECT_EQ(principal->patient, "");
}

TEST_F(TokenServiceTest, AudienceMayBeTheTokenEndpointOrTheIssuer) {
  EXPECT_TRUE(Issue(Request(Sign(Assertion{}))));
  Assertion issuer;
  issuer.aud = std::string("\"") + kIssuer + "\"";
  auto issued = Issue(Request(Sign(issuer)));
  EXPECT_TRUE(issued) << issued.error().description;
  Assertion listed;
  listed.aud = std::string(R"(["https://elsewhere.example",")") + kTokenEndpoint + "\"]";
  issued = Issue(Request(Sign(listed)));
  EXPECT_TRUE(issued) << issued.error().description;
}

// ---------------------------------------------------------------------------------------------
// The request.

TEST_F(TokenServiceTest, OnlyClientCredentialsIsSupported) {
  TokenRequest r = Request(Sign(Assertion{}));
  r.grant_type = "authorization_code";
  ExpectError(r, 400, "unsupported_grant_type");
  r.grant_type = "";
  ExpectError(r, 400, "unsupported_grant_type");
  r.grant_type = "password";
  ExpectError(r, 400, "unsupported_grant_type");
}

TEST_F(TokenServiceTest, AssertionTypeIsRequired) {
  TokenRequest r = Request(Sign(Assertion{}));
  r.client_assertion_type = "";
  ExpectError(r, 401, "invalid_client");
  r.client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer";
  ExpectError(r, 401, "invalid_client");
}

TEST_F(TokenServiceTest, AssertionIsRequired) {
  ExpectError(Request(""), 401, "invalid_client");
}

TEST_F(TokenServiceTest, ScopeIsRequired) {
  ExpectError(Request(Sign(Assertion{}), ""), 400, "invalid_scope");
}

TEST_F(TokenServiceTest, MalformedAssertionIsRefused) {
  ExpectError(Request("not.a-jwt"), 401, "invalid_client");
  ExpectError(Request("abc"), 401, "invalid_client");
}

// ---------------------------------------------------------------------------------------------
// The assertion.

TEST_F(TokenServiceTest, UnknownClientIsRefused) {
  Assertion a{.iss = "\"nobody\"", .sub = "\"nobody\""};
  auto issued = Issue(Request(Sign(a)));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().http_status, 401);
  EXPECT_EQ(issued.error().error, "invalid_client");
  EXPECT_EQ(issued.error().client_id, "nobody");
}

TEST_F(TokenServiceTest, IssMustEqualSub) {
  ExpectError(Request(Sign(Assertion{.sub = "\"ehr\""})), 401, "invalid_client");
  ExpectError(Request(Sign(Assertion{.sub = ""})), 401, "invalid_client");
  ExpectError(Request(Sign(Assertion{.iss = "", .sub = ""})), 401, "invalid_client");
}

TEST_F(TokenServiceTest, OtherAudienceIsRefused) {
  for (std::string aud : {std::string("\"https://elsewhere.example/token\""),
                          std::string("\"") + kAudience + "\"", std::string("")}) {
    Assertion a;
    a.aud = aud;
    auto issued = Issue(Request(Sign(a)));
    ASSERT_FALSE(issued) << aud;
    EXPECT_EQ(issued.error().http_status, 401) << aud;
    EXPECT_EQ(issued.error().error, "invalid_client") << aud;
    EXPECT_EQ(issued.error().client_id, "gateway-1") << aud;
  }
}

TEST_F(TokenServiceTest, AssertionSignedByAnotherKeyIsRefused) {
  // The gateway's registered key is ClientKey; this is the EHR's.
  ExpectError(Request(Sign(Assertion{}, OtherClientKey())), 401, "invalid_client");
  // The gateway's kid, another key's signature.
  Assertion a;
  std::string header = R"({"alg":"ES256","typ":"JWT","kid":")" + ClientKey().kid() + "\"}";
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(a.Json());
  std::string forged = input + "." + Base64UrlEncode(OtherClientKey().Sign(input).value());
  auto issued = Issue(Request(forged));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().error, "invalid_client");
  EXPECT_THAT(issued.error().description, HasSubstr("signature"));
}

TEST_F(TokenServiceTest, AssertionLivingLongerThanFiveMinutesIsRefused) {
  // Five minutes is accepted; the leeway covers a client clock running ahead, no more.
  EXPECT_TRUE(Issue(Request(Sign(Assertion{.exp = kNow + 300}))));
  ExpectError(Request(Sign(Assertion{.exp = kNow + 300 + kLeeway + 1})), 401, "invalid_client");
  ExpectError(Request(Sign(Assertion{.exp = kNow + 3600})), 401, "invalid_client");
}

TEST_F(TokenServiceTest, ExpiredAssertionIsRefused) {
  auto issued = Issue(Request(Sign(Assertion{.exp = kNow - kLeeway})));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().http_status, 401);
  EXPECT_EQ(issued.error().error, "invalid_client");
  EXPECT_THAT(issued.error().description, HasSubstr("expired"));
}

TEST_F(TokenServiceTest, AssertionExpiringLaterIsRefusedOnceTheClockPassesIt) {
  std::string assertion = Sign(Assertion{.exp = kNow + 240});
  clock_.SetSeconds(kNow + 240 + kLeeway);
  ExpectError(Request(assertion), 401, "invalid_client");
}

TEST_F(TokenServiceTest, JtiIsRequired) {
  auto issued = Issue(Request(Sign(Assertion{.jti = "-"})));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().http_status, 401);
  EXPECT_EQ(issued.error().error, "invalid_client");
  EXPECT_THAT(issued.error().description, HasSubstr("jti"));
}

TEST_F(TokenServiceTest, ReplayedAssertionIsRefused) {
  std::string assertion = Sign(Assertion{});
  ASSERT_TRUE(Issue(Request(assertion)));
  auto again = Issue(Request(assertion));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().http_status, 401);
  EXPECT_EQ(again.error().error, "invalid_client");
  EXPECT_THAT(again.error().description, HasSubstr("jti"));
  // A new assertion with the same jti is a replay too.
  Assertion same_jti{.jti = "fixed"};
  ASSERT_TRUE(Issue(Request(Sign(same_jti))));
  same_jti.exp = kNow + 200;
  ExpectError(Request(Sign(same_jti)), 401, "invalid_client");
}

TEST_F(TokenServiceTest, JtiIsPerClient) {
  ASSERT_TRUE(Issue(Request(Sign(Assertion{.jti = "shared"}))));
  Assertion ehr{.iss = "\"ehr\"", .sub = "\"ehr\"", .jti = "shared"};
  auto issued = Issue(Request(Sign(ehr, OtherClientKey()), "user/Patient.rs"));
  EXPECT_TRUE(issued) << issued.error().description;
}

TEST_F(TokenServiceTest, ScopeNotGrantedIsInvalidScope) {
  auto issued = Issue(Request(Sign(Assertion{}), "user/Patient.rs system/*.cruds"));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().http_status, 400);
  EXPECT_EQ(issued.error().error, "invalid_scope");
  EXPECT_EQ(issued.error().client_id, "gateway-1");
  // Registered, but beyond the device's ceiling: still nothing.
  ExpectError(Request(Sign(Assertion{}), "patient/Observation.ud"), 400, "invalid_scope");
  // Only scopes that are not about data.
  ExpectError(Request(Sign(Assertion{}), "openid offline_access"), 400, "invalid_scope");
}

// ---------------------------------------------------------------------------------------------
// The clients file changing under a running service.

TEST_F(TokenServiceTest, RemovedClientIsRefusedWithoutANewRegistry) {
  ASSERT_TRUE(Issue(Request(Sign(Assertion{}))));
  ASSERT_TRUE(SaveClientsFile(path_, {Ehr()}).ok());
  auto issued = Issue(Request(Sign(Assertion{})));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().http_status, 401);
  EXPECT_EQ(issued.error().error, "invalid_client");
}

TEST_F(TokenServiceTest, RotatedClientKeyTakesEffect) {
  ASSERT_TRUE(Issue(Request(Sign(Assertion{}))));
  RegisteredClient rotated = Gateway();
  rotated.keys = KeysOf(OtherClientKey());
  ASSERT_TRUE(SaveClientsFile(path_, {rotated, Ehr()}).ok());
  ExpectError(Request(Sign(Assertion{})), 401, "invalid_client");
  auto issued = Issue(Request(Sign(Assertion{}, OtherClientKey())));
  EXPECT_TRUE(issued) << issued.error().description;
}

TEST_F(TokenServiceTest, CorruptClientsFileIsAServerErrorAndTrustsNoClient) {
  ASSERT_TRUE(Issue(Request(Sign(Assertion{}))));
  {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << "{\"clients\":[{";
  }
  auto issued = Issue(Request(Sign(Assertion{})));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().http_status, 500);
  EXPECT_EQ(issued.error().error, "server_error");
  Assertion ehr{.iss = "\"ehr\"", .sub = "\"ehr\""};
  issued = Issue(Request(Sign(ehr, OtherClientKey()), "user/Patient.rs"));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().http_status, 500);
  EXPECT_EQ(issued.error().error, "server_error");
  // Fixed: trusted again.
  ASSERT_TRUE(SaveClientsFile(path_, {Gateway()}).ok());
  EXPECT_TRUE(Issue(Request(Sign(Assertion{}))));
}

TEST_F(TokenServiceTest, UnreadableClientsFileIsAServerError) {
  ASSERT_TRUE(Issue(Request(Sign(Assertion{}))));
  fs::remove(path_);
  fs::create_directory(path_);  // there, but not a file that can be read
  ExpectError(Request(Sign(Assertion{})), 500, "server_error");
}

// An issued token is one this server accepts: a clinician client registered with patient/
// scopes but no patient (ValidateClient allows it) must not get a patient-level token without
// a patient claim, which the Authenticator would refuse.
TEST_F(TokenServiceTest, IssuedTokensAreAcceptedByTheAuthenticator) {
  RegisteredClient ehr = Ehr();
  ehr.scope = "user/*.rs patient/*.rs";
  ASSERT_TRUE(SaveClientsFile(path_, {Gateway(), ehr}).ok());
  Assertion a{.iss = "\"ehr\"", .sub = "\"ehr\""};
  auto issued = Issue(Request(Sign(a, OtherClientKey()), "patient/*.rs"));
  if (!issued) return;  // refusing the request is fine
  auto principal = Authenticator::PrincipalFromClaims(Verify(issued->access_token));
  EXPECT_TRUE(principal) << principal.error().ToString();
}

}  // namespace
}  // namespace medulla::security
