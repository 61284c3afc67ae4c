#include "subscriptions/subscription_service.h"

#include <future>

#include <fmt/format.h>

#include "core/ids.h"
#include "core/logging.h"
#include "core/time.h"
#include "json/parse.h"
#include "json/write.h"
#include "subscriptions/topics.h"

namespace medulla::subscriptions {

// One subscription in force. `spec` and `status` change under mu_ (Apply); the delivery state
// belongs to the one worker running the subscription (`running`), and OnChange touches the
// cursor only while it is not running, under mu_.
struct SubscriptionService::Active {
  std::shared_ptr<const SubscriptionSpec> spec;
  std::string invalid;  // why the stored Subscription cannot be honoured (status error)
  bool running = false;
  bool again = false;  // woken while running: run once more
  bool removed = false;
  Clock::time_point next_timer = Clock::time_point::max();
  std::vector<std::weak_ptr<Binding>> bindings;
  // Delivery state.
  Cursor cursor;
  int64_t saved_seq = 0;  // what the cursor store has
  Clock::time_point saved_at{};
  int failures = 0;
  std::string error;
  Clock::time_point retry_at{};
  Clock::time_point last_sent = Clock::now();
};

// A websocket and the subscriptions it is bound to (the ids under the service's mu_).
struct SubscriptionService::Binding {
  std::weak_ptr<http::WebSocketConnection> connection;
  std::vector<std::string> ids;
};

namespace {

auto Log() {
  return core::Logger("subscriptions");
}

bool Ended(const SubscriptionSpec& spec) {
  return spec.end && *spec.end <= core::SystemClock::Instance().Now();
}

bool Delivers(const SubscriptionSpec& spec) {
  return (spec.status == "requested" || spec.status == "active" || spec.status == "error") &&
         !Ended(spec);
}

// Whether a resource carries the topic's code in `code` and none of the code system it
// leaves out.
bool HasTopicCode(const Topic& topic, const json::Value& resource) {
  const json::Value* code = resource.is_object() ? resource.Find("code") : nullptr;
  const json::Value* codings = code && code->is_object() ? code->Find("coding") : nullptr;
  bool found = topic.code.empty();
  if (codings && codings->is_array()) {
    for (const json::Value* c : codings->items()) {
      if (!c->is_object()) continue;
      const std::string_view system = c->StringOr("system");
      if (!topic.excluded_code_system.empty() && system == topic.excluded_code_system) {
        return false;
      }
      if (system == topic.code_system && c->StringOr("code") == topic.code) found = true;
    }
  }
  return found;
}

// Whether the version is an event of the subscription: its type, not a deletion (R4: "no
// notification when a resource is deleted"), meeting every filter.
bool IsEvent(const SubscriptionSpec& spec, const fhir::SearchParameterRegistry& registry,
             const store::VersionRecord& v) {
  if (v.type != spec.resource_type || v.deleted()) return false;
  const Topic* topic = nullptr;
  if (spec.topic_based) {
    topic = FindTopic(spec.topic);
    if (!topic || (v.version == 1 ? !topic->on_create : !topic->on_update)) return false;
  }
  const bool coded = topic && (!topic->code.empty() || !topic->excluded_code_system.empty());
  if (spec.filters.empty() && !coded) return true;
  auto doc = json::Parse(v.body);
  if (!doc) return false;
  if (coded && !HasTopicCode(*topic, *doc->root())) return false;
  for (const Criteria& c : spec.filters) {
    if (!Matches(c, registry, *doc->root(), v.id, v.last_updated)) return false;
  }
  return true;
}

bool Success(int status) {
  return status >= 200 && status < 300;
}

}  // namespace

// The application side of one websocket: the R4 "bind ID" and the backport's
// "bind-with-token TOKEN".
class SubscriptionService::Peer final : public http::WebSocketPeer {
 public:
  Peer(SubscriptionService& service, std::shared_ptr<http::WebSocketConnection> connection,
       bool authorized)
      : service_(service), authorized_(authorized), binding_(std::make_shared<Binding>()) {
    binding_->connection = connection;
    connection_ = std::move(connection);
  }

