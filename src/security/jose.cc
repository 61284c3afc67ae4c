#include "security/jose.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <variant>

#include "json/parse.h"
#include "json/value.h"
#include "json/write.h"

namespace medulla::security {
namespace {

// ---------------------------------------------------------------------------------------------
// OpenSSL ownership and error hygiene.

template <auto F>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    F(p);
  }
};
using UniquePkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

// Leaves this thread's OpenSSL error queue empty on every exit, so a failure here (a bad key,
// a bad signature) does not show up later as a stale error in unrelated OpenSSL callers.
class ClearErrorsOnExit {
 public:
  ClearErrorsOnExit() = default;
  ClearErrorsOnExit(const ClearErrorsOnExit&) = delete;
  ClearErrorsOnExit& operator=(const ClearErrorsOnExit&) = delete;
  ~ClearErrorsOnExit() { ERR_clear_error(); }
};

[[noreturn]] void ThrowCryptoFailure(const char* what) {
  ERR_clear_error();
  throw std::runtime_error(std::string("OpenSSL failure: ") + what);
}

internal::KeyHandle Share(UniquePkey key) {
  return internal::KeyHandle(key.release(), EVP_PKEY_free);
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// PEM readers must never prompt on a terminal for a passphrase: refuse encrypted PEM.
int NoPassphrase(char*, int, int, void*) {
  return -1;
}

constexpr size_t kMaxPemBytes = 64 * 1024;
constexpr json::ParseLimits kJwkLimits{.max_bytes = 64 * 1024, .max_depth = 8};
constexpr json::ParseLimits kJwksLimits{.max_bytes = 1024 * 1024, .max_depth = 16};
// Token parts: a header holds a few members, claims may nest (FHIR-ish "fhirContext" etc.).
constexpr json::ParseLimits kHeaderLimits{.max_bytes = kMaxJwtBytes, .max_depth = 8};
constexpr json::ParseLimits kClaimsLimits{.max_bytes = kMaxJwtBytes, .max_depth = 32};

core::Result<Bio> ReadBio(std::string_view pem) {
  if (pem.empty() || pem.size() > kMaxPemBytes) return core::Fail(core::InvalidArgument("bad PEM"));
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) ThrowCryptoFailure("BIO_new_mem_buf");
  return bio;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) ThrowCryptoFailure("BIO_get_mem_data");
  return std::string(data, static_cast<size_t>(len));
}

// ---------------------------------------------------------------------------------------------
// Key parameters: what a public JWK carries, as raw big-endian bytes.

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;
constexpr size_t kP256CoordinateBytes = 32;
constexpr const char* kP256GroupName = "prime256v1";  // OpenSSL's name for NIST P-256

struct PublicParams {
  Algorithm alg = Algorithm::kRS256;
  std::string n, e;  // RSA, minimal length
  std::string x, y;  // EC, 32 bytes each
};

std::string BnBytes(const BIGNUM* bn, int pad) {
  std::string out(pad > 0 ? static_cast<size_t>(pad) : static_cast<size_t>(BN_num_bytes(bn)), '\0');
  int written = pad > 0 ? BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad)
                        : BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  if (written < 0) return {};
  out.resize(static_cast<size_t>(written));
  return out;
}

std::string BnParam(const EVP_PKEY* key, const char* name, int pad) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) ThrowCryptoFailure("EVP_PKEY_get_bn_param");
  Bignum bn(raw);
  std::string out = BnBytes(bn.get(), pad);
  if (out.empty()) ThrowCryptoFailure("BN_bn2bin");
  return out;
}

bool IsP256(const EVP_PKEY* key) {
  char group[64];
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) return false;
  return std::string_view(group, len) == kP256GroupName;
}

// The algorithm a key of this type signs or verifies with, after the strength checks.
core::Result<Algorithm> KeyAlgorithm(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits < kMinRsaBits)
      return core::Fail(core::InvalidArgument("RSA key shorter than 2048 bits"));
    if (bits > kMaxRsaBits)
      return core::Fail(core::InvalidArgument("RSA key longer than 8192 bits"));
    return Algorithm::kRS256;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    if (!IsP256(key)) return core::Fail(core::InvalidArgument("EC key is not on curve P-256"));
    return Algorithm::kES256;
  }
  return core::Fail(core::InvalidArgument("key is neither RSA nor EC P-256"));
}

