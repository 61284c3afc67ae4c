// Time: a Clock seam for tests, and the FHIR / HTTP text forms of instants.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medulla::core {

// Microseconds since the Unix epoch, UTC.
using MicrosSinceEpoch = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MicrosSinceEpoch Now() const = 0;
};

// The real wall clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  MicrosSinceEpoch Now() const override;
  static const SystemClock& Instance();
};

// A FHIR instant with millisecond precision: 2026-11-21T08:00:00.123Z.
std::string FormatInstant(MicrosSinceEpoch t);
// An HTTP date (RFC 9110 IMF-fixdate): Sat, 21 Nov 2026 08:00:00 GMT.
std::string FormatHttpDate(MicrosSinceEpoch t);

// A FHIR date, dateTime or instant read as the half-open interval of instants it covers at its
// precision (FHIR search: "2026-11-21" covers the whole day). Values without a zone are read as
// UTC (the server's zone). Empty when the text is not a valid FHIR date/dateTime/instant.
struct InstantRange {
  MicrosSinceEpoch begin;  // inclusive
  MicrosSinceEpoch end;    // exclusive
};
std::optional<InstantRange> ParseFhirDateTimeRange(std::string_view text);

}  // namespace medulla::core
