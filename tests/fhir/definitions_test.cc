#include "fhir/definitions.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace medulla::fhir {
namespace {

TEST(DefinitionsTest, EmbeddedLoads) {
  auto start = std::chrono::steady_clock::now();
  const Definitions& defs = Definitions::Embedded();
  auto elapsed = std::chrono::steady_clock::now() - start;
  // The bound is loose (debug and sanitizer builds run this too); release loads in ~20 ms.
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_EQ(&defs, &Definitions::Embedded());
}

TEST(DefinitionsTest, ResourceTypesAreTheConcreteR4Ones) {
  const Definitions& defs = Definitions::Embedded();
  const auto& types = defs.ResourceTypes();
  EXPECT_EQ(types.size(), 146u);
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
  for (auto t : {"Patient", "Observation", "Bundle", "Parameters", "Binary", "Questionnaire"})
    EXPECT_TRUE(defs.IsResourceType(t)) << t;
  for (auto t : {"Resource", "DomainResource", "MetadataResource", "SubscriptionStatus",
                 "HumanName", "patient", "Patient.contact", ""})
    EXPECT_FALSE(defs.IsResourceType(t)) << t;
}

TEST(DefinitionsTest, ExpandsChoiceElements) {
  const TypeDef* obs = Definitions::Embedded().FindResource("Observation");
  ASSERT_NE(obs, nullptr);
  const ElementDef* q = obs->Find("valueQuantity");
  const ElementDef* dt = obs->Find("valueDateTime");
  const ElementDef* s = obs->Find("valueString");
  ASSERT_NE(q, nullptr);
  ASSERT_NE(dt, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(q->slot, dt->slot);
  EXPECT_EQ(obs->slots[q->slot].name, "value[x]");
  EXPECT_EQ(dt->primitive, Primitive::kDateTime);
  EXPECT_EQ(q->primitive, Primitive::kNone);
  EXPECT_EQ(Definitions::Embedded().type(q->type).name, "Quantity");
  EXPECT_EQ(obs->Find("value"), nullptr);
  EXPECT_EQ(obs->Find("value[x]"), nullptr);
  EXPECT_EQ(obs->Find("valueFoo"), nullptr);
}

TEST(DefinitionsTest, CardinalityAndArrays) {
  const Definitions& defs = Definitions::Embedded();
  const TypeDef* obs = defs.FindResource("Observation");
  const ElementDef* status = obs->Find("status");
  ASSERT_NE(status, nullptr);
  EXPECT_FALSE(status->array);
  EXPECT_EQ(obs->slots[status->slot].min, 1u);
  EXPECT_EQ(obs->slots[status->slot].max, 1u);
  const ElementDef* category = obs->Find("category");
  EXPECT_TRUE(category->array);
  EXPECT_EQ(obs->slots[category->slot].max, kUnbounded);
  const TypeDef* name = defs.FindType("HumanName");
  ASSERT_NE(name, nullptr);
  EXPECT_TRUE(name->Find("given")->array);
  EXPECT_EQ(name->Find("given")->primitive, Primitive::kString);
}

TEST(DefinitionsTest, ResolvesContentReferencesAndBackbones) {
  const Definitions& defs = Definitions::Embedded();
  const TypeDef* q = defs.FindResource("Questionnaire");
  const ElementDef* item = q->Find("item");
  ASSERT_NE(item, nullptr);
  const TypeDef& item_type = defs.type(item->type);
  EXPECT_EQ(item_type.name, "Questionnaire.item");
  EXPECT_EQ(item_type.kind, TypeDef::Kind::kBackboneElement);
  const ElementDef* nested = item_type.Find("item");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->type, item->type);
  const ElementDef* contact = defs.FindResource("Patient")->Find("contact");
  EXPECT_EQ(defs.type(contact->type).name, "Patient.contact");
}

TEST(DefinitionsTest, SpecialElements) {
  const Definitions& defs = Definitions::Embedded();
  const TypeDef* patient = defs.FindResource("Patient");
  const ElementDef* id = patient->Find("id");
  EXPECT_EQ(id->primitive, Primitive::kId);
  EXPECT_FALSE(id->primitive_extensions);
  const TypeDef* ext = defs.FindType("Extension");
  EXPECT_EQ(ext->Find("url")->primitive, Primitive::kUri);
  EXPECT_FALSE(ext->Find("url")->primitive_extensions);
  EXPECT_FALSE(ext->Find("id")->primitive_extensions);
  EXPECT_EQ(defs.FindResource("Bundle")->Find("entry") != nullptr, true);
  const TypeDef& entry = defs.type(defs.FindResource("Bundle")->Find("entry")->type);
  EXPECT_EQ(entry.Find("resource")->type, kAnyResource);
  EXPECT_EQ(patient->Find("contained")->type, kAnyResource);
  EXPECT_EQ(defs.element_type().name, "Element");
}

TEST(DefinitionsTest, KeepsBindings) {
  const Definitions& defs = Definitions::Embedded();
  const ElementDef* status = defs.FindResource("Observation")->Find("status");
  ASSERT_NE(status->binding, kNoBinding);
  EXPECT_EQ(defs.binding(status->binding).strength, BindingStrength::kRequired);
  EXPECT_EQ(defs.binding(status->binding).value_set,
            "http://hl7.org/fhir/ValueSet/observation-status|4.0.1");
}

TEST(DefinitionsTest, ResolvesRequiredBindingsToCodes) {
  const Definitions& defs = Definitions::Embedded();
  const TypeDef* patient = defs.FindResource("Patient");
  const ElementDef* gender = patient->Find("gender");
  ASSERT_NE(gender->required_codes, kNoValueSet);
  const ValueSetCodes& vs = defs.value_set(gender->required_codes);
  EXPECT_EQ(vs.url, "http://hl7.org/fhir/ValueSet/administrative-gender");
  EXPECT_EQ(vs.codes, (std::vector<std::string>{"female", "male", "other", "unknown"}));
  EXPECT_EQ(vs.hint, "male, female, other, unknown");
  EXPECT_TRUE(vs.Contains("male"));
  EXPECT_FALSE(vs.Contains("Male"));
  EXPECT_FALSE(vs.Contains(""));
  // Elements binding the same value set share its codes.
  const TypeDef& contact = defs.type(patient->Find("contact")->type);
  EXPECT_EQ(contact.Find("gender")->required_codes, gender->required_codes);
  // Not enforceable (mimetypes), not required (languages), not a `code` (maritalStatus).
  EXPECT_EQ(defs.FindResource("Binary")->Find("contentType")->required_codes, kNoValueSet);
  EXPECT_EQ(patient->Find("language")->required_codes, kNoValueSet);
  EXPECT_EQ(patient->Find("maritalStatus")->required_codes, kNoValueSet);
  // tools/extract_required_bindings.py: 215 value sets bound, 4 not enforceable.
  EXPECT_EQ(defs.value_set_count(), 211u);
}

// A resource type X whose `code` elements bind http://x/a (with a version), http://x/b and,
// only as extensible, http://x/c.
constexpr char kTinyResources[] =
    R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"StructureDefinition",
    "name":"X","type":"X","kind":"resource","abstract":false,"snapshot":{"element":[
    {"path":"X","min":0,"max":"*"},
    {"path":"X.a","min":0,"max":"1","type":[{"code":"code"}],
     "binding":{"strength":"required","valueSet":"http://x/a|1.0"}},
    {"path":"X.b","min":0,"max":"*","type":[{"code":"code"}],
     "binding":{"strength":"required","valueSet":"http://x/b"}},
    {"path":"X.c","min":0,"max":"1","type":[{"code":"code"}],
     "binding":{"strength":"extensible","valueSet":"http://x/c"}}]}}}]})";
