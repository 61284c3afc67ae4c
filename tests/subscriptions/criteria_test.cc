// Subscription criteria (subscriptions/criteria.h): hand-written cases per parameter type, the
// refusals, and a differential test that runs the same criteria through the SQLite store's
// search and through ParseCriteria + Matches, over real FHIR examples, Synthea resources and
// the hand-written resources, and requires the same matches.
#include "subscriptions/criteria.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "json/parse.h"
#include "json/write.h"
#include "records/record_service.h"
#include "records/search_request.h"
#include "testing/record_fixture.h"

namespace medulla::subscriptions {
namespace {

namespace fs = std::filesystem;

const fhir::SearchParameterRegistry& Registry() {
  return fhir::SearchParameterRegistry::Embedded();
}

json::Document ParseJson(std::string_view text) {
  auto doc = json::Parse(text);
  EXPECT_TRUE(doc) << doc.error().ToString();
  return doc ? std::move(*doc) : json::Document();
}

core::MicrosSinceEpoch Instant(std::string_view text) {
  auto range = core::ParseFhirDateTimeRange(text);
  EXPECT_TRUE(range) << text;
  return range ? range->begin : 0;
}

// ---------------------------------------------------------------------------------------------
// Hand-written resources: valid R4, each exercising values of several parameter types.

struct Example {
  const char* type;
  const char* id;
  const char* json;
};

const std::vector<Example>& Examples() {
  static const std::vector<Example> kExamples = {
      {"DetectedIssue", "di1", R"({"resourceType":"DetectedIssue","id":"di1",
        "meta":{"tag":[{"system":"urn:tags","code":"cds"}],
                "source":"http://cds.example.org/engine#run7",
                "profile":["http://example.org/fhir/StructureDefinition/di-profile"]},
        "identifier":[{"system":"urn:ids","value":"DI-1"}],
        "status":"preliminary",
        "code":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code":"DRG","display":"Drug Interaction Alert"}]},
        "severity":"high",
        "patient":{"reference":"Patient/p1"},
        "identifiedDateTime":"2024-03-05T10:00:00Z",
        "author":{"reference":"https://other.example/fhir/Practitioner/pr1/_history/3"},
        "implicated":[{"reference":"MedicationRequest/m1"},
                      {"reference":"urn:uuid:0f6c2b5e-7c1a-4c59-9c2e-3b8d8a7e1d10"}]})"},
      {"DetectedIssue", "di2", R"({"resourceType":"DetectedIssue","id":"di2",
        "status":"final",
        "code":{"text":"Duplicate therapy"},
        "patient":{"reference":"Patient/p2"},
        "identifiedPeriod":{"start":"2024-03-01","end":"2024-03-02"},
        "implicated":[{"reference":"MedicationRequest/m2"}]})"},
      {"Task", "t2", R"({"resourceType":"Task","id":"t2","status":"completed","intent":"plan",
        "for":{"reference":"Group/g1"},
        "owner":{"reference":"Practitioner/pr1"},
        "executionPeriod":{"start":"2024-02-01T08:00:00Z","end":"2024-02-01T09:00:00Z"},
        "lastModified":"2024-02-01T09:00:00Z"})"},
      {"Task", "t1", R"({"resourceType":"Task","id":"t1",
        "identifier":[{"system":"urn:tasks","value":"T-1","type":{"text":"Work order"}}],
        "groupIdentifier":{"value":"G-9"},
        "basedOn":[{"reference":"urn:uuid:9a1c0b7e-4f0e-4d0e-8d5a-2f3b1c4d5e6f"}],
        "status":"requested","intent":"order","priority":"urgent",
        "businessStatus":{"text":"Waiting for lab"},
        "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}],
                "text":"Fulfil the order"},
        "focus":{"reference":"ServiceRequest/sr1/_history/2"},
        "for":{"reference":"Patient/p1"},
        "executionPeriod":{"start":"2024-03-01T08:00:00Z"},
        "authoredOn":"2024-03-01T07:30:00+01:00",
        "lastModified":"2024-03-02",
        "requester":{"reference":"Practitioner/pr1"},
        "owner":{"identifier":{"system":"urn:staff","value":"42"}}})"},
      {"Observation", "obs1", R"({"resourceType":"Observation","id":"obs1","status":"final",
        "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category",
                                "code":"vital-signs"}]}],
        "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],
                "text":"Heart rate"},
        "subject":{"reference":"Patient/p1"},
        "encounter":{"reference":"Encounter/e1"},
        "effectiveDateTime":"2024-03-05T10:30:00+01:00",
        "valueQuantity":{"value":72,"unit":"beats/minute","system":"http://unitsofmeasure.org",
                         "code":"/min"}})"},
      {"Observation", "bp1", R"({"resourceType":"Observation","id":"bp1","status":"amended",
        "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
        "subject":{"reference":"Patient/p2"},
        "performer":[{"reference":"http://external.org/fhir/Practitioner/x1"}],
        "effectivePeriod":{"start":"2024-03-04T08:00:00Z","end":"2024-03-04T08:05:00Z"},
        "component":[
          {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
           "valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org",
                            "code":"mm[Hg]"}},
          {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},
           "valueQuantity":{"value":80,"unit":"mmHg","system":"http://unitsofmeasure.org",
                            "code":"mm[Hg]"}}]})"},
      {"Observation", "str1", R"({"resourceType":"Observation","id":"str1","status":"final",
        "code":{"text":"Urine dipstick"},
        "subject":{"identifier":{"system":"urn:mrn","value":"12345"}},
        "effectivePeriod":{"end":"2023-12-31"},
        "valueString":"Trace of  BLOOD"})"},
      {"Observation", "wt1", R"({"resourceType":"Observation","id":"wt1","status":"final",
        "code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},
        "subject":{"reference":"Patient/p1"},
        "effectiveDateTime":"2024-02",
        "valueQuantity":{"value":180,"unit":"lb","system":"http://unitsofmeasure.org",
                         "code":"[lb_av]"}})"},
      {"Observation", "mg1", R"({"resourceType":"Observation","id":"mg1","status":"final",
        "code":{"coding":[{"system":"urn:local","code":"dose"}]},
        "valueQuantity":{"value":5.4,"unit":"mg"}})"},
      {"Observation", "arb1", R"({"resourceType":"Observation","id":"arb1","status":"cancelled",
        "code":{"coding":[{"system":"urn:local","code":"titer"}]},
        "valueQuantity":{"value":3,"system":"http://unitsofmeasure.org","code":"[arb'U]"}})"},
      {"Patient", "p1", R"({"resourceType":"Patient","id":"p1",
        "identifier":[{"system":"urn:mrn","value":"12345",
                       "type":{"text":"Medical record number"}},{"value":"A-7"}],
        "active":true,
        "name":[{"family":"Müller","given":["Anna","Maria"]}],
        "telecom":[{"system":"email","value":"anna@example.org"},
                   {"system":"phone","value":"+41 44 123 45 67"}],
        "gender":"female","birthDate":"1980-06",
        "address":[{"line":["Bahnhofstrasse 1"],"city":"Zürich","postalCode":"8001",
                    "country":"CH"}],
        "generalPractitioner":[{"reference":"Practitioner/pr1"}],
        "managingOrganization":{"reference":"Organization/org1"}})"},
      {"Patient", "p2", R"({"resourceType":"Patient","id":"p2",
        "name":[{"family":"Miller","given":["John"]}],
        "gender":"male","birthDate":"1975-01-01",
        "deceasedDateTime":"2023-11-02T14:00:00Z"})"},
      {"Encounter", "e1", R"({"resourceType":"Encounter","id":"e1","status":"finished",
        "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB",
                 "display":"ambulatory"},
        "type":[{"coding":[{"system":"http://snomed.info/sct","code":"185349003",
                            "display":"Encounter for check up"}]}],
        "subject":{"reference":"Patient/p1"},
        "participant":[{"individual":{"reference":"Practitioner/pr1"}}],
        "period":{"start":"2024-03-05T09:00:00Z","end":"2024-03-05T11:00:00Z"},
        "length":{"value":120,"unit":"min","system":"http://unitsofmeasure.org","code":"min"},
        "reasonCode":[{"text":"Chest pain"}],
        "serviceProvider":{"reference":"Organization/org1"}})"},
      {"RiskAssessment", "ra1", R"({"resourceType":"RiskAssessment","id":"ra1","status":"final",
        "subject":{"reference":"Patient/p1"},
        "prediction":[{"probabilityDecimal":0.8},{"probabilityDecimal":0.02}]})"},
      {"RiskAssessment", "ra2", R"({"resourceType":"RiskAssessment","id":"ra2","status":"final",
        "subject":{"reference":"Patient/p2"},
        "prediction":[{"probabilityDecimal":0.35},
                      {"probabilityRange":{"low":{"value":0.1},"high":{"value":0.2}}}]})"},
  };
  return kExamples;
}

