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
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "core/logging.h"
#include "http/access_log.h"

namespace medulla::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
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

// A close frame's reason: at most 123 bytes (a control frame carries 125, the code takes two), cut
// at a UTF-8 character boundary.
websocket::close_reason MakeCloseReason(websocket::close_code code, std::string_view reason) {
  constexpr size_t kMax = websocket::reason_string::max_size_n;
  if (reason.size() > kMax) {
    size_t n = kMax;
    while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
    reason = reason.substr(0, n);
  }
  return websocket::close_reason(code, reason);
}

// One websocket, shared by its session's coroutines (on the connection's io_context) and the
// application's threads. The io_context may be destroyed before the application lets go of the
// connection: it is only posted to while the session is alive (`ended_` false), under `mu_`,
// and the session sets `ended_` under `mu_` before its frame is gone.
class WsConnection final : public WebSocketConnection,
                           public std::enable_shared_from_this<WsConnection> {
 public:
  // What the session's writer does next.
  struct Next {
    enum Kind { kWait, kMessage, kClose, kAbort, kStop } kind = kWait;
    std::string text;
    websocket::close_reason reason;
  };
  // The session's I/O objects, while it runs; touched on the io_context's thread only.
  struct Io {
    asio::steady_timer* wake;
    beast::tcp_stream* transport;
  };

  WsConnection(asio::io_context& ioc, uint64_t id, size_t max_queue)
      : ioc_(ioc), id_(id), max_queue_(max_queue) {}

  bool Send(std::string text) override {
    {
      std::lock_guard lock(mu_);
      if (closing_ || ended_) return false;
      if (queue_.size() < max_queue_) {
        queue_.push_back(std::move(text));
        KickLocked(false);
        return true;
      }
      // The consumer does not keep up. A close frame would queue behind what it does not read:
      // drop the connection instead.
      closing_ = true;
      abort_ = true;
      std::deque<std::string>().swap(queue_);
      KickLocked(/*always=*/true);
    }
    core::Logger("http")->warn("websocket {}: {} messages queued, the client is cut off", id_,
                               max_queue_);
    return false;
  }

  void Close(std::string_view reason) override {
    RequestClose(websocket::close_code::normal, reason);
  }

  uint64_t id() const override { return id_; }

  bool open() const override {
    std::lock_guard lock(mu_);
    return !closing_ && !ended_;
  }

  // After what is queued, a close frame with that code; no more Send. Thread-safe.
  void RequestClose(websocket::close_code code, std::string_view reason) {
    std::lock_guard lock(mu_);
    if (closing_ || ended_) return;
    closing_ = true;
    close_ = MakeCloseReason(code, reason);
    KickLocked(false);
  }

  void SetPeer(std::shared_ptr<WebSocketPeer> peer) {
    std::lock_guard lock(mu_);
    peer_ = std::move(peer);
  }
  std::shared_ptr<WebSocketPeer> peer() const {
    std::lock_guard lock(mu_);
    return peer_;
  }

  // The writer's next step; on the io_context's thread.
  Next TakeNext() {
    std::lock_guard lock(mu_);
    writer_waiting_ = false;
    Next next;
    if (ended_) {
      next.kind = Next::kStop;
    } else if (abort_) {
      next.kind = Next::kAbort;
    } else if (!queue_.empty()) {
      next.kind = Next::kMessage;
      next.text = std::move(queue_.front());
      queue_.pop_front();
    } else if (close_) {
      next.kind = Next::kClose;
      next.reason = *close_;
    } else {
      writer_waiting_ = true;  // woken by KickLocked
    }
    return next;
  }

  // On the io_context's thread.
  void Attach(Io* io) { io_ = io; }
  void Detach() { io_ = nullptr; }

  // The session is over: Send() fails from now on and nothing more is posted. Thread-safe.
  void End() {
    std::lock_guard lock(mu_);
    ended_ = true;
    std::deque<std::string>().swap(queue_);
  }

  // Ends the connection and tells the peer, once. Thread-safe.
  void Finish() {
    std::shared_ptr<WebSocketPeer> peer;
    {
      std::lock_guard lock(mu_);
      ended_ = true;
      std::deque<std::string>().swap(queue_);
      peer = std::move(peer_);
    }
    if (!peer) return;
    try {
      peer->OnClose();
    } catch (const std::exception& e) {
      core::Logger("http")->error("websocket {}: OnClose threw: {}", id_, e.what());
    }
  }

 private:
  // Wakes the writer if it waits (or, with `always`, makes the session look at abort_ even while
  // the writer is blocked in a write).
  void KickLocked(bool always) {
    if (ended_ || kick_pending_ || !(always || writer_waiting_)) return;
    kick_pending_ = true;
    asio::post(ioc_, [self = shared_from_this()] { self->OnKick(); });
  }

  void OnKick() {
    bool abort;
    {
      std::lock_guard lock(mu_);
      kick_pending_ = false;
      abort = abort_;
    }
    if (!io_) return;  // the writer looks at the state when it starts
    if (abort) {
      boost::system::error_code ec;
      io_->transport->socket().close(ec);
    }
    io_->wake->cancel();
  }

  asio::io_context& ioc_;
  const uint64_t id_;
  const size_t max_queue_;
  Io* io_ = nullptr;
  mutable std::mutex mu_;
  std::deque<std::string> queue_;                 // GUARDED_BY(mu_)
  std::optional<websocket::close_reason> close_;  // GUARDED_BY(mu_)
  std::shared_ptr<WebSocketPeer> peer_;           // GUARDED_BY(mu_); reset once told
  bool closing_ = false;                          // GUARDED_BY(mu_)
  bool abort_ = false;                            // GUARDED_BY(mu_)
  bool ended_ = false;                            // GUARDED_BY(mu_)
  bool writer_waiting_ = false;                   // GUARDED_BY(mu_)
  bool kick_pending_ = false;                     // GUARDED_BY(mu_)
};

