// JOSE for medulla: compact JWS tokens signed with RS256 or ES256 (RFC 7515, RFC 7518), JSON
// Web Keys and key sets (RFC 7517), JWK thumbprints (RFC 7638) and JWT claim checks (RFC 7519),
// plus the few primitives around them (base64url, SHA-256, HMAC-SHA256, randomness).
//
// All cryptography is OpenSSL 3's EVP API; nothing here implements a primitive by hand.
// Why not libjwt (Debian ships 1.10): it has no JWKS support, and its jwt_decode() verifies an
// HS256 token with whatever key it is handed, so a token MACed with an RSA public key (which is
// public) passes when the caller passes that key: the classic algorithm-confusion attack. Here a
// key verifies only the one algorithm it was made for, only RS256 and ES256 exist, and the
// token's own header ("jwk", "jku", "x5u") is never a source of keys.
//
// Error messages never contain token text, claim values or key material. Functions that cannot
// fail on valid input (hashing, encoding a key) throw std::runtime_error if OpenSSL itself fails
// (out of memory, a broken provider).
// Thread-safety: every type is immutable after construction except KeySet::Add; const methods
// may be called from any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header.

namespace medulla::security {

enum class Algorithm { kRS256, kES256 };

std::string_view AlgorithmName(Algorithm alg);  // "RS256" / "ES256"
// Only "RS256" and "ES256"; everything else ("none", "HS256", "RS384", "rs256") is nullopt.
std::optional<Algorithm> ParseAlgorithm(std::string_view name);

// base64url without padding (RFC 7515 §2). Decoding is strict: only the 64 URL-safe characters,
// no '=', '+', '/' or whitespace, no length of the form 4k+1, and unused trailing bits must be
// zero, so every byte string has exactly one accepted encoding.
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

std::string Sha256(std::string_view data);                            // 32 raw bytes
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes

// HMAC-SHA256 under one key, keyed once (RFC 2104 §2): the hash states after the inner and the
// outer padded key are kept and copied for each message. This saves the key block and OpenSSL's
// per-call algorithm lookup where one key MACs many short messages (the audit chain seals every
// entry under its lock). Mac(data) == HmacSha256(key, data).
class HmacSha256Key {
 public:
  explicit HmacSha256Key(std::string_view key);
  ~HmacSha256Key();
  HmacSha256Key(HmacSha256Key&&) noexcept;
  HmacSha256Key& operator=(HmacSha256Key&&) noexcept;

  std::string Mac(std::string_view data) const;  // 32 raw bytes

 private:
  struct States;
  std::unique_ptr<States> states_;
};
std::string HexEncode(std::string_view bytes);  // lower case
// Compares in time that depends only on the lengths (for secrets and MACs).
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// n bytes from OpenSSL's CSPRNG. Throws std::runtime_error if the generator fails: there is no
// safe value to return without randomness.
std::string RandomBytes(size_t n);

namespace internal {
// Shared ownership of an immutable EVP_PKEY.
using KeyHandle = std::shared_ptr<evp_pkey_st>;
}  // namespace internal

// A public key that verifies JWS signatures of exactly one algorithm: RSA (2048 to 8192 bits)
// for RS256, or EC P-256 for ES256.
class PublicKey {
 public:
  // One public JWK (the members are as in KeySet::FromJwks). kUnsupported for a key type,
  // curve, algorithm or use this library does not verify with; kInvalidArgument if malformed.
  static core::Result<PublicKey> FromJwk(std::string_view jwk_json);
  // A SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"); the algorithm follows the key type.
  static core::Result<PublicKey> FromPem(std::string_view pem);

  Algorithm algorithm() const { return alg_; }
  // The JWK's "kid" when it had one, else the RFC 7638 thumbprint.
  const std::string& kid() const { return kid_; }
  // RFC 7638 JWK thumbprint: base64url(SHA-256(canonical JWK members)).
  const std::string& Thumbprint() const { return thumbprint_; }
  // The public JWK: {"kty":"RSA","n":..,"e":..,"alg":"RS256","use":"sig","kid":..} or
  // {"kty":"EC","crv":"P-256","x":..,"y":..,"alg":"ES256","use":"sig","kid":..}.
  std::string ToJwk() const;
  // SubjectPublicKeyInfo PEM.
  std::string ToPem() const;
  // Checks a JWS signature (raw bytes: an RSASSA-PKCS1-v1_5 SHA-256 signature as long as the
  // modulus, or the 64-byte r||s of ES256) over signing_input. False for any other encoding.
  bool Verify(std::string_view signing_input, std::string_view signature) const;

 private:
  friend class SigningKey;
  friend struct PublicKeyBuilder;  // in jose.cc
  PublicKey() = default;

