// Fuzzes the UCUM unit parser that quantity search runs on stored and requested units. Any crash,
// hang or sanitizer report is a bug, and so is a canonical unit that is not its own canonical
// form or a value that is not finite.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhir/ucum.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view code(reinterpret_cast<const char*>(data), size);
  auto q = medulla::fhir::CanonicalizeUcum(1.5, code);
  if (!q) return 0;
  if (!std::isfinite(q->value)) __builtin_trap();
  auto again = medulla::fhir::CanonicalizeUcum(q->value, q->unit);
  if (!again || again->unit != q->unit) __builtin_trap();
  // Far from the ends of the double range, converting again changes at most the last bits.
  double magnitude = std::abs(q->value);
  if (magnitude > 1e-280 && magnitude < 1e280 &&
      std::abs(again->value - q->value) > 1e-9 * magnitude)
    __builtin_trap();
  return 0;
}
