// The MQTT 3.1.1 codec against the standard (OASIS MQTT Version 3.1.1, 29 October 2014; the
// section numbers below are that document's): the remaining-length encoding, the bytes of what
// the subscriber sends, and the refusals of what a broker might send it.
#include "mqtt/packet.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace medulla::mqtt {
namespace {

using core::Code;

constexpr size_t kMaxRemaining = 268'435'455;  // the largest four-byte length (section 2.2.3)

// Bytes from numbers, so that expected packets read like the figures of the standard.
std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// A UTF-8 encoded string (section 1.5.3): two length bytes, MSB first, then the bytes.
std::string Str(std::string_view s) {
  return Bytes({static_cast<int>(s.size() >> 8), static_cast<int>(s.size() & 0xff)}) +
         std::string(s);
}

// A PUBLISH body: the topic name, the packet identifier when `packet_id` >= 0, the payload.
std::string PublishBody(std::string_view topic, int packet_id, std::string_view payload) {
  std::string body = Str(topic);
  if (packet_id >= 0) body += Bytes({packet_id >> 8, packet_id & 0xff});
  return body + std::string(payload);
}

// --- Fixed header, remaining length (section 2.2.3, table 2.4) ---

struct LengthCase {
  size_t value;
  std::string encoded;
};

TEST(FixedHeaderTest, RemainingLengthBoundariesOfTable24) {
  // Table 2.4 "Size of Remaining Length field": the first and last value of each size.
  const LengthCase cases[] = {
      {0, Bytes({0x00})},
      {127, Bytes({0x7f})},
      {128, Bytes({0x80, 0x01})},
      {16'383, Bytes({0xff, 0x7f})},
      {16'384, Bytes({0x80, 0x80, 0x01})},
      {2'097'151, Bytes({0xff, 0xff, 0x7f})},
      {2'097'152, Bytes({0x80, 0x80, 0x80, 0x01})},
      {268'435'455, Bytes({0xff, 0xff, 0xff, 0x7f})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value);
    const std::string header = Bytes({0x30}) + c.encoded;
    auto h = DecodeFixedHeader(header, kMaxRemaining);
    ASSERT_TRUE(h.has_value()) << h.error().message();
    ASSERT_TRUE(h->has_value());
    EXPECT_EQ((*h)->type, PacketType::kPublish);
    EXPECT_EQ((*h)->flags, 0);
    EXPECT_EQ((*h)->remaining, c.value);
    EXPECT_EQ((*h)->header_size, 1 + c.encoded.size());
    // The header alone is enough: the body need not have arrived yet.
    auto with_body_byte = DecodeFixedHeader(header + "x", kMaxRemaining);
    ASSERT_TRUE(with_body_byte.has_value() && with_body_byte->has_value());
    EXPECT_EQ((*with_body_byte)->header_size, 1 + c.encoded.size());
  }
}

TEST(FixedHeaderTest, EncodersUseTheShortestLength) {
  // Bodies whose sizes sit on either side of a length-size boundary; a PUBLISH of topic "t" at
  // QoS 0 has a body of 3 + the payload size.
  const LengthCase cases[] = {
      {127, Bytes({0x7f})},
      {128, Bytes({0x80, 0x01})},
      {16'383, Bytes({0xff, 0x7f})},
      {16'384, Bytes({0x80, 0x80, 0x01})},
      {2'097'151, Bytes({0xff, 0xff, 0x7f})},
      {2'097'152, Bytes({0x80, 0x80, 0x80, 0x01})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value);
    const std::string packet = EncodePublish("t", std::string(c.value - 3, 'p'), 0, 0);
    ASSERT_EQ(packet.size(), 1 + c.encoded.size() + c.value);
    EXPECT_EQ(packet.substr(1, c.encoded.size()), c.encoded);
  }
  // The smallest packets: a remaining length of zero is one byte (sections 3.12, 3.14).
  EXPECT_EQ(EncodePingreq(), Bytes({0xc0, 0x00}));
  EXPECT_EQ(EncodeDisconnect(), Bytes({0xe0, 0x00}));
}

TEST(FixedHeaderTest, AFifthLengthByteIsMalformed) {
  // "The maximum number of bytes in the Remaining Length field is four" (section 2.2.3).
  for (const std::string& bytes :
       {Bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}), Bytes({0x30, 0x80, 0x80, 0x80, 0x80, 0x01}),
        Bytes({0x30, 0xff, 0xff, 0xff, 0xff}),  // even unfinished
        Bytes({0x30, 0x80, 0x80, 0x80, 0x80})}) {
    auto h = DecodeFixedHeader(bytes, kMaxRemaining);
    ASSERT_FALSE(h.has_value());
    EXPECT_EQ(h.error().code(), Code::kInvalidArgument);
    EXPECT_NE(h.error().message().find("remaining length"), std::string::npos);
  }
}

TEST(FixedHeaderTest, AnIncompleteHeaderAsksForMoreBytes) {
  for (const std::string& bytes :
       {std::string(), Bytes({0x30}), Bytes({0x30, 0x80}), Bytes({0x30, 0xff, 0xff}),
        Bytes({0x30, 0xff, 0xff, 0xff}), Bytes({0x20})}) {
    SCOPED_TRACE(bytes.size());
    auto h = DecodeFixedHeader(bytes, kMaxRemaining);
    ASSERT_TRUE(h.has_value()) << h.error().message();
    EXPECT_FALSE(h->has_value());
  }
}

TEST(FixedHeaderTest, ReservedPacketTypesAreMalformed) {
  // Table 2.1: types 0 and 15 are reserved ("Forbidden").
  for (int first : {0x00, 0x0f, 0xf0, 0xff}) {
    auto h = DecodeFixedHeader(Bytes({first, 0x00}), kMaxRemaining);
    ASSERT_FALSE(h.has_value()) << first;
    EXPECT_EQ(h.error().code(), Code::kInvalidArgument);
  }
  for (int type = 1; type <= 14; ++type) {
    const int flags = (type == 6 || type == 8 || type == 10) ? 0x02 : 0x00;
    auto h = DecodeFixedHeader(Bytes({type << 4 | flags, 0x00}), kMaxRemaining);
    ASSERT_TRUE(h.has_value() && h->has_value()) << type;
    EXPECT_EQ(static_cast<int>((*h)->type), type);
    EXPECT_EQ((*h)->flags, flags);
  }
}

TEST(FixedHeaderTest, FlagsOtherThanTable22AreMalformed) {
  // Table 2.2: PUBLISH carries DUP, QoS and RETAIN in the low nibble; PUBREL, SUBSCRIBE and
  // UNSUBSCRIBE have 0010; every other type 0000, and "if invalid flags are received, the
  // receiver MUST close the Network Connection" (section 2.2.2).
  auto publish = DecodeFixedHeader(Bytes({0x3b, 0x00}), kMaxRemaining);
  ASSERT_TRUE(publish.has_value() && publish->has_value());
  EXPECT_EQ((*publish)->flags, 0x0b);
  for (int type : {2, 4, 5, 6, 9, 11, 13}) {
    for (int flags : {0x01, 0x08, 0x0a}) {
      if (type == 6 && flags == 0x02) continue;
      auto h = DecodeFixedHeader(Bytes({type << 4 | flags, 0x00}), kMaxRemaining);
      ASSERT_FALSE(h.has_value()) << type << " " << flags;
      EXPECT_EQ(h.error().code(), Code::kInvalidArgument);
    }
  }
  EXPECT_FALSE(DecodeFixedHeader(Bytes({0x60, 0x02}), kMaxRemaining).has_value())
      << "PUBREL needs 0010";
}

TEST(FixedHeaderTest, PastMaxRemainingIsTooLarge) {
  const std::string len_1024 = Bytes({0x30, 0x80, 0x08});
  auto at_limit = DecodeFixedHeader(len_1024, 1024);
  ASSERT_TRUE(at_limit.has_value() && at_limit->has_value());
  EXPECT_EQ((*at_limit)->remaining, 1024u);

  auto over = DecodeFixedHeader(len_1024, 1023);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code(), Code::kTooLarge);

  // Known as soon as the length is, before any of the body has come.
  auto huge = DecodeFixedHeader(Bytes({0x30, 0xff, 0xff, 0xff, 0x7f}), 4 << 20);
  ASSERT_FALSE(huge.has_value());
  EXPECT_EQ(huge.error().code(), Code::kTooLarge);
  auto zero_limit = DecodeFixedHeader(Bytes({0x30, 0x01}), 0);
  ASSERT_FALSE(zero_limit.has_value());
  EXPECT_EQ(zero_limit.error().code(), Code::kTooLarge);
}

TEST(FixedHeaderTest, PacketsFollowOneAnotherInAStream) {
  const std::string stream =
      EncodePublish("a/b", "one", 1, 1) + Bytes({0xd0, 0x00}) + EncodePublish("a/b", "two", 0, 0);
  std::string_view rest = stream;
  std::vector<std::string> seen;
  while (!rest.empty()) {
    auto h = DecodeFixedHeader(rest, kMaxRemaining);
    ASSERT_TRUE(h.has_value() && h->has_value());
    const auto body = rest.substr((*h)->header_size, (*h)->remaining);
    if ((*h)->type == PacketType::kPublish) {
      auto p = DecodePublish((*h)->flags, body);
      ASSERT_TRUE(p.has_value()) << p.error().message();
      seen.emplace_back(p->payload);
    } else {
      EXPECT_EQ((*h)->type, PacketType::kPingresp);
      seen.emplace_back("pingresp");
    }
    rest.remove_prefix((*h)->header_size + (*h)->remaining);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "pingresp", "two"}));
}

