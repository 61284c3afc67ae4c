#include "store/sqlite/store_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

namespace medulla::store::sqlite {
namespace {

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Fetched once: OpenSSL 3's implicit fetch (EVP_aes_256_gcm) costs a lookup on every init.
const EVP_CIPHER* Gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

// One context per thread, re-keyed per block (the key schedule is ~100 ns next to the page).
EVP_CIPHER_CTX* ThreadContext() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

core::Result<StoreCipher> StoreCipher::FromKey(std::string_view raw) {
  if (raw.size() != kKeyBytes) {
    return core::Fail(core::InvalidArgument(
        fmt::format("the store key must be {} bytes, not {}", kKeyBytes, raw.size())));
  }
  if (Gcm() == nullptr) return core::Fail(core::Internal("OpenSSL has no AES-256-GCM"));
  StoreCipher cipher;
  std::copy(raw.begin(), raw.end(), cipher.key_.begin());
  return cipher;
}

core::Result<std::string> StoreCipher::ParseHexKey(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.size() != 2 * kKeyBytes) {
    return core::Fail(core::InvalidArgument(
        fmt::format("the store key must be {} hex digits (openssl rand -hex 32), not {} characters",
                    2 * kKeyBytes, text.size())));
  }
  std::string raw(kKeyBytes, '\0');
  for (size_t i = 0; i < kKeyBytes; ++i) {
    int hi = HexValue(text[2 * i]);
    int lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return core::Fail(core::InvalidArgument("the store key must be hex digits only"));
    }
    raw[i] = static_cast<char>(hi * 16 + lo);
  }
  return raw;
}

StoreCipher::~StoreCipher() {
  OPENSSL_cleanse(key_.data(), key_.size());
}

namespace {

// HMAC-SHA256(key, message) into out (32 bytes). OpenSSL fails here only when out of memory:
// carrying on with a zero key would be worse than stopping.
void HmacSha256(const uint8_t* key, size_t key_size, const uint8_t* message, size_t size,
                uint8_t* out) {
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key, static_cast<int>(key_size), message, size, out, &length) == nullptr ||
      length != StoreCipher::kKeyBytes) {
    std::abort();
  }
}

// The nonce: fixed, since every block has a key of its own.
constexpr uint8_t kNonce[12] = {};

}  // namespace

StoreCipher StoreCipher::Derive(std::string_view purpose) const {
  StoreCipher derived;
  HmacSha256(key_.data(), key_.size(), reinterpret_cast<const uint8_t*>(purpose.data()),
             purpose.size(), derived.key_.data());
  return derived;
}

bool StoreCipher::Seal(std::span<uint8_t> data, std::span<const uint8_t> aad,
                       std::span<uint8_t, kTrailerBytes> trailer) const {
  uint8_t* salt = trailer.data();
  uint8_t* tag = trailer.data() + kSaltBytes;
  if (RAND_bytes(salt, kSaltBytes) != 1) return false;
  std::array<uint8_t, kKeyBytes> block_key;
  HmacSha256(key_.data(), key_.size(), salt, kSaltBytes, block_key.data());
  EVP_CIPHER_CTX* ctx = ThreadContext();
  int n = 0;
  const bool sealed =
      ctx != nullptr && EVP_EncryptInit_ex2(ctx, Gcm(), block_key.data(), kNonce, nullptr) == 1 &&
      (aad.empty() ||
       EVP_EncryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1) &&
      EVP_EncryptUpdate(ctx, data.data(), &n, data.data(), static_cast<int>(data.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx, data.data() + n, &n) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) == 1;
  OPENSSL_cleanse(block_key.data(), block_key.size());
  return sealed;
}

bool StoreCipher::Open(std::span<uint8_t> data, std::span<const uint8_t> aad,
                       std::span<const uint8_t, kTrailerBytes> trailer) const {
  uint8_t tag[kTagBytes];
  std::copy(trailer.begin() + kSaltBytes, trailer.end(), tag);
  std::array<uint8_t, kKeyBytes> block_key;
  HmacSha256(key_.data(), key_.size(), trailer.data(), kSaltBytes, block_key.data());
  EVP_CIPHER_CTX* ctx = ThreadContext();
  int n = 0;
  const bool opened =
      ctx != nullptr && EVP_DecryptInit_ex2(ctx, Gcm(), block_key.data(), kNonce, nullptr) == 1 &&
      (aad.empty() ||
       EVP_DecryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1) &&
      EVP_DecryptUpdate(ctx, data.data(), &n, data.data(), static_cast<int>(data.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
      EVP_DecryptFinal_ex(ctx, data.data() + n, &n) == 1;
  OPENSSL_cleanse(block_key.data(), block_key.size());
  return opened;
}

std::string StoreCipher::Fingerprint() const {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(key_.data(), key_.size(), digest);
  return fmt::format("{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", digest[0], digest[1],
                     digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]);
}

}  // namespace medulla::store::sqlite
