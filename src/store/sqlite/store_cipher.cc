#include "store/sqlite/store_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "security/jose.h"

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

// The nonce: fixed, since every block has a key of its own.
constexpr uint8_t kNonce[12] = {};

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string_view Chars(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

core::Result<StoreCipher> StoreCipher::FromKey(std::string_view raw) {
  if (raw.size() != kKeyBytes) {
    return core::Fail(core::InvalidArgument(
        fmt::format("the store key must be {} bytes, not {}", kKeyBytes, raw.size())));
  }
  if (Gcm() == nullptr) return core::Fail(core::Internal("OpenSSL has no AES-256-GCM"));
  return StoreCipher(raw);
}

StoreCipher::StoreCipher(std::string_view raw)
    : block_keys_(std::make_shared<const security::HmacSha256Key>(raw)) {
  std::copy(raw.begin(), raw.end(), key_.begin());
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

StoreCipher StoreCipher::Derive(std::string_view purpose) const {
  std::string key = security::HmacSha256(Chars(key_), purpose);
  StoreCipher derived(key);
  OPENSSL_cleanse(key.data(), key.size());
  return derived;
}

bool StoreCipher::Seal(std::span<uint8_t> data, std::span<const uint8_t> aad,
                       std::span<uint8_t, kTrailerBytes> trailer) const {
  uint8_t* salt = trailer.data();
  uint8_t* tag = trailer.data() + kSaltBytes;
  if (RAND_bytes(salt, kSaltBytes) != 1) return false;
  std::string block_key = block_keys_->Mac(Chars({salt, kSaltBytes}));
  EVP_CIPHER_CTX* ctx = ThreadContext();
  int n = 0;
  const bool sealed =
      ctx != nullptr &&
      EVP_EncryptInit_ex2(ctx, Gcm(), Bytes(block_key).data(), kNonce, nullptr) == 1 &&
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
  std::string block_key = block_keys_->Mac(Chars(trailer.first<kSaltBytes>()));
  EVP_CIPHER_CTX* ctx = ThreadContext();
  int n = 0;
  const bool opened =
      ctx != nullptr &&
      EVP_DecryptInit_ex2(ctx, Gcm(), Bytes(block_key).data(), kNonce, nullptr) == 1 &&
      (aad.empty() ||
       EVP_DecryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1) &&
      EVP_DecryptUpdate(ctx, data.data(), &n, data.data(), static_cast<int>(data.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
      EVP_DecryptFinal_ex(ctx, data.data() + n, &n) == 1;
  OPENSSL_cleanse(block_key.data(), block_key.size());
  return opened;
}

bool StoreCipher::SealTail(std::string& buffer, size_t from, std::string_view aad) const {
  const size_t size = buffer.size() - from;
  buffer.append(kTrailerBytes, '\0');
  auto* bytes = reinterpret_cast<uint8_t*>(buffer.data()) + from;
  return Seal({bytes, size}, Bytes(aad),
              std::span<uint8_t, kTrailerBytes>(bytes + size, kTrailerBytes));
}

bool StoreCipher::OpenSealed(std::string_view sealed, std::string& out,
                             std::string_view aad) const {
  if (sealed.size() < kTrailerBytes) return false;
  const size_t size = sealed.size() - kTrailerBytes;
  out.assign(sealed.substr(0, size));
  std::array<uint8_t, kTrailerBytes> trailer;
  std::memcpy(trailer.data(), sealed.data() + size, kTrailerBytes);
  return Open({reinterpret_cast<uint8_t*>(out.data()), size}, Bytes(aad), trailer);
}

std::string StoreCipher::Fingerprint() const {
  return security::HexEncode(security::Sha256(Chars(key_))).substr(0, 16);
}

}  // namespace medulla::store::sqlite