// --- CONNECT (section 3.1) ---

// The variable header of section 3.1.2: protocol name "MQTT" (3.1.2.1), level 4 (3.1.2.2), the
// connect flags (3.1.2.3), keep alive MSB first (3.1.2.10).
std::string ConnectVariableHeader(int flags, int keepalive) {
  return Str("MQTT") + Bytes({0x04, flags, keepalive >> 8, keepalive & 0xff});
}

TEST(ConnectTest, WithoutUserNameOrPassword) {
  const std::string packet = EncodeConnect({.client_id = "medulla", .keepalive_seconds = 10});
  const std::string body = ConnectVariableHeader(0x00, 10) + Str("medulla");
  ASSERT_EQ(body.size(), 19u);
  EXPECT_EQ(packet, Bytes({0x10, 19}) + body);
  // Byte by byte, as in the non-normative example of section 3.1.2: length 4, "MQTT", level 4.
  EXPECT_EQ(packet.substr(2, 7), Bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04}));
}

TEST(ConnectTest, UserNameAndPasswordFlagsAndPayloadOrder) {
  // Flags bit 7 user name, bit 6 password (sections 3.1.2.8, 3.1.2.9); the payload is client
  // identifier, (will topic, will message,) user name, password (section 3.1.3).
  const std::string packet = EncodeConnect(
      {.client_id = "dev-7", .username = "medulla", .password = "s3cret", .keepalive_seconds = 60});
  const std::string body =
      ConnectVariableHeader(0xc0, 60) + Str("dev-7") + Str("medulla") + Str("s3cret");
  EXPECT_EQ(packet, Bytes({0x10, static_cast<int>(body.size())}) + body);
}

