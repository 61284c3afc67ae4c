// The subscriber against a fake broker in the test: the test thread plays the broker on a
// blocking socket (127.0.0.1, an ephemeral port), checks what the subscriber sends and answers
// as a broker would. Covered: the manual acknowledgement (PUBACK only after Ack(kDone), in
// arrival order), Ack(kRetry) and redelivery, backpressure at max_unacked, refusals, keepalive,
// malformed input from the broker and shutdown in each state.
#include "mqtt/subscriber.h"

// Boost 1.74's asio headers use std::exchange without including <utility>.
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mqtt/packet.h"

namespace medulla::mqtt {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr char kTopic[] = "medulla/telemetry/dev-1";

// The broker's side throws on a protocol deviation: gtest reports the exception as a failure of
// the test, and the subscriber is still destroyed on the way out.
[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what);
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

bool WaitReadable(int fd, milliseconds timeout) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  int r;
  do {
    r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(timeout.count(), 0)));
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

milliseconds Since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t);
}

// Polls `done` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, milliseconds timeout = 3s) {
  const auto until = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// A control packet as the broker reads it: the first byte and the body after the remaining
// length. Parsed here without the codec under test.
struct Packet {
  uint8_t first = 0;
  std::string body;
  int type() const { return first >> 4; }
};

// Bounds-checked reads of a body (section 1.5: big-endian integers, length-prefixed strings).
class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : body_(body) {}
  uint8_t U8() {
    Need(1);
    return static_cast<uint8_t>(body_[at_++]);
  }
  uint16_t U16() {
    const uint16_t hi = U8();
    return static_cast<uint16_t>(hi << 8 | U8());
  }
  std::string Str() {
    const size_t n = U16();
    Need(n);
    std::string s(body_.substr(at_, n));
    at_ += n;
    return s;
  }
  bool done() const { return at_ == body_.size(); }

 private:
  void Need(size_t n) {
    if (body_.size() - at_ < n) Fail("the subscriber sent a truncated packet");
  }
  std::string_view body_;
  size_t at_ = 0;
};

// One connection from the subscriber, seen from the broker.
class Conn {
 public:
  explicit Conn(tcp::socket socket) : socket_(std::move(socket)) {}

  // The next packet; nullopt if none came within `timeout` or the subscriber closed the
  // connection (see closed()).
  std::optional<Packet> Read(milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    for (;;) {
      if (auto p = Parse()) return p;
      if (closed_) return std::nullopt;
      const auto left = std::chrono::ceil<milliseconds>(until - Clock::now());
      if (left <= 0ms || !WaitReadable(socket_.native_handle(), left)) return std::nullopt;
      char chunk[4096];
      boost::system::error_code ec;
      const size_t n = socket_.read_some(asio::buffer(chunk), ec);
      if (ec) {
        closed_ = true;  // EOF, or a reset when the subscriber closed with bytes unread
        continue;
      }
      buffer_.append(chunk, n);
    }
  }

  // The next packet, which must be of `type`; PINGREQs on the way are answered.
  Packet Expect(int type, milliseconds timeout = 3s) {
    const auto until = Clock::now() + timeout;
    for (;;) {
      auto p = Read(std::chrono::ceil<milliseconds>(until - Clock::now()));
      if (!p) {
        Fail(closed_ ? "the subscriber closed the connection while the broker expected type " +
                           std::to_string(type)
                     : "no packet of type " + std::to_string(type) + " in time");
      }
      if (p->type() == 12 && type != 12) {
        Send(Bytes({0xd0, 0x00}));
        continue;
      }
      if (p->type() != type) {
        Fail("expected packet type " + std::to_string(type) + ", got " + std::to_string(p->type()));
      }
      return *p;
    }
  }

  // True once the subscriber closed the connection within `timeout`; the packets that came
  // before go to `seen`.
  bool WaitClosed(milliseconds timeout, std::vector<Packet>* seen = nullptr) {
    const auto until = Clock::now() + timeout;
    while (!closed_ || !buffer_.empty()) {
      const auto left = std::chrono::ceil<milliseconds>(until - Clock::now());
      if (left <= 0ms) return false;
      auto p = Read(left);
      if (p && seen) seen->push_back(*p);
      if (!p && closed_) return true;
    }
    return true;
  }

  void Send(std::string_view bytes) {
    boost::system::error_code ec;  // a subscriber that went away is the test's to notice
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
  }

  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  bool closed() const { return closed_; }

 private:
  std::optional<Packet> Parse() {
    if (buffer_.size() < 2) return std::nullopt;
    size_t remaining = 0;
    size_t i = 1;
    for (size_t shift = 0;; shift += 7, ++i) {
      if (i > 4) Fail("the subscriber sent a remaining length of more than four bytes");
      if (i >= buffer_.size()) return std::nullopt;
      const auto b = static_cast<uint8_t>(buffer_[i]);
      remaining |= size_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) break;
    }
    const size_t header = i + 1;
    if (buffer_.size() < header + remaining) return std::nullopt;
    Packet p{.first = static_cast<uint8_t>(buffer_[0]), .body = buffer_.substr(header, remaining)};
    buffer_.erase(0, header + remaining);
    return p;
  }

  tcp::socket socket_;
  std::string buffer_;
  bool closed_ = false;
};

