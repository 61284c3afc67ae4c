#include "fhir/search_parameters.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "json/parse.h"

namespace medulla::fhir {
namespace {

namespace fs = std::filesystem;

const SearchParameterRegistry& Registry() {
  return SearchParameterRegistry::Embedded();
}

TEST(SearchParameterRegistryTest, HasTheParametersOfEachType) {
  const SearchParameterRegistry& reg = Registry();
  for (std::string_view name :
       {"name", "family", "given", "birthdate", "gender", "identifier", "address-city", "phone",
        "deceased", "_id", "_lastUpdated", "_profile", "_tag", "_security", "_source"})
    EXPECT_NE(reg.Find("Patient", name), nullptr) << name;
  EXPECT_EQ(reg.Find("Patient", "code"), nullptr);
  EXPECT_EQ(reg.Find("Location", "near"), nullptr);  // special: not indexed
  EXPECT_TRUE(reg.ForType("NoSuchType").empty());
  // Every concrete resource type gets the Resource parameters.
  for (const std::string& type : reg.definitions().ResourceTypes())
    EXPECT_NE(reg.Find(type, "_lastUpdated"), nullptr) << type;
}

TEST(SearchParameterRegistryTest, KeepsOnlyTheAlternativesOfTheResourceType) {
  const SearchParameterRegistry& reg = Registry();
  // individual-given is "Patient.name.given | Practitioner.name.given".
  EXPECT_EQ(reg.Find("Patient", "given")->expression.text(), "Patient.name.given");
  EXPECT_EQ(reg.Find("Practitioner", "given")->expression.text(), "Practitioner.name.given");
  EXPECT_EQ(reg.Find("Observation", "patient")->expression.text(),
            "Observation.subject.where(resolve() is Patient)");
  EXPECT_EQ(reg.Find("Observation", "date")->expression.text(), "Observation.effective");
  EXPECT_EQ(reg.Find("Condition", "onset-age")->expression.text(),
            "Condition.onset.as(Age) | Condition.onset.as(Range)");
  EXPECT_EQ(reg.Find("Patient", "_lastUpdated")->expression.text(), "Resource.meta.lastUpdated");
  EXPECT_EQ(reg.Find("Patient", "_lastUpdated")->type, SearchParamType::kDate);
}

TEST(SearchParameterRegistryTest, KnowsTargetsAndComponents) {
  const SearchParameter* subject = Registry().Find("Observation", "subject");
  ASSERT_NE(subject, nullptr);
  EXPECT_EQ(subject->type, SearchParamType::kReference);
  EXPECT_NE(std::find(subject->targets.begin(), subject->targets.end(), "Patient"),
            subject->targets.end());
  const SearchParameter* cvq = Registry().Find("Observation", "code-value-quantity");
  ASSERT_NE(cvq, nullptr);
  EXPECT_EQ(cvq->type, SearchParamType::kComposite);
  ASSERT_EQ(cvq->components.size(), 2u);
  EXPECT_EQ(cvq->components[0].type, SearchParamType::kToken);
  EXPECT_EQ(cvq->components[0].expression.text(), "code");
  EXPECT_EQ(cvq->components[1].type, SearchParamType::kQuantity);
  EXPECT_EQ(cvq->components[1].expression.text(), "value.as(Quantity)");
}

TEST(SearchParameterRegistryTest, RejectsUnsupportedExpressions) {
  auto reg = SearchParameterRegistry::Load(R"js({"resourceType": "Bundle", "entry": [
    {"resource": {"resourceType": "SearchParameter", "id": "x", "code": "x", "type": "string",
                  "base": ["Patient"], "expression": "Patient.name.aggregate(1)"}}]})js");
  ASSERT_FALSE(reg.has_value());
  EXPECT_NE(reg.error().message().find("SearchParameter/x"), std::string::npos);
  EXPECT_NE(reg.error().message().find("unknown function 'aggregate'"), std::string::npos);
}