TEST(ConnectTest, CleanSessionBit) {
  // Bit 1 (section 3.1.2.4); bit 0 is reserved and zero (section 3.1.2.3).
  const std::string off = EncodeConnect({.client_id = "c", .clean_session = false});
  const std::string on = EncodeConnect({.client_id = "c", .clean_session = true});
  EXPECT_EQ(static_cast<uint8_t>(off[9]), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(on[9]), 0x02);
  const std::string both =
      EncodeConnect({.client_id = "c", .username = "u", .password = "p", .clean_session = true});
  EXPECT_EQ(static_cast<uint8_t>(both[9]), 0xc2);
  // Will flag, will QoS and will retain (bits 2..5) stay clear: the subscriber sets no will.
  EXPECT_EQ(static_cast<uint8_t>(both[9]) & 0x3d, 0);
}

TEST(ConnectTest, PasswordNeedsAUserName) {
  // "If the User Name Flag is set to 0, the Password Flag MUST be set to 0" (section 3.1.2.9).
  const std::string packet = EncodeConnect({.client_id = "c", .password = "p"});
  EXPECT_EQ(packet, Bytes({0x10, 13}) + ConnectVariableHeader(0x00, 30) + Str("c"));
  // A user name with an empty password: both flags, and a zero-length password present.
  const std::string empty_password = EncodeConnect({.client_id = "c", .username = "u"});
  EXPECT_EQ(empty_password,
            Bytes({0x10, 18}) + ConnectVariableHeader(0xc0, 30) + Str("c") + Str("u") + Str(""));
}

