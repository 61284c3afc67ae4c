#include "records/search_request.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/time.h"

namespace medulla::records {
namespace {

using fhir::SearchParamType;
using store::Comparator;
using store::Modifier;
using store::SearchFilter;
using store::SearchValue;

const fhir::SearchParameterRegistry& Registry() {
  return fhir::SearchParameterRegistry::Embedded();
}

core::Result<ParsedSearch> Parse(std::string_view type, const QueryParams& params,
                                 bool strict = true, const SearchLimits& limits = {}) {
  return ParseSearchRequest(Registry(), type, params, strict, limits);
}

// The single filter of a search with one parameter; fails the test otherwise.
SearchFilter OneFilter(std::string_view type, const std::string& name, const std::string& value) {
  auto r = Parse(type, {{name, value}});
  EXPECT_TRUE(r) << name << "=" << value << ": " << r.error().message();
  if (!r || r->query.filters.size() != 1) {
    ADD_FAILURE() << name << "=" << value << " did not give one filter";
    return {};
  }
  return r->query.filters.front();
}

// The single value of the single filter.
SearchValue OneValue(std::string_view type, const std::string& name, const std::string& value) {
  SearchFilter f = OneFilter(type, name, value);
  if (f.any_of.size() != 1) {
    ADD_FAILURE() << name << "=" << value << " did not give one value";
    return {};
  }
  return f.any_of.front();
}

bool Fails(std::string_view type, const QueryParams& params, bool strict = true,
           const SearchLimits& limits = {}) {
  auto r = Parse(type, params, strict, limits);
  if (r) return false;
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument) << r.error().message();
  return true;
}

// All the digits of a double, for messages.
std::string Exact(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

core::InstantRange Range(std::string_view text) {
  auto r = core::ParseFhirDateTimeRange(text);
  EXPECT_TRUE(r) << text;
  return r.value_or(core::InstantRange{0, 0});
}

// ---- string ----

TEST(SearchRequestTest, StringIsNormalisedAndKeepsTheExactText) {
  SearchFilter f = OneFilter("Patient", "name", "Müller");
  EXPECT_EQ(f.kind, SearchFilter::Kind::kValue);
  EXPECT_EQ(f.param, "name");
  EXPECT_EQ(f.type, SearchParamType::kString);
  EXPECT_EQ(f.modifier, Modifier::kNone);
  ASSERT_EQ(f.any_of.size(), 1u);
  EXPECT_EQ(f.any_of[0].text, "muller");
  EXPECT_EQ(f.any_of[0].exact, "Müller");
}

TEST(SearchRequestTest, StringExactAndContainsModifiers) {
  SearchFilter exact = OneFilter("Patient", "family", "Chalmers");
  EXPECT_EQ(exact.modifier, Modifier::kNone);
  exact = OneFilter("Patient", "family:exact", "Chalmers");
  EXPECT_EQ(exact.modifier, Modifier::kExact);
  ASSERT_EQ(exact.any_of.size(), 1u);
  EXPECT_EQ(exact.any_of[0].exact, "Chalmers");
  SearchFilter contains = OneFilter("Patient", "family:contains", "ALM");
  EXPECT_EQ(contains.modifier, Modifier::kContains);
  ASSERT_EQ(contains.any_of.size(), 1u);
  EXPECT_EQ(contains.any_of[0].text, "alm");
}

TEST(SearchRequestTest, StringRejectsOtherModifiersAndEmptyValues) {
  EXPECT_TRUE(Fails("Patient", {{"name:below", "x"}}));
  EXPECT_TRUE(Fails("Patient", {{"name:not", "x"}}));
  EXPECT_TRUE(Fails("Patient", {{"name", ""}}));
  EXPECT_TRUE(Fails("Patient", {{"name", "   "}}));  // nothing left once normalised
}

// ---- token ----

TEST(SearchRequestTest, TokenCodeAloneMatchesAnySystem) {
  SearchValue v = OneValue("Patient", "gender", "female");
  EXPECT_FALSE(v.system.has_value());
  EXPECT_EQ(v.code, "female");
}

TEST(SearchRequestTest, TokenSystemAndCode) {
  SearchValue v = OneValue("Patient", "identifier", "urn:oid:1.2.3|12345");
  ASSERT_TRUE(v.system.has_value());
  EXPECT_EQ(*v.system, "urn:oid:1.2.3");
  EXPECT_EQ(v.code, "12345");
}

TEST(SearchRequestTest, TokenEmptySystemMeansNoSystem) {
  SearchValue v = OneValue("Patient", "identifier", "|12345");
  ASSERT_TRUE(v.system.has_value());
  EXPECT_EQ(*v.system, "");
  EXPECT_EQ(v.code, "12345");
}

TEST(SearchRequestTest, TokenSystemWithoutCode) {
  SearchValue v = OneValue("Patient", "identifier", "urn:oid:1.2.3|");
  ASSERT_TRUE(v.system.has_value());
  EXPECT_EQ(*v.system, "urn:oid:1.2.3");
  EXPECT_EQ(v.code, "");
}

TEST(SearchRequestTest, TokenRejectsABarAloneAndTwoBars) {
  EXPECT_TRUE(Fails("Patient", {{"identifier", "|"}}));
  EXPECT_TRUE(Fails("Patient", {{"identifier", "a|b|c"}}));
}

TEST(SearchRequestTest, TokenNotAndText) {
  SearchFilter no = OneFilter("Patient", "gender:not", "male");
  EXPECT_EQ(no.modifier, Modifier::kNot);
  ASSERT_EQ(no.any_of.size(), 1u);
  EXPECT_EQ(no.any_of[0].code, "male");

  SearchFilter text = OneFilter("Observation", "code:text", "Blood  Pressure");
  EXPECT_EQ(text.modifier, Modifier::kText);
  ASSERT_EQ(text.any_of.size(), 1u);
  EXPECT_EQ(text.any_of[0].text, "blood pressure");
  EXPECT_EQ(text.any_of[0].exact, "Blood  Pressure");
}

TEST(SearchRequestTest, TokenTextOfOnlyWhitespaceIsAnErrorLikeAString) {
  // As for string parameters: nothing is left to search for once normalised, and an empty
  // prefix would match every resource with any text.
  EXPECT_TRUE(Fails("Observation", {{"code:text", "   "}}));
}

TEST(SearchRequestTest, TokenRejectsStringModifiers) {
  EXPECT_TRUE(Fails("Patient", {{"gender:contains", "ma"}}));
  EXPECT_TRUE(Fails("Patient", {{"gender:exact", "male"}}));
  EXPECT_TRUE(Fails("Patient", {{"gender:above", "male"}}));
}

TEST(SearchRequestTest, IdIsCheckedAndTakesNoModifier) {
  SearchFilter f = OneFilter("Patient", "_id", "a,b-1");
  EXPECT_EQ(f.kind, SearchFilter::Kind::kId);
  ASSERT_EQ(f.any_of.size(), 2u);
  EXPECT_EQ(f.any_of[0].text, "a");
  EXPECT_EQ(f.any_of[1].text, "b-1");
  EXPECT_TRUE(Fails("Patient", {{"_id", "bad$id"}}));
  EXPECT_TRUE(Fails("Patient", {{"_id:not", "a"}}));
}

TEST(SearchRequestTest, LastUpdatedIsADateFilter) {
  SearchFilter f = OneFilter("Patient", "_lastUpdated", "ge2026-01-01");
  EXPECT_EQ(f.kind, SearchFilter::Kind::kLastUpdated);
  EXPECT_EQ(f.type, SearchParamType::kDate);
  ASSERT_EQ(f.any_of.size(), 1u);
  EXPECT_EQ(f.any_of[0].comparator, Comparator::kGe);
  EXPECT_EQ(f.any_of[0].begin, Range("2026-01-01").begin);
}

// ---- reference ----

TEST(SearchRequestTest, ReferenceTypeAndId) {
  SearchValue v = OneValue("Observation", "subject", "Patient/123");
  EXPECT_EQ(v.target_type, "Patient");
  EXPECT_EQ(v.target_id, "123");
}

TEST(SearchRequestTest, ReferenceIdAloneIsAnyType) {
  SearchValue v = OneValue("Observation", "subject", "123");
  EXPECT_EQ(v.target_type, "");
  EXPECT_EQ(v.target_id, "123");
}

TEST(SearchRequestTest, ReferenceAbsoluteUrlEndingInTypeAndId) {
  SearchValue v = OneValue("Observation", "subject", "http://example.org/fhir/Patient/123");
  EXPECT_EQ(v.target_type, "Patient");
  EXPECT_EQ(v.target_id, "123");
  v = OneValue("Observation", "subject", "Patient/123/_history/4");
  EXPECT_EQ(v.target_type, "Patient");
  EXPECT_EQ(v.target_id, "123");
}

TEST(SearchRequestTest, ReferenceUrlThatIsNotTypeAndIdIsKeptWhole) {
  SearchValue v = OneValue("Observation", "subject", "http://example.org/somewhere/else");
  EXPECT_EQ(v.target_type, "");
  EXPECT_EQ(v.target_id, "http://example.org/somewhere/else");
}

TEST(SearchRequestTest, ReferenceTypeModifier) {
  SearchFilter f = OneFilter("Observation", "subject:Patient", "1");
  EXPECT_EQ(f.modifier, Modifier::kNone);
  ASSERT_EQ(f.any_of.size(), 1u);
  EXPECT_EQ(f.any_of[0].target_type, "Patient");
  EXPECT_EQ(f.any_of[0].target_id, "1");
  // Observation.subject cannot refer to an Organization.
  EXPECT_TRUE(Fails("Observation", {{"subject:Organization", "1"}}));
  EXPECT_TRUE(Fails("Observation", {{"subject:Nonsense", "1"}}));
}

TEST(SearchRequestTest, ReferenceTypeModifierDoesNotLeakIntoTheNextParameter) {
  auto r = Parse("Observation", {{"subject:Patient", "1"}, {"performer", "2"}});
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->query.filters.size(), 2u);
  ASSERT_EQ(r->query.filters[1].any_of.size(), 1u);
  EXPECT_EQ(r->query.filters[1].any_of[0].target_type, "");
  EXPECT_EQ(r->query.filters[1].any_of[0].target_id, "2");
}

TEST(SearchRequestTest, ReferenceIdentifier) {
  SearchFilter f = OneFilter("Observation", "subject:identifier", "urn:mrn|42");
  EXPECT_EQ(f.modifier, Modifier::kIdentifier);
  EXPECT_EQ(f.type, SearchParamType::kReference);
  ASSERT_EQ(f.any_of.size(), 1u);
  ASSERT_TRUE(f.any_of[0].system.has_value());
  EXPECT_EQ(*f.any_of[0].system, "urn:mrn");
  EXPECT_EQ(f.any_of[0].code, "42");
  SearchValue any = OneValue("Observation", "subject:identifier", "42");
  EXPECT_FALSE(any.system.has_value());
  EXPECT_EQ(any.code, "42");
  EXPECT_TRUE(Fails("Observation", {{"subject:identifier", "a|b|c"}}));
}

// ---- date ----

TEST(SearchRequestTest, DateWithoutPrefixIsEqualityOverItsPrecision) {
  SearchValue year = OneValue("Patient", "birthdate", "2024");
  EXPECT_EQ(year.comparator, Comparator::kEq);
  EXPECT_EQ(year.begin, Range("2024-01-01").begin);
  EXPECT_EQ(year.end, Range("2025-01-01").begin);

  SearchValue month = OneValue("Patient", "birthdate", "2024-02");
  EXPECT_EQ(month.begin, Range("2024-02-01").begin);
  EXPECT_EQ(month.end, Range("2024-03-01").begin);  // a leap year: 29 days

  SearchValue day = OneValue("Patient", "birthdate", "2024-03-15");
  EXPECT_EQ(day.begin, Range("2024-03-15T00:00:00Z").begin);
  EXPECT_EQ(day.end - day.begin, 86400LL * 1000000);
}

TEST(SearchRequestTest, DateTimePrecisionSecondsMillisecondsAndZones) {
  SearchValue s = OneValue("Observation", "date", "2024-03-15T10:00:00Z");
  EXPECT_EQ(s.end - s.begin, 1000000);
  SearchValue ms = OneValue("Observation", "date", "2024-03-15T10:00:00.123Z");
  EXPECT_EQ(ms.begin, s.begin + 123000);
  EXPECT_EQ(ms.end - ms.begin, 1000);
  SearchValue zoned = OneValue("Observation", "date", "2024-03-15T10:00:00+01:00");
  EXPECT_EQ(zoned.begin, Range("2024-03-15T09:00:00Z").begin);
}

TEST(SearchRequestTest, DatePrefixes) {
  const std::pair<const char*, Comparator> kCases[] = {
      {"eq", Comparator::kEq}, {"ne", Comparator::kNe}, {"gt", Comparator::kGt},
      {"lt", Comparator::kLt}, {"ge", Comparator::kGe}, {"le", Comparator::kLe},
      {"sa", Comparator::kSa}, {"eb", Comparator::kEb}, {"ap", Comparator::kAp}};
  for (const auto& [prefix, comparator] : kCases) {
    SearchValue v = OneValue("Patient", "birthdate", std::string(prefix) + "2024-03-15");
    EXPECT_EQ(v.comparator, comparator) << prefix;
    EXPECT_EQ(v.begin, Range("2024-03-15").begin) << prefix;
    EXPECT_EQ(v.end, Range("2024-03-15").end) << prefix;
  }
}

TEST(SearchRequestTest, DateRejectsWhatIsNotAFhirDate) {
  EXPECT_TRUE(Fails("Patient", {{"birthdate", "xx2024"}}));
  EXPECT_TRUE(Fails("Patient", {{"birthdate", "2024-13"}}));
  EXPECT_TRUE(Fails("Patient", {{"birthdate", "2023-02-29"}}));
  EXPECT_TRUE(Fails("Patient", {{"birthdate", "15/03/2024"}}));
  // FHIR requires a zone when a time is given.
  EXPECT_TRUE(Fails("Observation", {{"date", "2024-03-15T10:00:00"}}));
  EXPECT_TRUE(Fails("Patient", {{"birthdate", "ge"}}));
}

// ---- number ----

TEST(SearchRequestTest, NumberImpliesTheRangeOfItsPrecision) {
  SearchValue v = OneValue("RiskAssessment", "probability", "100");
  EXPECT_EQ(v.comparator, Comparator::kEq);
  EXPECT_DOUBLE_EQ(v.number, 100);
  EXPECT_DOUBLE_EQ(v.low, 99.5);
  EXPECT_DOUBLE_EQ(v.high, 100.5);

  SearchValue one_decimal = OneValue("RiskAssessment", "probability", "100.0");
  EXPECT_DOUBLE_EQ(one_decimal.number, 100);
  EXPECT_NEAR(one_decimal.low, 99.95, 1e-9);
  EXPECT_NEAR(one_decimal.high, 100.05, 1e-9);

  SearchValue small = OneValue("RiskAssessment", "probability", "0.80");
  EXPECT_NEAR(small.low, 0.795, 1e-12);
  EXPECT_NEAR(small.high, 0.805, 1e-12);
}

TEST(SearchRequestTest, NumberRangeBoundsAreTheDecimalsTheyStandFor) {
  // "0.8" is [0.75, 0.85): a stored 0.85 (the double strtod gives for "0.85") is outside it.
  // 0.8 + 0.05 in binary floating point is 0.8500000000000001, which would let it in.
  SearchValue v = OneValue("RiskAssessment", "probability", "0.8");
  EXPECT_EQ(v.high, 0.85) << Exact(v.high);
  EXPECT_EQ(v.low, 0.75) << Exact(v.low);
  // "5.4" is [5.35, 5.45): 5.4 - 0.05 is 5.3500000000000005, which would leave 5.35 out.
  SearchValue q = OneValue("Observation", "value-quantity", "5.4");
  EXPECT_EQ(q.low, 5.35) << Exact(q.low);
  EXPECT_EQ(q.high, 5.45) << Exact(q.high);
}

TEST(SearchRequestTest, NumberInExponentFormHasThePrecisionOfItsMantissa) {
  // One significant figure: half of 1e2 either side. (The table in search.html#number says
  // [95, 105) for this example, which does not follow from its own rule.)
  SearchValue v = OneValue("RiskAssessment", "probability", "1e2");
  EXPECT_DOUBLE_EQ(v.number, 100);
  EXPECT_DOUBLE_EQ(v.low, 50);
  EXPECT_DOUBLE_EQ(v.high, 150);
  SearchValue more = OneValue("RiskAssessment", "probability", "1.00e2");
  EXPECT_NEAR(more.low, 99.5, 1e-9);
  EXPECT_NEAR(more.high, 100.5, 1e-9);
  SearchValue negative_exponent = OneValue("RiskAssessment", "probability", "5e-1");
  EXPECT_NEAR(negative_exponent.low, 0.45, 1e-12);
  EXPECT_NEAR(negative_exponent.high, 0.55, 1e-12);
}

TEST(SearchRequestTest, NumberPrefixes) {
  SearchValue gt = OneValue("RiskAssessment", "probability", "gt0.8");
  EXPECT_EQ(gt.comparator, Comparator::kGt);
  EXPECT_DOUBLE_EQ(gt.number, 0.8);
  EXPECT_EQ(OneValue("RiskAssessment", "probability", "le-1").comparator, Comparator::kLe);
  EXPECT_DOUBLE_EQ(OneValue("RiskAssessment", "probability", "le-1").number, -1);
  EXPECT_EQ(OneValue("RiskAssessment", "probability", "ap5").comparator, Comparator::kAp);
}

TEST(SearchRequestTest, NumberRejectsWhatIsNotADecimal) {
  for (const char* bad : {"abc", "0x10", "1e400", "inf", "nan", "1-2", "5 ", "gt", "e5"}) {
    EXPECT_TRUE(Fails("RiskAssessment", {{"probability", bad}})) << bad;
  }
}

// ---- quantity ----

TEST(SearchRequestTest, QuantityNumberSystemAndCode) {
  SearchValue v = OneValue("Observation", "value-quantity", "5.4|http://unitsofmeasure.org|mg");
  EXPECT_EQ(v.comparator, Comparator::kEq);
  EXPECT_DOUBLE_EQ(v.number, 5.4);
  EXPECT_NEAR(v.low, 5.35, 1e-12);
  EXPECT_NEAR(v.high, 5.45, 1e-12);
  ASSERT_TRUE(v.system.has_value());
  EXPECT_EQ(*v.system, "http://unitsofmeasure.org");
  EXPECT_EQ(v.code, "mg");
}

TEST(SearchRequestTest, QuantityNumberAndCodeWithoutSystem) {
  SearchValue v = OneValue("Observation", "value-quantity", "le5.4||mg");
  EXPECT_EQ(v.comparator, Comparator::kLe);
  EXPECT_DOUBLE_EQ(v.number, 5.4);
  ASSERT_TRUE(v.system.has_value());
  EXPECT_EQ(*v.system, "");
  EXPECT_EQ(v.code, "mg");
}

TEST(SearchRequestTest, QuantityNumberAlone) {
  SearchValue v = OneValue("Observation", "value-quantity", "5.4");
  EXPECT_FALSE(v.system.has_value());
  EXPECT_EQ(v.code, "");
}

TEST(SearchRequestTest, QuantityEscapedBarInTheCode) {
  SearchValue v = OneValue("Observation", "value-quantity", R"(5|urn:x|a\|b)");
  EXPECT_EQ(v.code, "a|b");
}

TEST(SearchRequestTest, QuantityRejectsTwoParts) {
  EXPECT_TRUE(Fails("Observation", {{"value-quantity", "5.4|mg"}}));
  EXPECT_TRUE(Fails("Observation", {{"value-quantity", "5.4|a|b|c"}}));
  EXPECT_TRUE(Fails("Observation", {{"value-quantity", "x|http://unitsofmeasure.org|mg"}}));
}

TEST(SearchRequestTest, QuantityCarriesCanonicalUnitsWhenTheUnitConverts) {
  // search_query.h: "quantity: the value and unit in canonical UCUM units, when the unit is
  // convertible" (fhir/ucum.h). 5400 ug is 0.0054 g.
  SearchValue v = OneValue("Observation", "value-quantity", "5400|http://unitsofmeasure.org|ug");
  ASSERT_TRUE(v.canonical_number.has_value());
  EXPECT_NEAR(*v.canonical_number, 0.0054, 1e-12);
  EXPECT_EQ(v.canonical_code, "g");
}

// ---- uri ----

TEST(SearchRequestTest, UriModifiers) {
  SearchFilter plain = OneFilter("ValueSet", "url", "http://example.org/fhir/ValueSet/x");
  EXPECT_EQ(plain.type, SearchParamType::kUri);
  EXPECT_EQ(plain.modifier, Modifier::kNone);
  ASSERT_EQ(plain.any_of.size(), 1u);
  EXPECT_EQ(plain.any_of[0].text, "http://example.org/fhir/ValueSet/x");
  EXPECT_EQ(OneFilter("ValueSet", "url:below", "http://example.org/").modifier, Modifier::kBelow);
  EXPECT_EQ(OneFilter("ValueSet", "url:above", "http://example.org/fhir/ValueSet/x/y").modifier,
            Modifier::kAbove);
  EXPECT_EQ(OneFilter("ValueSet", "url:contains", "ValueSet").modifier, Modifier::kContains);
  EXPECT_TRUE(Fails("ValueSet", {{"url:exact", "http://example.org/"}}));
  EXPECT_TRUE(Fails("ValueSet", {{"url:not", "http://example.org/"}}));
}

// ---- missing ----

TEST(SearchRequestTest, MissingOnAnyType) {
  SearchFilter yes = OneFilter("Patient", "birthdate:missing", "true");
  EXPECT_EQ(yes.modifier, Modifier::kMissing);
  EXPECT_TRUE(yes.missing);
  EXPECT_TRUE(yes.any_of.empty());
  SearchFilter no = OneFilter("Patient", "gender:missing", "false");
  EXPECT_EQ(no.modifier, Modifier::kMissing);
  EXPECT_FALSE(no.missing);
  EXPECT_EQ(OneFilter("Observation", "subject:missing", "true").modifier, Modifier::kMissing);
  EXPECT_TRUE(Fails("Patient", {{"birthdate:missing", "maybe"}}));
  EXPECT_TRUE(Fails("Patient", {{"birthdate:missing", "TRUE"}}));
}

// ---- escaping, AND and OR ----

TEST(SearchRequestTest, SplitUnescapedKeepsEscapes) {
  EXPECT_EQ(SplitUnescaped(R"(a,b\,c,d)", ','), (std::vector<std::string>{"a", R"(b\,c)", "d"}));
  EXPECT_EQ(SplitUnescaped("", ','), (std::vector<std::string>{""}));
  EXPECT_EQ(SplitUnescaped("a,", ','), (std::vector<std::string>{"a", ""}));
  // An escaped backslash does not escape the separator after it.
  EXPECT_EQ(SplitUnescaped(R"(a\\,b)", ','), (std::vector<std::string>{R"(a\\)", "b"}));
  EXPECT_EQ(SplitUnescaped(R"(s\|x|c)", '|'), (std::vector<std::string>{R"(s\|x)", "c"}));
}

TEST(SearchRequestTest, UnescapeRemovesTheFourEscapes) {
  EXPECT_EQ(Unescape(R"(a\,b)"), "a,b");
  EXPECT_EQ(Unescape(R"(a\|b)"), "a|b");
  EXPECT_EQ(Unescape(R"(a\$b)"), "a$b");
  EXPECT_EQ(Unescape(R"(a\\b)"), R"(a\b)");
  EXPECT_EQ(Unescape(R"(a\nb)"), R"(a\nb)");  // not an escape: kept
  EXPECT_EQ(Unescape(R"(trailing\)"), R"(trailing\)");
}

TEST(SearchRequestTest, EscapedCommaIsPartOfTheValue) {
  SearchFilter f = OneFilter("Patient", "family", R"(Smith\,Jones)");
  ASSERT_EQ(f.any_of.size(), 1u);
  EXPECT_EQ(f.any_of[0].exact, "Smith,Jones");
}

TEST(SearchRequestTest, EscapedBarDollarAndBackslashInValues) {
  SearchValue bar = OneValue("Patient", "identifier", R"(urn:a\|b|123)");
  ASSERT_TRUE(bar.system.has_value());
  EXPECT_EQ(*bar.system, "urn:a|b");
  EXPECT_EQ(bar.code, "123");
  EXPECT_EQ(OneValue("Patient", "family", R"(a\$b)").exact, "a$b");
  EXPECT_EQ(OneValue("Patient", "family", R"(a\\b)").exact, R"(a\b)");
  // "a\\,b": an escaped backslash, then a separator.
  SearchFilter two = OneFilter("Patient", "family", R"(a\\,b)");
  ASSERT_EQ(two.any_of.size(), 2u);
  EXPECT_EQ(two.any_of[0].exact, R"(a\)");
  EXPECT_EQ(two.any_of[1].exact, "b");
}

TEST(SearchRequestTest, CommaIsOrAndRepetitionIsAnd) {
  SearchFilter any = OneFilter("Patient", "gender", "male,female");
  ASSERT_EQ(any.any_of.size(), 2u);
  EXPECT_EQ(any.any_of[0].code, "male");
  EXPECT_EQ(any.any_of[1].code, "female");

  auto both = Parse("Patient", {{"birthdate", "ge2000"}, {"birthdate", "lt2010"}});
  ASSERT_TRUE(both) << both.error().message();
  ASSERT_EQ(both->query.filters.size(), 2u);
  EXPECT_EQ(both->query.filters[0].any_of[0].comparator, Comparator::kGe);
  EXPECT_EQ(both->query.filters[1].any_of[0].comparator, Comparator::kLt);
}

TEST(SearchRequestTest, AnEmptyAlternativeIsAnError) {
  EXPECT_TRUE(Fails("Patient", {{"gender", "male,"}}));
  EXPECT_TRUE(Fails("Patient", {{"gender", ",male"}}));
}

// ---- chains ----

TEST(SearchRequestTest, ChainWithTypeModifier) {
  SearchFilter f = OneFilter("Observation", "subject:Patient.name", "peter");
  EXPECT_EQ(f.kind, SearchFilter::Kind::kChain);
  EXPECT_EQ(f.param, "subject");
  ASSERT_EQ(f.links.size(), 1u);
  EXPECT_EQ(f.links[0].type, "Patient");
  ASSERT_EQ(f.links[0].filters.size(), 1u);
  const SearchFilter& inner = f.links[0].filters[0];
  EXPECT_EQ(inner.kind, SearchFilter::Kind::kValue);
  EXPECT_EQ(inner.param, "name");
  EXPECT_EQ(inner.type, SearchParamType::kString);
  ASSERT_EQ(inner.any_of.size(), 1u);
  EXPECT_EQ(inner.any_of[0].text, "peter");
}

TEST(SearchRequestTest, ChainWithoutTypeGoesToEveryTargetThatHasTheParameter) {
  // Observation.subject: Group, Device, Patient, Location. Only Patient and Location have
  // a `name` parameter.
  SearchFilter f = OneFilter("Observation", "subject.name", "peter");
  ASSERT_EQ(f.kind, SearchFilter::Kind::kChain);
  std::vector<std::string> types;
  for (const auto& link : f.links) types.push_back(link.type);
  std::sort(types.begin(), types.end());
  EXPECT_EQ(types, (std::vector<std::string>{"Location", "Patient"}));
}

TEST(SearchRequestTest, ChainTwoLevels) {
  SearchFilter f = OneFilter("Observation", "subject:Patient.organization.name", "acme");
  ASSERT_EQ(f.kind, SearchFilter::Kind::kChain);
  ASSERT_EQ(f.links.size(), 1u);
  ASSERT_EQ(f.links[0].filters.size(), 1u);
  const SearchFilter& middle = f.links[0].filters[0];
  EXPECT_EQ(middle.kind, SearchFilter::Kind::kChain);
  EXPECT_EQ(middle.param, "organization");
  ASSERT_EQ(middle.links.size(), 1u);
  EXPECT_EQ(middle.links[0].type, "Organization");
  ASSERT_EQ(middle.links[0].filters.size(), 1u);
  EXPECT_EQ(middle.links[0].filters[0].param, "name");
  EXPECT_EQ(middle.links[0].filters[0].any_of[0].text, "acme");
}

TEST(SearchRequestTest, ChainEndsInModifierIdOrMissing) {
  SearchFilter exact = OneFilter("Observation", "subject:Patient.name:exact", "Peter");
  ASSERT_EQ(exact.links.size(), 1u);
  EXPECT_EQ(exact.links[0].filters[0].modifier, Modifier::kExact);
  SearchFilter id = OneFilter("Observation", "subject:Patient._id", "p1");
  ASSERT_EQ(id.links.size(), 1u);
  EXPECT_EQ(id.links[0].filters[0].kind, SearchFilter::Kind::kId);
  SearchFilter missing = OneFilter("Observation", "subject:Patient.birthdate:missing", "true");
  ASSERT_EQ(missing.links.size(), 1u);
  EXPECT_EQ(missing.links[0].filters[0].modifier, Modifier::kMissing);
}

TEST(SearchRequestTest, ChainErrors) {
  // No such parameter on the target.
  EXPECT_TRUE(Fails("Observation", {{"subject:Patient.nonsense", "x"}}));
  EXPECT_TRUE(Fails("Observation", {{"subject.nonsense", "x"}}));
  // Not a reference parameter, or no such parameter to chain from.
  EXPECT_TRUE(Fails("Observation", {{"code.name", "x"}}));
  EXPECT_TRUE(Fails("Observation", {{"nonsense.name", "x"}}));
  // A target the reference cannot have.
  EXPECT_TRUE(Fails("Observation", {{"subject:Organization.name", "x"}}));
  // A bad value at the end of the chain.
  EXPECT_TRUE(Fails("Observation", {{"subject:Patient.birthdate", "yesterday"}}));
}

TEST(SearchRequestTest, ChainErrorsAreIgnoredWhenLenient) {
  auto r = Parse("Observation", {{"subject:Patient.nonsense", "x"}, {"code", "1234"}},
                 /*strict=*/false);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->query.filters.size(), 1u);
  EXPECT_EQ(r->ignored.size(), 1u);
}