TEST(NormalizeSearchStringTest, FoldsCaseAccentsAndWhitespace) {
  EXPECT_EQ(NormalizeSearchString("  Müller\t\n Łódź  "), "muller lodz");
  EXPECT_EQ(NormalizeSearchString("ÆSØP Straße Œuvre"), "aesop strasse oeuvre");
  EXPECT_EQ(NormalizeSearchString("ÀÉÎÕÜÝ čĎĚğĶŇŘŠŤŮŽ"), "aeiouy cdegknrstuz");
  EXPECT_EQ(NormalizeSearchString("2×3 日本"), "2×3 日本");  // kept as is
  EXPECT_EQ(NormalizeSearchString(""), "");
}

// Parses a resource; the Document must outlive the values' use.
json::Document Parse(std::string_view text) {
  auto doc = json::Parse(text);
  EXPECT_TRUE(doc.has_value());
  return std::move(*doc);
}

std::vector<const IndexValue*> Of(const std::vector<IndexValue>& values, std::string_view name) {
  std::vector<const IndexValue*> out;
  for (const IndexValue& v : values)
    if (v.param->name == name) out.push_back(&v);
  return out;
}

std::vector<std::string> Strings(const std::vector<IndexValue>& values, std::string_view name) {
  std::vector<std::string> out;
  for (const IndexValue* v : Of(values, name)) out.push_back(v->value);
  return out;
}

// "system|code|display" for tokens.
std::vector<std::string> Tokens(const std::vector<IndexValue>& values, std::string_view name) {
  std::vector<std::string> out;
  for (const IndexValue* v : Of(values, name))
    out.push_back(v->system + "|" + v->code + "|" + v->display);
  return out;
}

using Strs = std::vector<std::string>;

constexpr int64_t kSecond = 1'000'000;
// 2020-10-20T00:00:00Z: 18,555 days after the epoch (18,262 to 2020-01-01, plus 293).
constexpr int64_t k20201020 = 18'555LL * 86'400 * kSecond;

// Luigi Wiegand, from tests/data/fhir/synthea/Luigi_Wiegand_e27d88b0-...json (entry 0),
// without the narrative and the extensions, with meta.lastUpdated added.
constexpr std::string_view kPatient = R"js({"resourceType": "Patient",
  "id": "1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06",
  "meta": {"lastUpdated": "2026-11-21T08:00:00.123Z",
           "tag": [{"system": "https://smarthealthit.org/tags", "code": "synthea-5-2019"}]},
  "identifier": [
    {"system": "https://github.com/synthetichealth/synthea",
     "value": "e27d88b0-c5e5-4042-ad49-184f6a900ee3"},
    {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                          "code": "MR", "display": "Medical Record Number"}],
              "text": "Medical Record Number"},
     "system": "http://hospital.smarthealthit.org", "value": "e27d88b0-c5e5-4042-ad49-184f6a900ee3"},
    {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                          "code": "SS", "display": "Social Security Number"}],
              "text": "Social Security Number"},
     "system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-91-5172"}],
  "name": [{"use": "official", "family": "Wiegand", "given": ["Luigi"]}],
  "telecom": [{"system": "phone", "value": "555-655-8611", "use": "home"}],
  "gender": "male",
  "birthDate": "2020-10-20",
  "address": [{"line": ["409 Pagac Alley"], "city": "Quincy", "state": "Massachusetts",
               "postalCode": "02169", "country": "US"}],
  "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                "code": "S", "display": "Never Married"}],
                    "text": "Never Married"},
  "multipleBirthBoolean": false,
  "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US",
                                              "display": "English"}], "text": "English"}}]
})js";

