#include "fhir/ucum.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace medulla::fhir {
namespace {

// Expects `value code` to be `expected` in the canonical unit `unit`, to a relative 1e-12 (the
// factors are products of a few doubles).
void ExpectCanonical(double value, std::string_view code, double expected, std::string_view unit) {
  SCOPED_TRACE(std::to_string(value) + " " + std::string(code));
  std::optional<CanonicalQuantity> q = CanonicalizeUcum(value, code);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->unit, unit);
  EXPECT_NEAR(q->value, expected, std::abs(expected) * 1e-12 + 1e-300);
}

TEST(UcumTest, Mass) {
  ExpectCanonical(1, "g", 1, "g");
  ExpectCanonical(70, "kg", 70000, "g");
  ExpectCanonical(500, "mg", 0.5, "g");
  ExpectCanonical(250, "ug", 250e-6, "g");
  ExpectCanonical(3, "pg", 3e-12, "g");
  // [lb_av] = 7000 [gr], [gr] = 64.79891 mg; [oz_av] = [lb_av]/16.
  ExpectCanonical(1, "[lb_av]", 453.59237, "g");
  ExpectCanonical(154, "[lb_av]", 69853.22498, "g");
  ExpectCanonical(1, "[oz_av]", 28.349523125, "g");
}

TEST(UcumTest, Length) {
  ExpectCanonical(180, "cm", 1.8, "m");
  ExpectCanonical(15, "mm", 0.015, "m");
  ExpectCanonical(2, "km", 2000, "m");
  ExpectCanonical(1, "[in_i]", 0.0254, "m");
  ExpectCanonical(6, "[ft_i]", 1.8288, "m");
}

TEST(UcumTest, TemperatureIsAffine) {
  ExpectCanonical(98.6, "[degF]", 310.15, "K");
  ExpectCanonical(32, "[degF]", 273.15, "K");
  ExpectCanonical(-40, "[degF]", 233.15, "K");
  ExpectCanonical(37, "Cel", 310.15, "K");
  ExpectCanonical(0, "Cel", 273.15, "K");
  ExpectCanonical(310.15, "K", 310.15, "K");
  // Same temperature, same canonical value.
  EXPECT_NEAR(CanonicalizeUcum(98.6, "[degF]")->value, CanonicalizeUcum(37, "Cel")->value, 1e-9);
}

TEST(UcumTest, SpecialUnitsOnlyAlone) {
  // An offset does not compose: UCUM 3.1.
  for (std::string_view code : {"Cel/h", "/Cel", "Cel2", "mCel", "Cel.s", "[degF]/min", "(Cel)"})
    EXPECT_FALSE(CanonicalizeUcum(1, code).has_value()) << code;
  // A difference in kelvin does compose.
  ExpectCanonical(2, "K/h", 2.0 / 3600, "K.s-1");
}

TEST(UcumTest, Pressure) {
  // m[Hg] = 133.3220 kPa.
  ExpectCanonical(120, "mm[Hg]", 15998.64, "Pa");
  ExpectCanonical(1, "kPa", 1000, "Pa");
  ExpectCanonical(5, "Pa", 5, "Pa");
  // [in_i'Hg] = m[Hg].[in_i]/m.
  ExpectCanonical(1, "[in_i'Hg]", 3386.3788, "Pa");
  ExpectCanonical(10, "cm[H2O]", 980.665, "Pa");
  ExpectCanonical(1, "atm", 101325, "Pa");
  ExpectCanonical(1, "bar", 100000, "Pa");
}

TEST(UcumTest, Rates) {
  ExpectCanonical(72, "/min", 1.2, "/s");
  ExpectCanonical(72, "{beats}/min", 1.2, "/s");
  ExpectCanonical(18, "{breaths}/min", 0.3, "/s");
  ExpectCanonical(2, "/s", 2, "/s");
  ExpectCanonical(3600, "/h", 1, "/s");
  ExpectCanonical(5, "Hz", 5, "/s");
}