TEST(SearchRequestTest, ChainOfThreeLinksIsAnErrorEvenWhenLenient) {
  QueryParams three = {{"subject:Patient.organization.partof.name", "x"}};
  EXPECT_TRUE(Fails("Observation", three, /*strict=*/true));
  EXPECT_TRUE(Fails("Observation", three, /*strict=*/false));
  QueryParams untyped = {{"subject.organization.partof.name", "x"}};
  EXPECT_TRUE(Fails("Observation", untyped, /*strict=*/false));
}

TEST(SearchRequestTest, ChainDepthFollowsTheLimit) {
  SearchLimits one_link;
  one_link.max_chain_depth = 1;
  EXPECT_TRUE(Parse("Observation", {{"subject:Patient.name", "x"}}, true, one_link));
  EXPECT_TRUE(Fails("Observation", {{"subject:Patient.organization.name", "x"}}, false, one_link));
}

// ---- _has ----

TEST(SearchRequestTest, HasIsAReverseChain) {
  SearchFilter f = OneFilter("Patient", "_has:Observation:subject:code", "1234-5");
  EXPECT_EQ(f.kind, SearchFilter::Kind::kReverseChain);
  EXPECT_EQ(f.param, "subject");
  ASSERT_EQ(f.links.size(), 1u);
  EXPECT_EQ(f.links[0].type, "Observation");
  ASSERT_EQ(f.links[0].filters.size(), 1u);
  EXPECT_EQ(f.links[0].filters[0].param, "code");
  EXPECT_EQ(f.links[0].filters[0].type, SearchParamType::kToken);
  EXPECT_EQ(f.links[0].filters[0].any_of[0].code, "1234-5");
}