TEST(ExtractIndexValuesTest, SyntheaPatient) {
  json::Document doc = Parse(kPatient);
  std::vector<IndexValue> v = ExtractIndexValues(Registry(), *doc.root());
  EXPECT_EQ(Strings(v, "name"), (Strs{"wiegand", "luigi"}));
  EXPECT_EQ(Of(v, "name")[0]->exact, "Wiegand");
  EXPECT_EQ(Strings(v, "family"), Strs{"wiegand"});
  EXPECT_EQ(Strings(v, "given"), Strs{"luigi"});
  EXPECT_EQ(Strings(v, "address"),
            (Strs{"409 pagac alley", "quincy", "massachusetts", "02169", "us"}));
  EXPECT_EQ(Strings(v, "address-city"), Strs{"quincy"});
  EXPECT_EQ(Strings(v, "address-postalcode"), Strs{"02169"});
  EXPECT_EQ(Tokens(v, "gender"), Strs{"|male|"});
  EXPECT_EQ(
      Tokens(v, "identifier"),
      (Strs{"https://github.com/synthetichealth/synthea|e27d88b0-c5e5-4042-ad49-184f6a900ee3|",
            "http://hospital.smarthealthit.org|e27d88b0-c5e5-4042-ad49-184f6a900ee3|"
            "medical record number",
            "http://hl7.org/fhir/sid/us-ssn|999-91-5172|social security number"}));
  EXPECT_EQ(Tokens(v, "phone"), Strs{"|555-655-8611|"});
  EXPECT_EQ(Tokens(v, "telecom"), Strs{"|555-655-8611|"});
  EXPECT_TRUE(Of(v, "email").empty());
  // No deceased[x]: "Patient.deceased.exists() and Patient.deceased != false" is false.
  EXPECT_EQ(Tokens(v, "deceased"), Strs{"|false|"});
  EXPECT_EQ(Tokens(v, "language"), (Strs{"urn:ietf:bcp:47|en-US|english", "||english"}));
  EXPECT_EQ(Tokens(v, "_id"), Strs{"|1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06|"});
  EXPECT_EQ(Tokens(v, "_tag"), Strs{"https://smarthealthit.org/tags|synthea-5-2019|"});

  auto birthdate = Of(v, "birthdate");
  ASSERT_EQ(birthdate.size(), 1u);
  EXPECT_EQ(birthdate[0]->begin, k20201020);
  EXPECT_EQ(birthdate[0]->end, k20201020 + 86'400 * kSecond);
  auto updated = Of(v, "_lastUpdated");
  ASSERT_EQ(updated.size(), 1u);
  // 2026-11-21: 20,778 days after the epoch (20,454 to 2026-01-01, plus 324); at millisecond
  // precision.
  int64_t t = (20'778LL * 86'400 + 8 * 3600) * kSecond + 123'000;
  EXPECT_EQ(updated[0]->begin, t);
  EXPECT_EQ(updated[0]->end, t + 1000);
}

// The first Body Height of the same bundle (entry 4), with the urn:uuid references rewritten
// to Type/id as a server does when it processes the transaction.
constexpr std::string_view kObservation = R"js({"resourceType": "Observation",
  "id": "f8d3edab-799c-40d0-a48e-614a709e30f3", "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs", "display": "vital-signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": "Body Height"}],
           "text": "Body Height"},
  "subject": {"reference": "Patient/1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06"},
  "encounter": {"reference": "urn:uuid:8d78b15d-6e41-45d9-b369-c11917556707"},
  "effectiveDateTime": "2020-10-20T19:19:03+00:00",
  "issued": "2020-10-20T19:19:03.621+00:00",
  "valueQuantity": {"value": 52.692030001960916, "unit": "cm",
                    "system": "http://unitsofmeasure.org", "code": "cm"}
})js";