TEST(UcumTest, Dimensionless) {
  ExpectCanonical(50, "%", 0.5, "1");
  ExpectCanonical(3, "1", 3, "1");
  ExpectCanonical(7, "{score}", 7, "1");
  ExpectCanonical(2, "{T-score}", 2, "1");
  ExpectCanonical(12, "mg/g", 0.012, "1");
  ExpectCanonical(4, "[ppm]", 4e-6, "1");
}

TEST(UcumTest, Volume) {
  ExpectCanonical(1, "L", 1, "L");
  ExpectCanonical(1, "l", 1, "L");
  ExpectCanonical(500, "mL", 0.5, "L");
  ExpectCanonical(2, "dL", 0.2, "L");
  ExpectCanonical(10, "uL", 1e-5, "L");
  ExpectCanonical(90, "fL", 90e-15, "L");
  ExpectCanonical(1, "m3", 1000, "L");
  ExpectCanonical(1, "cm3", 1e-3, "L");
}

TEST(UcumTest, Time) {
  ExpectCanonical(1, "s", 1, "s");
  ExpectCanonical(250, "ms", 0.25, "s");
  ExpectCanonical(2, "min", 120, "s");
  ExpectCanonical(1, "h", 3600, "s");
  ExpectCanonical(1, "d", 86400, "s");
  ExpectCanonical(1, "wk", 604800, "s");
  // mo = mo_j = a_j/12; a = a_j = 365.25 d.
  ExpectCanonical(1, "mo", 2629800, "s");
  ExpectCanonical(1, "a", 31557600, "s");
}

TEST(UcumTest, Concentrations) {
  ExpectCanonical(25, "kg/m2", 25, "kg/m2");
  ExpectCanonical(100, "mg/dL", 1, "g/L");
  ExpectCanonical(14, "g/dL", 140, "g/L");
  ExpectCanonical(2, "g/L", 2, "g/L");
  ExpectCanonical(5, "ng/mL", 5e-6, "g/L");
  ExpectCanonical(5, "mmol/L", 0.005, "mol/L");
  ExpectCanonical(140, "meq/L", 0.14, "mol/L");
  ExpectCanonical(5.4, "10*3/uL", 5.4e9, "/L");
  ExpectCanonical(4.5, "10*6/uL", 4.5e12, "/L");
  ExpectCanonical(1, "10^3/L", 1000, "/L");
  // Mass and substance do not meet without a molar mass.
  EXPECT_NE(CanonicalizeUcum(1, "mg/dL")->unit, CanonicalizeUcum(1, "mmol/L")->unit);
}

TEST(UcumTest, OtherDimensionsGetGeneratedCodes) {
  ExpectCanonical(90, "mL/min/{1.73_m2}", 1.5e-6, "m3.s-1");
  ExpectCanonical(30, "U/L", 30 * 1e-6 / 60 / 1e-3, "mol.m-3.s-1");
  ExpectCanonical(1, "kcal", 4184000, "g.m2.s-2");
  ExpectCanonical(3, "m/s", 3, "m.s-1");
  ExpectCanonical(1, "g.m2.s-2", 1, "g.m2.s-2");
}

TEST(UcumTest, CanonicalCodesAreFixedPoints) {
  for (std::string_view code : {"1", "g", "m", "s", "K", "mol", "L", "/s", "/L", "Pa", "kg/m2",
                                "g/L", "mol/L", "m3.s-1", "mol.m-3.s-1", "g.m2.s-2"}) {
    std::optional<CanonicalQuantity> q = CanonicalizeUcum(2.5, code);
    ASSERT_TRUE(q.has_value()) << code;
    EXPECT_EQ(q->unit, code);
    EXPECT_DOUBLE_EQ(q->value, 2.5) << code;
  }
}

