// Hospitals and ambulances read from FHIR resources (dispatch/fhir_mapping.h): a Location typed
// HOSP with a position, the capabilities its HealthcareServices offer, its ED status from a
// SANER-style MeasureReport, an ambulance from a Device, and the dispatch Task.
#include "dispatch/fhir_mapping.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json/parse.h"

namespace medulla::dispatch {
namespace {

json::Document Doc(std::string_view text) {
  auto doc = json::Parse(text);
  if (!doc) {
    ADD_FAILURE() << doc.error().message() << "\n" << text;
    return std::move(*json::Parse("{}"));
  }
  return std::move(*doc);
}

// --- HospitalFromLocation ---------------------------------------------------------------------

constexpr std::string_view kHospital = R"({
  "resourceType": "Location",
  "id": "h1",
  "status": "active",
  "name": "Hospital de Santo António",
  "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                        "code": "HOSP"}]}],
  "position": {"longitude": -8.6208, "latitude": 41.1471},
  "managingOrganization": {"reference": "Organization/chup"}
})";

TEST(HospitalFromLocationTest, ReadsAHospitalSite) {
  const auto doc = Doc(kHospital);
  const auto h = HospitalFromLocation(*doc.root(), "h1");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->id, "h1");
  EXPECT_EQ(h->name, "Hospital de Santo António");
  EXPECT_DOUBLE_EQ(h->where.lon, -8.6208);
  EXPECT_DOUBLE_EQ(h->where.lat, 41.1471);
  // Capabilities and status come from other resources.
  EXPECT_EQ(h->capabilities, 0u);
  EXPECT_EQ(h->status.reported_ms, 0);
}

TEST(HospitalFromLocationTest, TheIdIsTheOneGivenNotTheBodys) {
  const auto doc = Doc(kHospital);
  const auto h = HospitalFromLocation(*doc.root(), "other");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->id, "other");
}

TEST(HospitalFromLocationTest, ATypeCodingAmongOthersIsEnough) {
  const auto doc = Doc(R"({
    "resourceType": "Location",
    "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "22232009"}]},
             {"coding": [{"system": "http://example.org/x", "code": "ER"},
                         {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                          "code": "HOSP"}]}],
    "position": {"longitude": 1, "latitude": 2}
  })");
  const auto h = HospitalFromLocation(*doc.root(), "h");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->name, "");
  EXPECT_DOUBLE_EQ(h->where.lon, 1);
  EXPECT_DOUBLE_EQ(h->where.lat, 2);
}

TEST(HospitalFromLocationTest, TheHospTypeIsRequired) {
  for (std::string_view body : {
           // no type
           R"({"resourceType":"Location","position":{"longitude":1,"latitude":2}})",
           // another RoleCode
           R"({"resourceType":"Location","type":[{"coding":[{"system":
             "http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"ER"}]}],
             "position":{"longitude":1,"latitude":2}})",
           // HOSP of another system, or of none
           R"({"resourceType":"Location","type":[{"coding":[{"system":"http://example.org",
             "code":"HOSP"}]}],"position":{"longitude":1,"latitude":2}})",
           R"({"resourceType":"Location","type":[{"coding":[{"code":"HOSP"}]}],
             "position":{"longitude":1,"latitude":2}})",
           // only as text
           R"({"resourceType":"Location","type":[{"text":"HOSP"}],
             "position":{"longitude":1,"latitude":2}})",
       }) {
    const auto doc = Doc(body);
    EXPECT_FALSE(HospitalFromLocation(*doc.root(), "h").has_value()) << body;
  }
}

TEST(HospitalFromLocationTest, AnInactiveSiteIsExcludedOthersAreNot) {
  auto with_status = [](std::string_view status) {
    std::string body(kHospital);
    const std::string from = R"("status": "active")";
    body.replace(body.find(from), from.size(),
                 std::string(R"("status": ")") + std::string(status) + "\"");
    return body;
  };
  {
    const auto doc = Doc(with_status("inactive"));
    EXPECT_FALSE(HospitalFromLocation(*doc.root(), "h1").has_value());
  }
  {
    // Suspended (temporarily closed) is "not inactive" as the header words it.
    const auto doc = Doc(with_status("suspended"));
    EXPECT_TRUE(HospitalFromLocation(*doc.root(), "h1").has_value());
  }
  {
    const auto doc = Doc(R"({"resourceType":"Location","type":[{"coding":[{"system":
      "http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"HOSP"}]}],
      "position":{"longitude":1,"latitude":2}})");
    EXPECT_TRUE(HospitalFromLocation(*doc.root(), "h").has_value()) << "no status: included";
  }
}