TEST(ConnectTest, KeepAliveIsMsbFirst) {
  const std::string packet = EncodeConnect({.client_id = "c", .keepalive_seconds = 0x1234});
  EXPECT_EQ(packet.substr(10, 2), Bytes({0x12, 0x34}));
  const std::string max = EncodeConnect({.client_id = "c", .keepalive_seconds = 65535});
  EXPECT_EQ(max.substr(10, 2), Bytes({0xff, 0xff}));
}

TEST(ConnectTest, LongClientIdentifierUsesATwoByteRemainingLength) {
  const std::string id(200, 'x');
  const std::string packet = EncodeConnect({.client_id = id});
  const std::string body = ConnectVariableHeader(0x00, 30) + Str(id);
  ASSERT_EQ(body.size(), 212u);
  EXPECT_EQ(packet, Bytes({0x10, 0xd4, 0x01}) + body);  // 212 = 0x54 + 1 * 128
}

// --- SUBSCRIBE, PUBACK (sections 3.8, 3.4) ---

TEST(SubscribeTest, FirstByteAndLayout) {
  // Fixed header 1000 0010 (section 3.8.1, [MQTT-3.8.1-1]); packet identifier 10 and the topic
  // filter "a/b" at QoS 1 as in the examples of sections 3.8.2 and 3.8.3.
  EXPECT_EQ(EncodeSubscribe(10, "a/b", 1),
            Bytes({0x82, 0x08, 0x00, 0x0a, 0x00, 0x03, 'a', '/', 'b', 0x01}));
  const std::string wild = EncodeSubscribe(0x0102, "medulla/telemetry/+", 1);
  EXPECT_EQ(static_cast<uint8_t>(wild[0]), 0x82);
  EXPECT_EQ(wild,
            Bytes({0x82, 2 + 2 + 19 + 1, 0x01, 0x02}) + Str("medulla/telemetry/+") + Bytes({0x01}));
}

TEST(PubackTest, Bytes) {
  // Fixed header 0100 0000, remaining length 2, then the packet identifier (section 3.4).
  EXPECT_EQ(EncodePuback(1), Bytes({0x40, 0x02, 0x00, 0x01}));
  EXPECT_EQ(EncodePuback(0x1234), Bytes({0x40, 0x02, 0x12, 0x34}));
  EXPECT_EQ(EncodePuback(65535), Bytes({0x40, 0x02, 0xff, 0xff}));
}

// --- PUBLISH (section 3.3) ---

TEST(PublishTest, QoS0HasNoPacketIdentifier) {
  // Section 3.3.2.2: the identifier is present only for QoS 1 and 2, so at QoS 0 the two bytes
  // after the topic are payload.
  const std::string body = PublishBody("a/b", 10, "hello");
  auto p = DecodePublish(0x00, body);
  ASSERT_TRUE(p.has_value()) << p.error().message();
  EXPECT_EQ(p->topic, "a/b");
  EXPECT_EQ(p->qos, 0);
  EXPECT_EQ(p->packet_id, 0);
  EXPECT_EQ(p->payload, Bytes({0x00, 0x0a}) + "hello");
  EXPECT_FALSE(p->dup);
  EXPECT_FALSE(p->retain);
}

TEST(PublishTest, QoS1CarriesThePacketIdentifier) {
  // Topic "a/b" and identifier 10: the non-normative example of section 3.3.2.
  const std::string body = PublishBody("a/b", 10, "hello");  // the views point into it
  auto p = DecodePublish(0x02, body);
  ASSERT_TRUE(p.has_value()) << p.error().message();
  EXPECT_EQ(p->topic, "a/b");
  EXPECT_EQ(p->qos, 1);
  EXPECT_EQ(p->packet_id, 10);
  EXPECT_EQ(p->payload, "hello");

  const std::string body2 = PublishBody("a/b", 0xbeef, "");
  auto q2 = DecodePublish(0x04, body2);
  ASSERT_TRUE(q2.has_value());
  EXPECT_EQ(q2->qos, 2);
  EXPECT_EQ(q2->packet_id, 0xbeef);
}

TEST(PublishTest, DupAndRetainFlags) {
  // DUP bit 3 (section 3.3.1.1), RETAIN bit 0 (section 3.3.1.3).
  const std::string body = PublishBody("t", 1, "x");
  auto p = DecodePublish(0x08 | 0x02 | 0x01, body);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->dup);
  EXPECT_TRUE(p->retain);
  EXPECT_EQ(p->qos, 1);
}