constexpr char kTinyTypes[] =
    R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"StructureDefinition",
    "name":"Element","type":"Element","kind":"complex-type","abstract":true,
    "snapshot":{"element":[{"path":"Element","min":0,"max":"*"}]}}}]})";

TEST(DefinitionsTest, LoadMatchesBindingsWithoutTheirVersion) {
  auto defs = Definitions::Load(kTinyResources, kTinyTypes,
                                R"({"valueSets":{"http://x/a":["z","y","z"],"http://x/c":["c"]},
                                    "notEnforceable":{"http://x/b":"external"}})");
  ASSERT_TRUE(defs) << defs.error().message();
  const TypeDef* x = defs->FindResource("X");
  ASSERT_NE(x->Find("a")->required_codes, kNoValueSet);
  const ValueSetCodes& a = defs->value_set(x->Find("a")->required_codes);
  EXPECT_EQ(a.url, "http://x/a");
  EXPECT_EQ(a.codes, (std::vector<std::string>{"y", "z"}));
  EXPECT_EQ(a.hint, "z, y, z");
  EXPECT_EQ(x->Find("b")->required_codes, kNoValueSet);
  EXPECT_EQ(x->Find("c")->required_codes, kNoValueSet);  // only extensible

  // Without the file nothing is enforced.
  auto plain = Definitions::Load(kTinyResources, kTinyTypes);
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_EQ(plain->FindResource("X")->Find("a")->required_codes, kNoValueSet);
  EXPECT_EQ(plain->value_set_count(), 0u);
}

