#include "http/server.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/logging.h"
#include "http/access_log.h"

namespace medulla::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OTHER"};
constexpr size_t kMethodCount = 7;

size_t MethodIndex(std::string_view m) {
  for (size_t i = 0; i + 1 < kMethodCount; ++i)
    if (m == kMethods[i]) return i;
  return kMethodCount - 1;
}

// Completes a request from any thread and wakes the connection's coroutine on its
// io_context. Most requests are answered synchronously, so the wake-up timer is only made when
// the coroutine actually has to wait.
class PendingReply final : public Responder::Sink,
                           public std::enable_shared_from_this<PendingReply> {
 public:
  explicit PendingReply(asio::io_context& ioc) : ioc_(ioc) {}

  void Complete(Response response) override {
    bool wake;
    {
      std::lock_guard lock(mu_);
      if (response_) return;
      response_ = std::move(response);
      wake = waiting_;
    }
    if (wake) {
      asio::post(ioc_, [self = shared_from_this()] { self->timer_->cancel(); });
    }
  }

  // Runs on the connection's io_context, which one thread runs: the wake-up posted there can
  // only run after this coroutine has suspended on the timer, so a response is never missed.
  asio::awaitable<Response> Wait() {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (response_) co_return std::move(*response_);
        if (!timer_) {
          timer_.emplace(ioc_);
          timer_->expires_at(asio::steady_timer::time_point::max());
        }
        waiting_ = true;
      }
      boost::system::error_code ec;
      co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

 private:
  asio::io_context& ioc_;
  std::mutex mu_;
  std::optional<asio::steady_timer> timer_;
  std::optional<Response> response_;
  bool waiting_ = false;
};

