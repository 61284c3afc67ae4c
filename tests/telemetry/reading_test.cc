// The compact device reading: parsing, unit conversion to the canonical unit through UCUM, and
// the refusals a device integrator sees.
#include "telemetry/reading.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace medulla::telemetry {
namespace {

using core::Code;
using monitor::Vital;

constexpr int64_t kT = 1'795'248'000'000;  // 2026-11-21T08:00:00Z
constexpr int64_t kNow = kT + 60'000;

constexpr char kExample[] =
    R"({"patient":"Patient/ID","device":"Device/ID","code":"8867-4",)"
    R"("time":"2026-11-21T08:00:00Z","value":88,"unit":"/min","rr":[812,798],"quality":0.93})";

// A line with one field replaced (or removed when `value` is empty).
std::string Line(const std::string& code, const std::string& value, const std::string& unit,
                 const std::string& time = "2026-11-21T08:00:00Z", const std::string& extra = "") {
  std::string s = R"({"patient":"Patient/p1","device":"Device/d1","code":")" + code +
                  R"(","time":")" + time + R"(","value":)" + value + R"(,"unit":")" + unit + "\"";
  return s + extra + "}";
}

Code CodeOf(const core::Result<DeviceReading>& r) {
  return r.has_value() ? Code::kOk : r.error().code();
}

TEST(ParseReading, IssueExampleParses) {
  auto r = ParseReading(kExample, kNow);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->patient, "ID");
  EXPECT_EQ(r->device, "ID");
  EXPECT_EQ(r->vital, Vital::kHeartRate);
  EXPECT_EQ(r->time_ms, kT);
  EXPECT_DOUBLE_EQ(r->value, 88);
  EXPECT_FLOAT_EQ(r->quality, 0.93F);
  EXPECT_EQ(r->rr_ms, (std::vector<uint16_t>{812, 798}));
}

TEST(ParseReading, PrefixesAreOptionalAndIdsChecked) {
  auto bare = ParseReading(
      R"({"patient":"abc-1.2","device":"dev9","code":"8867-4","time":"2026-11-21T08:00:00Z","value":70,"unit":"/min"})",
      kNow);
  ASSERT_TRUE(bare.has_value()) << bare.error().message();
  EXPECT_EQ(bare->patient, "abc-1.2");
  EXPECT_EQ(bare->device, "dev9");
  EXPECT_TRUE(std::isnan(bare->quality));
  EXPECT_TRUE(bare->rr_ms.empty());
  // Wrong resource type, empty id, bad characters.
  for (const char* patient : {"Device/abc", "Patient/", "Patient/a b", "Patient/a/b", ""}) {
    auto r = ParseReading(
        std::string(R"({"patient":")") + patient +
            R"(","device":"Device/d","code":"8867-4","time":"2026-11-21T08:00:00Z","value":70,"unit":"/min"})",
        kNow);
    EXPECT_EQ(CodeOf(r), Code::kInvalidArgument) << patient;
  }
  auto dev = ParseReading(
      R"({"patient":"Patient/p","device":"Patient/d","code":"8867-4","time":"2026-11-21T08:00:00Z","value":70,"unit":"/min"})",
      kNow);
  EXPECT_EQ(CodeOf(dev), Code::kInvalidArgument);
}

TEST(ParseReading, ConvertsUnitsToCanonical) {
  auto f = ParseReading(Line("8310-5", "98.6", "[degF]"), kNow);
  ASSERT_TRUE(f.has_value()) << f.error().message();
  EXPECT_EQ(f->vital, Vital::kTemperature);
  EXPECT_NEAR(f->value, 37.0, 1e-9);

  auto kpa = ParseReading(Line("8480-6", "16", "kPa"), kNow);
  ASSERT_TRUE(kpa.has_value()) << kpa.error().message();
  EXPECT_EQ(kpa->vital, Vital::kSystolicBp);
  EXPECT_NEAR(kpa->value, 16000 / 133.322, 1e-9);  // UCUM: m[Hg] = 133.3220 kPa

  auto frac = ParseReading(Line("59408-5", "0.97", "1"), kNow);
  ASSERT_TRUE(frac.has_value()) << frac.error().message();
  EXPECT_EQ(frac->vital, Vital::kSpO2);
  EXPECT_NEAR(frac->value, 97.0, 1e-9);

  auto beats = ParseReading(Line("8867-4", "72", "{beats}/min"), kNow);
  ASSERT_TRUE(beats.has_value()) << beats.error().message();
  EXPECT_DOUBLE_EQ(beats->value, 72);

  auto alt = ParseReading(Line("2708-6", "95", "%"), kNow);  // the profile's SpO2 code
  ASSERT_TRUE(alt.has_value()) << alt.error().message();
  EXPECT_EQ(alt->vital, Vital::kSpO2);
}