// lastUpdated of the hand-written resources in the table-driven tests.
core::MicrosSinceEpoch ExampleLastUpdated() {
  return Instant("2024-03-05T12:00:00.000Z");
}

const json::Value& ExampleResource(std::string_view id) {
  static const auto* kDocs = [] {
    auto* docs = new std::map<std::string, json::Document, std::less<>>;
    for (const Example& e : Examples()) docs->emplace(e.id, ParseJson(e.json));
    return docs;
  }();
  auto it = kDocs->find(id);
  if (it == kDocs->end()) ADD_FAILURE() << "no example " << id;
  return *it->second.root();
}

// ---------------------------------------------------------------------------------------------
// Table-driven matching.

struct Case {
  const char* criteria;
  const char* id;  // of an example
  bool matches;
};

void Check(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.criteria) + " on " + c.id);
    auto parsed = ParseCriteria(Registry(), c.criteria);
    ASSERT_TRUE(parsed) << parsed.error().ToString();
    EXPECT_EQ(Matches(*parsed, Registry(), ExampleResource(c.id), c.id, ExampleLastUpdated()),
              c.matches);
  }
}

TEST(CriteriaMatchTest, Tokens) {
  Check({
      {"DetectedIssue?status=preliminary", "di1", true},
      {"DetectedIssue?status=final", "di1", false},
      {"DetectedIssue?status=final,preliminary", "di1", true},
      {"DetectedIssue?status=Preliminary", "di1", false},  // codes are case-sensitive
      {"DetectedIssue?code=DRG", "di1", true},
      {"DetectedIssue?code=http://terminology.hl7.org/CodeSystem/v3-ActCode|DRG", "di1", true},
      {"DetectedIssue?code=http://loinc.org|DRG", "di1", false},
      {"DetectedIssue?code=|DRG", "di1", false},  // "|code": only codes without a system
      {"DetectedIssue?code=http://terminology.hl7.org/CodeSystem/v3-ActCode|", "di1", true},
      {"DetectedIssue?code:text=drug%20inter", "di1", true},  // display, normalised prefix
      {"DetectedIssue?code:text=interaction", "di1", false},
      {"DetectedIssue?status:not=final", "di1", true},
      {"DetectedIssue?status:not=preliminary", "di1", false},
      {"DetectedIssue?identifier=urn:ids|DI-1", "di1", true},
      {"DetectedIssue?identifier=di-1", "di1", false},
      {"DetectedIssue?_tag=urn:tags|cds", "di1", true},
      {"DetectedIssue?_security:missing=true", "di1", true},
      {"Patient?identifier=|A-7", "p1", true},
      {"Patient?identifier=|12345", "p1", false},
      {"Patient?identifier:text=medical", "p1", true},  // Identifier.type.text
      {"Patient?active=true", "p1", true},
      {"Patient?active=false", "p1", false},
      {"Patient?active:missing=true", "p2", true},
      {"Patient?email=anna@example.org", "p1", true},
      {"Patient?phone=anna@example.org", "p1", false},
      {"Patient?gender:not=male", "p1", true},
      {"Patient?gender:not=male", "p2", false},
      {"Patient?deceased=true", "p2", true},
      {"Patient?deceased=true", "p1", false},
      {"Task?code:text=fulfil", "t1", true},  // CodeableConcept.text
      {"Task?business-status:text=waiting", "t1", true},
      {"Task?business-status=waiting", "t1", false},  // text alone is no code
      {"Task?business-status:missing=false", "t1", true},
      {"Task?performer:missing=true", "t1", true},
      {"Task?priority=urgent", "t1", true},
      {"Observation?category=vital-signs", "obs1", true},
      {"Observation?category=vital-signs", "bp1", false},
      {"Observation?category:not=vital-signs", "bp1", true},  // no value at all: :not holds
      {"Observation?combo-code=8480-6", "bp1", true},
      {"Observation?code:not=8867-4", "obs1", false},
      {"Observation?code:missing=false", "str1", true},  // only a text: still a value
      {"Observation?code=urine", "str1", false},
  });
}

