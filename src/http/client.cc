#include "http/client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include "http/loopback.h"

namespace medulla::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// The request, sent and answered on `stream` (a tcp_stream or an ssl_stream over one).
template <typename Stream>
asio::awaitable<void> Exchange(Stream& stream, const Url& url, const ClientRequest& request,
                               const FetchOptions& options,
                               std::chrono::steady_clock::time_point deadline,
                               core::Result<ClientResponse>& out) {
  beast::http::request<beast::http::string_body> req(beast::http::string_to_verb(request.method),
                                                     url.target, 11);
  req.set(beast::http::field::host, url.host);
  req.set(beast::http::field::user_agent, "medulla");
  req.set(beast::http::field::accept, "application/json");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (!request.content_type.empty())
    req.set(beast::http::field::content_type, request.content_type);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    req.body() = request.body;
    req.prepare_payload();
  }
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await beast::http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(options.max_body_bytes);
  beast::error_code ec;
  co_await beast::http::async_read(stream, buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec == beast::http::error::body_limit) {
    out = core::Fail(core::TooLarge(
        fmt::format("the response is larger than {} bytes", options.max_body_bytes)));
    co_return;
  }
  if (ec) throw beast::system_error(ec);
  auto& res = parser.get();
  out = ClientResponse{.status = static_cast<int>(res.result_int()), .body = std::move(res.body())};
}

asio::awaitable<void> Run(asio::io_context& ioc, const Url& url, const ClientRequest& request,
                          const FetchOptions& options, asio::ssl::context* tls,
                          core::Result<ClientResponse>& out) {
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  tcp::resolver resolver(ioc);
  beast::tcp_stream tcp_stream(ioc);
  tcp_stream.expires_at(deadline);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port, asio::use_awaitable);
  if (!tls) {
    co_await tcp_stream.async_connect(endpoints, asio::use_awaitable);
    co_await Exchange(tcp_stream, url, request, options, deadline, out);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), *tls);
  // SNI, and the name the certificate must carry (RFC 6125 host name check by OpenSSL).
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()) ||
      !SSL_set1_host(stream.native_handle(), url.host.c_str())) {
    out = core::Fail(core::Internal("cannot set the TLS host name"));
    co_return;
  }
  stream.set_verify_mode(asio::ssl::verify_peer);
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  co_await Exchange(stream, url, request, options, deadline, out);
}

}  // namespace

core::Result<Url> ParseUrl(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return core::Fail(core::InvalidArgument(fmt::format("bad URL '{}': {}", text, why)));
  };
  Url url;
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    url.https = false;
    rest.remove_prefix(7);
  } else {
    return bad("not http:// or https://");
  }
  if (rest.find('#') != std::string_view::npos) return bad("a fragment");
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) url.target = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) return bad("user info");
  std::string_view port;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("an unclosed IPv6 address");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return bad("text after the IPv6 address");
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return bad("no host");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return bad("a port that is not a number");
    }
    url.port = std::string(port);
  } else {
    url.port = url.https ? "443" : "80";
  }
  for (char c : url.target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return bad("a control or space in the path");
  }
  return url;
}

core::Result<ClientResponse> Call(const ClientRequest& request, const FetchOptions& options) {
  const std::string& text = request.url;
  ASSIGN_OR_RETURN(Url url, ParseUrl(text));
  if (!url.https && !IsLoopbackHost(url.host)) {
    return core::Fail(core::InvalidArgument(
        fmt::format("'{}': plain http:// is allowed to loopback addresses only", text)));
  }
  if (beast::http::string_to_verb(request.method) == beast::http::verb::unknown) {
    return core::Fail(core::InvalidArgument(fmt::format("unknown method '{}'", request.method)));
  }
  std::optional<asio::ssl::context> tls;
  if (url.https) {
    tls.emplace(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    if (options.ca_file.empty()) {
      tls->set_default_verify_paths(ec);
    } else {
      tls->load_verify_file(options.ca_file, ec);
    }
    if (ec) {
      return core::Fail(core::InvalidArgument(
          fmt::format("cannot load the CA certificates{}: {}",
                      options.ca_file.empty() ? "" : " from " + options.ca_file, ec.message())));
    }
  }
  asio::io_context ioc;
  core::Result<ClientResponse> out = core::Fail(core::Unavailable("no answer"));
  std::string failure;
  asio::co_spawn(
      ioc, Run(ioc, url, request, options, tls ? &*tls : nullptr, out), [&](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const beast::system_error& err) {
          failure = err.code() == beast::error::timeout ? "timed out" : err.code().message();
        } catch (const std::exception& err) {
          failure = err.what();
        }
      });
  ioc.run();
  if (!failure.empty()) {
    return core::Fail(core::Unavailable(fmt::format("{} {}: {}", request.method, text, failure)));
  }
  if (!out) {
    return core::Fail(core::Status(
        out.error().code(), fmt::format("{} {}: {}", request.method, text, out.error().message())));
  }
  return out;
}

core::Result<std::string> Fetch(const std::string& url, const FetchOptions& options) {
  ASSIGN_OR_RETURN(ClientResponse res, Call(ClientRequest{.url = url}, options));
  if (res.status != 200) {
    return core::Fail(core::Unavailable(fmt::format("GET {}: HTTP status {}", url, res.status)));
  }
  return std::move(res.body);
}

}  // namespace medulla::http
