#include "security/jose.h"
#include "security/security_fixtures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace medulla::security {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Helpers.

fs::path TestData() {
  const char* dir = std::getenv("MEDULLA_TEST_DATA");
  return fs::path(dir != nullptr ? dir : MEDULLA_SOURCE_TEST_DATA) / "security";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Generating keys is slow (RSA especially): make each once for the whole binary.
const SigningKey& RsaKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kRS256).value();
  return key;
}
const SigningKey& OtherRsaKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kRS256).value();
  return key;
}
const SigningKey& EcKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}
const SigningKey& OtherEcKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}

KeySet Keys() {
  KeySet keys;
  keys.Add(RsaKey().Public());
  keys.Add(EcKey().Public());
  return keys;
}

constexpr int64_t kNow = 1700000100;
constexpr char kIssuer[] = "https://issuer.example.org";
constexpr char kAudience[] = "https://medulla.example.org/fhir";

JwtExpectations Expect() {
  JwtExpectations e;
  e.issuer = kIssuer;
  e.audience = kAudience;
  e.now = kNow;
  return e;
}

// Claims JSON: the standard valid set with members replaced, added or (value "") removed.
// Values are raw JSON.
std::string Claims(const std::vector<std::pair<std::string, std::string>>& changes = {}) {
  return testing::JsonObjectWith(
      {
          {"iss", "\"https://issuer.example.org\""},
          {"sub", "\"client-1\""},
          {"aud", "\"https://medulla.example.org/fhir\""},
          {"iat", std::to_string(kNow - 10)},
          {"exp", std::to_string(kNow + 300)},
      },
      changes);
}

std::string Header(const SigningKey& key) {
  return std::string("{\"alg\":\"") + std::string(AlgorithmName(key.algorithm())) +
         "\",\"typ\":\"JWT\",\"kid\":\"" + key.kid() + "\"}";
}

std::string Join(std::string_view header, std::string_view payload, std::string_view signature) {
  return Base64UrlEncode(header) + "." + Base64UrlEncode(payload) + "." +
         Base64UrlEncode(signature);
}

// A token with any header, signed by `key` over exactly what the header says.
std::string SignWith(const SigningKey& key, std::string_view header, std::string_view payload) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  return input + "." + Base64UrlEncode(key.Sign(input).value());
}

std::string Signed(const SigningKey& key, const std::string& claims = Claims()) {
  return key.SignJwt(claims).value();
}

std::vector<std::string> Split(std::string_view token) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = token.find('.', start);
    parts.emplace_back(token.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

// Rejected with kUnauthenticated and a reason containing `reason`, which shows none of the token.
void ExpectRejected(const std::string& token, std::string_view reason, const KeySet& keys = Keys(),
                    const JwtExpectations& expect = Expect()) {
  auto claims = VerifyJwt(token, keys, expect);
  ASSERT_FALSE(claims.has_value()) << "accepted; wanted: " << reason;
  EXPECT_EQ(claims.error().code(), core::Code::kUnauthenticated);
  EXPECT_THAT(claims.error().message(), HasSubstr(reason));
  for (const std::string& part : Split(token)) {
    if (part.size() >= 8) {
      EXPECT_THAT(claims.error().message(), ::testing::Not(HasSubstr(part)));
    }
  }
}

void ExpectAccepted(const std::string& token, const KeySet& keys = Keys(),
                    const JwtExpectations& expect = Expect()) {
  auto claims = VerifyJwt(token, keys, expect);
  EXPECT_TRUE(claims.has_value()) << claims.error().ToString();
}

// OpenSSL directly, for keys this library refuses to make.
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string PrivatePem(EVP_PKEY* key, const EVP_CIPHER* cipher = nullptr,
                       const char* passphrase = nullptr) {
  BIO* bio = BIO_new(BIO_s_mem());
  int len = passphrase ? static_cast<int>(std::strlen(passphrase)) : 0;
  EXPECT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, key, cipher, passphrase, len, nullptr, nullptr), 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string BnParamB64(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return Base64UrlEncode(bytes);
}

// The ASN.1 DER form OpenSSL uses for ECDSA signatures, from JWS's r||s.
std::string RawToDer(std::string_view raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

// RFC 7638 §3.1.
constexpr char kRfc7638N[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWK"
    "RXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMi"
    "cAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
    "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRw"
    "r3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
constexpr char kRfc7638Thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

std::string Rfc7638Jwk() {
  return std::string(R"({"kty":"RSA","n":")") + kRfc7638N +
         R"(","e":"AQAB","alg":"RS256","kid":"2011-04-29"})";
}

// ---------------------------------------------------------------------------------------------
// Primitives.

TEST(Base64UrlTest, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST(Base64UrlTest, UsesTheUrlSafeAlphabet) {
  // RFC 7515 appendix C.
  EXPECT_EQ(Base64UrlEncode(std::string("\x03\xEC\xFF\xE0\xC1", 5)), "A-z_4ME");
  EXPECT_EQ(Base64UrlDecode("A-z_4ME"), std::string("\x03\xEC\xFF\xE0\xC1", 5));
}

TEST(Base64UrlTest, DecodesRfc4648Vectors) {
  EXPECT_EQ(Base64UrlDecode(""), "");
  EXPECT_EQ(Base64UrlDecode("Zg"), "f");
  EXPECT_EQ(Base64UrlDecode("Zm8"), "fo");
  EXPECT_EQ(Base64UrlDecode("Zm9v"), "foo");
  EXPECT_EQ(Base64UrlDecode("Zm9vYg"), "foob");
  EXPECT_EQ(Base64UrlDecode("Zm9vYmE"), "fooba");
  EXPECT_EQ(Base64UrlDecode("Zm9vYmFy"), "foobar");
}

TEST(Base64UrlTest, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 37) {
    std::string bytes = all.substr(0, len);
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes);
  }
}