  void OnMessage(std::string_view text) override {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.remove_suffix(1);
    }
    auto conn = connection_.lock();
    if (!conn) return;
    if (text.starts_with("bind-with-token")) {
      std::string_view token = text.substr(15);
      if (token.starts_with(':')) token.remove_prefix(1);
      while (token.starts_with(' ')) token.remove_prefix(1);
      return BindWithToken(*conn, token);
    }
    if (text.starts_with("bind ")) {
      const std::string id(text.substr(5));
      if (!authorized_) {
        conn->Send("error " + id +
                   " binding by id needs a connection opened with an authorized token; use "
                   "bind-with-token");
        return;
      }
      if (auto s = service_.Bind(binding_, id, /*handshake=*/false); !s.ok()) {
        conn->Send(fmt::format("error {} {}", id, s.message()));
        return;
      }
      conn->Send("bound " + id);
      return;
    }
    conn->Send("error unknown command: send 'bind ID' or 'bind-with-token TOKEN'");
  }

  void OnClose() override { service_.Unbind(*binding_); }

 private:
  void BindWithToken(http::WebSocketConnection& conn, std::string_view token) {
    auto ids = service_.TokenSubscriptions(token);
    if (!ids) {
      conn.Send(fmt::format("error {}", ids.error().message()));
      return;
    }
    for (const std::string& id : *ids) {
      if (auto s = service_.Bind(binding_, id, /*handshake=*/true); !s.ok()) {
        conn.Send(fmt::format("error {} {}", id, s.message()));
      }
    }
  }

  SubscriptionService& service_;
  const bool authorized_;
  std::shared_ptr<Binding> binding_;
  std::weak_ptr<http::WebSocketConnection> connection_;
};

core::Result<std::unique_ptr<SubscriptionService>> SubscriptionService::Open(
    records::RecordService& records, store::Store& store, SubscriptionOptions options) {
  ASSIGN_OR_RETURN(auto cursors,
                   CursorStore::Open(options.cursor_path, options.vfs, options.reserve_bytes));
  return std::unique_ptr<SubscriptionService>(
      new SubscriptionService(records, store, std::move(options), std::move(cursors)));
}

SubscriptionService::SubscriptionService(records::RecordService& records, store::Store& store,
                                         SubscriptionOptions options,
                                         std::unique_ptr<CursorStore> cursors)
    : records_(records),
      store_(store),
      options_(std::move(options)),
      cursors_(std::move(cursors)) {}

SubscriptionService::~SubscriptionService() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  // Cursors advanced past versions that matched nothing are saved lazily: save them now.
  std::lock_guard lock(cursor_mu_);
  for (auto& [id, a] : subs_) {
    if (a->spec && a->spec->channel == ChannelType::kRestHook && a->cursor.seq != a->saved_seq) {
      (void)cursors_->Save(id, a->cursor);
    }
  }
}

core::Status SubscriptionService::Validate(const json::Value& subscription) const {
  auto spec = ParseSubscription(subscription, "", records_.search_parameters(), options_.limits);
  if (!spec) return spec.error();
  const std::string_view status = subscription.StringOr("status");
  if (status != "requested" && status != "active" && status != "off" && status != "error") {
    return core::InvalidArgument(
        fmt::format("Subscription: status '{}' is not one of requested, "
                    "active, error, off",
                    status));
  }
  return core::OkStatus();
}