TEST(ExtractIndexValuesTest, SyntheaObservation) {
  json::Document doc = Parse(kObservation);
  std::vector<IndexValue> v = ExtractIndexValues(Registry(), *doc.root());
  EXPECT_EQ(Tokens(v, "code"), (Strs{"http://loinc.org|8302-2|body height", "||body height"}));
  EXPECT_EQ(Tokens(v, "category"),
            Strs{"http://terminology.hl7.org/CodeSystem/observation-category|vital-signs|"
                 "vital-signs"});
  EXPECT_EQ(Tokens(v, "status"), Strs{"|final|"});
  for (std::string_view name : {"subject", "patient"}) {
    auto ref = Of(v, name);
    ASSERT_EQ(ref.size(), 1u) << name;
    EXPECT_EQ(ref[0]->value, "Patient/1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06");
    EXPECT_EQ(ref[0]->target_type, "Patient");
    EXPECT_EQ(ref[0]->target_id, "1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06");
  }
  // A urn:uuid reference is kept raw, without a target.
  auto encounter = Of(v, "encounter");
  ASSERT_EQ(encounter.size(), 1u);
  EXPECT_EQ(encounter[0]->value, "urn:uuid:8d78b15d-6e41-45d9-b369-c11917556707");
  EXPECT_EQ(encounter[0]->target_type, "");

  // 19:19:03 on 2020-10-20, at second precision.
  int64_t effective = k20201020 + (19 * 3600 + 19 * 60 + 3) * kSecond;
  auto date = Of(v, "date");
  ASSERT_EQ(date.size(), 1u);
  EXPECT_EQ(date[0]->begin, effective);
  EXPECT_EQ(date[0]->end, effective + kSecond);

  auto quantity = Of(v, "value-quantity");
  ASSERT_EQ(quantity.size(), 1u);
  EXPECT_EQ(quantity[0]->value, "52.692030001960916");
  EXPECT_DOUBLE_EQ(quantity[0]->number, 52.692030001960916);
  EXPECT_EQ(quantity[0]->system, "http://unitsofmeasure.org");
  EXPECT_EQ(quantity[0]->code, "cm");
  EXPECT_EQ(quantity[0]->unit, "cm");

  // The composite pairs the code and the quantity of the one Observation: one group.
  auto cvq = Of(v, "code-value-quantity");
  ASSERT_EQ(cvq.size(), 3u);
  EXPECT_EQ(cvq[0]->component, 0);
  EXPECT_EQ(cvq[0]->code, "8302-2");
  EXPECT_EQ(cvq[1]->component, 0);  // the text-only entry of the concept
  EXPECT_EQ(cvq[2]->component, 1);
  EXPECT_EQ(cvq[2]->type, SearchParamType::kQuantity);
  EXPECT_EQ(cvq[2]->value, "52.692030001960916");
  EXPECT_EQ(cvq[0]->group, cvq[2]->group);
  EXPECT_TRUE(Of(v, "value-string").empty());
}

