// Roles: their names, the ceilings that bound their tokens, their default scopes, and the
// patient binding of a principal.
#include "security/principal.h"

#include <gtest/gtest.h>

#include <string>

namespace medulla::security {
namespace {

constexpr Role kAllRoles[] = {Role::kAdmin,  Role::kClinician,  Role::kPatient,
                              Role::kDevice, Role::kDispatcher, Role::kAnalyst};

// Types holding clinical records about a patient.
constexpr std::string_view kClinicalTypes[] = {"Patient",   "Observation",       "Condition",
                                               "Encounter", "MedicationRequest", "Procedure",
                                               "AuditEvent"};

// ---------------------------------------------------------------------------------------------
// Names.

TEST(RoleNameTest, ShortNames) {
  EXPECT_EQ(RoleName(Role::kAdmin), "admin");
  EXPECT_EQ(RoleName(Role::kClinician), "clinician");
  EXPECT_EQ(RoleName(Role::kPatient), "patient");
  EXPECT_EQ(RoleName(Role::kDevice), "device");
  EXPECT_EQ(RoleName(Role::kDispatcher), "dispatcher");
  EXPECT_EQ(RoleName(Role::kAnalyst), "analyst");
}

TEST(ParseRoleTest, ReadsBackEveryRoleName) {
  for (Role role : kAllRoles) {
    std::optional<Role> parsed = ParseRole(RoleName(role));
    ASSERT_TRUE(parsed.has_value()) << RoleName(role);
    EXPECT_EQ(*parsed, role);
  }
}

TEST(ParseRoleTest, AcceptsTheLongForms) {
  EXPECT_EQ(ParseRole("administrator"), Role::kAdmin);
  EXPECT_EQ(ParseRole("public-health-analyst"), Role::kAnalyst);
}

TEST(ParseRoleTest, RefusesEverythingElse) {
  for (std::string_view name : {"", "Admin", "ADMIN", "admin ", " admin", "root", "nurse",
                                "practitioner", "public_health_analyst", "analyst2"}) {
    EXPECT_FALSE(ParseRole(name).has_value()) << "'" << name << "'";
  }
}

// ---------------------------------------------------------------------------------------------
// Ceilings.

TEST(RoleCeilingTest, AdminMayDoEverythingInEveryContext) {
  const ScopeSet& c = RoleCeiling(Role::kAdmin);
  EXPECT_TRUE(c.HasSystemScope());
  for (std::string_view type : kClinicalTypes) {
    for (Interaction i : {kCreate, kRead, kUpdate, kDelete, kSearch}) {
      EXPECT_TRUE(c.Allows(type, i)) << type << " " << int(i);
    }
  }
  EXPECT_EQ(ScopeSet::Parse("system/*.cruds").Intersect(c).ToString(), "system/*.cruds");
  EXPECT_EQ(ScopeSet::Parse("user/*.cruds").Intersect(c).ToString(), "user/*.cruds");
  EXPECT_EQ(ScopeSet::Parse("patient/*.cruds").Intersect(c).ToString(), "patient/*.cruds");
}

TEST(RoleCeilingTest, ClinicianHasUserAndPatientButNoSystemScopes) {
  const ScopeSet& c = RoleCeiling(Role::kClinician);
  EXPECT_FALSE(c.HasSystemScope());
  EXPECT_TRUE(c.Allows("Observation", kCreate));
  EXPECT_TRUE(c.Allows("Patient", kDelete));
  EXPECT_TRUE(ScopeSet::Parse("system/*.rs").Intersect(c).empty());
  EXPECT_EQ(ScopeSet::Parse("user/*.cruds patient/*.cruds").Intersect(c).ToString(),
            "user/*.cruds patient/*.cruds");
}

TEST(RoleCeilingTest, PatientReadsAndSearchesItsOwnDataOnly) {
  const ScopeSet& c = RoleCeiling(Role::kPatient);
  EXPECT_TRUE(c.PatientLevelOnly());
  EXPECT_FALSE(c.HasSystemScope());
  for (std::string_view type : kClinicalTypes) {
    EXPECT_TRUE(c.Allows(type, kRead)) << type;
    EXPECT_TRUE(c.Allows(type, kSearch)) << type;
    EXPECT_FALSE(c.Allows(type, kCreate)) << type;
    EXPECT_FALSE(c.Allows(type, kUpdate)) << type;
    EXPECT_FALSE(c.Allows(type, kDelete)) << type;
  }
  EXPECT_EQ(ScopeSet::Parse("patient/*.cruds user/*.rs").Intersect(c).ToString(), "patient/*.rs");
}

TEST(RoleCeilingTest, DeviceWritesObservationsAndReadsDevices) {
  const ScopeSet& c = RoleCeiling(Role::kDevice);
  EXPECT_TRUE(c.PatientLevelOnly());
  EXPECT_TRUE(c.Allows("Observation", kCreate));
  EXPECT_TRUE(c.Allows("Observation", kRead));
  EXPECT_TRUE(c.Allows("Observation", kSearch));
  EXPECT_FALSE(c.Allows("Observation", kUpdate));
  EXPECT_FALSE(c.Allows("Observation", kDelete));
  EXPECT_TRUE(c.Allows("Device", kRead));
  EXPECT_TRUE(c.Allows("Device", kSearch));
  EXPECT_FALSE(c.Allows("Device", kCreate));
  EXPECT_FALSE(c.Allows("Device", kUpdate));
  for (std::string_view type : {"Patient", "Condition", "Encounter", "Practitioner"}) {
    EXPECT_FALSE(c.Allows(type, kRead)) << type;
  }
  EXPECT_EQ(ScopeSet::Parse("patient/*.cruds").Intersect(c).ToString(),
            "patient/Observation.crs patient/Device.rs");
}

TEST(RoleCeilingTest, DispatcherReachesNoClinicalRecord) {
  const ScopeSet& c = RoleCeiling(Role::kDispatcher);
  for (std::string_view type : kClinicalTypes) {
    for (Interaction i : {kCreate, kRead, kUpdate, kDelete, kSearch}) {
      EXPECT_FALSE(c.Allows(type, i)) << type << " " << int(i);
    }
  }
  EXPECT_TRUE(c.Allows("Location", kUpdate));
  EXPECT_TRUE(c.Allows("Device", kUpdate));
  EXPECT_TRUE(c.Allows("Organization", kRead));
  EXPECT_TRUE(c.Allows("HealthcareService", kSearch));
  EXPECT_TRUE(c.Allows("MeasureReport", kRead));
  EXPECT_FALSE(c.Allows("Organization", kUpdate));
  EXPECT_FALSE(c.Allows("Location", kDelete));
  EXPECT_FALSE(c.Allows("Location", kCreate));
  EXPECT_FALSE(c.PatientLevelOnly());
  EXPECT_TRUE(ScopeSet::Parse("patient/*.rs").Intersect(c).empty());
}

TEST(RoleCeilingTest, AnalystReadsAggregatesAndDefinitionsOnly) {
  const ScopeSet& c = RoleCeiling(Role::kAnalyst);
  for (std::string_view type : kClinicalTypes) {
    EXPECT_FALSE(c.Allows(type, kRead)) << type;
    EXPECT_FALSE(c.Allows(type, kSearch)) << type;
  }
  for (std::string_view type :
       {"MeasureReport", "Measure", "Library", "Location", "Organization"}) {
    EXPECT_TRUE(c.Allows(type, kRead)) << type;
    EXPECT_TRUE(c.Allows(type, kSearch)) << type;
    EXPECT_FALSE(c.Allows(type, kCreate)) << type;
    EXPECT_FALSE(c.Allows(type, kUpdate)) << type;
    EXPECT_FALSE(c.Allows(type, kDelete)) << type;
  }
  EXPECT_TRUE(ScopeSet::Parse("patient/*.rs").Intersect(c).empty());
}

TEST(RoleCeilingTest, OnlyAdminCeilingHasWildcardSystemScope) {
  for (Role role : kAllRoles) {
    bool everything = ScopeSet::Parse("system/*.cruds").Intersect(RoleCeiling(role)).ToString() ==
                      "system/*.cruds";
    EXPECT_EQ(everything, role == Role::kAdmin) << RoleName(role);
  }
}

// ---------------------------------------------------------------------------------------------
// Default scopes.

TEST(DefaultScopesTest, EveryRoleDefaultIsWithinItsCeiling) {
  for (Role role : kAllRoles) {
    ScopeSet defaults = ScopeSet::Parse(DefaultScopes(role));
    EXPECT_FALSE(defaults.empty()) << RoleName(role);
    // Bounding by the ceiling cuts nothing away.
    EXPECT_EQ(defaults.Intersect(RoleCeiling(role)).ToString(), defaults.ToString())
        << RoleName(role);
    // Every scope word parses: none is silently dropped.
    EXPECT_EQ(defaults.ToString(), DefaultScopes(role)) << RoleName(role);
  }
}

TEST(DefaultScopesTest, AdminIsABackendServiceAndOthersAreNot) {
  EXPECT_EQ(DefaultScopes(Role::kAdmin), "system/*.cruds");
  for (Role role : kAllRoles) {
    if (role == Role::kAdmin) continue;
    EXPECT_FALSE(ScopeSet::Parse(DefaultScopes(role)).HasSystemScope()) << RoleName(role);
  }
}

TEST(DefaultScopesTest, PatientAndDeviceDefaultsArePatientLevel) {
  EXPECT_TRUE(ScopeSet::Parse(DefaultScopes(Role::kPatient)).PatientLevelOnly());
  EXPECT_TRUE(ScopeSet::Parse(DefaultScopes(Role::kDevice)).PatientLevelOnly());
  EXPECT_EQ(DefaultScopes(Role::kDevice), RoleCeiling(Role::kDevice).ToString());
}

TEST(DefaultScopesTest, DispatcherAndAnalystGetTheUserHalfOfTheirCeiling) {
  for (Role role : {Role::kDispatcher, Role::kAnalyst}) {
    ScopeSet defaults = ScopeSet::Parse(DefaultScopes(role));
    for (const Scope& s : defaults.scopes()) {
      EXPECT_EQ(s.context, ScopeContext::kUser) << RoleName(role) << " " << s.type;
    }
    // Every user/ scope of the ceiling is in the defaults.
    size_t user_scopes = 0;
    for (const Scope& s : RoleCeiling(role).scopes()) {
      user_scopes += s.context == ScopeContext::kUser ? 1 : 0;
    }
    EXPECT_EQ(defaults.scopes().size(), user_scopes) << RoleName(role);
  }
}

// ---------------------------------------------------------------------------------------------
// Patient binding.

Principal Make(Role role, std::string_view scopes, std::string patient = "") {
  Principal p;
  p.role = role;
  p.scopes = ScopeSet::Parse(scopes).Intersect(RoleCeiling(role));
  p.patient = std::move(patient);
  return p;
}

// PatientBinding() views the principal's own string: the principals are kept alive here.
TEST(PatientBindingTest, PatientAndDeviceAreBoundToTheirPatient) {
  const Principal patient_principal = Make(Role::kPatient, "patient/*.rs", "p1");
  auto patient = patient_principal.PatientBinding();
  ASSERT_TRUE(patient.has_value());
  EXPECT_EQ(*patient, "p1");
  const Principal device_principal = Make(Role::kDevice, "patient/Observation.crs", "p2");
  auto device = device_principal.PatientBinding();
  ASSERT_TRUE(device.has_value());
  EXPECT_EQ(*device, "p2");
}

TEST(PatientBindingTest, PatientRoleIsBoundEvenWithoutScopesOrPatient) {
  // The binding is there (empty): such a principal reaches no patient's data (policy.h).
  const Principal principal = Make(Role::kPatient, "", "");
  auto bound = principal.PatientBinding();
  ASSERT_TRUE(bound.has_value());
  EXPECT_TRUE(bound->empty());
}

TEST(PatientBindingTest, UserScopesAreNotBound) {
  EXPECT_FALSE(Make(Role::kClinician, "user/*.rs", "p1").PatientBinding().has_value());
  EXPECT_FALSE(Make(Role::kClinician, "user/*.rs patient/*.rs", "p1").PatientBinding());
  EXPECT_FALSE(Make(Role::kAdmin, "system/*.rs").PatientBinding().has_value());
  EXPECT_FALSE(Make(Role::kDispatcher, "user/Location.rs").PatientBinding().has_value());
}

TEST(PatientBindingTest, PatientLevelScopesBindAnyRole) {
  const Principal clinician = Make(Role::kClinician, "patient/*.rs", "p3");
  auto bound = clinician.PatientBinding();
  ASSERT_TRUE(bound.has_value());
  EXPECT_EQ(*bound, "p3");
  const Principal admin_principal = Make(Role::kAdmin, "patient/Observation.r", "p4");
  auto admin = admin_principal.PatientBinding();
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(*admin, "p4");
}

TEST(PatientBindingTest, ClinicianWithNoScopesIsNotBound) {
  EXPECT_FALSE(Make(Role::kClinician, "").PatientBinding().has_value());
}

}  // namespace
}  // namespace medulla::security
