#include "fhir/ucum.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>

// Hand-written: Debian 12 has no UCUM library for C or C++ (`apt-cache search ucum` finds none;
// the reference implementations, ucum-java and ucum-lhc, are Java and JavaScript).
//
// The atoms, prefixes and factors are UCUM's (https://ucum.org/ucum, section 4 "Tables of
// Terminal Symbols"), with the values of its machine-readable table ucum-essence.xml; each group
// of atoms below names its class there.

namespace medulla::fhir {
namespace {

// The base dimensions: UCUM's base units g, m, s, K (UCUM 4.2), plus mol (see ucum.h).
enum Dim : uint8_t { kMass, kSubstance, kLength, kTime, kTemperature, kDimCount };
using Dims = std::array<int, kDimCount>;
// The base units, in the order that generated canonical codes list them (positive exponents
// first).
constexpr std::array<std::string_view, kDimCount> kBaseCodes = {"g", "mol", "m", "s", "K"};

constexpr Dims D(int g, int mol, int m, int s, int k) {
  return {g, mol, m, s, k};
}
constexpr Dims kOne = D(0, 0, 0, 0, 0);
constexpr Dims kGram = D(1, 0, 0, 0, 0);
constexpr Dims kMole = D(0, 1, 0, 0, 0);
constexpr Dims kMeter = D(0, 0, 1, 0, 0);
constexpr Dims kSecond = D(0, 0, 0, 1, 0);
constexpr Dims kKelvin = D(0, 0, 0, 0, 1);
constexpr Dims kVolume = D(0, 0, 3, 0, 0);
constexpr Dims kPressure = D(1, 0, -1, -2, 0);  // Pa = N/m2 = kg/(m.s2)
constexpr Dims kEnergy = D(1, 0, 2, -2, 0);     // J = N.m = kg.m2/s2

// Units on an interval scale (UCUM 3.1, "special units on non-ratio scales"): converted by an
// offset, so accepted only alone, without prefix, exponent or composition.
enum class Scale : uint8_t { kRatio, kCelsius, kFahrenheit };

struct Atom {
  std::string_view code;
  double factor;  // the unit in base units
  Dims dims;
  bool metric;  // takes a prefix (UCUM 2.3, isMetric)
  Scale scale = Scale::kRatio;
};

constexpr double kPascal = 1e3;  // g.m-1.s-2
constexpr double kJoule = 1e3;   // g.m2.s-2
constexpr double kMeterOfMercury = 133.3220e3 * kPascal;
constexpr double kInch = 2.54e-2;
constexpr double kInchOfMercury = kMeterOfMercury * kInch;  // m[Hg].[in_i]/m
constexpr double kPound = 453.59237;                        // 7000 [gr] of 64.79891 mg
constexpr double kDay = 86400;
constexpr double kJulianYear = 365.25 * kDay;

constexpr Atom kAtoms[] = {
    // Base units (4.2).
    {"g", 1, kGram, true},
    {"m", 1, kMeter, true},
    {"s", 1, kSecond, true},
    {"K", 1, kKelvin, true},
    // class "dimless".
    {"10*", 10, kOne, false},
    {"10^", 10, kOne, false},
    {"%", 1e-2, kOne, false},
    {"[ppth]", 1e-3, kOne, false},
    {"[ppm]", 1e-6, kOne, false},
    // class "si".
    {"mol", 1, kMole, true},
    {"Hz", 1, D(0, 0, 0, -1, 0), true},
    {"Pa", kPascal, kPressure, true},
    {"J", kJoule, kEnergy, true},
    {"Cel", 1, kKelvin, true, Scale::kCelsius},  // K = Cel + 273.15
    // class "iso1000".
    {"l", 1e-3, kVolume, true},  // dm3
    {"L", 1e-3, kVolume, true},
    {"t", 1e6, kGram, true},
    {"bar", 1e5 * kPascal, kPressure, true},
    {"min", 60, kSecond, false},
    {"h", 3600, kSecond, false},
    {"d", kDay, kSecond, false},
    {"wk", 7 * kDay, kSecond, false},
    {"mo", kJulianYear / 12, kSecond, false},  // mo_j, the mean Julian month
    {"a", kJulianYear, kSecond, false},        // a_j, the mean Julian year
    // class "const".
    {"atm", 101325 * kPascal, kPressure, false},
    // class "intcust".
    {"[in_i]", kInch, kMeter, false},
    {"[ft_i]", 12 * kInch, kMeter, false},
    // class "avoirdupois".
    {"[lb_av]", kPound, kGram, false},
    {"[oz_av]", kPound / 16, kGram, false},
    // class "heat".
    {"[degF]", 5.0 / 9, kKelvin, false, Scale::kFahrenheit},  // K = ([degF] + 459.67) * 5/9
    {"cal", 4.184 * kJoule, kEnergy, true},                   // cal_th
    // class "clinical".
    {"m[Hg]", kMeterOfMercury, kPressure, true},
    {"m[H2O]", 9.80665e3 * kPascal, kPressure, true},
    {"[in_i'Hg]", kInchOfMercury, kPressure, false},
    // class "chemical".
    {"eq", 1, kMole, true},
    {"osm", 1, kMole, true},
    {"U", 1e-6 / 60, D(0, 1, 0, -1, 0), true},  // umol/min
};

struct Prefix {
  std::string_view code;
  double factor;
};

// The metric prefixes (UCUM 4.1).
constexpr Prefix kPrefixes[] = {
    {"Y", 1e24}, {"Z", 1e21},  {"E", 1e18},  {"P", 1e15},  {"T", 1e12},  {"G", 1e9},   {"M", 1e6},
    {"k", 1e3},  {"h", 1e2},   {"da", 1e1},  {"d", 1e-1},  {"c", 1e-2},  {"m", 1e-3},  {"u", 1e-6},
    {"n", 1e-9}, {"p", 1e-12}, {"f", 1e-15}, {"a", 1e-18}, {"z", 1e-21}, {"y", 1e-24},
};

// The canonical units with a name of their own; other dimensions get a generated code.
struct Named {
  std::string_view code;
  Dims dims;
  double factor;  // in base units
};

constexpr Named kNamed[] = {
    {"1", kOne, 1},
    {"L", kVolume, 1e-3},
    {"/s", D(0, 0, 0, -1, 0), 1},
    {"/L", D(0, 0, -3, 0, 0), 1e3},
    {"Pa", kPressure, kPascal},
    {"kg/m2", D(1, 0, -2, 0, 0), 1e3},
    {"g/L", D(1, 0, -3, 0, 0), 1e3},
    {"mol/L", D(0, 1, -3, 0, 0), 1e3},
};

// Bounds that no real unit comes near; they keep exponent arithmetic far from overflow.
constexpr int kMaxExponent = 24;
constexpr int kMaxDepth = 8;
constexpr size_t kMaxCodeLength = 256;

struct Unit {
  double factor = 1;
  Dims dims = kOne;
  Scale scale = Scale::kRatio;
};

const Atom* FindAtom(std::string_view code) {
  for (const Atom& a : kAtoms)
    if (a.code == code) return &a;
  return nullptr;
}

// Recursive descent over UCUM's syntax (UCUM 2.2), annotations (2.1) included:
//   term      := ['/'] component (('.' | '/') component)*
//   component := '(' term ')' | annotation | symbol [annotation]
//   symbol    := integer | [prefix] atom [exponent]
// `.` and `/` bind equally, from the left: mL/min/{1.73_m2} is (mL/min)/1.
class Parser {
 public:
  explicit Parser(std::string_view code) : s_(code) {}