TEST(HospitalFromLocationTest, AMissingOrInvalidPositionExcludesTheSite) {
  const std::string type = R"("type":[{"coding":[{"system":
      "http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"HOSP"}]}])";
  for (std::string_view position : {
           R"()",
           R"(,"position":null)",
           R"(,"position":[1,2])",
           R"(,"position":{})",
           R"(,"position":{"longitude":1})",
           R"(,"position":{"latitude":2})",
           R"(,"position":{"longitude":"1","latitude":"2"})",
           R"(,"position":{"longitude":1,"latitude":null})",
           R"(,"position":{"longitude":true,"latitude":2})",
           R"(,"position":{"longitude":1e400,"latitude":2})",
       }) {
    const std::string body = R"({"resourceType":"Location",)" + type + std::string(position) + "}";
    const auto doc = Doc(body);
    EXPECT_FALSE(HospitalFromLocation(*doc.root(), "h").has_value()) << body;
  }
}

// --- OfferFromHealthcareService ---------------------------------------------------------------

std::string Concepts(std::string_view system, std::vector<std::string_view> codes) {
  std::string out = "[";
  for (size_t i = 0; i < codes.size(); ++i) {
    out += (i ? "," : "") + std::string(R"({"coding":[{"system":")") + std::string(system) +
           R"(","code":")" + std::string(codes[i]) + R"("}]})";
  }
  return out + "]";
}

TEST(OfferFromHealthcareServiceTest, CapabilitiesFromTypeSpecialtyCharacteristicAndCategory) {
  const std::string body = R"({"resourceType":"HealthcareService","active":true,)"
                           R"("location":[{"reference":"Location/h1"}],)"
                           R"("type":)" +
                           Concepts(kCapabilitySystem, {"stroke-unit"}) + R"(,"specialty":)" +
                           Concepts(kCapabilitySystem, {"thrombectomy", "pci"}) +
                           R"(,"characteristic":)" +
                           Concepts(kCapabilitySystem, {"trauma-level-1"}) + R"(,"category":)" +
                           Concepts(kCapabilitySystem, {"paediatrics"}) + "}";
  const auto doc = Doc(body);
  const auto offer = OfferFromHealthcareService(*doc.root());
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->locations, std::vector<std::string>{"h1"});
  EXPECT_EQ(offer->capabilities, kStrokeUnit | kThrombectomy | kPci | kTraumaLevel1 | kPaediatrics);
}

TEST(OfferFromHealthcareServiceTest, EachFieldAloneCounts) {
  for (std::string_view field : {"type", "specialty", "characteristic", "category"}) {
    const std::string body = R"({"resourceType":"HealthcareService",)"
                             R"("location":[{"reference":"Location/h1"}],")" +
                             std::string(field) + R"(":)" + Concepts(kCapabilitySystem, {"burns"}) +
                             "}";
    const auto doc = Doc(body);
    const auto offer = OfferFromHealthcareService(*doc.root());
    ASSERT_TRUE(offer.has_value()) << field;
    EXPECT_EQ(offer->capabilities, kBurns) << field;
  }
}

TEST(OfferFromHealthcareServiceTest, EveryCapabilityCodeIsRead) {
  for (Capability c : AllCapabilities()) {
    const std::string body = R"({"resourceType":"HealthcareService",)"
                             R"("location":[{"reference":"Location/h1"}],"type":)" +
                             Concepts(kCapabilitySystem, {CapabilityCode(c)}) + "}";
    const auto doc = Doc(body);
    const auto offer = OfferFromHealthcareService(*doc.root());
    ASSERT_TRUE(offer.has_value());
    EXPECT_EQ(offer->capabilities, static_cast<uint32_t>(c)) << CapabilityCode(c);
  }
}

