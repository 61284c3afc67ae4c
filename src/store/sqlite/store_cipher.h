// Encryption at rest of the embedded store: AES-256-GCM (OpenSSL EVP) over database pages, WAL
// frames (encrypted_vfs.h) and audit journal records (audit_journal.h).
//
// Each sealed block carries a fresh random 128-bit salt and a 128-bit tag (32 bytes, the
// "trailer"), and binds where it lives (page number, frame, file chunk) as associated data, so
// a block moved elsewhere fails to open. The block is sealed under a key of its own,
// HMAC-SHA256(key, salt), with a fixed nonce: a key is then never used twice (until two salts
// collide, past 2^48 seals), where random 96-bit nonces under one key would reach NIST SP
// 800-38D's bound of 2^32 seals (8.3) in days of a busy store's page writes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace medulla::security {
class HmacSha256Key;
}

namespace medulla::store::sqlite {

class StoreCipher {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kSaltBytes = 16;
  static constexpr size_t kTagBytes = 16;
  static constexpr size_t kTrailerBytes = kSaltBytes + kTagBytes;

  // The key of the store, 32 raw bytes.
  static core::Result<StoreCipher> FromKey(std::string_view raw);
  // Parses a key written as 64 hex digits (surrounding white space allowed).
  static core::Result<std::string> ParseHexKey(std::string_view text);

  StoreCipher(const StoreCipher&) = default;
  StoreCipher& operator=(const StoreCipher&) = default;
  ~StoreCipher();

  // A key of its own for one use of the master key (HMAC-SHA256 of the purpose), so pages and
  // journal records never share a key.
  StoreCipher Derive(std::string_view purpose) const;

  // Encrypts data in place and writes salt and tag to trailer. False only if OpenSSL fails.
  bool Seal(std::span<uint8_t> data, std::span<const uint8_t> aad,
            std::span<uint8_t, kTrailerBytes> trailer) const;
  // Decrypts in place; false if the tag does not match (wrong key, damage, a moved block).
  bool Open(std::span<uint8_t> data, std::span<const uint8_t> aad,
            std::span<const uint8_t, kTrailerBytes> trailer) const;

  // The same on strings: seals buffer[from..] in place and appends the trailer (false only if
  // OpenSSL fails); opens `sealed` (data, then its trailer) into `out`, false if it is too short
  // to hold a trailer or does not open.
  bool SealTail(std::string& buffer, size_t from, std::string_view aad = {}) const;
  bool OpenSealed(std::string_view sealed, std::string& out, std::string_view aad = {}) const;

  // A short, non-secret name of the key (the start of a hash of it), to tell keys apart.
  std::string Fingerprint() const;

 private:
  explicit StoreCipher(std::string_view raw);
  std::array<uint8_t, kKeyBytes> key_{};
  // The key keyed once for HMAC: it derives each block's key from the block's salt.
  std::shared_ptr<const security::HmacSha256Key> block_keys_;
};

}  // namespace medulla::store::sqlite
