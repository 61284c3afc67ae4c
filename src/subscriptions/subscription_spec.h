// A Subscription resource read into what delivery needs, both kinds:
// - R4 criteria subscriptions (https://hl7.org/fhir/R4/subscription.html): `criteria` is a
//   search ("DetectedIssue?patient=Patient/1"); a rest-hook POSTs to the endpoint with no body,
//   or, with a payload, PUTs the resource to [endpoint]/[type]/[id]; a websocket gets
//   "ping <id>".
// - R4 topic-based subscriptions of the Subscriptions Backport IG 1.1
//   (https://hl7.org/fhir/uv/subscriptions-backport/): `criteria` is a topic's canonical URL,
//   filters ride in backport-filter-criteria extensions, and notifications are history
//   Bundles led by a SubscriptionStatus Parameters resource.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "fhir/search_parameters.h"
#include "json/value.h"
#include "subscriptions/criteria.h"

namespace medulla::subscriptions {

inline constexpr std::string_view kBackportBase =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";

enum class ChannelType { kRestHook, kWebSocket };
// What a topic-based notification carries (backport-payload-content).
enum class Content { kEmpty, kIdOnly, kFullResource };

struct SubscriptionSpec {
  std::string id;
  std::string status;  // requested | active | error | off
  bool topic_based = false;
  std::string topic;              // topic-based: the topic's canonical URL
  std::string criteria_text;      // R4: the criteria as written
  std::vector<Criteria> filters;  // all must hold (R4: exactly one)
  std::string resource_type;      // what the filters are about
  ChannelType channel = ChannelType::kRestHook;
  std::string endpoint;                                      // rest-hook: the URL
  std::vector<std::pair<std::string, std::string>> headers;  // rest-hook: "Name: value"
  std::string payload;  // the MIME type; empty: notifications without the resource
  Content content = Content::kEmpty;
  int heartbeat_seconds = 0;  // topic-based: 0 = no heartbeats
  int timeout_seconds = 0;    // topic-based: how long the endpoint may take (0: the default)
  int max_count = 1;          // topic-based: events per notification at most
  std::optional<core::MicrosSinceEpoch> end;
};

struct SpecLimits {
  size_t max_headers = 10;
  size_t max_header_bytes = 4096;
  size_t max_filters = 10;
  int max_heartbeat_seconds = 86400;
  int max_max_count = 100;
};

// Reads and checks a Subscription. kInvalidArgument naming the element for anything medulla
// cannot honour: an unknown topic or channel type, criteria the matcher refuses, an endpoint
// that is not http(s) (plain http only to loopback), a payload other than FHIR JSON, headers
// without "Name: value"...
core::Result<SubscriptionSpec> ParseSubscription(const json::Value& resource, std::string_view id,
                                                 const fhir::SearchParameterRegistry& registry,
                                                 const SpecLimits& limits = {});

}  // namespace medulla::subscriptions
