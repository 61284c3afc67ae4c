#include "mqtt/subscriber.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "core/logging.h"
#include "mqtt/packet.h"

namespace medulla::mqtt {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
// medulla sends one SUBSCRIBE per connection; its SUBACK must carry the same id (section 3.9.2).
constexpr uint16_t kSubscribeId = 1;

// Everything below runs on the subscriber's one I/O thread, except Stats/WaitSubscribed (under
// stats_mu) and the Ack functors, which post back to that thread.
struct Subscriber::Impl : std::enable_shared_from_this<Subscriber::Impl> {
  Impl(SubscriberOptions o, MessageHandler h) : options(std::move(o)), handler(std::move(h)) {}

  asio::io_context ioc;
  SubscriberOptions options;
  MessageHandler handler;

  std::optional<tcp::socket> socket;
  tcp::resolver resolver{ioc};
  asio::steady_timer deadline{ioc};  // the connect/CONNACK timeout, then the keepalive check
  asio::steady_timer resume{ioc};    // wakes the reader when acknowledgements free room
  asio::steady_timer backoff_timer{ioc};
  uint64_t epoch = 0;  // one per connection; acks of an older one are dropped
  bool stopping = false;
  bool connected = false;  // CONNACK accepted
  bool retry_requested = false;
  std::string close_reason;  // why this side dropped the connection: for Stats().last_error
  Clock::time_point last_received;
  Clock::time_point last_sent;

  std::deque<std::string> outbox;
  bool writing = false;

  struct Pending {
    uint16_t packet_id = 0;  // 0: QoS 0, nothing to acknowledge
    bool acked = false;
  };
  std::deque<Pending> pending;  // in arrival order
  uint64_t first_seq = 0;       // the sequence number of pending.front()

  mutable std::mutex stats_mu;
  mutable std::condition_variable stats_cv;
  SubscriberStats stats;

  void SetStat(const std::function<void(SubscriberStats&)>& change) {
    std::lock_guard lock(stats_mu);
    change(stats);
    stats_cv.notify_all();
  }

  void Send(std::string packet) {
    outbox.push_back(std::move(packet));
    if (!writing) WriteNext();
  }

  void WriteNext() {
    if (outbox.empty() || !socket) return;
    writing = true;
    last_sent = Clock::now();
    asio::async_write(*socket, asio::buffer(outbox.front()),
                      [self = shared_from_this(), e = epoch](boost::system::error_code ec, size_t) {
                        if (e != self->epoch) return;
                        self->writing = false;
                        if (ec) return self->Close();
                        self->outbox.pop_front();
                        self->WriteNext();
                      });
  }

  void Close() {
    boost::system::error_code ignored;
    if (socket) socket->close(ignored);
    resume.cancel();
    deadline.cancel();
  }

  Ack MakeAck(uint64_t seq) {
    return [weak = weak_from_this(), e = epoch, seq](Disposition d) {
      auto self = weak.lock();
      if (!self) return;
      // Weak in the queue too: an ack posted after the I/O thread ended must not keep Impl (and
      // with it the io_context that holds the ack) alive.
      asio::post(self->ioc, [weak, e, seq, d] {
        if (auto self = weak.lock()) self->OnAck(e, seq, d);
      });
    };
  }

  void OnAck(uint64_t e, uint64_t seq, Disposition d) {
    // A message of a connection that is gone: the broker sends it again, and the store
    // recognises the duplicate.
    if (e != epoch || seq < first_seq || seq - first_seq >= pending.size()) return;
    if (d == Disposition::kRetry) {
      if (!retry_requested) {
        retry_requested = true;
        core::Logger("mqtt")->warn(
            "a message could not be taken now; reconnecting so that the broker sends it again");
      }
      return Close();
    }
    pending[seq - first_seq].acked = true;
    while (!pending.empty() && pending.front().acked) {
      if (pending.front().packet_id != 0) Send(EncodePuback(pending.front().packet_id));
      pending.pop_front();
      ++first_seq;
    }
    if (pending.size() < options.max_unacked) resume.cancel();
  }

