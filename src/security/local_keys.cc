#include "security/local_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace medulla::security {
namespace {

namespace fs = std::filesystem;

core::Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Fail(core::Internal(fmt::format("cannot read {}", path.string())));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `contents` to a private temporary file, fsyncs it, and links it to `path` unless a
// file is already there (another process won the race: its file is the key). Either way the
// file at `path` is then read back.
core::Result<std::string> CreateOnce(const fs::path& path, const std::string& contents) {
  std::string tmp = fmt::format("{}.tmp.{}", path.string(), ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return core::Fail(
        core::Internal(fmt::format("cannot create {}: {}", tmp, std::strerror(errno))));
  }
  bool ok =
      ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (ok && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) ok = false;
  ::unlink(tmp.c_str());
  if (!ok) {
    return core::Fail(core::Internal(fmt::format("cannot write {}", path.string())));
  }
  return ReadFile(path);
}

core::Result<std::string> LoadOrCreate(const fs::path& path, const auto& make) {
  std::error_code ec;
  if (fs::exists(path, ec)) return ReadFile(path);
  ASSIGN_OR_RETURN(std::string fresh, make());
  return CreateOnce(path, fresh);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

core::Result<LocalKeys> LoadOrCreateLocalKeys(const std::string& data_dir) {
  fs::path dir = fs::path(data_dir) / "keys";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return core::Fail(
        core::Internal(fmt::format("cannot create {}: {}", dir.string(), ec.message())));
  }
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);

  ASSIGN_OR_RETURN(std::string pem,
                   LoadOrCreate(dir / "token-signing.pem", []() -> core::Result<std::string> {
                     ASSIGN_OR_RETURN(SigningKey key, SigningKey::Generate(Algorithm::kRS256));
                     return key.ToPem();
                   }));
  ASSIGN_OR_RETURN(std::string audit_hex,
                   LoadOrCreate(dir / "audit.key", []() -> core::Result<std::string> {
                     return HexEncode(RandomBytes(32)) + "\n";
                   }));
  ASSIGN_OR_RETURN(std::string instance,
                   LoadOrCreate(dir / "instance", []() -> core::Result<std::string> {
                     return HexEncode(RandomBytes(16)) + "\n";
                   }));
  auto signing = SigningKey::FromPem(pem);
  if (!signing) {
    return core::Fail(core::Internal(
        fmt::format("{}: not a usable private key", (dir / "token-signing.pem").string())));
  }
  audit_hex = Trim(std::move(audit_hex));
  if (audit_hex.size() != 64) {
    return core::Fail(
        core::Internal(fmt::format("{}: expected 64 hex digits", (dir / "audit.key").string())));
  }
  std::string audit_key;
  for (size_t i = 0; i < audit_hex.size(); i += 2) {
    unsigned byte = 0;
    auto [end, err] = std::from_chars(audit_hex.data() + i, audit_hex.data() + i + 2, byte, 16);
    if (err != std::errc() || end != audit_hex.data() + i + 2) {
      return core::Fail(core::Internal(fmt::format("{}: not hex", (dir / "audit.key").string())));
    }
    audit_key += static_cast<char>(byte);
  }
  return LocalKeys{std::move(*signing), std::move(audit_key), Trim(std::move(instance))};
}

}  // namespace medulla::security
