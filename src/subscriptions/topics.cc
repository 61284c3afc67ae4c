#include "subscriptions/topics.h"

#include <algorithm>
#include <array>

namespace medulla::subscriptions {
namespace {

constexpr std::array kTopics{
    Topic{.url = "https://medulla.health/fhir/SubscriptionTopic/monitoring-alert",
          .title = "Monitoring alert",
          .resource_type = "DetectedIssue",
          .description = "A monitoring alert (DetectedIssue) opened, escalated, acknowledged or "
                         "resolved. Filter by patient: DetectedIssue?patient=Patient/ID."},
    Topic{.url = "https://medulla.health/fhir/SubscriptionTopic/alert-task",
          .title = "Alert task",
          .resource_type = "Task",
          .description = "A Task asking a care-team member to acknowledge an alert, created or "
                         "changed (reassigned on escalation, accepted, completed). Filter by "
                         "owner: Task?owner=Practitioner/ID.",
          .excluded_code_system = "https://medulla.health/fhir/CodeSystem/dispatch"},
    Topic{.url = "https://medulla.health/fhir/SubscriptionTopic/dispatch",
          .title = "Ambulance dispatch",
          .resource_type = "Task",
          .description = "An ambulance dispatch (Task) recorded, or its destination changed "
                         "when a re-evaluation en route found a better hospital (traffic, "
                         "diversion, ED load). Filter by ambulance: Task?owner=Device/ID.",
          .code_system = "https://medulla.health/fhir/CodeSystem/dispatch",
          .code = "ambulance-dispatch"},
};

}  // namespace

std::span<const Topic> Topics() {
  return kTopics;
}

const Topic* FindTopic(std::string_view url) {
  auto it =
      std::find_if(kTopics.begin(), kTopics.end(), [&](const Topic& t) { return t.url == url; });
  return it == kTopics.end() ? nullptr : &*it;
}

}  // namespace medulla::subscriptions