TEST(CriteriaMatchTest, Strings) {
  Check({
      {"Patient?name=mul", "p1", true},  // "Müller" is searched as "muller"
      {"Patient?name=MÜL", "p1", true},
      {"Patient?name=%C3%BCller", "p1", false},  // a prefix match, not a substring
      {"Patient?family=mül", "p1", true},
      {"Patient?family:exact=Müller", "p1", true},
      {"Patient?family:exact=müller", "p1", false},
      {"Patient?family:exact=Mül", "p1", false},
      {"Patient?given=mar", "p1", true},
      {"Patient?name:contains=ull", "p1", true},
      {"Patient?name:contains=ull", "p2", false},
      {"Patient?address-city=zurich", "p1", true},
      {"Patient?address=bahnhof", "p1", true},
      {"Patient?address=8001", "p1", true},
      {"Patient?name=anna,bob", "p1", true},
      {"Patient?name=anna&name=john", "p1", false},
      {"Patient?address:missing=true", "p2", true},
      {"Patient?family:missing=false", "p2", true},
      {"Observation?value-string=trace%20of%20blood", "str1", true},  // whitespace collapsed
      {"Observation?value-string=blood", "str1", false},
      {"Observation?value-string:contains=blood", "str1", true},
  });
}

TEST(CriteriaMatchTest, References) {
  Check({
      {"DetectedIssue?patient=Patient/p1", "di1", true},
      {"DetectedIssue?patient=p1", "di1", true},
      {"DetectedIssue?patient=Patient/p2", "di1", false},
      {"DetectedIssue?patient:Patient=p1", "di1", true},
      {"DetectedIssue?patient=http://any.example/base/Patient/p1", "di1", true},
      // An absolute, versioned reference in the resource is indexed as Practitioner/pr1.
      {"DetectedIssue?author=Practitioner/pr1", "di1", true},
      {"DetectedIssue?author=pr1", "di1", true},
      {"DetectedIssue?author=Device/pr1", "di1", false},
      {"DetectedIssue?implicated=MedicationRequest/m1", "di1", true},
      {"DetectedIssue?implicated=Medication/m1", "di1", false},
      {"DetectedIssue?implicated=urn:uuid:0f6c2b5e-7c1a-4c59-9c2e-3b8d8a7e1d10", "di1", true},
      {"Task?focus=ServiceRequest/sr1", "t1", true},
      {"Task?focus=ServiceRequest/sr1/_history/9", "t1", true},  // versions are ignored
      {"Task?owner:identifier=urn:staff|42", "t1", true},
      {"Task?owner:identifier=42", "t1", true},
      {"Task?owner:identifier=urn:other|42", "t1", false},
      {"Task?owner=42", "t1", false},  // an identifier is no reference
      {"Task?owner:missing=false", "t1", true},
      {"Task?subject=Patient/p1", "t1", true},
      {"Task?requester:missing=true", "t1", false},
      {"Task?subject=Group/g1", "t2", true},
      {"Task?patient:missing=true", "t2", true},  // for.where(resolve() is Patient)
      {"DetectedIssue?author:missing=true", "di2", true},
      {"Observation?subject:identifier=urn:mrn|12345", "str1", true},
      {"Observation?encounter=Encounter/e1", "obs1", true},
      {"Observation?encounter:missing=true", "bp1", true},
      {"Observation?performer=Practitioner/x1", "bp1", true},
      {"Encounter?participant=Practitioner/pr1", "e1", true},
      {"Encounter?service-provider=Organization/org2", "e1", false},
  });
}

TEST(CriteriaMatchTest, Dates) {
  // DetectedIssue.identified: 2024-03-05T10:00:00Z, i.e. [10:00:00, 10:00:01).
  Check({
      {"DetectedIssue?identified=2024-03-05", "di1", true},
      {"DetectedIssue?identified=2024-03-06", "di1", false},
      {"DetectedIssue?identified=2024-03", "di1", true},
      {"DetectedIssue?identified=2024", "di1", true},
      {"DetectedIssue?identified=2024-03-05T11:00:00%2B01:00", "di1", true},
      {"DetectedIssue?identified=2024-03-05T11:00:00+01:00", "di1", true},  // '+' as sent
      {"DetectedIssue?identified=gt2024-03-04", "di1", true},
      {"DetectedIssue?identified=lt2024-03-05", "di1", false},
      {"DetectedIssue?identified=le2024-03-05", "di1", true},
      {"DetectedIssue?identified=ge2024-03-05", "di1", true},
      {"DetectedIssue?identified=sa2024-03-04", "di1", true},
      {"DetectedIssue?identified=sa2024-03-05", "di1", false},
      {"DetectedIssue?identified=eb2024-03-06", "di1", true},
      {"DetectedIssue?identified=eb2024-03-05", "di1", false},
      {"DetectedIssue?identified=ne2024-03-05", "di1", false},
      {"DetectedIssue?identified=ne2024-03-06", "di1", true},
      // ap: at least a day, or 10% of the distance from now, either side.
      {"DetectedIssue?identified=ap2024-03-04", "di1", true},
      {"DetectedIssue?identified=ap2020-01-01", "di1", false},
      // A period: [2024-03-01, 2024-03-03).
      {"DetectedIssue?identified=2024-03", "di2", true},
      {"DetectedIssue?identified=2024-03-01", "di2", false},
      {"DetectedIssue?identified=ge2024-03-02", "di2", true},
      {"DetectedIssue?identified=gt2024-03-02", "di2", false},
      // An open end: after anything, equal to nothing.
      {"Task?period=ge2030-01-01", "t1", true},
      {"Task?period=2024-03-01", "t1", false},
      {"Task?period=sa2024-02-01", "t1", true},
      {"Task?period=lt2024-01-01", "t1", false},
      {"Task?authored-on=2024-03-01", "t1", true},
      {"Task?modified=le2024-03-02", "t1", true},
      {"Task?modified=lt2024-03-02", "t1", false},
      // An open start.
      {"Observation?date=lt1900", "str1", true},
      {"Observation?date=2024-03-05", "obs1", true},  // 10:30+01:00 is 09:30Z
      {"Observation?date=2024-03-05T09:30:00Z", "obs1", true},
      {"Observation?date=gt2024-03-05T09:30:00Z", "obs1", false},
      {"Encounter?date=2024-03-05", "e1", true},
      {"Encounter?date=2024-03-05T10:00:00Z", "e1", false},  // the period is longer
      {"Encounter?date=ge2024-03-05T10:00:00Z", "e1", true},
      {"Encounter?date=ne2024-03-05", "e1", false},
      {"Patient?birthdate=1980", "p1", true},
      {"Patient?birthdate=1980-06-15", "p1", false},  // a month is not within a day
      {"Patient?birthdate=lt1980-06-15", "p1", true},
      {"Patient?birthdate=gt1980-06-15", "p1", true},
      {"Patient?death-date=2023", "p2", true},
      {"Patient?death-date:missing=true", "p1", true},
  });
}