TEST(OfferFromHealthcareServiceTest, CodesOfOtherSystemsAndUnknownCodesAreIgnored) {
  const std::string body =
      R"({"resourceType":"HealthcareService","location":[{"reference":"Location/h1"}],)"
      R"("type":)" +
      Concepts("http://snomed.info/sct", {"stroke-unit", "pci"}) +
      R"(,"specialty":[{"coding":[{"code":"thrombectomy"},)"
      R"({"system":"https://medulla.health/fhir/CodeSystem/hospital-capability","code":"maternity"},)"
      R"({"system":"https://medulla.health/fhir/CodeSystem/hospital-capability","code":"cardiology"},)"
      R"({"system":"https://medulla.health/fhir/CodeSystem/hospital-capability","code":"Burns"}]}]})";
  const auto doc = Doc(body);
  const auto offer = OfferFromHealthcareService(*doc.root());
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->capabilities, kMaternity);
}

TEST(OfferFromHealthcareServiceTest, AServiceWithoutCapabilitiesStillNamesItsLocations) {
  const auto doc = Doc(R"({"resourceType":"HealthcareService",
    "location":[{"reference":"Location/a"},{"reference":"Location/b"}]})");
  const auto offer = OfferFromHealthcareService(*doc.root());
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->locations, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(offer->capabilities, 0u);
}

TEST(OfferFromHealthcareServiceTest, AnInactiveServiceOffersNothing) {
  const std::string body = R"({"resourceType":"HealthcareService","active":false,)"
                           R"("location":[{"reference":"Location/h1"}],"type":)" +
                           Concepts(kCapabilitySystem, {"pci"}) + "}";
  const auto doc = Doc(body);
  EXPECT_FALSE(OfferFromHealthcareService(*doc.root()).has_value());
}

TEST(OfferFromHealthcareServiceTest, ReferencesOfOtherTypesOrAbsoluteUrlsAreIgnored) {
  const std::string body = R"({"resourceType":"HealthcareService","location":[)"
                           R"({"reference":"Organization/h1"},)"
                           R"({"reference":"https://other.example/fhir/Location/h2"},)"
                           R"({"reference":"Location/h3/_history/2"},)"
                           R"({"reference":"#contained"},)"
                           R"({"identifier":{"value":"h4"}},)"
                           R"("Location/h5",)"
                           R"({"reference":"Location/h6"}],"type":)" +
                           Concepts(kCapabilitySystem, {"pci"}) + "}";
  const auto doc = Doc(body);
  const auto offer = OfferFromHealthcareService(*doc.root());
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->locations, std::vector<std::string>{"h6"});
  EXPECT_EQ(offer->capabilities, kPci);
}

TEST(OfferFromHealthcareServiceTest, NoLocalLocationMeansNoOffer) {
  for (std::string_view body : {
           R"({"resourceType":"HealthcareService"})",
           R"({"resourceType":"HealthcareService","location":[]})",
           R"({"resourceType":"HealthcareService","location":{"reference":"Location/h1"}})",
           R"({"resourceType":"HealthcareService","location":[{"reference":"Organization/o"},
               {"reference":"http://x.example/Location/h1"}]})",
       }) {
    const auto doc = Doc(body);
    EXPECT_FALSE(OfferFromHealthcareService(*doc.root()).has_value()) << body;
  }
}

// --- StatusFromMeasureReport ------------------------------------------------------------------

constexpr int64_t kJune1At10 = 1'748'772'000'000;  // 2025-06-01T10:00:00Z, ms

std::string Population(std::string_view system, std::string_view code, std::string_view count) {
  return std::string(R"({"code":{"coding":[{"system":")") + std::string(system) + R"(","code":")" +
         std::string(code) + R"("}]},"count":)" + std::string(count) + "}";
}

std::string Report(std::string_view head, const std::vector<std::string>& populations) {
  std::string out =
      R"({"resourceType":"MeasureReport",)" + std::string(head) + R"(,"group":[{"population":[)";
  for (size_t i = 0; i < populations.size(); ++i) out += (i ? "," : "") + populations[i];
  return out + "]}]}";
}