core::Result<PublicParams> ExportPublic(const EVP_PKEY* key) {
  PublicParams p;
  ASSIGN_OR_RETURN(p.alg, KeyAlgorithm(key));
  if (p.alg == Algorithm::kRS256) {
    p.n = BnParam(key, OSSL_PKEY_PARAM_RSA_N, 0);
    p.e = BnParam(key, OSSL_PKEY_PARAM_RSA_E, 0);
  } else {
    p.x = BnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordinateBytes);
    p.y = BnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordinateBytes);
  }
  return p;
}

core::Result<UniquePkey> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  Params params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) ThrowCryptoFailure("OSSL_PARAM_BLD_to_param");
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx) ThrowCryptoFailure("EVP_PKEY_CTX_new_from_name");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return core::Fail(core::InvalidArgument(std::string(type) + " public key is malformed"));
  }
  return UniquePkey(raw);
}

core::Result<UniquePkey> ImportRsa(std::string_view n_bytes, std::string_view e_bytes) {
  Bignum n(BN_bin2bn(Bytes(n_bytes), static_cast<int>(n_bytes.size()), nullptr));
  Bignum e(BN_bin2bn(Bytes(e_bytes), static_cast<int>(e_bytes.size()), nullptr));
  if (!n || !e) ThrowCryptoFailure("BN_bin2bn");
  int bits = BN_num_bits(n.get());
  if (bits < kMinRsaBits)
    return core::Fail(core::InvalidArgument("RSA key shorter than 2048 bits"));
  if (bits > kMaxRsaBits) return core::Fail(core::InvalidArgument("RSA key longer than 8192 bits"));
  if (!BN_is_odd(n.get())) return core::Fail(core::InvalidArgument("RSA modulus is even"));
  // e: odd, at least 3 and at most 64 bits (OpenSSL refuses larger ones for big moduli anyway).
  if (!BN_is_odd(e.get()) || BN_is_one(e.get()) || BN_num_bits(e.get()) > 64) {
    return core::Fail(core::InvalidArgument("RSA public exponent is invalid"));
  }
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    ThrowCryptoFailure("OSSL_PARAM_BLD_push_BN");
  }
  return FromData("RSA", bld.get());
}