core::Status SubscriptionService::Start(int64_t feed_position) {
  ASSIGN_OR_RETURN(auto saved, cursors_->Load());
  ASSIGN_OR_RETURN(
      auto found,
      records_.Search("Subscription", {{"_count", std::to_string(options_.max_subscriptions)}},
                      /*strict=*/true));
  if (found.page.next_cursor) {
    Log()->warn("more than {} Subscriptions: only the first are served",
                options_.max_subscriptions);
  }
  {
    std::lock_guard lock(mu_);
    feed_seq_ = feed_position;
  }
  for (const store::VersionRecord& v : found.page.resources) {
    auto it = saved.find(v.id);
    std::optional<Cursor> cursor;
    if (it != saved.end()) {
      cursor = it->second;
      saved.erase(it);
    }
    Apply(v, cursor, feed_position);
  }
  std::lock_guard cursor_lock(cursor_mu_);
  for (const auto& [id, unused] : saved) (void)cursors_->Remove(id);  // deleted meanwhile
  std::lock_guard lock(mu_);
  for (auto& [id, a] : subs_) Ready(id);
  for (size_t i = 0; i < std::max<size_t>(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
  return core::OkStatus();
}

void SubscriptionService::OnChange(const store::VersionRecord& version) {
  if (version.type == "Subscription") {
    Apply(version, std::nullopt, version.seq);
    std::lock_guard lock(mu_);
    feed_seq_ = version.seq;
    return;
  }
  std::lock_guard lock(mu_);
  const int64_t previous = feed_seq_;
  feed_seq_ = version.seq;
  for (auto& [id, a] : subs_) {
    if (a->spec && a->spec->resource_type == version.type) {
      Ready(id);
    } else if (!a->running && a->cursor.seq == previous) {
      a->cursor.seq = version.seq;  // nothing for it: keep it caught up without a scan
    }
  }
}

void SubscriptionService::Apply(const store::VersionRecord& version, std::optional<Cursor> saved,
                                int64_t start_seq) {
  const std::string& id = version.id;
  if (version.deleted()) {
    std::shared_ptr<Active> gone;
    {
      std::lock_guard lock(mu_);
      auto it = subs_.find(id);
      if (it == subs_.end()) return;
      gone = it->second;
      gone->removed = true;
      subs_.erase(it);
    }
    for (auto& b : gone->bindings) {
      if (auto binding = b.lock()) {
        if (auto conn = binding->connection.lock()) conn->Send("error " + id + " deleted");
      }
    }
    std::lock_guard cursor_lock(cursor_mu_);
    (void)cursors_->Remove(id);
    return;
  }
  auto spec = std::make_shared<SubscriptionSpec>();
  std::string invalid;
  auto doc = json::Parse(version.body);
  if (!doc) {
    invalid = doc.error().message();
  } else if (auto parsed = ParseSubscription(*doc->root(), id, records_.search_parameters(),
                                             options_.limits)) {
    *spec = std::move(*parsed);
  } else {
    invalid = parsed.error().message();
    spec->id = id;
    spec->status = std::string(doc->root()->StringOr("status"));
  }
  bool save = false;
  std::shared_ptr<Active> a;
  {
    std::lock_guard lock(mu_);
    auto& slot = subs_[id];
    if (!slot) {
      if (subs_.size() > options_.max_subscriptions) {
        subs_.erase(id);
        Log()->warn("Subscription/{} is past the limit of {} subscriptions: not served", id,
                    options_.max_subscriptions);
        return;
      }
      slot = std::make_shared<Active>();
      // A rest-hook resumes from its saved cursor, or starts at the commit that created it;
      // a websocket is live only: it starts now.
      const bool durable = spec->channel == ChannelType::kRestHook;
      slot->cursor = durable && saved ? *saved : Cursor{.seq = start_seq};
      slot->saved_seq = saved ? saved->seq : -1;
      save = durable && !saved;
    }
    a = slot;
    a->spec = std::move(spec);
    a->invalid = std::move(invalid);
    Ready(id);
    known_cv_.notify_all();
  }
  if (save) {
    std::lock_guard cursor_lock(cursor_mu_);
    if (auto s = cursors_->Save(id, a->cursor); !s.ok()) {
      Log()->error("Subscription/{}: saving its cursor: {}", id, s.message());
    }
  }
}

void SubscriptionService::Ready(const std::string& id) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  if (it->second->running) {
    it->second->again = true;
    return;
  }
  if (ready_set_.insert(id).second) {
    ready_.push_back(id);
    cv_.notify_one();
  }
}

void SubscriptionService::Worker() {
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      const std::string id = timers_.begin()->second;
      timers_.erase(timers_.begin());
      if (auto it = subs_.find(id); it != subs_.end()) {
        it->second->next_timer = Clock::time_point::max();
        Ready(id);
      }
    }
    if (stopping_) return;
    if (ready_.empty()) {
      if (timers_.empty()) {
        cv_.wait(lock);
      } else {
        // A copy: another worker may erase the timer while this one waits.
        const Clock::time_point wake = timers_.begin()->first;
        cv_.wait_until(lock, wake);
      }
      continue;
    }
    const std::string id = ready_.front();
    ready_.erase(ready_.begin());
    ready_set_.erase(id);
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    std::shared_ptr<Active> a = it->second;
    a->running = true;
    a->again = false;
    lock.unlock();
    Step(*a);
    lock.lock();
    a->running = false;
    if (a->again && !a->removed) Ready(id);
  }
}