TEST(Base64UrlTest, DecodeIsStrict) {
  for (std::string_view bad : {
           "Zg==",    // padding
           "Zm8=",    // padding
           "+/8",     // standard alphabet
           "Zm9v/w",  // standard alphabet
           "Zm9 v",   // whitespace
           "Zm9v\n",  // newline
           "Z",       // 4k+1 characters cannot be
           "Zm9vY",   // 4k+1
           "Zh",      // non-zero unused bits ("Zg" is the encoding of "f")
           "Zm9",     // non-zero unused bits ("Zm8" is the encoding of "fo")
           "Zm9v.",   // separator
       }) {
    EXPECT_FALSE(Base64UrlDecode(bad).has_value()) << bad;
  }
  EXPECT_FALSE(Base64UrlDecode(std::string_view("Zm\0v", 4)).has_value());
}

TEST(HashTest, Sha256KnownVectors) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(HashTest, HmacSha256Rfc4231TestCase2) {
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HashTest, PreKeyedHmacEqualsHmacForEveryKeyLength) {
  // Key lengths around SHA-256's 64-byte block: padded, exact, and hashed first (RFC 2104 §2).
  for (size_t key_len : {0u, 1u, 4u, 63u, 64u, 65u, 131u}) {
    std::string key(key_len, '\0');
    for (size_t i = 0; i < key_len; ++i) key[i] = static_cast<char>(i * 7 + 1);
    HmacSha256Key keyed(key);
    for (std::string_view data : {"", "a", "what do ya want for nothing?"}) {
      EXPECT_EQ(keyed.Mac(data), HmacSha256(key, data)) << "key length " << key_len;
    }
  }
}