class FakeBroker {
 public:
  FakeBroker() : acceptor_(ioc_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {}

  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }

  std::unique_ptr<Conn> Accept(milliseconds timeout = 3s) {
    if (!WaitReadable(acceptor_.native_handle(), timeout)) {
      Fail("the subscriber did not connect within " + std::to_string(timeout.count()) + " ms");
    }
    tcp::socket socket(ioc_);
    acceptor_.accept(socket);
    return std::make_unique<Conn>(std::move(socket));
  }

  // The broker goes down: connections are refused from now on.
  void StopListening() {
    boost::system::error_code ec;
    acceptor_.close(ec);
  }

 private:
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
};

struct ConnectPacket {
  uint8_t flags = 0;
  uint16_t keepalive = 0;
  std::string client_id;
  std::string username;
  std::string password;
};

// Reads the CONNECT (section 3.1) and checks it against what the subscriber was given:
// MQTT 3.1.1, clean session off, no will, the client identifier and the credentials.
ConnectPacket ExpectConnect(Conn& conn, const SubscriberOptions& o) {
  const Packet p = conn.Expect(1);
  EXPECT_EQ(p.first, 0x10);
  BodyReader r(p.body);
  if (r.Str() != "MQTT") Fail("CONNECT protocol name is not MQTT");
  if (r.U8() != 4) Fail("CONNECT protocol level is not 4");
  ConnectPacket c;
  c.flags = r.U8();
  c.keepalive = r.U16();
  c.client_id = r.Str();
  if (c.flags & 0x80) c.username = r.Str();
  if (c.flags & 0x40) c.password = r.Str();
  if (!r.done()) Fail("CONNECT has bytes past its payload");
  EXPECT_EQ(c.flags & 0x02, 0) << "clean session must be off";
  EXPECT_EQ(c.flags & 0x3d, 0) << "reserved bit or a will";
  EXPECT_EQ(c.client_id, o.client_id);
  EXPECT_EQ(c.keepalive, o.keepalive_seconds);
  if (o.username.empty()) {
    EXPECT_EQ(c.flags & 0xc0, 0);
  } else {
    EXPECT_EQ(c.flags & 0xc0, 0xc0);
    EXPECT_EQ(c.username, o.username);
    EXPECT_EQ(c.password, o.password);
  }
  return c;
}

// Reads the SUBSCRIBE (section 3.8): fixed header 0x82, one filter at QoS 1. Returns its packet
// identifier.
uint16_t ExpectSubscribe(Conn& conn, const SubscriberOptions& o) {
  const Packet p = conn.Expect(8);
  EXPECT_EQ(p.first, 0x82);
  BodyReader r(p.body);
  const uint16_t id = r.U16();
  EXPECT_NE(id, 0);
  EXPECT_EQ(r.Str(), o.topic_filter);
  EXPECT_EQ(r.U8(), 1) << "requested QoS";
  if (!r.done()) Fail("SUBSCRIBE with more than one filter");
  return id;
}

std::string Connack(int return_code, bool session_present = false) {
  return Bytes({0x20, 0x02, session_present ? 1 : 0, return_code});
}

std::string Suback(uint16_t id, int code) {
  return Bytes({0x90, 0x03, id >> 8, id & 0xff, code});
}

// After the CONNECT: CONNACK accepted, SUBSCRIBE, SUBACK granting QoS 1.
void FinishHandshake(Conn& conn, const SubscriberOptions& o) {
  conn.Send(Connack(0));
  conn.Send(Suback(ExpectSubscribe(conn, o), 1));
}

uint16_t PubackId(const Packet& p) {
  EXPECT_EQ(p.first, 0x40);
  if (p.body.size() != 2) Fail("PUBACK of " + std::to_string(p.body.size()) + " bytes");
  return static_cast<uint16_t>(static_cast<uint8_t>(p.body[0]) << 8 |
                               static_cast<uint8_t>(p.body[1]));
}

// What the handler was given; the test acks it when and where it likes.
struct Message {
  std::string topic;
  std::string payload;
  Ack ack;
};

class Inbox {
 public:
  explicit Inbox(bool ack_at_once = false) : ack_at_once_(ack_at_once) {}

  MessageHandler Handler() {
    return [this](std::string topic, std::string payload, Ack ack) {
      if (ack_at_once_) ack(Disposition::kDone);  // from the handler itself
      std::lock_guard lock(mu_);
      messages_.push_back({std::move(topic), std::move(payload), std::move(ack)});
      cv_.notify_all();
    };
  }

