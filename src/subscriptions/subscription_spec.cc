#include "subscriptions/subscription_spec.h"

#include <charconv>

#include <fmt/format.h>

#include "http/client.h"
#include "http/loopback.h"
#include "subscriptions/topics.h"

namespace medulla::subscriptions {
namespace {

core::Status Bad(std::string_view what) {
  return core::InvalidArgument(fmt::format("Subscription: {}", what));
}

// The value[x] of the extension with that URL in `holder.extension`, or nullptr.
const json::Value* ExtensionValue(const json::Value* holder, std::string_view url,
                                  std::string_view value_member) {
  if (!holder || !holder->is_object()) return nullptr;
  const json::Value* extensions = holder->Find("extension");
  if (!extensions || !extensions->is_array()) return nullptr;
  for (const json::Value* e : extensions->items()) {
    if (e->is_object() && e->StringOr("url") == url) return e->Find(value_member);
  }
  return nullptr;
}

// All values of the extensions with that URL.
std::vector<std::string_view> ExtensionStrings(const json::Value* holder, std::string_view url) {
  std::vector<std::string_view> out;
  if (!holder || !holder->is_object()) return out;
  const json::Value* extensions = holder->Find("extension");
  if (!extensions || !extensions->is_array()) return out;
  for (const json::Value* e : extensions->items()) {
    if (!e->is_object() || e->StringOr("url") != url) continue;
    if (const json::Value* v = e->Find("valueString"); v && v->is_string()) {
      out.push_back(v->text());
    }
  }
  return out;
}

core::Result<int> PositiveInt(const json::Value* v, std::string_view name, int max) {
  int n = 0;
  const std::string_view t = v->text();
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (!v->is_number() || ec != std::errc() || p != t.data() + t.size() || n < 0 || n > max) {
    return core::Fail(Bad(fmt::format("{} must be a whole number from 0 to {}", name, max)));
  }
  return n;
}

bool IsTopicBased(const json::Value& resource, std::string_view criteria) {
  if (criteria.starts_with("http://") || criteria.starts_with("https://")) return true;
  const json::Value* meta = resource.Find("meta");
  const json::Value* profiles = meta ? meta->Find("profile") : nullptr;
  if (profiles && profiles->is_array()) {
    for (const json::Value* p : profiles->items()) {
      if (p->is_string() && p->text().starts_with(kBackportBase)) return true;
    }
  }
  return false;
}

core::Status ReadCriteria(const json::Value& resource, std::string_view criteria,
                          const fhir::SearchParameterRegistry& registry, const SpecLimits& limits,
                          SubscriptionSpec& spec) {
  spec.topic_based = IsTopicBased(resource, criteria);
  if (!spec.topic_based) {
    spec.criteria_text = std::string(criteria);
    ASSIGN_OR_RETURN(Criteria c, ParseCriteria(registry, criteria));
    spec.resource_type = c.type;
    spec.filters.push_back(std::move(c));
    return core::OkStatus();
  }
  const Topic* topic = FindTopic(criteria);
  if (!topic) {
    return Bad(
        fmt::format("no subscription topic '{}' on this server (see the "
                    "CapabilityStatement)",
                    criteria));
  }
  spec.topic = std::string(topic->url);
  spec.resource_type = std::string(topic->resource_type);
  const auto filters = ExtensionStrings(resource.Find("_criteria"),
                                        fmt::format("{}backport-filter-criteria", kBackportBase));
  if (filters.size() > limits.max_filters) {
    return Bad(fmt::format("at most {} filter criteria", limits.max_filters));
  }
  for (std::string_view f : filters) {
    ASSIGN_OR_RETURN(Criteria c, ParseCriteria(registry, f));
    if (c.type != topic->resource_type) {
      return Bad(fmt::format("the filter '{}' is not about {}, the topic's resource type", f,
                             topic->resource_type));
    }
    spec.filters.push_back(std::move(c));
  }
  return core::OkStatus();
}

core::Status ReadChannel(const json::Value& channel, const SpecLimits& limits,
                         SubscriptionSpec& spec) {
  const std::string_view type = channel.StringOr("type");
  if (type == "rest-hook") {
    spec.channel = ChannelType::kRestHook;
    spec.endpoint = std::string(channel.StringOr("endpoint"));
    if (spec.endpoint.empty()) return Bad("a rest-hook channel needs channel.endpoint");
    auto url = http::ParseUrl(spec.endpoint);
    if (!url) return Bad(fmt::format("channel.endpoint: {}", url.error().message()));
    if (!url->https && !http::IsLoopbackHost(url->host)) {
      return Bad("channel.endpoint must be https:// (plain http:// only to this machine)");
    }
  } else if (type == "websocket") {
    spec.channel = ChannelType::kWebSocket;
  } else {
    return Bad(fmt::format("channel.type '{}' is not offered: use rest-hook or websocket", type));
  }
  if (const json::Value* headers = channel.Find("header"); headers && headers->is_array()) {
    if (headers->size() > limits.max_headers) {
      return Bad(fmt::format("at most {} channel.header values", limits.max_headers));
    }
    for (const json::Value* h : headers->items()) {
      const std::string_view text = h->text();
      const size_t colon = text.find(':');
      if (!h->is_string() || colon == std::string_view::npos || colon == 0 ||
          text.size() > limits.max_header_bytes ||
          text.find_first_of("\r\n") != std::string_view::npos) {
        return Bad("channel.header values must read 'Name: value' on one line");
      }
      std::string_view value = text.substr(colon + 1);
      while (value.starts_with(' ')) value.remove_prefix(1);
      spec.headers.emplace_back(std::string(text.substr(0, colon)), std::string(value));
    }
  }
  spec.payload = std::string(channel.StringOr("payload"));
  if (!spec.payload.empty() && spec.payload != "application/fhir+json" &&
      spec.payload != "application/json") {
    return Bad(fmt::format("channel.payload '{}' is not offered: use application/fhir+json",
                           spec.payload));
  }
  if (spec.topic_based) {
    const json::Value* content =
        ExtensionValue(channel.Find("_payload"),
                       fmt::format("{}backport-payload-content", kBackportBase), "valueCode");
    const std::string_view c = content && content->is_string() ? content->text() : "";
    if (!c.empty() && c != "full-resource" && c != "id-only" && c != "empty") {
      return Bad(fmt::format("payload content '{}': use empty, id-only or full-resource", c));
    }
    // Unsaid: id-only when there is a payload type, else empty.
    spec.content = c == "full-resource"                                     ? Content::kFullResource
                   : c == "id-only" || (c.empty() && !spec.payload.empty()) ? Content::kIdOnly
                                                                            : Content::kEmpty;
    if (spec.content != Content::kEmpty && spec.payload.empty()) {
      return Bad("a payload content other than empty needs channel.payload");
    }
    auto number = [&](std::string_view name, std::string_view member,
                      int max) -> core::Result<std::optional<int>> {
      const json::Value* v =
          ExtensionValue(&channel, fmt::format("{}backport-{}", kBackportBase, name), member);
      if (!v) return std::optional<int>();
      ASSIGN_OR_RETURN(int n, PositiveInt(v, name, max));
      return std::optional<int>(n);
    };
    ASSIGN_OR_RETURN(auto heartbeat,
                     number("heartbeat-period", "valueUnsignedInt", limits.max_heartbeat_seconds));
    ASSIGN_OR_RETURN(auto timeout, number("timeout", "valueUnsignedInt", 600));
    ASSIGN_OR_RETURN(auto max_count, number("max-count", "valuePositiveInt", limits.max_max_count));
    spec.heartbeat_seconds = heartbeat.value_or(0);
    spec.timeout_seconds = timeout.value_or(0);
    spec.max_count = std::max(1, max_count.value_or(1));
  } else {
    spec.content = spec.payload.empty() ? Content::kEmpty : Content::kFullResource;
  }
  return core::OkStatus();
}

}  // namespace

core::Result<SubscriptionSpec> ParseSubscription(const json::Value& resource, std::string_view id,
                                                 const fhir::SearchParameterRegistry& registry,
                                                 const SpecLimits& limits) {
  if (!resource.is_object() || resource.StringOr("resourceType") != "Subscription") {
    return core::Fail(Bad("not a Subscription"));
  }
  SubscriptionSpec spec;
  spec.id = std::string(id);
  spec.status = std::string(resource.StringOr("status"));
  const std::string_view criteria = resource.StringOr("criteria");
  if (criteria.empty()) return core::Fail(Bad("criteria is required"));
  RETURN_IF_ERROR(ReadCriteria(resource, criteria, registry, limits, spec));
  const json::Value* channel = resource.Find("channel");
  if (!channel || !channel->is_object()) return core::Fail(Bad("channel is required"));
  RETURN_IF_ERROR(ReadChannel(*channel, limits, spec));
  if (const std::string_view end = resource.StringOr("end"); !end.empty()) {
    auto range = core::ParseFhirDateTimeRange(end);
    if (!range) return core::Fail(Bad(fmt::format("end '{}' is not a FHIR instant", end)));
    spec.end = range->begin;
  }
  return spec;
}

}  // namespace medulla::subscriptions
