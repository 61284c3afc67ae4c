#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/ssl/context.hpp>

#include <fmt/format.h>

namespace medulla::http {
namespace {

// TLS 1.2 suites: ECDHE (forward secrecy) with AES-GCM or ChaCha20-Poly1305, as in Mozilla's
// "intermediate" server profile (https://wiki.mozilla.org/Security/Server_Side_TLS, v5.7).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3 suites are all AEAD with forward secrecy; these are OpenSSL's defaults, made explicit.
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";

// The reasons OpenSSL queued for the failed call, oldest first, and clears the queue.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace

core::Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(
    const TlsFiles& files) {
  namespace ssl = boost::asio::ssl;
  if (files.certificate_chain.empty() || files.private_key.empty()) {
    return core::Fail(core::InvalidArgument("TLS needs both a certificate chain and a key file"));
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  ERR_clear_error();
  auto fail = [](std::string what) {
    return core::Fail(core::InvalidArgument(fmt::format("{}: {}", what, OpenSslErrors())));
  };
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return fail("TLS minimum version");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) return fail("TLS 1.2 ciphers");
  if (SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1) return fail("TLS 1.3 suites");
  if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) return fail("TLS key exchange groups");
  if (SSL_CTX_use_certificate_chain_file(ctx, files.certificate_chain.c_str()) != 1) {
    return fail(fmt::format("TLS certificate chain '{}'", files.certificate_chain));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.private_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail(fmt::format("TLS private key '{}'", files.private_key));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail(fmt::format("TLS private key '{}' does not match certificate '{}'",
                            files.private_key, files.certificate_chain));
  }
  return context;
}

}  // namespace medulla::http