TEST(HashTest, PreKeyedHmacRfc4231TestCase6) {
  // RFC 4231 §4.7: a 131-byte key (longer than the block) and a 54-byte message.
  HmacSha256Key keyed(std::string(131, '\xaa'));
  EXPECT_EQ(HexEncode(keyed.Mac("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HashTest, HexEncodeIsLowerCase) {
  EXPECT_EQ(HexEncode(std::string("\x00\x0f\xab\xff", 4)), "000fabff");
}

TEST(PrimitivesTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret1"));
}

TEST(PrimitivesTest, RandomBytes) {
  EXPECT_EQ(RandomBytes(0), "");
  std::string a = RandomBytes(32), b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(AlgorithmTest, OnlyRs256AndEs256) {
  EXPECT_EQ(AlgorithmName(Algorithm::kRS256), "RS256");
  EXPECT_EQ(AlgorithmName(Algorithm::kES256), "ES256");
  EXPECT_EQ(ParseAlgorithm("RS256"), Algorithm::kRS256);
  EXPECT_EQ(ParseAlgorithm("ES256"), Algorithm::kES256);
  for (std::string_view other : {"none", "None", "HS256", "RS384", "RS512", "PS256", "ES384",
                                 "EdDSA", "rs256", "RS256 ", ""}) {
    EXPECT_FALSE(ParseAlgorithm(other).has_value()) << other;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys.

TEST(KeyTest, Rs256SignVerifyRoundTrip) {
  auto claims = VerifyJwt(Signed(RsaKey()), Keys(), Expect());
  ASSERT_TRUE(claims.has_value()) << claims.error().ToString();
  EXPECT_EQ(claims->iss, kIssuer);
  EXPECT_EQ(claims->sub, "client-1");
  EXPECT_EQ(claims->aud, std::vector<std::string>{kAudience});
  EXPECT_EQ(claims->exp, kNow + 300);
  EXPECT_EQ(claims->iat, kNow - 10);
  EXPECT_FALSE(claims->nbf.has_value());
  EXPECT_EQ(claims->payload_json, Claims());
}

TEST(KeyTest, Es256SignVerifyRoundTrip) {
  auto claims = VerifyJwt(Signed(EcKey()), Keys(), Expect());
  ASSERT_TRUE(claims.has_value()) << claims.error().ToString();
  EXPECT_EQ(claims->sub, "client-1");
}

TEST(KeyTest, SignJwtHeaderNamesAlgTypAndKid) {
  std::vector<std::string> parts = Split(Signed(EcKey()));
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(Base64UrlDecode(parts[0]), Header(EcKey()));
  EXPECT_EQ(Base64UrlDecode(parts[1]), Claims());
}

TEST(KeyTest, RawSignaturesHaveJwsSizes) {
  std::string rsa = RsaKey().Sign("input").value();
  std::string ec = EcKey().Sign("input").value();
  EXPECT_EQ(rsa.size(), 256u);
  EXPECT_EQ(ec.size(), 64u);
  EXPECT_TRUE(RsaKey().Public().Verify("input", rsa));
  EXPECT_TRUE(EcKey().Public().Verify("input", ec));
  EXPECT_FALSE(EcKey().Public().Verify("input2", ec));
  EXPECT_FALSE(OtherEcKey().Public().Verify("input", ec));
  EXPECT_FALSE(OtherRsaKey().Public().Verify("input", rsa));
}

TEST(KeyTest, SignJwtRefusesNonObjectClaims) {
  for (std::string_view bad : {"", "[]", "\"x\"", "{", "{\"a\":1} x"}) {
    auto token = EcKey().SignJwt(bad);
    ASSERT_FALSE(token.has_value()) << bad;
    EXPECT_EQ(token.error().code(), core::Code::kInvalidArgument);
  }
}

TEST(KeyTest, KidIsTheRfc7638Thumbprint) {
  EXPECT_EQ(RsaKey().kid(), RsaKey().Public().Thumbprint());
  EXPECT_EQ(RsaKey().kid(), RsaKey().Public().kid());
  EXPECT_EQ(EcKey().kid().size(), 43u);  // base64url of 32 bytes
  EXPECT_NE(EcKey().kid(), OtherEcKey().kid());
}

TEST(KeyTest, Rfc7638ThumbprintVector) {
  auto key =
      PublicKey::FromJwk(R"({"kty":"RSA","n":")" + std::string(kRfc7638N) + R"(","e":"AQAB"})");
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(key->Thumbprint(), kRfc7638Thumbprint);
  EXPECT_EQ(key->kid(), kRfc7638Thumbprint);  // no "kid": the thumbprint stands in
  EXPECT_EQ(key->algorithm(), Algorithm::kRS256);
}

TEST(KeyTest, RsaLeadingZeroOctetIsNormalised) {
  std::string n = Base64UrlEncode(std::string(1, '\0') + Base64UrlDecode(kRfc7638N).value());
  auto key = PublicKey::FromJwk(R"({"kty":"RSA","n":")" + n + R"(","e":"AAEAAQ"})");
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(key->Thumbprint(), kRfc7638Thumbprint);
}

TEST(KeyTest, JwksParsesTheRfc7638Key) {
  auto keys = KeySet::FromJwks(R"({"keys":[)" + Rfc7638Jwk() + "]}");
  ASSERT_TRUE(keys.has_value()) << keys.error().ToString();
  ASSERT_EQ(keys->size(), 1u);
  const PublicKey& key = keys->keys()[0];
  EXPECT_EQ(key.kid(), "2011-04-29");
  EXPECT_EQ(key.algorithm(), Algorithm::kRS256);
  EXPECT_EQ(key.Thumbprint(), kRfc7638Thumbprint);
  EXPECT_EQ(key.ToJwk(), R"({"kty":"RSA","n":")" + std::string(kRfc7638N) +
                             R"(","e":"AQAB","alg":"RS256","use":"sig","kid":"2011-04-29"})");
  EXPECT_EQ(keys->Find("2011-04-29", Algorithm::kRS256), &key);
}

TEST(KeyTest, Es256JwkRoundTrip) {
  std::string jwk = EcKey().Public().ToJwk();
  EXPECT_THAT(jwk, HasSubstr(R"("kty":"EC","crv":"P-256","x":")"));
  auto keys = KeySet::FromJwks(R"({"keys":[)" + jwk + "]}");
  ASSERT_TRUE(keys.has_value()) << keys.error().ToString();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->keys()[0].kid(), EcKey().kid());
  EXPECT_EQ(keys->keys()[0].ToJwk(), jwk);
  ExpectAccepted(Signed(EcKey()), *keys);
}

TEST(KeyTest, KeySetJwksRoundTrip) {
  auto keys = KeySet::FromJwks(Keys().ToJwks());
  ASSERT_TRUE(keys.has_value()) << keys.error().ToString();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_EQ(keys->ToJwks(), Keys().ToJwks());
  ExpectAccepted(Signed(RsaKey()), *keys);
  ExpectAccepted(Signed(EcKey()), *keys);
}

TEST(KeyTest, PrivatePemRoundTrip) {
  for (const SigningKey* key : {&RsaKey(), &EcKey()}) {
    std::string pem = key->ToPem();
    EXPECT_THAT(pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
    auto again = SigningKey::FromPem(pem);
    ASSERT_TRUE(again.has_value()) << again.error().ToString();
    EXPECT_EQ(again->algorithm(), key->algorithm());
    EXPECT_EQ(again->kid(), key->kid());
    ExpectAccepted(Signed(*again));
  }
}

TEST(KeyTest, PublicPemRoundTrip) {
  for (const SigningKey* key : {&RsaKey(), &EcKey()}) {
    std::string pem = key->Public().ToPem();
    EXPECT_THAT(pem, HasSubstr("-----BEGIN PUBLIC KEY-----"));
    auto pub = PublicKey::FromPem(pem);
    ASSERT_TRUE(pub.has_value()) << pub.error().ToString();
    EXPECT_EQ(pub->algorithm(), key->algorithm());
    EXPECT_EQ(pub->kid(), key->kid());
    EXPECT_EQ(pub->ToJwk(), key->Public().ToJwk());
  }
}

TEST(KeyTest, FromPemRefusesGarbageAndPublicKeys) {
  for (const std::string& bad : {std::string(), std::string("not a pem"),
                                 std::string("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END "
                                             "PRIVATE KEY-----\n"),
                                 RsaKey().Public().ToPem()}) {
    auto key = SigningKey::FromPem(bad);
    ASSERT_FALSE(key.has_value());
    EXPECT_EQ(key.error().code(), core::Code::kInvalidArgument);
  }
  EXPECT_FALSE(PublicKey::FromPem(RsaKey().ToPem().substr(0, 100)).has_value());
}

TEST(KeyTest, FromPemRefusesShortRsa) {
  Pkey weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
  ASSERT_TRUE(weak);
  auto key = SigningKey::FromPem(PrivatePem(weak.get()));
  ASSERT_FALSE(key.has_value());
  EXPECT_THAT(key.error().message(), HasSubstr("2048"));
}

TEST(KeyTest, FromPemRefusesOtherCurves) {
  Pkey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  ASSERT_TRUE(p384);
  auto key = SigningKey::FromPem(PrivatePem(p384.get()));
  ASSERT_FALSE(key.has_value());
  EXPECT_THAT(key.error().message(), HasSubstr("P-256"));
}

TEST(KeyTest, FromPemRefusesEncryptedPemWithoutPrompting) {
  std::string pem = EcKey().ToPem();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ASSERT_TRUE(key);
  std::string encrypted = PrivatePem(key.get(), EVP_aes_256_cbc(), "passphrase");
  EXPECT_THAT(encrypted, HasSubstr("ENCRYPTED"));
  auto loaded = SigningKey::FromPem(encrypted);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code(), core::Code::kInvalidArgument);
}

TEST(KeyTest, ErrorsCarryNoKeyMaterial) {
  std::string pem = RsaKey().ToPem();
  std::string broken = pem.substr(0, pem.size() / 2);
  auto key = SigningKey::FromPem(broken);
  ASSERT_FALSE(key.has_value());
  EXPECT_THAT(key.error().message(), ::testing::Not(HasSubstr(broken.substr(40, 20))));
  EXPECT_LT(key.error().message().size(), 80u);
}

// ---------------------------------------------------------------------------------------------
// JWKS.

TEST(JwksTest, SkipsKeysItDoesNotVerifyWith) {
  std::string good = EcKey().Public().ToJwk();
  auto keys = KeySet::FromJwks(
      R"({"keys":[)" + good + "," + R"({"kty":"RSA","use":"enc","n":")" + kRfc7638N +
      R"(","e":"AQAB"},)" + R"({"kty":"oct","k":"c2VjcmV0","alg":"HS256"},)" +
      R"({"kty":"OKP","crv":"Ed25519","x":"AAAA"},)" +
      R"({"kty":"EC","crv":"P-384","x":"AAAA","y":"AAAA"},)" +
      R"({"kty":"RSA","alg":"RS384","n":")" + kRfc7638N + R"(","e":"AQAB"},)" +
      R"({"kty":"RSA","key_ops":["encrypt"],"n":")" + kRfc7638N + R"(","e":"AQAB"}]})");
  ASSERT_TRUE(keys.has_value()) << keys.error().ToString();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->keys()[0].kid(), EcKey().kid());
}

