#include "fhir/primitives.h"

#include <gtest/gtest.h>

#include "json/parse.h"

namespace medulla::fhir {
namespace {

TEST(PrimitivesTest, NamesRoundTrip) {
  for (std::string_view name :
       {"base64Binary", "boolean",     "canonical", "code",     "date", "dateTime",    "decimal",
        "id",           "instant",     "integer",   "markdown", "oid",  "positiveInt", "string",
        "time",         "unsignedInt", "uri",       "url",      "uuid", "xhtml"}) {
    auto p = PrimitiveFromName(name);
    ASSERT_TRUE(p) << name;
    EXPECT_EQ(PrimitiveName(*p), name);
  }
  EXPECT_FALSE(PrimitiveFromName("HumanName"));
  EXPECT_FALSE(PrimitiveFromName("String"));
}

TEST(PrimitivesTest, Date) {
  for (auto ok : {"1958", "1958-03", "1958-03-02", "2000-02-29", "0001-01-01", "9999-12-31"})
    EXPECT_TRUE(IsValidDate(ok)) << ok;
  for (auto bad :
       {"03/02/1958", "0000", "58", "1958-3", "1958-13", "1958-00", "1958-03-32", "1958-02-29",
        "1900-02-29", "1958-04-31", "1958-03-02T10:00:00Z", "1958-", "1958-03-", " 1958", ""})
    EXPECT_FALSE(IsValidDate(bad)) << bad;
}

TEST(PrimitivesTest, DateTime) {
  for (auto ok :
       {"2015", "2015-02", "2015-02-07", "2015-02-07T13:28:17-05:00", "2017-01-01T00:00:00.000Z",
        "2017-01-01T23:59:60+14:00", "2017-01-01T00:00:00.123456789-13:59"})
    EXPECT_TRUE(IsValidDateTime(ok)) << ok;
  for (auto bad :
       {"2015-02-07T13:28:17", "2015-02-07T13:28Z", "2015-02-07T24:00:00Z",
        "2015-02-07T13:28:17+14:01", "2015-02-07T13:28:17+15:00", "2015-02-07T13:28:17.Z",
        "2015-02-07 13:28:17Z", "2015-02-07T13:28:17z", "2015-02-07T13:28:17+0500", "2015-02-30"})
    EXPECT_FALSE(IsValidDateTime(bad)) << bad;
}

TEST(PrimitivesTest, InstantAndTime) {
  EXPECT_TRUE(IsValidInstant("2015-02-07T13:28:17.239+02:00"));
  EXPECT_TRUE(IsValidInstant("2015-02-07T13:28:17Z"));
  EXPECT_FALSE(IsValidInstant("2015-02-07T13:28:17"));  // no zone
  EXPECT_FALSE(IsValidInstant("2015-02-07"));
  EXPECT_TRUE(IsValidTime("13:28:17"));
  EXPECT_TRUE(IsValidTime("00:00:00.5"));
  EXPECT_FALSE(IsValidTime("13:28"));
  EXPECT_FALSE(IsValidTime("13:28:17Z"));
  EXPECT_FALSE(IsValidTime("24:00:00"));
}

TEST(PrimitivesTest, Integers) {
  EXPECT_TRUE(IsValidInteger("0", INT32_MIN, INT32_MAX));
  EXPECT_TRUE(IsValidInteger("-2147483648", INT32_MIN, INT32_MAX));
  EXPECT_TRUE(IsValidInteger("2147483647", INT32_MIN, INT32_MAX));
  EXPECT_FALSE(IsValidInteger("2147483648", INT32_MIN, INT32_MAX));
  EXPECT_FALSE(IsValidInteger("99999999999999999999", INT32_MIN, INT32_MAX));
  EXPECT_FALSE(IsValidInteger("1.0", INT32_MIN, INT32_MAX));
  EXPECT_FALSE(IsValidInteger("1e2", INT32_MIN, INT32_MAX));
  EXPECT_FALSE(IsValidInteger("01", INT32_MIN, INT32_MAX));
  EXPECT_FALSE(IsValidInteger("0", 1, INT32_MAX));   // positiveInt
  EXPECT_FALSE(IsValidInteger("-1", 0, INT32_MAX));  // unsignedInt
  EXPECT_FALSE(IsValidInteger("-0", 0, INT32_MAX));
  EXPECT_TRUE(IsValidInteger("-0", INT32_MIN, INT32_MAX));
}

TEST(PrimitivesTest, Strings) {
  EXPECT_TRUE(IsValidString(" padded\ttext\r\n"));
  EXPECT_FALSE(IsValidString(""));
  EXPECT_FALSE(IsValidString("form\ffeed"));
  EXPECT_TRUE(IsValidCode("final"));
  EXPECT_TRUE(IsValidCode("two words"));
  EXPECT_FALSE(IsValidCode(" final"));
  EXPECT_FALSE(IsValidCode("final "));
  EXPECT_FALSE(IsValidCode("two  spaces"));
  EXPECT_TRUE(IsValidId("a-B.9"));
  EXPECT_TRUE(IsValidId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidId("a_b"));
  EXPECT_FALSE(IsValidId("a b"));
  EXPECT_TRUE(IsValidUri("urn:uuid:63731047-b5a9-4b05-a14b-8cf6507efc98"));
  EXPECT_FALSE(IsValidUri("http://example.org/a b"));
}

TEST(PrimitivesTest, OidUuidBase64) {
  EXPECT_TRUE(IsValidOid("urn:oid:2.16.840.1.113883.6.238"));
  EXPECT_FALSE(IsValidOid("urn:oid:3.1"));
  EXPECT_FALSE(IsValidOid("urn:oid:1"));
  EXPECT_FALSE(IsValidOid("urn:oid:1.01"));
  EXPECT_TRUE(IsValidUuid("urn:uuid:63731047-b5a9-4b05-a14b-8cf6507efc98"));
  EXPECT_FALSE(IsValidUuid("urn:uuid:63731047-B5A9-4b05-a14b-8cf6507efc98"));
  EXPECT_FALSE(IsValidUuid("63731047-b5a9-4b05-a14b-8cf6507efc98"));
  EXPECT_TRUE(IsValidBase64("aGVsbG8="));
  EXPECT_TRUE(IsValidBase64("aGVs\nbG8h"));
  EXPECT_TRUE(IsValidBase64("ab/+"));
  EXPECT_FALSE(IsValidBase64("aGVsbG8"));
  EXPECT_FALSE(IsValidBase64("aG=sbG8h"));
  EXPECT_FALSE(IsValidBase64("aG Vs"));
  EXPECT_FALSE(IsValidBase64("a==="));
}

TEST(PrimitivesTest, ChecksTheJsonKind) {
  auto doc = json::Parse(R"([true, 7, "7", 1.50, -0, "", "<div>x</div>"])");
  ASSERT_TRUE(doc);
  auto v = doc->root()->items();
  EXPECT_EQ(CheckPrimitive(Primitive::kBoolean, *v[0]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kBoolean, *v[2]), "");
  EXPECT_EQ(CheckPrimitive(Primitive::kInteger, *v[1]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kInteger, *v[2]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kInteger, *v[3]), "");
  EXPECT_EQ(CheckPrimitive(Primitive::kDecimal, *v[3]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kDecimal, *v[2]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kUnsignedInt, *v[4]), "");  // -0
  EXPECT_EQ(CheckPrimitive(Primitive::kUnsignedInt, *v[1]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kPositiveInt, *v[4]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kString, *v[1]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kString, *v[5]), "");
  EXPECT_EQ(CheckPrimitive(Primitive::kXhtml, *v[6]), "");
  EXPECT_NE(CheckPrimitive(Primitive::kXhtml, *v[2]), "");
}

}  // namespace
}  // namespace medulla::fhir