void SubscriptionService::Schedule(Active& a, Clock::time_point at) {
  std::lock_guard lock(mu_);
  if (a.removed || at >= a.next_timer) return;
  a.next_timer = at;
  timers_.emplace(at, a.spec->id);
  cv_.notify_one();
}

void SubscriptionService::SaveCursor(Active& a, bool now) {
  if (a.spec->channel != ChannelType::kRestHook || a.cursor.seq == a.saved_seq) return;
  // Past versions that matched nothing are saved at most every few seconds: after a crash
  // they are only judged again.
  if (!now && Clock::now() - a.saved_at < std::chrono::seconds(5)) return;
  std::lock_guard lock(cursor_mu_);
  if (auto s = cursors_->Save(a.spec->id, a.cursor); !s.ok()) {
    Log()->error("Subscription/{}: saving its cursor: {}", a.spec->id, s.message());
    return;
  }
  a.saved_seq = a.cursor.seq;
  a.saved_at = Clock::now();
}

void SubscriptionService::Failed(Active& a, const core::Status& s) {
  ++a.failures;
  a.error = s.message();
  {
    std::lock_guard lock(mu_);
    ++stats_.delivery_failures;
  }
  auto backoff = options_.retry_min;
  for (int i = 1; i < a.failures && backoff < options_.retry_max; ++i) backoff *= 2;
  backoff = std::min(backoff, options_.retry_max);
  a.retry_at = Clock::now() + backoff;
  Log()->warn("Subscription/{}: delivery failed ({} in a row), retrying in {} ms: {}", a.spec->id,
              a.failures, backoff.count(), a.error);
  if (a.failures == options_.error_after_failures) WriteStatus(a, "error", a.error);
  Schedule(a, a.retry_at);
}

