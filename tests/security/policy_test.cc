// The access decisions: interaction checks against the scopes (403 naming what is missing),
// instance visibility for patient-bound principals (a plain yes/no: the API answers 404 for what
// may not be seen, so existence does not leak), write content, and administrator-only routes.
#include "security/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace medulla::security {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A principal as the Authenticator makes it: the scopes bounded by the role's ceiling.
Principal Make(Role role, std::string_view scopes, std::string patient = "") {
  Principal p;
  p.role = role;
  p.subject = "someone";
  p.scopes = ScopeSet::Parse(scopes).Intersect(RoleCeiling(role));
  p.patient = std::move(patient);
  return p;
}

Principal Clinician() {
  return Make(Role::kClinician, "user/*.cruds");
}
Principal PatientP1() {
  return Make(Role::kPatient, "patient/*.rs", "p1");
}
Principal DeviceP1() {
  return Make(Role::kDevice, "patient/Observation.crs patient/Device.rs", "p1");
}

using Ids = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Directory types.

TEST(IsDirectoryTypeTest, DirectoriesAndDefinitions) {
  for (std::string_view type :
       {"Practitioner", "PractitionerRole", "Organization", "Location", "HealthcareService",
        "Endpoint", "Medication", "ValueSet", "CodeSystem", "Measure", "Library", "Questionnaire",
        "StructureDefinition", "SearchParameter"}) {
    EXPECT_TRUE(IsDirectoryType(type)) << type;
  }
}

TEST(IsDirectoryTypeTest, RecordsAboutPatientsAreNot) {
  for (std::string_view type :
       {"Patient", "Observation", "Condition", "Encounter", "MedicationRequest", "Device",
        "MeasureReport", "QuestionnaireResponse", "AuditEvent", "Consent", "", "*"}) {
    EXPECT_FALSE(IsDirectoryType(type)) << type;
  }
}

TEST(IsDirectoryTypeTest, IsCaseSensitive) {
  EXPECT_FALSE(IsDirectoryType("organization"));
  EXPECT_FALSE(IsDirectoryType("LOCATION"));
  EXPECT_FALSE(IsDirectoryType("Practitioner "));
}

// ---------------------------------------------------------------------------------------------
// CheckInteraction.

TEST(CheckInteractionTest, AllowsWhatTheScopesGrant) {
  EXPECT_TRUE(CheckInteraction(Clinician(), "Observation", kCreate).ok());
  EXPECT_TRUE(CheckInteraction(PatientP1(), "Observation", kRead).ok());
  EXPECT_TRUE(CheckInteraction(PatientP1(), "Observation", kSearch).ok());
  EXPECT_TRUE(CheckInteraction(DeviceP1(), "Observation", kCreate).ok());
  EXPECT_TRUE(CheckInteraction(DeviceP1(), "Device", kRead).ok());
}

TEST(CheckInteractionTest, RefusesWithPermissionDeniedNamingWhatIsMissing) {
  core::Status s = CheckInteraction(PatientP1(), "Observation", kCreate);
  EXPECT_EQ(s.code(), core::Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("Observation"));
  EXPECT_THAT(s.message(), HasSubstr("'c'"));
  EXPECT_THAT(s.message(), HasSubstr("role patient"));
}

TEST(CheckInteractionTest, DeviceMayNotUpdateOrReadOtherTypes) {
  EXPECT_EQ(CheckInteraction(DeviceP1(), "Observation", kUpdate).code(),
            core::Code::kPermissionDenied);
  EXPECT_EQ(CheckInteraction(DeviceP1(), "Observation", kDelete).code(),
            core::Code::kPermissionDenied);
  EXPECT_EQ(CheckInteraction(DeviceP1(), "Patient", kRead).code(), core::Code::kPermissionDenied);
}

TEST(CheckInteractionTest, DispatcherAndAnalystAreRefusedClinicalRecords) {
  Principal dispatcher = Make(Role::kDispatcher, DefaultScopes(Role::kDispatcher));
  Principal analyst = Make(Role::kAnalyst, DefaultScopes(Role::kAnalyst));
  for (std::string_view type : {"Patient", "Observation", "Condition"}) {
    EXPECT_EQ(CheckInteraction(dispatcher, type, kRead).code(), core::Code::kPermissionDenied);
    EXPECT_EQ(CheckInteraction(analyst, type, kSearch).code(), core::Code::kPermissionDenied);
  }
  EXPECT_TRUE(CheckInteraction(dispatcher, "Location", kUpdate).ok());
  EXPECT_TRUE(CheckInteraction(analyst, "MeasureReport", kSearch).ok());
  EXPECT_EQ(CheckInteraction(analyst, "MeasureReport", kCreate).code(),
            core::Code::kPermissionDenied);
}

TEST(CheckInteractionTest, NoScopesAllowNothing) {
  Principal p = Make(Role::kAdmin, "");
  EXPECT_EQ(CheckInteraction(p, "Patient", kRead).code(), core::Code::kPermissionDenied);
}

// ---------------------------------------------------------------------------------------------
// CanSee.

