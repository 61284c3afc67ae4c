#include "rpm/device_assignments.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "json/parse.h"

namespace medulla::rpm {
namespace {

// "Patient/123" (or a full URL ending so) to "123"; empty for anything else.
std::string PatientId(std::string_view reference) {
  const auto at = reference.rfind("Patient/");
  if (at == std::string_view::npos) return {};
  std::string_view id = reference.substr(at + 8);
  if (id.empty() || id.find('/') != std::string_view::npos) return {};
  return std::string(id);
}

// FHIR Period bounds as [from, to) in ms: the start of `start`'s precision to the end of
// `end`'s (a period ending "2026-11-21" runs through that day).
void ReadPeriod(const json::Value* period, Assignment& a) {
  if (!period || !period->is_object()) return;
  if (auto r = core::ParseFhirDateTimeRange(period->StringOr("start"))) a.from_ms = r->begin / 1000;
  if (auto r = core::ParseFhirDateTimeRange(period->StringOr("end"))) a.to_ms = r->end / 1000;
}

}  // namespace

DeviceAssignments::DeviceAssignments(const records::RecordService& records,
                                     std::chrono::milliseconds ttl, const core::Clock& clock)
    : records_(records), ttl_(ttl), clock_(clock) {}

core::Result<std::vector<Assignment>> DeviceAssignments::Lookup(const std::string& device) const {
  std::vector<Assignment> out;
  // The device's own patient (Device.patient: "Patient to whom Device is affixed").
  if (auto d = records_.Read("Device", device)) {
    if (auto doc = json::Parse(d->body)) {
      if (const auto* p = doc->root()->Find("patient"); p && p->is_object()) {
        if (auto id = PatientId(p->StringOr("reference")); !id.empty()) out.push_back({id});
      }
    }
  } else if (d.error().code() != core::Code::kNotFound && d.error().code() != core::Code::kGone) {
    return core::Fail(d.error());
  }
  // Active DeviceUseStatements: the record of a device in use by a patient.
  records::QueryParams params{{"device", "Device/" + device}, {"_count", "100"}};
  ASSIGN_OR_RETURN(auto reply, records_.Search("DeviceUseStatement", params, false));
  for (const auto& r : reply.page.resources) {
    auto doc = json::Parse(r.body);
    if (!doc) continue;
    const json::Value& root = *doc->root();
    if (root.StringOr("status") != "active") continue;
    const json::Value* subject = root.Find("subject");
    if (!subject || !subject->is_object()) continue;
    Assignment a{PatientId(subject->StringOr("reference"))};
    if (a.patient.empty()) continue;
    ReadPeriod(root.Find("timingPeriod"), a);
    out.push_back(std::move(a));
  }
  return out;
}

core::Result<std::vector<Assignment>> DeviceAssignments::Of(const std::string& device) {
  const auto now = clock_.Now();
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(device); it != cache_.end() && it->second.expires > now) {
      return it->second.assignments;
    }
  }
  ASSIGN_OR_RETURN(auto found, Lookup(device));
  // Half the ttl plus a share of the other half that the device id picks: spread, and the
  // same for a device every time.
  const int64_t ttl_us = std::chrono::duration_cast<std::chrono::microseconds>(ttl_).count();
  const int64_t kept_us =
      ttl_us / 2 + static_cast<int64_t>(std::hash<std::string>{}(device) %
                                        static_cast<size_t>(std::max<int64_t>(ttl_us / 2, 1)));
  std::lock_guard lock(mu_);
  if (cache_.size() > 100'000) cache_.clear();  // bounded: a flood of device ids cannot grow it
  cache_[device] = {found, now + kept_us};
  return found;
}

core::Status DeviceAssignments::Allows(const std::vector<Assignment>& assignments,
                                       const std::string& device, const std::string& patient,
                                       int64_t time_ms, bool strict) {
  bool others = false;
  for (const auto& a : assignments) {
    if (!a.Covers(time_ms)) continue;
    if (a.patient == patient) return core::Status();  // a shared device may serve several
    others = true;
  }
  if (others) {
    return core::Status(
        core::Code::kPermissionDenied,
        fmt::format("Device/{} is assigned to another patient at that time", device));
  }
  if (!strict) return core::Status();
  return core::Status(
      core::Code::kPermissionDenied,
      assignments.empty()
          ? fmt::format("Device/{} is not assigned to any patient (record a DeviceUseStatement "
                        "or Device.patient)",
                        device)
          : fmt::format("Device/{} is not assigned to Patient/{} at that time", device, patient));
}

void DeviceAssignments::Invalidate(const std::string& device) {
  std::lock_guard lock(mu_);
  if (device.empty()) {
    cache_.clear();
  } else {
    cache_.erase(device);
  }
}

core::Status BatchAssignmentCheck::operator()(const telemetry::DeviceReading& r) {
  if (speaks_for_ && r.device != *speaks_for_) {
    return core::Status(core::Code::kPermissionDenied, other_device_(r.device));
  }
  auto d = devices_.find(r.device);
  if (d == devices_.end()) d = devices_.emplace(r.device, assignments_.Of(r.device)).first;
  if (!d->second) return d->second.error();
  return DeviceAssignments::Allows(*d->second, r.device, r.patient, r.time_ms,
                                   speaks_for_.has_value());
}

}  // namespace medulla::rpm