core::Result<UniquePkey> ImportP256(std::string_view x, std::string_view y) {
  if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) {
    return core::Fail(core::InvalidArgument("EC P-256 coordinates must be 32 bytes each"));
  }
  std::string point;  // SEC1 uncompressed: 0x04 || x || y
  point.reserve(1 + 2 * kP256CoordinateBytes);
  point.push_back('\x04');
  point.append(x);
  point.append(y);
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kP256GroupName, 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    ThrowCryptoFailure("OSSL_PARAM_BLD_push");
  }
  auto key = FromData("EC", bld.get());
  if (!key) return core::Fail(core::InvalidArgument("EC point is not on P-256"));
  // Point on the curve, not the identity, in the right subgroup.
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check) ThrowCryptoFailure("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_public_check(check.get()) != 1) {
    return core::Fail(core::InvalidArgument("EC point is not on P-256"));
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// ECDSA signature encodings: JWS uses the fixed 64-byte r||s, OpenSSL uses DER.

std::optional<std::string> RawToDer(std::string_view raw) {
  if (raw.size() != 2 * kP256CoordinateBytes) return std::nullopt;
  EcdsaSig sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(Bytes(raw), kP256CoordinateBytes, nullptr);
  BIGNUM* s = BN_bin2bn(Bytes(raw) + kP256CoordinateBytes, kP256CoordinateBytes, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {  // set0 owns r, s on success
    BN_free(r);
    BN_free(s);
    ThrowCryptoFailure("ECDSA_SIG_set0");
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) ThrowCryptoFailure("i2d_ECDSA_SIG");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::optional<std::string> DerToRaw(std::string_view der) {
  const unsigned char* p = Bytes(der);
  EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig || p != Bytes(der) + der.size()) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string rs = BnBytes(r, kP256CoordinateBytes);
  std::string ss = BnBytes(s, kP256CoordinateBytes);
  if (rs.size() != kP256CoordinateBytes || ss.size() != kP256CoordinateBytes) return std::nullopt;
  return rs + ss;
}

// ---------------------------------------------------------------------------------------------
// JSON helpers.

void AppendMember(std::string& out, std::string_view key, std::string_view value) {
  if (out.size() > 1) out.push_back(',');
  json::WriteString(key, out);
  out.push_back(':');
  json::WriteString(value, out);
}

// A member that must be a string when present: nullopt when absent.
core::Result<std::optional<std::string_view>> OptionalString(const json::Value& object,
                                                             std::string_view key) {
  const json::Value* v = object.Find(key);
  if (v == nullptr) return std::optional<std::string_view>();
  if (!v->is_string()) {
    return core::Fail(
        core::InvalidArgument("JWK member '" + std::string(key) + "' is not a string"));
  }
  return std::optional<std::string_view>(v->text());
}

core::Result<std::string> RequiredBase64Url(const json::Value& jwk, std::string_view key) {
  ASSIGN_OR_RETURN(std::optional<std::string_view> text, OptionalString(jwk, key));
  if (!text) return core::Fail(core::InvalidArgument("JWK has no '" + std::string(key) + "'"));
  std::optional<std::string> bytes = Base64UrlDecode(*text);
  if (!bytes || bytes->empty()) {
    return core::Fail(
        core::InvalidArgument("JWK member '" + std::string(key) + "' is not base64url"));
  }
  return std::move(*bytes);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Building PublicKey values (a friend of PublicKey).

struct PublicKeyBuilder {
  // A public-only key from its parameters, with all the checks; kid empty means the thumbprint.
  static core::Result<PublicKey> Build(const PublicParams& p, std::string_view kid) {
    PublicKey key;
    key.alg_ = p.alg;
    UniquePkey pkey;
    std::string canonical;  // RFC 7638 §3.2: required members only, lexicographic order
    if (p.alg == Algorithm::kRS256) {
      ASSIGN_OR_RETURN(pkey, ImportRsa(p.n, p.e));
      std::string n = Base64UrlEncode(p.n), e = Base64UrlEncode(p.e);
      canonical = "{\"e\":\"" + e + "\",\"kty\":\"RSA\",\"n\":\"" + n + "\"}";
      key.jwk_members_ = "\"kty\":\"RSA\",\"n\":\"" + n + "\",\"e\":\"" + e + "\"";
    } else {
      ASSIGN_OR_RETURN(pkey, ImportP256(p.x, p.y));
      std::string x = Base64UrlEncode(p.x), y = Base64UrlEncode(p.y);
      canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" + x + "\",\"y\":\"" + y + "\"}";
      key.jwk_members_ = "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + x + "\",\"y\":\"" + y + "\"";
    }
    key.thumbprint_ = Base64UrlEncode(Sha256(canonical));
    key.kid_ = kid.empty() ? key.thumbprint_ : std::string(kid);
    key.key_ = Share(std::move(pkey));
    return key;
  }

  // A key this library does not verify with: why (for FromJwk's error).
  struct Skipped {
    std::string reason;
  };

  static core::Result<std::variant<PublicKey, Skipped>> ParseJwk(const json::Value& jwk) {
    using Out = std::variant<PublicKey, Skipped>;
    if (!jwk.is_object()) return core::Fail(core::InvalidArgument("JWK is not an object"));
    ASSIGN_OR_RETURN(std::optional<std::string_view> kty, OptionalString(jwk, "kty"));
    if (!kty) return core::Fail(core::InvalidArgument("JWK has no 'kty'"));
    ASSIGN_OR_RETURN(std::optional<std::string_view> use, OptionalString(jwk, "use"));
    if (use && *use != "sig") return Out(Skipped{"JWK 'use' is not 'sig'"});
    if (const json::Value* ops = jwk.Find("key_ops")) {
      if (!ops->is_array())
        return core::Fail(core::InvalidArgument("JWK 'key_ops' is not an array"));
      bool verify = false;
      for (const json::Value* op : ops->items()) {
        if (!op->is_string()) {
          return core::Fail(core::InvalidArgument("JWK 'key_ops' holds a non-string"));
        }
        verify = verify || op->text() == "verify";
      }
      if (!verify) return Out(Skipped{"JWK 'key_ops' lacks 'verify'"});
    }
    ASSIGN_OR_RETURN(std::optional<std::string_view> alg_name, OptionalString(jwk, "alg"));
    std::optional<Algorithm> alg;
    if (alg_name) {
      alg = ParseAlgorithm(*alg_name);
      if (!alg) return Out(Skipped{"JWK 'alg' is not RS256 or ES256"});
    }
    ASSIGN_OR_RETURN(std::optional<std::string_view> kid, OptionalString(jwk, "kid"));

    PublicParams p;
    if (*kty == "RSA") {
      p.alg = Algorithm::kRS256;
      for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
        if (jwk.Find(secret)) {
          return core::Fail(
              core::InvalidArgument("JWK holds private key members; publish only public keys"));
        }
      }
      ASSIGN_OR_RETURN(p.n, RequiredBase64Url(jwk, "n"));
      ASSIGN_OR_RETURN(p.e, RequiredBase64Url(jwk, "e"));
      // RFC 7518 §6.3.1 wants no leading zero octets; some libraries add one. Accept it, but
      // keep the minimal form so that the thumbprint and ToJwk are canonical.
      p.n.erase(0, std::min(p.n.find_first_not_of('\0'), p.n.size()));
      p.e.erase(0, std::min(p.e.find_first_not_of('\0'), p.e.size()));
    } else if (*kty == "EC") {
      p.alg = Algorithm::kES256;
      ASSIGN_OR_RETURN(std::optional<std::string_view> crv, OptionalString(jwk, "crv"));
      if (!crv) return core::Fail(core::InvalidArgument("JWK has no 'crv'"));
      if (*crv != "P-256") return Out(Skipped{"JWK curve is not P-256"});
      if (jwk.Find("d")) {
        return core::Fail(
            core::InvalidArgument("JWK holds private key members; publish only public keys"));
      }
      ASSIGN_OR_RETURN(p.x, RequiredBase64Url(jwk, "x"));
      ASSIGN_OR_RETURN(p.y, RequiredBase64Url(jwk, "y"));
    } else {
      return Out(Skipped{"JWK 'kty' is not RSA or EC"});
    }
    if (alg && *alg != p.alg) {
      return core::Fail(core::InvalidArgument("JWK 'alg' does not match its 'kty'"));
    }
    ASSIGN_OR_RETURN(PublicKey key, Build(p, kid.value_or("")));
    return Out(std::move(key));
  }
};

// ---------------------------------------------------------------------------------------------
// Algorithms and primitives.

std::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kRS256:
      return "RS256";
    case Algorithm::kES256:
      return "ES256";
  }
  return "?";
}

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  if (name == "RS256") return Algorithm::kRS256;
  if (name == "ES256") return Algorithm::kES256;
  return std::nullopt;
}