TEST(UcumTest, Syntax) {
  ExpectCanonical(1, "kg.m-2", 1, "kg/m2");
  ExpectCanonical(1, "kg/(m.m)", 1, "kg/m2");
  ExpectCanonical(1, "g/(dL)", 10, "g/L");
  ExpectCanonical(1, "mg{creat}/dL", 0.01, "g/L");
  ExpectCanonical(1, "/100", 0.01, "1");
  ExpectCanonical(1, "m+2", 1, "m2");
  ExpectCanonical(1, "10*-3", 1e-3, "1");
  ExpectCanonical(1, "[in_i]2", 0.00064516, "m2");
  // . and / bind equally, from the left.
  ExpectCanonical(1, "g/m.s", 1, "g.s.m-1");
}

TEST(UcumTest, AtomsBeforePrefixes) {
  // cd, Pa, mo and min read as atoms where they are ones; d, h, min and [lb_av] take no prefix.
  ExpectCanonical(1, "mo", 2629800, "s");
  ExpectCanonical(1, "dam", 10, "m");
  for (std::string_view code : {"cd", "kh", "md", "kmin", "k[lb_av]", "m%"})
    EXPECT_FALSE(CanonicalizeUcum(1, code).has_value()) << code;
}

TEST(UcumTest, RejectsWhatItDoesNotKnow) {
  for (std::string_view code :
       {"",     "(score)", "foo",    "MG",     "mg/",  "/",    "m..s",    "()",
        "(m",   "m)",      "{beats", "beats}", "m[Hg", "[iU]", "[arb'U]", " mg",
        "mg ",  "m g",     "kg/m2 ", "m999",   "m-",   "0",    "m/0",     "mg/dL\xC2\xB5",
        "s-1-1"})
    EXPECT_FALSE(CanonicalizeUcum(1, code).has_value()) << '"' << code << '"';
  EXPECT_FALSE(CanonicalizeUcum(1, std::string(300, 'm')).has_value());
  EXPECT_FALSE(CanonicalizeUcum(1, std::string(50, '(') + "m" + std::string(50, ')')).has_value());
  // Exponents stay bounded.
  EXPECT_FALSE(CanonicalizeUcum(1, "m20.m20").has_value());
}

// The UCUM codes of the Synthea quantities (tests/data/fhir/synthea), all known here but one.
TEST(UcumTest, SyntheaUnits) {
  for (std::string_view code : {"mm[Hg]", "mg/dL",   "{score}", "kg",        "cm",
                                "fL",     "kg/m2",   "mmol/L",  "g/dL",      "10*3/uL",
                                "%",      "10*6/uL", "pg",      "Cel",       "mL/min/{1.73_m2}",
                                "mg/g",   "U/L",     "{count}", "pg/mL",     "mL/min",
                                "g/L",    "mm",      "ng/mL",   "{T-score}", "/min",
                                "min"})
    EXPECT_TRUE(CanonicalizeUcum(1, code).has_value()) << code;
  // Not UCUM: parentheses hold a term, and "score" is no unit.
  EXPECT_FALSE(CanonicalizeUcum(1, "(score)").has_value());
}

TEST(UcumTest, ComparableUnitsMeet) {
  struct Same {
    double a;
    std::string_view a_code;
    double b;
    std::string_view b_code;
  };
  for (const Same& s : {Same{1, "kg", 1000, "g"}, Same{1, "[lb_av]", 16, "[oz_av]"},
                        Same{1, "[ft_i]", 12, "[in_i]"}, Same{60, "{beats}/min", 1, "/s"},
                        Same{1, "L", 1000, "mL"}, Same{1, "d", 24, "h"}, Same{1, "a", 12, "mo"},
                        Same{1, "g/dL", 10, "g/L"}, Same{760, "mm[Hg]", 101.325, "kPa"}}) {
    auto a = CanonicalizeUcum(s.a, s.a_code);
    auto b = CanonicalizeUcum(s.b, s.b_code);
    ASSERT_TRUE(a && b) << s.a_code << " " << s.b_code;
    EXPECT_EQ(a->unit, b->unit);
    // 760 mm[Hg] is 101.3247 kPa, close to the atmosphere but not exactly it.
    EXPECT_NEAR(a->value, b->value, std::abs(a->value) * 1e-4) << s.a_code << " " << s.b_code;
  }
}

}  // namespace
}  // namespace medulla::fhir
