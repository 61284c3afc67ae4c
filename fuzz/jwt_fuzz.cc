// Fuzzes the JOSE code that faces the network: bearer tokens and client assertions (VerifyJwt,
// DecodeJwtUnverified), base64url, and JWKS documents that clients register (KeySet::FromJwks).
// Any crash, hang or sanitizer report is a bug, and so is:
// - a token accepted although nobody outside this process holds the keys (they are generated at
//   start-up, so no seed or mutation can carry a valid signature);
// - a base64url text that decodes but is not the encoding of what it decodes to (the decoder
//   must be strict: one text per byte string);
// - a JWKS that parses but whose re-serialisation does not parse to the same set;
// - the input as a payload, correctly signed here, rejected for its signature, or accepted with
//   claims that break the expectations.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "security/jose.h"

namespace {

namespace security = medulla::security;

struct Fixture {
  security::SigningKey rsa;
  security::SigningKey ec;
  security::KeySet keys;
};

const Fixture& GetFixture() {
  static const Fixture fixture = [] {
    Fixture f{security::SigningKey::Generate(security::Algorithm::kRS256).value(),
              security::SigningKey::Generate(security::Algorithm::kES256).value(),
              {}};
    f.keys.Add(f.rsa.Public());
    f.keys.Add(f.ec.Public());
    return f;
  }();
  return fixture;
}

constexpr int64_t kNow = 1700000100;

security::JwtExpectations Expectations() {
  security::JwtExpectations e;
  e.issuer = "https://issuer.example.org";
  e.audience = "https://medulla.example.org/fhir";
  e.now = kNow;
  e.leeway_seconds = 60;
  e.max_lifetime_seconds = 3600;
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const Fixture& f = GetFixture();
  const security::JwtExpectations expect = Expectations();

  auto verified = security::VerifyJwt(input, f.keys, expect);
  if (verified) __builtin_trap();
  if (verified.error().code() != medulla::core::Code::kUnauthenticated) __builtin_trap();
  (void)security::DecodeJwtUnverified(input);

  if (auto bytes = security::Base64UrlDecode(input)) {
    if (security::Base64UrlEncode(*bytes) != input) __builtin_trap();
  }

  if (auto keys = security::KeySet::FromJwks(input)) {
    std::string jwks = keys->ToJwks();
    auto again = security::KeySet::FromJwks(jwks);
    if (!again || again->size() != keys->size() || again->ToJwks() != jwks) __builtin_trap();
  }

  // The input as the payload of a token signed by a trusted key: the claim checks see every
  // input, not only those that carry a valid signature.
  std::string header = std::string(R"({"alg":"ES256","kid":")") + f.ec.kid() + "\"}";
  std::string signing_input =
      security::Base64UrlEncode(header) + "." + security::Base64UrlEncode(input);
  auto signature = f.ec.Sign(signing_input);
  if (!signature) __builtin_trap();
  std::string token = signing_input + "." + security::Base64UrlEncode(*signature);
  auto claims = security::VerifyJwt(token, f.keys, expect);
  if (!claims) {
    if (claims.error().message() == "signature does not verify") __builtin_trap();
    return 0;
  }
  if (token.size() > security::kMaxJwtBytes) __builtin_trap();
  if (!claims->exp || *claims->exp + expect.leeway_seconds <= kNow) __builtin_trap();
  if (*claims->exp - kNow > expect.max_lifetime_seconds + expect.leeway_seconds) __builtin_trap();
  if (claims->nbf && *claims->nbf > kNow + expect.leeway_seconds) __builtin_trap();
  if (claims->iss != expect.issuer) __builtin_trap();
  bool audience = false;
  for (const std::string& aud : claims->aud) audience = audience || aud == expect.audience;
  if (!audience || claims->payload_json != input) __builtin_trap();
  return 0;
}
