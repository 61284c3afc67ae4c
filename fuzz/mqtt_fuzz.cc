// What an MQTT broker sends the subscriber, as a stream of packets the way the subscriber's read
// loop takes it (src/mqtt/subscriber.cc): a fixed header, then CONNACK, SUBACK or PUBLISH
// decoded from exactly the body it announces. The decoders must refuse anything malformed with
// a reason, never read past the body, and what they accept must hold the standard's invariants:
// a PUBLISH topic is non-empty well-formed UTF-8 without U+0000 or wildcards (checked against a
// separate RFC 3629 validator), a QoS 1/2 packet identifier is non-zero, and re-encoding a
// decoded PUBLISH gives back its body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mqtt/packet.h"

namespace {

using medulla::mqtt::PacketType;

// RFC 3629 section 4, the well-formed byte sequences, as ranges of the second byte.
bool WellFormedUtf8WithoutNul(std::string_view s) {
  size_t i = 0;
  auto in = [&](size_t at, uint8_t lo, uint8_t hi) {
    if (at >= s.size()) return false;
    const auto b = static_cast<uint8_t>(s[at]);
    return b >= lo && b <= hi;
  };
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x01 && c <= 0x7f) {
      i += 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (!in(i + 1, 0x80, 0xbf)) return false;
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      const uint8_t lo = c == 0xe0 ? 0xa0 : 0x80;
      const uint8_t hi = c == 0xed ? 0x9f : 0xbf;  // no surrogates
      if (!in(i + 1, lo, hi) || !in(i + 2, 0x80, 0xbf)) return false;
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      const uint8_t lo = c == 0xf0 ? 0x90 : 0x80;
      const uint8_t hi = c == 0xf4 ? 0x8f : 0xbf;  // nothing past U+10FFFF
      if (!in(i + 1, lo, hi) || !in(i + 2, 0x80, 0xbf) || !in(i + 3, 0x80, 0xbf)) return false;
      i += 4;
    } else {
      return false;  // U+0000, a continuation byte, C0, C1, F5..FF
    }
  }
  return true;
}

void CheckPublish(uint8_t flags, std::string_view body) {
  auto p = medulla::mqtt::DecodePublish(flags, body);
  if (!p) {
    if (p.error().message().empty()) __builtin_trap();
    // The one refusal that can be told from the outside: a well-formed topic is not refused
    // as a topic name.
    return;
  }
  const char* const lo = body.data();
  const char* const hi = body.data() + body.size();
  if (p->topic.data() < lo || p->topic.data() + p->topic.size() > hi) __builtin_trap();
  if (p->payload.data() < lo || p->payload.data() + p->payload.size() > hi) __builtin_trap();
  if (p->qos > 2 || p->qos != ((flags >> 1) & 3)) __builtin_trap();
  if ((p->qos > 0) != (p->packet_id != 0)) __builtin_trap();
  if (p->dup != ((flags & 8) != 0) || p->retain != ((flags & 1) != 0)) __builtin_trap();
  if (p->topic.empty() || p->topic.find_first_of("+#") != std::string_view::npos) {
    __builtin_trap();
  }
  if (!WellFormedUtf8WithoutNul(p->topic)) __builtin_trap();
  if (2 + p->topic.size() + (p->qos > 0 ? 2 : 0) + p->payload.size() != body.size()) {
    __builtin_trap();
  }
  // Re-encoded, the same body (the fixed header may differ: a non-minimal length, RETAIN).
  const std::string again =
      medulla::mqtt::EncodePublish(p->topic, p->payload, p->qos, p->packet_id, p->dup);
  auto h = medulla::mqtt::DecodeFixedHeader(again, again.size());
  if (!h || !*h || (*h)->header_size + (*h)->remaining != again.size()) __builtin_trap();
  if (std::string_view(again).substr((*h)->header_size) != body) __builtin_trap();
}

// The differential check of the topic validator: a topic that the reference calls well-formed
// (and has no wildcard) must be accepted, and one it calls ill-formed refused.
void CheckTopic(std::string_view topic) {
  if (topic.size() > 0xffff) return;
  std::string body;
  body.push_back(static_cast<char>(topic.size() >> 8));
  body.push_back(static_cast<char>(topic.size() & 0xff));
  body.append(topic);
  const bool expected = !topic.empty() && topic.find_first_of("+#") == std::string_view::npos &&
                        WellFormedUtf8WithoutNul(topic);
  if (medulla::mqtt::DecodePublish(0, body).has_value() != expected) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  // The subscriber's default limit is 4 MiB; a small one here reaches kTooLarge too.
  constexpr size_t kMaxRemaining = 32 * 1024;
  while (!rest.empty()) {
    auto header = medulla::mqtt::DecodeFixedHeader(rest, kMaxRemaining);
    if (!header) {
      if (header.error().message().empty()) __builtin_trap();
      break;  // the subscriber drops the connection
    }
    if (!*header) break;  // it waits for more bytes
    const auto& h = **header;
    if (h.header_size < 2 || h.header_size > 5 || h.remaining > kMaxRemaining) __builtin_trap();
    const auto type = static_cast<int>(h.type);
    if (type < 1 || type > 14 || h.flags > 15) __builtin_trap();
    if (rest.size() - h.header_size < h.remaining) break;  // the body is still to come
    const std::string_view body = rest.substr(h.header_size, h.remaining);
    switch (h.type) {
      case PacketType::kConnack: {
        auto c = medulla::mqtt::DecodeConnack(body);
        if (c && (body.size() != 2 || medulla::mqtt::ConnackReason(c->return_code).empty())) {
          __builtin_trap();
        }
        break;
      }
      case PacketType::kSuback: {
        auto s = medulla::mqtt::DecodeSuback(body);
        if (s) {
          if (s->granted.size() + 2 != body.size()) __builtin_trap();
          for (uint8_t g : s->granted) {
            if (g > 2 && g != 0x80) __builtin_trap();
          }
        }
        break;
      }
      case PacketType::kPublish:
        CheckPublish(h.flags, body);
        break;
      default:
        break;  // PINGRESP; anything else the subscriber refuses by type
    }
    rest.remove_prefix(h.header_size + h.remaining);
  }
  // The whole input, read as a topic name.
  if (size <= 1024) CheckTopic(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