  // Keepalive (section 3.1.2.10): a PINGREQ when nothing was sent for half the interval, and
  // the connection dropped when nothing came back for one and a half intervals.
  void ArmKeepalive() {
    const std::chrono::milliseconds interval = std::chrono::seconds(options.keepalive_seconds);
    deadline.expires_after(interval / 2);
    deadline.async_wait(
        [self = shared_from_this(), e = epoch, interval](boost::system::error_code ec) {
          if (ec || e != self->epoch || !self->socket) return;
          const auto now = Clock::now();
          const bool paused = self->pending.size() >= self->options.max_unacked;
          if (!paused && now - self->last_received > interval * 3 / 2) {
            self->close_reason = "the broker stopped answering";
            return self->Close();
          }
          if (now - self->last_sent >= interval / 2) self->Send(EncodePingreq());
          self->ArmKeepalive();
        });
  }

  asio::awaitable<core::Status> Session() {
    ++epoch;
    pending.clear();
    first_seq = 0;
    outbox.clear();
    writing = false;
    connected = false;
    retry_requested = false;
    close_reason.clear();
    socket.emplace(ioc);
    deadline.expires_after(options.connect_timeout);
    deadline.async_wait([self = shared_from_this(), e = epoch](boost::system::error_code ec) {
      if (ec || e != self->epoch || self->connected) return;
      self->close_reason =
          fmt::format("no CONNACK within {} ms", self->options.connect_timeout.count());
      self->resolver.cancel();
      self->Close();
    });
    boost::system::error_code ec;
    auto endpoints = co_await resolver.async_resolve(options.host, options.port,
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      co_return core::Status(core::Code::kUnavailable,
                             fmt::format("resolving {}: {}", options.host, ec.message()));
    }
    co_await asio::async_connect(*socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      co_return core::Status(
          core::Code::kUnavailable,
          !close_reason.empty() ? close_reason : fmt::format("connecting: {}", ec.message()));
    }
    socket->set_option(tcp::no_delay(true), ec);
    Send(EncodeConnect({.client_id = options.client_id,
                        .username = options.username,
                        .password = options.password,
                        .keepalive_seconds = options.keepalive_seconds,
                        .clean_session = false}));
    std::string in;
    std::array<char, 64 * 1024> chunk;
    auto ended = [&] {
      return core::Status(core::Code::kUnavailable,
                          retry_requested ? "reconnecting to take a message again"
                          : stopping      ? "stopped"
                          : !close_reason.empty()
                              ? close_reason
                              : fmt::format("connection lost: {}", ec.message()));
    };
    for (;;) {
      while (pending.size() >= options.max_unacked && socket->is_open()) {
        resume.expires_at(Clock::time_point::max());
        co_await resume.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        last_received = Clock::now();
      }
      if (!socket->is_open()) co_return ended();
      // Hand over the packets already read while there is room for them; read more only when no
      // whole packet is left.
      size_t at = 0;
      bool need_more = false;
      while (pending.size() < options.max_unacked) {
        auto header = DecodeFixedHeader(std::string_view(in).substr(at), options.max_packet_bytes);
        if (!header) co_return header.error();
        if (!*header || in.size() - at < (*header)->header_size + (*header)->remaining) {
          need_more = true;
          break;
        }
        const auto& h = **header;
        const std::string_view body = std::string_view(in).substr(at + h.header_size, h.remaining);
        at += h.header_size + h.remaining;
        if (auto s = OnPacket(h, body); !s.ok()) co_return s;
      }
      in.erase(0, at);
      if (!need_more) continue;  // full: wait for an acknowledgement first
      const size_t n = co_await socket->async_read_some(
          asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ended();
      last_received = Clock::now();
      in.append(chunk.data(), n);
    }
  }

  core::Status OnPacket(const FixedHeader& h, std::string_view body) {
    switch (h.type) {
      case PacketType::kConnack: {
        ASSIGN_OR_RETURN(auto c, DecodeConnack(body));
        if (c.return_code != 0) {
          return core::Status(
              core::Code::kPermissionDenied,
              fmt::format("the broker refused the connection: {}", ConnackReason(c.return_code)));
        }
        connected = true;
        deadline.cancel();
        if (options.keepalive_seconds > 0) ArmKeepalive();  // 0: no keepalive (3.1.2.10)
        SetStat([](SubscriberStats& s) { ++s.connects; });
        Send(EncodeSubscribe(kSubscribeId, options.topic_filter, 1));
        return core::Status();
      }
      case PacketType::kSuback: {
        ASSIGN_OR_RETURN(auto s, DecodeSuback(body));
        if (s.packet_id != kSubscribeId) {
          return core::Status(core::Code::kInvalidArgument,
                              fmt::format("SUBACK for packet {}, not our SUBSCRIBE", s.packet_id));
        }
        if (s.granted.empty() || s.granted[0] == 0x80) {
          return core::Status(
              core::Code::kPermissionDenied,
              fmt::format("the broker refused the subscription to {}", options.topic_filter));
        }
        core::Logger("mqtt")->info("subscribed to {} at {}:{}", options.topic_filter, options.host,
                                   options.port);
        SetStat([](SubscriberStats& st) {
          st.subscribed = true;
          st.last_error.clear();
        });
        return core::Status();
      }
      case PacketType::kPublish: {
        if (!connected) return core::Status(core::Code::kInvalidArgument, "PUBLISH before CONNACK");
        ASSIGN_OR_RETURN(auto p, DecodePublish(h.flags, body));
        // medulla subscribes at QoS 1, so the broker never sends QoS 2 (section 3.8.4).
        if (p.qos == 2) {
          return core::Status(core::Code::kInvalidArgument,
                              "QoS 2 PUBLISH on a QoS 1 subscription");
        }
        const uint64_t seq = first_seq + pending.size();
        pending.push_back({.packet_id = p.packet_id});
        SetStat([](SubscriberStats& s) { ++s.messages; });
        handler(std::string(p.topic), std::string(p.payload), MakeAck(seq));
        return core::Status();
      }
      case PacketType::kPingresp:
        return core::Status();
      default:
        return core::Status(
            core::Code::kInvalidArgument,
            fmt::format("unexpected MQTT packet type {}", static_cast<int>(h.type)));
    }
  }

  asio::awaitable<void> Run() {
    auto backoff = options.reconnect_min;
    auto log = core::Logger("mqtt");
    while (!stopping) {
      const core::Status s = co_await Session();
      const bool was_subscribed = Stats().subscribed;
      Close();
      ++epoch;  // acks still in flight belong to the connection that ended
      SetStat([&](SubscriberStats& st) {
        st.subscribed = false;
        if (!stopping && !retry_requested) st.last_error = s.message();
      });
      if (stopping) break;
      if (was_subscribed || retry_requested) backoff = options.reconnect_min;
      if (!retry_requested) {
        log->warn("MQTT broker {}:{}: {}; reconnecting in {} ms", options.host, options.port,
                  s.message(), backoff.count());
      }
      backoff_timer.expires_after(backoff);
      boost::system::error_code ec;
      co_await backoff_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      backoff = std::min(backoff * 2, options.reconnect_max);
    }
  }

  SubscriberStats Stats() const {
    std::lock_guard lock(stats_mu);
    return stats;
  }

  void Stop() {
    stopping = true;
    if (socket && socket->is_open() && connected) {
      // A clean DISCONNECT: the broker keeps the session (clean session is off) and queues
      // what is published meanwhile.
      boost::system::error_code ec;
      const std::string packet = EncodeDisconnect();
      asio::write(*socket, asio::buffer(packet), ec);
    }
    resolver.cancel();
    backoff_timer.cancel();
    Close();
  }
};

Subscriber::Subscriber(SubscriberOptions options, MessageHandler handler)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(handler))) {
  asio::co_spawn(impl_->ioc, impl_->Run(), asio::detached);
  thread_ = std::thread([impl = impl_] { impl->ioc.run(); });
}

Subscriber::~Subscriber() {
  asio::post(impl_->ioc, [impl = impl_] { impl->Stop(); });
  thread_.join();
}

SubscriberStats Subscriber::Stats() const {
  return impl_->Stats();
}

bool Subscriber::WaitSubscribed(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->stats_mu);
  return impl_->stats_cv.wait_for(lock, timeout, [&] { return impl_->stats.subscribed; });
}

}  // namespace medulla::mqtt
