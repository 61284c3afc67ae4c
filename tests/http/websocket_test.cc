// WebSocket upgrades on the HTTP server (http/websocket.h), over plain TCP and TLS, with a Beast
// client driven from the test thread (every client operation bounded by a deadline).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "testing/temp_dir.h"

namespace medulla::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

constexpr auto kDeadline = 10s;

// Polls a condition set by other threads (metrics, connection state), bounded.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = kDeadline) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A self-signed P-256 certificate for "localhost", written as PEM files.
struct TestCertificate {
  testing::TempDir dir;
  TlsFiles files;

  TestCertificate() {
    files.certificate_chain = dir.path() + "/cert.pem";
    files.private_key = dir.path() + "/key.pem";
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    FILE* f = std::fopen(files.certificate_chain.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(files.private_key.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

// A websocket client, plain or over TLS (trusting only the test certificate). Each operation
// runs the client's own io_context until it completes or kDeadline passes (then the socket is
// closed and the result is timed_out), so a server that hangs fails the test instead of hanging
// it.
class WsClient {
 public:
  using PlainWs = websocket::stream<tcp::socket>;
  using TlsWs = websocket::stream<beast::ssl_stream<tcp::socket>>;

 private:
  template <typename F>
  auto Visit(F f) {
    return tls_ws_ ? f(*tls_ws_) : f(*plain_ws_);
  }

  template <typename Start>
  error_code Await(Start start) {
    std::optional<error_code> result;
    start([&result](error_code ec) { result = ec; });
    ioc_.restart();
    ioc_.run_for(kDeadline);
    if (result) return *result;
    Visit([](auto& ws) {
      error_code ignored;
      beast::get_lowest_layer(ws).close(ignored);
    });
    ioc_.restart();
    ioc_.run();  // the aborted operation completes
    return asio::error::timed_out;
  }

 public:
  WsClient(uint16_t port, const TlsFiles* tls) : port_(port) {
    if (tls) {
      tls_context_.emplace(asio::ssl::context::tls_client);
      tls_context_->load_verify_file(tls->certificate_chain);
      tls_context_->set_verify_mode(asio::ssl::verify_peer);
      tls_ws_ = std::make_unique<TlsWs>(ioc_, *tls_context_);
    } else {
      plain_ws_ = std::make_unique<PlainWs>(ioc_);
    }
  }

  // Connects and asks for the upgrade; the server's HTTP answer goes to `response`.
  error_code Connect(const std::string& target, websocket::response_type* response = nullptr) {
    error_code ec = Open();
    return ec ? ec : Upgrade(target, response);
  }

  // Connects (and completes the TLS handshake).
  error_code Open() {
    return Visit([&](auto& ws) {
      error_code ec;
      beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::address_v4::loopback(), port_),
                                          ec);
      if constexpr (std::is_same_v<std::decay_t<decltype(ws)>, TlsWs>) {
        if (!ec) {
          ec = Await([&](auto done) {
            ws.next_layer().async_handshake(asio::ssl::stream_base::client, done);
          });
        }
      }
      return ec;
    });
  }

  error_code Upgrade(const std::string& target, websocket::response_type* response = nullptr) {
    websocket::response_type ignored;
    websocket::response_type& res = response ? *response : ignored;
    return Visit([&](auto& ws) {
      return Await([&](auto done) { ws.async_handshake(res, "localhost", target, done); });
    });
  }

  error_code Write(std::string_view data, bool binary = false) {
    return Visit([&](auto& ws) {
      ws.binary(binary);
      return Await([&](auto done) {
        ws.async_write(asio::buffer(data.data(), data.size()),
                       [done](error_code ec, size_t) { done(ec); });
      });
    });
  }

  // One message; on a close frame, error closed and the close reason in reason().
  error_code Read(std::string& out) {
    return Visit([&](auto& ws) {
      beast::flat_buffer buffer;
      error_code ec = Await(
          [&](auto done) { ws.async_read(buffer, [done](error_code ec, size_t) { done(ec); }); });
      out = beast::buffers_to_string(buffer.data());
      return ec;
    });
  }

  error_code Close() {
    return Visit([&](auto& ws) {
      return Await([&](auto done) { ws.async_close(websocket::close_code::normal, done); });
    });
  }

  websocket::close_reason reason() {
    return Visit([](auto& ws) { return ws.reason(); });
  }

 private:
  uint16_t port_;
  asio::io_context ioc_;
  std::optional<asio::ssl::context> tls_context_;
  std::unique_ptr<PlainWs> plain_ws_;
  std::unique_ptr<TlsWs> tls_ws_;
};

// Records what the server delivers; echoes when asked to.
class RecordingPeer final : public WebSocketPeer {
 public:
  RecordingPeer(std::shared_ptr<WebSocketConnection> connection, bool echo)
      : connection(std::move(connection)), echo_(echo) {}

  void OnMessage(std::string_view text) override {
    {
      std::lock_guard lock(mu_);
      messages_.emplace_back(text);
      cv_.notify_all();
    }
    if (echo_) connection->Send("echo: " + std::string(text));
  }
  void OnClose() override {
    std::lock_guard lock(mu_);
    ++closes_;
    cv_.notify_all();
  }

  bool WaitForClose() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return closes_ > 0; });
  }
  int closes() const {
    std::lock_guard lock(mu_);
    return closes_;
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }

  const std::shared_ptr<WebSocketConnection> connection;

 private:
  const bool echo_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> messages_;
  int closes_ = 0;
};