TEST(DefinitionsTest, LoadRejectsBindingsThatDoNotMatch) {
  auto load = [](std::string_view bindings) {
    return Definitions::Load(kTinyResources, kTinyTypes, bindings);
  };
  // http://x/b is bound but listed nowhere: the files were generated from different releases.
  auto missing = load(R"({"valueSets":{"http://x/a":["y"]},"notEnforceable":{}})");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("http://x/b"), std::string::npos);
  EXPECT_FALSE(load("not json"));
  EXPECT_FALSE(load("[]"));
  EXPECT_FALSE(load(R"({"valueSets":{}})"));
  EXPECT_FALSE(load(R"({"valueSets":{"http://x/a":[]},"notEnforceable":{"http://x/b":""}})"));
  EXPECT_FALSE(load(R"({"valueSets":{"http://x/a":[1]},"notEnforceable":{"http://x/b":""}})"));
  EXPECT_FALSE(load(R"({"valueSets":{"http://x/a":["a b "]},"notEnforceable":{"http://x/b":""}})"));
  EXPECT_FALSE(load(R"({"valueSets":{"http://x/a":["y"],"http://x/b":["y"]},
                        "notEnforceable":{"http://x/b":""}})"));
}

// ElementDefinition.isSummary, as the R4 pages show it (Σ).
TEST(DefinitionsTest, SummaryFlags) {
  const Definitions& defs = Definitions::Embedded();
  const TypeDef* patient = defs.FindResource("Patient");
  for (auto name : {"id", "meta", "implicitRules", "identifier", "active", "name", "telecom",
                    "gender", "birthDate", "deceasedBoolean", "deceasedDateTime", "address",
                    "managingOrganization", "link"})
    EXPECT_TRUE(patient->Find(name)->is_summary) << name;
  for (auto name :
       {"language", "text", "contained", "extension", "modifierExtension", "maritalStatus",
        "multipleBirthBoolean", "photo", "contact", "communication", "generalPractitioner"})
    EXPECT_FALSE(patient->Find(name)->is_summary) << name;
  // Backbone elements have flags of their own; modifierExtension is in every summary there.
  const TypeDef& contact = defs.type(patient->Find("contact")->type);
  EXPECT_TRUE(contact.Find("modifierExtension")->is_summary);
  EXPECT_FALSE(contact.Find("name")->is_summary);
  // Data types: everything but id, extension and a few large elements (Attachment.data).
  const TypeDef* attachment = defs.FindType("Attachment");
  EXPECT_TRUE(attachment->Find("url")->is_summary);
  EXPECT_FALSE(attachment->Find("data")->is_summary);
  EXPECT_FALSE(attachment->Find("extension")->is_summary);
  EXPECT_TRUE(defs.FindType("HumanName")->Find("family")->is_summary);
  EXPECT_FALSE(defs.FindType("Extension")->Find("url")->is_summary);
  const TypeDef* obs = defs.FindResource("Observation");
  EXPECT_TRUE(obs->Find("valueQuantity")->is_summary);
  EXPECT_TRUE(obs->Find("valueString")->is_summary);
  EXPECT_FALSE(obs->Find("category")->is_summary);
}

TEST(DefinitionsTest, LoadRejectsBadInput) {
  EXPECT_FALSE(Definitions::Load("not json", "{}"));
  EXPECT_FALSE(Definitions::Load(R"({"resourceType":"Bundle","entry":[]})", "[]"));
  // A type that refers to a type nobody defines.
  auto broken = Definitions::Load(
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"StructureDefinition",
         "name":"X","type":"X","kind":"resource","abstract":false,"snapshot":{"element":[
         {"path":"X","min":0,"max":"*"},
         {"path":"X.a","min":0,"max":"1","type":[{"code":"Nope"}]}]}}}]})",
      R"({"resourceType":"Bundle","entry":[{"resource":{"resourceType":"StructureDefinition",
         "name":"Element","type":"Element","kind":"complex-type","abstract":true,
         "snapshot":{"element":[{"path":"Element","min":0,"max":"*"}]}}}]})");
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message().find("Nope"), std::string::npos);
}

}  // namespace
}  // namespace medulla::fhir
