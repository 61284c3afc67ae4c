// The clients registered with the built-in token endpoint (token_service.h): backend services
// such as a hospital system, a kiosk or a device gateway, each with its role, the most it may be
// granted, and the public keys (JWKS) that verify its signed client assertions (SMART Backend
// Services). They live in DATA/clients.json, written by `medulla client add/remove` and re-read
// by a running server when the file changes, so registering or revoking a client needs no
// restart.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "security/jose.h"
#include "security/principal.h"

namespace medulla::security {

struct RegisteredClient {
  std::string client_id;  // 1-128 of [A-Za-z0-9._:-]
  std::string name;       // for people; may be empty
  Role role = Role::kDevice;
  std::string scope;  // the most its tokens may carry, space-separated SMART scopes
  std::string patient;
  std::string organization;
  KeySet keys;  // verify its client assertions
};

inline constexpr size_t kMaxClientsFileBytes = 4 * 1024 * 1024;

// Checks one client's fields (id syntax, role bindings, at least one key); the error names what.
core::Status ValidateClient(const RegisteredClient& client);
// {"clients":[{"client_id":..,"name":..,"role":..,"scope":..,"patient":..,"organization":..,
//   "jwks":{"keys":[..]}}]}. Every client is validated; ids are unique.
core::Result<std::vector<RegisteredClient>> ParseClients(std::string_view json);
std::string SerializeClients(const std::vector<RegisteredClient>& clients);

// DATA/clients.json. A missing file is no clients.
std::string ClientsFilePath(const std::string& data_dir);
core::Result<std::vector<RegisteredClient>> LoadClientsFile(const std::string& path);
// Replaces the file atomically (temporary file, fsync, rename; mode 0600).
core::Status SaveClientsFile(const std::string& path, const std::vector<RegisteredClient>& clients);

// The registry a running server consults. Thread-safe.
class ClientRegistry {
 public:
  explicit ClientRegistry(std::string path) : path_(std::move(path)) {}

  // The client with that id, after re-reading the file if it changed since the last call.
  // kNotFound when there is no such client; kInternal when the file cannot be read or parsed
  // (then no client is trusted until it is fixed: a half-edited registry must not keep a
  // revoked client alive).
  core::Result<std::shared_ptr<const RegisteredClient>> Find(std::string_view client_id);

 private:
  core::Status RefreshLocked();

  std::string path_;
  std::mutex mu_;
  struct Stamp {
    bool exists = false;
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  std::optional<Stamp> loaded_;  // the file state `clients_` was read from
  core::Status load_error_;
  std::vector<std::shared_ptr<const RegisteredClient>> clients_;
};

}  // namespace medulla::security