TEST(CriteriaMatchTest, Numbers) {
  // RiskAssessment ra1: probabilities 0.8 and 0.02.
  Check({
      {"RiskAssessment?probability=0.8", "ra1", true},
      {"RiskAssessment?probability=0.80", "ra1", true},
      {"RiskAssessment?probability=0.85", "ra1", false},  // [0.845, 0.855)
      {"RiskAssessment?probability=8e-1", "ra1", true},   // [0.75, 0.85)
      {"RiskAssessment?probability=1e-1", "ra1", false},  // [0.05, 0.15)
      {"RiskAssessment?probability=gt0.5", "ra1", true},
      {"RiskAssessment?probability=gt0.8", "ra1", false},
      {"RiskAssessment?probability=ge0.8", "ra1", true},
      {"RiskAssessment?probability=lt0.01", "ra1", false},
      {"RiskAssessment?probability=lt0.05", "ra1", true},
      {"RiskAssessment?probability=ap0.75", "ra1", true},  // within 10%
      {"RiskAssessment?probability=ap0.7", "ra1", false},
      {"RiskAssessment?probability=ne0.8", "ra1", true},  // 0.02 is not 0.8
      {"RiskAssessment?probability:missing=false", "ra1", true},
      {"RiskAssessment?probability=0.15", "ra2", false},  // a Range is not indexed
      {"RiskAssessment?probability=0.3", "ra2", false},   // [0.25, 0.35): 0.35 is out
      {"RiskAssessment?probability=0.4", "ra2", true},    // [0.35, 0.45): 0.35 is in
      {"RiskAssessment?probability=ap0.35", "ra2", true},
  });
}

TEST(CriteriaMatchTest, Quantities) {
  Check({
      {"Observation?value-quantity=72", "obs1", true},
      {"Observation?value-quantity=72.0", "obs1", true},
      {"Observation?value-quantity=73", "obs1", false},
      {"Observation?value-quantity=72|http://unitsofmeasure.org|/min", "obs1", true},
      {"Observation?value-quantity=72||/min", "obs1", true},
      {"Observation?value-quantity=72||beats/minute", "obs1", true},  // the human unit
      {"Observation?value-quantity=72|http://loinc.org|/min", "obs1", false},
      {"Observation?value-quantity=1.2|http://unitsofmeasure.org|/s", "obs1", true},  // converts
      {"Observation?value-quantity=gt70", "obs1", true},
      {"Observation?value-quantity=lt70", "obs1", false},
      // 180 [lb_av] is 81.65 kg.
      {"Observation?value-quantity=81.6|http://unitsofmeasure.org|kg", "wt1", true},
      {"Observation?value-quantity=81.7|http://unitsofmeasure.org|kg", "wt1", false},
      {"Observation?value-quantity=gt80000|http://unitsofmeasure.org|g", "wt1", true},
      // No system and no code in the resource: only the literal unit or a bare number.
      {"Observation?value-quantity=5.4||mg", "mg1", true},
      {"Observation?value-quantity=5.4|http://unitsofmeasure.org|mg", "mg1", false},
      {"Observation?value-quantity=5400|http://unitsofmeasure.org|ug", "mg1", false},
      {"Observation?value-quantity=3|http://unitsofmeasure.org|[arb'U]", "arb1", true},
      {"Observation?value-quantity:missing=true", "bp1", true},
      {"Observation?component-value-quantity=120|http://unitsofmeasure.org|mm[Hg]", "bp1", true},
      {"Encounter?length=2|http://unitsofmeasure.org|h", "e1", true},
      {"Encounter?length=120||min", "e1", true},
      {"Encounter?length=gt3|http://unitsofmeasure.org|h", "e1", false},
  });
}

TEST(CriteriaMatchTest, Uris) {
  Check({
      {"DetectedIssue?_source=http://cds.example.org/engine%23run7", "di1", true},
      {"DetectedIssue?_source=http://cds.example.org/engine", "di1", false},
      {"DetectedIssue?_source:below=http://cds.example.org/", "di1", true},
      {"DetectedIssue?_source:below=http://cds.example.org/engine%23run7/x", "di1", false},
      {"DetectedIssue?_source:above=http://cds.example.org/engine%23run7/x", "di1", true},
      {"DetectedIssue?_source:above=http://cds.example.org/", "di1", false},
      {"DetectedIssue?_source:contains=engine", "di1", true},
      {"DetectedIssue?_source:contains=ENGINE", "di1", false},
      {"DetectedIssue?_profile=http://example.org/fhir/StructureDefinition/di-profile", "di1",
       true},
      {"DetectedIssue?_profile:below=http://example.org/fhir/", "di1", true},
      {"Patient?_source:missing=true", "p1", true},
  });
}

TEST(CriteriaMatchTest, Composites) {
  Check({
      {"Observation?component-code-value-quantity=http://loinc.org|8480-6$120|http://"
       "unitsofmeasure.org|mm[Hg]",
       "bp1", true},
      // 80 belongs to the diastolic component, not to the systolic one.
      {"Observation?component-code-value-quantity=8480-6$80", "bp1", false},
      {"Observation?component-code-value-quantity=8462-4$lt90", "bp1", true},
      {"Observation?component-code-value-quantity=8462-4$lt70,8480-6$gt100", "bp1", true},
      {"Observation?combo-code-value-quantity=8480-6$gt100", "bp1", true},
      {"Observation?code-value-quantity=8867-4$gt60", "obs1", true},
      {"Observation?code-value-quantity=8867-4$gt100", "obs1", false},
      {"Observation?code-value-quantity=http://loinc.org|8867-4$1.2|http://unitsofmeasure.org|/s",
       "obs1", true},
      {"Observation?code-value-quantity:missing=true", "bp1", true},
      {"Observation?code-value-quantity:missing=false", "obs1", true},
      // str1's code has no coding: the item lacks a searchable code and is not indexed.
      {"Observation?code-value-string:missing=true", "str1", true},
  });
}

