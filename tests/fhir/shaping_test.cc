#include "fhir/shaping.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/validator.h"
#include "json/parse.h"
#include "json/write.h"

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
  return ss.str();
}

json::Document Parse(std::string_view text) {
  auto doc = json::Parse(text, {.max_bytes = 64 * 1024 * 1024});
  EXPECT_TRUE(doc) << doc.error().message();
  return doc ? std::move(*doc) : json::Document();
}

// The SUBSETTED coding as written.
constexpr std::string_view kTag =
    R"({"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue",)"
    R"("code":"SUBSETTED","display":"subsetted"})";

std::string WithTag(std::string_view text) {
  std::string out(text);
  for (size_t at; (at = out.find("$TAG")) != std::string::npos;) out.replace(at, 4, kTag);
  return out;
}

std::string SummaryOf(std::string_view resource, SummaryMode mode) {
  json::Document in = Parse(resource);
  json::Document out;
  return json::Write(Summarize(Defs(), *in.root(), mode, out));
}

std::string ElementsOf(std::string_view resource, std::string_view elements) {
  json::Document in = Parse(resource);
  json::Document out;
  return json::Write(SelectElements(Defs(), *in.root(), ElementSelection(elements), out));
}

std::vector<std::string> Keys(const json::Value& v) {
  std::vector<std::string> keys;
  for (const json::Member& m : v.members()) keys.emplace_back(m.key);
  return keys;
}

size_t CountSubsetted(const json::Value& resource) {
  const json::Value* meta = resource.Find("meta");
  const json::Value* tags = meta != nullptr ? meta->Find("tag") : nullptr;
  size_t n = 0;
  if (tags == nullptr) return 0;
  for (const json::Value* t : tags->items())
    n += t->StringOr("system") == kSubsettedSystem && t->StringOr("code") == kSubsettedCode;
  return n;
}

// Every resource of the Synthea bundles (9,354), with the documents that hold them.
struct Synthea {
  std::vector<json::Document> docs;
  std::vector<const json::Value*> resources;
};

const Synthea& SyntheaResources() {
  static const Synthea* kSynthea = [] {
    auto* s = new Synthea;
    for (const auto& entry : fs::directory_iterator(DataDir() / "synthea")) {
      if (entry.path().extension() != ".json") continue;
      const json::Value& bundle = *s->docs.emplace_back(Parse(ReadFile(entry.path()))).root();
      for (const json::Value* e : bundle.Find("entry")->items())
        s->resources.push_back(e->Find("resource"));
    }
    return s;
  }();
  return *kSynthea;
}

const json::Value* FirstOfType(std::string_view type,
                               std::string_view with_element = std::string_view()) {
  for (const json::Value* r : SyntheaResources().resources) {
    if (r->StringOr("resourceType") != type) continue;
    if (with_element.empty() || r->Find(with_element) != nullptr) return r;
  }
  return nullptr;
}