TEST(SearchRequestTest, HasWithModifierOnTheLastParameter) {
  SearchFilter f = OneFilter("Patient", "_has:Observation:subject:code:text", "heart");
  ASSERT_EQ(f.links.size(), 1u);
  EXPECT_EQ(f.links[0].filters[0].modifier, Modifier::kText);
}

TEST(SearchRequestTest, HasNested) {
  SearchFilter f =
      OneFilter("Patient", "_has:Encounter:subject:_has:Observation:encounter:code", "1234-5");
  ASSERT_EQ(f.kind, SearchFilter::Kind::kReverseChain);
  ASSERT_EQ(f.links.size(), 1u);
  EXPECT_EQ(f.links[0].type, "Encounter");
  ASSERT_EQ(f.links[0].filters.size(), 1u);
  const SearchFilter& inner = f.links[0].filters[0];
  EXPECT_EQ(inner.kind, SearchFilter::Kind::kReverseChain);
  EXPECT_EQ(inner.param, "encounter");
  ASSERT_EQ(inner.links.size(), 1u);
  EXPECT_EQ(inner.links[0].type, "Observation");
  EXPECT_EQ(inner.links[0].filters[0].param, "code");
}

TEST(SearchRequestTest, HasErrors) {
  EXPECT_TRUE(Fails("Patient", {{"_has:Observation:subject", "x"}}));
  EXPECT_TRUE(Fails("Patient", {{"_has:Nonsense:subject:code", "x"}}));
  EXPECT_TRUE(Fails("Patient", {{"_has:Observation:code:code", "x"}}));       // not a reference
  EXPECT_TRUE(Fails("Patient", {{"_has:Observation:encounter:code", "x"}}));  // not to Patient
  EXPECT_TRUE(Fails("Patient", {{"_has:Observation:subject:nonsense", "x"}}));
}