TEST(PublishTest, EmptyAndBinaryPayloads) {
  // A zero-length payload is valid (section 3.3.3), and the payload is application bytes, not
  // UTF-8.
  const std::string empty_body = PublishBody("t", 1, "");
  auto empty = DecodePublish(0x02, empty_body);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->payload.empty());
  const std::string binary = Bytes({0x00, 0xff, 0xc0, 0x80, 0xed, 0xa0, 0x80});
  const std::string binary_body = PublishBody("t", 1, binary);
  auto bin = DecodePublish(0x02, binary_body);
  ASSERT_TRUE(bin.has_value());
  EXPECT_EQ(bin->payload, binary);
}

TEST(PublishTest, QoS3IsMalformed) {
  // "A PUBLISH Packet MUST NOT have both QoS bits set to 1" [MQTT-3.3.1-4].
  for (uint8_t flags : {0x06, 0x07, 0x0e, 0x0f}) {
    auto p = DecodePublish(flags, PublishBody("t", 1, "x"));
    ASSERT_FALSE(p.has_value()) << int{flags};
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  }
}

TEST(PublishTest, PacketIdentifierZeroIsMalformed) {
  // "... PUBLISH (in cases where QoS > 0) Control Packets MUST contain a non-zero 16-bit Packet
  // Identifier" [MQTT-2.3.1-1].
  for (uint8_t flags : {0x02, 0x04}) {
    auto p = DecodePublish(flags, PublishBody("t", 0, "x"));
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  }
}

TEST(PublishTest, WildcardsInTheTopicNameAreMalformed) {
  // "The Topic Name in the PUBLISH Packet MUST NOT contain wildcard characters" [MQTT-3.3.2-2];
  // and topic names are at least one character long [MQTT-4.7.3-1].
  for (std::string_view topic : {"a/+", "+", "#", "a/#", "+/b", "a/b+", "", "a/#/c"}) {
    auto p = DecodePublish(0x02, PublishBody(topic, 1, "x"));
    ASSERT_FALSE(p.has_value()) << topic;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  }
  for (std::string_view topic : {"/", "a//b", "$SYS/x", " ", "medulla/telemetry/dev-1"}) {
    EXPECT_TRUE(DecodePublish(0x02, PublishBody(topic, 1, "x")).has_value()) << topic;
  }
}

TEST(PublishTest, IllFormedUtf8InTheTopicIsMalformed) {
  // Section 1.5.3: well-formed UTF-8 per RFC 3629, no code points U+D800..U+DFFF [MQTT-1.5.3-1],
  // no U+0000 [MQTT-1.5.3-2].
  const std::string bad[] = {
      std::string("a\0b", 3),                       // U+0000
      Bytes({0xc0, 0x80}),                          // overlong U+0000 ("modified UTF-8")
      Bytes({0xc0, 0xaf}),                          // overlong '/'
      Bytes({0xc1, 0xbf}),                          // overlong U+007F
      Bytes({0xe0, 0x80, 0xaf}),                    // overlong '/' in three bytes
      Bytes({0xe0, 0x9f, 0xbf}),                    // overlong U+07FF
      Bytes({0xf0, 0x80, 0x80, 0xaf}),              // overlong '/' in four bytes
      Bytes({0xf0, 0x8f, 0xbf, 0xbf}),              // overlong U+FFFF
      Bytes({0xed, 0xa0, 0x80}),                    // U+D800, a high surrogate
      Bytes({0xed, 0xbf, 0xbf}),                    // U+DFFF, a low surrogate
      Bytes({0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9}),  // a CESU-8 surrogate pair
      Bytes({0xf4, 0x90, 0x80, 0x80}),              // U+110000, past Unicode
      Bytes({0xf5, 0x80, 0x80, 0x80}),              // a lead byte RFC 3629 forbids
      Bytes({0xf8, 0x88, 0x80, 0x80, 0x80}),        // a five-byte form
      Bytes({0xfe}),
      Bytes({0xff}),
      Bytes({0x80}),  // a lone continuation byte
      Bytes({'a', 0xbf}),
      Bytes({0xc3}),              // truncated two-byte sequence
      Bytes({0xe2, 0x82}),        // truncated three-byte sequence
      Bytes({0xf0, 0x9d, 0x84}),  // truncated four-byte sequence
      Bytes({0xe2, 0x28, 0xa1}),  // a bad continuation byte
      Bytes({0xc3, 0xa9, 0xc3}),  // valid, then truncated
  };
  for (const auto& topic : bad) {
    SCOPED_TRACE(testing::PrintToString(topic));
    auto p = DecodePublish(0x02, PublishBody(topic, 1, "x"));
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  }
}