std::string Describe(const std::vector<ValidationIssue>& issues) {
  std::string out;
  for (const ValidationIssue& i : issues) out += "  " + i.expression + ": " + i.message + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// _summary

TEST(ShapingTest, ParsesSummaryModes) {
  EXPECT_EQ(ParseSummaryMode("true"), SummaryMode::kTrue);
  EXPECT_EQ(ParseSummaryMode("false"), SummaryMode::kFalse);
  EXPECT_EQ(ParseSummaryMode("text"), SummaryMode::kText);
  EXPECT_EQ(ParseSummaryMode("data"), SummaryMode::kData);
  for (std::string_view v : {"count", "TRUE", "", "yes", "true "})
    EXPECT_FALSE(ParseSummaryMode(v).has_value()) << v;
}

// The R4 flags (patient.html: Σ on identifier, active, name, telecom, gender, birthDate,
// deceased[x], address, managingOrganization, link; not on extension, text, maritalStatus,
// multipleBirth[x], photo, contact, communication, generalPractitioner).
TEST(ShapingTest, SyntheaPatientSummary) {
  const json::Value* patient = FirstOfType("Patient");
  ASSERT_NE(patient, nullptr);
  for (const char* key : {"extension", "text", "maritalStatus", "communication"})
    ASSERT_NE(patient->Find(key), nullptr) << key;
  json::Document out;
  const json::Value& s = Summarize(Defs(), *patient, SummaryMode::kTrue, out);

  std::vector<std::string> expected;
  for (const json::Member& m : patient->members()) {
    static const std::set<std::string_view> kSummary = {"resourceType",
                                                        "id",
                                                        "meta",
                                                        "identifier",
                                                        "active",
                                                        "name",
                                                        "telecom",
                                                        "gender",
                                                        "birthDate",
                                                        "deceasedDateTime",
                                                        "deceasedBoolean",
                                                        "address",
                                                        "link",
                                                        "implicitRules",
                                                        "managingOrganization"};
    if (kSummary.contains(m.key)) expected.emplace_back(m.key);
  }
  EXPECT_EQ(Keys(s), expected);
  EXPECT_EQ(CountSubsetted(s), 1u);
  // Data types keep their summary elements, which are all but id and extension: the address
  // loses its geolocation extension.
  const json::Value& address = *s.Find("address")->items()[0];
  EXPECT_EQ(address.Find("extension"), nullptr);
  EXPECT_EQ(address.StringOr("city"), patient->Find("address")->items()[0]->StringOr("city"));
  EXPECT_NE(patient->Find("address")->items()[0]->Find("extension"), nullptr);
  // Unchanged subtrees are shared, not copied.
  EXPECT_EQ(s.Find("name"), patient->Find("name"));
  EXPECT_TRUE(Validate(Defs(), s).empty()) << Describe(Validate(Defs(), s));
}

// observation.html (R4): category, interpretation, note, method, referenceRange are not Σ.
TEST(ShapingTest, SyntheaObservationSummary) {
  const json::Value* obs = FirstOfType("Observation", "component");
  ASSERT_NE(obs, nullptr);
  json::Document out;
  const json::Value& s = Summarize(Defs(), *obs, SummaryMode::kTrue, out);
  EXPECT_EQ(s.Find("category"), nullptr);
  for (const char* key :
       {"status", "code", "subject", "encounter", "effectiveDateTime", "issued", "component"}) {
    EXPECT_EQ(s.Find(key), obs->Find(key)) << key;
  }
  EXPECT_TRUE(Validate(Defs(), s).empty()) << Describe(Validate(Defs(), s));
}

TEST(ShapingTest, SummaryRecursesWithTheFlagsOfEachType) {
  EXPECT_EQ(SummaryOf(R"({"resourceType":"Patient","id":"p1",
      "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
      "extension":[{"url":"http://e","valueString":"x"}],
      "language":"en","_language":{"extension":[{"url":"http://l","valueString":"y"}]},
      "birthDate":"1970","_birthDate":{"extension":[{"url":"http://b","valueString":"z"}]},
      "gender":"male",
      "identifier":[{"extension":[{"url":"http://i","valueString":"v"}]},{"system":"s","value":"v"}],
      "address":[{"extension":[{"url":"http://geo","valueString":"g"}],"city":"Boston"}],
      "contact":[{"name":{"family":"F"}}],
      "link":[{"extension":[{"url":"http://x","valueString":"y"}],
               "modifierExtension":[{"url":"http://m","valueBoolean":true}],
               "other":{"reference":"Patient/2"},"type":"seealso"}]})",
                      SummaryMode::kTrue),
            WithTag(R"({"resourceType":"Patient","id":"p1","meta":{"tag":[$TAG]},)"
                    R"("birthDate":"1970","_birthDate":{"extension":[{"url":"http://b",)"
                    R"("valueString":"z"}]},"gender":"male",)"
                    R"("identifier":[{"system":"s","value":"v"}],"address":[{"city":"Boston"}],)"
                    R"("link":[{"modifierExtension":[{"url":"http://m","valueBoolean":true}],)"
                    R"("other":{"reference":"Patient/2"},"type":"seealso"}]})"));
}