TEST(JwksTest, FailsOnMalformedDocuments) {
  for (std::string_view bad :
       {"", "{", "[]", "{}", R"({"keys":{}})", R"({"keys":[1]})", R"({"keys":[{"n":"AQAB"}]})"}) {
    auto keys = KeySet::FromJwks(bad);
    ASSERT_FALSE(keys.has_value()) << bad;
    EXPECT_EQ(keys.error().code(), core::Code::kInvalidArgument);
  }
}

TEST(JwksTest, FailsOnShortRsaKey) {
  Pkey weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
  ASSERT_TRUE(weak);
  std::string jwk = R"({"kty":"RSA","n":")" + BnParamB64(weak.get(), OSSL_PKEY_PARAM_RSA_N) +
                    R"(","e":")" + BnParamB64(weak.get(), OSSL_PKEY_PARAM_RSA_E) + R"("})";
  auto keys = KeySet::FromJwks(R"({"keys":[)" + jwk + "]}");
  ASSERT_FALSE(keys.has_value());
  EXPECT_THAT(keys.error().message(), HasSubstr("shorter than 2048"));
}

TEST(JwksTest, FailsOnMalformedRsaMembers) {
  for (const std::string& jwk : {
           std::string(R"({"kty":"RSA","e":"AQAB"})"),                              // no n
           std::string(R"({"kty":"RSA","n":")") + kRfc7638N + R"("})",              // no e
           std::string(R"({"kty":"RSA","n":")") + kRfc7638N + R"(=","e":"AQAB"})",  // padded
           std::string(R"({"kty":"RSA","n":")") + kRfc7638N + R"(","e":"AQAA"})",   // even e
           std::string(R"({"kty":"RSA","n":")") + kRfc7638N + R"(","e":65537})",    // number
           std::string(R"({"kty":"RSA","alg":"ES256","n":")") + kRfc7638N + R"(","e":"AQAB"})",
       }) {
    auto keys = KeySet::FromJwks(R"({"keys":[)" + jwk + "]}");
    ASSERT_FALSE(keys.has_value()) << jwk;
    EXPECT_EQ(keys.error().code(), core::Code::kInvalidArgument);
  }
}

TEST(JwksTest, FailsOnPrivateMembers) {
  std::string jwk = EcKey().Public().ToJwk();
  jwk.insert(jwk.size() - 1, R"(,"d":"AAAA")");
  auto keys = KeySet::FromJwks(R"({"keys":[)" + jwk + "]}");
  ASSERT_FALSE(keys.has_value());
  EXPECT_THAT(keys.error().message(), HasSubstr("private"));
}

TEST(JwksTest, FailsOnEcPointOffTheCurve) {
  auto jwk_text = EcKey().Public().ToJwk();
  // Flip one bit of y.
  size_t y_at = jwk_text.find(R"("y":")") + 5;
  std::string y = Base64UrlDecode(jwk_text.substr(y_at, 43)).value();
  y[31] = static_cast<char>(y[31] ^ 1);
  jwk_text.replace(y_at, 43, Base64UrlEncode(y));
  auto keys = KeySet::FromJwks(R"({"keys":[)" + jwk_text + "]}");
  ASSERT_FALSE(keys.has_value());
  EXPECT_THAT(keys.error().message(), HasSubstr("not on P-256"));
}

TEST(JwksTest, FailsOnShortEcCoordinate) {
  auto keys = KeySet::FromJwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]})");
  ASSERT_FALSE(keys.has_value());
  EXPECT_THAT(keys.error().message(), HasSubstr("32 bytes"));
}

TEST(JwksTest, FindByKidAndAlgorithm) {
  KeySet keys = Keys();
  EXPECT_EQ(keys.Find(RsaKey().kid(), Algorithm::kRS256)->kid(), RsaKey().kid());
  EXPECT_EQ(keys.Find(EcKey().kid(), Algorithm::kRS256), nullptr);    // kid of the other alg
  EXPECT_EQ(keys.Find("", Algorithm::kES256)->kid(), EcKey().kid());  // the only EC key
  EXPECT_EQ(keys.Find("nope", Algorithm::kES256), nullptr);
  keys.Add(OtherEcKey().Public());
  EXPECT_EQ(keys.Find("", Algorithm::kES256), nullptr);  // two EC keys and no kid
  EXPECT_EQ(keys.Find(OtherEcKey().kid(), Algorithm::kES256)->kid(), OtherEcKey().kid());
}

TEST(InteropTest, Rfc7515AppendixA3Es256Example) {
  // RFC 7515 appendix A.3: the ES256 JWK and JWS of the specification itself.
  auto key = PublicKey::FromJwk(
      R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
      R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})");
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  std::string input =
      "eyJhbGciOiJFUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
      "fQ";
  std::string signature =
      Base64UrlDecode(
          "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")
          .value();
  EXPECT_TRUE(key->Verify(input, signature));
  EXPECT_FALSE(key->Verify(input + "x", signature));
}

// ---------------------------------------------------------------------------------------------
// Interoperability: keys and tokens made by the openssl command line (tests/data/security).

TEST(InteropTest, VerifiesOpensslRs256Token) {
  auto pub = PublicKey::FromPem(ReadFile(TestData() / "rsa-public.pem"));
  ASSERT_TRUE(pub.has_value()) << pub.error().ToString();
  KeySet keys;
  keys.Add(*pub);
  auto claims = VerifyJwt(Trimmed(ReadFile(TestData() / "rsa.jwt")), keys, Expect());
  ASSERT_TRUE(claims.has_value()) << claims.error().ToString();
  EXPECT_EQ(claims->sub, "fixture-client");
  EXPECT_EQ(claims->jti, "rsa-fixture-1");
  EXPECT_EQ(claims->scope, "system/*.read");
}

TEST(InteropTest, VerifiesOpensslEs256TokenAndAgreesOnThumbprint) {
  auto pub = PublicKey::FromPem(ReadFile(TestData() / "ec-public.pem"));
  ASSERT_TRUE(pub.has_value()) << pub.error().ToString();
  EXPECT_EQ(pub->kid(), Trimmed(ReadFile(TestData() / "ec.kid")));  // python's RFC 7638 value
  KeySet keys;
  keys.Add(*pub);
  keys.Add(EcKey().Public());  // another EC key: the token's kid must pick the right one
  auto claims = VerifyJwt(Trimmed(ReadFile(TestData() / "ec.jwt")), keys, Expect());
  ASSERT_TRUE(claims.has_value()) << claims.error().ToString();
  EXPECT_EQ(claims->jti, "ec-fixture-1");
  EXPECT_EQ(claims->aud, (std::vector<std::string>{"other", kAudience}));
}

TEST(InteropTest, LoadsOpensslPrivateKeys) {
  // PKCS#8 RSA and traditional SEC1 EC.
  auto rsa = SigningKey::FromPem(ReadFile(TestData() / "rsa-private.pem"));
  ASSERT_TRUE(rsa.has_value()) << rsa.error().ToString();
  EXPECT_EQ(rsa->Public().ToPem(), ReadFile(TestData() / "rsa-public.pem"));
  auto ec = SigningKey::FromPem(ReadFile(TestData() / "ec-private.pem"));
  ASSERT_TRUE(ec.has_value()) << ec.error().ToString();
  EXPECT_EQ(ec->algorithm(), Algorithm::kES256);
  EXPECT_EQ(ec->Public().ToPem(), ReadFile(TestData() / "ec-public.pem"));
  EXPECT_EQ(ec->kid(), Trimmed(ReadFile(TestData() / "ec.kid")));
}

TEST(InteropTest, Rs256SignatureMatchesOpenssl) {
  // RSASSA-PKCS1-v1_5 is deterministic: the same key and input give openssl's exact bytes.
  auto rsa = SigningKey::FromPem(ReadFile(TestData() / "rsa-private.pem"));
  ASSERT_TRUE(rsa.has_value());
  std::string token = Trimmed(ReadFile(TestData() / "rsa.jwt"));
  size_t last_dot = token.rfind('.');
  auto sig = rsa->Sign(token.substr(0, last_dot));
  ASSERT_TRUE(sig.has_value());
  EXPECT_EQ(Base64UrlEncode(*sig), token.substr(last_dot + 1));
}

// ---------------------------------------------------------------------------------------------
// Rejections: one per attack or claim rule.

TEST(RejectTest, AlgNoneWithEmptySignature) {
  std::string token = Join(R"({"alg":"none","typ":"JWT"})", Claims(), "");
  ASSERT_EQ(token.back(), '.');
  ExpectRejected(token, "unsupported alg 'none'");
}

TEST(RejectTest, Hs256MacedWithRsaPublicKeyPem) {
  std::string header = R"({"alg":"HS256","typ":"JWT","kid":")" + RsaKey().kid() + "\"}";
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(Claims());
  std::string mac = HmacSha256(RsaKey().Public().ToPem(), input);
  ExpectRejected(input + "." + Base64UrlEncode(mac), "unsupported alg 'HS256'");
}

