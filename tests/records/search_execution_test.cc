// Search end to end below HTTP: query parameters as a client sends them, parsed by
// records/search_request.cc and run by the SQLite store (a real one, in a temporary directory).
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <string>
#include <vector>

#include "records/record_service.h"
#include "testing/record_fixture.h"

namespace medulla::records {
namespace {

using IdList = std::vector<std::string>;

IdList IdsOf(const std::vector<store::VersionRecord>& records) {
  IdList out;
  for (const auto& r : records) out.push_back(r.id);
  return out;
}

IdList Sorted(IdList v) {
  std::sort(v.begin(), v.end());
  return v;
}

class SearchExecutionTest : public testing::RecordFixture {
 protected:
  // Creates or updates `type`/`id` with the given members (JSON without braces).
  void Put(const std::string& type, const std::string& id, const std::string& members) {
    std::string body = R"({"resourceType":")" + type + R"(","id":")" + id + '"' +
                       (members.empty() ? "" : ",") + members + "}";
    std::promise<core::Result<WriteReply>> p;
    records_->Update(type, id, body, {},
                     [&](core::Result<WriteReply> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    ASSERT_TRUE(r) << type << "/" << id << ": " << r.error().ToString();
  }
  void Remove(const std::string& type, const std::string& id) {
    std::promise<core::Result<WriteReply>> p;
    records_->Delete(type, id, [&](core::Result<WriteReply> r) { p.set_value(std::move(r)); });
    ASSERT_TRUE(p.get_future().get());
  }
  core::Result<WriteReply> CreateIfNoneExist(const std::string& type, const std::string& body,
                                             const std::string& if_none_exist) {
    std::promise<core::Result<WriteReply>> p;
    records_->Create(type, body, if_none_exist,
                     [&](core::Result<WriteReply> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  core::Result<SearchReply> Search(const std::string& type, const QueryParams& params,
                                   bool strict = true) {
    return records_->Search(type, params, strict);
  }
  // The ids of the matches (first page).
  IdList Ids(const std::string& type, const QueryParams& params) {
    auto r = Search(type, params);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? IdsOf(r->page.resources) : IdList{};
  }
};

constexpr const char* kFinal = R"("status":"final","code":{"text":"x"})";

TEST_F(SearchExecutionTest, StringModifiers) {
  Put("Patient", "p1", R"("name":[{"family":"Müller","given":["Peter"]}])");
  Put("Patient", "p2", R"("name":[{"family":"Miller"}])");
  EXPECT_EQ(Ids("Patient", {{"name", "mu"}}), (IdList{"p1"}));
  EXPECT_EQ(Ids("Patient", {{"family:exact", "Müller"}}), (IdList{"p1"}));
  EXPECT_EQ(Ids("Patient", {{"family:exact", "Muller"}}), IdList{});
  EXPECT_EQ(Ids("Patient", {{"family:contains", "ill"}}), (IdList{"p2"}));
  EXPECT_EQ(Ids("Patient", {{"name", "peter,miller"}}), (IdList{"p1", "p2"}));
  EXPECT_EQ(Ids("Patient", {{"name", "peter"}, {"name", "miller"}}), IdList{});
}

TEST_F(SearchExecutionTest, TokenForms) {
  Put("Patient", "p1", R"("identifier":[{"system":"urn:mrn","value":"42"}],"gender":"male")");
  Put("Patient", "p2", R"("identifier":[{"value":"42"}],"gender":"female")");
  Put("Patient", "p3", R"("identifier":[{"system":"urn:mrn","value":"7"}])");
  EXPECT_EQ(Ids("Patient", {{"identifier", "42"}}), (IdList{"p1", "p2"}));
  EXPECT_EQ(Ids("Patient", {{"identifier", "urn:mrn|42"}}), (IdList{"p1"}));
  EXPECT_EQ(Ids("Patient", {{"identifier", "|42"}}), (IdList{"p2"}));
  EXPECT_EQ(Ids("Patient", {{"identifier", "urn:mrn|"}}), (IdList{"p1", "p3"}));
  EXPECT_EQ(Ids("Patient", {{"gender:not", "male"}}), (IdList{"p2", "p3"}));
  EXPECT_EQ(Ids("Patient", {{"gender:missing", "true"}}), (IdList{"p3"}));
}

TEST_F(SearchExecutionTest, DatesAtTheirPrecision) {
  Put("Patient", "p1", R"("birthDate":"1974-12-25")");
  Put("Patient", "p2", R"("birthDate":"1974")");
  Put("Patient", "p3", R"("birthDate":"1975-01-01")");
  EXPECT_EQ(Ids("Patient", {{"birthdate", "1974-12-25"}}), (IdList{"p1"}));
  EXPECT_EQ(Ids("Patient", {{"birthdate", "1974"}}), (IdList{"p1", "p2"}));
  EXPECT_EQ(Ids("Patient", {{"birthdate", "ge1974-12-25"}}), (IdList{"p1", "p2", "p3"}));
  EXPECT_EQ(Ids("Patient", {{"birthdate", "gt1974-12-25"}}), (IdList{"p2", "p3"}));
  EXPECT_EQ(Ids("Patient", {{"birthdate", "lt1974-12-25"}}), (IdList{"p2"}));
  EXPECT_EQ(Ids("Patient", {{"birthdate", "sa1974-12-31"}}), (IdList{"p3"}));
  EXPECT_EQ(Ids("Patient", {{"birthdate", "ge1974-06-01"}, {"birthdate", "lt1975"}}),
            (IdList{"p1", "p2"}));
}

TEST_F(SearchExecutionTest, NumberRangeExcludesItsUpperBound) {
  for (const char* p : {"0.8", "0.85", "0.75"}) {
    Put("RiskAssessment", std::string("r") + p,
        R"("status":"final","subject":{"reference":"Patient/x"},)"
        R"("prediction":[{"probabilityDecimal":)" +
            std::string(p) + "}]");
  }
  // "0.8" is [0.75, 0.85).
  EXPECT_EQ(Ids("RiskAssessment", {{"probability", "0.8"}}), (IdList{"r0.8", "r0.75"}));
}

TEST_F(SearchExecutionTest, QuantityRangeIncludesItsLowerBound) {
  Put("Observation", "o1",
      std::string(kFinal) +
          R"(,"valueQuantity":{"value":5.35,"system":"http://unitsofmeasure.org","code":"mg"})");
  // "5.4" is [5.35, 5.45).
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "5.4"}}), (IdList{"o1"}));
}

TEST_F(SearchExecutionTest, QuantityUnitsAndConversion) {
  Put("Observation", "mg",
      std::string(kFinal) + R"(,"valueQuantity":{"value":5.4,"unit":"mg",)"
                            R"("system":"http://unitsofmeasure.org","code":"mg"})");
  Put("Observation", "mmol",
      std::string(kFinal) +
          R"(,"valueQuantity":{"value":5.4,"system":"http://unitsofmeasure.org","code":"mmol/L"})");
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "5.4|http://unitsofmeasure.org|mg"}}),
            (IdList{"mg"}));
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "5.4||mg"}}), (IdList{"mg"}));
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "5.4"}}), (IdList{"mg", "mmol"}));
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "gt5|http://unitsofmeasure.org|mmol/L"}}),
            (IdList{"mmol"}));
  // The same mass in other units (fhir/ucum.h).
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "5400|http://unitsofmeasure.org|ug"}}),
            (IdList{"mg"}));
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "0.0054|http://unitsofmeasure.org|g"}}),
            (IdList{"mg"}));
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "5.4|http://unitsofmeasure.org|g"}}), IdList{});
}

