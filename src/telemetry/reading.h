// The compact device reading: one JSON object per line of an NDJSON batch (POST /telemetry) or
// per MQTT message:
//   {"patient":"Patient/ID","device":"Device/ID","code":"8867-4","time":"2026-11-21T08:00:00Z",
//    "value":88,"unit":"/min","rr":[812,798],"quality":0.93}
// `rr` (beat-to-beat intervals, ms) and `quality` (0..1) are optional. Parsing checks
// everything a stored reading relies on and says what is wrong in words a device integrator can
// act on.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "monitor/vital.h"

namespace medulla::telemetry {

struct DeviceReading {
  std::string patient;  // the id, without "Patient/"
  std::string device;   // the id, without "Device/"
  monitor::Vital vital = monitor::Vital::kHeartRate;
  int64_t time_ms = 0;  // since the Unix epoch
  double value = 0;     // in the vital's canonical unit (monitor::InfoOf(vital).ucum)
  float quality = NAN;  // 0..1, NaN when not sent
  std::vector<uint16_t> rr_ms;
};

struct ReadingLimits {
  size_t max_line_bytes = 4096;
  size_t max_rr = 256;                  // beat-to-beat intervals in one reading
  int64_t max_future_ms = 10 * 60'000;  // device clocks drift; more is a wrong clock
};

// Parses and checks one line. `now_ms` bounds how far in the future a reading may be.
// Errors are kInvalidArgument (malformed) or kUnprocessable (well-formed but refused: unknown
// code, unit that does not convert, implausible value) with the reason as the message.
core::Result<DeviceReading> ParseReading(std::string_view line, int64_t now_ms,
                                         const ReadingLimits& limits = {});

// `value` in `unit` converted to the vital's canonical unit through UCUM (e.g. [degF] to Cel,
// kPa to mm[Hg], 1 (a fraction) to %), or nullopt when the unit is not of that dimension.
std::optional<double> ToCanonicalUnit(monitor::Vital vital, double value, std::string_view unit);

}  // namespace medulla::telemetry