TEST(RejectTest, Hs256MacedWithRsaPublicJwk) {
  std::string header = R"({"alg":"HS256","typ":"JWT"})";
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(Claims());
  for (const std::string& secret : {RsaKey().Public().ToJwk(), Keys().ToJwks()}) {
    ExpectRejected(input + "." + Base64UrlEncode(HmacSha256(secret, input)),
                   "unsupported alg 'HS256'");
  }
}

TEST(RejectTest, OtherAlgorithmsBeforeKeyLookup) {
  for (std::string_view alg : {"RS384", "PS256", "ES512", "EdDSA", "rs256"}) {
    std::string header = R"({"alg":")" + std::string(alg) + R"(","kid":")" + RsaKey().kid() + "\"}";
    ExpectRejected(SignWith(RsaKey(), header, Claims()), "unsupported alg");
  }
  ExpectRejected(SignWith(RsaKey(), R"({"typ":"JWT"})", Claims()), "no alg");
  ExpectRejected(SignWith(RsaKey(), R"({"alg":256})", Claims()), "no alg");
}

TEST(RejectTest, Rs256HeaderOnEs256Key) {
  std::string header = R"({"alg":"RS256","typ":"JWT","kid":")" + EcKey().kid() + "\"}";
  ExpectRejected(SignWith(EcKey(), header, Claims()), "alg does not match the key");
}