TEST_F(SearchExecutionTest, QuantityWithoutSystemMatchesCodeOrUnitOfAnySystem) {
  // search.html#quantity: "5.4||mg" leaves the system open and matches the unit code or the
  // human unit.
  Put("Observation", "ucum",
      std::string(kFinal) +
          R"(,"valueQuantity":{"value":5.4,"system":"http://unitsofmeasure.org","code":"mg"})");
  Put("Observation", "unit-only",
      std::string(kFinal) + R"(,"valueQuantity":{"value":5.4,"unit":"mg"})");
  Put("Observation", "other-system",
      std::string(kFinal) +
          R"(,"valueQuantity":{"value":5.4,"system":"http://example.org/units","code":"mg"})");
  EXPECT_EQ(Ids("Observation", {{"value-quantity", "5.4||mg"}}),
            (IdList{"ucum", "unit-only", "other-system"}));
}

// A blood pressure panel: systolic and diastolic as components (LOINC 8480-6, 8462-4).
std::string BloodPressure(double systolic, double diastolic) {
  auto component = [](const char* code, double value) {
    return std::string(R"({"code":{"coding":[{"system":"http://loinc.org","code":")") + code +
           R"("}]},"valueQuantity":{"value":)" + std::to_string(value) +
           R"(,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}})";
  };
  return R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},)"
         R"("component":[)" +
         component("8480-6", systolic) + "," + component("8462-4", diastolic) + "]";
}