TEST(ToCanonicalUnit, DirectConversions) {
  EXPECT_NEAR(*ToCanonicalUnit(Vital::kTemperature, 98.6, "[degF]"), 37.0, 1e-9);
  EXPECT_NEAR(*ToCanonicalUnit(Vital::kTemperature, 310.15, "K"), 37.0, 1e-9);
  EXPECT_DOUBLE_EQ(*ToCanonicalUnit(Vital::kTemperature, 37.2, "Cel"), 37.2);
  EXPECT_NEAR(*ToCanonicalUnit(Vital::kSpO2, 0.97, "1"), 97.0, 1e-9);
  EXPECT_DOUBLE_EQ(*ToCanonicalUnit(Vital::kRespiratoryRate, 18, "{breaths}/min"), 18);
  EXPECT_NEAR(*ToCanonicalUnit(Vital::kHeartRate, 1.2, "/s"), 72.0, 1e-9);
  // Wrong dimension.
  EXPECT_FALSE(ToCanonicalUnit(Vital::kTemperature, 37, "mm[Hg]"));
  EXPECT_FALSE(ToCanonicalUnit(Vital::kSystolicBp, 120, "kg"));
  EXPECT_FALSE(ToCanonicalUnit(Vital::kHeartRate, 70, "not a unit"));
  EXPECT_FALSE(ToCanonicalUnit(Vital::kSpO2, 97, "/min"));
}

TEST(ParseReading, UnconvertibleUnitIsRefused) {
  auto r = ParseReading(Line("8310-5", "37", "mm[Hg]"), kNow);
  EXPECT_EQ(CodeOf(r), Code::kUnprocessable);
}

TEST(ParseReading, UnknownLoincIsUnprocessable) {
  auto r = ParseReading(Line("2345-7", "5.4", "mmol/L"), kNow);  // glucose
  ASSERT_EQ(CodeOf(r), Code::kUnprocessable);
  EXPECT_NE(r.error().message().find("2345-7"), std::string::npos) << r.error().message();
}

TEST(ParseReading, ImplausibleValuesAreRefusedNamingTheVital) {
  auto hr = ParseReading(Line("8867-4", "900", "/min"), kNow);
  ASSERT_EQ(CodeOf(hr), Code::kUnprocessable);
  EXPECT_NE(hr.error().message().find("heart_rate"), std::string::npos) << hr.error().message();
  auto spo2 = ParseReading(Line("59408-5", "140", "%"), kNow);
  ASSERT_EQ(CodeOf(spo2), Code::kUnprocessable);
  EXPECT_NE(spo2.error().message().find("spo2"), std::string::npos) << spo2.error().message();
  // Fahrenheit sent as Celsius.
  auto temp = ParseReading(Line("8310-5", "98.6", "Cel"), kNow);
  ASSERT_EQ(CodeOf(temp), Code::kUnprocessable);
  EXPECT_NE(temp.error().message().find("temperature"), std::string::npos);
  // The boundaries themselves are plausible.
  EXPECT_EQ(CodeOf(ParseReading(Line("59408-5", "100", "%"), kNow)), Code::kOk);
  EXPECT_EQ(CodeOf(ParseReading(Line("8867-4", "350", "/min"), kNow)), Code::kOk);
}

TEST(ParseReading, BadTimeIsInvalid) {
  for (const char* t :
       {"yesterday", "2026-11-21", "2026-13-01T08:00:00Z", "2026-11-21T25:00:00Z", ""}) {
    EXPECT_EQ(CodeOf(ParseReading(Line("8867-4", "70", "/min", t), kNow)), Code::kInvalidArgument)
        << t;
  }
  auto with_offset = ParseReading(Line("8867-4", "70", "/min", "2026-11-21T09:00:00+01:00"), kNow);
  ASSERT_TRUE(with_offset.has_value()) << with_offset.error().message();
  EXPECT_EQ(with_offset->time_ms, kT);
  auto millis = ParseReading(Line("8867-4", "70", "/min", "2026-11-21T08:00:00.250Z"), kNow);
  ASSERT_TRUE(millis.has_value()) << millis.error().message();
  EXPECT_EQ(millis->time_ms, kT + 250);
}