  std::optional<Message> Next(milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !messages_.empty(); })) return std::nullopt;
    Message m = std::move(messages_.front());
    messages_.pop_front();
    return m;
  }

  std::vector<Message> Take(size_t n, milliseconds timeout = 3s) {
    std::vector<Message> out;
    const auto until = Clock::now() + timeout;
    while (out.size() < n) {
      auto m = Next(std::chrono::ceil<milliseconds>(until - Clock::now()));
      if (!m) {
        Fail("the handler got " + std::to_string(out.size()) + " of " + std::to_string(n) +
             " messages");
      }
      out.push_back(std::move(*m));
    }
    return out;
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return messages_.size();
  }

 private:
  const bool ack_at_once_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> messages_;
};

class SubscriberTest : public ::testing::Test {
 protected:
  SubscriberOptions Options() const {
    SubscriberOptions o;
    o.port = broker_.port();
    o.client_id = "medulla-test";
    o.connect_timeout = 3s;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
  }

  std::unique_ptr<Subscriber> Start(const SubscriberOptions& o) {
    return std::make_unique<Subscriber>(o, inbox_.Handler());
  }

  // Accepts the subscriber's next connection and completes CONNECT/CONNACK/SUBSCRIBE/SUBACK.
  std::unique_ptr<Conn> Connect(const SubscriberOptions& o) {
    auto conn = broker_.Accept();
    ExpectConnect(*conn, o);
    FinishHandshake(*conn, o);
    return conn;
  }

  FakeBroker broker_;
  Inbox inbox_;
};

TEST_F(SubscriberTest, ConnectsWithAPersistentSessionAndSubscribesAtQoS1) {
  const auto o = Options();
  auto sub = Start(o);
  auto conn = broker_.Accept();
  const ConnectPacket c = ExpectConnect(*conn, o);
  EXPECT_EQ(c.flags, 0x00);
  EXPECT_EQ(c.keepalive, 30);
  FinishHandshake(*conn, o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  const auto stats = sub->Stats();
  EXPECT_TRUE(stats.subscribed);
  EXPECT_EQ(stats.connects, 1u);
  EXPECT_EQ(stats.messages, 0u);
  EXPECT_EQ(stats.last_error, "");
}

TEST_F(SubscriberTest, SendsTheUserNameAndPassword) {
  auto o = Options();
  o.username = "medulla-ingest";
  o.password = "pa55word";
  auto sub = Start(o);
  auto conn = broker_.Accept();
  EXPECT_EQ(ExpectConnect(*conn, o).flags, 0xc0);
  FinishHandshake(*conn, o);
  EXPECT_TRUE(sub->WaitSubscribed(3s));
}

// (a) The PUBACK waits for the handler's acknowledgement.
TEST_F(SubscriberTest, PubackOnlyAfterTheHandlerAcks) {
  const auto o = Options();
  auto sub = Start(o);
  auto conn = Connect(o);
  for (int id = 1; id <= 3; ++id) {
    conn->Send(EncodePublish(kTopic, "reading-" + std::to_string(id), 1, id));
  }
  auto m = inbox_.Take(3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(m[i].topic, kTopic);
    EXPECT_EQ(m[i].payload, "reading-" + std::to_string(i + 1));
  }
  auto early = conn->Read(300ms);
  EXPECT_FALSE(early) << "packet type " << early->type() << " before any ack";

  // Messages 3 and 2 are done, from two other threads; 1 is not, so nothing may go out yet.
  std::thread([&] { m[2].ack(Disposition::kDone); }).join();
  std::thread([&] { m[1].ack(Disposition::kDone); }).join();
  auto out_of_order = conn->Read(300ms);
  EXPECT_FALSE(out_of_order) << "packet type " << out_of_order->type()
                             << " while the first message is not acknowledged";

  m[0].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(conn->Expect(4)), 1);
  EXPECT_EQ(PubackId(conn->Expect(4)), 2);
  EXPECT_EQ(PubackId(conn->Expect(4)), 3);
  auto extra = conn->Read(200ms);
  EXPECT_FALSE(extra) << "packet type " << extra->type();
  EXPECT_EQ(sub->Stats().messages, 3u);
}

// (a) Many acks, shuffled, from eight threads at once: the PUBACKs still follow arrival order.
TEST_F(SubscriberTest, PubacksFollowArrivalOrderWhenAcksComeFromManyThreads) {
  const auto o = Options();
  auto sub = Start(o);
  auto conn = Connect(o);
  constexpr int kCount = 64;
  std::string burst;
  for (int id = 1; id <= kCount; ++id) burst += EncodePublish(kTopic, std::to_string(id), 1, id);
  conn->Send(burst);
  auto m = inbox_.Take(kCount);
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(m[i].payload, std::to_string(i + 1));

  std::vector<int> order;
  for (int i = 1; i < kCount; ++i) order.push_back(i);  // the first is acked last
  std::shuffle(order.begin(), order.end(), std::mt19937(20141029));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = t; k < order.size(); k += 8) m[order[k]].ack(Disposition::kDone);
    });
  }
  for (auto& t : threads) t.join();
  auto early = conn->Read(300ms);
  EXPECT_FALSE(early) << "packet type " << early->type() << " before the first ack";

  m[0].ack(Disposition::kDone);
  for (int id = 1; id <= kCount; ++id) ASSERT_EQ(PubackId(conn->Expect(4)), id);
}

