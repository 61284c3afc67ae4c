#include "subscriptions/notification.h"

#include <fmt/format.h>

#include "core/ids.h"
#include "json/write.h"

namespace medulla::subscriptions {
namespace {

std::string_view TypeCode(NotificationType t) {
  switch (t) {
    case NotificationType::kHandshake:
      return "handshake";
    case NotificationType::kHeartbeat:
      return "heartbeat";
    case NotificationType::kEventNotification:
      return "event-notification";
    case NotificationType::kQueryStatus:
      return "query-status";
  }
  return "event-notification";
}

std::string Quoted(std::string_view s) {
  std::string out;
  json::WriteString(s, out);
  return out;
}

std::string ResourceUrl(const NotificationContext& ctx, const store::VersionRecord& v) {
  return fmt::format("{}/{}/{}", ctx.base_url, v.type, v.id);
}

// The SubscriptionStatus (R4 backport: Parameters, backport-subscription-status-r4).
std::string StatusParameters(const SubscriptionSpec& spec, NotificationType type,
                             std::span<const Event> events, const NotificationContext& ctx) {
  std::string p = fmt::format(
      R"({{"resourceType":"Parameters","meta":{{"profile":["{}backport-subscription-status-r4"]}},)"
      R"("parameter":[{{"name":"subscription","valueReference":{{"reference":{}}}}},)",
      kBackportBase, Quoted(fmt::format("{}/Subscription/{}", ctx.base_url, spec.id)));
  // An R4 criteria subscription ($status) has no topic.
  if (!spec.topic.empty()) {
    p += fmt::format(R"({{"name":"topic","valueCanonical":{}}},)", Quoted(spec.topic));
  }
  p += fmt::format(R"({{"name":"status","valueCode":{}}},{{"name":"type","valueCode":"{}"}},)"
                   R"({{"name":"events-since-subscription-start","valueString":"{}"}})",
                   Quoted(ctx.status), TypeCode(type), ctx.events_since_start);
  for (const Event& e : events) {
    p += fmt::format(
        R"(,{{"name":"notification-event","part":[{{"name":"event-number","valueString":"{}"}},)"
        R"({{"name":"timestamp","valueInstant":"{}"}})",
        e.number, core::FormatInstant(e.version->last_updated));
    if (spec.content != Content::kEmpty) {
      p += fmt::format(R"(,{{"name":"focus","valueReference":{{"reference":{}}}}})",
                       Quoted(ResourceUrl(ctx, *e.version)));
    }
    p += "]}";
  }
  if (!ctx.error.empty()) {
    p += fmt::format(R"(,{{"name":"error","valueCodeableConcept":{{"text":{}}}}})",
                     Quoted(ctx.error));
  }
  p += "]}";
  return p;
}

}  // namespace

std::string TopicNotificationBundle(const SubscriptionSpec& spec, NotificationType type,
                                    std::span<const Event> events, const NotificationContext& ctx) {
  std::string out = fmt::format(
      R"({{"resourceType":"Bundle","type":"history","timestamp":"{}","entry":[)"
      R"({{"fullUrl":"urn:uuid:{}","resource":{},)"
      R"("request":{{"method":"GET","url":{}}},"response":{{"status":"200"}}}})",
      core::FormatInstant(ctx.now), core::NewUuidV7(), StatusParameters(spec, type, events, ctx),
      Quoted(fmt::format("{}/Subscription/{}/$status", ctx.base_url, spec.id)));
  if (spec.content != Content::kEmpty) {
    for (const Event& e : events) {
      const store::VersionRecord& v = *e.version;
      out += fmt::format(R"(,{{"fullUrl":{})", Quoted(ResourceUrl(ctx, v)));
      if (spec.content == Content::kFullResource && !v.deleted()) {
        out += R"(,"resource":)" + v.body;
      }
      const bool created = v.version == 1;
      out += fmt::format(
          R"(,"request":{{"method":"{}","url":"{}/{}"}},"response":{{"status":"{}"}}}})",
          created ? "POST" : "PUT", v.type, v.id, created ? "201" : "200");
    }
  }
  out += "]}";
  return out;
}

std::string WebSocketPing(const SubscriptionSpec& spec) {
  return "ping " + spec.id;
}

}  // namespace medulla::subscriptions
