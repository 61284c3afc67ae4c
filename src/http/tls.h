// The TLS settings every listener uses (docs/security.md, "Transport"): TLS 1.2 and 1.3 only;
// for TLS 1.2 only ECDHE key exchange with AEAD ciphers (forward secrecy, no CBC, no RSA key
// transport), no compression, no renegotiation. The certificate chain and key are PEM files.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"

namespace boost::asio::ssl {
class context;
}

namespace medulla::http {

struct TlsFiles {
  std::string certificate_chain;  // PEM: the server certificate, then intermediates
  std::string private_key;        // PEM, unencrypted
};

// Loads the files and checks that the key matches the certificate; the error names the file and
// OpenSSL's reason.
core::Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(
    const TlsFiles& files);

}  // namespace medulla::http