TEST(ShapingTest, SummaryDropsAttachmentData) {
  // Attachment.data is the one data-type element outside the summary besides id and extension
  // (ElementDefinition.isSummary; SampledData.data and Signature.data too).
  EXPECT_EQ(SummaryOf(R"({"resourceType":"DocumentReference","status":"current",
      "content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8=","url":"http://x"}}]})",
                      SummaryMode::kTrue),
            WithTag(R"({"resourceType":"DocumentReference","meta":{"tag":[$TAG]},)"
                    R"("status":"current","content":[{"attachment":{"contentType":"text/plain",)"
                    R"("url":"http://x"}}]})"));
}

TEST(ShapingTest, SummaryOfNestedResources) {
  // Bundle.entry.resource is a summary element; the resource in it is summarised by its own
  // type's flags, without a tag of its own.
  EXPECT_EQ(SummaryOf(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"a",
       "extension":[{"url":"http://e","valueString":"x"}],"gender":"male"}},
      {"fullUrl":"urn:uuid:2","resource":{"resourceType":"Basic","id":"b",
       "code":{"text":"c"}}}]})",
                      SummaryMode::kTrue),
            WithTag(R"({"resourceType":"Bundle","meta":{"tag":[$TAG]},"type":"collection",)"
                    R"("entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient",)"
                    R"("id":"a","gender":"male"}},{"fullUrl":"urn:uuid:2","resource":)"
                    R"({"resourceType":"Basic","id":"b","code":{"text":"c"}}}]})"));
}

TEST(ShapingTest, SummaryText) {
  // text, id, meta and the mandatory top-level elements (Observation: status and code).
  EXPECT_EQ(SummaryOf(R"({"resourceType":"Observation","id":"o",
      "meta":{"versionId":"2","tag":[{"system":"http://t","code":"x"}]},
      "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
      "status":"final","_status":{"extension":[{"url":"http://s","valueString":"y"}]},
      "category":[{"text":"vital-signs"}],"code":{"text":"c"},"valueQuantity":{"value":1}})",
                      SummaryMode::kText),
            WithTag(R"({"resourceType":"Observation","id":"o","meta":{"versionId":"2",)"
                    R"("tag":[{"system":"http://t","code":"x"},$TAG]},"text":{"status":)"
                    R"("generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},)"
                    R"("status":"final","_status":{"extension":[{"url":"http://s",)"
                    R"("valueString":"y"}]},"code":{"text":"c"}})"));
}

TEST(ShapingTest, SummaryData) {
  EXPECT_EQ(SummaryOf(R"({"resourceType":"Patient","id":"p",
      "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
      "extension":[{"url":"http://e","valueString":"x"}],"maritalStatus":{"text":"M"}})",
                      SummaryMode::kData),
            WithTag(R"({"resourceType":"Patient","id":"p","meta":{"tag":[$TAG]},)"
                    R"("extension":[{"url":"http://e","valueString":"x"}],)"
                    R"("maritalStatus":{"text":"M"}})"));
}

// Four mandatory elements of R4 are not summary elements: Provenance.agent, AuditEvent.agent and
// .source, Appointment.participant. The summary follows the flags; SUBSETTED warns the client.
TEST(ShapingTest, SummaryMayLackMandatoryElements) {
  json::Document in = Parse(R"({"resourceType":"Provenance","target":[{"reference":"Patient/1"}],
      "recorded":"2020-01-01T00:00:00Z","agent":[{"who":{"reference":"Practitioner/1"}}]})");
  json::Document out;
  const json::Value& s = Summarize(Defs(), *in.root(), SummaryMode::kTrue, out);
  EXPECT_EQ(Keys(s), (std::vector<std::string>{"resourceType", "meta", "target", "recorded"}));
  auto issues = Validate(Defs(), s);
  ASSERT_EQ(issues.size(), 1u) << Describe(issues);
  EXPECT_EQ(issues[0].expression, "Provenance.agent");
}