TEST(RejectTest, Es256HeaderOnRs256Key) {
  std::string header = R"({"alg":"ES256","typ":"JWT","kid":")" + RsaKey().kid() + "\"}";
  ExpectRejected(SignWith(RsaKey(), header, Claims()), "alg does not match the key");
}

TEST(RejectTest, TamperedPayload) {
  for (const SigningKey* key : {&RsaKey(), &EcKey()}) {
    std::vector<std::string> parts = Split(Signed(*key));
    parts[1] = Base64UrlEncode(Claims({{"sub", "\"admin\""}}));
    ExpectRejected(parts[0] + "." + parts[1] + "." + parts[2], "signature does not verify");
  }
}

TEST(RejectTest, TamperedHeader) {
  std::vector<std::string> parts = Split(Signed(EcKey()));
  parts[0] = Base64UrlEncode(R"({"alg":"ES256","kid":")" + EcKey().kid() + "\"}");
  ExpectRejected(parts[0] + "." + parts[1] + "." + parts[2], "signature does not verify");
}

TEST(RejectTest, TamperedSignature) {
  for (const SigningKey* key : {&RsaKey(), &EcKey()}) {
    std::vector<std::string> parts = Split(Signed(*key));
    std::string sig = Base64UrlDecode(parts[2]).value();
    sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x01);
    ExpectRejected(parts[0] + "." + parts[1] + "." + Base64UrlEncode(sig),
                   "signature does not verify");
  }
}

TEST(RejectTest, TruncatedSignature) {
  for (const SigningKey* key : {&RsaKey(), &EcKey()}) {
    std::vector<std::string> parts = Split(Signed(*key));
    std::string sig = Base64UrlDecode(parts[2]).value();
    sig.pop_back();
    ExpectRejected(parts[0] + "." + parts[1] + "." + Base64UrlEncode(sig),
                   "signature does not verify");
    ExpectRejected(parts[0] + "." + parts[1] + ".", "signature does not verify");
  }
}

TEST(RejectTest, AllZeroSignature) {
  std::string input = Base64UrlEncode(Header(EcKey())) + "." + Base64UrlEncode(Claims());
  ExpectRejected(input + "." + Base64UrlEncode(std::string(64, '\0')), "signature does not verify");
}

