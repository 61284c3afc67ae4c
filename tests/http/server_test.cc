#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace medulla::http {
namespace {

// A blocking loopback client speaking raw bytes, so tests control exactly what is sent.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Reads one response (headers plus Content-Length bytes), or what arrived before close.
  std::string ReadResponse() {
    std::string buf;
    char tmp[65536];
    for (;;) {
      size_t end = buf.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t cl = 0;
        size_t p = buf.find("Content-Length: ");
        if (p != std::string::npos && p < end) cl = std::stoul(buf.substr(p + 16));
        if (buf.size() >= end + 4 + cl) return buf.substr(0, end + 4 + cl);
      }
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return buf;
      buf.append(tmp, static_cast<size_t>(n));
    }
  }
  bool ClosedByPeer() {
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class ServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = {}) {
    options.port = 0;
    options.threads = 2;
    options.access_log = false;
    auto s = Server::Start(
        options,
        [this](Request& req, Responder res) {
          ++handled_;
          if (req.path() == "/async") {
            // Answer from another thread, as the store's commit thread does.
            std::thread([r = std::move(res)]() mutable {
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
              r.Send(Response::Text(201, "later"));
            }).detach();
            return;
          }
          if (req.path() == "/drop") return;  // Responder destroyed unsent: 500
          res.Send(Response::Text(200, req.method + " " + std::string(req.path()) + " " +
                                           std::to_string(req.body.size())));
        },
        metrics_);
    ASSERT_TRUE(s) << s.error().ToString();
    server_ = std::move(*s);
    runner_ = std::thread([this] { server_->Run(); });
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(2000));
    if (runner_.joinable()) runner_.join();
  }
  core::MetricsRegistry metrics_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
  std::atomic<int> handled_{0};
};

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Start();
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    c.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string r = c.ReadResponse();
    EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
    EXPECT_NE(r.find("GET /a 0"), std::string::npos) << r;
  }
  EXPECT_EQ(handled_.load(), 3);
}

TEST_F(ServerTest, AsyncResponderAnswersFromAnotherThread) {
  Start();
  RawClient c(server_->port());
  c.Send("GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 201"), std::string::npos);
}

TEST_F(ServerTest, DroppedResponderAnswers500) {
  Start();
  RawClient c(server_->port());
  c.Send("GET /drop HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 500"), std::string::npos);
}

TEST_F(ServerTest, BodyOverLimitIs413) {
  ServerOptions o;
  o.max_body_bytes = 1024;
  Start(o);
  RawClient c(server_->port());
  c.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'a'));
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 413"), std::string::npos);
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(ServerTest, HeadersOverLimitAre431) {
  ServerOptions o;
  o.max_header_bytes = 1024;
  Start(o);
  RawClient c(server_->port());
  c.Send("GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'b') + "\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 431"), std::string::npos);
}

TEST_F(ServerTest, GarbageGets400AndServerKeepsServing) {
  Start();
  {
    RawClient c(server_->port());
    c.Send("\x01\x02 garbage \r\n\r\n");
    EXPECT_NE(c.ReadResponse().find("HTTP/1.1 400"), std::string::npos);
  }
  RawClient ok(server_->port());
  ok.Send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(ok.ReadResponse().find("200 OK"), std::string::npos);
}

TEST_F(ServerTest, SlowClientTimesOutWithoutBlockingOthers) {
  ServerOptions o;
  o.read_timeout = std::chrono::milliseconds(300);
  Start(o);
  RawClient slow(server_->port());
  slow.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part");
  RawClient other(server_->port());
  other.Send("GET /y HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(other.ReadResponse().find("200 OK"), std::string::npos);
  EXPECT_TRUE(slow.ClosedByPeer());  // after the read timeout
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions o;
  o.idle_timeout = std::chrono::milliseconds(200);
  Start(o);
  RawClient c(server_->port());
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  Start();
  RawClient c(server_->port());
  c.Send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("200 OK"), std::string::npos);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, CountsRequestsInMetrics) {
  Start();
  RawClient c(server_->port());
  c.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  c.ReadResponse();
  // The request is counted just after its response is written: poll, bounded.
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    text = metrics_.Render();
    if (text.find(R"(medulla_http_requests_total{method="GET",code="200"} 1)") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(text.find(R"(medulla_http_requests_total{method="GET",code="200"} 1)"),
            std::string::npos)
      << text;
}

TEST_F(ServerTest, ShutdownWaitsForInFlightRequest) {
  Start();
  RawClient c(server_->port());
  c.Send("GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server_->Shutdown(std::chrono::milliseconds(2000));
  EXPECT_NE(c.ReadResponse().find("HTTP/1.1 201"), std::string::npos);
  runner_.join();
}

}  // namespace
}  // namespace medulla::http