TEST(ShapingTest, SummaryFalseIsTheResourceItself) {
  json::Document in = Parse(R"({"resourceType":"Patient","id":"p","text":{"status":"empty",
      "div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}})");
  json::Document out;
  EXPECT_EQ(&Summarize(Defs(), *in.root(), SummaryMode::kFalse, out), in.root());
}

TEST(ShapingTest, TagIsAddedOnce) {
  const std::string once =
      SummaryOf(R"({"resourceType":"Patient","id":"p","gender":"male"})", SummaryMode::kTrue);
  EXPECT_EQ(once, WithTag(R"({"resourceType":"Patient","id":"p","meta":{"tag":[$TAG]},)"
                          R"("gender":"male"})"));
  EXPECT_EQ(SummaryOf(once, SummaryMode::kTrue), once);
  EXPECT_EQ(SummaryOf(once, SummaryMode::kData), once);
  // Without an id, meta goes after resourceType; a meta without tags gets a tag array.
  EXPECT_EQ(SummaryOf(R"({"resourceType":"Patient","gender":"male"})", SummaryMode::kTrue),
            WithTag(R"({"resourceType":"Patient","meta":{"tag":[$TAG]},"gender":"male"})"));
  EXPECT_EQ(SummaryOf(R"({"gender":"male","meta":{"versionId":"1"},"resourceType":"Patient"})",
                      SummaryMode::kTrue),
            WithTag(R"({"gender":"male","meta":{"versionId":"1","tag":[$TAG]},)"
                    R"("resourceType":"Patient"})"));
}

TEST(ShapingTest, EdgeCases) {
  json::Document out;
  for (std::string_view text : {"{}", "[]", R"({"resourceType":"NoSuchType","a":1})",
                                R"({"resourceType":"Resource","id":"x"})",
                                R"({"resourceType":7,"id":"x"})", R"({"id":"x"})"}) {
    json::Document in = Parse(text);
    for (SummaryMode mode : {SummaryMode::kTrue, SummaryMode::kText, SummaryMode::kData})
      EXPECT_EQ(&Summarize(Defs(), *in.root(), mode, out), in.root()) << text;
    EXPECT_EQ(&SelectElements(Defs(), *in.root(), ElementSelection("id"), out), in.root()) << text;
  }
  // Unknown elements are not part of any shape; a resource with nothing else keeps its type.
  EXPECT_EQ(SummaryOf(R"({"resourceType":"Patient","foo":1,"_language":{"id":"l"},)"
                      R"("_name":{"id":"n"}})",
                      SummaryMode::kTrue),
            WithTag(R"({"resourceType":"Patient","meta":{"tag":[$TAG]}})"));
}

// Every Synthea resource in every shape: still valid R4, tagged once, and left unmodified.
TEST(ShapingTest, SyntheaShapesStayValid) {
  const Synthea& synthea = SyntheaResources();
  ASSERT_EQ(synthea.resources.size(), 9354u);
  std::vector<std::string> before;
  for (const json::Value* r : synthea.resources) before.push_back(json::Write(*r));
  ElementSelection elements("id,subject,valueQuantity,name");
  for (const json::Value* r : synthea.resources) {
    json::Document out;
    std::vector<const json::Value*> shaped = {&Summarize(Defs(), *r, SummaryMode::kTrue, out),
                                              &Summarize(Defs(), *r, SummaryMode::kText, out),
                                              &Summarize(Defs(), *r, SummaryMode::kData, out),
                                              &SelectElements(Defs(), *r, elements, out)};
    for (size_t i = 0; i < shaped.size(); ++i) {
      EXPECT_EQ(CountSubsetted(*shaped[i]), 1u);
      // (The Synthea data has no Provenance, AuditEvent or Appointment: see
      // SummaryMayLackMandatoryElements.)
      auto issues = Validate(Defs(), *shaped[i]);
      EXPECT_TRUE(issues.empty()) << i << " " << r->StringOr("resourceType") << "/"
                                  << r->StringOr("id") << "\n"
                                  << Describe(issues);
    }
    EXPECT_EQ(shaped[2]->Find("text"), nullptr);
  }
  for (size_t i = 0; i < synthea.resources.size(); ++i)
    ASSERT_EQ(json::Write(*synthea.resources[i]), before[i]);
}