namespace {
constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kBase64UrlAlphabet[i])] = i;
  return table;
}
constexpr std::array<int8_t, 256> kBase64UrlDecode = MakeDecodeTable();
}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out.push_back(kBase64UrlAlphabet[v >> 18]);
    out.push_back(kBase64UrlAlphabet[(v >> 12) & 63]);
    out.push_back(kBase64UrlAlphabet[(v >> 6) & 63]);
    out.push_back(kBase64UrlAlphabet[v & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = at(i) << 16;
    out.push_back(kBase64UrlAlphabet[v >> 18]);
    out.push_back(kBase64UrlAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8;
    out.push_back(kBase64UrlAlphabet[v >> 18]);
    out.push_back(kBase64UrlAlphabet[(v >> 12) & 63]);
    out.push_back(kBase64UrlAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int8_t v = kBase64UrlDecode[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits (2 or 4) must be zero: one encoding per byte string.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    ThrowCryptoFailure("SHA-256");
  }
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  static const unsigned char kEmpty = 0;  // OpenSSL wants a non-null key pointer
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (key.size() > INT_MAX ||
      HMAC(EVP_sha256(), key.empty() ? &kEmpty : Bytes(key), static_cast<int>(key.size()),
           Bytes(data), data.size(), mac, &len) == nullptr ||
      len != 32) {
    ThrowCryptoFailure("HMAC-SHA256");
  }
  return std::string(reinterpret_cast<char*>(mac), len);
}

struct HmacSha256Key::States {
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  using Ctx = std::unique_ptr<EVP_MD_CTX, CtxFree>;
  Ctx inner, outer;  // SHA-256 after (key ^ ipad), after (key ^ opad)

  static Ctx NewCtx() {
    Ctx ctx(EVP_MD_CTX_new());
    if (!ctx) ThrowCryptoFailure("HMAC-SHA256");
    return ctx;
  }
};

HmacSha256Key::HmacSha256Key(std::string_view key) : states_(std::make_unique<States>()) {
  constexpr size_t kBlock = 64;  // SHA-256's block size
  // A key longer than the block is hashed first (RFC 2104 §2); a shorter one is zero-padded.
  std::string k = key.size() > kBlock ? Sha256(key) : std::string(key);
  k.resize(kBlock, '\0');
  std::string ipad(kBlock, '\0'), opad(kBlock, '\0');
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = static_cast<char>(k[i] ^ 0x36);
    opad[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  for (auto [ctx, pad] : {std::pair{&states_->inner, &ipad}, std::pair{&states_->outer, &opad}}) {
    *ctx = States::NewCtx();
    if (EVP_DigestInit_ex(ctx->get(), EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx->get(), pad->data(), pad->size()) != 1) {
      ThrowCryptoFailure("HMAC-SHA256");
    }
  }
  OPENSSL_cleanse(k.data(), k.size());
  OPENSSL_cleanse(ipad.data(), ipad.size());
  OPENSSL_cleanse(opad.data(), opad.size());
}

HmacSha256Key::~HmacSha256Key() = default;
HmacSha256Key::HmacSha256Key(HmacSha256Key&&) noexcept = default;
HmacSha256Key& HmacSha256Key::operator=(HmacSha256Key&&) noexcept = default;

std::string HmacSha256Key::Mac(std::string_view data) const {
  States::Ctx ctx = States::NewCtx();
  unsigned char inner[EVP_MAX_MD_SIZE];
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int inner_len = 0, len = 0;
  if (EVP_MD_CTX_copy_ex(ctx.get(), states_->inner.get()) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), inner, &inner_len) != 1 ||
      EVP_MD_CTX_copy_ex(ctx.get(), states_->outer.get()) != 1 ||
      EVP_DigestUpdate(ctx.get(), inner, inner_len) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), mac, &len) != 1 || len != 32) {
    ThrowCryptoFailure("HMAC-SHA256");
  }
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto b = static_cast<unsigned char>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    int chunk = static_cast<int>(std::min<size_t>(n - done, 1 << 20));
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), chunk) != 1) {
      ThrowCryptoFailure("RAND_bytes");
    }
    done += static_cast<size_t>(chunk);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PublicKey.

