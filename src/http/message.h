// Plain request/response types: what handlers see. No Beast here, so the domain stays free of
// the HTTP library.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medulla::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string_view path() const;
  std::string_view query() const;  // after '?', or empty
  // Header names are lower-case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  // peer address
  uint64_t connection_id = 0;
  bool secure = false;  // arrived over TLS

  // The value of the first header with that (lower-case) name, or empty.
  std::string_view Header(std::string_view lower_name) const;
  bool HasHeader(std::string_view lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type;  // empty: no Content-Type (and no body expected)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response Text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
};

// Completes one request. Send may be called from any thread, exactly once; a Responder dropped
// without Send answers 500, so a forgotten path never hangs a client.
class Responder {
 public:
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void Complete(Response response) = 0;
  };
  explicit Responder(std::shared_ptr<Sink> sink) : sink_(std::move(sink)) {}
  Responder(Responder&&) noexcept = default;
  Responder& operator=(Responder&&) noexcept = default;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();

  void Send(Response response);

 private:
  std::shared_ptr<Sink> sink_;
};

using Handler = std::function<void(Request& request, Responder responder)>;

}  // namespace medulla::http