void SubscriptionService::Step(Active& a) {
  std::shared_ptr<const SubscriptionSpec> spec;
  std::string invalid;
  {
    std::lock_guard lock(mu_);
    spec = a.spec;
    invalid = a.invalid;
  }
  if (!invalid.empty()) {
    if (spec->status != "error" && spec->status != "off") WriteStatus(a, "error", invalid);
    return;
  }
  if (Ended(*spec) && spec->status != "off") {
    WriteStatus(a, "off", "");
    return;
  }
  if (!Delivers(*spec)) return;
  const auto now = Clock::now();
  if (now < a.retry_at) return Schedule(a, a.retry_at);
  if (spec->topic_based && spec->channel == ChannelType::kRestHook && !a.cursor.handshake) {
    if (auto s = Deliver(a, *spec, NotificationType::kHandshake, {}); !s.ok()) {
      return Failed(a, s);
    }
    a.cursor.handshake = true;
    SaveCursor(a, true);
  }
  if (spec->status == "requested" || (spec->status == "error" && a.failures == 0)) {
    WriteStatus(a, "active", "");
  }

  auto batch = store_.Changes(a.cursor.seq, options_.scan_batch);
  if (!batch) return Failed(a, batch.error());
  std::vector<Event> events;
  int64_t judged = a.cursor.seq;
  const size_t max_events = spec->topic_based ? static_cast<size_t>(spec->max_count) : 1;
  for (const store::VersionRecord& v : *batch) {
    if (IsEvent(*spec, records_.search_parameters(), v)) {
      events.push_back(Event{.number = a.cursor.events + 1 + static_cast<int64_t>(events.size()),
                             .version = &v});
    }
    judged = v.seq;
    if (events.size() == max_events) break;
  }
  if (!events.empty()) {
    if (auto s = Deliver(a, *spec, NotificationType::kEventNotification, events); !s.ok()) {
      return Failed(a, s);
    }
    a.cursor.events += static_cast<int64_t>(events.size());
  }
  a.cursor.seq = judged;
  const bool delivered = !events.empty();
  if (delivered) {
    a.failures = 0;
    a.error.clear();
    a.last_sent = Clock::now();
  }
  SaveCursor(a, delivered);
  if (delivered && spec->status == "error") WriteStatus(a, "active", "");
  const bool more =
      !batch->empty() && (judged < batch->back().seq || batch->size() == options_.scan_batch);
  if (more) {
    std::lock_guard lock(mu_);
    a.again = true;
    return;
  }
  if (spec->topic_based && spec->heartbeat_seconds > 0) {
    const auto period = std::chrono::seconds(spec->heartbeat_seconds);
    if (Clock::now() - a.last_sent >= period) {
      if (auto s = Deliver(a, *spec, NotificationType::kHeartbeat, {}); !s.ok()) {
        return Failed(a, s);
      }
      a.last_sent = Clock::now();
    }
    Schedule(a, a.last_sent + period);
  }
}

NotificationContext SubscriptionService::ContextFor(const Active& a,
                                                    const SubscriptionSpec& spec) const {
  return NotificationContext{.base_url = options_.base_url,
                             .status = spec.status == "requested" ? "active" : spec.status,
                             .events_since_start = a.cursor.events,
                             .now = core::SystemClock::Instance().Now(),
                             .error = a.error};
}

core::Status SubscriptionService::Deliver(Active& a, const SubscriptionSpec& spec,
                                          NotificationType type, std::span<const Event> events) {
  core::Status s = spec.channel == ChannelType::kRestHook ? DeliverRestHook(a, spec, type, events)
                                                          : DeliverWebSocket(a, spec, type, events);
  if (s.ok()) {
    std::lock_guard lock(mu_);
    stats_.notifications_sent += std::max<size_t>(1, events.size());
  }
  return s;
}

core::Status SubscriptionService::DeliverRestHook(Active& a, const SubscriptionSpec& spec,
                                                  NotificationType type,
                                                  std::span<const Event> events) {
  http::FetchOptions fetch{.timeout = spec.timeout_seconds > 0
                                          ? std::chrono::milliseconds(spec.timeout_seconds * 1000)
                                          : options_.rest_hook_timeout,
                           .max_body_bytes = 64 * 1024,
                           .ca_file = options_.ca_file};
  http::ClientRequest req{.method = "POST", .url = spec.endpoint, .headers = spec.headers};
  if (spec.topic_based) {
    NotificationContext ctx = ContextFor(a, spec);
    ctx.events_since_start = a.cursor.events + static_cast<int64_t>(events.size());
    req.content_type = "application/fhir+json";
    req.body = TopicNotificationBundle(spec, type, events, ctx);
  } else if (!spec.payload.empty()) {
    // R4: "If a payload is included, the URL is interpreted as the service base, and an update
    // (PUT) is made" (subscription-channel-type).
    const store::VersionRecord& v = *events.front().version;
    std::string base = spec.endpoint;
    while (base.ends_with('/')) base.pop_back();
    req.method = "PUT";
    req.url = fmt::format("{}/{}/{}", base, v.type, v.id);
    req.content_type = "application/fhir+json";
    req.body = v.body;
  }
  auto res = http::Call(req, fetch);
  if (!res) return res.error();
  if (!Success(res->status)) {
    return core::Unavailable(
        fmt::format("{} {} answered HTTP {}", req.method, req.url, res->status));
  }
  return core::OkStatus();
}

