// Required bindings of `code` elements (terminologies.html#required), checked against the value
// sets of data/fhir/definitions/required-bindings.json.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/validator.h"
#include "json/parse.h"

namespace medulla::fhir {
namespace {

using Expected = std::vector<std::pair<IssueType, std::string>>;

std::vector<ValidationIssue> ValidateText(std::string_view text) {
  auto doc = json::Parse(text);
  if (!doc) return {{IssueType::kInvalid, "<json>", doc.error().message()}};
  return Validate(Definitions::Embedded(), *doc->root());
}

Expected Summarize(const std::vector<ValidationIssue>& issues) {
  Expected out;
  for (const ValidationIssue& i : issues) out.emplace_back(i.type, i.expression);
  return out;
}

std::string Describe(const std::vector<ValidationIssue>& issues) {
  std::string out;
  for (const ValidationIssue& i : issues) {
    out +=
        "  " + std::string(IssueTypeCode(i.type)) + " @ " + i.expression + ": " + i.message + "\n";
  }
  return out;
}

struct Case {
  const char* name;
  const char* json;
  Expected expected;
};

void ExpectCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    auto issues = ValidateText(c.json);
    EXPECT_EQ(Summarize(issues), c.expected) << c.name << "\n" << Describe(issues);
  }
}

// A minimal Observation around a status.
std::string Observation(std::string_view status) {
  return R"({"resourceType":"Observation","status":")" + std::string(status) +
         R"(","code":{"text":"x"}})";
}

TEST(BindingsTest, PatientGender) {
  for (const char* code : {"male", "female", "other", "unknown"}) {
    std::string json = R"({"resourceType":"Patient","gender":")" + std::string(code) + "\"}";
    EXPECT_TRUE(ValidateText(json).empty()) << code;
  }
  ExpectCases({
      {"not in the value set",
       R"({"resourceType":"Patient","gender":"sometimes"})",
       {{IssueType::kValue, "Patient.gender"}}},
      {"codes are case-sensitive",
       R"({"resourceType":"Patient","gender":"Male"})",
       {{IssueType::kValue, "Patient.gender"}}},
      {"a display is not a code",
       R"({"resourceType":"Patient","gender":"Female"})",
       {{IssueType::kValue, "Patient.gender"}}},
      // A lexically bad code is reported once, as such.
      {"lexically bad",
       R"({"resourceType":"Patient","gender":"ma le "})",
       {{IssueType::kValue, "Patient.gender"}}},
      {"only extensions, no value",
       R"({"resourceType":"Patient","_gender":{"extension":[{"url":"http://x",
         "valueString":"y"}]}})",
       {}},
  });
}

TEST(BindingsTest, MessageNamesTheValueSetNotTheValue) {
  auto issues = ValidateText(R"({"resourceType":"Patient","gender":"Jane Doe"})");
  ASSERT_EQ(issues.size(), 1u) << Describe(issues);
  EXPECT_EQ(issues[0].message,
            "'gender' must be a code from http://hl7.org/fhir/ValueSet/administrative-gender "
            "(male, female, other, unknown)");
  // Large value sets are named, not listed.
  issues = ValidateText(R"({"resourceType":"ImplementationGuide","url":"http://x","name":"X",
    "status":"draft","packageId":"x","fhirVersion":["4.0.1"],"license":"Not-A-License"})");
  ASSERT_EQ(issues.size(), 1u) << Describe(issues);
  EXPECT_EQ(issues[0].expression, "ImplementationGuide.license");
  EXPECT_EQ(issues[0].message,
            "'license' must be a code from http://hl7.org/fhir/ValueSet/spdx-license");
}

TEST(BindingsTest, ObservationStatus) {
  for (const char* code : {"registered", "preliminary", "final", "amended", "corrected",
                           "cancelled", "entered-in-error", "unknown"}) {
    EXPECT_TRUE(ValidateText(Observation(code)).empty()) << code;
  }
  for (const char* code : {"done", "FINAL", "draft", "active"}) {
    EXPECT_EQ(Summarize(ValidateText(Observation(code))),
              (Expected{{IssueType::kValue, "Observation.status"}}))
        << code;
  }
}

TEST(BindingsTest, BundleAndEncounter) {
  ExpectCases({
      {"bundle type", R"({"resourceType":"Bundle","type":"collection"})", {}},
      {"bad bundle type",
       R"({"resourceType":"Bundle","type":"invalid-type"})",
       {{IssueType::kValue, "Bundle.type"}}},
      {"bad request method",
       R"({"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"FETCH",
         "url":"Patient"}}]})",
       {{IssueType::kValue, "Bundle.entry[0].request.method"}}},
      {"encounter status",
       R"({"resourceType":"Encounter","status":"finished","class":{"code":"AMB"}})",
       {}},
      {"bad encounter status",
       R"({"resourceType":"Encounter","status":"done","class":{"code":"AMB"},
         "statusHistory":[{"status":"over","period":{"start":"2020"}}]})",
       {{IssueType::kValue, "Encounter.status"},
        {IssueType::kValue, "Encounter.statusHistory[0].status"}}},
  });
}

