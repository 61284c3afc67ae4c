// An MQTT 3.1.1 subscriber that acknowledges a message only when its consumer says it is safe:
// medulla keeps a persistent session at the broker (clean session off, QoS 1), hands each
// PUBLISH to its handler, and sends the PUBACK once the handler has stored the message durably.
// Until then the broker holds the message, so a crash between receipt and storage loses
// nothing: the broker sends it again after the reconnect (the store drops the duplicate).
//
// Why not libmosquitto or Paho: both send the PUBACK for a QoS 1 message before they hand it to
// the application (libmosquitto's handle__publish, Paho's MQTTProtocol_handlePublishes), which
// would acknowledge readings that are not yet on disk. The subscriber side of MQTT 3.1.1 is
// small (CONNECT, SUBSCRIBE, PUBLISH, PUBACK, PINGREQ), so medulla speaks it itself on Asio.
//
// Acknowledgements go out in the order the messages came (section 4.6 of the standard). At most
// `max_unacked` messages wait for their handler; past that the subscriber stops reading the
// socket, and TCP and the broker's queue hold the rest (backpressure, not memory growth).
// Lost connections are retried with exponential backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace medulla::mqtt {

struct SubscriberOptions {
  std::string host = "127.0.0.1";
  std::string port = "1883";
  // The broker keys the persistent session by it: keep it stable across restarts, and unique
  // per medulla instance.
  std::string client_id = "medulla";
  std::string username;  // empty: anonymous
  std::string password;
  std::string topic_filter = "medulla/telemetry/+";
  uint16_t keepalive_seconds = 30;
  size_t max_packet_bytes = 4 << 20;
  size_t max_unacked = 1000;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds reconnect_min{250};
  std::chrono::milliseconds reconnect_max{30'000};
};

// What became of a message. kRetry: it could not be taken now (a full queue, a failed write);
// the subscriber reconnects so that the broker delivers it, and everything after it, again.
enum class Disposition : uint8_t { kDone, kRetry };
using Ack = std::function<void(Disposition)>;  // call exactly once, from any thread
using MessageHandler = std::function<void(std::string topic, std::string payload, Ack ack)>;

struct SubscriberStats {
  bool subscribed = false;
  uint64_t messages = 0;  // PUBLISH packets handed to the handler
  uint64_t connects = 0;  // successful CONNACKs
  std::string last_error;
};

class Subscriber {
 public:
  // Starts its thread and connects in the background; a broker that is down is retried.
  Subscriber(SubscriberOptions options, MessageHandler handler);
  // Disconnects; messages not yet acknowledged stay with the broker for the next session.
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  SubscriberStats Stats() const;
  // Waits until the subscription is in place; false on timeout.
  bool WaitSubscribed(std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace medulla::mqtt