core::Status SubscriptionService::DeliverWebSocket(Active& a, const SubscriptionSpec& spec,
                                                   NotificationType type,
                                                   std::span<const Event> events) {
  std::vector<std::shared_ptr<http::WebSocketConnection>> connections;
  {
    std::lock_guard lock(mu_);
    std::erase_if(a.bindings, [&](const std::weak_ptr<Binding>& b) {
      auto binding = b.lock();
      auto conn = binding ? binding->connection.lock() : nullptr;
      if (!conn || !conn->open()) return true;
      connections.push_back(std::move(conn));
      return false;
    });
  }
  if (connections.empty()) return core::OkStatus();  // live only: nobody is listening
  std::string text;
  if (spec.topic_based) {
    NotificationContext ctx = ContextFor(a, spec);
    ctx.events_since_start = a.cursor.events + static_cast<int64_t>(events.size());
    text = TopicNotificationBundle(spec, type, events, ctx);
  } else {
    text = WebSocketPing(spec);
  }
  for (auto& conn : connections) conn->Send(text);
  return core::OkStatus();
}

void SubscriptionService::WriteStatus(Active& a, std::string_view status, std::string_view error) {
  const std::string id = a.spec->id;
  auto current = records_.Read("Subscription", id);
  if (!current) return;
  auto doc = json::Parse(current->body);
  if (!doc) return;
  json::Value& root = *doc->root();
  const std::string_view old_error = root.StringOr("error");
  if (root.StringOr("status") == status && old_error == error) return;
  doc->Set(root, "status", doc->NewString(status));
  if (error.empty()) {
    doc->Remove(root, "error");
  } else {
    doc->Set(root, "error", doc->NewString(error.substr(0, 1000)));
  }
  auto done = std::make_shared<std::promise<core::Status>>();
  auto result = done->get_future();
  records_.Update("Subscription", id, json::Write(root), current->version,
                  [done](core::Result<records::WriteReply> r) {
                    done->set_value(r ? core::OkStatus() : r.error());
                  });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    Log()->warn("Subscription/{}: the status update to {} is taking long", id, status);
    return;
  }
  if (auto s = result.get(); !s.ok()) {
    // A concurrent change (412) is fine: the feed brings it, and the next step judges again.
    Log()->info("Subscription/{}: status not set to {}: {}", id, status, s.message());
  }
}

core::Status SubscriptionService::Bind(const std::shared_ptr<Binding>& binding,
                                       const std::string& id, bool handshake) {
  std::shared_ptr<Active> a;
  std::shared_ptr<const SubscriptionSpec> spec;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(id);
    if (it == subs_.end()) return core::NotFound("no such subscription");
    a = it->second;
    spec = a->spec;
    if (spec->channel != ChannelType::kWebSocket) {
      return core::InvalidArgument("its channel is not websocket");
    }
    if (!Delivers(*spec)) return core::InvalidArgument("it is off or has ended");
    std::erase_if(a->bindings, [](const std::weak_ptr<Binding>& b) { return b.expired(); });
    if (a->bindings.size() >= options_.max_bindings) {
      return core::ResourceExhausted(
          fmt::format("at most {} websockets per subscription", options_.max_bindings));
    }
    if (std::find(binding->ids.begin(), binding->ids.end(), id) == binding->ids.end()) {
      binding->ids.push_back(id);
      a->bindings.push_back(binding);
      ++stats_.bindings;
    }
  }
  if (handshake && spec->topic_based) {
    if (auto conn = binding->connection.lock()) {
      NotificationContext ctx;
      {
        std::lock_guard lock(mu_);
        ctx = NotificationContext{.base_url = options_.base_url,
                                  .status = "active",
                                  .events_since_start = a->cursor.events,
                                  .now = core::SystemClock::Instance().Now()};
      }
      conn->Send(TopicNotificationBundle(*spec, NotificationType::kHandshake, {}, ctx));
    }
  }
  return core::OkStatus();
}