// The valid examples (see ValidatorTest.ValidExamplesAreValid), Bundles of them included.
TEST(ShapingTest, ExampleShapesStayValid) {
  const std::set<std::string> kInvalid = {"Bundle-InvalidBundleType.json",
                                          "Bundle-TransactionWithInvalidBundleEntry.json",
                                          "ObservationWithNoCode.json",
                                          "PatientMissingResourceType.json",
                                          "PatientWithUnknownElements.json",
                                          "Observation-For-Patient-f001.json",
                                          "ObservationWithTemperature.json",
                                          "ObservationWithBloodPressure.json",
                                          "Patient.json"};
  ElementSelection elements("code,value");
  size_t checked = 0;
  for (const char* dir : {"examples/msfhir", "examples/spec-r4"}) {
    for (const auto& entry : fs::directory_iterator(DataDir() / dir)) {
      std::string name = entry.path().filename().string();
      if (kInvalid.contains(name)) continue;
      std::string text = ReadFile(entry.path());
      if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
      json::Document in = Parse(text);
      json::Document out;
      for (const json::Value* shaped : {&Summarize(Defs(), *in.root(), SummaryMode::kTrue, out),
                                        &Summarize(Defs(), *in.root(), SummaryMode::kText, out),
                                        &Summarize(Defs(), *in.root(), SummaryMode::kData, out),
                                        &SelectElements(Defs(), *in.root(), elements, out)}) {
        ++checked;
        EXPECT_EQ(CountSubsetted(*shaped), 1u) << name;
        auto issues = Validate(Defs(), *shaped);
        EXPECT_TRUE(issues.empty()) << name << "\n" << Describe(issues);
      }
    }
  }
  EXPECT_EQ(checked, 18u * 4);
}

TEST(ShapingTest, SpecHeartRateSummary) {
  json::Document in =
      Parse(ReadFile(DataDir() / "examples/spec-r4/observation-example-heart-rate.json"));
  json::Document out;
  const json::Value& s = Summarize(Defs(), *in.root(), SummaryMode::kTrue, out);
  // text and category go; the vital-signs profile in meta stays, beside the tag.
  EXPECT_EQ(Keys(s), (std::vector<std::string>{"resourceType", "id", "meta", "status", "code",
                                               "subject", "effectiveDateTime", "valueQuantity"}));
  EXPECT_EQ(s.Find("meta")->Find("profile"), in.root()->Find("meta")->Find("profile"));
  EXPECT_EQ(CountSubsetted(s), 1u);
}

// ---------------------------------------------------------------------------------------------
// _elements

TEST(ShapingTest, ParsesElementLists) {
  EXPECT_EQ(ElementSelection("name, birthDate,,value ,").names(),
            (std::vector<std::string>{"name", "birthDate", "value"}));
  EXPECT_TRUE(ElementSelection("").empty());
  EXPECT_TRUE(ElementSelection(" , ,").empty());
}

TEST(ShapingTest, ReportsUnknownElements) {
  ElementSelection s("name,birthDate,value,valueQuantity,foo,id,meta,resourceType,name.family");
  EXPECT_EQ(s.UnknownNames(*Defs().FindResource("Patient")),
            (std::vector<std::string>{"value", "valueQuantity", "foo", "name.family"}));
  EXPECT_EQ(s.UnknownNames(*Defs().FindResource("Observation")),
            (std::vector<std::string>{"name", "birthDate", "foo", "name.family"}));
}