  std::optional<Unit> Parse() {
    if (s_.empty() || s_.size() > kMaxCodeLength) return std::nullopt;
    std::optional<Unit> u = Term(0);
    if (!u || pos_ != s_.size()) return std::nullopt;
    return u;
  }

 private:
  std::optional<Unit> Term(int depth) {
    if (depth > kMaxDepth) return std::nullopt;
    Unit acc;
    bool divide = false;
    if (Peek('/')) {
      divide = true;
      ++pos_;
    }
    for (int count = 0;; ++count) {
      std::optional<Unit> u = Component(depth);
      if (!u) return std::nullopt;
      if (u->scale != Scale::kRatio) {
        // Cel or [degF]: only as the whole code.
        if (depth > 0 || count > 0 || divide || pos_ != s_.size()) return std::nullopt;
        return u;
      }
      for (int d = 0; d < kDimCount; ++d) {
        acc.dims[d] += divide ? -u->dims[d] : u->dims[d];
        if (std::abs(acc.dims[d]) > kMaxExponent) return std::nullopt;
      }
      acc.factor = divide ? acc.factor / u->factor : acc.factor * u->factor;
      if (Peek('.') || Peek('/')) {
        divide = s_[pos_++] == '/';
      } else {
        return acc;
      }
    }
  }