TEST(CanSeeTest, UnboundPrincipalSeesEveryPatientsRecords) {
  EXPECT_TRUE(CanSee(Clinician(), "Observation", Ids{"p1"}));
  EXPECT_TRUE(CanSee(Clinician(), "Observation", Ids{"p2", "p3"}));
  EXPECT_TRUE(CanSee(Clinician(), "Observation", Ids{}));
  EXPECT_TRUE(CanSee(Make(Role::kAdmin, "system/*.rs"), "Patient", Ids{"p9"}));
}

TEST(CanSeeTest, PatientSeesItsOwnCompartmentOnly) {
  EXPECT_TRUE(CanSee(PatientP1(), "Observation", Ids{"p1"}));
  EXPECT_TRUE(CanSee(PatientP1(), "Patient", Ids{"p1"}));
  EXPECT_FALSE(CanSee(PatientP1(), "Observation", Ids{"p2"}));
  EXPECT_FALSE(CanSee(PatientP1(), "Patient", Ids{"p2"}));
  // In both compartments (e.g. an Encounter naming two patients): it is in p1's.
  EXPECT_TRUE(CanSee(PatientP1(), "Encounter", Ids{"p2", "p1"}));
}

TEST(CanSeeTest, PatientIdsMatchExactly) {
  EXPECT_FALSE(CanSee(PatientP1(), "Observation", Ids{"p10"}));
  EXPECT_FALSE(CanSee(PatientP1(), "Observation", Ids{"P1"}));
  EXPECT_FALSE(CanSee(PatientP1(), "Observation", Ids{"p"}));
}

TEST(CanSeeTest, BoundPrincipalDoesNotSeeRecordsOfNoPatient) {
  // A non-directory resource outside every compartment is not the patient's.
  EXPECT_FALSE(CanSee(PatientP1(), "Device", Ids{}));
  EXPECT_FALSE(CanSee(DeviceP1(), "Observation", Ids{}));
}

TEST(CanSeeTest, BoundPrincipalSeesDirectoryTypes) {
  EXPECT_TRUE(CanSee(PatientP1(), "Practitioner", Ids{}));
  EXPECT_TRUE(CanSee(PatientP1(), "Organization", Ids{}));
  EXPECT_TRUE(CanSee(DeviceP1(), "Location", Ids{"p2"}));
}

TEST(CanSeeTest, DeviceSeesOnlyItsPatientsReadings) {
  EXPECT_TRUE(CanSee(DeviceP1(), "Observation", Ids{"p1"}));
  EXPECT_FALSE(CanSee(DeviceP1(), "Observation", Ids{"p2"}));
}

TEST(CanSeeTest, BindingWithoutAPatientSeesNoPatientsData) {
  Principal p = Make(Role::kPatient, "patient/*.rs", "");
  EXPECT_FALSE(CanSee(p, "Observation", Ids{"p1"}));
  EXPECT_FALSE(CanSee(p, "Observation", Ids{""}));
  EXPECT_FALSE(CanSee(p, "Observation", Ids{}));
  EXPECT_TRUE(CanSee(p, "Practitioner", Ids{}));
}

TEST(CanSeeTest, PatientLevelScopesBindAClinician) {
  Principal p = Make(Role::kClinician, "patient/*.rs", "p1");
  EXPECT_TRUE(CanSee(p, "Observation", Ids{"p1"}));
  EXPECT_FALSE(CanSee(p, "Observation", Ids{"p2"}));
}

// ---------------------------------------------------------------------------------------------
// CheckWriteContent.

TEST(CheckWriteContentTest, UnboundPrincipalWritesAnything) {
  EXPECT_TRUE(CheckWriteContent(Clinician(), "Observation", Ids{"p1", "p2"}).ok());
  EXPECT_TRUE(CheckWriteContent(Clinician(), "Observation", Ids{}).ok());
}

TEST(CheckWriteContentTest, DeviceWritesItsOwnPatientsReadings) {
  EXPECT_TRUE(CheckWriteContent(DeviceP1(), "Observation", Ids{"p1"}).ok());
  EXPECT_TRUE(CheckWriteContent(DeviceP1(), "Observation", Ids{"p1", "p1"}).ok());
}

TEST(CheckWriteContentTest, AnotherPatientIsRefusedWithoutNamingThem) {
  core::Status s = CheckWriteContent(DeviceP1(), "Observation", Ids{"patient-secret-42"});
  EXPECT_EQ(s.code(), core::Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("another patient"));
  EXPECT_THAT(s.message(), Not(HasSubstr("patient-secret-42")));
}

TEST(CheckWriteContentTest, OwnAndAnotherPatientIsRefused) {
  EXPECT_EQ(CheckWriteContent(DeviceP1(), "Observation", Ids{"p1", "p2"}).code(),
            core::Code::kPermissionDenied);
  EXPECT_EQ(CheckWriteContent(PatientP1(), "Observation", Ids{"p2", "p1"}).code(),
            core::Code::kPermissionDenied);
}