// The open websockets, for drain. Shared with the sessions, whose frames may be destroyed with
// their io_context.
class WsRegistry {
 public:
  void Add(const std::shared_ptr<WsConnection>& c) {
    bool draining;
    {
      std::lock_guard lock(mu_);
      open_[c->id()] = c;
      draining = draining_;
    }
    count_.fetch_add(1);
    if (draining) c->RequestClose(websocket::close_code::going_away, "server shutting down");
  }
  void Remove(uint64_t id) {
    std::lock_guard lock(mu_);
    if (open_.erase(id)) count_.fetch_sub(1);
  }
  // Asks every open websocket, and any opened from now on, to close (going away).
  void Drain() {
    for (auto& c : Snapshot(true)) {
      c->RequestClose(websocket::close_code::going_away, "server shutting down");
    }
  }
  // The websockets still open, forgotten by the registry.
  std::vector<std::shared_ptr<WsConnection>> TakeAll() {
    auto all = Snapshot(false);
    std::lock_guard lock(mu_);
    count_.fetch_sub(static_cast<int64_t>(open_.size()));
    open_.clear();
    return all;
  }
  int64_t count() const { return count_.load(); }

 private:
  std::vector<std::shared_ptr<WsConnection>> Snapshot(bool drain) {
    std::vector<std::shared_ptr<WsConnection>> out;
    std::lock_guard lock(mu_);
    if (drain) draining_ = true;
    for (auto& [id, weak] : open_) {
      if (auto c = weak.lock()) out.push_back(std::move(c));
    }
    return out;
  }

