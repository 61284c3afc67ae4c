#include "json/parse.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "json/write.h"

namespace medulla::json {
namespace {

std::string RoundTrip(std::string_view text) {
  auto doc = Parse(text);
  if (!doc) return "ERROR: " + doc.error().message();
  return Write(*doc->root());
}

TEST(ParseTest, KeepsNumberTextAndMemberOrder) {
  EXPECT_EQ(RoundTrip(R"({"b":1.50,"a":[true,null,-0.0e+5,"x\n"]})"),
            R"({"b":1.50,"a":[true,null,-0.0e+5,"x\n"]})");
}

TEST(ParseTest, UnescapesStrings) {
  auto doc = Parse(R"({"s":"caf\u00e9 \"q\""})");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->root()->Find("s")->text(), "caf\xC3\xA9 \"q\"");
}

TEST(ParseTest, RejectsMalformedInput) {
  for (const char* bad : {R"({"a":1,})", R"({"a":1)", R"({"a":01})", R"({"a":tru})", "{} x",
                          R"({"a":1}{})", R"({"a":"\ud800"})", "", "   "}) {
    auto doc = Parse(bad);
    ASSERT_FALSE(doc) << bad;
    EXPECT_EQ(doc.error().code(), core::Code::kInvalidArgument) << bad;
  }
}

TEST(ParseTest, RejectsDuplicateKeys) {
  auto doc = Parse(R"({"a":1,"a":2})");
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message().find("duplicate key"), std::string::npos);
}

TEST(ParseTest, IgnoresLeadingByteOrderMark) {
  EXPECT_EQ(RoundTrip("\xEF\xBB\xBF{\"a\":1}"), R"({"a":1})");
  EXPECT_FALSE(Parse("{\"a\":1}\xEF\xBB\xBF"));  // only at the start
}

TEST(ParseTest, RejectsScalarRoot) {
  EXPECT_FALSE(Parse(R"("just a string")"));
}

TEST(ParseTest, LimitsDepthWithoutRecursingIntoIt) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  auto doc = Parse(deep, ParseLimits{.max_depth = 64});
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message().find("deeper than 64"), std::string::npos);
}

TEST(ParseTest, LimitsSize) {
  std::string big = "[\"" + std::string(2000, 'x') + "\"]";
  auto doc = Parse(big, ParseLimits{.max_bytes = 1000});
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code(), core::Code::kTooLarge);
}

}  // namespace
}  // namespace medulla::json

namespace medulla::json {
namespace {

// Regression (review): duplicate detection was quadratic in the number of keys of one object,
// so one 8 MiB request of distinct keys could hold an I/O thread for minutes.
TEST(ParseTest, ManyKeysParseInLinearTime) {
  std::string big = "{";
  for (int i = 0; i < 200000; ++i) {
    if (i) big += ",";
    big += "\"k" + std::to_string(i) + "\":0";
  }
  big += "}";
  auto started = std::chrono::steady_clock::now();
  auto doc = Parse(big);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->root()->size(), 200000u);
  // Quadratic scanning takes minutes here; linear takes milliseconds. Generous bound.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  std::string dup = big.substr(0, big.size() - 1) + ",\"k7\":1}";
  EXPECT_FALSE(Parse(dup));
}

}  // namespace
}  // namespace medulla::json
