#include "json/write.h"

#include <gtest/gtest.h>

#include "json/parse.h"

namespace medulla::json {
namespace {

TEST(WriteTest, EscapesControlCharacters) {
  std::string out;
  WriteString(std::string_view("a\x01\"\\\t", 5), out);
  EXPECT_EQ(out, R"("a\u0001\"\\\t")");
}

TEST(WriteTest, DocumentEditsKeepOrder) {
  auto doc = Parse(R"({"resourceType":"Patient","active":true})");
  ASSERT_TRUE(doc);
  Value& root = *doc->root();
  doc->SetAt(root, 1, "id", doc->NewString("p1"));
  doc->Set(root, "active", doc->NewBool(false));
  EXPECT_EQ(Write(root), R"({"resourceType":"Patient","id":"p1","active":false})");
  doc->Remove(root, "id");
  EXPECT_EQ(Write(root), R"({"resourceType":"Patient","active":false})");
}

}  // namespace
}  // namespace medulla::json