  std::mutex mu_;
  std::unordered_map<uint64_t, std::weak_ptr<WsConnection>> open_;  // GUARDED_BY(mu_)
  bool draining_ = false;                                           // GUARDED_BY(mu_)
  std::atomic<int64_t> count_{0};
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
                                         "versions, weak ciphers, timeouts, non-TLS clients).")),
        websockets_(metrics.GetGauge("medulla_websocket_connections",
                                     "Open WebSocket connections (also counted in "
                                     "medulla_http_connections).")) {
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
    // Websockets that did not end within the grace period: nothing serves them any more.
    for (auto& c : ws_registry_->TakeAll()) c->Finish();
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
    ws_registry_->Drain();
    asio::steady_timer t(loops_[0]->ioc);
    while ((in_flight_.load() > 0 || ws_registry_->count() > 0) &&
           std::chrono::steady_clock::now() < deadline) {
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
      Response resp;
      if (options_.websocket && websocket::is_upgrade(breq)) {
        auto conn = std::make_shared<WsConnection>(ioc, conn_id, options_.max_websocket_queue);
        std::shared_ptr<WebSocketPeer> peer = DecideUpgrade(req, conn, resp);
        if (peer) {
          conn->SetPeer(std::move(peer));
          co_await ServeWebSocket(stream, ioc, breq, std::move(conn), req, started);
          break;  // the connection ends with its websocket
        }
        conn->Finish();  // refused: Send() fails from now on
      } else {
        auto pending = std::make_shared<PendingReply>(ioc);
        try {
          handler_(req, Responder(pending));
        } catch (const std::exception& e) {
          // A bug at the boundary: log, count, answer 500, keep serving.
          core::Logger("http")->error("conn {} handler threw: {}", conn_id, e.what());
          pending->Complete(RenderError(500, "internal error"));
        }
        resp = co_await pending->Wait();
      }

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

  // Asks the application about an upgrade request: a peer accepts it; otherwise `refusal` is the
  // answer.
  std::shared_ptr<WebSocketPeer> DecideUpgrade(const Request& req,
                                               const std::shared_ptr<WsConnection>& conn,
                                               Response& refusal) {
    if (draining_.load()) {
      refusal = RenderError(503, "server is shutting down");
      return nullptr;
    }
    try {
      auto decision = options_.websocket(req, conn);
      if (auto* r = std::get_if<Response>(&decision)) {
        refusal = std::move(*r);
        return nullptr;
      }
      if (auto peer = std::get<std::shared_ptr<WebSocketPeer>>(std::move(decision))) return peer;
      core::Logger("http")->error("conn {} websocket handler returned no peer", req.connection_id);
    } catch (const std::exception& e) {
      core::Logger("http")->error("conn {} websocket handler threw: {}", req.connection_id,
                                  e.what());
    }
    refusal = RenderError(500, "internal error");
    return nullptr;
  }

  // Accepts an upgrade the application took and serves the websocket until it ends. A reader
  // (this coroutine) and a writer (spawned on the same single-threaded io_context) share the
  // websocket stream: Beast allows one read and one write (or close) outstanding at a time.
  // Counted in flight until the 101 is written.
  template <typename Stream>
  asio::awaitable<void> ServeWebSocket(Stream& stream, asio::io_context& ioc,
                                       const bhttp::request<bhttp::string_body>& breq,
                                       std::shared_ptr<WsConnection> conn, const Request& req,
                                       std::chrono::steady_clock::time_point started) {
    // However this frame ends (also destroyed with its io_context), the application hears of
    // it once.
    struct Ender {
      std::shared_ptr<WsConnection> conn;
      ~Ender() {
        conn->Detach();
        conn->Finish();
      }
    } ender{conn};
    auto& transport = beast::get_lowest_layer(stream);
    websocket::stream<Stream&> ws(stream);
    // Beast's server timeouts (handshake, close, idle with pings) replace the stream's own.
    transport.expires_never();
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.read_message_max(options_.max_websocket_message_bytes);
    ws.text(true);
    boost::system::error_code ec;
    co_await ws.async_accept(breq, asio::redirect_error(asio::use_awaitable, ec));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (ec) {
      // A malformed upgrade, which Beast answered itself (426 for a version other than 13,
      // else 400), or the 101 could not be written.
      core::Logger("http")->debug("conn {} websocket upgrade failed: {}", req.connection_id,
                                  ec.message());
      int status = 101;
      if (ec == websocket::error::bad_sec_version) {
        status = 426;
      } else if (ec.category() ==
                 websocket::make_error_code(websocket::error::no_host).category()) {
        status = 400;
      }
      in_flight_.fetch_sub(1);
      in_flight_gauge_.Add(-1);
      RecordRequest(req, status, 0, seconds);
      co_return;
    }
    // Registered before it leaves the in-flight count, so that drain cannot miss it.
    std::shared_ptr<WsRegistry> registry = ws_registry_;
    registry->Add(conn);
    core::Gauge* gauge = &websockets_;
    gauge->Add(1);
    struct Unregister {
      WsRegistry* registry;
      core::Gauge* gauge;
      std::shared_ptr<WsConnection> conn;
      ~Unregister() {
        // The application hears first: once drain sees no websocket, OnClose has run.
        conn->Detach();
        conn->Finish();
        registry->Remove(conn->id());
        gauge->Add(-1);
      }
    } unregister{registry.get(), gauge, conn};
    in_flight_.fetch_sub(1);
    in_flight_gauge_.Add(-1);
    RecordRequest(req, 101, 0, seconds);

    asio::steady_timer wake(ioc, asio::steady_timer::time_point::max());
    asio::steady_timer writer_wait(ioc, asio::steady_timer::time_point::max());
    WsConnection::Io io{&wake, &transport};
    conn->Attach(&io);
    // The writer refers to this frame's locals: it is waited for below. Should the io_context
    // be destroyed first, both frames go without the handler being called.
    bool writer_done = false;
    asio::co_spawn(ioc, WriteWebSocket(ws, conn, wake),
                   [&writer_done, &writer_wait](std::exception_ptr) {
                     writer_done = true;
                     writer_wait.cancel();
                   });

    std::shared_ptr<WebSocketPeer> peer = conn->peer();
    beast::flat_buffer buffer;
    for (;;) {
      co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      if (!ws.got_text()) {
        conn->RequestClose(websocket::close_code::unknown_data, "text messages only");
      } else if (conn->open()) {
        try {
          peer->OnMessage(
              std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size()));
        } catch (const std::exception& e) {
          core::Logger("http")->error("websocket {}: OnMessage threw: {}", conn->id(), e.what());
          conn->RequestClose(websocket::close_code::internal_error, "internal error");
        }
      }
      buffer.consume(buffer.size());
    }
    // Closed by either side, timed out, cut off, or too large a message (Beast has sent 1009).
    core::Logger("http")->debug("websocket {} ended: {}", conn->id(), ec.message());
    conn->End();
    wake.cancel();
    if (!writer_done) {
      // Whatever the writer waits for on this connection will not come.
      transport.socket().close(ec);
      while (!writer_done) {
        co_await writer_wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    conn->Detach();
  }

  // Sends what the application queues on a websocket, and its close frame.
  template <typename WsStream>
  static asio::awaitable<void> WriteWebSocket(WsStream& ws, std::shared_ptr<WsConnection> conn,
                                              asio::steady_timer& wake) {
    boost::system::error_code ec;
    for (;;) {
      WsConnection::Next next = conn->TakeNext();
      switch (next.kind) {
        case WsConnection::Next::kWait:
          co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          break;
        case WsConnection::Next::kMessage:
          co_await ws.async_write(asio::buffer(next.text),
                                  asio::redirect_error(asio::use_awaitable, ec));
          if (ec) {
            // The reader may be waiting on a peer that is gone.
            beast::get_lowest_layer(ws).socket().close(ec);
            co_return;
          }
          break;
        case WsConnection::Next::kClose:
          // Sends the close frame; the reader receives the answer and tears the connection down.
          co_await ws.async_close(next.reason, asio::redirect_error(asio::use_awaitable, ec));
          if (ec) beast::get_lowest_layer(ws).socket().close(ec);
          co_return;
        case WsConnection::Next::kAbort:
          beast::get_lowest_layer(ws).socket().close(ec);
          co_return;
        case WsConnection::Next::kStop:
          co_return;
      }
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
  core::Gauge& websockets_;
  std::shared_ptr<WsRegistry> ws_registry_ = std::make_shared<WsRegistry>();
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
