#include "rpm/fhir_inputs.h"

#include <cmath>

#include "core/time.h"
#include "telemetry/reading.h"

namespace medulla::rpm {
namespace {

std::optional<double> Number(const json::Value* v) {
  return v ? v->NumberValue() : std::nullopt;
}

// The patient id of a "Patient/ID" reference, else empty.
std::string PatientOf(const json::Value* reference) {
  if (!reference || !reference->is_object()) return {};
  std::string_view r = reference->StringOr("reference");
  if (!r.starts_with("Patient/") || r.size() == 8 || r.find('/', 8) != std::string_view::npos) {
    return {};
  }
  return std::string(r.substr(8));
}

// The first LOINC code of a CodeableConcept that names a vital.
std::optional<monitor::Vital> VitalOf(const json::Value* codeable) {
  if (!codeable || !codeable->is_object()) return std::nullopt;
  const json::Value* codings = codeable->Find("coding");
  if (!codings || !codings->is_array()) return std::nullopt;
  for (const json::Value* c : codings->items()) {
    if (!c->is_object() || c->StringOr("system") != "http://loinc.org") continue;
    if (auto v = monitor::VitalFromLoinc(c->StringOr("code"))) return v;
  }
  return std::nullopt;
}

// A Quantity in the vital's canonical unit (its UCUM code, else its unit text).
std::optional<double> Canonical(monitor::Vital vital, const json::Value* quantity) {
  if (!quantity || !quantity->is_object()) return std::nullopt;
  auto value = Number(quantity->Find("value"));
  if (!value) return std::nullopt;
  std::string_view unit = quantity->StringOr("code", quantity->StringOr("unit"));
  auto canonical = telemetry::ToCanonicalUnit(vital, *value, unit);
  if (!canonical || !monitor::Plausible(vital, *canonical)) return std::nullopt;
  return canonical;
}

std::optional<int64_t> EffectiveMs(const json::Value& o) {
  std::string_view when = o.StringOr("effectiveDateTime", o.StringOr("effectiveInstant"));
  if (when.empty()) {
    if (const json::Value* p = o.Find("effectivePeriod"); p && p->is_object()) {
      when = p->StringOr("start");
    }
  }
  auto range = core::ParseFhirDateTimeRange(when);
  if (!range) return std::nullopt;
  return range->begin / 1000;
}

}  // namespace

std::vector<monitor::PatientReading> ReadingsOfObservation(const json::Value& o) {
  std::vector<monitor::PatientReading> out;
  if (!o.is_object() || o.StringOr("resourceType") != "Observation") return out;
  const std::string_view status = o.StringOr("status");
  if (status != "final" && status != "amended" && status != "corrected") return out;
  const std::string patient = PatientOf(o.Find("subject"));
  const auto time = EffectiveMs(o);
  if (patient.empty() || !time) return out;
  auto add = [&](const json::Value* code, const json::Value* quantity) {
    auto vital = VitalOf(code);
    if (!vital) return;
    if (auto value = Canonical(*vital, quantity)) {
      out.push_back(
          {patient, monitor::Reading{
                        .time_ms = *time, .value = *value, .vital = *vital, .from_device = false}});
    }
  };
  add(o.Find("code"), o.Find("valueQuantity"));
  if (const json::Value* components = o.Find("component"); components && components->is_array()) {
    for (const json::Value* c : components->items()) {
      if (c->is_object()) add(c->Find("code"), c->Find("valueQuantity"));
    }
  }
  return out;
}

std::optional<GoalTargets> TargetsOfGoal(const json::Value& g) {
  if (!g.is_object() || g.StringOr("resourceType") != "Goal") return std::nullopt;
  GoalTargets out;
  out.patient = PatientOf(g.Find("subject"));
  if (out.patient.empty()) return std::nullopt;
  const std::string_view lifecycle = g.StringOr("lifecycleStatus");
  out.active = lifecycle == "active" || lifecycle == "accepted";
  const json::Value* targets = g.Find("target");
  if (!targets || !targets->is_array()) return out;
  for (const json::Value* t : targets->items()) {
    if (!t->is_object()) continue;
    auto vital = VitalOf(t->Find("measure"));
    if (!vital) continue;
    VitalTarget target{.vital = *vital};
    if (const json::Value* range = t->Find("detailRange"); range && range->is_object()) {
      target.low = Canonical(*vital, range->Find("low"));
      target.high = Canonical(*vital, range->Find("high"));
    } else if (const json::Value* q = t->Find("detailQuantity"); q && q->is_object()) {
      // A bound: "<" or "<=" an upper limit, ">" or ">=" a lower one.
      const std::string_view comparator = q->StringOr("comparator");
      if (comparator.starts_with('<')) target.high = Canonical(*vital, q);
      if (comparator.starts_with('>')) target.low = Canonical(*vital, q);
    }
    if (target.low || target.high) out.targets.push_back(target);
  }
  return out;
}

}  // namespace medulla::rpm