TEST_F(SubscriberTest, AnAckFromInsideTheHandlerWorks) {
  Inbox inbox(/*ack_at_once=*/true);
  const auto o = Options();
  auto sub = std::make_unique<Subscriber>(o, inbox.Handler());
  auto conn = Connect(o);
  for (int id = 1; id <= 10; ++id) conn->Send(EncodePublish(kTopic, "x", 1, id));
  for (int id = 1; id <= 10; ++id) ASSERT_EQ(PubackId(conn->Expect(4)), id);
  EXPECT_EQ(inbox.Take(10).size(), 10u);
}

// (b) QoS 0: nothing to acknowledge to the broker, but the message is handed over, counted,
// holds its place in the order and takes room under max_unacked until the handler acks it.
TEST_F(SubscriberTest, QoS0MessagesNeedNoPubackButCount) {
  auto o = Options();
  o.max_unacked = 2;
  auto sub = Start(o);
  auto conn = Connect(o);
  conn->Send(EncodePublish(kTopic, "q0-a", 0, 0));
  conn->Send(EncodePublish(kTopic, "q1", 1, 7));
  auto m = inbox_.Take(2);
  EXPECT_EQ(m[0].payload, "q0-a");
  EXPECT_EQ(m[1].payload, "q1");
  EXPECT_EQ(sub->Stats().messages, 2u);

  // Both take room: a third message waits.
  conn->Send(EncodePublish(kTopic, "q0-b", 0, 0));
  EXPECT_FALSE(inbox_.Next(300ms));

  // The QoS 1 message is done, but the QoS 0 message before it is not: no PUBACK yet.
  m[1].ack(Disposition::kDone);
  auto early = conn->Read(300ms);
  EXPECT_FALSE(early) << "packet type " << early->type();
  EXPECT_FALSE(inbox_.Next(100ms));  // still two outstanding

  m[0].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(conn->Expect(4)), 7);
  auto third = inbox_.Next(3s);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->payload, "q0-b");
  third->ack(Disposition::kDone);
  auto none = conn->Read(300ms);
  EXPECT_FALSE(none) << "packet type " << none->type() << " for a QoS 0 message";
  EXPECT_EQ(sub->Stats().messages, 3u);
}

// (c) kRetry: the subscriber drops the connection without a PUBACK and reconnects; the broker
// sends the message again with DUP set (section 4.4), before the SUBACK as a broker may.
TEST_F(SubscriberTest, RetryReconnectsAndTheBrokerRedelivers) {
  const auto o = Options();
  auto sub = Start(o);
  auto c1 = Connect(o);
  c1->Send(EncodePublish(kTopic, "reading-1", 1, 1));
  c1->Send(EncodePublish(kTopic, "reading-2", 1, 2));
  auto m = inbox_.Take(2);
  m[0].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(c1->Expect(4)), 1);

  m[1].ack(Disposition::kRetry);
  std::vector<Packet> before_close;
  ASSERT_TRUE(c1->WaitClosed(3s, &before_close));
  EXPECT_TRUE(before_close.empty()) << "packet type " << before_close[0].type();

  auto c2 = broker_.Accept();
  ExpectConnect(*c2, o);  // the same client identifier, clean session off
  c2->Send(Connack(0, /*session_present=*/true));
  c2->Send(EncodePublish(kTopic, "reading-2", 1, 2, /*dup=*/true));
  c2->Send(Suback(ExpectSubscribe(*c2, o), 1));
  auto again = inbox_.Take(1);
  EXPECT_EQ(again[0].topic, kTopic);
  EXPECT_EQ(again[0].payload, "reading-2");
  again[0].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(c2->Expect(4)), 2);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  const auto stats = sub->Stats();
  EXPECT_EQ(stats.connects, 2u);
  EXPECT_EQ(stats.messages, 3u);
  EXPECT_EQ(stats.last_error, "") << "a retry is not an error";
}

// (c) An ack for a message of a connection that is gone must not produce a PUBACK on the next
// one: the packet identifier may by then name another message.
TEST_F(SubscriberTest, AcksOfAnEarlierConnectionAreDropped) {
  const auto o = Options();
  auto sub = Start(o);
  auto c1 = Connect(o);
  c1->Send(EncodePublish(kTopic, "one", 1, 1));
  c1->Send(EncodePublish(kTopic, "two", 1, 2));
  auto m = inbox_.Take(2);
  m[1].ack(Disposition::kRetry);
  ASSERT_TRUE(c1->WaitClosed(3s));
  auto c2 = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));

  m[0].ack(Disposition::kDone);  // late, from the first connection
  m[1].ack(Disposition::kDone);  // a second call of the same functor
  auto stale = c2->Read(300ms);
  EXPECT_FALSE(stale) << "packet type " << stale->type() << " for an ack of the old connection";

  c2->Send(EncodePublish(kTopic, "one", 1, 1, true) + EncodePublish(kTopic, "two", 1, 2, true));
  auto again = inbox_.Take(2);
  EXPECT_EQ(again[0].payload, "one");
  EXPECT_EQ(again[1].payload, "two");
  again[1].ack(Disposition::kDone);
  again[0].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(c2->Expect(4)), 1);
  EXPECT_EQ(PubackId(c2->Expect(4)), 2);
}