TEST(RejectTest, Es256SignatureInDerForm) {
  std::string input = Base64UrlEncode(Header(EcKey())) + "." + Base64UrlEncode(Claims());
  std::string raw = EcKey().Sign(input).value();
  std::string der = RawToDer(raw);
  ASSERT_NE(der.size(), 64u);
  EXPECT_TRUE(EcKey().Public().Verify(input, raw));
  EXPECT_FALSE(EcKey().Public().Verify(input, der));
  ExpectRejected(input + "." + Base64UrlEncode(der), "signature does not verify");
}

TEST(RejectTest, PaddedSignature) {
  ExpectRejected(Signed(EcKey()) + "=", "malformed token signature");
}

TEST(RejectTest, ExpiredBeyondLeeway) {
  ExpectRejected(Signed(EcKey(), Claims({{"exp", std::to_string(kNow - 120)}})), "token expired");
}

TEST(RejectTest, ExpiredWithinLeewayAccepted) {
  ExpectAccepted(Signed(EcKey(), Claims({{"exp", std::to_string(kNow - 30)}})));
}

TEST(RejectTest, ExpiredWithoutLeeway) {
  JwtExpectations expect = Expect();
  expect.leeway_seconds = 0;
  ExpectRejected(Signed(EcKey(), Claims({{"exp", std::to_string(kNow)}})), "token expired", Keys(),
                 expect);
}

TEST(RejectTest, NbfInFuture) {
  ExpectRejected(Signed(EcKey(), Claims({{"nbf", std::to_string(kNow + 300)}})),
                 "token not yet valid");
}

TEST(RejectTest, NbfWithinLeewayAccepted) {
  ExpectAccepted(Signed(EcKey(), Claims({{"nbf", std::to_string(kNow + 30)}})));
}

TEST(RejectTest, IatInFuture) {
  ExpectRejected(Signed(EcKey(), Claims({{"iat", std::to_string(kNow + 300)}})),
                 "token issued in the future");
}

TEST(RejectTest, WrongIssuer) {
  ExpectRejected(Signed(EcKey(), Claims({{"iss", "\"https://evil.example.org\""}})),
                 "wrong issuer");
}

TEST(RejectTest, MissingIssuer) {
  ExpectRejected(Signed(EcKey(), Claims({{"iss", ""}})), "wrong issuer");
}

TEST(RejectTest, WrongAudience) {
  ExpectRejected(Signed(EcKey(), Claims({{"aud", "\"https://other.example.org\""}})),
                 "wrong audience");
}

TEST(RejectTest, MissingAudience) {
  ExpectRejected(Signed(EcKey(), Claims({{"aud", ""}})), "wrong audience");
}