TEST(PublishTest, WellFormedUtf8TopicsAreAccepted) {
  const std::string good[] = {
      "caf\xc3\xa9",   // U+00E9
      "\xc2\x80",      // U+0080, the smallest two-byte form
      "\xdf\xbf",      // U+07FF
      "\xe0\xa0\x80",  // U+0800, the smallest three-byte form
      "\xe2\x82\xac",  // U+20AC
      "\xed\x9f\xbf",  // U+D7FF, just below the surrogates
      "\xee\x80\x80",  // U+E000, just above them
      "\xef\xbb\xbf"
      "a",                 // U+FEFF is kept, not stripped (section 1.5.3)
      "\xef\xbf\xbf",      // U+FFFF
      "\xf0\x90\x80\x80",  // U+10000, the smallest four-byte form
      "\xf0\x9d\x84\x9e",  // U+1D11E
      "\xf4\x8f\xbf\xbf",  // U+10FFFF, the last code point
      "\x01\x7f",          // control characters: SHOULD NOT, not MUST NOT
  };
  for (const auto& topic : good) {
    SCOPED_TRACE(testing::PrintToString(topic));
    const std::string body = PublishBody(topic, 1, "x");
    auto p = DecodePublish(0x02, body);
    ASSERT_TRUE(p.has_value()) << p.error().message();
    EXPECT_EQ(p->topic, topic);
  }
}

TEST(PublishTest, TruncatedBodiesAreMalformed) {
  const std::string cases[] = {
      "",
      Bytes({0x00}),                               // half a topic length
      Bytes({0x00, 0x05, 'a', '/', 'b'}),          // topic shorter than its length
      Bytes({0xff, 0xff, 'a'}),                    // topic length past the body
      PublishBody("a/b", -1, ""),                  // QoS 1 without an identifier
      PublishBody("a/b", -1, "") + Bytes({0x00}),  // half an identifier
  };
  for (const auto& body : cases) {
    SCOPED_TRACE(testing::PrintToString(body));
    auto p = DecodePublish(0x02, body);
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  }
  // At QoS 0 the same topic without anything after it is a whole packet with an empty payload.
  const std::string q0_body = PublishBody("a/b", -1, "");
  auto q0 = DecodePublish(0x00, q0_body);
  ASSERT_TRUE(q0.has_value());
  EXPECT_TRUE(q0->payload.empty());
}

TEST(PublishTest, EncodeDecodeRoundTrip) {
  struct Case {
    std::string topic;
    std::string payload;
    uint8_t qos;
    uint16_t packet_id;
    bool dup;
  };
  const Case cases[] = {
      {"a/b", "hello", 0, 0, false},
      {"medulla/telemetry/dev-1", R"({"value":88})", 1, 1, false},
      {"medulla/telemetry/dev-1", "again", 1, 65535, true},
      {"caf\xc3\xa9/\xf0\x9d\x84\x9e", std::string("\0\xff\x80", 3), 1, 0x1234, false},
      {"t", "", 1, 7, false},
      {"q2", "x", 2, 9, true},
      {std::string(1000, 't'), std::string(200'000, '\xab'), 1, 42, false},  // 3-byte length
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.topic.substr(0, 30));
    const std::string packet = EncodePublish(c.topic, c.payload, c.qos, c.packet_id, c.dup);
    auto h = DecodeFixedHeader(packet, kMaxRemaining);
    ASSERT_TRUE(h.has_value() && h->has_value());
    EXPECT_EQ((*h)->type, PacketType::kPublish);
    ASSERT_EQ((*h)->header_size + (*h)->remaining, packet.size());
    auto p = DecodePublish((*h)->flags, std::string_view(packet).substr((*h)->header_size));
    ASSERT_TRUE(p.has_value()) << p.error().message();
    EXPECT_EQ(p->topic, c.topic);
    EXPECT_EQ(p->payload, c.payload);
    EXPECT_EQ(p->qos, c.qos);
    EXPECT_EQ(p->packet_id, c.packet_id);
    EXPECT_EQ(p->dup, c.dup);
    EXPECT_FALSE(p->retain);
  }
  // The first byte: type 3, DUP bit 3, QoS bits 2-1 (section 3.3.1).
  EXPECT_EQ(static_cast<uint8_t>(EncodePublish("t", "", 1, 1, true)[0]), 0x3a);
  EXPECT_EQ(static_cast<uint8_t>(EncodePublish("t", "", 0, 0)[0]), 0x30);
}

// --- CONNACK (section 3.2) ---

TEST(ConnackTest, AcceptedAndSessionPresent) {
  auto c = DecodeConnack(Bytes({0x00, 0x00}));
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->session_present);
  EXPECT_EQ(c->return_code, 0);
  // Bit 0 of the acknowledge flags (section 3.2.2.2).
  auto present = DecodeConnack(Bytes({0x01, 0x00}));
  ASSERT_TRUE(present.has_value());
  EXPECT_TRUE(present->session_present);
}