constexpr std::string_view kHead =
    R"("status":"complete","type":"summary","measure":"http://example.org/Measure/ed",)"
    R"("subject":{"reference":"Location/h1"},"date":"2025-06-01T10:00:00Z",)"
    R"("period":{"start":"2025-06-01T09:00:00Z","end":"2025-06-01T09:30:00Z"})";

TEST(StatusFromMeasureReportTest, ReadsTheEdStatusCodes) {
  const auto doc = Doc(Report(kHead, {
                                         Population(kEdStatusSystem, "edPatients", "42"),
                                         Population(kEdStatusSystem, "edBeds", "30"),
                                         Population(kEdStatusSystem, "edWaiting", "12"),
                                         Population(kEdStatusSystem, "edWaitMinutes", "95"),
                                         Population(kEdStatusSystem, "diversion", "1"),
                                     }));
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->location, "h1");
  const HospitalStatus& s = r->status;
  EXPECT_EQ(s.reported_ms, kJune1At10);
  EXPECT_EQ(s.ed_patients, 42);
  EXPECT_EQ(s.ed_beds, 30);
  EXPECT_EQ(s.ed_waiting, 12);
  EXPECT_EQ(s.ed_wait_min, 95);
  EXPECT_TRUE(s.diversion);
  EXPECT_TRUE(s.beds.empty());
}

TEST(StatusFromMeasureReportTest, DiversionZeroIsNoDiversionAndAbsentCodesStayUnknown) {
  const auto doc = Doc(Report(kHead, {Population(kEdStatusSystem, "diversion", "0"),
                                      Population(kEdStatusSystem, "edBeds", "30")}));
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->status.diversion);
  EXPECT_EQ(r->status.ed_beds, 30);
  EXPECT_FALSE(r->status.ed_patients.has_value());
  EXPECT_FALSE(r->status.ed_waiting.has_value());
  EXPECT_FALSE(r->status.ed_wait_min.has_value());
}

TEST(StatusFromMeasureReportTest, SanerBedCountsAreKeptInOrder) {
  const auto doc = Doc(Report(kHead, {Population(kSanerMeasuredValues, "numICUBedsAvail", "3"),
                                      Population(kEdStatusSystem, "edBeds", "30"),
                                      Population(kSanerMeasuredValues, "numVentAvail", "7.5"),
                                      Population("http://example.org/other", "numBeds", "99")}));
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  const std::vector<std::pair<std::string, double>> expected{{"numICUBedsAvail", 3},
                                                             {"numVentAvail", 7.5}};
  EXPECT_EQ(r->status.beds, expected);
  EXPECT_EQ(r->status.ed_beds, 30);
}

TEST(StatusFromMeasureReportTest, EdCodesOfAnotherSystemAreIgnored) {
  const auto doc = Doc(Report(kHead, {Population("http://example.org", "edPatients", "42"),
                                      Population(kSanerMeasuredValues, "diversion", "1")}));
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->status.ed_patients.has_value());
  EXPECT_FALSE(r->status.diversion);
}

TEST(StatusFromMeasureReportTest, PopulationsAcrossGroupsAreRead) {
  const std::string body = R"({"resourceType":"MeasureReport",)" + std::string(kHead) +
                           R"(,"group":[)" + R"({"population":[)" +
                           Population(kEdStatusSystem, "edPatients", "10") + "]}," +
                           R"("not a group",{"population":"nope"},)" + R"({"population":[)" +
                           Population(kEdStatusSystem, "edBeds", "20") + "]}]}";
  const auto doc = Doc(body);
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.ed_patients, 10);
  EXPECT_EQ(r->status.ed_beds, 20);
}

TEST(StatusFromMeasureReportTest, AReportWithoutGroupsStillDatesTheStatus) {
  const auto doc = Doc(R"({"resourceType":"MeasureReport",)" + std::string(kHead) + "}");
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.reported_ms, kJune1At10);
  EXPECT_FALSE(r->status.ed_patients.has_value());
}