TEST(SearchRequestTest, HasThreeLevelsIsAnErrorEvenWhenLenient) {
  QueryParams three = {
      {"_has:Encounter:subject:_has:Observation:encounter:_has:Observation:has-member:code", "x"}};
  EXPECT_TRUE(Fails("Patient", three, /*strict=*/false));
}

// ---- _include and _revinclude ----

TEST(SearchRequestTest, IncludeForms) {
  auto r = Parse("Observation", {{"_include", "Observation:subject"},
                                 {"_include", "Observation:performer:Practitioner"},
                                 {"_include:iterate", "Patient:organization"},
                                 {"_include:recurse", "Patient:general-practitioner"},
                                 {"_include", "*"}});
  ASSERT_TRUE(r) << r.error().message();
  const auto& inc = r->query.includes;
  ASSERT_EQ(inc.size(), 5u);
  EXPECT_FALSE(inc[0].reverse);
  EXPECT_FALSE(inc[0].iterate);
  EXPECT_EQ(inc[0].source_type, "Observation");
  EXPECT_EQ(inc[0].param, "subject");
  EXPECT_EQ(inc[0].target_type, "");
  EXPECT_EQ(inc[1].target_type, "Practitioner");
  EXPECT_TRUE(inc[2].iterate);
  EXPECT_EQ(inc[2].source_type, "Patient");
  EXPECT_TRUE(inc[3].iterate);
  EXPECT_EQ(inc[4].source_type, "Observation");
  EXPECT_EQ(inc[4].param, "*");
  EXPECT_EQ(r->applied.size(), 5u);
}