// Parameter: whether the server speaks TLS (wss).
class WebSocketTest : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() { certificate_ = new TestCertificate(); }
  static void TearDownTestSuite() {
    delete certificate_;
    certificate_ = nullptr;
  }

  bool tls() const { return GetParam(); }

  // Routes: /echo accepts (sends "welcome" before accepting, echoes what it gets), /quiet
  // accepts, /refuse answers 401. Other paths reach the ordinary handler.
  void Start(ServerOptions options = {}, bool websockets = true) {
    options.port = 0;
    options.threads = 2;
    options.access_log = false;
    if (tls()) options.tls = certificate_->files;
    if (websockets) {
      options.websocket = [this](const Request& req, std::shared_ptr<WebSocketConnection> conn)
          -> std::variant<Response, std::shared_ptr<WebSocketPeer>> {
        {
          std::lock_guard lock(mu_);
          upgrade_requests_.push_back(req);
        }
        if (req.path() == "/refuse") {
          std::lock_guard lock(mu_);
          refused_.push_back(conn);
          return Response::Text(401, "token required");
        }
        if (req.path() != "/echo" && req.path() != "/quiet") {
          return Response::Text(404, "no such channel");
        }
        const bool echo = req.path() == "/echo";
        if (echo) conn->Send("welcome");
        auto peer = std::make_shared<RecordingPeer>(std::move(conn), echo);
        std::lock_guard lock(mu_);
        peers_.push_back(peer);
        return peer;
      };
    }
    auto s = Server::Start(
        options, [](Request&, Responder res) { res.Send(Response::Text(200, "ordinary")); },
        metrics_);
    ASSERT_TRUE(s) << s.error().ToString();
    server_ = std::move(*s);
    ASSERT_EQ(server_->secure(), tls());
    runner_ = std::thread([this] { server_->Run(); });
  }

  void TearDown() override {
    if (server_) server_->Shutdown(2000ms);
    if (runner_.joinable()) runner_.join();
    server_.reset();
    // Exactly once, whatever ended the websocket; and a connection outliving the server only
    // refuses.
    for (auto& peer : peers_) {
      EXPECT_EQ(peer->closes(), 1);
      EXPECT_FALSE(peer->connection->open());
      EXPECT_FALSE(peer->connection->Send("after the server"));
    }
  }

  const TlsFiles* client_tls() const { return tls() ? &certificate_->files : nullptr; }
  WsClient Client() { return WsClient(server_->port(), client_tls()); }

  std::shared_ptr<RecordingPeer> Peer(size_t i) {
    std::lock_guard lock(mu_);
    return i < peers_.size() ? peers_[i] : nullptr;
  }

  std::vector<Request> UpgradeRequests() {
    std::lock_guard lock(mu_);
    return upgrade_requests_;
  }
  std::vector<std::shared_ptr<WebSocketConnection>> Refused() {
    std::lock_guard lock(mu_);
    return refused_;
  }

  int64_t Gauge(const std::string& name) { return metrics_.GetGauge(name, "").Value(); }

  static TestCertificate* certificate_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
  std::mutex mu_;
  std::vector<Request> upgrade_requests_;
  std::vector<std::shared_ptr<RecordingPeer>> peers_;
  std::vector<std::shared_ptr<WebSocketConnection>> refused_;
};

