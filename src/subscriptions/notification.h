// What a notification looks like on the wire, for both kinds of subscription (see
// subscription_spec.h). Pure: text in, text out.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/time.h"
#include "store/store.h"
#include "subscriptions/subscription_spec.h"

namespace medulla::subscriptions {

// The backport's notification types (SubscriptionStatus.type).
enum class NotificationType { kHandshake, kHeartbeat, kEventNotification, kQueryStatus };

struct Event {
  int64_t number = 0;  // events-since-subscription-start of this event
  const store::VersionRecord* version = nullptr;
};

struct NotificationContext {
  std::string base_url;  // the FHIR base, for references and fullUrls
  std::string status;    // the subscription's status as the notification reports it
  int64_t events_since_start = 0;
  core::MicrosSinceEpoch now = 0;
  std::string error;  // the last delivery error, for $status
};

// A topic-based notification: a history Bundle whose first entry is the SubscriptionStatus
// (the backport's R4 form: Parameters with the backport-subscription-status-r4 profile), then,
// per the subscription's payload content, the events' resources (full-resource) or their
// references (id-only).
std::string TopicNotificationBundle(const SubscriptionSpec& spec, NotificationType type,
                                    std::span<const Event> events, const NotificationContext& ctx);

// The body of an R4 websocket notification ("ping <id>", subscription.html#2.46.7.2).
std::string WebSocketPing(const SubscriptionSpec& spec);

}  // namespace medulla::subscriptions
