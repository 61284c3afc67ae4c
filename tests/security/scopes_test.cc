// SMART App Launch scopes: parsing the v2 and v1 forms, what a set allows, and bounding one set
// by another (a token's scopes by its role's ceiling).
#include "security/scopes.h"

#include <gtest/gtest.h>

#include <string>

namespace medulla::security {
namespace {

constexpr uint8_t kRS = kRead | kSearch;
constexpr uint8_t kCUD = kCreate | kUpdate | kDelete;

// The one scope `text` parses to (a test failure when it is not exactly one).
Scope Only(std::string_view text) {
  ScopeSet set = ScopeSet::Parse(text);
  EXPECT_EQ(set.scopes().size(), 1u) << text;
  return set.scopes().empty() ? Scope{} : set.scopes().front();
}

std::string Canonical(std::string_view text) {
  return ScopeSet::Parse(text).ToString();
}

std::string Intersect(std::string_view want, std::string_view ceiling) {
  return ScopeSet::Parse(want).Intersect(ScopeSet::Parse(ceiling)).ToString();
}

// ---------------------------------------------------------------------------------------------
// Parsing.

TEST(ScopeParseTest, V2PatientScopeNamesContextTypeAndLetters) {
  Scope s = Only("patient/Observation.rs");
  EXPECT_EQ(s.context, ScopeContext::kPatient);
  EXPECT_EQ(s.type, "Observation");
  EXPECT_EQ(s.interactions, kRS);
}

TEST(ScopeParseTest, V2UserWildcardWithEveryLetter) {
  Scope s = Only("user/*.cruds");
  EXPECT_EQ(s.context, ScopeContext::kUser);
  EXPECT_EQ(s.type, "*");
  EXPECT_EQ(s.interactions, kAllInteractions);
}

TEST(ScopeParseTest, V2SystemReadOnlyIsNotSearch) {
  Scope s = Only("system/*.r");
  EXPECT_EQ(s.context, ScopeContext::kSystem);
  EXPECT_EQ(s.type, "*");
  EXPECT_EQ(s.interactions, kRead);
}

TEST(ScopeParseTest, V2SingleLetters) {
  EXPECT_EQ(Only("user/Patient.c").interactions, kCreate);
  EXPECT_EQ(Only("user/Patient.r").interactions, kRead);
  EXPECT_EQ(Only("user/Patient.u").interactions, kUpdate);
  EXPECT_EQ(Only("user/Patient.d").interactions, kDelete);
  EXPECT_EQ(Only("user/Patient.s").interactions, kSearch);
  EXPECT_EQ(Only("user/Patient.cd").interactions, kCreate | kDelete);
}

TEST(ScopeParseTest, V1ReadIsReadAndSearch) {
  Scope s = Only("patient/Observation.read");
  EXPECT_EQ(s.context, ScopeContext::kPatient);
  EXPECT_EQ(s.type, "Observation");
  EXPECT_EQ(s.interactions, kRS);
}

TEST(ScopeParseTest, V1WriteIsCreateUpdateDeleteWithoutRead) {
  Scope s = Only("user/Patient.write");
  EXPECT_EQ(s.interactions, kCUD);
  EXPECT_FALSE(s.interactions & kRead);
  EXPECT_FALSE(s.interactions & kSearch);
}

TEST(ScopeParseTest, V1StarIsEveryInteraction) {
  Scope s = Only("system/*.*");
  EXPECT_EQ(s.context, ScopeContext::kSystem);
  EXPECT_EQ(s.type, "*");
  EXPECT_EQ(s.interactions, kAllInteractions);
}

TEST(ScopeParseTest, SkipsScopesThatAreNotAboutData) {
  ScopeSet set = ScopeSet::Parse(
      "openid fhirUser launch launch/patient offline_access online_access profile "
      "patient/Observation.rs");
  ASSERT_EQ(set.scopes().size(), 1u);
  EXPECT_EQ(set.scopes()[0].type, "Observation");
  EXPECT_TRUE(ScopeSet::Parse("openid fhirUser launch offline_access").empty());
}

TEST(ScopeParseTest, SkipsGranularScopesWithAQuery) {
  // Not implemented: a granular scope must not be read as the wider scope without its query.
  EXPECT_TRUE(ScopeSet::Parse("patient/Observation.rs?category=laboratory").empty());
  EXPECT_TRUE(ScopeSet::Parse("patient/Observation.rs?category=http://terminology.hl7.org/"
                              "CodeSystem/observation-category|vital-signs")
                  .empty());
  EXPECT_TRUE(ScopeSet::Parse("user/Condition.rs?category=x/y.read").empty());
  ScopeSet mixed = ScopeSet::Parse("patient/Observation.rs?category=laboratory patient/Patient.r");
  ASSERT_EQ(mixed.scopes().size(), 1u);
  EXPECT_EQ(mixed.scopes()[0].type, "Patient");
  EXPECT_FALSE(mixed.Allows("Observation", kRead));
}

TEST(ScopeParseTest, RefusesLettersOutOfOrderRepeatedOrUnknown) {
  for (std::string_view text :
       {"patient/Observation.sr", "patient/Observation.x", "patient/Observation.rr",
        "patient/Observation.rsx", "patient/Observation.dc", "patient/Observation.R",
        "patient/Observation.", "patient/Observation.reads", "patient/Observation.Read"}) {
    EXPECT_TRUE(ScopeSet::Parse(text).empty()) << text;
  }
}

TEST(ScopeParseTest, RefusesUnknownContextsAndMalformedTypes) {
  for (std::string_view text :
       {"group/Observation.rs", "Patient/Observation.rs", "patient/observation.rs", "patient/.rs",
        "patient/Obs-ervation.rs", "patient/**.rs", "Observation.rs", "patient/Observation",
        "/Observation.rs"}) {
    EXPECT_TRUE(ScopeSet::Parse(text).empty()) << text;
  }
}

TEST(ScopeParseTest, KeepsTheGoodScopesAroundBadOnes) {
  ScopeSet set =
      ScopeSet::Parse("  patient/Observation.sr   user/Patient.r  system/Device.x  openid ");
  ASSERT_EQ(set.scopes().size(), 1u);
  EXPECT_EQ(set.scopes()[0].context, ScopeContext::kUser);
  EXPECT_EQ(set.scopes()[0].type, "Patient");
  EXPECT_EQ(set.scopes()[0].interactions, kRead);
}

TEST(ScopeParseTest, EmptyTextIsAnEmptySet) {
  EXPECT_TRUE(ScopeSet::Parse("").empty());
  EXPECT_TRUE(ScopeSet::Parse("    ").empty());
}

// ---------------------------------------------------------------------------------------------
// What a set allows.

TEST(ScopeAllowsTest, PerTypeAndInteraction) {
  ScopeSet set = ScopeSet::Parse("patient/Observation.rs user/Patient.cu");
  EXPECT_TRUE(set.Allows("Observation", kRead));
  EXPECT_TRUE(set.Allows("Observation", kSearch));
  EXPECT_FALSE(set.Allows("Observation", kCreate));
  EXPECT_FALSE(set.Allows("Observation", kUpdate));
  EXPECT_FALSE(set.Allows("Observation", kDelete));
  EXPECT_TRUE(set.Allows("Patient", kCreate));
  EXPECT_TRUE(set.Allows("Patient", kUpdate));
  EXPECT_FALSE(set.Allows("Patient", kRead));
  EXPECT_FALSE(set.Allows("Encounter", kRead));
}

TEST(ScopeAllowsTest, TypeMatchIsExact) {
  ScopeSet set = ScopeSet::Parse("user/Observation.rs");
  EXPECT_FALSE(set.Allows("observation", kRead));
  EXPECT_FALSE(set.Allows("ObservationDefinition", kRead));
  EXPECT_FALSE(set.Allows("Observatio", kRead));
}

TEST(ScopeAllowsTest, WildcardTypeCoversEveryType) {
  ScopeSet set = ScopeSet::Parse("user/*.r");
  EXPECT_TRUE(set.Allows("Patient", kRead));
  EXPECT_TRUE(set.Allows("AuditEvent", kRead));
  EXPECT_FALSE(set.Allows("Patient", kSearch));
}

TEST(ScopeAllowsTest, GrantsAddUpAcrossScopes) {
  ScopeSet set = ScopeSet::Parse("user/Observation.r user/*.s");
  EXPECT_TRUE(set.Allows("Observation", kRead));
  EXPECT_TRUE(set.Allows("Observation", kSearch));
  EXPECT_TRUE(set.Allows("Patient", kSearch));
  EXPECT_FALSE(set.Allows("Patient", kRead));
}

TEST(ScopeAllowsTest, EmptySetAllowsNothing) {
  ScopeSet set;
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.Allows("Patient", kRead));
}

TEST(ScopeSetTest, PatientLevelOnly) {
  EXPECT_TRUE(ScopeSet::Parse("patient/*.rs").PatientLevelOnly());
  EXPECT_TRUE(ScopeSet::Parse("patient/Observation.crs patient/Device.rs").PatientLevelOnly());
  EXPECT_FALSE(ScopeSet::Parse("patient/*.rs user/Practitioner.r").PatientLevelOnly());
  EXPECT_FALSE(ScopeSet::Parse("system/*.r").PatientLevelOnly());
  // No data scope at all binds nothing.
  EXPECT_FALSE(ScopeSet::Parse("openid").PatientLevelOnly());
}

TEST(ScopeSetTest, HasSystemScope) {
  EXPECT_TRUE(ScopeSet::Parse("system/*.r").HasSystemScope());
  EXPECT_TRUE(ScopeSet::Parse("user/*.r system/Observation.s").HasSystemScope());
  EXPECT_FALSE(ScopeSet::Parse("user/*.cruds patient/*.cruds").HasSystemScope());
  EXPECT_FALSE(ScopeSet().HasSystemScope());
}

TEST(ScopeSetTest, AddAppendsAScope) {
  ScopeSet set;
  set.Add(Scope{ScopeContext::kSystem, "Observation", kRead});
  EXPECT_FALSE(set.empty());
  EXPECT_TRUE(set.HasSystemScope());
  EXPECT_TRUE(set.Allows("Observation", kRead));
  EXPECT_EQ(set.ToString(), "system/Observation.r");
}

// ---------------------------------------------------------------------------------------------
// Intersect.

TEST(ScopeIntersectTest, ContextsMustMatch) {
  // A user/ ceiling does not bound a system/ request: it refuses it (and so on for each pair).
  EXPECT_EQ(Intersect("system/*.rs", "user/*.cruds"), "");
  EXPECT_EQ(Intersect("user/*.rs", "system/*.cruds"), "");
  EXPECT_EQ(Intersect("patient/*.rs", "user/*.cruds"), "");
  EXPECT_EQ(Intersect("user/*.rs", "patient/*.cruds"), "");
  EXPECT_EQ(Intersect("system/*.rs user/Patient.r", "user/*.cruds"), "user/Patient.r");
}

TEST(ScopeIntersectTest, NarrowerTypeWins) {
  EXPECT_EQ(Intersect("user/*.rs", "user/Observation.cruds"), "user/Observation.rs");
  EXPECT_EQ(Intersect("user/Observation.cruds", "user/*.rs"), "user/Observation.rs");
  EXPECT_EQ(Intersect("user/*.rs", "user/*.r"), "user/*.r");
}

TEST(ScopeIntersectTest, DisjointTypesGrantNothing) {
  EXPECT_EQ(Intersect("user/Observation.rs", "user/Patient.rs"), "");
}

TEST(ScopeIntersectTest, InteractionsAreAnded) {
  EXPECT_EQ(Intersect("user/Observation.cruds", "user/Observation.rs"), "user/Observation.rs");
  EXPECT_EQ(Intersect("user/Observation.rs", "user/Observation.cruds"), "user/Observation.rs");
  EXPECT_EQ(Intersect("user/Observation.crs", "user/Observation.rud"), "user/Observation.r");
  // Nothing in common: no scope at all, not one with no letters.
  ScopeSet none =
      ScopeSet::Parse("user/Observation.cud").Intersect(ScopeSet::Parse("user/Observation.rs"));
  EXPECT_TRUE(none.empty());
}

TEST(ScopeIntersectTest, DuplicatesAreMerged) {
  ScopeSet got = ScopeSet::Parse("user/Observation.r user/Observation.s")
                     .Intersect(ScopeSet::Parse("user/*.*"));
  ASSERT_EQ(got.scopes().size(), 1u);
  EXPECT_EQ(got.ToString(), "user/Observation.rs");
  // Two ceiling entries granting parts of the same request.
  EXPECT_EQ(Intersect("user/*.cruds", "user/*.rs user/*.c"), "user/*.crs");
}

TEST(ScopeIntersectTest, BoundByARoleCeiling) {
  ScopeSet ceiling = ScopeSet::Parse("patient/Observation.crs patient/Device.rs");
  ScopeSet got = ScopeSet::Parse("patient/*.cruds user/*.cruds").Intersect(ceiling);
  EXPECT_EQ(got.ToString(), "patient/Observation.crs patient/Device.rs");
  EXPECT_FALSE(got.Allows("Observation", kUpdate));
  EXPECT_FALSE(got.Allows("Patient", kRead));
  EXPECT_TRUE(got.PatientLevelOnly());
}

TEST(ScopeIntersectTest, EmptyCeilingGrantsNothing) {
  EXPECT_TRUE(ScopeSet::Parse("user/*.cruds").Intersect(ScopeSet()).empty());
  EXPECT_TRUE(ScopeSet().Intersect(ScopeSet::Parse("user/*.cruds")).empty());
}

// ---------------------------------------------------------------------------------------------
// ToString.

TEST(ScopeToStringTest, WritesV2FormInLetterOrder) {
  ScopeSet set;
  set.Add(Scope{ScopeContext::kPatient, "Observation", kSearch | kCreate | kRead});
  set.Add(Scope{ScopeContext::kUser, "*", kAllInteractions});
  set.Add(Scope{ScopeContext::kSystem, "Patient", kDelete | kUpdate});
  EXPECT_EQ(set.ToString(), "patient/Observation.crs user/*.cruds system/Patient.ud");
}

TEST(ScopeToStringTest, V1FormsComeBackAsV2) {
  EXPECT_EQ(Canonical("patient/Observation.read"), "patient/Observation.rs");
  EXPECT_EQ(Canonical("user/Patient.write"), "user/Patient.cud");
  EXPECT_EQ(Canonical("system/*.*"), "system/*.cruds");
}

TEST(ScopeToStringTest, DropsSkippedScopes) {
  EXPECT_EQ(Canonical("openid patient/Observation.rs launch patient/Condition.sr"),
            "patient/Observation.rs");
}

TEST(ScopeToStringTest, RoundTrips) {
  for (std::string_view text : {"patient/Observation.rs user/*.cruds system/Patient.r",
                                "user/Encounter.c", "system/*.s patient/*.rs"}) {
    EXPECT_EQ(Canonical(text), text);
    ScopeSet again = ScopeSet::Parse(Canonical(text));
    ScopeSet first = ScopeSet::Parse(text);
    ASSERT_EQ(again.scopes().size(), first.scopes().size());
    for (size_t i = 0; i < first.scopes().size(); ++i) {
      EXPECT_EQ(again.scopes()[i].context, first.scopes()[i].context);
      EXPECT_EQ(again.scopes()[i].type, first.scopes()[i].type);
      EXPECT_EQ(again.scopes()[i].interactions, first.scopes()[i].interactions);
    }
  }
}

}  // namespace
}  // namespace medulla::security
