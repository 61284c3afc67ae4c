// Encryption at rest for the embedded store: a SQLite VFS that seals every page of the
// database and every page in its WAL with AES-256-GCM (store_cipher.h) on the way to the file,
// and opens them on the way back. SQLite above it sees plaintext; the files hold none.
//
// Why a VFS and not SQLCipher: Debian 12's SQLCipher is 3.4.1, built on SQLite 3.15, and the
// store needs UPSERT (3.24) and RETURNING (3.35). SQLite's reserved bytes make room: the
// database is created with 32 bytes reserved at the end of each page (SQLite never touches
// them), and the VFS keeps the page's salt and tag there, so pages stay pages and offsets stay
// SQLite's. The associated data is the page number (database), or the frame's offset and its
// header's page number, commit size and salts (WAL).
//
// What stays in the clear: the 32-byte WAL header and the 24-byte frame headers (page numbers,
// salts, and SQLite's checksum of each frame, computed over the plaintext; all but the checksums
// are bound to the frame's page), and the wal-index
// (-shm: page numbers only). Memory-mapped reads are off for an encrypted database (this VFS
// offers no xFetch), so pages are read through it. Temporary files are not encrypted, so the
// store keeps them in memory (temp_store=MEMORY); any other file kind is refused.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/sqlite/store_cipher.h"

namespace medulla::store::sqlite {

// Bytes reserved at the end of each page of an encrypted database: the salt and the tag.
inline constexpr int kEncryptedPageReserve = static_cast<int>(StoreCipher::kTrailerBytes);

// Registers (once per key and base) an encrypting VFS over `base_vfs` (empty: SQLite's
// default) and returns its name for sqlite3_open_v2.
core::Result<std::string> RegisterEncryptedVfs(const StoreCipher& key, const std::string& base_vfs);

// Before opening a store: checks that the database at db_path (and its WAL) is what the
// configuration says. With a key: refuses a plaintext database and a key that does not open
// page 1. Without one (key == nullptr): refuses an encrypted database. A store not yet created
// passes either way.
core::Status CheckStoreEncryption(const std::string& db_path, const StoreCipher* key);

// What opening a store with or without a key takes, in one call: checks the files
// (CheckStoreEncryption) and, given a key (32 raw bytes; empty: none), registers the
// encrypting VFS over base_vfs.
struct StoreEncryption {
  std::string vfs;                 // to open the database with (base_vfs without a key)
  std::optional<StoreCipher> key;  // the store key, when there is one
};
core::Result<StoreEncryption> PrepareStoreEncryption(const std::string& db_path,
                                                     std::string_view raw_key,
                                                     const std::string& base_vfs);

}  // namespace medulla::store::sqlite