// (d) Backpressure: with max_unacked = N, message N+1 waits until one of the N is acked.
TEST_F(SubscriberTest, BackpressureStopsAtMaxUnacked) {
  auto o = Options();
  o.max_unacked = 3;
  auto sub = Start(o);
  auto conn = Connect(o);
  for (int id = 1; id <= 3; ++id) conn->Send(EncodePublish(kTopic, std::to_string(id), 1, id));
  auto m = inbox_.Take(3);
  conn->Send(EncodePublish(kTopic, "4", 1, 4));
  EXPECT_FALSE(inbox_.Next(400ms)) << "a fourth message with three unacked";
  EXPECT_EQ(sub->Stats().messages, 3u);

  // An ack out of order frees no room: message 1 still waits.
  m[2].ack(Disposition::kDone);
  EXPECT_FALSE(inbox_.Next(300ms));

  m[0].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(conn->Expect(4)), 1);
  auto fourth = inbox_.Next(3s);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->payload, "4");

  m[1].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(conn->Expect(4)), 2);
  EXPECT_EQ(PubackId(conn->Expect(4)), 3);
  fourth->ack(Disposition::kDone);
  EXPECT_EQ(PubackId(conn->Expect(4)), 4);
  EXPECT_EQ(sub->Stats().messages, 4u);
}

// (d) The same with several messages in one read: a broker flushing a queued session sends
// them back to back, and whatever piled up in the socket while the reader was paused comes in
// one read when it resumes.
TEST_F(SubscriberTest, BackpressureHoldsBackPacketsOfTheSameRead) {
  auto o = Options();
  o.max_unacked = 2;
  auto sub = Start(o);
  auto conn = Connect(o);
  std::string burst;
  for (int id = 1; id <= 3; ++id) burst += EncodePublish(kTopic, std::to_string(id), 1, id);
  conn->Send(burst);
  auto m = inbox_.Take(2);
  EXPECT_FALSE(inbox_.Next(400ms)) << "a third message with two unacked";
  EXPECT_EQ(sub->Stats().messages, 2u);

  // Paused: these wait in the socket and come in one read after the next ack.
  conn->Send(EncodePublish(kTopic, "4", 1, 4));
  conn->Send(EncodePublish(kTopic, "5", 1, 5));
  std::this_thread::sleep_for(100ms);
  m[0].ack(Disposition::kDone);
  auto third = inbox_.Next(3s);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->payload, "3");
  EXPECT_FALSE(inbox_.Next(400ms)) << "a fourth message with two unacked";
  EXPECT_EQ(sub->Stats().messages, 3u);
  m[1].ack(Disposition::kDone);
  auto fourth = inbox_.Next(3s);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->payload, "4");
  EXPECT_FALSE(inbox_.Next(300ms));
}

// (e) A refused connection (section 3.2.2.3) is reported and retried, the pause doubling from
// reconnect_min.
TEST_F(SubscriberTest, ConnackRefusalIsReportedAndRetriedWithBackoff) {
  auto o = Options();
  o.reconnect_min = 25ms;
  o.reconnect_max = 1s;
  auto sub = Start(o);
  std::vector<milliseconds> gaps;
  Clock::time_point refused;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto conn = broker_.Accept();
    if (attempt > 0) gaps.push_back(Since(refused));
    ExpectConnect(*conn, o);
    refused = Clock::now();
    conn->Send(Connack(attempt == 2 ? 4 : 5));
    ASSERT_TRUE(conn->WaitClosed(3s));
    const char* reason = attempt == 2 ? "bad user name or password" : "not authorized";
    ASSERT_TRUE(WaitFor([&] {
      return sub->Stats().last_error == std::string("the broker refused the connection: ") + reason;
    })) << sub->Stats().last_error;
    const auto stats = sub->Stats();
    EXPECT_FALSE(stats.subscribed);
    EXPECT_EQ(stats.connects, 0u) << "a refused CONNACK is no connect";
  }
  auto conn = broker_.Accept();
  gaps.push_back(Since(refused));
  ExpectConnect(*conn, o);
  FinishHandshake(*conn, o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  ASSERT_EQ(gaps.size(), 3u);
  EXPECT_GE(gaps[0], 25ms);
  EXPECT_GE(gaps[1], 50ms);
  EXPECT_GE(gaps[2], 100ms);
  const auto stats = sub->Stats();
  EXPECT_EQ(stats.connects, 1u);
  EXPECT_EQ(stats.last_error, "") << "cleared once subscribed";
}