TEST(SearchRequestTest, RevInclude) {
  auto r = Parse("Patient", {{"_revinclude", "Observation:subject"},
                             {"_revinclude:iterate", "Encounter:subject"}});
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->query.includes.size(), 2u);
  EXPECT_TRUE(r->query.includes[0].reverse);
  EXPECT_FALSE(r->query.includes[0].iterate);
  EXPECT_EQ(r->query.includes[0].source_type, "Observation");
  EXPECT_EQ(r->query.includes[0].param, "subject");
  EXPECT_TRUE(r->query.includes[1].reverse);
  EXPECT_TRUE(r->query.includes[1].iterate);
}

TEST(SearchRequestTest, IncludeErrors) {
  // A plain _include starts from the searched type.
  EXPECT_TRUE(Fails("Observation", {{"_include", "Patient:organization"}}));
  EXPECT_TRUE(Fails("Observation", {{"_include", "Observation:code"}}));  // not a reference
  EXPECT_TRUE(Fails("Observation", {{"_include", "Observation:nonsense"}}));
  EXPECT_TRUE(Fails("Observation", {{"_include", "Observation:subject:Organization"}}));
  EXPECT_TRUE(Fails("Observation", {{"_include", "Observation"}}));
  EXPECT_TRUE(Fails("Observation", {{"_include", "Observation:subject:Patient:x"}}));
  EXPECT_TRUE(Fails("Observation", {{"_include", "Nonsense:subject"}}));
  EXPECT_TRUE(Fails("Observation", {{"_include:sometimes", "Observation:subject"}}));
  EXPECT_TRUE(Fails("Patient", {{"_revinclude", "Observation:nonsense"}}));
}

