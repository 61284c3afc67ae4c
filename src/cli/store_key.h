// The store key, for encryption at rest of the embedded store (store/sqlite/encrypted_vfs.h):
// 64 hex digits, from a file (store.key_file, or MEDULLA_STORE_KEY_FILE, which wins) or from
// MEDULLA_STORE_KEY itself. A key file must be the owner's alone (mode 0600 or stricter), like
// an SSH key. Every command that opens the store (serve, import, reindex, audit verify) takes
// the key the same way.
#pragma once

#include <string>

#include "core/status.h"

namespace medulla::cli {

// The raw 32-byte key, or "" when none is configured (the store is not encrypted).
core::Result<std::string> LoadStoreKey(const std::string& configured_key_file = "");

}  // namespace medulla::cli