TEST(CriteriaMatchTest, IdAndLastUpdated) {
  // The examples' lastUpdated is 2024-03-05T12:00:00.000Z.
  Check({
      {"DetectedIssue?_id=di1", "di1", true},
      {"DetectedIssue?_id=di2,di1", "di1", true},
      {"DetectedIssue?_id=di2", "di1", false},
      {"DetectedIssue?_lastUpdated=2024-03-05", "di1", true},
      {"DetectedIssue?_lastUpdated=2024-03-05T12:00:00.000Z", "di1", true},
      {"DetectedIssue?_lastUpdated=gt2024-03-05T12:00:00Z", "di1", false},
      {"DetectedIssue?_lastUpdated=ge2024-03-05T12:00:00Z", "di1", true},
      {"DetectedIssue?_lastUpdated=lt2024-03-06", "di1", true},
      {"DetectedIssue?_lastUpdated=ge2024-03-06", "di1", false},
  });
}

TEST(CriteriaMatchTest, ParametersAreAndedValuesOred) {
  Check({
      {"DetectedIssue?patient=Patient/p1&status=preliminary", "di1", true},
      {"DetectedIssue?patient=Patient/p1&status=final", "di1", false},
      {"DetectedIssue?patient=Patient/p2,Patient/p1&status=final,preliminary", "di1", true},
      {"DetectedIssue?status=preliminary&status=final", "di1", false},
      {"DetectedIssue", "di1", true},
      {"DetectedIssue?", "di1", true},
  });
}

TEST(CriteriaMatchTest, OnlyResourcesOfTheType) {
  auto c = ParseCriteria(Registry(), "Patient");
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_TRUE(Matches(*c, Registry(), ExampleResource("p1"), "p1", 0));
  EXPECT_FALSE(Matches(*c, Registry(), ExampleResource("di1"), "di1", 0));
  json::Document array = ParseJson("[]");
  EXPECT_FALSE(Matches(*c, Registry(), *array.root(), "x", 0));
}

// A filter the grammar never writes but the store runs (compartments): kAnyOf.
TEST(CriteriaMatchTest, AnyOfAlternatives) {
  Criteria c;
  c.type = c.query.type = "Observation";
  auto in = records::PatientCompartmentFilter(Registry(), "Observation", "p1");
  ASSERT_TRUE(in) << in.error().ToString();
  c.query.filters.push_back(std::move(*in));
  EXPECT_TRUE(Matches(c, Registry(), ExampleResource("obs1"), "obs1", 0));
  EXPECT_TRUE(Matches(c, Registry(), ExampleResource("wt1"), "wt1", 0));
  EXPECT_FALSE(Matches(c, Registry(), ExampleResource("bp1"), "bp1", 0));
  EXPECT_FALSE(Matches(c, Registry(), ExampleResource("str1"), "str1", 0));
}

// ---------------------------------------------------------------------------------------------
// Parsing and refusals.

TEST(CriteriaParseTest, KeepsTypeAndFilters) {
  auto c = ParseCriteria(Registry(), "DetectedIssue?patient=Patient/1&status=preliminary");
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->type, "DetectedIssue");
  EXPECT_EQ(c->query.type, "DetectedIssue");
  ASSERT_EQ(c->query.filters.size(), 2u);
  EXPECT_EQ(c->query.filters[0].param, "patient");
  EXPECT_EQ(c->query.filters[0].any_of.at(0).target_type, "Patient");
  EXPECT_EQ(c->query.filters[0].any_of.at(0).target_id, "1");
  EXPECT_EQ(c->query.filters[1].param, "status");
  EXPECT_EQ(c->query.filters[1].any_of.at(0).code, "preliminary");

  auto bare = ParseCriteria(Registry(), "Encounter");
  ASSERT_TRUE(bare) << bare.error().ToString();
  EXPECT_EQ(bare->type, "Encounter");
  EXPECT_TRUE(bare->query.filters.empty());
}

TEST(CriteriaParseTest, AcceptsCriteriaUpToTheLimit) {
  std::string criteria = "Patient?name=";
  criteria += std::string(4096 - criteria.size(), 'a');
  EXPECT_TRUE(ParseCriteria(Registry(), criteria));
}

TEST(CriteriaParseTest, Refusals) {
  struct Refusal {
    std::string criteria;
    std::string mentions;  // the message names the culprit
  };
  const std::vector<Refusal> refusals = {
      {"Observation?subject.name=peter", "subject.name"},
      {"Observation?subject:Patient.name=peter", "subject:Patient.name"},
      {"Patient?_has:Observation:patient:code=1234", "_has"},
      {"Observation?_include=Observation:subject", "_include"},
      {"Observation?_include:iterate=Observation:subject", "_include"},
      {"Patient?_revinclude=Observation:subject", "_revinclude"},
      {"Observation?_sort=date", "_sort"},
      {"Observation?_count=10", "_count"},
      {"Observation?_summary=true", "_summary"},
      {"Observation?_elements=id", "_elements"},
      {"Observation?_total=accurate", "_total"},
      {"Observation?_contained=true", "_contained"},
      {"Observation?_format=json", "_format"},
      {"Observation?_text=fever", "_text"},
      {"Observation?_filter=code%20eq%201", "_filter"},
      {"Observation?foo=bar", "foo"},
      {"Location?near=42|-71|10|km", "near"},  // a special parameter
      {"Observation?code:above=1234", "above"},
      {"Observation?date:exact=2024", "exact"},
      {"Patient?_id:missing=true", "_id"},
      {"Observation?_lastUpdated:missing=false", "_lastUpdated"},
      {"Observation?date=yesterday", "yesterday"},
      {"Observation?code=", "code"},
      {"Observation?code=a|b|c", "a|b|c"},
      {"Observation?value-quantity=5|kg", "5|kg"},
      {"Patient?name=%FF", "name"},
      {"Patient?name=a%00b", "name"},
      {"Foo?code=1", "Foo"},
      {"observation?code=1", "observation"},
      {"/Observation?code=1", "/Observation"},
      {"http://server/fhir/Observation?code=1", "http://server/fhir/Observation"},
      {"", "''"},
      {"Patient?name=" + std::string(5000, 'a'), "5013 bytes"},
  };
  for (const Refusal& r : refusals) {
    SCOPED_TRACE(r.criteria.substr(0, 80));
    auto c = ParseCriteria(Registry(), r.criteria);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), core::Code::kInvalidArgument);
    EXPECT_NE(c.error().message().find(r.mentions), std::string::npos) << c.error().message();
  }
}

