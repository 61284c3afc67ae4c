// The subscription topics medulla offers to topic-based subscriptions (the R4 Subscriptions
// Backport IG, https://hl7.org/fhir/uv/subscriptions-backport/). In R4 a server defines its
// topics itself; these are advertised in the CapabilityStatement.
#pragma once

#include <span>
#include <string_view>

namespace medulla::subscriptions {

struct Topic {
  std::string_view url;  // the canonical a Subscription's criteria names
  std::string_view title;
  std::string_view resource_type;  // what the topic's events are about
  bool on_create = true;
  bool on_update = true;
  std::string_view description;
  // Narrows the topic to resources carrying this code in `code` (system|code); empty: any.
  std::string_view code_system, code;
  // Leaves out resources carrying a code of this system in `code` (another topic's).
  std::string_view excluded_code_system;
};

std::span<const Topic> Topics();
// nullptr when medulla has no such topic.
const Topic* FindTopic(std::string_view url);

}  // namespace medulla::subscriptions