TEST(ShapingTest, SelectsTopLevelElements) {
  constexpr std::string_view kPatient =
      R"({"resourceType":"Patient","id":"p","meta":{"versionId":"1"},"gender":"male",)"
      R"("birthDate":"1970","_birthDate":{"extension":[{"url":"http://b","valueString":"z"}]},)"
      R"("name":[{"family":"F"}],"extension":[{"url":"http://e","valueString":"x"}]})";
  EXPECT_EQ(ElementsOf(kPatient, "name,birthDate,foo"),
            WithTag(R"({"resourceType":"Patient","id":"p","meta":{"versionId":"1",)"
                    R"("tag":[$TAG]},"birthDate":"1970","_birthDate":{"extension":[{"url":)"
                    R"("http://b","valueString":"z"}]},"name":[{"family":"F"}]})"));
  EXPECT_EQ(ElementsOf(kPatient, "id"),
            WithTag(R"({"resourceType":"Patient","id":"p","meta":{"versionId":"1",)"
                    R"("tag":[$TAG]}})"));
  // An empty selection selects nothing away.
  EXPECT_EQ(ElementsOf(kPatient, ""), json::Write(*Parse(kPatient).root()));
}

TEST(ShapingTest, SelectsChoicesAndMandatoryElements) {
  constexpr std::string_view kObservation =
      R"({"resourceType":"Observation","status":"final","code":{"text":"c"},)"
      R"("valueQuantity":{"value":1},"issued":"2020-01-01T00:00:00Z"})";
  // status and code are mandatory (search.html#elements: servers SHOULD return them).
  EXPECT_EQ(ElementsOf(kObservation, "value"),
            WithTag(R"({"resourceType":"Observation","meta":{"tag":[$TAG]},"status":"final",)"
                    R"("code":{"text":"c"},"valueQuantity":{"value":1}})"));
  EXPECT_EQ(ElementsOf(kObservation, "valueQuantity"), ElementsOf(kObservation, "value"));
  EXPECT_EQ(ElementsOf(kObservation, "valueString"),
            WithTag(R"({"resourceType":"Observation","meta":{"tag":[$TAG]},"status":"final",)"
                    R"("code":{"text":"c"}})"));
}

TEST(ShapingTest, SelectionServesSeveralTypes) {
  ElementSelection s("subject,gender");
  json::Document patient = Parse(R"({"resourceType":"Patient","gender":"male","active":true})");
  json::Document obs = Parse(R"({"resourceType":"Observation","status":"final",)"
                             R"("code":{"text":"c"},"subject":{"reference":"Patient/1"}})");
  json::Document out;
  for (int round = 0; round < 2; ++round) {  // the second round hits the cache
    EXPECT_EQ(json::Write(SelectElements(Defs(), *patient.root(), s, out)),
              WithTag(R"({"resourceType":"Patient","meta":{"tag":[$TAG]},"gender":"male"})"));
    EXPECT_EQ(json::Write(SelectElements(Defs(), *obs.root(), s, out)),
              WithTag(R"({"resourceType":"Observation","meta":{"tag":[$TAG]},"status":"final",)"
                      R"("code":{"text":"c"},"subject":{"reference":"Patient/1"}})"));
  }
}

// Not a benchmark: a guard against accidental quadratic work. Release builds shape the 9,354
// Synthea resources in a few milliseconds per mode.
TEST(ShapingTest, ShapesSyntheaQuickly) {
  const Synthea& synthea = SyntheaResources();
  auto start = std::chrono::steady_clock::now();
  json::Document out;
  size_t members = 0;
  for (const json::Value* r : synthea.resources)
    members += Summarize(Defs(), *r, SummaryMode::kTrue, out).size();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GT(members, synthea.resources.size());
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

}  // namespace
}  // namespace medulla::fhir
