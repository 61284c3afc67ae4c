// medulla client add|list|remove: the clients registered with the built-in token endpoint
// (security/client_registry.h). A running server picks changes up on the next token request.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "security/client_registry.h"

namespace medulla::cli {
namespace {

// Serialises read-modify-write of clients.json between concurrent `medulla client` runs.
class RegistryLock {
 public:
  explicit RegistryLock(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~RegistryLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

int Fail(std::string_view message) {
  std::fprintf(stderr, "medulla client: %.*s\n", static_cast<int>(message.size()), message.data());
  return 2;
}

}  // namespace

int RunClient(const ClientArgs& args) {
  std::string data_dir = args.data_dir.empty() ? "var/medulla" : args.data_dir;
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  std::string path = security::ClientsFilePath(data_dir);
  RegistryLock lock(path + ".lock");
  if (!lock.ok()) return Fail(fmt::format("cannot lock {}.lock", path));
  auto clients = security::LoadClientsFile(path);
  if (!clients) return Fail(clients.error().message());

  if (args.action == "list") {
    for (const auto& c : *clients) {
      std::printf("%s\trole=%s\tscope=%s%s%s%s\tkeys=%zu\n", c.client_id.c_str(),
                  std::string(security::RoleName(c.role)).c_str(), c.scope.c_str(),
                  c.patient.empty() ? "" : ("\tpatient=" + c.patient).c_str(),
                  c.organization.empty() ? "" : ("\torganization=" + c.organization).c_str(),
                  c.name.empty() ? "" : ("\tname=" + c.name).c_str(), c.keys.size());
    }
    return 0;
  }
  auto existing = std::find_if(clients->begin(), clients->end(),
                               [&](const auto& c) { return c.client_id == args.id; });
  if (args.action == "remove") {
    if (existing == clients->end()) return Fail(fmt::format("no client '{}'", args.id));
    clients->erase(existing);
  } else {  // add (or replace)
    auto role = security::ParseRole(args.role);
    if (!role) return Fail(fmt::format("unknown role '{}'", args.role));
    std::ifstream in(args.jwks_file, std::ios::binary);
    if (!in) return Fail(fmt::format("cannot read {}", args.jwks_file));
    std::ostringstream jwks;
    jwks << in.rdbuf();
    auto keys = security::KeySet::FromJwks(jwks.str());
    if (!keys) return Fail(fmt::format("{}: {}", args.jwks_file, keys.error().message()));
    security::RegisteredClient client{
        .client_id = args.id,
        .name = args.name,
        .role = *role,
        .scope = args.scope.empty() ? std::string(security::DefaultScopes(*role)) : args.scope,
        .patient = args.patient,
        .organization = args.organization,
        .keys = std::move(*keys),
    };
    if (core::Status s = security::ValidateClient(client); !s.ok()) return Fail(s.message());
    if (existing != clients->end()) {
      *existing = std::move(client);
    } else {
      clients->push_back(std::move(client));
    }
  }
  if (core::Status s = security::SaveClientsFile(path, *clients); !s.ok()) {
    return Fail(s.message());
  }
  std::fprintf(stderr, "%s client '%s' (%zu registered)\n",
               args.action == "remove" ? "removed" : "registered", args.id.c_str(),
               clients->size());
  return 0;
}

}  // namespace medulla::cli