core::Result<PublicKey> PublicKey::FromJwk(std::string_view jwk_json) {
  ClearErrorsOnExit clear;
  auto doc = json::Parse(jwk_json, kJwkLimits);
  if (!doc) return core::Fail(core::InvalidArgument("JWK is not valid JSON"));
  ASSIGN_OR_RETURN(auto parsed, PublicKeyBuilder::ParseJwk(*doc->root()));
  if (auto* skipped = std::get_if<PublicKeyBuilder::Skipped>(&parsed)) {
    return core::Fail(core::Unsupported(skipped->reason));
  }
  return std::get<PublicKey>(std::move(parsed));
}

core::Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  ClearErrorsOnExit clear;
  ASSIGN_OR_RETURN(Bio bio, ReadBio(pem));
  UniquePkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) return core::Fail(core::InvalidArgument("not a PEM public key"));
  ASSIGN_OR_RETURN(PublicParams params, ExportPublic(key.get()));
  return PublicKeyBuilder::Build(params, "");
}

std::string PublicKey::ToJwk() const {
  std::string out = "{" + jwk_members_;
  AppendMember(out, "alg", AlgorithmName(alg_));
  AppendMember(out, "use", "sig");
  AppendMember(out, "kid", kid_);
  out.push_back('}');
  return out;
}

std::string PublicKey::ToPem() const {
  ClearErrorsOnExit clear;
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1)
    ThrowCryptoFailure("PEM_write_bio_PUBKEY");
  return BioText(bio.get());
}

bool PublicKey::Verify(std::string_view signing_input, std::string_view signature) const {
  ClearErrorsOnExit clear;
  std::string der;
  if (alg_ == Algorithm::kES256) {
    std::optional<std::string> converted = RawToDer(signature);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  } else if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key_.get()))) {
    return false;  // RFC 7518 §3.3: as long as the modulus
  }
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) ThrowCryptoFailure("EVP_MD_CTX_new");
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, key_.get(), nullptr) !=
      1) {
    return false;
  }
  if (alg_ == Algorithm::kRS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(signing_input),
                          signing_input.size()) == 1;
}

// ---------------------------------------------------------------------------------------------
// SigningKey.

SigningKey::SigningKey(Algorithm alg, internal::KeyHandle key, PublicKey public_key)
    : alg_(alg), key_(std::move(key)), public_(std::move(public_key)) {}

