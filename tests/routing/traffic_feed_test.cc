#include "routing/traffic_feed.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace medulla::routing {
namespace {

// The message of the error ParseSpeedUpdates gives for `body` (which must be refused as
// InvalidArgument).
std::string Refusal(std::string_view body) {
  auto r = ParseSpeedUpdates(body);
  EXPECT_FALSE(r.has_value()) << "accepted: " << body;
  if (r.has_value()) return "";
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument) << r.error().message();
  return r.error().message();
}

// The refusal names line `line` and says that nothing was applied.
void ExpectRefusedAtLine(std::string_view body, int line, std::string_view mentions = "") {
  SCOPED_TRACE(std::string(body));
  const std::string message = Refusal(body);
  EXPECT_NE(message.find("line " + std::to_string(line) + ":"), std::string::npos) << message;
  EXPECT_NE(message.find("nothing was applied"), std::string::npos) << message;
  if (!mentions.empty()) {
    EXPECT_NE(message.find(mentions), std::string::npos) << message;
  }
}

constexpr std::string_view kGood = R"({"from_node":1,"to_node":2,"speed_kmh":30})";

TEST(ParseSpeedUpdatesTest, ReadsEveryLine) {
  auto r = ParseSpeedUpdates(
      "{\"from_node\":25479345,\"to_node\":25479346,\"speed_kmh\":30}\n"
      "{\"to_node\":7,\"speed_kmh\":12.5,\"from_node\":8}\n"
      "{\"from_node\":9,\"to_node\":10,\"speed_kmh\":0}\n");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].from_node, 25479345);
  EXPECT_EQ((*r)[0].to_node, 25479346);
  ASSERT_TRUE((*r)[0].speed_kmh.has_value());
  EXPECT_DOUBLE_EQ(*(*r)[0].speed_kmh, 30);
  EXPECT_EQ((*r)[1].from_node, 8) << "members in any order";
  EXPECT_EQ((*r)[1].to_node, 7);
  EXPECT_DOUBLE_EQ((*r)[1].speed_kmh.value_or(-1), 12.5);
  ASSERT_TRUE((*r)[2].speed_kmh.has_value()) << "0 closes the segment: it is a speed, not null";
  EXPECT_DOUBLE_EQ(*(*r)[2].speed_kmh, 0);
}

TEST(ParseSpeedUpdatesTest, TheLastLineNeedsNoNewline) {
  auto r = ParseSpeedUpdates(kGood);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->size(), 1u);
}

TEST(ParseSpeedUpdatesTest, NullSpeedReturnsToTheProfile) {
  auto r = ParseSpeedUpdates(R"({"from_node":1,"to_node":2,"speed_kmh":null})");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_FALSE((*r)[0].speed_kmh.has_value());
}

TEST(ParseSpeedUpdatesTest, SkipsBlankLinesAndAcceptsCrlf) {
  auto r = ParseSpeedUpdates(
      "\n"
      "{\"from_node\":1,\"to_node\":2,\"speed_kmh\":30}\r\n"
      "   \r\n"
      "\t\n"
      "\r\n"
      "{\"from_node\":2,\"to_node\":3,\"speed_kmh\":null}\r\n"
      "\n");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].from_node, 2);
  EXPECT_FALSE((*r)[1].speed_kmh.has_value());
}

TEST(ParseSpeedUpdatesTest, LineNumbersCountBlankLines) {
  ExpectRefusedAtLine(std::string("\n\r\n") + std::string(kGood) + "\r\n{oops}\r\n", 4);
}

TEST(ParseSpeedUpdatesTest, NodeIdsAreExactBeyondDoublePrecision) {
  auto r = ParseSpeedUpdates(
      R"({"from_node":9007199254740993,"to_node":9223372036854775807,"speed_kmh":5})");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ((*r)[0].from_node, 9007199254740993);
  EXPECT_EQ((*r)[0].to_node, 9223372036854775807);
}