// (e) A SUBACK failure (0x80, section 3.9.3) is reported and the subscription tried again.
TEST_F(SubscriberTest, SubackFailureIsReportedAndRetried) {
  const auto o = Options();
  auto sub = Start(o);
  auto c1 = broker_.Accept();
  ExpectConnect(*c1, o);
  c1->Send(Connack(0));
  c1->Send(Suback(ExpectSubscribe(*c1, o), 0x80));
  ASSERT_TRUE(c1->WaitClosed(3s));
  ASSERT_TRUE(WaitFor([&] { return !sub->Stats().last_error.empty(); }));
  auto stats = sub->Stats();
  EXPECT_THAT(stats.last_error, HasSubstr("refused the subscription to medulla/telemetry/+"));
  EXPECT_FALSE(stats.subscribed);
  EXPECT_EQ(stats.connects, 1u);

  auto c2 = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  stats = sub->Stats();
  EXPECT_EQ(stats.connects, 2u);
  EXPECT_EQ(stats.last_error, "");
}

// A SUBACK whose packet identifier is not the SUBSCRIBE's (section 3.9.2) does not count as the
// subscription: the connection is dropped and made again.
TEST_F(SubscriberTest, ASubackForAnotherPacketIdIsRefused) {
  const auto o = Options();
  auto sub = Start(o);
  auto c1 = broker_.Accept();
  ExpectConnect(*c1, o);
  c1->Send(Connack(0));
  const uint16_t id = ExpectSubscribe(*c1, o);
  c1->Send(Suback(static_cast<uint16_t>(id + 1), 1));
  ASSERT_TRUE(c1->WaitClosed(3s));
  ASSERT_TRUE(WaitFor([&] { return !sub->Stats().last_error.empty(); }));
  EXPECT_THAT(sub->Stats().last_error, HasSubstr("not our SUBSCRIBE"));
  EXPECT_FALSE(sub->Stats().subscribed);

  auto c2 = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
}

TEST_F(SubscriberTest, NoConnackWithinTheConnectTimeoutReconnects) {
  auto o = Options();
  o.connect_timeout = 300ms;
  auto sub = Start(o);
  auto c1 = broker_.Accept();
  ExpectConnect(*c1, o);
  const auto start = Clock::now();
  ASSERT_TRUE(c1->WaitClosed(3s));
  EXPECT_GE(Since(start), 250ms);
  EXPECT_TRUE(WaitFor([&] { return !sub->Stats().last_error.empty(); }));
  auto c2 = Connect(o);
  EXPECT_TRUE(sub->WaitSubscribed(3s));
}

// (f) Keepalive (section 3.1.2.10): a PINGREQ when idle, at about half the interval.
TEST_F(SubscriberTest, SendsPingreqWhenIdle) {
  auto o = Options();
  o.keepalive_seconds = 1;
  auto sub = Start(o);
  auto conn = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  auto ping = conn->Read(1500ms);
  ASSERT_TRUE(ping) << "no PINGREQ within 1.5 s of a 1 s keepalive";
  EXPECT_EQ(ping->first, 0xc0);
  EXPECT_EQ(ping->body, "");
  conn->Send(Bytes({0xd0, 0x00}));

  // Answered, the pings keep coming at a steady pace and the connection stays.
  int pings = 0;
  const auto start = Clock::now();
  while (Since(start) < 2000ms) {
    auto p = conn->Read(100ms);
    if (!p) continue;
    ASSERT_EQ(p->type(), 12);
    ++pings;
    conn->Send(Bytes({0xd0, 0x00}));
  }
  EXPECT_GE(pings, 2);
  EXPECT_LE(pings, 8) << "PINGREQs far more often than the keepalive needs";
  EXPECT_FALSE(conn->closed());
  const auto stats = sub->Stats();
  EXPECT_TRUE(stats.subscribed);
  EXPECT_EQ(stats.connects, 1u);
}

// Keep alive 0 turns the mechanism off (section 3.1.2.10): no PINGREQ, and a quiet broker is
// no reason to go.
TEST_F(SubscriberTest, KeepaliveZeroSendsNoPingsAndKeepsTheConnection) {
  auto o = Options();
  o.keepalive_seconds = 0;
  auto sub = Start(o);
  auto conn = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  auto p = conn->Read(1500ms);
  EXPECT_FALSE(p) << "packet type " << p->type() << " with keepalive off";
  EXPECT_FALSE(conn->closed());
  EXPECT_EQ(sub->Stats().connects, 1u);
  conn->Send(EncodePublish(kTopic, "still here", 1, 1));
  auto m = inbox_.Take(1);
  m[0].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(conn->Expect(4)), 1);
}

// (f) A broker that stops answering is dropped after about one and a half intervals, and the
// subscriber connects again.
TEST_F(SubscriberTest, DropsASilentBrokerAndReconnects) {
  auto o = Options();
  o.keepalive_seconds = 1;
  auto sub = Start(o);
  auto c1 = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  const auto start = Clock::now();
  std::vector<Packet> seen;  // read, never answered
  ASSERT_TRUE(c1->WaitClosed(4s, &seen));
  EXPECT_GE(Since(start), 1400ms) << "one and a half intervals";
  EXPECT_FALSE(seen.empty()) << "it pinged before giving up";
  for (const auto& p : seen) EXPECT_EQ(p.type(), 12);
  ASSERT_TRUE(WaitFor([&] { return !sub->Stats().last_error.empty(); }));

  auto c2 = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  EXPECT_EQ(sub->Stats().connects, 2u);
}