TEST(ParseReading, FutureTimeBeyondTenMinutesIsRefused) {
  const std::string line = Line("8867-4", "70", "/min");
  EXPECT_EQ(CodeOf(ParseReading(line, kT - 10 * 60'000)), Code::kOk);
  EXPECT_EQ(CodeOf(ParseReading(line, kT - 10 * 60'000 - 1)), Code::kUnprocessable);
  ReadingLimits strict;
  strict.max_future_ms = 0;
  EXPECT_EQ(CodeOf(ParseReading(line, kT - 1, strict)), Code::kUnprocessable);
}

TEST(ParseReading, MissingFieldsAreInvalid) {
  const std::string full = Line("8867-4", "70", "/min");
  for (const char* field : {"patient", "device", "code", "time", "value", "unit"}) {
    // Rename the key so the field is missing.
    std::string line = full;
    const std::string key = std::string("\"") + field + "\"";
    const auto at = line.find(key);
    ASSERT_NE(at, std::string::npos);
    line.replace(at, key.size(), std::string("\"x") + field + "\"");
    auto r = ParseReading(line, kNow);
    EXPECT_EQ(CodeOf(r), Code::kInvalidArgument) << field;
  }
  // Wrong types.
  EXPECT_EQ(CodeOf(ParseReading(Line("8867-4", "\"70\"", "/min"), kNow)), Code::kInvalidArgument);
  EXPECT_EQ(
      CodeOf(ParseReading(
          R"({"patient":1,"device":"d","code":"8867-4","time":"2026-11-21T08:00:00Z","value":70,"unit":"/min"})",
          kNow)),
      Code::kInvalidArgument);
}

TEST(ParseReading, NonJsonAndNonObjectsAreInvalid) {
  for (const char* line : {"", "not json", "{\"patient\":", "[1,2]", "42", "null"}) {
    EXPECT_EQ(CodeOf(ParseReading(line, kNow)), Code::kInvalidArgument) << line;
  }
}

TEST(ParseReading, TooLongLineIsInvalid) {
  ReadingLimits limits;
  const std::string ok = Line("8867-4", "70", "/min");
  limits.max_line_bytes = ok.size();
  EXPECT_EQ(CodeOf(ParseReading(ok, kNow, limits)), Code::kOk);
  const std::string padded = ok + std::string(1, ' ');
  EXPECT_EQ(CodeOf(ParseReading(padded, kNow, limits)), Code::kInvalidArgument);
  // The default limit.
  const std::string huge = Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z",
                                ",\"pad\":\"" + std::string(5000, 'a') + "\"");
  EXPECT_EQ(CodeOf(ParseReading(huge, kNow)), Code::kInvalidArgument);
}

TEST(ParseReading, RrIntervalsAreValidated) {
  auto ok = ParseReading(
      Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z", R"(,"rr":[200,3000])"), kNow);
  ASSERT_TRUE(ok.has_value()) << ok.error().message();
  EXPECT_EQ(ok->rr_ms, (std::vector<uint16_t>{200, 3000}));
  EXPECT_EQ(CodeOf(ParseReading(Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z", R"(,"rr":[])"),
                                kNow)),
            Code::kOk);
  for (const char* rr :
       {R"(,"rr":[199])", R"(,"rr":[3001])", R"(,"rr":[-5])", R"(,"rr":["800"])"}) {
    EXPECT_EQ(CodeOf(ParseReading(Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z", rr), kNow)),
              Code::kUnprocessable)
        << rr;
  }
  EXPECT_EQ(CodeOf(ParseReading(
                Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z", R"(,"rr":800)"), kNow)),
            Code::kInvalidArgument);
  ReadingLimits limits;
  limits.max_rr = 2;
  EXPECT_EQ(CodeOf(ParseReading(
                Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z", R"(,"rr":[800,800])"), kNow,
                limits)),
            Code::kOk);
  EXPECT_EQ(CodeOf(ParseReading(
                Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z", R"(,"rr":[800,800,800])"),
                kNow, limits)),
            Code::kInvalidArgument);
}

TEST(ParseReading, QualityMustBeZeroToOne) {
  for (const char* q : {"0", "1", "0.5"}) {
    auto r = ParseReading(
        Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z", std::string(",\"quality\":") + q),
        kNow);
    ASSERT_TRUE(r.has_value()) << q;
    EXPECT_FLOAT_EQ(r->quality, std::stof(q));
  }
  for (const char* q : {"-0.01", "1.01", "\"high\"", "null"}) {
    EXPECT_EQ(CodeOf(ParseReading(Line("8867-4", "70", "/min", "2026-11-21T08:00:00Z",
                                       std::string(",\"quality\":") + q),
                                  kNow)),
              Code::kInvalidArgument)
        << q;
  }
}

}  // namespace
}  // namespace medulla::telemetry