TEST(SearchRequestTest, TooManyIncludesIsAnErrorEvenWhenLenient) {
  QueryParams params;
  for (int i = 0; i < 17; ++i) params.emplace_back("_include", "Observation:subject");
  EXPECT_TRUE(Fails("Observation", params, /*strict=*/false));
  params.pop_back();
  EXPECT_TRUE(Parse("Observation", params, /*strict=*/false));
}

// ---- _sort ----

TEST(SearchRequestTest, SortKeysInOrderWithDirection) {
  auto r = Parse("Patient", {{"_sort", "birthdate,-family,_id,-_lastUpdated"}});
  ASSERT_TRUE(r) << r.error().message();
  const auto& sort = r->query.sort;
  ASSERT_EQ(sort.size(), 4u);
  EXPECT_EQ(sort[0].param, "birthdate");
  EXPECT_EQ(sort[0].type, SearchParamType::kDate);
  EXPECT_FALSE(sort[0].descending);
  EXPECT_EQ(sort[1].param, "family");
  EXPECT_EQ(sort[1].type, SearchParamType::kString);
  EXPECT_TRUE(sort[1].descending);
  EXPECT_EQ(sort[2].param, "_id");
  EXPECT_EQ(sort[2].type, SearchParamType::kToken);
  EXPECT_EQ(sort[3].param, "_lastUpdated");
  EXPECT_EQ(sort[3].type, SearchParamType::kDate);
  EXPECT_TRUE(sort[3].descending);
}