TestCertificate* WebSocketTest::certificate_ = nullptr;

TEST_P(WebSocketTest, EchoesBothWaysAndCounts) {
  Start();
  WsClient c = Client();
  websocket::response_type res;
  ASSERT_FALSE(c.Connect("/echo?channel=1", &res));
  EXPECT_EQ(res.result_int(), 101);
  auto peer = Peer(0);
  ASSERT_TRUE(peer);
  EXPECT_TRUE(peer->connection->open());
  EXPECT_EQ(peer->connection->id(), UpgradeRequests().at(0).connection_id);
  EXPECT_EQ(UpgradeRequests().at(0).query(), "channel=1");
  EXPECT_EQ(UpgradeRequests().at(0).secure, tls());
  EXPECT_TRUE(UpgradeRequests().at(0).HasHeader("sec-websocket-key"));

  std::string got;
  ASSERT_FALSE(c.Read(got));
  EXPECT_EQ(got, "welcome");  // sent by the handler before the upgrade was accepted
  for (const std::string& text : std::vector<std::string>{"hello", "", std::string(60000, 'x')}) {
    ASSERT_FALSE(c.Write(text));
    ASSERT_FALSE(c.Read(got));
    EXPECT_EQ(got, "echo: " + text);
  }
  EXPECT_EQ(peer->messages().size(), 3u);

  EXPECT_EQ(Gauge("medulla_websocket_connections"), 1);
  EXPECT_EQ(Gauge("medulla_http_connections"), 1);
  EXPECT_EQ(
      metrics_.GetCounter("medulla_http_requests_total", "", R"(method="GET",code="101")").Value(),
      1u);

  ASSERT_FALSE(c.Close());
  ASSERT_TRUE(peer->WaitForClose());
  EXPECT_FALSE(peer->connection->open());
  EXPECT_FALSE(peer->connection->Send("too late"));
  EXPECT_TRUE(WaitUntil([&] { return Gauge("medulla_websocket_connections") == 0; }));
  EXPECT_TRUE(WaitUntil([&] { return Gauge("medulla_http_connections") == 0; }));
}

std::string Numbered(int i) {
  std::string s = "m";
  s += std::to_string(i);
  return s;
}

TEST_P(WebSocketTest, SendFromAnotherThreadArrivesInOrder) {
  constexpr int kMessages = 10000;
  ServerOptions o;
  o.max_websocket_queue = kMessages;  // the sender does not wait for the client
  Start(o);
  WsClient c = Client();
  ASSERT_FALSE(c.Connect("/quiet"));
  auto peer = Peer(0);
  ASSERT_TRUE(peer);
  std::atomic<int> accepted{0};
  std::thread sender([&] {
    for (int i = 0; i < kMessages; ++i) {
      if (peer->connection->Send(Numbered(i))) ++accepted;
    }
  });
  std::string got;
  int in_order = 0;
  for (int i = 0; i < kMessages; ++i) {
    if (c.Read(got)) break;
    if (got != Numbered(i)) {
      ADD_FAILURE() << "message " << i << " was " << got;
      break;
    }
    ++in_order;
  }
  sender.join();
  EXPECT_EQ(accepted.load(), kMessages);
  EXPECT_EQ(in_order, kMessages);
}