namespace {
core::Result<std::pair<UniquePkey, PublicKey>> CheckPrivate(UniquePkey key) {
  ASSIGN_OR_RETURN(PublicParams params, ExportPublic(key.get()));
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) ThrowCryptoFailure("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_pairwise_check(check.get()) != 1) {
    return core::Fail(core::InvalidArgument("private key is inconsistent"));
  }
  ASSIGN_OR_RETURN(PublicKey pub, PublicKeyBuilder::Build(params, ""));
  return std::pair<UniquePkey, PublicKey>(std::move(key), std::move(pub));
}
}  // namespace

core::Result<SigningKey> SigningKey::Generate(Algorithm alg) {
  ClearErrorsOnExit clear;
  UniquePkey key(alg == Algorithm::kRS256
                     ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return core::Fail(core::Internal("key generation failed"));
  ASSIGN_OR_RETURN(auto checked, CheckPrivate(std::move(key)));
  return SigningKey(alg, Share(std::move(checked.first)), std::move(checked.second));
}

core::Result<SigningKey> SigningKey::FromPem(std::string_view pem) {
  ClearErrorsOnExit clear;
  ASSIGN_OR_RETURN(Bio bio, ReadBio(pem));
  UniquePkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) return core::Fail(core::InvalidArgument("not an unencrypted PEM private key"));
  ASSIGN_OR_RETURN(auto checked, CheckPrivate(std::move(key)));
  Algorithm alg = checked.second.algorithm();
  return SigningKey(alg, Share(std::move(checked.first)), std::move(checked.second));
}

std::string SigningKey::ToPem() const {
  ClearErrorsOnExit clear;
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr,
                                            nullptr) != 1) {
    ThrowCryptoFailure("PEM_write_bio_PKCS8PrivateKey");
  }
  return BioText(bio.get());
}

core::Result<std::string> SigningKey::Sign(std::string_view signing_input) const {
  ClearErrorsOnExit clear;
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) ThrowCryptoFailure("EVP_MD_CTX_new");
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, key_.get(), nullptr) !=
          1 ||
      (alg_ == Algorithm::kRS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)) {
    return core::Fail(core::Internal("signing failed"));
  }
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, Bytes(signing_input), signing_input.size()) != 1) {
    return core::Fail(core::Internal("signing failed"));
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     Bytes(signing_input), signing_input.size()) != 1) {
    return core::Fail(core::Internal("signing failed"));
  }
  sig.resize(len);
  if (alg_ == Algorithm::kRS256) return sig;
  std::optional<std::string> raw = DerToRaw(sig);
  if (!raw) return core::Fail(core::Internal("signing failed"));
  return std::move(*raw);
}

core::Result<std::string> SigningKey::SignJwt(std::string_view claims_json) const {
  auto doc = json::Parse(claims_json, kClaimsLimits);
  if (!doc || !doc->root()->is_object()) {
    return core::Fail(core::InvalidArgument("JWT claims are not a JSON object"));
  }
  std::string header = "{";
  AppendMember(header, "alg", AlgorithmName(alg_));
  AppendMember(header, "typ", "JWT");
  AppendMember(header, "kid", kid());
  header.push_back('}');
  std::string token = Base64UrlEncode(header) + "." + Base64UrlEncode(claims_json);
  ASSIGN_OR_RETURN(std::string sig, Sign(token));
  token += ".";
  token += Base64UrlEncode(sig);
  if (token.size() > kMaxJwtBytes) {
    return core::Fail(core::InvalidArgument("JWT claims too large for a token"));
  }
  return token;
}

// ---------------------------------------------------------------------------------------------
// KeySet.

core::Result<KeySet> KeySet::FromJwks(std::string_view jwks_json) {
  ClearErrorsOnExit clear;
  auto doc = json::Parse(jwks_json, kJwksLimits);
  if (!doc) return core::Fail(core::InvalidArgument("JWKS is not valid JSON"));
  const json::Value* root = doc->root();
  const json::Value* keys = root->is_object() ? root->Find("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) {
    return core::Fail(core::InvalidArgument("JWKS has no 'keys' array"));
  }
  KeySet set;
  size_t index = 0;
  for (const json::Value* jwk : keys->items()) {
    auto parsed = PublicKeyBuilder::ParseJwk(*jwk);
    if (!parsed) {
      return core::Fail(core::InvalidArgument("JWKS key " + std::to_string(index) + ": " +
                                              parsed.error().message()));
    }
    if (auto* key = std::get_if<PublicKey>(&*parsed)) set.Add(std::move(*key));
    ++index;
  }
  return set;
}