TEST(SearchRequestTest, LaterSortReplacesEarlier) {
  auto r = Parse("Patient", {{"_sort", "birthdate"}, {"_sort", "-gender"}});
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->query.sort.size(), 1u);
  EXPECT_EQ(r->query.sort[0].param, "gender");
}

TEST(SearchRequestTest, SortByUnknownOrCompositeIsAnError) {
  EXPECT_TRUE(Fails("Patient", {{"_sort", "nonsense"}}));
  EXPECT_TRUE(Fails("Patient", {{"_sort", "birthdate,-nonsense"}}));
  EXPECT_TRUE(Fails("Observation", {{"_sort", "code-value-quantity"}}));
  auto lenient = Parse("Patient", {{"_sort", "nonsense"}}, /*strict=*/false);
  ASSERT_TRUE(lenient);
  EXPECT_TRUE(lenient->query.sort.empty());
  EXPECT_EQ(lenient->ignored.size(), 1u);
}

// ---- _count, _summary, _elements, _total, _cursor ----

TEST(SearchRequestTest, CountDefaultsAndIsApplied) {
  auto none = Parse("Patient", {});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->query.count, 50u);
  SearchLimits limits;
  limits.default_count = 20;
  EXPECT_EQ(Parse("Patient", {}, true, limits)->query.count, 20u);

  auto ten = Parse("Patient", {{"_count", "10"}});
  ASSERT_TRUE(ten);
  EXPECT_EQ(ten->query.count, 10u);
  EXPECT_EQ(ten->applied, (QueryParams{{"_count", "10"}}));
  EXPECT_EQ(Parse("Patient", {{"_count", "0"}})->query.count, 0u);
}

TEST(SearchRequestTest, CountIsClampedToTheMaximum) {
  for (const char* big : {"1001", "5000", "1000000", "99999999999999999999999999"}) {
    auto r = Parse("Patient", {{"_count", big}});
    ASSERT_TRUE(r) << big;
    EXPECT_EQ(r->query.count, 1000u) << big;
    EXPECT_EQ(r->applied, (QueryParams{{"_count", "1000"}})) << big;
  }
  SearchLimits limits;
  limits.max_count = 7;
  EXPECT_EQ(Parse("Patient", {{"_count", "8"}}, true, limits)->query.count, 7u);
}

TEST(SearchRequestTest, CountThatIsNotANumber) {
  for (const char* bad : {"abc", "-1", "", "10abc", "+5", "1.5"}) {
    EXPECT_TRUE(Fails("Patient", {{"_count", bad}})) << bad;
    auto lenient = Parse("Patient", {{"_count", bad}}, /*strict=*/false);
    ASSERT_TRUE(lenient) << bad;
    EXPECT_EQ(lenient->query.count, 50u) << bad;
    EXPECT_EQ(lenient->ignored.size(), 1u) << bad;
    EXPECT_TRUE(lenient->applied.empty()) << bad;
  }
}

