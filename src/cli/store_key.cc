#include "cli/store_key.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "store/sqlite/store_cipher.h"

namespace medulla::cli {

core::Result<std::string> LoadStoreKey(const std::string& configured_key_file) {
  using store::sqlite::StoreCipher;
  std::string key_file = configured_key_file;
  if (const char* v = std::getenv("MEDULLA_STORE_KEY_FILE"); v && *v) key_file = v;
  const char* inline_key = std::getenv("MEDULLA_STORE_KEY");
  const bool has_inline = inline_key != nullptr && *inline_key != '\0';
  if (has_inline && !key_file.empty()) {
    return core::Fail(core::InvalidArgument(
        "both a store key file and MEDULLA_STORE_KEY are set: configure one"));
  }
  if (has_inline) {
    auto raw = StoreCipher::ParseHexKey(inline_key);
    if (!raw)
      return core::Fail(core::InvalidArgument("MEDULLA_STORE_KEY: " + raw.error().message()));
    return raw;
  }
  if (key_file.empty()) return std::string();
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return core::Fail(
        core::InvalidArgument(fmt::format("store key file {} is not a readable file", key_file)));
  }
  if ((st.st_mode & 077) != 0) {
    return core::Fail(core::InvalidArgument(
        fmt::format("store key file {} is readable by others (mode {:o}): chmod 600 it", key_file,
                    st.st_mode & 0777)));
  }
  std::ifstream in(key_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return core::Fail(core::InvalidArgument(fmt::format("cannot read {}", key_file)));
  }
  auto raw = StoreCipher::ParseHexKey(text);
  if (!raw) {
    return core::Fail(
        core::InvalidArgument(fmt::format("{}: {}", key_file, raw.error().message())));
  }
  return raw;
}

}  // namespace medulla::cli