// The reason given for a keepalive timeout survives until the reconnect.
TEST_F(SubscriberTest, ASilentBrokerIsReportedAsSuch) {
  auto o = Options();
  o.keepalive_seconds = 1;
  o.reconnect_min = 3s;  // time to look before the next attempt
  auto sub = Start(o);
  auto c1 = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  ASSERT_TRUE(c1->WaitClosed(4s));
  std::this_thread::sleep_for(200ms);  // the session has ended and its error is recorded
  EXPECT_THAT(sub->Stats().last_error, HasSubstr("stopped answering"));
}

// (g) What a broker must not send drops the connection (section 4.8: "close the Network
// Connection"), never the process; the subscriber connects again.
TEST_F(SubscriberTest, MalformedPacketsDropTheConnection) {
  enum class When { kInsteadOfConnack, kInsteadOfSuback, kAfterSuback };
  struct Case {
    const char* name;
    When when;
    std::string bytes;
    const char* error;
  };
  const Case cases[] = {
      {"5-byte remaining length", When::kAfterSuback, Bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x01}),
       "malformed MQTT remaining length"},
      {"past max_packet_bytes", When::kAfterSuback,
       EncodePublish(kTopic, std::string(2000, 'x'), 1, 1), "exceeds the limit of 1024"},
      {"length alone past max_packet_bytes", When::kAfterSuback,
       Bytes({0x30, 0xff, 0xff, 0xff, 0x7f}), "exceeds the limit of 1024"},
      {"QoS 3", When::kAfterSuback, Bytes({0x36, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 'x'}),
       "malformed MQTT PUBLISH QoS"},
      {"packet identifier 0", When::kAfterSuback, EncodePublish(kTopic, "x", 1, 0), "identifier 0"},
      {"QoS 2 on a QoS 1 subscription", When::kAfterSuback, EncodePublish(kTopic, "x", 2, 1),
       "QoS 2 PUBLISH"},
      {"wildcard topic", When::kAfterSuback, EncodePublish("medulla/telemetry/#", "x", 1, 1),
       "malformed MQTT PUBLISH topic name"},
      {"overlong UTF-8 topic", When::kAfterSuback, EncodePublish("a\xc0\xaf", "x", 1, 1),
       "malformed MQTT PUBLISH topic name"},
      {"truncated PUBLISH", When::kAfterSuback, Bytes({0x32, 0x01, 0x00}),
       "malformed MQTT PUBLISH"},
      {"reserved type 15", When::kAfterSuback, Bytes({0xf0, 0x00}), "malformed MQTT packet type"},
      {"PUBREL to a QoS 1 subscriber", When::kAfterSuback, Bytes({0x62, 0x02, 0x00, 0x01}),
       "unexpected MQTT packet type 6"},
      {"CONNACK of three bytes", When::kInsteadOfConnack, Bytes({0x20, 0x03, 0x00, 0x00, 0x00}),
       "malformed MQTT CONNACK"},
      {"PUBLISH before CONNACK", When::kInsteadOfConnack, EncodePublish(kTopic, "x", 1, 1),
       "PUBLISH before CONNACK"},
      {"SUBACK return code 3", When::kInsteadOfSuback, Bytes({0x90, 0x03, 0x00, 0x01, 0x03}),
       "malformed MQTT SUBACK return code"},
  };
  auto o = Options();
  o.max_packet_bytes = 1024;
  auto sub = Start(o);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto conn = broker_.Accept();
    ExpectConnect(*conn, o);
    if (c.when == When::kInsteadOfConnack) {
      conn->Send(c.bytes);
    } else {
      conn->Send(Connack(0));
      const uint16_t id = ExpectSubscribe(*conn, o);
      if (c.when == When::kInsteadOfSuback) {
        conn->Send(c.bytes);
      } else {
        conn->Send(Suback(id, 1));
        ASSERT_TRUE(sub->WaitSubscribed(3s));
        conn->Send(c.bytes);
      }
    }
    ASSERT_TRUE(conn->WaitClosed(3s));
    ASSERT_TRUE(WaitFor([&] { return sub->Stats().last_error.find(c.error) != std::string::npos; }))
        << sub->Stats().last_error;
    EXPECT_EQ(inbox_.size(), 0u) << "a malformed PUBLISH reached the handler";
  }
  // And after all that a good connection works.
  auto conn = Connect(o);
  conn->Send(EncodePublish(kTopic, "fine", 1, 9));
  auto m = inbox_.Take(1);
  EXPECT_EQ(m[0].payload, "fine");
  m[0].ack(Disposition::kDone);
  EXPECT_EQ(PubackId(conn->Expect(4)), 9);
  EXPECT_EQ(sub->Stats().messages, 1u);
}

