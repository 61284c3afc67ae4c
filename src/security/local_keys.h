// The data directory's own secrets, made on first use in DATA/keys/ (mode 0700; files 0600):
//   token-signing.pem  the built-in token issuer's private key (RS256, PKCS#8)
//   audit.key          the audit log's chain key (audit_log.h), 32 random bytes, hex
//   instance           a random id naming this installation: the built-in issuer and
//                      audience are urn:medulla:<instance>
// `medulla serve` and `medulla token` both call LoadOrCreateLocalKeys; files are created
// with O_EXCL and written before they are linked into place, so two processes starting
// together agree on one key.
#pragma once

#include <string>

#include "core/status.h"
#include "security/jose.h"

namespace medulla::security {

struct LocalKeys {
  SigningKey signing;
  std::string audit_key;  // raw bytes
  std::string instance;
  std::string issuer() const { return "urn:medulla:" + instance; }
  std::string audience() const { return "urn:medulla:" + instance + ":fhir"; }
};

core::Result<LocalKeys> LoadOrCreateLocalKeys(const std::string& data_dir);

}  // namespace medulla::security