TEST(SearchRequestTest, SummaryCountForcesCountZero) {
  auto before = Parse("Patient", {{"_count", "10"}, {"_summary", "count"}});
  ASSERT_TRUE(before);
  EXPECT_EQ(before->summary, Summary::kCount);
  EXPECT_EQ(before->query.count, 0u);
  auto after = Parse("Patient", {{"_summary", "count"}, {"_count", "10"}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->query.count, 0u);
}

TEST(SearchRequestTest, SummaryModes) {
  EXPECT_EQ(Parse("Patient", {})->summary, Summary::kFalse);
  EXPECT_EQ(Parse("Patient", {{"_summary", "true"}})->summary, Summary::kTrue);
  EXPECT_EQ(Parse("Patient", {{"_summary", "text"}})->summary, Summary::kText);
  EXPECT_EQ(Parse("Patient", {{"_summary", "data"}})->summary, Summary::kData);
  EXPECT_EQ(Parse("Patient", {{"_summary", "false"}})->summary, Summary::kFalse);
  EXPECT_EQ(Parse("Patient", {{"_summary", "true"}})->query.count, 50u);
  EXPECT_TRUE(Fails("Patient", {{"_summary", "yes"}}));
}

TEST(SearchRequestTest, ElementsAreKeptAsGivenForShaping) {
  auto r = Parse("Patient", {{"_elements", "name,birthDate"}, {"_elements", "Patient.gender"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->elements, "name,birthDate,Patient.gender");
  EXPECT_EQ(r->applied.size(), 2u);
  EXPECT_EQ(Parse("Patient", {})->elements, "");
}

TEST(SearchRequestTest, Total) {
  EXPECT_FALSE(Parse("Patient", {})->query.want_total);
  EXPECT_TRUE(Parse("Patient", {{"_total", "accurate"}})->query.want_total);
  EXPECT_TRUE(Parse("Patient", {{"_total", "estimate"}})->query.want_total);
  EXPECT_FALSE(Parse("Patient", {{"_total", "none"}})->query.want_total);
  EXPECT_TRUE(Fails("Patient", {{"_total", "all"}}));
}

TEST(SearchRequestTest, CursorGoesToTheStore) {
  auto r = Parse("Patient", {{"_cursor", "n.i42"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->query.cursor, "n.i42");
}

TEST(SearchRequestTest, FormatAndPrettyAreLeftToTheRestLayer) {
  auto r = Parse("Patient", {{"_format", "json"}, {"_pretty", "true"}});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->query.filters.empty());
  EXPECT_TRUE(r->applied.empty());
  EXPECT_TRUE(r->ignored.empty());
}

// ---- strict and lenient ----

TEST(SearchRequestTest, UnknownParameterIsAnErrorWhenStrict) {
  auto r = Parse("Patient", {{"nonsense", "x"}}, /*strict=*/true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("nonsense"), std::string::npos) << r.error().message();
}

TEST(SearchRequestTest, LenientIgnoresWhatItCannotUseAndSaysWhy) {
  auto r = Parse("Patient",
                 {{"nonsense", "x"},
                  {"gender", "male"},
                  {"birthdate", "not-a-date"},
                  {"_text", "cough"},
                  {"name:below", "x"},
                  {"code-value-quantity", "x"}},
                 /*strict=*/false);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->query.filters.size(), 1u);
  EXPECT_EQ(r->query.filters[0].param, "gender");
  EXPECT_EQ(r->applied, (QueryParams{{"gender", "male"}}));
  ASSERT_EQ(r->ignored.size(), 5u);  // code-value-quantity is not a Patient parameter
  EXPECT_NE(r->ignored[0].find("nonsense"), std::string::npos) << r->ignored[0];
  EXPECT_NE(r->ignored[1].find("birthdate"), std::string::npos) << r->ignored[1];
}

TEST(SearchRequestTest, UnsupportedSpecialParameters) {
  for (const char* name : {"_text", "_content", "_list", "_query", "_filter", "_contained"}) {
    EXPECT_TRUE(Fails("Observation", {{name, "x"}})) << name;
  }
}

// ---- composite (search.html#composite) ----

TEST(SearchRequestTest, CompositeSplitsOnDollarAndReadsEachComponentAsItsType) {
  SearchFilter f = OneFilter("Observation", "code-value-quantity",
                             "http://loinc.org|8480-6$gt140|http://unitsofmeasure.org|mm[Hg]");
  EXPECT_EQ(f.type, SearchParamType::kComposite);
  ASSERT_EQ(f.component_types,
            (std::vector<SearchParamType>{SearchParamType::kToken, SearchParamType::kQuantity}));
  ASSERT_EQ(f.any_of.size(), 1u);
  const auto& parts = f.any_of[0].components;
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].system, "http://loinc.org");
  EXPECT_EQ(parts[0].code, "8480-6");
  EXPECT_EQ(parts[1].comparator, Comparator::kGt);
  EXPECT_EQ(parts[1].number, 140);
  EXPECT_EQ(parts[1].code, "mm[Hg]");
  EXPECT_TRUE(parts[1].canonical_number.has_value());
}

TEST(SearchRequestTest, CompositeOrValuesAndEscapedDollar) {
  SearchFilter f = OneFilter("Observation", "code-value-string", "1234$a\\$b,5678$c");
  ASSERT_EQ(f.any_of.size(), 2u);
  ASSERT_EQ(f.any_of[0].components.size(), 2u);
  EXPECT_EQ(f.any_of[0].components[1].exact, "a$b");
  EXPECT_EQ(f.any_of[1].components[0].code, "5678");
  // Three components: a token and two numbers with prefixes.
  SearchValue v = OneValue("MolecularSequence", "chromosome-window-coordinate", "1$gt100$lt200");
  ASSERT_EQ(v.components.size(), 3u);
  EXPECT_EQ(v.components[1].comparator, Comparator::kGt);
  EXPECT_EQ(v.components[2].comparator, Comparator::kLt);
  EXPECT_EQ(v.components[2].number, 200);
}

TEST(SearchRequestTest, MalformedCompositesAreErrors) {
  EXPECT_TRUE(Fails("Observation", {{"code-value-quantity", "1234"}}));       // one part
  EXPECT_TRUE(Fails("Observation", {{"code-value-quantity", "1234$5$6"}}));   // three parts
  EXPECT_TRUE(Fails("Observation", {{"code-value-quantity", "1234$abc"}}));   // not a number
  EXPECT_TRUE(Fails("Observation", {{"code-value-date", "1234$2020-13"}}));   // not a date
  EXPECT_TRUE(Fails("Observation", {{"code-value-quantity:exact", "1$5"}}));  // no modifiers
  SearchFilter missing = OneFilter("Observation", "code-value-quantity:missing", "true");
  EXPECT_EQ(missing.modifier, Modifier::kMissing);
}

TEST(SearchRequestTest, AppliedListsNormalisedParametersInOrder) {
  auto r = Parse("Patient", {{"gender", "male"},
                             {"_count", "5000"},
                             {"_sort", "-birthdate"},
                             {"_format", "json"},
                             {"_include", "Patient:organization"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->applied, (QueryParams{{"gender", "male"},
                                     {"_count", "1000"},
                                     {"_sort", "-birthdate"},
                                     {"_include", "Patient:organization"}}));
}

// ---- limits: errors whatever the handling ----

TEST(SearchRequestTest, TooManyParametersIsAnErrorEvenWhenLenient) {
  QueryParams params;
  for (int i = 0; i < 64; ++i) params.emplace_back("gender", "male");
  EXPECT_TRUE(Parse("Patient", params, /*strict=*/false));
  params.emplace_back("gender", "male");
  EXPECT_TRUE(Fails("Patient", params, /*strict=*/false));
  EXPECT_TRUE(Fails("Patient", params, /*strict=*/true));
  SearchLimits limits;
  limits.max_parameters = 2;
  EXPECT_TRUE(Fails("Patient", {{"a", "1"}, {"b", "2"}, {"c", "3"}}, false, limits));
}

TEST(SearchRequestTest, TooManyValuesIsAnErrorEvenWhenLenient) {
  std::string hundred = "a0";
  for (int i = 1; i < 100; ++i) hundred += ",a" + std::to_string(i);
  EXPECT_TRUE(Parse("Patient", {{"_id", hundred}}, /*strict=*/false));
  EXPECT_TRUE(Parse("Patient", {{"family", hundred}}, /*strict=*/false));
  std::string too_many = hundred + ",b";
  EXPECT_TRUE(Fails("Patient", {{"_id", too_many}}, /*strict=*/false));
  EXPECT_TRUE(Fails("Patient", {{"family", too_many}}, /*strict=*/false));
  EXPECT_TRUE(Fails("Patient", {{"gender", "x"}, {"family", too_many}}, /*strict=*/false));
}

TEST(SearchRequestTest, TooManyValuesInsideAChainOrHasIsAnErrorEvenWhenLenient) {
  std::string too_many = "a0";
  for (int i = 1; i <= 100; ++i) too_many += ",a" + std::to_string(i);
  EXPECT_TRUE(Fails("Observation", {{"subject:Patient.family", too_many}}, /*strict=*/false));
  EXPECT_TRUE(Fails("Observation", {{"subject.name", too_many}}, /*strict=*/false));
  EXPECT_TRUE(Fails("Patient", {{"_has:Observation:subject:code", too_many}}, /*strict=*/false));
}

TEST(SearchRequestTest, CustomValueLimit) {
  SearchLimits limits;
  limits.max_values = 2;
  EXPECT_TRUE(Parse("Patient", {{"gender", "male,female"}}, false, limits));
  EXPECT_TRUE(Fails("Patient", {{"gender", "male,female,other"}}, false, limits));
}

TEST(SearchRequestTest, ParametersOfAnotherTypeAreUnknown) {
  EXPECT_TRUE(Fails("Patient", {{"code", "1234"}}));
  EXPECT_TRUE(Parse("Observation", {{"code", "1234"}}));
  // Resource-level parameters apply to every type.
  EXPECT_TRUE(Parse("Observation", {{"_profile", "http://example.org/p"}}));
  EXPECT_TRUE(Parse("Observation", {{"_tag", "urn:t|x"}}));
}

}  // namespace
}  // namespace medulla::records