TEST_F(SubscriberTest, PacketsSplitAndJoinedAcrossReadsAreReassembled) {
  const auto o = Options();
  auto sub = Start(o);
  auto conn = Connect(o);
  // One byte at a time, including the length bytes of a two-byte remaining length.
  const std::string big = EncodePublish(kTopic, std::string(300, 'b'), 1, 1);
  for (char ch : big) {
    conn->Send(std::string_view(&ch, 1));
    std::this_thread::sleep_for(200us);
  }
  // Two and a half packets, then the rest.
  const std::string joined = EncodePublish(kTopic, "two", 1, 2) +
                             EncodePublish(kTopic, "three", 0, 0) +
                             EncodePublish(kTopic, "four", 1, 4);
  conn->Send(std::string_view(joined).substr(0, joined.size() - 3));
  std::this_thread::sleep_for(20ms);
  conn->Send(std::string_view(joined).substr(joined.size() - 3));
  auto m = inbox_.Take(4);
  EXPECT_EQ(m[0].payload, std::string(300, 'b'));
  EXPECT_EQ(m[1].payload, "two");
  EXPECT_EQ(m[2].payload, "three");
  EXPECT_EQ(m[3].payload, "four");
  for (auto& msg : m) msg.ack(Disposition::kDone);
  EXPECT_EQ(PubackId(conn->Expect(4)), 1);
  EXPECT_EQ(PubackId(conn->Expect(4)), 2);
  EXPECT_EQ(PubackId(conn->Expect(4)), 4);
  EXPECT_FALSE(inbox_.Next(100ms));
}

// (h) Shutdown while connected: a DISCONNECT (section 3.14), then the connection closes.
TEST_F(SubscriberTest, DestructionWhileConnectedSendsDisconnect) {
  const auto o = Options();
  auto sub = Start(o);
  auto conn = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  const auto start = Clock::now();
  sub.reset();
  EXPECT_LT(Since(start), 1000ms);
  std::vector<Packet> seen;
  ASSERT_TRUE(conn->WaitClosed(2s, &seen));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, 0xe0);
  EXPECT_EQ(seen[0].body, "");
}

// (h) Shutdown while the broker is down and the subscriber waits out its backoff.
TEST_F(SubscriberTest, DestructionDuringBackoffIsPrompt) {
  auto o = Options();
  o.reconnect_min = 10s;
  o.reconnect_max = 10s;
  auto sub = Start(o);
  auto conn = Connect(o);
  ASSERT_TRUE(sub->WaitSubscribed(3s));
  broker_.StopListening();
  conn->Close();
  ASSERT_TRUE(WaitFor([&] {
    const auto s = sub->Stats();
    return !s.subscribed && !s.last_error.empty();
  }));
  EXPECT_THAT(sub->Stats().last_error, HasSubstr("connection lost"));
  const auto start = Clock::now();
  sub.reset();
  EXPECT_LT(Since(start), 1000ms);
}

// (h) The same when the broker was never there: the first connect is refused.
TEST_F(SubscriberTest, DestructionWhileTheBrokerIsDownIsPrompt) {
  auto o = Options();
  o.reconnect_min = 10s;
  o.reconnect_max = 10s;
  broker_.StopListening();
  auto sub = Start(o);
  ASSERT_TRUE(WaitFor([&] { return !sub->Stats().last_error.empty(); }));
  EXPECT_THAT(sub->Stats().last_error, HasSubstr("connecting"));
  const auto start = Clock::now();
  sub.reset();
  EXPECT_LT(Since(start), 1000ms);
}

// (h) Shutdown while waiting for the CONNACK: no DISCONNECT for a connection never accepted.
TEST_F(SubscriberTest, DestructionBeforeTheConnackIsPrompt) {
  const auto o = Options();
  auto sub = Start(o);
  auto conn = broker_.Accept();
  ExpectConnect(*conn, o);
  const auto start = Clock::now();
  sub.reset();
  EXPECT_LT(Since(start), 1000ms);
  std::vector<Packet> seen;
  ASSERT_TRUE(conn->WaitClosed(2s, &seen));
  EXPECT_TRUE(seen.empty());
}

// (h) Shutdown with messages the handler still holds: no PUBACK for them (the broker keeps
// them for the next session), and their acks, called afterwards, do nothing.
TEST_F(SubscriberTest, DestructionWithAcksOutstandingAndLateAcks) {
  auto o = Options();
  o.max_unacked = 2;  // and the reader paused on backpressure
  auto sub = Start(o);
  auto conn = Connect(o);
  for (int id = 1; id <= 2; ++id) conn->Send(EncodePublish(kTopic, std::to_string(id), 1, id));
  auto m = inbox_.Take(2);
  conn->Send(EncodePublish(kTopic, "3", 1, 3));
  EXPECT_FALSE(inbox_.Next(200ms));
  const auto start = Clock::now();
  sub.reset();
  EXPECT_LT(Since(start), 1000ms);
  std::vector<Packet> seen;
  ASSERT_TRUE(conn->WaitClosed(2s, &seen));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, 0xe0) << "only the DISCONNECT";

  std::thread([&] { m[0].ack(Disposition::kDone); }).join();
  m[1].ack(Disposition::kRetry);
  m[1].ack(Disposition::kDone);
  EXPECT_EQ(inbox_.size(), 0u);
}

}  // namespace
}  // namespace medulla::mqtt