TEST_P(WebSocketTest, RefusedUpgradeGetsTheHttpAnswer) {
  Start();
  {
    WsClient c = Client();
    websocket::response_type res;
    EXPECT_EQ(c.Connect("/refuse", &res), websocket::error::upgrade_declined);
    EXPECT_EQ(res.result_int(), 401);
    EXPECT_EQ(res.body(), "token required");
  }
  {
    WsClient c = Client();
    websocket::response_type res;
    EXPECT_EQ(c.Connect("/elsewhere", &res), websocket::error::upgrade_declined);
    EXPECT_EQ(res.result_int(), 404);
  }
  auto refused = Refused();
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_FALSE(refused[0]->open());
  EXPECT_FALSE(refused[0]->Send("never"));
  EXPECT_EQ(Gauge("medulla_websocket_connections"), 0);
  EXPECT_EQ(
      metrics_.GetCounter("medulla_http_requests_total", "", R"(method="GET",code="401")").Value(),
      1u);
}

TEST_P(WebSocketTest, WithoutAHandlerUpgradesAreOrdinaryRequests) {
  Start({}, /*websockets=*/false);
  WsClient c = Client();
  websocket::response_type res;
  EXPECT_EQ(c.Connect("/echo", &res), websocket::error::upgrade_declined);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "ordinary");
}

TEST_P(WebSocketTest, OversizedMessageClosesWith1009) {
  ServerOptions o;
  o.max_websocket_message_bytes = 1024;
  Start(o);
  WsClient c = Client();
  ASSERT_FALSE(c.Connect("/echo"));
  auto peer = Peer(0);
  ASSERT_TRUE(peer);
  std::string got;
  ASSERT_FALSE(c.Read(got));                      // welcome
  ASSERT_FALSE(c.Write(std::string(1024, 'a')));  // at the limit: delivered
  ASSERT_FALSE(c.Read(got));
  EXPECT_EQ(got, "echo: " + std::string(1024, 'a'));
  ASSERT_FALSE(c.Write(std::string(1025, 'b')));
  EXPECT_EQ(c.Read(got), websocket::error::closed);
  EXPECT_EQ(c.reason().code, websocket::close_code::too_big);
  ASSERT_TRUE(peer->WaitForClose());
  EXPECT_EQ(peer->messages().size(), 1u);
}

TEST_P(WebSocketTest, BinaryMessageClosesWith1003) {
  Start();
  WsClient c = Client();
  ASSERT_FALSE(c.Connect("/quiet"));
  auto peer = Peer(0);
  ASSERT_TRUE(peer);
  ASSERT_FALSE(c.Write("\x01\x02", /*binary=*/true));
  std::string got;
  EXPECT_EQ(c.Read(got), websocket::error::closed);
  EXPECT_EQ(c.reason().code, websocket::close_code::unknown_data);
  ASSERT_TRUE(peer->WaitForClose());
  EXPECT_TRUE(peer->messages().empty());
}

TEST_P(WebSocketTest, ClientThatDoesNotReadIsCutOffWhenTheQueueIsFull) {
  ServerOptions o;
  o.max_websocket_queue = 64;
  Start(o);
  WsClient c = Client();  // never reads
  ASSERT_FALSE(c.Connect("/quiet"));
  auto peer = Peer(0);
  ASSERT_TRUE(peer);
  // Socket buffers take some megabytes, the queue 64 messages; then Send must refuse. Without
  // a bound this would queue all 64 MiB.
  const std::string message(16 * 1024, 'x');
  int sent = 0;
  while (sent < 4096 && peer->connection->Send(message)) ++sent;
  EXPECT_LT(sent, 4096);
  EXPECT_FALSE(peer->connection->open());
  EXPECT_FALSE(peer->connection->Send("more"));
  ASSERT_TRUE(peer->WaitForClose());
  EXPECT_TRUE(WaitUntil([&] { return Gauge("medulla_websocket_connections") == 0; }));
  EXPECT_TRUE(WaitUntil([&] { return Gauge("medulla_http_connections") == 0; }));
}

