#include "dispatch/fhir_mapping.h"

#include <cmath>

#include "core/time.h"

namespace medulla::dispatch {
namespace {

// Every coding of a CodeableConcept (or of each CodeableConcept in an array).
template <typename F>
void ForEachCoding(const json::Value* concepts, F&& each) {
  if (!concepts) return;
  auto one = [&](const json::Value& concept_value) {
    const json::Value* codings = concept_value.Find("coding");
    if (!codings || !codings->is_array()) return;
    for (const json::Value* c : codings->items()) {
      if (c->is_object()) each(c->StringOr("system"), c->StringOr("code"));
    }
  };
  if (concepts->is_array()) {
    for (const json::Value* v : concepts->items()) {
      if (v->is_object()) one(*v);
    }
  } else if (concepts->is_object()) {
    one(*concepts);
  }
}

bool HasCoding(const json::Value* concepts, std::string_view system, std::string_view code) {
  bool found = false;
  ForEachCoding(concepts, [&](std::string_view s, std::string_view c) {
    found = found || (s == system && c == code);
  });
  return found;
}

std::optional<double> Number(const json::Value* v) {
  return v ? v->NumberValue() : std::nullopt;
}

}  // namespace

std::optional<std::string> LocalId(const json::Value* reference, std::string_view type) {
  if (!reference || !reference->is_object()) return std::nullopt;
  const std::string_view ref = reference->StringOr("reference");
  if (ref.size() <= type.size() + 1 || ref.substr(0, type.size()) != type ||
      ref[type.size()] != '/') {
    return std::nullopt;
  }
  std::string id(ref.substr(type.size() + 1));
  if (id.find('/') != std::string::npos) return std::nullopt;  // a versioned reference: no
  return id;
}

std::optional<Hospital> HospitalFromLocation(const json::Value& location, const std::string& id) {
  if (!HasCoding(location.Find("type"), kRoleCodeSystem, "HOSP")) return std::nullopt;
  if (location.StringOr("status") == "inactive") return std::nullopt;
  const json::Value* position = location.Find("position");
  if (!position || !position->is_object()) return std::nullopt;
  const auto lon = Number(position->Find("longitude"));
  const auto lat = Number(position->Find("latitude"));
  if (!lon || !lat || std::abs(*lon) > 180 || std::abs(*lat) > 90) return std::nullopt;
  Hospital h;
  h.id = id;
  h.name = std::string(location.StringOr("name"));
  h.where = {*lon, *lat};
  return h;
}

std::optional<ServiceOffer> OfferFromHealthcareService(const json::Value& service) {
  if (const json::Value* active = service.Find("active"); active && active->is_bool()) {
    if (!active->bool_value()) return std::nullopt;
  }
  ServiceOffer offer;
  if (const json::Value* locations = service.Find("location"); locations && locations->is_array()) {
    for (const json::Value* ref : locations->items()) {
      if (auto id = LocalId(ref, "Location")) offer.locations.push_back(std::move(*id));
    }
  }
  if (offer.locations.empty()) return std::nullopt;
  for (std::string_view field : {"type", "specialty", "characteristic", "category"}) {
    ForEachCoding(service.Find(field), [&](std::string_view system, std::string_view code) {
      if (system != kCapabilitySystem) return;
      if (auto cap = CapabilityFromCode(code)) offer.capabilities |= *cap;
    });
  }
  return offer;
}

std::optional<StatusReport> StatusFromMeasureReport(const json::Value& report) {
  if (report.StringOr("status") != "complete") return std::nullopt;
  auto location = LocalId(report.Find("subject"), "Location");
  if (!location) return std::nullopt;
  std::string_view when = report.StringOr("date");
  if (when.empty()) {
    if (const json::Value* period = report.Find("period"); period && period->is_object()) {
      when = period->StringOr("end");
    }
  }
  const auto range = core::ParseFhirDateTimeRange(when);
  if (!range) return std::nullopt;
  StatusReport out;
  out.location = std::move(*location);
  HospitalStatus& s = out.status;
  s.reported_ms = range->begin / 1000;
  const json::Value* groups = report.Find("group");
  if (!groups || !groups->is_array()) return out;
  for (const json::Value* group : groups->items()) {
    const json::Value* populations = group->is_object() ? group->Find("population") : nullptr;
    if (!populations || !populations->is_array()) continue;
    for (const json::Value* p : populations->items()) {
      if (!p->is_object()) continue;
      const auto count = Number(p->Find("count"));
      if (!count || *count < 0) continue;
      ForEachCoding(p->Find("code"), [&](std::string_view system, std::string_view code) {
        if (system == kEdStatusSystem) {
          if (code == "edPatients") s.ed_patients = *count;
          if (code == "edBeds") s.ed_beds = *count;
          if (code == "edWaiting") s.ed_waiting = *count;
          if (code == "edWaitMinutes") s.ed_wait_min = *count;
          if (code == "diversion") s.diversion = *count > 0;
        } else if (system == kSanerMeasuredValues) {
          s.beds.emplace_back(std::string(code), *count);
        }
      });
    }
  }
  return out;
}

std::optional<Ambulance> AmbulanceFromDevice(const json::Value& device, const std::string& id) {
  if (!HasCoding(device.Find("type"), kDeviceKindSystem, "ambulance")) return std::nullopt;
  Ambulance a;
  a.id = id;
  if (const json::Value* names = device.Find("deviceName");
      names && names->is_array() && !names->items().empty() && names->items()[0]->is_object()) {
    a.name = std::string(names->items()[0]->StringOr("name"));
  }
  a.status = AmbulanceStatus::kAvailable;
  if (const json::Value* extensions = device.Find("extension");
      extensions && extensions->is_array()) {
    for (const json::Value* e : extensions->items()) {
      if (!e->is_object() || e->StringOr("url") != kAmbulanceStatusUrl) continue;
      a.status = AmbulanceStatusFromCode(e->StringOr("valueCode"))
                     .value_or(AmbulanceStatus::kOutOfService);
    }
  }
  const std::string_view status = device.StringOr("status");
  if (status == "inactive" || status == "entered-in-error") {
    a.status = AmbulanceStatus::kOutOfService;
  }
  return a;
}

bool IsDispatchTask(const json::Value& task) {
  return HasCoding(task.Find("code"), kDispatchTaskSystem, kDispatchTaskCode);
}

}  // namespace medulla::dispatch