TEST(StatusFromMeasureReportTest, OnlyACompleteReportCounts) {
  for (std::string_view status : {"pending", "error", "", "Complete"}) {
    std::string head(kHead);
    head.replace(head.find("complete"), 8, status);
    const auto doc = Doc(Report(head, {Population(kEdStatusSystem, "edPatients", "1")}));
    EXPECT_FALSE(StatusFromMeasureReport(*doc.root()).has_value()) << status;
  }
  const auto doc = Doc(R"({"resourceType":"MeasureReport","subject":{"reference":"Location/h"},
                           "date":"2025-06-01T10:00:00Z"})");
  EXPECT_FALSE(StatusFromMeasureReport(*doc.root()).has_value()) << "no status";
}

TEST(StatusFromMeasureReportTest, TheDateWinsOverThePeriodsEnd) {
  const auto doc = Doc(Report(kHead, {}));
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.reported_ms, kJune1At10);
}

TEST(StatusFromMeasureReportTest, WithoutADateThePeriodsEndDatesTheReport) {
  const auto doc = Doc(R"({"resourceType":"MeasureReport","status":"complete",
    "subject":{"reference":"Location/h1"},
    "period":{"start":"2025-06-01T09:00:00Z","end":"2025-06-01T11:00:00+01:00"}})");
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.reported_ms, kJune1At10);
}

TEST(StatusFromMeasureReportTest, TheDateKeepsItsMilliseconds) {
  const auto doc = Doc(R"({"resourceType":"MeasureReport","status":"complete",
    "subject":{"reference":"Location/h1"},"date":"2025-06-01T10:00:00.250Z"})");
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.reported_ms, kJune1At10 + 250);
}

TEST(StatusFromMeasureReportTest, NoValidDateNorPeriodEndMeansNoStatus) {
  for (std::string_view when : {
           R"()",
           R"(,"date":"yesterday")",
           R"(,"date":"2025-13-01T10:00:00Z")",
           R"(,"period":{"start":"2025-06-01T09:00:00Z"})",
           R"(,"period":{"end":"soon"})",
           R"(,"period":"2025-06-01T09:00:00Z")",
       }) {
    const std::string body = R"({"resourceType":"MeasureReport","status":"complete",)"
                             R"("subject":{"reference":"Location/h1"})" +
                             std::string(when) + "}";
    const auto doc = Doc(body);
    EXPECT_FALSE(StatusFromMeasureReport(*doc.root()).has_value()) << body;
  }
}

TEST(StatusFromMeasureReportTest, NegativeOrNonNumericCountsAreIgnored) {
  const auto doc = Doc(Report(kHead, {
                                         Population(kEdStatusSystem, "edPatients", "-1"),
                                         Population(kEdStatusSystem, "edBeds", R"("30")"),
                                         Population(kEdStatusSystem, "edWaiting", "null"),
                                         Population(kEdStatusSystem, "diversion", "-1"),
                                         Population(kSanerMeasuredValues, "numICUBedsAvail", "-3"),
                                         Population(kEdStatusSystem, "edWaitMinutes", "0"),
                                     }));
  const auto r = StatusFromMeasureReport(*doc.root());
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->status.ed_patients.has_value());
  EXPECT_FALSE(r->status.ed_beds.has_value());
  EXPECT_FALSE(r->status.ed_waiting.has_value());
  EXPECT_FALSE(r->status.diversion);
  EXPECT_TRUE(r->status.beds.empty());
  EXPECT_EQ(r->status.ed_wait_min, 0) << "zero is a count";
}

TEST(StatusFromMeasureReportTest, ASubjectThatIsNotALocalLocationMeansNoStatus) {
  for (std::string_view subject : {
           R"()",
           R"(,"subject":{"reference":"Organization/h1"})",
           R"(,"subject":{"reference":"Group/h1"})",
           R"(,"subject":{"reference":"https://other.example/fhir/Location/h1"})",
           R"(,"subject":{"identifier":{"value":"h1"}})",
           R"(,"subject":"Location/h1")",
       }) {
    const std::string body = R"({"resourceType":"MeasureReport","status":"complete",)"
                             R"("date":"2025-06-01T10:00:00Z")" +
                             std::string(subject) + "}";
    const auto doc = Doc(body);
    EXPECT_FALSE(StatusFromMeasureReport(*doc.root()).has_value()) << body;
  }
}

// --- AmbulanceFromDevice ----------------------------------------------------------------------

