#include "mqtt/packet.h"

#include <fmt/format.h>

namespace medulla::mqtt {
namespace {

core::Status Malformed(std::string_view what) {
  return core::Status(core::Code::kInvalidArgument, fmt::format("malformed MQTT {}", what));
}

void PutU16(std::string& out, size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

// A UTF-8 encoded string (section 1.5.3): two length bytes, then the bytes.
void PutString(std::string& out, std::string_view s) {
  PutU16(out, s.size());
  out.append(s);
}

// The remaining length as a variable byte integer (section 2.2.3).
void PutLength(std::string& out, size_t n) {
  do {
    uint8_t byte = n % 128;
    n /= 128;
    if (n > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (n > 0);
}

std::string Packet(uint8_t first_byte, std::string_view body) {
  std::string out;
  out.reserve(body.size() + 5);
  out.push_back(static_cast<char>(first_byte));
  PutLength(out, body.size());
  out.append(body);
  return out;
}

uint16_t GetU16(std::string_view s, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[at]) << 8) |
                               static_cast<uint8_t>(s[at + 1]));
}

// Well-formed UTF-8 without U+0000 (section 1.5.3: a receiver closes the connection on
// anything else).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c == 0) return false;
    int extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

}  // namespace

core::Result<std::optional<FixedHeader>> DecodeFixedHeader(std::string_view bytes,
                                                           size_t max_remaining) {
  if (bytes.empty()) return std::optional<FixedHeader>();
  FixedHeader h;
  const auto first = static_cast<uint8_t>(bytes[0]);
  const uint8_t type = first >> 4;
  if (type == 0 || type == 15) return core::Fail(Malformed("packet type"));
  h.type = static_cast<PacketType>(type);
  h.flags = first & 0x0f;
  // Fixed flag bits (section 2.2.2): PUBLISH carries its own; PUBREL, SUBSCRIBE and UNSUBSCRIBE
  // have 0b0010; every other type 0. Anything else is malformed and closes the connection.
  const uint8_t required = (type == 6 || type == 8 || type == 10) ? 0x02 : 0x00;
  if (type != 3 && h.flags != required) return core::Fail(Malformed("fixed header flags"));
  size_t value = 0;
  size_t multiplier = 1;
  for (size_t i = 1;; ++i) {
    if (i > 4) return core::Fail(Malformed("remaining length"));
    if (i >= bytes.size()) return std::optional<FixedHeader>();
    const auto b = static_cast<uint8_t>(bytes[i]);
    value += (b & 0x7f) * multiplier;
    multiplier *= 128;
    if ((b & 0x80) == 0) {
      h.header_size = i + 1;
      break;
    }
  }
  if (value > max_remaining) {
    return core::Fail(core::Status(
        core::Code::kTooLarge,
        fmt::format("MQTT packet of {} bytes exceeds the limit of {}", value, max_remaining)));
  }
  h.remaining = value;
  return std::optional<FixedHeader>(h);
}

core::Result<Connack> DecodeConnack(std::string_view body) {
  if (body.size() != 2 || (static_cast<uint8_t>(body[0]) & 0xfe) != 0) {
    return core::Fail(Malformed("CONNACK"));
  }
  return Connack{.session_present = (body[0] & 1) != 0,
                 .return_code = static_cast<uint8_t>(body[1])};
}

std::string_view ConnackReason(uint8_t return_code) {
  switch (return_code) {
    case 0:
      return "connection accepted";
    case 1:
      return "unacceptable protocol version";
    case 2:
      return "client identifier rejected";
    case 3:
      return "server unavailable";
    case 4:
      return "bad user name or password";
    case 5:
      return "not authorized";
  }
  return "unknown CONNACK return code";
}

core::Result<Suback> DecodeSuback(std::string_view body) {
  if (body.size() < 3) return core::Fail(Malformed("SUBACK"));
  Suback s{.packet_id = GetU16(body, 0)};
  for (size_t i = 2; i < body.size(); ++i) {
    const auto code = static_cast<uint8_t>(body[i]);
    if (code > 2 && code != 0x80) return core::Fail(Malformed("SUBACK return code"));
    s.granted.push_back(code);
  }
  return s;
}

core::Result<Publish> DecodePublish(uint8_t flags, std::string_view body) {
  Publish p;
  p.retain = (flags & 1) != 0;
  p.qos = (flags >> 1) & 3;
  p.dup = (flags & 8) != 0;
  if (p.qos == 3) return core::Fail(Malformed("PUBLISH QoS"));
  if (body.size() < 2) return core::Fail(Malformed("PUBLISH"));
  const size_t topic_len = GetU16(body, 0);
  size_t at = 2 + topic_len;
  if (at > body.size()) return core::Fail(Malformed("PUBLISH topic length"));
  p.topic = body.substr(2, topic_len);
  // A topic name never holds wildcards (section 3.3.2.1) and is UTF-8.
  if (p.topic.empty() || p.topic.find_first_of("+#") != std::string_view::npos ||
      !ValidUtf8(p.topic)) {
    return core::Fail(Malformed("PUBLISH topic name"));
  }
  if (p.qos > 0) {
    if (at + 2 > body.size()) return core::Fail(Malformed("PUBLISH packet identifier"));
    p.packet_id = GetU16(body, at);
    if (p.packet_id == 0) return core::Fail(Malformed("PUBLISH packet identifier 0"));
    at += 2;
  }
  p.payload = body.substr(at);
  return p;
}

std::string EncodeConnect(const ConnectOptions& options) {
  std::string body;
  PutString(body, "MQTT");
  body.push_back(4);  // protocol level 4: MQTT 3.1.1
  uint8_t flags = options.clean_session ? 0x02 : 0;
  if (!options.username.empty()) {
    flags |= 0x80;
    flags |= 0x40;
  }
  body.push_back(static_cast<char>(flags));
  PutU16(body, options.keepalive_seconds);
  PutString(body, options.client_id);
  if (!options.username.empty()) {
    PutString(body, options.username);
    PutString(body, options.password);
  }
  return Packet(0x10, body);
}

std::string EncodeSubscribe(uint16_t packet_id, std::string_view topic_filter, uint8_t qos) {
  std::string body;
  PutU16(body, packet_id);
  PutString(body, topic_filter);
  body.push_back(static_cast<char>(qos));
  return Packet(0x82, body);  // SUBSCRIBE's reserved flags are 0b0010 (section 3.8.1)
}

std::string EncodePuback(uint16_t packet_id) {
  std::string body;
  PutU16(body, packet_id);
  return Packet(0x40, body);
}

std::string EncodePingreq() {
  return Packet(0xc0, {});
}

std::string EncodeDisconnect() {
  return Packet(0xe0, {});
}

std::string EncodePublish(std::string_view topic, std::string_view payload, uint8_t qos,
                          uint16_t packet_id, bool dup) {
  std::string body;
  PutString(body, topic);
  if (qos > 0) PutU16(body, packet_id);
  body.append(payload);
  return Packet(static_cast<uint8_t>(0x30 | (dup ? 8 : 0) | (qos << 1)), body);
}

}  // namespace medulla::mqtt