void SubscriptionService::Unbind(const Binding& binding) {
  std::lock_guard lock(mu_);
  for (const std::string& id : binding.ids) {
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    std::erase_if(it->second->bindings, [&](const std::weak_ptr<Binding>& b) {
      auto locked = b.lock();
      return !locked || locked.get() == &binding;
    });
    --stats_.bindings;
  }
}

core::Result<std::vector<std::string>> SubscriptionService::TokenSubscriptions(
    std::string_view token) {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  std::erase_if(tokens_, [&](const auto& t) { return t.second.second <= now; });
  auto it = tokens_.find(std::string(token));
  if (it == tokens_.end()) {
    return core::Fail(core::PermissionDenied("unknown or expired binding token"));
  }
  return it->second.first;
}

bool SubscriptionService::AwaitKnown(const std::string& id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return known_cv_.wait_for(lock, timeout, [&] { return subs_.contains(id); });
}

core::Result<std::string> SubscriptionService::BindingToken(const std::string& id,
                                                            const std::string& websocket_url) {
  std::lock_guard lock(mu_);
  auto it = subs_.find(id);
  if (it == subs_.end()) return core::Fail(core::NotFound(fmt::format("no Subscription/{}", id)));
  if (it->second->spec->channel != ChannelType::kWebSocket) {
    return core::Fail(core::InvalidArgument(
        fmt::format("Subscription/{} does not use the websocket channel", id)));
  }
  const auto now = Clock::now();
  std::erase_if(tokens_, [&](const auto& t) { return t.second.second <= now; });
  if (tokens_.size() >= 10 * options_.max_subscriptions) {
    return core::Fail(core::ResourceExhausted("too many binding tokens outstanding"));
  }
  std::string token = core::NewUuidV7();
  tokens_[token] = {{id}, now + options_.binding_token_lifetime};
  const auto expires =
      core::SystemClock::Instance().Now() +
      std::chrono::duration_cast<std::chrono::microseconds>(options_.binding_token_lifetime)
          .count();
  std::string out = R"({"resourceType":"Parameters","parameter":[{"name":"token","valueString":)";
  json::WriteString(token, out);
  out += fmt::format(R"(}},{{"name":"expiration","valueDateTime":"{}"}},)",
                     core::FormatInstant(expires));
  out += R"({"name":"subscription","valueString":)";
  json::WriteString(id, out);
  out += R"(},{"name":"websocket-url","valueUrl":)";
  json::WriteString(websocket_url, out);
  out += "}]}";
  return out;
}

core::Result<std::string> SubscriptionService::StatusBundle(const std::string& id) {
  std::shared_ptr<const SubscriptionSpec> spec;
  NotificationContext ctx;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(id);
    if (it == subs_.end()) return core::Fail(core::NotFound(fmt::format("no Subscription/{}", id)));
    const Active& a = *it->second;
    spec = a.spec;
    // The delivery state may be mid-step: these are the figures as of the last step.
    ctx = NotificationContext{.base_url = options_.base_url,
                              .status = a.invalid.empty() ? spec->status : "error",
                              .events_since_start = a.cursor.events,
                              .now = core::SystemClock::Instance().Now(),
                              .error = a.invalid.empty() ? a.error : a.invalid};
  }
  return TopicNotificationBundle(*spec, NotificationType::kQueryStatus, {}, ctx);
}

std::shared_ptr<http::WebSocketPeer> SubscriptionService::Connect(
    std::shared_ptr<http::WebSocketConnection> connection, bool authorized) {
  return std::make_shared<Peer>(*this, std::move(connection), authorized);
}

SubscriptionStats SubscriptionService::Stats() const {
  std::lock_guard lock(mu_);
  SubscriptionStats s = stats_;
  s.active = subs_.size();
  return s;
}

}  // namespace medulla::subscriptions
