#include "dispatch/model.h"

#include <array>
#include <utility>

namespace medulla::dispatch {
namespace {

constexpr std::array<std::pair<Capability, std::string_view>, 9> kCapabilities{{
    {kStrokeUnit, "stroke-unit"},
    {kThrombectomy, "thrombectomy"},
    {kPci, "pci"},
    {kTraumaLevel1, "trauma-level-1"},
    {kTraumaLevel2, "trauma-level-2"},
    {kTraumaLevel3, "trauma-level-3"},
    {kBurns, "burns"},
    {kPaediatrics, "paediatrics"},
    {kMaternity, "maternity"},
}};

constexpr std::array<std::string_view, 7> kConditions{
    "general", "stroke", "stemi", "major-trauma", "cardiac-arrest", "burns", "obstetric"};

constexpr std::array<std::string_view, 7> kAmbulanceStatuses{
    "available",    "dispatched",  "en-route",      "on-scene",
    "transporting", "at-hospital", "out-of-service"};

}  // namespace

std::string_view CapabilityCode(Capability c) {
  for (const auto& [cap, code] : kCapabilities) {
    if (cap == c) return code;
  }
  return "";
}

std::optional<Capability> CapabilityFromCode(std::string_view code) {
  for (const auto& [cap, name] : kCapabilities) {
    if (name == code) return cap;
  }
  return std::nullopt;
}

std::vector<Capability> AllCapabilities() {
  std::vector<Capability> out;
  for (const auto& [cap, code] : kCapabilities) out.push_back(cap);
  return out;
}

std::string_view ConditionCode(Condition c) {
  return kConditions[static_cast<size_t>(c)];
}

std::optional<Condition> ConditionFromCode(std::string_view code) {
  for (size_t i = 0; i < kConditions.size(); ++i) {
    if (kConditions[i] == code) return static_cast<Condition>(i);
  }
  return std::nullopt;
}

int Priority(Condition c) {
  switch (c) {
    case Condition::kCardiacArrest:
      return 0;
    case Condition::kStroke:
    case Condition::kStemi:
    case Condition::kMajorTrauma:
      return 1;
    case Condition::kBurns:
    case Condition::kObstetric:
      return 2;
    case Condition::kGeneral:
      return 3;
  }
  return 3;
}

std::string_view AmbulanceStatusCode(AmbulanceStatus s) {
  return kAmbulanceStatuses[static_cast<size_t>(s)];
}

std::optional<AmbulanceStatus> AmbulanceStatusFromCode(std::string_view code) {
  for (size_t i = 0; i < kAmbulanceStatuses.size(); ++i) {
    if (kAmbulanceStatuses[i] == code) return static_cast<AmbulanceStatus>(i);
  }
  return std::nullopt;
}

}  // namespace medulla::dispatch
