// WebSocket (RFC 6455) connections accepted by the HTTP server (http/server.h), for the FHIR
// Subscriptions websocket channel. Text messages only. No Beast here, as in message.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "http/message.h"

namespace medulla::http {

// The server's side of one accepted websocket connection (text messages).
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues a text message; thread-safe, never blocks. False if the connection is closed, or if
  // its send queue is full, in which case the connection is closed (a consumer that cannot keep
  // up is cut off rather than letting memory grow). Messages queued before Close() are sent
  // before the close frame.
  virtual bool Send(std::string text) = 0;
  // Closes with a normal close frame (reason optional); thread-safe; idempotent.
  virtual void Close(std::string_view reason = {}) = 0;
  virtual uint64_t id() const = 0;  // the HTTP connection id
  // Until Close(), a full queue, or the end of the connection.
  virtual bool open() const = 0;
};

// The application's side.
class WebSocketPeer {
 public:
  virtual ~WebSocketPeer() = default;
  virtual void OnMessage(std::string_view text) = 0;  // on the connection's I/O thread
  virtual void OnClose() = 0;                         // exactly once, when it ends for any reason
};

// Decides on an upgrade request (GET with Upgrade: websocket). Returning a Response refuses the
// upgrade with that HTTP answer (401, 403, 404...); returning a peer accepts it. Runs on the
// connection's I/O thread; `connection` may be kept (and Send called) before returning.
using WebSocketHandler = std::function<std::variant<Response, std::shared_ptr<WebSocketPeer>>(
    const Request& request, std::shared_ptr<WebSocketConnection> connection)>;

}  // namespace medulla::http