void KeySet::Add(PublicKey key) {
  keys_.push_back(std::move(key));
}

const PublicKey* KeySet::Find(std::string_view kid, Algorithm alg) const {
  const PublicKey* found = nullptr;
  for (const PublicKey& key : keys_) {
    if (!kid.empty() && key.kid() != kid) continue;
    if (key.algorithm() != alg) continue;
    if (found != nullptr) return nullptr;  // ambiguous
    found = &key;
  }
  return found;
}

std::string KeySet::ToJwks() const {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += keys_[i].ToJwk();
  }
  out += "]}";
  return out;
}

// ---------------------------------------------------------------------------------------------
// JWT.

namespace {

// Beyond year 9999 a NumericDate is nonsense; the bound also keeps the arithmetic far from
// overflow.
constexpr int64_t kMaxNumericDate = 253402300799;

core::Status Reject(std::string reason) {
  return core::Unauthenticated(std::move(reason));
}

struct TokenParts {
  Algorithm alg = Algorithm::kRS256;
  std::string kid;
  std::string header_json;
  std::string_view signing_input;
  std::string payload;  // decoded, not parsed
  std::string signature;
};

// An alg value is echoed only when it is short and plain: the message must not carry arbitrary
// token bytes into logs.
std::string UnsupportedAlg(std::string_view alg) {
  bool plain = !alg.empty() && alg.size() <= 16;
  for (char c : alg) {
    plain = plain && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '+');
  }
  return plain ? "unsupported alg '" + std::string(alg) + "'" : "unsupported alg";
}

core::Result<TokenParts> SplitToken(std::string_view token) {
  if (token.size() > kMaxJwtBytes) return core::Fail(Reject("token too large"));
  size_t first = token.find('.');
  size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return core::Fail(Reject("token is not a compact JWS of three parts"));
  }
  TokenParts t;
  std::optional<std::string> header = Base64UrlDecode(token.substr(0, first));
  if (!header || header->empty()) return core::Fail(Reject("malformed token header"));
  auto doc = json::Parse(*header, kHeaderLimits);
  if (!doc || !doc->root()->is_object()) return core::Fail(Reject("malformed token header"));
  const json::Value& h = *doc->root();
  const json::Value* alg = h.Find("alg");
  if (alg == nullptr || !alg->is_string()) return core::Fail(Reject("token header has no alg"));
  std::optional<Algorithm> parsed = ParseAlgorithm(alg->text());
  if (!parsed) return core::Fail(Reject(UnsupportedAlg(alg->text())));
  t.alg = *parsed;
  // RFC 7515 §4.1.11: extensions listed in "crit" must be understood; we understand none.
  if (h.Find("crit") != nullptr) return core::Fail(Reject("crit header not supported"));
  if (const json::Value* kid = h.Find("kid")) {
    if (!kid->is_string()) return core::Fail(Reject("malformed kid"));
    t.kid = std::string(kid->text());
  }
  t.header_json = std::move(*header);

  std::optional<std::string> payload = Base64UrlDecode(token.substr(first + 1, second - first - 1));
  if (!payload) return core::Fail(Reject("malformed token payload"));
  t.payload = std::move(*payload);
  std::optional<std::string> signature = Base64UrlDecode(token.substr(second + 1));
  if (!signature) return core::Fail(Reject("malformed token signature"));
  t.signature = std::move(*signature);
  t.signing_input = token.substr(0, second);
  return t;
}

std::optional<int64_t> ParseNumericDate(std::string_view text) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  int64_t value = 0;
  auto [p, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || p != end) {
    double d = 0;
    auto [q, ec2] = std::from_chars(begin, end, d);
    if (ec2 != std::errc() || q != end || !std::isfinite(d)) return std::nullopt;
    d = std::trunc(d);
    if (d < -static_cast<double>(kMaxNumericDate) || d > static_cast<double>(kMaxNumericDate)) {
      return std::nullopt;
    }
    value = static_cast<int64_t>(d);
  }
  if (value < -kMaxNumericDate || value > kMaxNumericDate) return std::nullopt;
  return value;
}