TEST_P(WebSocketTest, ServerCloseSendsWhatIsQueuedThenANormalClose) {
  Start();
  WsClient c = Client();
  ASSERT_FALSE(c.Connect("/quiet"));
  auto peer = Peer(0);
  ASSERT_TRUE(peer);
  EXPECT_TRUE(peer->connection->Send("last"));
  peer->connection->Close("bye");
  peer->connection->Close("again");  // idempotent
  EXPECT_FALSE(peer->connection->open());
  EXPECT_FALSE(peer->connection->Send("after close"));
  std::string got;
  ASSERT_FALSE(c.Read(got));
  EXPECT_EQ(got, "last");
  EXPECT_EQ(c.Read(got), websocket::error::closed);
  EXPECT_EQ(c.reason().code, websocket::close_code::normal);
  EXPECT_EQ(std::string(c.reason().reason), "bye");
  ASSERT_TRUE(peer->WaitForClose());
}

TEST_P(WebSocketTest, ShutdownClosesWebsocketsAndReturnsPromptly) {
  Start();
  WsClient a = Client();
  WsClient b = Client();
  ASSERT_FALSE(a.Connect("/quiet"));
  ASSERT_FALSE(b.Connect("/echo"));
  std::string got;
  ASSERT_FALSE(b.Read(got));  // welcome
  auto started = std::chrono::steady_clock::now();
  server_->Shutdown(20s);  // the websockets end well before the grace period
  for (WsClient* c : {&a, &b}) {
    EXPECT_EQ(c->Read(got), websocket::error::closed);
    EXPECT_EQ(c->reason().code, websocket::close_code::going_away);
  }
  runner_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(Peer(i)->closes(), 1);  // by the time Run returns
  EXPECT_EQ(Gauge("medulla_websocket_connections"), 0);
}

TEST_P(WebSocketTest, ShutdownEndsAWebsocketWhoseClientDoesNotAnswer) {
  Start();
  WsClient c = Client();  // never reads, so never answers the close frame
  ASSERT_FALSE(c.Connect("/quiet"));
  auto started = std::chrono::steady_clock::now();
  server_->Shutdown(300ms);
  runner_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_EQ(Peer(0)->closes(), 1);  // by the time Run returns
  EXPECT_FALSE(Peer(0)->connection->Send("x"));
}

TEST_P(WebSocketTest, UpgradeDuringShutdownIsRefused) {
  Start();
  auto silent = std::make_unique<WsClient>(server_->port(),
                                           client_tls());  // never answers: the drain goes on
  ASSERT_FALSE(silent->Connect("/quiet"));
  WsClient held = Client();
  ASSERT_FALSE(held.Connect("/quiet"));
  WsClient late = Client();
  ASSERT_FALSE(late.Open());
  ASSERT_TRUE(WaitUntil([&] { return Gauge("medulla_http_connections") == 3; }));
  server_->Shutdown(5s);
  std::string got;
  EXPECT_EQ(held.Read(got), websocket::error::closed);  // the drain has begun
  EXPECT_EQ(held.reason().code, websocket::close_code::going_away);
  websocket::response_type res;
  EXPECT_EQ(late.Upgrade("/echo", &res), websocket::error::upgrade_declined);
  EXPECT_EQ(res.result_int(), 503);
  auto started = std::chrono::steady_clock::now();
  silent.reset();  // its websocket fails, the last one open: the drain ends
  runner_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
  EXPECT_EQ(UpgradeRequests().size(), 2u);  // the handler was not asked about the late one
}

INSTANTIATE_TEST_SUITE_P(PlainAndTls, WebSocketTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tls" : "Plain";
                         });

}  // namespace
}  // namespace medulla::http
