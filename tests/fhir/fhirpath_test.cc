#include "fhir/fhirpath.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "json/parse.h"
#include "json/write.h"

namespace medulla::fhir::fhirpath {
namespace {

namespace fs = std::filesystem;

fs::path TestData() {
  const char* dir = std::getenv("MEDULLA_TEST_DATA");
  return fs::path(dir != nullptr ? dir : "tests/data");
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::Document ParseJson(std::string_view text) {
  auto doc = json::Parse(text, {.max_bytes = 64 * 1024 * 1024, .max_depth = 64});
  EXPECT_TRUE(doc.has_value()) << (doc ? "" : doc.error().ToString());
  return doc ? std::move(*doc) : json::Document();
}

// Evaluates `expr` on the JSON text and returns the results written as compact JSON.
std::vector<std::string> Eval(std::string_view expr, std::string_view resource_json,
                              std::vector<std::string>* types = nullptr) {
  auto e = Expression::Parse(expr);
  EXPECT_TRUE(e.has_value()) << expr << ": " << (e ? "" : e.error().message());
  if (!e) return {};
  json::Document doc = ParseJson(resource_json);
  std::vector<Item> items;
  e->Evaluate(*doc.root(), items);
  std::vector<std::string> out;
  for (const Item& item : items) {
    out.push_back(json::Write(*item.value));
    if (types) types->emplace_back(item.type);
  }
  return out;
}

using Strings = std::vector<std::string>;

constexpr std::string_view kObservation = R"({
  "resourceType": "Observation", "id": "o1", "status": "final",
  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}],
           "text": "Heart rate"},
  "subject": {"reference": "Patient/p1"},
  "performer": [{"reference": "Practitioner/d1"}, {"reference": "http://x.org/fhir/Patient/p2"},
                {"reference": "urn:uuid:0d5c"}, {"display": "nobody"}],
  "effectiveDateTime": "2026-11-21T08:00:00Z",
  "valueQuantity": {"value": 72.0, "unit": "beats/min", "system": "http://unitsofmeasure.org",
                    "code": "/min"},
  "component": [
    {"code": {"text": "a"}, "valueQuantity": {"value": 1.50}},
    {"code": {"text": "b"}, "valueString": "two"},
    {"code": {"text": "c"}, "valueCodeableConcept": {"text": "three"}}],
  "extension": [{"url": "http://e/one", "valueString": "x"},
                {"url": "http://e/two", "valueCode": "y"}]
})";

TEST(FhirpathTest, PathsFlattenArraysAndFilterOnTheRootType) {
  EXPECT_EQ(Eval("Observation.status", kObservation), Strings{R"("final")"});
  EXPECT_EQ(Eval("Observation.code.coding.code", kObservation), Strings{R"("8867-4")"});
  EXPECT_EQ(Eval("Patient.name", kObservation), Strings{});
  EXPECT_EQ(Eval("Resource.id", kObservation), Strings{R"("o1")"});
  EXPECT_EQ(Eval("status", kObservation), Strings{R"("final")"});
}

TEST(FhirpathTest, ChoiceElementsCarryTheirType) {
  std::vector<std::string> types;
  EXPECT_EQ(Eval("Observation.value", kObservation, &types).size(), 1u);
  EXPECT_EQ(types, Strings{"Quantity"});
  types.clear();
  EXPECT_EQ(Eval("Observation.component.value", kObservation, &types).size(), 3u);
  EXPECT_EQ(types, (Strings{"Quantity", "string", "CodeableConcept"}));
  types.clear();
  EXPECT_EQ(Eval("Observation.effective", kObservation, &types),
            Strings{R"("2026-11-21T08:00:00Z")"});
  EXPECT_EQ(types, Strings{"dateTime"});
}

TEST(FhirpathTest, KnownElementsCarryTheirDefinedType) {
  std::vector<std::string> types;
  Eval("Observation.code | Observation.subject | Observation.status", kObservation, &types);
  EXPECT_EQ(types, (Strings{"CodeableConcept", "Reference", "code"}));
}

TEST(FhirpathTest, AsIsAndOfTypeSelectChoiceTypes) {
  EXPECT_EQ(Eval("(Observation.value as Quantity).value", kObservation), Strings{"72.0"});
  EXPECT_EQ(Eval("Observation.value.as(Quantity).code", kObservation), Strings{R"("/min")"});
  EXPECT_EQ(Eval("Observation.value.as(string)", kObservation), Strings{});
  EXPECT_EQ(Eval("Observation.component.value.ofType(string)", kObservation), Strings{R"("two")"});
  // A FHIR-spec spelling: DateTime for dateTime.
  EXPECT_EQ(Eval("Observation.effective.as(DateTime)", kObservation).size(), 1u);
  EXPECT_EQ(Eval("Observation.value is Quantity", kObservation), Strings{"true"});
  EXPECT_EQ(Eval("Observation.value is FHIR.Period", kObservation), Strings{"false"});
  // Several items: each one is filtered (fhirpath.js raises an error here instead).
  EXPECT_EQ(Eval("(Observation.component.value as Quantity).value", kObservation), Strings{"1.50"});
}