core::Result<JwtClaims> ParseClaims(std::string payload) {
  auto doc = json::Parse(payload, kClaimsLimits);
  if (!doc || !doc->root()->is_object()) return core::Fail(Reject("malformed token payload"));
  const json::Value& root = *doc->root();
  JwtClaims c;
  auto malformed = [](std::string_view claim) {
    return core::Fail(Reject("malformed claim '" + std::string(claim) + "'"));
  };
  for (auto [name, field] : {std::pair<std::string_view, std::string*>{"iss", &c.iss},
                             {"sub", &c.sub},
                             {"jti", &c.jti},
                             {"scope", &c.scope},
                             {"client_id", &c.client_id}}) {
    const json::Value* v = root.Find(name);
    if (v == nullptr) continue;
    if (!v->is_string()) return malformed(name);
    *field = std::string(v->text());
  }
  if (const json::Value* aud = root.Find("aud")) {
    if (aud->is_string()) {
      c.aud.emplace_back(aud->text());
    } else if (aud->is_array()) {
      for (const json::Value* item : aud->items()) {
        if (!item->is_string()) return malformed("aud");
        c.aud.emplace_back(item->text());
      }
    } else {
      return malformed("aud");
    }
  }
  for (auto [name, field] : {std::pair<std::string_view, std::optional<int64_t>*>{"exp", &c.exp},
                             {"nbf", &c.nbf},
                             {"iat", &c.iat}}) {
    const json::Value* v = root.Find(name);
    if (v == nullptr) continue;
    if (!v->is_number()) return malformed(name);
    *field = ParseNumericDate(v->text());
    if (!*field) return malformed(name);
  }
  c.payload_json = std::move(payload);
  return c;
}

std::string NoKeyReason(const KeySet& keys, const TokenParts& t) {
  if (t.kid.empty()) {
    size_t n = 0;
    for (const PublicKey& k : keys.keys()) n += k.algorithm() == t.alg ? 1 : 0;
    return n == 0 ? "no key for alg " + std::string(AlgorithmName(t.alg))
                  : "token has no kid and several keys match";
  }
  bool kid_known = false, alg_match = false;
  for (const PublicKey& k : keys.keys()) {
    if (k.kid() != t.kid) continue;
    kid_known = true;
    alg_match = alg_match || k.algorithm() == t.alg;
  }
  if (!kid_known) return "unknown kid";
  if (!alg_match) return "alg does not match the key";
  return "several keys share the kid";
}

}  // namespace

core::Result<JwtClaims> VerifyJwt(std::string_view token, const KeySet& keys,
                                  const JwtExpectations& expect) {
  if (expect.issuer.empty() || expect.audience.empty() || expect.now <= 0) {
    return core::Fail(core::Internal("JwtExpectations needs issuer, audience and now"));
  }
  ASSIGN_OR_RETURN(TokenParts t, SplitToken(token));
  const PublicKey* key = keys.Find(t.kid, t.alg);
  if (key == nullptr) return core::Fail(Reject(NoKeyReason(keys, t)));
  if (!key->Verify(t.signing_input, t.signature)) {
    return core::Fail(Reject("signature does not verify"));
  }
  ASSIGN_OR_RETURN(JwtClaims c, ParseClaims(std::move(t.payload)));

  const int64_t leeway = std::clamp<int64_t>(expect.leeway_seconds, 0, kMaxNumericDate);
  const int64_t now = expect.now;
  if (!c.exp) return core::Fail(Reject("token has no exp"));
  if (now >= *c.exp + leeway) return core::Fail(Reject("token expired"));
  if (c.nbf && now + leeway < *c.nbf) return core::Fail(Reject("token not yet valid"));
  if (c.iat && *c.iat > now + leeway) return core::Fail(Reject("token issued in the future"));
  if (expect.max_lifetime_seconds > 0 && *c.exp - now > expect.max_lifetime_seconds + leeway) {
    return core::Fail(Reject("token lifetime too long"));
  }
  if (c.iss != expect.issuer) return core::Fail(Reject("wrong issuer"));
  bool audience = false;
  for (const std::string& aud : c.aud) audience = audience || aud == expect.audience;
  if (!audience) return core::Fail(Reject("wrong audience"));
  return c;
}

core::Result<UnverifiedJwt> DecodeJwtUnverified(std::string_view token) {
  ASSIGN_OR_RETURN(TokenParts t, SplitToken(token));
  UnverifiedJwt out;
  out.alg = t.alg;
  out.kid = std::move(t.kid);
  out.header_json = std::move(t.header_json);
  ASSIGN_OR_RETURN(out.claims, ParseClaims(std::move(t.payload)));
  return out;
}

}  // namespace medulla::security