TEST(BindingsTest, CodesInBackboneElementsAndDataTypes) {
  ExpectCases({
      {"contact gender",
       R"({"resourceType":"Patient","contact":[{"gender":"female"},{"gender":"f"}]})",
       {{IssueType::kValue, "Patient.contact[1].gender"}}},
      {"link type",
       R"({"resourceType":"Patient","link":[{"other":{"reference":"Patient/1"},"type":"seealso"},
         {"other":{"reference":"Patient/2"},"type":"see-also"}]})",
       {{IssueType::kValue, "Patient.link[1].type"}}},
      {"contact point and name use (data types)",
       R"({"resourceType":"Patient","telecom":[{"system":"pager","value":"1"},
         {"system":"carrier-pigeon","value":"2","use":"work"}],"name":[{"use":"alias"}]})",
       {{IssueType::kValue, "Patient.telecom[1].system"},
        {IssueType::kValue, "Patient.name[0].use"}}},
      {"narrative status",
       R"({"resourceType":"Patient","text":{"status":"written",
         "div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}})",
       {{IssueType::kValue, "Patient.text.status"}}},
      {"abstract code (a grouper, not for use)",
       R"({"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1",
         "type":"question"},{"linkId":"2","type":"boolean"}]})",
       {{IssueType::kValue, "Questionnaire.item[0].type"}}},
  });
}

TEST(BindingsTest, CodesInNestedResources) {
  ExpectCases({
      {"contained",
       R"({"resourceType":"Patient","contained":[{"resourceType":"Patient","id":"p",
         "gender":"sometimes"}]})",
       {{IssueType::kValue, "Patient.contained[0].gender"}}},
      {"contained in a bundle entry",
       R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{
         "resourceType":"Patient","contained":[{"resourceType":"Observation","id":"o",
         "status":"done","code":{"text":"x"}}]}}]})",
       {{IssueType::kValue, "Bundle.entry[0].resource.contained[0].status"}}},
  });
}

TEST(BindingsTest, CodesInPrimitiveArrays) {
  ExpectCases({
      {"allergy categories",
       R"({"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},
         "category":["food","flavour","medication"]})",
       {{IssueType::kValue, "AllergyIntolerance.category[1]"}}},
      {"null items with extensions are not codes",
       R"({"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},
         "category":[null,"food"],"_category":[{"extension":[{"url":"http://x",
         "valueString":"y"}]},null]})",
       {}},
      {"timing when (a data type in a backbone element)",
       R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
         "medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/1"},
         "dosageInstruction":[{"timing":{"repeat":{"when":["MORN","BRUNCH"],
         "periodUnit":"d"}}}]})",
       {{IssueType::kValue, "MedicationRequest.dosageInstruction[0].timing.repeat.when[1]"}}},
  });
}

TEST(BindingsTest, WhatIsNotChecked) {
  ExpectCases({
      // mimetypes: urn:ietf:bcp:13 is not in the package, so any code is accepted.
      {"binary content type",
       R"({"resourceType":"Binary","contentType":"application/x-made-up"})",
       {}},
      {"attachment content type",
       R"({"resourceType":"DocumentReference","status":"current","content":[{"attachment":
         {"contentType":"text/made-up","url":"http://x"}}]})",
       {}},
      // currencies: ISO 4217 is not in the package.
      {"currency",
       R"({"resourceType":"Invoice","status":"draft","totalNet":{"value":1,"currency":"XYZ"}})",
       {}},
      // The package binds DetectedIssue.status to a FHIR 5.0.0 value set; not enforced, so both
      // R4's codes and the R5 one pass.
      {"detected issue status R4", R"({"resourceType":"DetectedIssue","status":"registered"})", {}},
      {"detected issue status R5", R"({"resourceType":"DetectedIssue","status":"mitigated"})", {}},
      // Resource.language binds `languages` as preferred: any code.
      {"language (preferred)", R"({"resourceType":"Patient","language":"xx-made-up"})", {}},
      // Codings carry their own system; only `code` elements are checked.
      {"coding",
       R"({"resourceType":"Observation","status":"final","code":{"coding":[{
         "system":"http://loinc.org","code":"not-loinc"}]},"category":[{"coding":[{
         "system":"http://terminology.hl7.org/CodeSystem/observation-category",
         "code":"made-up"}]}]})",
       {}},
      // Extension.value[x] has no binding.
      {"valueCode",
       R"({"resourceType":"Patient","extension":[{"url":"http://x","valueCode":"anything"}]})",
       {}},
  });
}

TEST(BindingsTest, ValueSetsOfTheFhirRelease) {
  ExpectCases({
      // fhir.schema.json's enum predates 4.0.1; FHIR-version lists it.
      {"fhir version",
       R"({"resourceType":"CapabilityStatement","status":"active","date":"2020",
         "kind":"instance","fhirVersion":"4.0.1","format":["json"]})",
       {}},
      {"unknown fhir version",
       R"({"resourceType":"CapabilityStatement","status":"active","date":"2020",
         "kind":"instance","fhirVersion":"4.0.2","format":["json"]})",
       {{IssueType::kValue, "CapabilityStatement.fhirVersion"}}},
      {"resource types",
       R"({"resourceType":"CapabilityStatement","status":"active","date":"2020",
         "kind":"instance","fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server",
         "resource":[{"type":"Patient"},{"type":"Flavour"}]}]})",
       {{IssueType::kValue, "CapabilityStatement.rest[0].resource[1].type"}}},
      {"confidentiality (an HL7 v3 value set)",
       R"({"resourceType":"Composition","status":"final","type":{"text":"x"},"date":"2020",
         "author":[{"display":"a"}],"title":"t","confidentiality":"X"})",
       {{IssueType::kValue, "Composition.confidentiality"}}},
  });
}

}  // namespace
}  // namespace medulla::fhir