// Appends s as a JSON string literal (for the access log).
void AppendJsonString(std::string_view s, std::string& out) {
  out.push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, Handler handler, core::MetricsRegistry& metrics)
      : options_(options),
        handler_(std::move(handler)),
        metrics_(metrics),
        connections_(metrics.GetGauge("medulla_http_connections", "Open HTTP connections.")),
        in_flight_gauge_(
            metrics.GetGauge("medulla_http_requests_in_flight", "HTTP requests being handled.")),
        rejected_(metrics.GetCounter("medulla_http_rejected_total",
                                     "Requests refused before reaching a handler (limits, "
                                     "malformed HTTP).")),
        tls_failures_(metrics.GetCounter("medulla_tls_handshake_failures_total",
                                         "TLS handshakes refused or abandoned (old protocol "
                                         "versions, weak ciphers, timeouts, non-TLS clients).")) {
    // One io_context per thread, each run by exactly one thread, and connections spread over
    // them: a connection's handlers never race, so no strands, and threads do not hand work
    // to each other on the hot path.
    size_t n =
        options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
    for (size_t i = 0; i < n; ++i) {
      auto& slot = loops_.emplace_back(std::make_unique<Loop>());
      slot->work.emplace(asio::make_work_guard(slot->ioc));
    }
    acceptor_.emplace(loops_[0]->ioc);
    for (size_t m = 0; m < kMethodCount; ++m) {
      latency_[m] = &metrics.GetHistogram(
          "medulla_http_request_duration_seconds", "Time from a complete request to its response.",
          core::LatencyBuckets(), fmt::format("method=\"{}\"", kMethods[m]));
    }
    if (options_.access_log) access_log_ = std::make_unique<AccessLog>();
  }

  ~ServerImpl() override {
    // Session frames are destroyed with their io_context; they only touch what they own.
    acceptor_.reset();
    loops_.clear();
  }

  core::Status Listen() {
    if (!options_.tls.certificate_chain.empty() || !options_.tls.private_key.empty()) {
      auto context = MakeServerTlsContext(options_.tls);
      if (!context) return context.error();
      tls_ = std::move(*context);
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) return core::InvalidArgument(fmt::format("bad listen address '{}'", options_.host));
    tcp::endpoint endpoint(address, options_.port);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return core::Unavailable(
          fmt::format("cannot listen on {}:{}: {}", options_.host, options_.port, ec.message()));
    }
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(loops_[0]->ioc, Accept(), asio::detached);
    return core::OkStatus();
  }

  uint16_t port() const override { return port_; }
  bool secure() const override { return tls_ != nullptr; }
  int64_t InFlight() const override { return in_flight_.load(); }

  void Run() override {
    std::vector<std::thread> pool;
    for (size_t i = 1; i < loops_.size(); ++i) {
      pool.emplace_back([this, i] { loops_[i]->ioc.run(); });
    }
    loops_[0]->ioc.run();
    for (auto& t : pool) t.join();
    access_log_.reset();  // writes out what is buffered
  }

  void Shutdown(std::chrono::milliseconds grace) override {
    asio::post(loops_[0]->ioc, [this, grace] {
      if (draining_.exchange(true)) return;
      boost::system::error_code ec;
      acceptor_->close(ec);
      asio::co_spawn(loops_[0]->ioc, DrainThenStop(grace), asio::detached);
    });
  }

 private:
  struct Loop {
    asio::io_context ioc{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  };

  asio::awaitable<void> Accept() {
    for (size_t next = 0;; next = (next + 1) % loops_.size()) {
      Loop& loop = *loops_[next];
      tcp::socket socket(loop.ioc);
      boost::system::error_code ec;
      co_await acceptor_->async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (!acceptor_->is_open()) co_return;
        // Out of file descriptors or similar: back off briefly instead of spinning.
        asio::steady_timer t(loops_[0]->ioc, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (connections_.Value() >= static_cast<int64_t>(options_.max_connections)) {
        rejected_.Add();
        socket.close(ec);
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(loop.ioc, Session(std::move(socket), loop.ioc), asio::detached);
    }
  }

  asio::awaitable<void> DrainThenStop(std::chrono::milliseconds grace) {
    auto deadline = std::chrono::steady_clock::now() + grace;
    asio::steady_timer t(loops_[0]->ioc);
    while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      t.expires_after(std::chrono::milliseconds(10));
      boost::system::error_code ec;
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    for (auto& loop : loops_) {
      loop->work.reset();
      loop->ioc.stop();
    }
  }

  Response RenderError(int status, std::string_view message) const {
    if (options_.render_error) return options_.render_error(status, message);
    return Response::Text(status, std::string(message) + "\n");
  }

  template <typename Stream>
  asio::awaitable<void> SendErrorAndClose(Stream& stream, bhttp::status status,
                                          std::string_view diagnostics) {
    Response r = RenderError(static_cast<int>(status), diagnostics);
    bhttp::response<bhttp::string_body> res{status, 11};
    if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
    res.set(bhttp::field::connection, "close");
    res.body() = std::move(r.body);
    res.prepare_payload();
    res.keep_alive(false);
    boost::system::error_code ec;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> Session(tcp::socket socket, asio::io_context& ioc) {
    // Locals only in what may outlive the server: frames are destroyed with the io_context.
    core::Gauge* connections = &connections_;
    connections->Add(1);
    struct Closer {
      core::Gauge* g;
      ~Closer() { g->Add(-1); }
    } closer{connections};

    const uint64_t conn_id = next_conn_id_.fetch_add(1) + 1;
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = fmt::format("{}:{}", ep.address().to_string(), ep.port());
    }
    boost::system::error_code ec;
    if (!tls_) {
      beast::tcp_stream stream(std::move(socket));
      co_await ServeRequests(stream, ioc, conn_id, remote);
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    TlsStream stream(std::move(socket), *tls_);
    beast::get_lowest_layer(stream).expires_after(options_.handshake_timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // An old protocol, a weak cipher, plain HTTP on the TLS port, or a timeout: the peer is
      // told by the alert OpenSSL sent; the reason goes to the debug log only (it is the
      // client's business, and a scanner would fill the log).
      tls_failures_.Add();
      core::Logger("http")->debug("conn {} from {}: TLS handshake failed: {}", conn_id, remote,
                                  ec.message());
      co_return;
    }
    co_await ServeRequests(stream, ioc, conn_id, remote);
    // close_notify, bounded: a peer that has gone does not hold the connection open.
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }

  // Reads requests and writes responses on one connection until it closes, times out or is told
  // to stop keeping alive.
  template <typename Stream>
  asio::awaitable<void> ServeRequests(Stream& stream, asio::io_context& ioc, uint64_t conn_id,
                                      const std::string& remote) {
    auto& transport = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    // Beast reads as much as the buffer has room for (at least 512 bytes): with room for a
    // typical resource, a request arrives in one recv instead of several.
    buffer.reserve(16 * 1024);

    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
      parser.body_limit(options_.max_body_bytes);
      boost::system::error_code ec;
      transport.expires_after(options_.idle_timeout);
      co_await bhttp::async_read_header(stream, buffer, parser,
                                        asio::redirect_error(asio::use_awaitable, ec));
      auto started = std::chrono::steady_clock::now();
      if (!ec && !parser.is_done()) {
        const auto& header = parser.get();
        auto expect = header[bhttp::field::expect];
        if (beast::iequals(expect, "100-continue")) {
          bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
          co_await bhttp::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
        }
        if (!ec) {
          transport.expires_after(options_.read_timeout);
          co_await bhttp::async_read(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
        }
      }
      if (ec) {
        if (ec == bhttp::error::header_limit) {
          rejected_.Add();
          co_await SendErrorAndClose(
              stream, bhttp::status::request_header_fields_too_large,
              fmt::format("request headers exceed {} bytes", options_.max_header_bytes));
        } else if (ec == bhttp::error::body_limit) {
          rejected_.Add();
          co_await SendErrorAndClose(
              stream, bhttp::status::payload_too_large,
              fmt::format("request body exceeds {} bytes", options_.max_body_bytes));
        } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                   ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
          rejected_.Add();
          co_await SendErrorAndClose(stream, bhttp::status::bad_request,
                                     fmt::format("malformed HTTP request: {}", ec.message()));
        }
        // Otherwise: the peer closed, timed out or reset; nothing to answer.
        break;
      }

      bhttp::request<bhttp::string_body> breq = parser.release();
      Request req;
      req.method = std::string(breq.method_string());
      req.target = std::string(breq.target());
      req.headers.reserve(8);
      for (const auto& f : breq) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      req.body = std::move(breq.body());
      req.remote = remote;
      req.connection_id = conn_id;
      req.secure = tls_ != nullptr;
      const bool head = req.method == "HEAD";
      const bool keep_alive = breq.keep_alive();

      in_flight_.fetch_add(1);
      in_flight_gauge_.Add(1);
      auto pending = std::make_shared<PendingReply>(ioc);
      try {
        handler_(req, Responder(pending));
      } catch (const std::exception& e) {
        // A bug at the boundary: log, count, answer 500, keep serving.
        core::Logger("http")->error("conn {} handler threw: {}", conn_id, e.what());
        pending->Complete(RenderError(500, "internal error"));
      }
      Response resp = co_await pending->Wait();

      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(resp.status), 11};
      if (!resp.content_type.empty()) res.set(bhttp::field::content_type, resp.content_type);
      for (auto& [k, v] : resp.headers) res.set(k, v);
      // Browsers that once reached us over TLS keep to it (RFC 6797).
      if (tls_) res.set(bhttp::field::strict_transport_security, "max-age=31536000");
      const size_t body_size = resp.body.size();
      bool keep = keep_alive && !draining_.load();
      res.keep_alive(keep);
      if (head) {
        res.content_length(body_size);
      } else {
        res.body() = std::move(resp.body);
        res.prepare_payload();
      }
      transport.expires_after(options_.read_timeout);
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));

      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      in_flight_.fetch_sub(1);
      in_flight_gauge_.Add(-1);
      RecordRequest(req, resp.status, body_size, seconds);
      if (ec || !keep) break;
    }
  }

  core::Counter& RequestCounter(size_t method, int status) {
    size_t code = status >= 100 && status < 600 ? static_cast<size_t>(status) : 599;
    std::atomic<core::Counter*>& slot = requests_[method * 600 + code];
    core::Counter* c = slot.load(std::memory_order_acquire);
    if (!c) {
      c = &metrics_.GetCounter("medulla_http_requests_total", "HTTP requests answered.",
                               fmt::format("method=\"{}\",code=\"{}\"", kMethods[method], code));
      slot.store(c, std::memory_order_release);
    }
    return *c;
  }

  void RecordRequest(const Request& req, int status, size_t bytes, double seconds) {
    size_t m = MethodIndex(req.method);
    RequestCounter(m, status).Add();
    latency_[m]->Observe(seconds);
    if (access_log_) {
      // Path only: query strings can carry patient data (name=..., birthdate=...).
      std::string line = "{\"conn\":" + std::to_string(req.connection_id) + ",\"remote\":";
      AppendJsonString(req.remote, line);
      line += ",\"method\":";
      AppendJsonString(req.method, line);
      line += ",\"path\":";
      AppendJsonString(req.path(), line);
      line += fmt::format(",\"query\":{},\"status\":{},\"bytes\":{},\"ms\":{:.3f}}}",
                          req.query().empty() ? "false" : "true", status, bytes, seconds * 1000);
      access_log_->Append(line);
    }
  }

  ServerOptions options_;
  // Destroyed last (declared first): sessions may still be suspended in them.
  std::vector<std::unique_ptr<Loop>> loops_;
  std::optional<tcp::acceptor> acceptor_;
  Handler handler_;
  core::MetricsRegistry& metrics_;
  core::Gauge& connections_;
  core::Gauge& in_flight_gauge_;
  core::Counter& rejected_;
  core::Counter& tls_failures_;
  std::shared_ptr<asio::ssl::context> tls_;  // null: plain HTTP
  core::Histogram* latency_[kMethodCount];
  std::atomic<core::Counter*> requests_[kMethodCount * 600] = {};
  std::unique_ptr<AccessLog> access_log_;
  std::atomic<uint64_t> next_conn_id_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};
  uint16_t port_ = 0;
};

}  // namespace

core::Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler handler,
                                                    core::MetricsRegistry& metrics) {
  auto server = std::make_unique<ServerImpl>(options, std::move(handler), metrics);
  RETURN_IF_ERROR(server->Listen());
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace medulla::http