TEST_F(SearchExecutionTest, CompositeComponentsPairWithinOneItem) {
  Put("Observation", "high", BloodPressure(150, 95));
  Put("Observation", "normal", BloodPressure(118, 76));
  const std::string systolic = "http://loinc.org|8480-6$";
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity", systolic + "gt140"}}),
            (IdList{"high"}));
  // 95 is a component value of "high", but the diastolic's, not the systolic's: the pairing
  // must hold inside one component.
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity", systolic + "95"}}), IdList{});
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity", "8462-4$95"}}), (IdList{"high"}));
  // OR of composite values; AND of two composites; units converted (kPa).
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity", systolic + "gt140,8462-4$lt80"}}),
            (IdList{"high", "normal"}));
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity", systolic + "lt120"},
                                {"component-code-value-quantity", "8462-4$lt80"}}),
            (IdList{"normal"}));
  EXPECT_EQ(
      Ids("Observation", {{"component-code-value-quantity",
                           systolic + "gt18|http://unitsofmeasure.org|kPa"}}),  // 18 kPa = 135 mmHg
      (IdList{"high"}));
  // combo- covers the Observation itself and its components; code-value- only the former.
  EXPECT_EQ(Ids("Observation", {{"combo-code-value-quantity", systolic + "gt140"}}),
            (IdList{"high"}));
  EXPECT_EQ(Ids("Observation", {{"code-value-quantity", systolic + "gt140"}}), IdList{});
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity:missing", "true"}}), IdList{});
  // An update replaces the item rows; a delete removes them.
  Put("Observation", "high", BloodPressure(121, 79));
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity", systolic + "gt140"}}), IdList{});
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity", systolic + "121"}}),
            (IdList{"high"}));
  Remove("Observation", "high");
  EXPECT_EQ(Ids("Observation", {{"component-code-value-quantity", systolic + "121"}}), IdList{});
}

TEST_F(SearchExecutionTest, CompositeOfTheResourceItselfAndOfStringsAndConcepts) {
  Put("Observation", "smoker",
      R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},)"
      R"("valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"449868002"}]})");
  Put("Observation", "note",
      R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},)"
      R"("valueString":"Former smoker")");
  Put("Observation", "glucose",
      R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}]},)"
      R"("valueQuantity":{"value":5.4,"system":"http://unitsofmeasure.org","code":"mmol/L"},)"
      R"("effectiveDateTime":"2020-03-04")");
  EXPECT_EQ(
      Ids("Observation", {{"code-value-concept", "72166-2$http://snomed.info/sct|449868002"}}),
      (IdList{"smoker"}));
  EXPECT_EQ(Ids("Observation", {{"code-value-concept", "2339-0$449868002"}}), IdList{});
  EXPECT_EQ(Ids("Observation", {{"code-value-string", "72166-2$former"}}), (IdList{"note"}));
  EXPECT_EQ(Ids("Observation",
                {{"code-value-quantity", "2339-0$ge5.4|http://unitsofmeasure.org|mmol/L"}}),
            (IdList{"glucose"}));
  EXPECT_EQ(Ids("Observation", {{"code-value-quantity", "2339-0$ge5.4"}, {"code", "72166-2"}}),
            IdList{});
}