TEST(FhirpathTest, UnionKeepsOrderAndDropsDuplicates) {
  EXPECT_EQ(Eval("Observation.status | Observation.id | Observation.status", kObservation),
            (Strings{R"("final")", R"("o1")"}));
}

TEST(FhirpathTest, WhereWithResolveIsComparesTheReferencedType) {
  EXPECT_EQ(Eval("Observation.performer.where(resolve() is Patient).reference", kObservation),
            Strings{R"("http://x.org/fhir/Patient/p2")"});
  EXPECT_EQ(Eval("Observation.performer.where(resolve() is Practitioner)", kObservation).size(),
            1u);
  // A resolved reference has the type but no content.
  EXPECT_EQ(Eval("Observation.subject.resolve().id", kObservation), Strings{});
}

TEST(FhirpathTest, WhereWithEqualityAndLogic) {
  constexpr std::string_view patient = R"({"resourceType": "Patient",
    "telecom": [{"system": "phone", "value": "555"}, {"system": "email", "value": "a@b"},
                {"system": "phone", "use": "work", "value": "666"}],
    "deceasedBoolean": false})";
  EXPECT_EQ(Eval("Patient.telecom.where(system='phone').value", patient),
            (Strings{R"("555")", R"("666")"}));
  EXPECT_EQ(Eval("Patient.telecom.where(system='phone' and use='work').value", patient),
            Strings{R"("666")"});
  EXPECT_EQ(Eval("Patient.telecom.where(system='email' or use='work').value", patient),
            (Strings{R"("a@b")", R"("666")"}));
  EXPECT_EQ(Eval("Patient.telecom.where(system!='phone').value", patient), Strings{R"("a@b")"});
  EXPECT_EQ(Eval("Patient.deceased.exists() and Patient.deceased != false", patient),
            Strings{"false"});
  EXPECT_EQ(Eval("Patient.deceased.exists() and Patient.deceased != false",
                 R"({"resourceType": "Patient", "deceasedDateTime": "2020"})"),
            Strings{"true"});
  EXPECT_EQ(Eval("Patient.deceased.exists() and Patient.deceased != false",
                 R"({"resourceType": "Patient"})"),
            Strings{"false"});
}

TEST(FhirpathTest, ExtensionsIndexersFirstAndVariables) {
  EXPECT_EQ(Eval("Observation.extension('http://e/two').value", kObservation), Strings{R"("y")"});
  EXPECT_EQ(Eval("Observation.extension.where(url = 'http://e/one').value", kObservation),
            Strings{R"("x")"});
  EXPECT_EQ(Eval("Observation.component[1].value", kObservation), Strings{R"("two")"});
  EXPECT_EQ(Eval("Observation.component[7]", kObservation), Strings{});
  EXPECT_EQ(Eval("Observation.component.code.text.first()", kObservation), Strings{R"("a")"});
  EXPECT_EQ(Eval("Observation.component.code.text.last()", kObservation), Strings{R"("c")"});
  EXPECT_EQ(Eval("%resource.id", kObservation), Strings{R"("o1")"});
}

TEST(FhirpathTest, ContainedAndBundledResourcesAreTyped) {
  constexpr std::string_view bundle = R"({"resourceType": "Bundle", "type": "document",
    "entry": [{"resource": {"resourceType": "Composition", "id": "c"}},
              {"resource": {"resourceType": "Patient", "id": "p"}}]})";
  std::vector<std::string> types;
  EXPECT_EQ(Eval("Bundle.entry[0].resource", bundle, &types).size(), 1u);
  EXPECT_EQ(types, Strings{"Composition"});
  EXPECT_EQ(Eval("Bundle.entry.resource.ofType(Patient).id", bundle), Strings{R"("p")"});
}

TEST(FhirpathTest, EvaluatesRelativeToAFocus) {
  auto e = Expression::Parse("value.as(Quantity) | value.as(Range)");
  ASSERT_TRUE(e.has_value());
  json::Document doc = ParseJson(kObservation);
  auto components = Expression::Parse("Observation.component");
  std::vector<Item> focus, out;
  components->Evaluate(*doc.root(), focus);
  ASSERT_EQ(focus.size(), 3u);
  e->Evaluate(focus[0], *doc.root(), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, "Quantity");
  out.clear();
  e->Evaluate(focus[1], *doc.root(), out);
  EXPECT_TRUE(out.empty());
}