std::string Device(std::string_view extra) {
  return std::string(
             R"({"resourceType":"Device","status":"active",)"
             R"("type":{"coding":[{"system":"https://medulla.health/fhir/CodeSystem/device-kind",)"
             R"("code":"ambulance"}]},"deviceName":[{"name":"INEM Porto 3","type":"user-friendly-name"}])") +
         std::string(extra) + "}";
}

std::string StatusExtension(std::string_view code) {
  return std::string(
             R"(,"extension":[{"url":"https://medulla.health/fhir/StructureDefinition/ambulance-status","valueCode":")") +
         std::string(code) + R"("}])";
}

TEST(AmbulanceFromDeviceTest, AnAmbulanceWithoutStatusExtensionIsAvailable) {
  const auto doc = Doc(Device(""));
  const auto a = AmbulanceFromDevice(*doc.root(), "amb3");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->id, "amb3");
  EXPECT_EQ(a->name, "INEM Porto 3");
  EXPECT_EQ(a->status, AmbulanceStatus::kAvailable);
  EXPECT_FALSE(a->where.has_value()) << "positions come from reports, not FHIR";
  EXPECT_EQ(a->position_ms, 0);
}

TEST(AmbulanceFromDeviceTest, TheTypeMayBeAnArrayOfConcepts) {
  // Device.type is 0..* in R5.
  const auto doc = Doc(R"({"resourceType":"Device","type":[
    {"coding":[{"system":"http://snomed.info/sct","code":"49062001"}]},
    {"coding":[{"system":"https://medulla.health/fhir/CodeSystem/device-kind","code":"ambulance"}]}]})");
  const auto a = AmbulanceFromDevice(*doc.root(), "x");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->name, "");
  EXPECT_EQ(a->status, AmbulanceStatus::kAvailable);
}

TEST(AmbulanceFromDeviceTest, TheAmbulanceTypeIsRequired) {
  for (std::string_view body : {
           R"({"resourceType":"Device"})",
           R"({"resourceType":"Device","type":{"coding":[{"system":
               "https://medulla.health/fhir/CodeSystem/device-kind","code":"helicopter"}]}})",
           R"({"resourceType":"Device","type":{"coding":[{"system":"http://example.org",
               "code":"ambulance"}]}})",
           R"({"resourceType":"Device","type":{"text":"ambulance"}})",
       }) {
    const auto doc = Doc(body);
    EXPECT_FALSE(AmbulanceFromDevice(*doc.root(), "x").has_value()) << body;
  }
}

TEST(AmbulanceFromDeviceTest, EveryStatusCodeOfTheExtensionIsRead) {
  for (AmbulanceStatus s :
       {AmbulanceStatus::kAvailable, AmbulanceStatus::kDispatched, AmbulanceStatus::kEnRoute,
        AmbulanceStatus::kOnScene, AmbulanceStatus::kTransporting, AmbulanceStatus::kAtHospital,
        AmbulanceStatus::kOutOfService}) {
    const auto doc = Doc(Device(StatusExtension(AmbulanceStatusCode(s))));
    const auto a = AmbulanceFromDevice(*doc.root(), "x");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->status, s) << AmbulanceStatusCode(s);
  }
}

TEST(AmbulanceFromDeviceTest, AnUnknownStatusCodeIsOutOfService) {
  for (std::string_view code : {"parked", "", "Available", "en_route"}) {
    const auto doc = Doc(Device(StatusExtension(code)));
    const auto a = AmbulanceFromDevice(*doc.root(), "x");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->status, AmbulanceStatus::kOutOfService) << code;
  }
  // The extension with a value of another type: no code.
  const auto doc = Doc(Device(
      R"(,"extension":[{"url":"https://medulla.health/fhir/StructureDefinition/ambulance-status","valueString":"available"}])"));
  const auto a = AmbulanceFromDevice(*doc.root(), "x");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->status, AmbulanceStatus::kOutOfService);
}