TEST(ExtractIndexValuesTest, ObservationComponentsFormOneGroupEach) {
  json::Document doc = Parse(R"js({"resourceType": "Observation", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "component": [
      {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
       "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
      {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
       "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]
  })js");
  std::vector<IndexValue> v = ExtractIndexValues(Registry(), *doc.root());
  auto cvq = Of(v, "component-code-value-quantity");
  ASSERT_EQ(cvq.size(), 4u);
  EXPECT_EQ(cvq[0]->code, "8480-6");
  EXPECT_EQ(cvq[1]->value, "120");
  EXPECT_EQ(cvq[0]->group, cvq[1]->group);
  EXPECT_EQ(cvq[2]->code, "8462-4");
  EXPECT_EQ(cvq[3]->value, "80");
  EXPECT_EQ(cvq[2]->group, cvq[3]->group);
  EXPECT_NE(cvq[0]->group, cvq[2]->group);
  EXPECT_EQ(Strings(v, "component-value-quantity"), (Strs{"120", "80"}));
}

// The first Encounter of the same bundle (entry 3).
TEST(ExtractIndexValuesTest, SyntheaEncounterPeriod) {
  json::Document doc = Parse(R"js({"resourceType": "Encounter",
    "id": "8d78b15d-6e41-45d9-b369-c11917556707", "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
    "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003",
                          "display": "Encounter for check up (procedure)"}],
              "text": "Encounter for check up (procedure)"}],
    "subject": {"reference": "Patient/1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06"},
    "participant": [{"individual": {"reference": "Practitioner/60c9fe63"}}],
    "period": {"start": "2020-10-20T19:19:03+00:00", "end": "2020-10-20T19:34:03+00:00"}
  })js");
  std::vector<IndexValue> v = ExtractIndexValues(Registry(), *doc.root());
  auto date = Of(v, "date");
  ASSERT_EQ(date.size(), 1u);
  // From the start of the start to the end of the end (both at second precision).
  EXPECT_EQ(date[0]->begin, k20201020 + (19 * 3600 + 19 * 60 + 3) * kSecond);
  EXPECT_EQ(date[0]->end, k20201020 + (19 * 3600 + 34 * 60 + 4) * kSecond);
  EXPECT_EQ(Tokens(v, "class"), Strs{"http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB|"});
  EXPECT_EQ(Tokens(v, "status"), Strs{"|finished|"});
  EXPECT_EQ(Tokens(v, "type"),
            (Strs{"http://snomed.info/sct|185349003|encounter for check up (procedure)",
                  "||encounter for check up (procedure)"}));
  auto practitioner = Of(v, "practitioner");
  ASSERT_EQ(practitioner.size(), 1u);
  EXPECT_EQ(practitioner[0]->target_type, "Practitioner");
  EXPECT_EQ(practitioner[0]->target_id, "60c9fe63");
  EXPECT_EQ(Of(v, "participant").size(), 1u);
  EXPECT_EQ(Of(v, "patient").size(), 1u);
  // An open period covers everything after its start.
  json::Document open = Parse(R"js({"resourceType": "Encounter", "status": "in-progress",
    "class": {"code": "AMB"}, "period": {"start": "2020-10-20"}})js");
  std::vector<IndexValue> open_values = ExtractIndexValues(Registry(), *open.root());
  auto open_date = Of(open_values, "date");  // pointers into open_values: keep it alive
  ASSERT_EQ(open_date.size(), 1u);
  EXPECT_EQ(open_date[0]->begin, k20201020);
  EXPECT_EQ(open_date[0]->end, std::numeric_limits<int64_t>::max());
}

TEST(ExtractIndexValuesTest, SkipsWhatDoesNotApply) {
  json::Document doc = Parse(R"js({"resourceType": "Patient", "birthDate": "not a date",
    "name": [{"family": 7}], "gender": {"odd": true}, "identifier": [{"system": "s"}]})js");
  std::vector<IndexValue> v = ExtractIndexValues(Registry(), *doc.root());
  EXPECT_TRUE(Of(v, "birthdate").empty());
  EXPECT_TRUE(Of(v, "family").empty());
  EXPECT_TRUE(Of(v, "gender").empty());
  EXPECT_TRUE(Of(v, "identifier").empty());
  json::Document unknown = Parse(R"js({"resourceType": "Nope", "id": "x"})js");
  EXPECT_TRUE(ExtractIndexValues(Registry(), *unknown.root()).empty());
}

// Every Synthea resource extracts without trouble, and the common parameters show up.
TEST(ExtractIndexValuesTest, EverySyntheaResource) {
  const char* dir = std::getenv("MEDULLA_TEST_DATA");
  fs::path synthea = fs::path(dir != nullptr ? dir : "tests/data") / "fhir/synthea";
  size_t resources = 0, values = 0;
  for (const auto& file : fs::directory_iterator(synthea)) {
    std::ifstream in(file.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = json::Parse(ss.str());
    ASSERT_TRUE(doc.has_value()) << file.path();
    for (const json::Value* e : doc->root()->Find("entry")->items()) {
      const json::Value& r = *e->Find("resource");
      std::vector<IndexValue> v = ExtractIndexValues(Registry(), r);
      ++resources;
      values += v.size();
      EXPECT_EQ(Of(v, "_id").size(), 1u) << r.StringOr("resourceType");
    }
  }
  EXPECT_EQ(resources, 9354u);
  EXPECT_GT(values, resources * 5);
}

}  // namespace
}  // namespace medulla::fhir