// ---------------------------------------------------------------------------------------------
// Differential: the store's search and the in-memory matcher agree.

fs::path DataDir() {
  const char* dir = std::getenv("MEDULLA_TEST_DATA");
  return fs::path(dir != nullptr ? dir : "tests/data") / "fhir";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // some examples have a BOM
  return text;
}

// Replaces every occurrence of `from` in `s`.
void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
}

constexpr const char* kLuigi = "1ae0605d-e5b8-4d6d-a96d-c93dcbd57e06";

class CriteriaDifferentialTest : public testing::RecordFixture {
 protected:
  void SetUp() override {
    RecordFixture::SetUp();
    if (HasFatalFailure()) return;
    for (const Example& e : Examples()) Put(e.type, e.id, e.json);
    LoadSynthea("Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json");
    if (HasFatalFailure()) return;
    LoadSynthea("Louis_Miller_f8bbc4a5-8a9f-45ed-a807-b715feefb2ef.json");
    if (HasFatalFailure()) return;
    LoadExamples();
    if (HasFatalFailure()) return;
    // New versions and a deletion: only current, live versions are searched.
    std::string di = Examples().front().json;
    ReplaceAll(di, R"("status":"preliminary")", R"("status":"final")");
    Put("DetectedIssue", "di1", di);
    Remove("Observation", "arb1");
  }

