// The HTTP/1.1 server: Boost.Beast over Asio, one io_context run by a pool of threads, one
// coroutine per connection on its own strand. Keep-alive, size limits (413 body, 431 headers),
// read and idle timeouts, TLS (http/tls.h), structured access logs, request metrics, graceful
// drain; WebSocket upgrades (http/websocket.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/metrics.h"
#include "core/status.h"
#include "http/message.h"
#include "http/tls.h"
#include "http/websocket.h"

namespace medulla::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see Server::port())
  size_t threads = 0;    // 0: one per hardware thread
  size_t max_body_bytes = 8 * 1024 * 1024;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds read_timeout{30000};  // for a whole request once it has started
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive connection with no request
  size_t max_connections = 10000;
  bool access_log = true;  // one JSON line per request on stdout
  // Both set: HTTPS only (http/tls.h has the protocol and cipher policy). Both empty: plain HTTP.
  TlsFiles tls;
  std::chrono::milliseconds handshake_timeout{10000};
  // Renders the responses the server makes itself (413, 431, 400 for malformed HTTP, 500 for a
  // handler that threw), so that api/ can answer in its own format (FHIR OperationOutcome).
  std::function<Response(int status, std::string_view message)> render_error;
  // Decides on WebSocket upgrade requests; unset, they are handled as ordinary requests. An
  // accepted websocket counts as an open connection until it ends; the read and idle timeouts
  // give way to WebSocket keepalive pings (Beast's suggested server timeouts).
  WebSocketHandler websocket;
  // A larger incoming message closes the connection with close code 1009.
  size_t max_websocket_message_bytes = 64 * 1024;
  // Messages queued for sending on one websocket; past it the connection is cut off.
  size_t max_websocket_queue = 4096;
};

class Server {
 public:
  // Binds and starts listening; requests are served once Run() is called.
  static core::Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler handler,
                                                     core::MetricsRegistry& metrics);
  virtual ~Server() = default;

  virtual uint16_t port() const = 0;
  // Whether it serves HTTPS.
  virtual bool secure() const = 0;
  // Serves on the thread pool until Shutdown completes; returns then.
  virtual void Run() = 0;
  // Stops accepting, lets in-flight requests finish (up to `grace`), sends open websockets a
  // close frame (going away) and waits for them to end (within the same `grace`), closes
  // connections, and makes Run() return. Thread-safe; callable from a signal handler's strand.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
  // Requests being handled right now.
  virtual int64_t InFlight() const = 0;
};

}  // namespace medulla::http