  std::optional<Unit> Component(int depth) {
    if (Peek('(')) {
      ++pos_;
      std::optional<Unit> u = Term(depth + 1);
      if (!u || !Peek(')')) return std::nullopt;
      ++pos_;
      return u;
    }
    // An annotation alone stands for the unit 1 ({beats}/min is /min).
    if (Peek('{')) return SkipAnnotation() ? std::optional<Unit>(Unit{}) : std::nullopt;
    size_t start = pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '.' || c == '/' || c == '(' || c == ')' || c == '{' || c == '}') break;
      if (c < '!' || c > '~') return std::nullopt;  // UCUM codes are printable ASCII
      if (c == '[') {
        // Square brackets enclose atom text verbatim: [in_i'Hg].
        size_t close = s_.find(']', pos_);
        if (close == std::string_view::npos) return std::nullopt;
        pos_ = close;
      }
      ++pos_;
    }
    std::optional<Unit> u = Symbol(s_.substr(start, pos_ - start));
    // An annotation after a unit does not change it: mg{creat} is mg.
    if (u && Peek('{') && !SkipAnnotation()) return std::nullopt;
    return u;
  }

  // A positive integer, or an atom with an optional prefix and an optional signed exponent.
  std::optional<Unit> Symbol(std::string_view symbol) const {
    if (symbol.empty()) return std::nullopt;
    size_t digits = symbol.size();
    while (digits > 0 && IsDigit(symbol[digits - 1])) --digits;
    if (digits == 0) {
      // A factor: "100" in /100.
      if (symbol.size() > 9) return std::nullopt;
      long factor = std::atol(std::string(symbol).c_str());
      if (factor == 0) return std::nullopt;
      return Unit{static_cast<double>(factor), kOne};
    }
    int exponent = 1;
    std::string_view name = symbol;
    if (digits < symbol.size()) {
      size_t sign = digits;
      if (symbol[sign - 1] == '-' || symbol[sign - 1] == '+') --sign;
      if (sign == 0 || symbol.size() - digits > 2) return std::nullopt;
      exponent = std::atoi(std::string(symbol.substr(digits)).c_str());
      if (symbol[sign] == '-') exponent = -exponent;
      name = symbol.substr(0, sign);
    }

    // An atom's own code wins over a prefix reading (Pa, mo, min, cal are atoms).
    double prefix = 1;
    const Atom* atom = FindAtom(name);
    if (atom == nullptr) {
      for (const Prefix& p : kPrefixes) {
        if (!name.starts_with(p.code)) continue;
        const Atom* a = FindAtom(name.substr(p.code.size()));
        if (a != nullptr && a->metric) {
          atom = a;
          prefix = p.factor;
          break;
        }
      }
      if (atom == nullptr) return std::nullopt;
      if (atom->scale != Scale::kRatio) return std::nullopt;  // no mCel
    }
    if (atom->scale != Scale::kRatio && exponent != 1) return std::nullopt;

    Unit u{std::pow(prefix * atom->factor, exponent), atom->dims, atom->scale};
    for (int& d : u.dims) d *= exponent;
    return u;
  }

  bool SkipAnnotation() {
    size_t close = s_.find('}', pos_);
    if (close == std::string_view::npos) return false;
    pos_ = close + 1;
    return true;
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<CanonicalQuantity> CanonicalizeUcum(double value, std::string_view code) {
  std::optional<Unit> unit = Parser(code).Parse();
  if (!unit) return std::nullopt;
  CanonicalQuantity out;
  switch (unit->scale) {
    case Scale::kCelsius:
      out.value = value + 273.15;
      out.unit = "K";
      break;
    case Scale::kFahrenheit:
      out.value = (value + 459.67) * 5 / 9;
      out.unit = "K";
      break;
    case Scale::kRatio: {
      out.value = value * unit->factor;
      for (const Named& n : kNamed) {
        if (n.dims == unit->dims) {
          out.value /= n.factor;
          out.unit = n.code;
          break;
        }
      }
      if (!out.unit.empty()) break;
      // Positive exponents first: m.s-1, not s-1.m.
      for (bool positive : {true, false}) {
        for (int d = 0; d < kDimCount; ++d) {
          if (unit->dims[d] == 0 || (unit->dims[d] > 0) != positive) continue;
          if (!out.unit.empty()) out.unit += '.';
          out.unit += kBaseCodes[d];
          if (unit->dims[d] != 1) out.unit += std::to_string(unit->dims[d]);
        }
      }
      break;
    }
  }
  if (!std::isfinite(out.value)) return std::nullopt;
  return out;
}

}  // namespace medulla::fhir