TEST(RejectTest, AudArrayContainingAudienceAccepted) {
  auto claims = VerifyJwt(
      Signed(EcKey(), Claims({{"aud", R"(["a","https://medulla.example.org/fhir","b"])"}})), Keys(),
      Expect());
  ASSERT_TRUE(claims.has_value()) << claims.error().ToString();
  EXPECT_EQ(claims->aud.size(), 3u);
}

TEST(RejectTest, AudArrayWithoutAudience) {
  ExpectRejected(Signed(EcKey(), Claims({{"aud", R"(["a","b"])"}})), "wrong audience");
}

TEST(RejectTest, AudWithNonStrings) {
  ExpectRejected(Signed(EcKey(), Claims({{"aud", R"(["https://medulla.example.org/fhir",1])"}})),
                 "malformed claim 'aud'");
}

TEST(RejectTest, MissingExp) {
  ExpectRejected(Signed(EcKey(), Claims({{"exp", ""}})), "token has no exp");
}

TEST(RejectTest, ExpAsString) {
  ExpectRejected(Signed(EcKey(), Claims({{"exp", "\"1700000400\""}})), "malformed claim 'exp'");
}

TEST(RejectTest, ExpOutOfRange) {
  ExpectRejected(Signed(EcKey(), Claims({{"exp", "1e300"}})), "malformed claim 'exp'");
  ExpectRejected(Signed(EcKey(), Claims({{"exp", "9223372036854775807"}})),
                 "malformed claim 'exp'");
}

TEST(RejectTest, FractionalExpTruncated) {
  auto claims = VerifyJwt(Signed(EcKey(), Claims({{"exp", "1700000400.75"}})), Keys(), Expect());
  ASSERT_TRUE(claims.has_value()) << claims.error().ToString();
  EXPECT_EQ(claims->exp, 1700000400);
  auto exponent = VerifyJwt(Signed(EcKey(), Claims({{"exp", "1.7000004e9"}})), Keys(), Expect());
  ASSERT_TRUE(exponent.has_value()) << exponent.error().ToString();
  EXPECT_EQ(exponent->exp, 1700000400);
}

TEST(RejectTest, NonStringSubject) {
  ExpectRejected(Signed(EcKey(), Claims({{"sub", "42"}})), "malformed claim 'sub'");
}

TEST(RejectTest, UnknownKid) {
  std::string header = R"({"alg":"ES256","kid":")" + OtherEcKey().kid() + "\"}";
  ExpectRejected(SignWith(OtherEcKey(), header, Claims()), "unknown kid");
}

TEST(RejectTest, NoKidNeedsAUniqueKey) {
  std::string token = SignWith(EcKey(), R"({"alg":"ES256"})", Claims());
  ExpectAccepted(token);
  KeySet two = Keys();
  two.Add(OtherEcKey().Public());
  ExpectRejected(token, "several keys match", two);
  KeySet none;
  none.Add(RsaKey().Public());
  ExpectRejected(token, "no key for alg ES256", none);
}

TEST(RejectTest, EmbeddedJwkHeaderIsNotTrusted) {
  // The attacker signs with their own key and offers it in the header; it must not be used.
  std::string header = R"({"alg":"ES256","jwk":)" + OtherEcKey().Public().ToJwk() + "}";
  ExpectRejected(SignWith(OtherEcKey(), header, Claims()), "signature does not verify");
}

TEST(RejectTest, FourPartToken) {
  ExpectRejected(Signed(EcKey()) + ".AAAA", "three parts");
}

TEST(RejectTest, TwoPartToken) {
  std::vector<std::string> parts = Split(Signed(EcKey()));
  ExpectRejected(parts[0] + "." + parts[1], "three parts");
  ExpectRejected("", "three parts");
}

TEST(RejectTest, OversizeToken) {
  std::string big = "\"" + std::string(kMaxJwtBytes, 'x') + "\"";
  std::string token = SignWith(EcKey(), Header(EcKey()), Claims({{"padding", big}}));
  ASSERT_GT(token.size(), kMaxJwtBytes);
  ExpectRejected(token, "token too large");
  EXPECT_FALSE(EcKey().SignJwt(Claims({{"padding", big}})).has_value());
}

TEST(RejectTest, CritHeader) {
  std::string header = R"({"alg":"ES256","kid":")" + EcKey().kid() + R"(","crit":["exp"],"exp":1})";
  ExpectRejected(SignWith(EcKey(), header, Claims()), "crit header not supported");
}

TEST(RejectTest, MalformedHeader) {
  ExpectRejected(SignWith(EcKey(), "[]", Claims()), "malformed token header");
  ExpectRejected(SignWith(EcKey(), "{", Claims()), "malformed token header");
  // Duplicate members: a parser that keeps the last one would see "none".
  ExpectRejected(SignWith(EcKey(), R"({"alg":"ES256","alg":"none"})", Claims()),
                 "malformed token header");
  ExpectRejected("!!!." + Split(Signed(EcKey()))[1] + ".AAAA", "malformed token header");
}

TEST(RejectTest, NonObjectPayload) {
  ExpectRejected(SignWith(EcKey(), Header(EcKey()), "[1]"), "malformed token payload");
  ExpectRejected(SignWith(EcKey(), Header(EcKey()), "not json"), "malformed token payload");
}

TEST(RejectTest, MaxLifetimeExceeded) {
  JwtExpectations expect = Expect();
  expect.max_lifetime_seconds = 3600;
  ExpectRejected(Signed(EcKey(), Claims({{"exp", std::to_string(kNow + 365 * 86400)}})),
                 "token lifetime too long", Keys(), expect);
  ExpectAccepted(Signed(EcKey(), Claims({{"exp", std::to_string(kNow + 3000)}})), Keys(), expect);
}

TEST(RejectTest, ExpectationsMustBeSet) {
  std::string token = Signed(EcKey());
  for (auto change :
       {+[](JwtExpectations& e) { e.issuer.clear(); },
        +[](JwtExpectations& e) { e.audience.clear(); }, +[](JwtExpectations& e) { e.now = 0; }}) {
    JwtExpectations expect = Expect();
    change(expect);
    auto claims = VerifyJwt(token, Keys(), expect);
    ASSERT_FALSE(claims.has_value());
    EXPECT_EQ(claims.error().code(), core::Code::kInternal);
  }
}

TEST(VerifyTest, ConcurrentVerificationWithSharedKeys) {
  const KeySet keys = Keys();
  const std::string rsa = Signed(RsaKey()), ec = Signed(EcKey());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!VerifyJwt(i % 2 ? rsa : ec, keys, Expect())) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Unverified decoding.

TEST(DecodeUnverifiedTest, ReturnsHeaderAndClaimsWithoutAKey) {
  std::string token = Signed(RsaKey());
  auto jwt = DecodeJwtUnverified(token);
  ASSERT_TRUE(jwt.has_value()) << jwt.error().ToString();
  EXPECT_EQ(jwt->alg, Algorithm::kRS256);
  EXPECT_EQ(jwt->kid, RsaKey().kid());
  EXPECT_EQ(jwt->header_json, Header(RsaKey()));
  EXPECT_EQ(jwt->claims.sub, "client-1");
  EXPECT_EQ(jwt->claims.payload_json, Claims());
}

TEST(DecodeUnverifiedTest, AppliesTheStructuralChecks) {
  EXPECT_FALSE(DecodeJwtUnverified(Join(R"({"alg":"none"})", Claims(), "")).has_value());
  EXPECT_FALSE(DecodeJwtUnverified(Signed(EcKey()) + ".AAAA").has_value());
  std::string crit = R"({"alg":"ES256","crit":["b64"],"b64":false})";
  EXPECT_FALSE(DecodeJwtUnverified(SignWith(EcKey(), crit, Claims())).has_value());
  auto bad_claim = DecodeJwtUnverified(Signed(EcKey(), Claims({{"exp", "\"soon\""}})));
  ASSERT_FALSE(bad_claim.has_value());
  EXPECT_EQ(bad_claim.error().code(), core::Code::kUnauthenticated);
}

}  // namespace
}  // namespace medulla::security