TEST(ConnackTest, RefusalsAndTheirReasons) {
  // Table 3.1, section 3.2.2.3.
  const char* reasons[] = {"connection accepted",        "unacceptable protocol version",
                           "client identifier rejected", "server unavailable",
                           "bad user name or password",  "not authorized"};
  for (int code = 0; code <= 5; ++code) {
    auto c = DecodeConnack(Bytes({0x00, code}));
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->return_code, code);
    EXPECT_EQ(ConnackReason(code), reasons[code]);
  }
  // 6..255 are reserved: decoded (the subscriber refuses them as "not accepted") with no reason.
  auto reserved = DecodeConnack(Bytes({0x00, 0x06}));
  ASSERT_TRUE(reserved.has_value());
  EXPECT_EQ(ConnackReason(6), "unknown CONNACK return code");
  EXPECT_EQ(ConnackReason(255), "unknown CONNACK return code");
}

TEST(ConnackTest, MalformedBodies) {
  // The remaining length is 2 (section 3.2.1); bits 7-1 of the flags are reserved, 0
  // (section 3.2.2.1).
  for (const std::string& body : {std::string(), Bytes({0x00}), Bytes({0x00, 0x00, 0x00}),
                                  Bytes({0x02, 0x00}), Bytes({0x80, 0x00}), Bytes({0xff, 0x00})}) {
    SCOPED_TRACE(testing::PrintToString(body));
    auto c = DecodeConnack(body);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code(), Code::kInvalidArgument);
  }
}

// --- SUBACK (section 3.9) ---

TEST(SubackTest, GrantedQoSAndFailure) {
  auto s = DecodeSuback(Bytes({0x00, 0x0a, 0x01}));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->packet_id, 10);
  EXPECT_EQ(s->granted, std::vector<uint8_t>{1});
  // The example of section 3.9.3: one return code per filter, 0x80 for a failure.
  auto many = DecodeSuback(Bytes({0x12, 0x34, 0x00, 0x01, 0x02, 0x80}));
  ASSERT_TRUE(many.has_value());
  EXPECT_EQ(many->packet_id, 0x1234);
  EXPECT_EQ(many->granted, (std::vector<uint8_t>{0x00, 0x01, 0x02, 0x80}));
  auto failure = DecodeSuback(Bytes({0x00, 0x01, 0x80}));
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->granted, std::vector<uint8_t>{0x80});
}

TEST(SubackTest, ReservedReturnCodesAndShortBodiesAreMalformed) {
  // "SUBACK return codes other than 0x00, 0x01, 0x02 and 0x80 are reserved and MUST NOT be
  // used" [MQTT-3.9.3-2]; a SUBACK holds an identifier and at least one return code.
  for (int code : {0x03, 0x04, 0x7f, 0x81, 0xc0, 0xff}) {
    auto s = DecodeSuback(Bytes({0x00, 0x01, code}));
    ASSERT_FALSE(s.has_value()) << code;
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  }
  auto late_bad = DecodeSuback(Bytes({0x00, 0x01, 0x01, 0x03}));
  EXPECT_FALSE(late_bad.has_value());
  for (const std::string& body : {std::string(), Bytes({0x00}), Bytes({0x00, 0x01})}) {
    auto s = DecodeSuback(body);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace medulla::mqtt