TEST_F(SearchExecutionTest, CompositeWithThreeComponents) {
  Put("MolecularSequence", "seq",
      R"("coordinateSystem":0,"referenceSeq":{"chromosome":{"coding":[{"code":"1"}]},)"
      R"("windowStart":22125500,"windowEnd":22125510})");
  EXPECT_EQ(Ids("MolecularSequence", {{"chromosome-window-coordinate", "1$ge22125500$le22125510"}}),
            (IdList{"seq"}));
  EXPECT_EQ(Ids("MolecularSequence", {{"chromosome-window-coordinate", "2$ge22125500$le22125510"}}),
            IdList{});
  EXPECT_EQ(Ids("MolecularSequence", {{"chromosome-window-coordinate", "1$gt22125500$le22125510"}}),
            IdList{});
}

TEST_F(SearchExecutionTest, ReferencesChainsAndHas) {
  Put("Organization", "org1", R"("name":"Acme Hospital")");
  Put("Patient", "p1",
      R"("name":[{"given":["Peter"]}],"managingOrganization":{"reference":"Organization/org1"})");
  Put("Patient", "p2", R"("name":[{"given":["Anna"]}])");
  Put("Observation", "o1",
      R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
      R"("subject":{"reference":"Patient/p1"})");
  Put("Observation", "o2",
      R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},)"
      R"("subject":{"reference":"Patient/p2"})");
  EXPECT_EQ(Ids("Observation", {{"subject", "Patient/p1"}}), (IdList{"o1"}));
  EXPECT_EQ(Ids("Observation", {{"subject", "p2"}}), (IdList{"o2"}));
  EXPECT_EQ(Ids("Observation", {{"subject:Patient", "p2"}}), (IdList{"o2"}));
  EXPECT_EQ(Ids("Observation", {{"subject", "http://example.org/fhir/Patient/p1"}}),
            (IdList{"o1"}));
  EXPECT_EQ(Ids("Observation", {{"subject:Patient.name", "peter"}}), (IdList{"o1"}));
  EXPECT_EQ(Ids("Observation", {{"subject.name", "anna"}}), (IdList{"o2"}));
  EXPECT_EQ(Ids("Observation", {{"subject:Patient.organization.name", "acme"}}), (IdList{"o1"}));
  EXPECT_EQ(Ids("Patient", {{"_has:Observation:subject:code", "http://loinc.org|8310-5"}}),
            (IdList{"p2"}));
  EXPECT_EQ(
      Ids("Organization", {{"_has:Patient:organization:_has:Observation:subject:code", "8867-4"}}),
      (IdList{"org1"}));
}