TEST(ParseSpeedUpdatesTest, MalformedJsonNamesItsLine) {
  ExpectRefusedAtLine(std::string(kGood) + "\n{\"from_node\":1,\"to_node\":2,\n", 2);
  ExpectRefusedAtLine(std::string(kGood) + "\n" + std::string(kGood) + "\nnot json\n", 3);
  ExpectRefusedAtLine(std::string(kGood) + " trailing\n", 1);
  ExpectRefusedAtLine(std::string(kGood) + std::string(kGood), 1);  // two objects on one line
  ExpectRefusedAtLine(R"({"from_node":1,"to_node":2,"speed_kmh":30,"from_node":3})", 1);
}

TEST(ParseSpeedUpdatesTest, ALineMustBeAnObject) {
  ExpectRefusedAtLine("[1,2,30]", 1, "object");
  ExpectRefusedAtLine("42", 1);
  ExpectRefusedAtLine("null", 1);
  ExpectRefusedAtLine("\"from_node\"", 1);
}

TEST(ParseSpeedUpdatesTest, MissingMembersAreNamed) {
  ExpectRefusedAtLine(R"({"to_node":2,"speed_kmh":30})", 1, "from_node");
  ExpectRefusedAtLine(R"({"from_node":1,"speed_kmh":30})", 1, "to_node");
  ExpectRefusedAtLine(R"({"from_node":1,"to_node":2})", 1, "speed_kmh");
  ExpectRefusedAtLine("{}", 1);
}

TEST(ParseSpeedUpdatesTest, ExtraMembersAreNamed) {
  ExpectRefusedAtLine(R"({"from_node":1,"to_node":2,"speed_kmh":30,"speed_mph":18})", 1,
                      "speed_mph");
}

TEST(ParseSpeedUpdatesTest, NodeIdsMustBePositiveIntegers) {
  for (const char* id :
       {"1.5", "1.0", "1e3", "-5", "0", "\"12\"", "null", "true", "[1]", "99999999999999999999"}) {
    SCOPED_TRACE(id);
    ExpectRefusedAtLine(std::string(R"({"from_node":)") + id + R"(,"to_node":2,"speed_kmh":30})", 1,
                        "from_node");
    ExpectRefusedAtLine(std::string(R"({"from_node":1,"to_node":)") + id + R"(,"speed_kmh":30})", 1,
                        "to_node");
  }
}

TEST(ParseSpeedUpdatesTest, SpeedMustBeANumberOrNull) {
  for (const char* speed : {"\"30\"", "true", "[30]", "{}"}) {
    SCOPED_TRACE(speed);
    ExpectRefusedAtLine(std::string(R"({"from_node":1,"to_node":2,"speed_kmh":)") + speed + "}", 1,
                        "speed_kmh");
  }
}

TEST(ParseSpeedUpdatesTest, SpeedsAreLeftForTheRouterToRangeCheck) {
  // traffic_feed.h: the router refuses speeds out of range; the parser passes them through.
  auto r = ParseSpeedUpdates(
      "{\"from_node\":1,\"to_node\":2,\"speed_kmh\":-5}\n"
      "{\"from_node\":1,\"to_node\":2,\"speed_kmh\":1e3}\n");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_DOUBLE_EQ((*r)[0].speed_kmh.value_or(0), -5);
  EXPECT_DOUBLE_EQ((*r)[1].speed_kmh.value_or(0), 1000);
}

TEST(ParseSpeedUpdatesTest, AnErrorAfterGoodLinesReturnsNoUpdates) {
  auto r = ParseSpeedUpdates(std::string(kGood) + "\n" + std::string(kGood) + "\n{\n");
  EXPECT_FALSE(r.has_value());
}

TEST(ParseSpeedUpdatesTest, AnEmptyBodyIsAnError) {
  for (std::string_view body :
       {std::string_view(""), std::string_view("\n"), std::string_view("  \r\n\t\n\n")}) {
    SCOPED_TRACE(std::string(body));
    EXPECT_NE(Refusal(body).find("no speed updates"), std::string::npos);
  }
}

}  // namespace
}  // namespace medulla::routing