TEST(FhirpathTest, ParseErrorsNameThePosition) {
  struct Case {
    std::string_view text;
    std::string_view message;
  };
  for (const Case& c : {
           Case{"Patient.name.frobnicate()", "unknown function 'frobnicate' at position 13"},
           Case{"Patient.name.where(", "at position 19"},
           Case{"Patient.name.where()", "where() takes a criterion"},
           Case{"'abc", "unterminated string literal at position 0"},
           Case{"Patient.name + 1", "unsupported operator at position 13"},
           Case{"Patient.name[x]", "expected an integer index at position 13"},
           Case{"Patient..name", "expected an identifier at position 8"},
           Case{"%foo", "unknown variable '%foo' at position 0"},
           Case{"Patient.name)", "unexpected text at position 12"},
           Case{"", "unexpected end of expression at position 0"},
           Case{"Patient.extension(url)", "extension() takes a string literal"},
       }) {
    auto e = Expression::Parse(c.text);
    ASSERT_FALSE(e.has_value()) << c.text;
    EXPECT_NE(e.error().message().find(c.message), std::string::npos)
        << c.text << " -> " << e.error().message();
  }
}

TEST(FhirpathTest, LimitsLengthAndDepth) {
  std::string deep(100, '(');
  deep += "id";
  deep += std::string(100, ')');
  auto e = Expression::Parse(deep);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("nested deeper"), std::string::npos);
  EXPECT_FALSE(Expression::Parse(std::string(20000, 'a')).has_value());
  EXPECT_TRUE(Expression::Parse(std::string(200, 'a')).has_value());
}

TEST(FhirpathTest, GarbageNeverCrashes) {
  // Every prefix of a long expression, and a few byte soups: errors, never a crash.
  std::string_view text =
      "(Observation.component.value as Quantity) | Observation.subject.where(resolve() is "
      "Patient) | Observation.extension('u').value.ofType(string)[0] != 'x'";
  for (size_t n = 0; n <= text.size(); ++n) (void)Expression::Parse(text.substr(0, n));
  for (std::string_view soup : {"\x01\x02", "((((", "'\\", "a.b(c.d(", "`x", "1.2.3", "$that"})
    (void)Expression::Parse(soup);
}

// The R4 search parameter types that are indexed (special ones have no usable expression).
bool Indexed(std::string_view type) {
  for (std::string_view t :
       {"string", "token", "reference", "date", "number", "quantity", "uri", "composite"})
    if (t == type) return true;
  return false;
}

TEST(FhirpathTest, EverySearchParameterExpressionParses) {
  std::string text = ReadFile(TestData() / "../../data/fhir/definitions/search-parameters.json");
  json::Document doc = ParseJson(text);
  ASSERT_NE(doc.root(), nullptr);
  size_t definitions = 0, parsed = 0, components = 0;
  for (const json::Value* entry : doc.root()->Find("entry")->items()) {
    const json::Value& r = *entry->Find("resource");
    ++definitions;
    if (!Indexed(r.StringOr("type")) || r.StringOr("expression").empty()) continue;
    auto e = Expression::Parse(r.StringOr("expression"));
    EXPECT_TRUE(e.has_value()) << r.StringOr("id") << ": " << e.error().message();
    parsed += e.has_value();
    if (const json::Value* comps = r.Find("component")) {
      for (const json::Value* c : comps->items()) {
        auto ce = Expression::Parse(c->StringOr("expression"));
        EXPECT_TRUE(ce.has_value()) << r.StringOr("id") << ": " << ce.error().message();
        components += ce.has_value();
      }
    }
  }
  EXPECT_EQ(definitions, 1378u);
  // 1,378 minus the special one (Location-near) and the three without an expression
  // (_text, _content, _query).
  EXPECT_EQ(parsed, 1374u);
  EXPECT_EQ(components, 96u);
}

// Structural JSON equality, numbers by value: fhirpath.js turns decimals into JavaScript
// numbers (72.0 becomes 72), while we keep their text.
bool SameJson(const json::Value& a, const json::Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case json::Kind::kNumber:
      return std::strtod(std::string(a.text()).c_str(), nullptr) ==
             std::strtod(std::string(b.text()).c_str(), nullptr);
    case json::Kind::kString:
      return a.text() == b.text();
    case json::Kind::kBool:
      return a.bool_value() == b.bool_value();
    case json::Kind::kNull:
      return true;
    case json::Kind::kArray:
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!SameJson(*a.items()[i], *b.items()[i])) return false;
      return true;
    case json::Kind::kObject:
      if (a.size() != b.size()) return false;
      for (const json::Member& m : a.members()) {
        const json::Value* o = b.Find(m.key);
        if (!o || !SameJson(*m.value, *o)) return false;
      }
      return true;
  }
  return false;
}

