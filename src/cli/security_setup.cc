#include "cli/security_setup.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace medulla::cli {

core::Result<SecuritySetup> SetUpSecurity(const Config& config) {
  ASSIGN_OR_RETURN(security::LocalKeys keys, security::LoadOrCreateLocalKeys(config.data_dir));
  SecuritySetup setup{std::move(keys), {}, {}, {}};
  setup.issuer = config.security.issuer.empty() ? setup.keys.issuer() : config.security.issuer;
  setup.audience =
      config.security.audience.empty() ? setup.keys.audience() : config.security.audience;
  if (!config.security.jwks_file.empty()) {
    std::ifstream in(config.security.jwks_file);
    if (!in) {
      return core::Fail(core::InvalidArgument(
          fmt::format("security.jwks_file: cannot read {}", config.security.jwks_file)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto external = security::KeySet::FromJwks(text.str());
    if (!external) {
      return core::Fail(core::InvalidArgument(fmt::format(
          "security.jwks_file {}: {}", config.security.jwks_file, external.error().message())));
    }
    setup.trusted = std::move(*external);
  }
  setup.trusted.Add(setup.keys.signing.Public());
  return setup;
}

}  // namespace medulla::cli
