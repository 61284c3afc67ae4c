#include "telemetry/reading.h"

#include <fmt/format.h>

#include "core/time.h"
#include "fhir/ucum.h"
#include "json/parse.h"

namespace medulla::telemetry {
namespace {

core::Status Malformed(std::string message) {
  return core::Status(core::Code::kInvalidArgument, std::move(message));
}
core::Status Refused(std::string message) {
  return core::Status(core::Code::kUnprocessable, std::move(message));
}

// "Patient/abc" -> "abc"; a bare id is accepted too. Ids follow FHIR's id rule.
std::optional<std::string> ReferenceId(std::string_view text, std::string_view type) {
  if (text.starts_with(type) && text.size() > type.size() && text[type.size()] == '/') {
    text.remove_prefix(type.size() + 1);
  }
  if (text.empty() || text.size() > 64) return std::nullopt;
  for (char c : text) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return std::nullopt;
    }
  }
  return std::string(text);
}

bool NumberOf(const json::Value* v, double& out) {
  if (!v || !v->is_number()) return false;
  const auto t = v->text();
  out = std::strtod(std::string(t).c_str(), nullptr);
  return std::isfinite(out);
}

}  // namespace

std::optional<double> ToCanonicalUnit(monitor::Vital vital, double value, std::string_view unit) {
  const std::string_view target = monitor::InfoOf(vital).ucum;
  if (unit == target) return value;
  // Common spellings of the same units that are not UCUM codes of their own.
  if (target == "/min" && (unit == "{beats}/min" || unit == "{breaths}/min" || unit == "1/min")) {
    return value;
  }
  if (vital == monitor::Vital::kConsciousness) return std::nullopt;
  const auto c = fhir::CanonicalizeUcum(value, unit);
  const auto zero = fhir::CanonicalizeUcum(0, target);
  const auto one = fhir::CanonicalizeUcum(1, target);
  if (!c || !zero || !one || c->unit != one->unit || one->value == zero->value) {
    return std::nullopt;
  }
  // Affine, so that interval scales (Cel, [degF]) convert as well as ratio ones.
  return (c->value - zero->value) / (one->value - zero->value);
}

core::Result<DeviceReading> ParseReading(std::string_view line, int64_t now_ms,
                                         const ReadingLimits& limits) {
  if (line.size() > limits.max_line_bytes) {
    return core::Fail(Malformed(fmt::format("line longer than {} bytes", limits.max_line_bytes)));
  }
  json::ParseLimits json_limits;
  json_limits.max_depth = 4;
  auto doc = json::Parse(line, json_limits);
  if (!doc) return core::Fail(Malformed("not JSON: " + doc.error().message()));
  const json::Value& o = *doc->root();
  if (!o.is_object()) return core::Fail(Malformed("a reading is a JSON object"));

  DeviceReading r;
  const json::Value* patient = o.Find("patient");
  if (!patient || !patient->is_string()) return core::Fail(Malformed("missing \"patient\""));
  auto pid = ReferenceId(patient->text(), "Patient");
  if (!pid) return core::Fail(Malformed("\"patient\" must be Patient/ID"));
  r.patient = std::move(*pid);
  const json::Value* device = o.Find("device");
  if (!device || !device->is_string()) return core::Fail(Malformed("missing \"device\""));
  auto did = ReferenceId(device->text(), "Device");
  if (!did) return core::Fail(Malformed("\"device\" must be Device/ID"));
  r.device = std::move(*did);

  const json::Value* code = o.Find("code");
  if (!code || !code->is_string()) return core::Fail(Malformed("missing \"code\" (LOINC)"));
  const auto vital = monitor::VitalFromLoinc(code->text());
  if (!vital) {
    return core::Fail(
        Refused(fmt::format("LOINC code {} is not a vital sign medulla monitors", code->text())));
  }
  r.vital = *vital;

  const json::Value* time = o.Find("time");
  if (!time || !time->is_string()) return core::Fail(Malformed("missing \"time\""));
  const auto range = core::ParseFhirDateTimeRange(time->text());
  if (!range || time->text().find('T') == std::string_view::npos) {
    return core::Fail(Malformed("\"time\" must be an instant such as 2026-11-21T08:00:00Z"));
  }
  r.time_ms = range->begin / 1000;
  if (r.time_ms > now_ms + limits.max_future_ms) {
    return core::Fail(Refused("\"time\" is in the future: check the device's clock"));
  }

  double value = 0;
  if (!NumberOf(o.Find("value"), value)) return core::Fail(Malformed("\"value\" must be a number"));
  const json::Value* unit = o.Find("unit");
  if (!unit || !unit->is_string()) return core::Fail(Malformed("missing \"unit\" (UCUM)"));
  const auto canonical = ToCanonicalUnit(r.vital, value, unit->text());
  const auto& info = monitor::InfoOf(r.vital);
  if (!canonical) {
    return core::Fail(Refused(fmt::format("unit \"{}\" does not convert to {} for {}", unit->text(),
                                          info.ucum, info.display)));
  }
  r.value = *canonical;
  if (!monitor::Plausible(r.vital, r.value)) {
    return core::Fail(
        Refused(fmt::format("implausible {}: {} {} (accepted {} to {})", info.name, r.value,
                            info.ucum, info.plausible_min, info.plausible_max)));
  }

  if (const json::Value* q = o.Find("quality")) {
    double quality = 0;
    if (!NumberOf(q, quality) || quality < 0 || quality > 1) {
      return core::Fail(Malformed("\"quality\" must be a number from 0 to 1"));
    }
    r.quality = static_cast<float>(quality);
  }
  if (const json::Value* rr = o.Find("rr")) {
    if (!rr->is_array() || rr->size() > limits.max_rr) {
      return core::Fail(Malformed(
          fmt::format("\"rr\" must be an array of at most {} intervals in ms", limits.max_rr)));
    }
    for (const json::Value* item : rr->items()) {
      double ms = 0;
      // 200-3000 ms is 20-300 beats/min.
      if (!NumberOf(item, ms) || ms < 200 || ms > 3000) {
        return core::Fail(Refused("\"rr\" intervals must be numbers from 200 to 3000 ms"));
      }
      r.rr_ms.push_back(static_cast<uint16_t>(ms));
    }
  }
  return r;
}

}  // namespace medulla::telemetry