// fhirpath.js names types "FHIR.Quantity" and "System.Boolean" (computed booleans).
std::string GoldenType(std::string_view t) {
  if (t == "System.Boolean") return "boolean";
  if (t == "System.String") return "string";
  if (t.starts_with("FHIR.")) t.remove_prefix(5);
  return std::string(t);
}

// Rewrites urn:uuid: references to Type/id, as tools/fhirpath_golden.mjs (and a server
// processing the transaction) does.
void RewriteReferences(json::Document& doc, json::Value& v,
                       const std::map<std::string, std::string, std::less<>>& map) {
  if (v.is_array()) {
    for (json::Value* x : v.items()) RewriteReferences(doc, *x, map);
  } else if (v.is_object()) {
    for (const json::Member& m : v.members()) {
      if (m.key == "reference" && m.value->is_string()) {
        if (auto it = map.find(m.value->text()); it != map.end()) doc.SetText(*m.value, it->second);
      } else {
        RewriteReferences(doc, *m.value, map);
      }
    }
  }
}

// The golden file holds, for a seeded sample of Synthea resources, every search expression
// that applies to their type and fhirpath.js's results. Compared in order (same values, same
// order) and with the same FHIR type names.
TEST(FhirpathTest, MatchesTheReferenceImplementationOnSynthea) {
  std::string golden_text = ReadFile(TestData() / "fhir/fhirpath-golden.json");
  json::Document golden = ParseJson(golden_text);
  ASSERT_NE(golden.root(), nullptr);
  std::map<std::string, Expression, std::less<>> expressions;
  for (const json::Member& m : golden.root()->Find("expressions")->members()) {
    auto e = Expression::Parse(m.value->text());
    ASSERT_TRUE(e.has_value()) << m.key;
    expressions.emplace(std::string(m.key), std::move(*e));
  }
  std::map<std::string, json::Document, std::less<>> bundles;
  size_t compared = 0, non_empty = 0, skipped = 0, mismatches = 0;
  for (const json::Value* c : golden.root()->Find("cases")->items()) {
    std::string file(c->StringOr("file"));
    auto it = bundles.find(file);
    if (it == bundles.end()) {
      json::Document doc = ParseJson(ReadFile(TestData() / "fhir/synthea" / file));
      std::map<std::string, std::string, std::less<>> map;
      for (const json::Value* e : doc.root()->Find("entry")->items()) {
        const json::Value* r = e->Find("resource");
        map[std::string(e->StringOr("fullUrl"))] =
            std::string(r->StringOr("resourceType")) + "/" + std::string(r->StringOr("id"));
      }
      RewriteReferences(doc, *doc.root(), map);
      it = bundles.emplace(file, std::move(doc)).first;
    }
    size_t entry = std::strtoul(std::string(c->Find("entry")->text()).c_str(), nullptr, 10);
    const json::Value& resource =
        *it->second.root()->Find("entry")->items()[entry]->Find("resource");
    ASSERT_EQ(resource.StringOr("resourceType"), c->StringOr("resourceType"));
    for (const json::Member& r : c->Find("results")->members()) {
      if (r.value->Find("error")) {
        ++skipped;
        continue;
      }
      std::vector<Item> items;
      expressions.at(std::string(r.key)).Evaluate(resource, items);
      const json::Value& values = *r.value->Find("values");
      const json::Value& types = *r.value->Find("types");
      ++compared;
      non_empty += values.size() > 0;
      bool same = items.size() == values.size();
      for (size_t i = 0; same && i < items.size(); ++i)
        same = SameJson(*items[i].value, *values.items()[i]) &&
               items[i].type == GoldenType(types.items()[i]->text());
      if (!same) {
        ++mismatches;
        std::string got;
        for (const Item& item : items)
          got += json::Write(*item.value) + ":" + std::string(item.type) + " ";
        ADD_FAILURE() << c->StringOr("resourceType") << " " << file << "#" << entry << " " << r.key
                      << "\n  expected " << json::Write(values) << " " << json::Write(types)
                      << "\n  got      " << got;
      }
    }
  }
  EXPECT_GT(compared, 1000u);
  EXPECT_GT(non_empty, 500u);
  EXPECT_EQ(mismatches, 0u);
  RecordProperty("compared", std::to_string(compared));
  RecordProperty("skipped", std::to_string(skipped));
}

}  // namespace
}  // namespace medulla::fhir::fhirpath