TEST(CheckWriteContentTest, ContentOfNoPatientIsRefused) {
  core::Status s = CheckWriteContent(DeviceP1(), "Observation", Ids{});
  EXPECT_EQ(s.code(), core::Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("no patient"));
}

TEST(CheckWriteContentTest, BindingWithoutAPatientWritesNothing) {
  Principal p = Make(Role::kDevice, "patient/Observation.crs", "");
  EXPECT_EQ(CheckWriteContent(p, "Observation", Ids{""}).code(), core::Code::kPermissionDenied);
  EXPECT_EQ(CheckWriteContent(p, "Observation", Ids{"p1"}).code(), core::Code::kPermissionDenied);
}

TEST(CheckWriteContentTest, DirectoryTypesAreNoExceptionForWrites) {
  // Visible to a bound principal, but it may not write one (it names no patient).
  EXPECT_EQ(CheckWriteContent(PatientP1(), "Organization", Ids{}).code(),
            core::Code::kPermissionDenied);
}

// ---------------------------------------------------------------------------------------------
// CheckAdministrator.

TEST(CheckAdministratorTest, AdminPasses) {
  EXPECT_TRUE(CheckAdministrator(Make(Role::kAdmin, "system/*.cruds"), "bulk export").ok());
}

TEST(CheckAdministratorTest, EveryOtherRoleIsRefusedWithItsRoleNamed) {
  for (Role role :
       {Role::kClinician, Role::kPatient, Role::kDevice, Role::kDispatcher, Role::kAnalyst}) {
    core::Status s = CheckAdministrator(Make(role, DefaultScopes(role), "p1"), "the audit log");
    EXPECT_EQ(s.code(), core::Code::kPermissionDenied) << RoleName(role);
    EXPECT_THAT(s.message(), HasSubstr("the audit log"));
    EXPECT_THAT(s.message(), HasSubstr(std::string(RoleName(role))));
  }
}

TEST(CheckAdministratorTest, ScopesDoNotMakeAnAdministrator) {
  // A clinician's wide scopes are not the admin role.
  Principal p = Make(Role::kClinician, "user/*.cruds patient/*.cruds");
  EXPECT_EQ(CheckAdministrator(p, "system history").code(), core::Code::kPermissionDenied);
}

// ---------------------------------------------------------------------------------------------
// CheckAuditLogReader.

TEST(CheckAuditLogReaderTest, AdminReadsTheWholeLogWhateverItsScopes) {
  Principal admin = Make(Role::kAdmin, "system/Patient.r");
  EXPECT_TRUE(CheckAuditLogReader(admin, /*by_id=*/true).ok());
  EXPECT_TRUE(CheckAuditLogReader(admin, /*by_id=*/false).ok());
}

TEST(CheckAuditLogReaderTest, PatientBoundTokenNamingAuditEventReadsItsOwnEntries) {
  EXPECT_TRUE(CheckAuditLogReader(PatientP1(), true).ok());
  EXPECT_TRUE(CheckAuditLogReader(PatientP1(), false).ok());
  EXPECT_TRUE(
      CheckAuditLogReader(Make(Role::kClinician, "patient/AuditEvent.rs", "p1"), false).ok());
}

TEST(CheckAuditLogReaderTest, ReadByIdAndSearchNeedTheirOwnLetters) {
  Principal read_only = Make(Role::kPatient, "patient/AuditEvent.r", "p1");
  EXPECT_TRUE(CheckAuditLogReader(read_only, true).ok());
  EXPECT_EQ(CheckAuditLogReader(read_only, false).code(), core::Code::kPermissionDenied);
  Principal search_only = Make(Role::kPatient, "patient/AuditEvent.s", "p1");
  EXPECT_EQ(CheckAuditLogReader(search_only, true).code(), core::Code::kPermissionDenied);
  EXPECT_TRUE(CheckAuditLogReader(search_only, false).ok());
}

TEST(CheckAuditLogReaderTest, PatientBoundTokenWithoutAuditEventScopeIsDenied) {
  Principal p = Make(Role::kPatient, "patient/Observation.rs", "p1");
  EXPECT_EQ(CheckAuditLogReader(p, true).code(), core::Code::kPermissionDenied);
  EXPECT_EQ(CheckAuditLogReader(p, false).code(), core::Code::kPermissionDenied);
  // The device ceiling names no AuditEvent.
  EXPECT_EQ(CheckAuditLogReader(DeviceP1(), false).code(), core::Code::kPermissionDenied);
}

TEST(CheckAuditLogReaderTest, UnboundNonAdminIsDeniedWhateverItsScopes) {
  core::Status s = CheckAuditLogReader(Clinician(), false);
  EXPECT_EQ(s.code(), core::Code::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("the audit log"));
  EXPECT_THAT(s.message(), HasSubstr("clinician"));
  Principal dispatcher = Make(Role::kDispatcher, DefaultScopes(Role::kDispatcher));
  EXPECT_EQ(CheckAuditLogReader(dispatcher, true).code(), core::Code::kPermissionDenied);
}

}  // namespace
}  // namespace medulla::security
