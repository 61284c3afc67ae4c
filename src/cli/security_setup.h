// The security set-up shared by `medulla serve` and `medulla token`: the data directory's keys
// and the issuer and audience tokens carry (the built-in ones unless configured).
#pragma once

#include <string>

#include "cli/config.h"
#include "core/status.h"
#include "security/jose.h"
#include "security/local_keys.h"

namespace medulla::cli {

struct SecuritySetup {
  security::LocalKeys keys;
  std::string issuer;
  std::string audience;
  security::KeySet trusted;  // the built-in key, plus security.jwks_file's
};

core::Result<SecuritySetup> SetUpSecurity(const Config& config);

}  // namespace medulla::cli
