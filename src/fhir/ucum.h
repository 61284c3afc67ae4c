// UCUM canonical units for quantity search (search.html#quantity): a quantity is indexed, and a
// search value compared, in one canonical unit per dimension, so that 1 [lb_av] meets 453.59237 g
// and 98.6 [degF] meets 37 Cel.
//
// A small parser of UCUM unit expressions (https://ucum.org/ucum): prefix + atom + exponent,
// composed with `.` and `/`, parentheses, integer factors, and annotations `{...}`, which carry
// no meaning (UCUM 2.1). It knows the atoms that clinical data uses (mass, length, volume, time,
// temperature, pressure, amount of substance, rates, fractions); other codes are not converted.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace medulla::fhir {

struct CanonicalQuantity {
  double value = 0;
  // A UCUM code, the same for every unit of one dimension. Named where the dimension has a
  // usual unit: "1" (dimensionless), "g", "m", "s", "K", "mol", "L", "/s", "Pa", "kg/m2",
  // "g/L", "mol/L", "/L". Otherwise the base units with their exponents, positive ones first,
  // each group in the order g, mol, m, s, K: "g.m2.s-2", "m3.s-1", "K.s-1".
  std::string unit;
};

// `value` of the UCUM unit `code` in the canonical unit of its dimension, or nullopt when the
// code is not UCUM, uses an atom this parser does not know, or uses a unit on an interval scale
// (Cel, [degF]) other than alone. Case-sensitive, as UCUM's c/s codes are. Thread-safe.
//
// Differences from UCUM: mol is a base dimension here, not 6.0221367e23 (so mmol/L does not meet
// /L); arbitrary units ([iU], [arb'U]) and mol-mass conversions (which need a molar mass) are
// not converted.
std::optional<CanonicalQuantity> CanonicalizeUcum(double value, std::string_view code);

}  // namespace medulla::fhir