TEST(AmbulanceFromDeviceTest, OtherExtensionsAreIgnored) {
  const auto doc = Doc(Device(
      R"(,"extension":[{"url":"http://example.org/status","valueCode":"on-scene"},)"
      R"({"url":"https://medulla.health/fhir/StructureDefinition/ambulance-status","valueCode":"en-route"},)"
      R"("junk",{"url":"http://example.org/other","valueCode":"parked"}])"));
  const auto a = AmbulanceFromDevice(*doc.root(), "x");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->status, AmbulanceStatus::kEnRoute);
}

TEST(AmbulanceFromDeviceTest, AnInactiveOrEnteredInErrorDeviceIsOutOfService) {
  for (std::string_view status : {"inactive", "entered-in-error"}) {
    std::string body = Device(StatusExtension("available"));
    body.replace(body.find("active"), 6, status);
    const auto doc = Doc(body);
    const auto a = AmbulanceFromDevice(*doc.root(), "x");
    ASSERT_TRUE(a.has_value()) << status;
    EXPECT_EQ(a->status, AmbulanceStatus::kOutOfService) << status;
  }
  // An active (or unknown) Device keeps the extension's status.
  for (std::string_view status : {"active", "unknown"}) {
    std::string body = Device(StatusExtension("on-scene"));
    body.replace(body.find("active"), 6, status);
    const auto doc = Doc(body);
    const auto a = AmbulanceFromDevice(*doc.root(), "x");
    ASSERT_TRUE(a.has_value()) << status;
    EXPECT_EQ(a->status, AmbulanceStatus::kOnScene) << status;
  }
}

// --- IsDispatchTask ---------------------------------------------------------------------------

TEST(IsDispatchTaskTest, TheDispatchCodeMakesADispatchTask) {
  const auto yes = Doc(R"({"resourceType":"Task","status":"in-progress","code":{"coding":[
    {"system":"http://example.org","code":"x"},
    {"system":"https://medulla.health/fhir/CodeSystem/dispatch","code":"ambulance-dispatch"}]}})");
  EXPECT_TRUE(IsDispatchTask(*yes.root()));
  for (std::string_view body : {
           R"({"resourceType":"Task"})",
           R"({"resourceType":"Task","code":{"text":"ambulance-dispatch"}})",
           R"({"resourceType":"Task","code":{"coding":[{"system":
               "https://medulla.health/fhir/CodeSystem/dispatch","code":"destination"}]}})",
           R"({"resourceType":"Task","code":{"coding":[{"system":"http://example.org",
               "code":"ambulance-dispatch"}]}})",
           R"({"resourceType":"Task","code":{"coding":[{"code":"ambulance-dispatch"}]}})",
       }) {
    const auto doc = Doc(body);
    EXPECT_FALSE(IsDispatchTask(*doc.root())) << body;
  }
}

// --- LocalId ----------------------------------------------------------------------------------

// The reference parsed inside an array, so that it may be any JSON value.
std::optional<std::string> IdOf(std::string_view reference_json, std::string_view type) {
  const auto doc = Doc("[" + std::string(reference_json) + "]");
  return LocalId(doc.root()->items()[0], type);
}

TEST(LocalIdTest, ARelativeReferenceToTheTypeGivesItsId) {
  EXPECT_EQ(IdOf(R"({"reference":"Location/123"})", "Location"), "123");
  EXPECT_EQ(IdOf(R"({"reference":"Device/amb-3.a","display":"x"})", "Device"), "amb-3.a");
}

TEST(LocalIdTest, AnythingElseIsNotALocalReference) {
  for (std::string_view ref : {
           R"({"reference":"Organization/123"})",
           R"({"reference":"Location"})",
           R"({"reference":"Location/"})",
           R"({"reference":"LocationX/1"})",
           R"({"reference":"location/1"})",
           R"({"reference":"Locatio"})",
           R"({"reference":"http://example.org/fhir/Location/1"})",
           R"({"reference":"Location/1/_history/2"})",
           R"({"reference":"#loc1"})",
           R"({"reference":""})",
           R"({"reference":42})",
           R"({"identifier":{"value":"1"}})",
           R"("Location/1")",
           R"(null)",
       }) {
    EXPECT_FALSE(IdOf(ref, "Location").has_value()) << ref;
  }
  EXPECT_FALSE(LocalId(nullptr, "Location").has_value());
}

}  // namespace
}  // namespace medulla::dispatch