TEST_F(SearchExecutionTest, IncludesFromTheUrl) {
  Put("Organization", "org1", R"("name":"Acme")");
  Put("Patient", "p1", R"("managingOrganization":{"reference":"Organization/org1"})");
  Put("Observation", "o1", std::string(kFinal) + R"(,"subject":{"reference":"Patient/p1"})");
  Put("Observation", "o2", std::string(kFinal) + R"(,"subject":{"reference":"Patient/p1"})");
  auto r = Search("Observation", {{"_include", "Observation:subject"},
                                  {"_include:iterate", "Patient:organization"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(IdsOf(r->page.resources), (IdList{"o1", "o2"}));
  EXPECT_EQ(Sorted(IdsOf(r->page.included)), (IdList{"org1", "p1"}));
  auto rev = Search("Patient", {{"_revinclude", "Observation:subject"}});
  ASSERT_TRUE(rev);
  EXPECT_EQ(Sorted(IdsOf(rev->page.included)), (IdList{"o1", "o2"}));
}

TEST_F(SearchExecutionTest, SortedPagesThroughTheCursorParameter) {
  Put("Patient", "a", R"("birthDate":"1990-01-01")");
  Put("Patient", "b", R"("birthDate":"1970-01-01")");
  Put("Patient", "c", "");
  Put("Patient", "d", R"("birthDate":"1980-01-01")");
  Put("Patient", "e", R"("birthDate":"2000-01-01")");
  QueryParams params = {{"_sort", "-birthdate"}, {"_count", "2"}, {"_total", "accurate"}};
  IdList seen;
  for (int guard = 0; guard < 10; ++guard) {
    auto r = Search("Patient", params);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->page.total, 5);
    for (auto& id : IdsOf(r->page.resources)) seen.push_back(id);
    if (!r->page.next_cursor) break;
    params = {{"_sort", "-birthdate"},
              {"_count", "2"},
              {"_total", "accurate"},
              {"_cursor", *r->page.next_cursor}};
  }
  EXPECT_EQ(seen, (IdList{"e", "a", "d", "b", "c"}));
}

TEST_F(SearchExecutionTest, MalformedCursorIsInvalidArgument) {
  Put("Patient", "a", "");
  auto r = Search("Patient", {{"_cursor", "not-a-cursor"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
}

TEST_F(SearchExecutionTest, SummaryCountGivesOnlyTheTotal) {
  Put("Patient", "a", R"("gender":"male")");
  Put("Patient", "b", R"("gender":"male")");
  Put("Patient", "c", R"("gender":"female")");
  auto r = Search("Patient", {{"gender", "male"}, {"_summary", "count"}, {"_count", "10"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->summary, Summary::kCount);
  EXPECT_TRUE(r->page.resources.empty());
  EXPECT_EQ(r->page.total, 2);
}

TEST_F(SearchExecutionTest, ReadYourWrites) {
  Put("Patient", "p1", R"("gender":"male")");
  EXPECT_EQ(Ids("Patient", {{"gender", "male"}}), (IdList{"p1"}));
  Put("Patient", "p1", R"("gender":"female")");
  EXPECT_EQ(Ids("Patient", {{"gender", "male"}}), IdList{});
  EXPECT_EQ(Ids("Patient", {{"gender", "female"}}), (IdList{"p1"}));
  Remove("Patient", "p1");
  EXPECT_EQ(Ids("Patient", {{"gender", "female"}}), IdList{});
}

TEST_F(SearchExecutionTest, ConditionalCreateOnAnIdentifier) {
  Put("Patient", "p1", R"("identifier":[{"system":"urn:mrn","value":"42"}])");
  const std::string body =
      R"({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"42"}]})";
  auto existing = CreateIfNoneExist("Patient", body, "identifier=urn:mrn%7C42");
  ASSERT_TRUE(existing) << existing.error().ToString();
  EXPECT_EQ(existing->outcome, store::WriteOutcome::kExisting);
  EXPECT_EQ(existing->record.id, "p1");
  auto created = CreateIfNoneExist("Patient", body, "identifier=urn:mrn|43");
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_EQ(created->outcome, store::WriteOutcome::kCreated);
  auto twice = CreateIfNoneExist("Patient", body, "identifier=urn:mrn|42");
  ASSERT_FALSE(twice);  // p1 and the one just created both have urn:mrn|42 now
  EXPECT_EQ(twice.error().code(), core::Code::kPreconditionFailed);
}

TEST_F(SearchExecutionTest, LenientSearchIgnoresUnknownParametersStrictRejects) {
  Put("Patient", "a", R"("gender":"male")");
  Put("Patient", "b", R"("gender":"female")");
  auto lenient = Search("Patient", {{"gender", "male"}, {"nonsense", "x"}}, /*strict=*/false);
  ASSERT_TRUE(lenient);
  EXPECT_EQ(IdsOf(lenient->page.resources), (IdList{"a"}));
  EXPECT_EQ(lenient->ignored.size(), 1u);
  auto strict = Search("Patient", {{"gender", "male"}, {"nonsense", "x"}}, /*strict=*/true);
  ASSERT_FALSE(strict);
  EXPECT_EQ(strict.error().code(), core::Code::kInvalidArgument);
}

}  // namespace
}  // namespace medulla::records