  Algorithm alg_ = Algorithm::kRS256;
  std::string kid_;
  std::string thumbprint_;
  std::string jwk_members_;  // the key's JWK members without alg/use/kid, e.g. "kty":"EC",...
  internal::KeyHandle key_;  // public components only
};

// A private signing key: RSA 2048+ bits for RS256, EC P-256 for ES256.
class SigningKey {
 public:
  // A fresh key: RSA 2048 or P-256.
  static core::Result<SigningKey> Generate(Algorithm alg);
  // A private key PEM: PKCS#8 ("BEGIN PRIVATE KEY") or traditional ("BEGIN RSA PRIVATE KEY",
  // "BEGIN EC PRIVATE KEY"); encrypted PEM is refused, never prompted for. The algorithm follows
  // the key type. kInvalidArgument for anything else, a short RSA key or another curve.
  static core::Result<SigningKey> FromPem(std::string_view pem);

  // Unencrypted PKCS#8 PEM. Secret: store it as such.
  std::string ToPem() const;
  Algorithm algorithm() const { return alg_; }
  // The RFC 7638 thumbprint of the public key.
  const std::string& kid() const { return public_.kid(); }
  const PublicKey& Public() const { return public_; }

  // The raw JWS signature over signing_input (see PublicKey::Verify for its encoding).
  core::Result<std::string> Sign(std::string_view signing_input) const;
  // A compact JWS whose header is {"alg":..,"typ":"JWT","kid":..} and whose payload is
  // claims_json exactly as given (kInvalidArgument unless it is a JSON object).
  core::Result<std::string> SignJwt(std::string_view claims_json) const;

 private:
  SigningKey(Algorithm alg, internal::KeyHandle key, PublicKey public_key);

  Algorithm alg_;
  internal::KeyHandle key_;  // the private key
  PublicKey public_;
};

// A set of verification keys: a JWKS document (RFC 7517 §5) or keys added one by one.
class KeySet {
 public:
  // {"keys":[...]} with RSA keys ("n","e"; 2048 to 8192 bits) and EC P-256 keys ("x","y").
  // A key's algorithm is its "alg" when present (which must agree with its "kty"), else RS256
  // for RSA and ES256 for EC P-256. Skipped, without failing the set: keys with "use" other than
  // "sig", "key_ops" without "verify", another "kty" (including symmetric "oct") or curve, or an
  // "alg" this library does not verify (RS384, PS256, ...). Fails (kInvalidArgument) on malformed
  // JSON, a malformed or weak RSA/EC key, or private members ("d", "p", ...) in a published set.
  static core::Result<KeySet> FromJwks(std::string_view jwks_json);

  void Add(PublicKey key);
  // The key for a token header. With a kid: the key with that kid, which must also be of
  // algorithm alg. Without one: the only key of algorithm alg. nullptr when there is no such key
  // or more than one.
  const PublicKey* Find(std::string_view kid, Algorithm alg) const;
  const std::vector<PublicKey>& keys() const { return keys_; }
  // {"keys":[...]} of public JWKs.
  std::string ToJwks() const;
  size_t size() const { return keys_.size(); }

 private:
  std::vector<PublicKey> keys_;
};

// The registered claims of a verified token, parsed and type-checked.
struct JwtClaims {
  std::string iss, sub, jti, scope, client_id;  // empty when absent
  std::vector<std::string> aud;                 // "aud" as a string or an array of strings
  // NumericDate seconds. Non-integer numbers are truncated; strings are rejected.
  std::optional<int64_t> exp, nbf, iat;
  std::string payload_json;  // the whole payload, for callers' private claims
};

struct JwtExpectations {
  std::string issuer;           // must equal "iss" exactly (required: empty is a caller bug)
  std::string audience;         // must be "aud" or one of its entries (required)
  int64_t now = 0;              // seconds since the epoch (required)
  int64_t leeway_seconds = 60;  // clock skew allowed on exp, nbf and iat
  // > 0: refuses tokens whose exp is more than this (plus leeway) after now.
  int64_t max_lifetime_seconds = 0;
};

inline constexpr size_t kMaxJwtBytes = 16 * 1024;

// Verifies a compact JWS JWT, in this order: at most kMaxJwtBytes; exactly three base64url parts;
// a JSON object header whose "alg" is RS256 or ES256 ("none", HS256, RS384 ... are refused
// before any key is looked at) and which has no "crit"; a key from `keys` for its kid and alg
// (so a key never verifies another algorithm); the signature; then the payload, a JSON object,
// with exp (required), nbf and iat (not in the future) within leeway, iss and aud.
// Errors: kUnauthenticated with a short reason ("token expired", "signature does not verify",
// "unsupported alg 'none'", "wrong audience", ...); kInternal if `expect` lacks issuer, audience
// or now.
core::Result<JwtClaims> VerifyJwt(std::string_view token, const KeySet& keys,
                                  const JwtExpectations& expect);

// The header and payload of a token whose signature has NOT been checked, for flows that choose
// the key from the claims (SMART private_key_jwt client assertions: iss/sub name the client,
// whose keys then go to VerifyJwt). The same structural checks as VerifyJwt up to the key
// lookup; claims are parsed and type-checked but not compared with anything. Trust nothing in it.
struct UnverifiedJwt {
  Algorithm alg = Algorithm::kRS256;
  std::string kid;  // empty when the header has none
  std::string header_json;
  JwtClaims claims;
};
core::Result<UnverifiedJwt> DecodeJwtUnverified(std::string_view token);

}  // namespace medulla::security
