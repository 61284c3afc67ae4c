// The MQTT 3.1.1 packets a subscriber exchanges with its broker (OASIS MQTT Version 3.1.1,
// 2014, section 2 "MQTT Control Packet format" and section 3 "MQTT Control Packets"): encoding
// what it sends (CONNECT, SUBSCRIBE, PUBACK, PINGREQ, DISCONNECT) and decoding, with bounds
// checks, what it receives (CONNACK, SUBACK, PUBLISH, PINGRESP). No I/O here; the decoder is
// fuzzed (fuzz/mqtt_fuzz.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace medulla::mqtt {

enum class PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

// The fixed header (section 2.2): type, flags and the remaining length, which is a variable
// byte integer of at most four bytes (section 2.2.3).
struct FixedHeader {
  PacketType type = PacketType::kConnect;
  uint8_t flags = 0;
  size_t remaining = 0;    // bytes after the fixed header
  size_t header_size = 0;  // 2..5 bytes
};

// Decodes the fixed header at the start of `bytes`: nullopt when more bytes are needed;
// kInvalidArgument for a malformed length or type 0/15; kTooLarge past `max_remaining`.
core::Result<std::optional<FixedHeader>> DecodeFixedHeader(std::string_view bytes,
                                                           size_t max_remaining);

struct Connack {
  bool session_present = false;
  uint8_t return_code = 0;  // 0: accepted (section 3.2.2.3)
};
core::Result<Connack> DecodeConnack(std::string_view body);
// The broker's words for a refused connection (section 3.2.2.3, table 3.1).
std::string_view ConnackReason(uint8_t return_code);

struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> granted;  // per topic filter: 0..2 the QoS granted, 0x80 failure
};
core::Result<Suback> DecodeSuback(std::string_view body);

// A PUBLISH (section 3.3). The views point into the body given to DecodePublish.
struct Publish {
  std::string_view topic;
  std::string_view payload;
  uint16_t packet_id = 0;  // 0 for QoS 0
  uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
};
core::Result<Publish> DecodePublish(uint8_t flags, std::string_view body);

struct ConnectOptions {
  std::string client_id;
  std::string username;  // empty: none
  std::string password;  // sent only with a username
  uint16_t keepalive_seconds = 30;
  // false: the broker keeps the session (the subscription and unacknowledged QoS 1 messages)
  // while medulla is away, so nothing published meanwhile is lost.
  bool clean_session = false;
};
std::string EncodeConnect(const ConnectOptions& options);
std::string EncodeSubscribe(uint16_t packet_id, std::string_view topic_filter, uint8_t qos);
std::string EncodePuback(uint16_t packet_id);
std::string EncodePingreq();
std::string EncodeDisconnect();

// For tests and tools: a PUBLISH packet as a broker would send it.
std::string EncodePublish(std::string_view topic, std::string_view payload, uint8_t qos,
                          uint16_t packet_id, bool dup = false);

}  // namespace medulla::mqtt