  void Put(const std::string& type, const std::string& id, const std::string& body) {
    std::promise<core::Result<records::WriteReply>> p;
    records_->Update(type, id, body, {},
                     [&](core::Result<records::WriteReply> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    ASSERT_TRUE(r) << type << "/" << id << ": " << r.error().ToString();
  }

  void Remove(const std::string& type, const std::string& id) {
    std::promise<core::Result<records::WriteReply>> p;
    records_->Delete(type, id,
                     [&](core::Result<records::WriteReply> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    ASSERT_TRUE(r) << r.error().ToString();
  }

  // A Synthea transaction bundle, entry by entry: urn:uuid references become Type/id as a
  // transaction would make them, except in Claims, which keep them (untyped references).
  void LoadSynthea(const std::string& file) {
    std::string text = ReadFile(DataDir() / "synthea" / file);
    json::Document bundle = ParseJson(text);
    ASSERT_NE(bundle.root(), nullptr);
    std::vector<std::pair<std::string, std::string>> rewrites;  // "urn:uuid:x" -> "Type/x"
    for (const json::Value* e : bundle.root()->Find("entry")->items()) {
      const json::Value* r = e->Find("resource");
      std::string_view full_url = e->StringOr("fullUrl");
      ASSERT_TRUE(full_url.starts_with("urn:uuid:"));
      rewrites.emplace_back(
          fmt::format("\"{}\"", full_url),
          fmt::format("\"{}/{}\"", r->StringOr("resourceType"), full_url.substr(9)));
    }
    for (const json::Value* e : bundle.root()->Find("entry")->items()) {
      const json::Value* r = e->Find("resource");
      std::string type(r->StringOr("resourceType"));
      std::string id(std::string_view(e->StringOr("fullUrl")).substr(9));
      std::string body = json::Write(*r);
      if (type != "Claim") {
        for (const auto& [from, to] : rewrites) ReplaceAll(body, from, to);
      }
      Put(type, id, body);
      if (HasFatalFailure()) return;
    }
  }

  // Specification and server-test examples that are valid R4.
  void LoadExamples() {
    const char* kFiles[] = {
        "msfhir/Condition-For-Patient-f001.json",
        "msfhir/Device-d1.json",
        "msfhir/Encounter-For-Patient-f001.json",
        "msfhir/Location-example-hq.json",
        "msfhir/Organization.json",
        "msfhir/Patient-f001.json",
        "msfhir/Practitioner.json",
        "msfhir/Weight.json",
        "msfhir/condition-example2.json",
        "msfhir/devicemetric-example.json",
        "msfhir/encounter-example.json",
        "spec-r4/observation-example-heart-rate.json",
        "spec-r4/observation-example-body-temperature.json",
        "spec-r4/observation-example-satO2.json",
    };
    int n = 0;
    for (const char* file : kFiles) {
      SCOPED_TRACE(file);
      std::string text = ReadFile(DataDir() / "examples" / file);
      json::Document doc = ParseJson(text);
      ASSERT_NE(doc.root(), nullptr);
      std::string type(doc.root()->StringOr("resourceType"));
      std::string id(doc.root()->StringOr("id"));
      if (id.empty()) {  // an update carries the id in the body
        id = fmt::format("example-{}", n);
        doc.Set(*doc.root(), "id", doc.NewString(id));
      }
      ++n;
      Put(type, id, json::Write(*doc.root()));
      if (HasFatalFailure()) return;
    }
  }

  struct Current {
    std::string type, id;
    core::MicrosSinceEpoch last_updated;
    json::Document doc;
  };

  // The current, live version of every resource, from the change feed.
  std::vector<Current> CurrentVersions() {
    auto changes = store_->Changes(0, 1000000);
    EXPECT_TRUE(changes) << changes.error().ToString();
    std::map<std::pair<std::string, std::string>, const store::VersionRecord*> latest;
    for (const store::VersionRecord& v : *changes) latest[{v.type, v.id}] = &v;
    std::vector<Current> out;
    for (const auto& [key, v] : latest) {
      if (v->deleted()) continue;
      out.push_back(Current{v->type, v->id, v->last_updated, ParseJson(v->body)});
    }
    return out;
  }

  // "Type/id" of the store's matches.
  std::set<std::string> StoreMatches(std::string_view criteria) {
    size_t q = criteria.find('?');
    std::string type(criteria.substr(0, q));
    records::QueryParams params;
    if (q != std::string_view::npos) params = records::ParseQueryString(criteria.substr(q + 1));
    params.emplace_back("_count", "1000");
    auto reply = records_->Search(type, params, /*strict=*/true);
    EXPECT_TRUE(reply) << reply.error().ToString();
    std::set<std::string> out;
    if (!reply) return out;
    EXPECT_FALSE(reply->page.next_cursor) << "more than one page";
    for (const store::VersionRecord& r : reply->page.resources) out.insert(r.type + "/" + r.id);
    return out;
  }

  std::set<std::string> MemoryMatches(std::string_view criteria,
                                      const std::vector<Current>& versions) {
    std::set<std::string> out;
    auto c = ParseCriteria(Registry(), criteria);
    EXPECT_TRUE(c) << c.error().ToString();
    if (!c) return out;
    for (const Current& v : versions) {
      if (Matches(*c, Registry(), *v.doc.root(), v.id, v.last_updated)) {
        out.insert(v.type + "/" + v.id);
      }
    }
    return out;
  }
};

// Criteria over every parameter type, comparator and modifier, mostly chosen to select some
// but not all of the resources loaded above.
std::vector<std::string> DifferentialCriteria() {
  const std::string luigi = kLuigi;
  return {
      // Patient: strings, tokens, dates, references.
      "Patient",
      "Patient?name=luigi",
      "Patient?name=mül",
      "Patient?name=ller",  // in two names, but a prefix of none
      "Patient?name=pet,mil",
      "Patient?family:exact=Müller",
      "Patient?family:exact=muller",
      "Patient?family:contains=ill",
      "Patient?given=anna,john",
      "Patient?address-city=methuen",
      "Patient?address-state=massachusetts",
      "Patient?address-country=ch",
      "Patient?address:missing=true",
      "Patient?gender=male",
      "Patient?gender:not=male",
      "Patient?gender:missing=true",
      "Patient?birthdate=2020",
      "Patient?birthdate=ge1980-06-15",
      "Patient?birthdate=lt1980",
      "Patient?birthdate=sa1974&birthdate=eb1990",
      "Patient?birthdate=ap1980-06-15",
      "Patient?birthdate=ne1975-01-01",
      "Patient?identifier=urn:mrn|12345",
      "Patient?identifier=|A-7",
      "Patient?identifier=https://github.com/synthetichealth/synthea|",
      "Patient?identifier:text=medical",
      "Patient?identifier:not=|A-7",
      "Patient?active=true",
      "Patient?deceased=true",
      "Patient?death-date:missing=false",
      "Patient?general-practitioner=Practitioner/pr1",
      "Patient?general-practitioner:missing=true",
      "Patient?email=anna@example.org",
      "Patient?phone:missing=false",
      "Patient?language=en-US",
      "Patient?_tag=https://smarthealthit.org/tags|synthea-5-2019",
      "Patient?_id=p1,p2," + luigi,
      "Patient?_lastUpdated=gt2000-01-01",
      "Patient?_lastUpdated=lt2000-01-01",
      // Observation: codes, values, dates, composites, references.
      "Observation",
      "Observation?code=http://loinc.org|8302-2",
      "Observation?code=8302-2,29463-7",
      "Observation?code=|8302-2",
      "Observation?code:text=body",
      "Observation?code:text=heart%20r",
      "Observation?code:not=http://loinc.org|8302-2",
      "Observation?code:missing=true",
      "Observation?category=vital-signs",
      "Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|",
      "Observation?category:not=laboratory",
      "Observation?status=final",
      "Observation?status:not=final",
      "Observation?date=2020-10-20",
      "Observation?date=ge2021-01-01",
      "Observation?date=lt2020-11",
      "Observation?date=le2020-11-24",
      "Observation?date=gt2020-11-24T19:19:03Z",
      "Observation?date=ne2020-10-20",
      "Observation?date=sa2020-12-31",
      "Observation?date=eb2021",
      "Observation?date=ap2021-01-26",
      "Observation?date=lt1900",
      "Observation?date:missing=true",
      "Observation?value-quantity=52.692030001960916",
      "Observation?value-quantity=52.69",
      "Observation?value-quantity=lt10|http://unitsofmeasure.org|kg",
      "Observation?value-quantity=gt5000|http://unitsofmeasure.org|g",
      "Observation?value-quantity=ge50|http://unitsofmeasure.org|cm",
      "Observation?value-quantity=0.5|http://unitsofmeasure.org|m",
      "Observation?value-quantity=ap60||cm",
      "Observation?value-quantity=ne3.3",
      "Observation?value-quantity=72||/min",
      "Observation?value-quantity=1.2|http://unitsofmeasure.org|/s",
      "Observation?value-quantity=5.4||mg",
      "Observation?value-quantity=2||{score}",
      "Observation?value-quantity=le2|http://unitsofmeasure.org|{score}",
      "Observation?value-quantity=81.6|http://unitsofmeasure.org|kg",
      "Observation?value-quantity=gt99|http://unitsofmeasure.org|[degF]",
      "Observation?value-quantity=37|http://unitsofmeasure.org|Cel",
      "Observation?value-quantity:missing=true",
      "Observation?value-concept=http://snomed.info/sct|266919005",
      "Observation?value-string=trace",
      "Observation?value-string:contains=blood",
      "Observation?subject=Patient/" + luigi,
      "Observation?subject=" + luigi,
      "Observation?subject:Patient=p1",
      "Observation?subject=Group/" + luigi,
      "Observation?patient=Patient/p1",
      "Observation?patient:missing=true",
      "Observation?subject:identifier=urn:mrn|12345",
      "Observation?encounter:missing=true",
      "Observation?performer=Practitioner/x1",
      "Observation?performer:missing=false",
      "Observation?component-code=8480-6",
      "Observation?component-value-quantity=gt100|http://unitsofmeasure.org|mm[Hg]",
      "Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100",
      "Observation?component-code-value-quantity=8462-4$lt80|http://unitsofmeasure.org|mm[Hg]",
      "Observation?component-code-value-quantity=8480-6$80",
      "Observation?code-value-quantity=8302-2$ge60",
      "Observation?code-value-quantity=http://loinc.org|29463-7$lt5000|http://unitsofmeasure.org|g",
      "Observation?combo-code-value-quantity=8480-6$ge100,8302-2$lt55",
      "Observation?code-value-concept=72166-2$266919005",
      "Observation?code-value-quantity:missing=true",
      "Observation?code-value-string:missing=false",
      "Observation?code=8302-2&date=ge2021",
      "Observation?_tag:not=https://smarthealthit.org/tags|synthea-5-2019",
      "Observation?_source:missing=true",
      "Observation?_lastUpdated=ge2000-01-01&code=8302-2",
      // The hand-written DetectedIssue, Task, Encounter and RiskAssessment, and Synthea's.
      "DetectedIssue?status=final",
      "DetectedIssue?status=preliminary",
      "DetectedIssue?patient=Patient/p1&status=final",
      "DetectedIssue?code:text=drug",
      "DetectedIssue?identified=2024-03-05",
      "DetectedIssue?identified=gt2024-03-05T09:59:59Z",
      "DetectedIssue?author=Practitioner/pr1",
      "DetectedIssue?author=https://x.example/Practitioner/pr1",
      "DetectedIssue?author=Device/pr1",
      "DetectedIssue?implicated=urn:uuid:0f6c2b5e-7c1a-4c59-9c2e-3b8d8a7e1d10",
      "DetectedIssue?implicated:missing=false",
      "DetectedIssue?_source:below=http://cds.example.org/",
      "DetectedIssue?_source:above=http://cds.example.org/engine%23run7/x",
      "DetectedIssue?_source:contains=engine",
      "DetectedIssue?_profile:below=http://example.org/fhir/",
      "DetectedIssue?_profile=http://example.org/fhir/StructureDefinition/di-profile",
      "Task?status=requested",
      "Task?owner:identifier=urn:staff|42",
      "Task?owner:missing=false",
      "Task?focus=ServiceRequest/sr1/_history/9",
      "Task?period=ge2030-01-01",
      "Task?period=2024-03-01",
      "Task?authored-on=2024-03-01",
      "Task?modified=le2024-03-02",
      "Task?code:text=fulfil",
      "Task?business-status:text=waiting",
      "Task?identifier:text=work",
      "Task?based-on=urn:uuid:9a1c0b7e-4f0e-4d0e-8d5a-2f3b1c4d5e6f",
      "Task?patient=Patient/p1",
      "Task?subject=p1",
      "Encounter?class=AMB",
      "Encounter?class=http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB",
      "Encounter?class:not=AMB",
      "Encounter?date=2020-10-20",
      "Encounter?date=ge2024-03-05T10:00:00Z",
      "Encounter?date=ap2020-10-20",
      "Encounter?length=2|http://unitsofmeasure.org|h",
      "Encounter?length=120||min",
      "Encounter?length:missing=false",
      "Encounter?service-provider=Organization/8b58cdd1-3d79-3126-8fe0-da2c54d6805c",
      "Encounter?participant=Practitioner/60c9fe63-d9e6-4e5e-8d5c-f91b7fc75419",
      "Encounter?practitioner:missing=true",
      "Encounter?reason-code:text=chest",
      "Encounter?type=http://snomed.info/sct|185349003",
      "Encounter?type:text=encounter%20for",
      "Encounter?type:text=check",
      "Encounter?subject=Patient/f001",
      "Encounter?status=finished&subject=Patient/" + luigi,
      "RiskAssessment?probability=0.8",
      "RiskAssessment?probability=gt0.5",
      "RiskAssessment?probability=ne0.8",
      "RiskAssessment?probability=ap0.02",
      "RiskAssessment?probability=8e-1",
      "RiskAssessment?probability=0.3",
      "RiskAssessment?probability=0.4",
      "RiskAssessment?probability:missing=true",
      "Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|08",
      "Immunization?date=ge2021",
      "Immunization?patient=Patient/" + luigi,
      "Claim?patient=urn:uuid:" + luigi,
      "Claim?patient=Patient/" + luigi,
      "Claim?created=ge2021",
      "Claim?use=claim",
      "ExplanationOfBenefit?patient=" + luigi,
      "ExplanationOfBenefit?coverage=%23coverage",
      "Procedure?date=2020-11-24",
      "Procedure?code=428191000124101",
      "DiagnosticReport?issued=2020-10-20",
      "DiagnosticReport?result:missing=false",
      "Organization?name=carney",
      "Organization?address-city=boston",
      "Practitioner?name=kub",
      "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|80",
      "Condition?clinical-status=active",
      "Condition?clinical-status=resolved",
      "Condition?clinical-status:not=resolved",
      "Condition?code=http://snomed.info/sct|444814009",
      "Condition?abatement-date=ge2015",
      "Condition?onset-date=lt2010&clinical-status=resolved",
      "Condition?encounter:missing=true",
      "Condition?subject=Patient/f001",
      "Condition?onset-date=ge2011",
      "Device?type:text=electro",
      "DeviceMetric?category=measurement",
      "Location?address-city=ann%20arbor",
  };
}

// _lastUpdated at the edges of one resource's own instant (millisecond precision).
std::vector<std::string> LastUpdatedCriteria(core::MicrosSinceEpoch instant) {
  std::vector<std::string> out;
  for (const char* prefix : {"", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"}) {
    // "2026-11-21T08:00:00.123Z": nothing to percent-encode.
    out.push_back(fmt::format("Patient?_lastUpdated={}{}", prefix, core::FormatInstant(instant)));
  }
  return out;
}

TEST_F(CriteriaDifferentialTest, SameMatchesAsTheStoresSearch) {
  const std::vector<Current> versions = CurrentVersions();
  ASSERT_GT(versions.size(), 180u);
  std::vector<std::string> all = DifferentialCriteria();
  for (const Current& v : versions) {
    if (v.type == "Patient" && v.id == "p2") {
      for (std::string& c : LastUpdatedCriteria(v.last_updated)) all.push_back(std::move(c));
    }
  }
  size_t selective = 0;  // criteria that match some but not all resources of their type
  for (const std::string& criteria : all) {
    SCOPED_TRACE(criteria);
    std::set<std::string> in_store = StoreMatches(criteria);
    std::set<std::string> in_memory = MemoryMatches(criteria, versions);
    EXPECT_EQ(in_memory, in_store);
    std::string type = criteria.substr(0, criteria.find('?'));
    size_t of_type = std::count_if(versions.begin(), versions.end(),
                                   [&](const Current& v) { return v.type == type; });
    if (!in_store.empty() && in_store.size() < of_type) ++selective;
  }
  // The comparison means something only if most criteria select a proper subset.
  EXPECT_GT(selective, all.size() * 2 / 3);
}

}  // namespace
}  // namespace medulla::subscriptions
