#include "security/client_registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "json/parse.h"
#include "json/write.h"

namespace medulla::security {
namespace {

bool ValidClientId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != ':') {
      return false;
    }
  }
  return true;
}

}  // namespace

core::Status ValidateClient(const RegisteredClient& client) {
  if (!ValidClientId(client.client_id)) {
    return core::InvalidArgument(
        fmt::format("client id '{}' must be 1 to 128 of A-Z a-z 0-9 . _ : -", client.client_id));
  }
  if ((client.role == Role::kPatient || client.role == Role::kDevice) && client.patient.empty()) {
    return core::InvalidArgument(fmt::format("client '{}': a {} client needs a patient",
                                             client.client_id, RoleName(client.role)));
  }
  if (client.keys.size() == 0) {
    return core::InvalidArgument(fmt::format(
        "client '{}' has no usable RS256 or ES256 signing key in its JWKS", client.client_id));
  }
  if (ScopeSet::Parse(client.scope).Intersect(RoleCeiling(client.role)).empty()) {
    return core::InvalidArgument(fmt::format("client '{}': scope '{}' grants nothing a {} may have",
                                             client.client_id, client.scope,
                                             RoleName(client.role)));
  }
  return core::OkStatus();
}

core::Result<std::vector<RegisteredClient>> ParseClients(std::string_view text) {
  auto doc = json::Parse(text);
  if (!doc) return core::Fail(core::InvalidArgument("not JSON: " + doc.error().message()));
  const json::Value* list = doc->root()->is_object() ? doc->root()->Find("clients") : nullptr;
  if (!list || !list->is_array()) {
    return core::Fail(core::InvalidArgument("expected {\"clients\":[...]}"));
  }
  std::vector<RegisteredClient> out;
  std::set<std::string, std::less<>> ids;
  for (const json::Value* c : list->items()) {
    if (!c->is_object()) return core::Fail(core::InvalidArgument("a client is not an object"));
    RegisteredClient client;
    client.client_id = std::string(c->StringOr("client_id"));
    client.name = std::string(c->StringOr("name"));
    client.scope = std::string(c->StringOr("scope"));
    client.patient = std::string(c->StringOr("patient"));
    client.organization = std::string(c->StringOr("organization"));
    auto role = ParseRole(c->StringOr("role"));
    if (!role) {
      return core::Fail(core::InvalidArgument(
          fmt::format("client '{}': unknown role '{}'", client.client_id, c->StringOr("role"))));
    }
    client.role = *role;
    const json::Value* jwks = c->Find("jwks");
    if (!jwks || !jwks->is_object()) {
      return core::Fail(
          core::InvalidArgument(fmt::format("client '{}' has no jwks", client.client_id)));
    }
    auto keys = KeySet::FromJwks(json::Write(*jwks));
    if (!keys) {
      return core::Fail(core::InvalidArgument(
          fmt::format("client '{}': {}", client.client_id, keys.error().message())));
    }
    client.keys = std::move(*keys);
    if (core::Status s = ValidateClient(client); !s.ok()) return core::Fail(s);
    if (!ids.insert(client.client_id).second) {
      return core::Fail(
          core::InvalidArgument(fmt::format("client '{}' is registered twice", client.client_id)));
    }
    out.push_back(std::move(client));
  }
  return out;
}

std::string SerializeClients(const std::vector<RegisteredClient>& clients) {
  std::string out = "{\"clients\":[";
  for (size_t i = 0; i < clients.size(); ++i) {
    const RegisteredClient& c = clients[i];
    out += i ? ",\n" : "\n";
    out += "{\"client_id\":";
    json::WriteString(c.client_id, out);
    auto field = [&out](std::string_view name, std::string_view value) {
      if (value.empty()) return;
      out += ',';
      json::WriteString(name, out);
      out += ':';
      json::WriteString(value, out);
    };
    field("name", c.name);
    field("role", RoleName(c.role));
    field("scope", c.scope);
    field("patient", c.patient);
    field("organization", c.organization);
    out += ",\"jwks\":";
    out += c.keys.ToJwks();
    out += '}';
  }
  out += "\n]}\n";
  return out;
}

std::string ClientsFilePath(const std::string& data_dir) {
  return data_dir + "/clients.json";
}

core::Result<std::vector<RegisteredClient>> LoadClientsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::vector<RegisteredClient>{};
    return core::Fail(
        core::Internal(fmt::format("cannot read {}: {}", path, std::strerror(errno))));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxClientsFileBytes) {
    return core::Fail(
        core::Internal(fmt::format("{} is larger than {} bytes", path, kMaxClientsFileBytes)));
  }
  auto clients = ParseClients(text.str());
  if (!clients)
    return core::Fail(core::Internal(fmt::format("{}: {}", path, clients.error().message())));
  return clients;
}

core::Status SaveClientsFile(const std::string& path,
                             const std::vector<RegisteredClient>& clients) {
  std::string text = SerializeClients(clients);
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return core::Internal(fmt::format("cannot create {}: {}", tmp, std::strerror(errno)));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return core::Internal(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  // The rename itself must survive a crash: sync the directory.
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return core::OkStatus();
}

core::Status ClientRegistry::RefreshLocked() {
  Stamp now;
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    now = Stamp{true, st.st_ino, st.st_size,
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  } else if (errno != ENOENT) {
    return core::Internal(fmt::format("cannot stat {}: {}", path_, std::strerror(errno)));
  }
  if (loaded_ && *loaded_ == now) return load_error_;
  loaded_ = now;
  clients_.clear();
  auto clients = LoadClientsFile(path_);
  if (!clients) {
    load_error_ = clients.error();
    return load_error_;
  }
  load_error_ = core::OkStatus();
  for (auto& c : *clients)
    clients_.push_back(std::make_shared<const RegisteredClient>(std::move(c)));
  return load_error_;
}

core::Result<std::shared_ptr<const RegisteredClient>> ClientRegistry::Find(
    std::string_view client_id) {
  std::lock_guard lock(mu_);
  if (core::Status s = RefreshLocked(); !s.ok()) return core::Fail(s);
  for (const auto& c : clients_) {
    if (c->client_id == client_id) return c;
  }
  return core::Fail(core::NotFound(fmt::format("no client '{}' is registered", client_id)));
}

}  // namespace medulla::security
