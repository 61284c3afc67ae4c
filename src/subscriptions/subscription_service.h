// FHIR Subscriptions, delivered: keeps the Subscription resources in force, matches every
// committed version against them, and notifies over rest-hook (durable: no loss across
// restarts, retries with backoff) and websocket (live, to the clients bound at the time).
//
// Delivery reads the store's change log itself, from each subscription's durable cursor
// (cursor_store.h): the record's version history is the outbox, so nothing is queued in memory
// and a restart, a slow endpoint or an outage only makes a subscription resume further back.
// A pool of workers takes subscriptions that have something to do (new commits of their type,
// a retry or heartbeat that is due), one worker per subscription at a time, so each endpoint
// receives its notifications in commit order.
//
// Who may subscribe is api/'s decision (writing a Subscription needs an administrator: a
// subscription sees every resource its criteria match).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "http/client.h"
#include "http/websocket.h"
#include "records/record_service.h"
#include "store/store.h"
#include "subscriptions/cursor_store.h"
#include "subscriptions/notification.h"
#include "subscriptions/subscription_spec.h"

namespace medulla::subscriptions {

struct SubscriptionOptions {
  std::string base_url;     // the FHIR base (".../fhir"), for references in notifications
  std::string cursor_path;  // the cursors' SQLite file; empty: in memory (tests)
  std::string vfs;          // its SQLite VFS (the record's encryption), empty: default
  int reserve_bytes = 0;    // page reserve for that encryption
  size_t workers = 2;       // threads delivering
  std::chrono::milliseconds rest_hook_timeout{10'000};  // per notification, unless the
                                                        // subscription's backport-timeout
  std::chrono::milliseconds retry_min{1'000};           // the first retry of a failed delivery
  std::chrono::milliseconds retry_max{300'000};         // backoff doubles up to this
  int error_after_failures = 3;  // failures in a row that set the Subscription's status to error
  size_t scan_batch = 500;       // versions read from the change log per step
  size_t max_subscriptions = 1000;
  size_t max_bindings = 16;  // websockets bound to one subscription
  std::chrono::seconds binding_token_lifetime{300};
  std::string ca_file;  // trusted CAs for https endpoints; empty: the system's
  SpecLimits limits;
};

struct SubscriptionStats {
  uint64_t notifications_sent = 0;
  uint64_t delivery_failures = 0;
  size_t active = 0;
  size_t bindings = 0;
};

class SubscriptionService {
 public:
  static core::Result<std::unique_ptr<SubscriptionService>> Open(records::RecordService& records,
                                                                 store::Store& store,
                                                                 SubscriptionOptions options);
  ~SubscriptionService();  // stops the workers (a delivery in progress finishes or times out)

  // Before Start: the FHIR base notifications name (once the server's port is known).
  void SetBaseUrl(std::string base_url) { options_.base_url = std::move(base_url); }

  // Checks a Subscription about to be written, so that the client hears at once what medulla
  // cannot honour (kInvalidArgument with the reason).
  core::Status Validate(const json::Value& subscription) const;

  // Loads the Subscriptions in the record and starts delivering, each from its cursor.
  // `feed_position`: where the change feed that calls OnChange starts.
  core::Status Start(int64_t feed_position);

  // The change feed's consumer (commit order): Subscriptions come, change and go; other
  // versions wake the subscriptions about their type.
  void OnChange(const store::VersionRecord& version);

  // Subscription/ID/$status: a query-status notification Bundle (topic-based), or for an R4
  // subscription the same shape without a topic. kNotFound when there is no such subscription.
  core::Result<std::string> StatusBundle(const std::string& id);
  // Subscription/ID/$get-ws-binding-token: Parameters with a token that binds a websocket to
  // the subscription. `websocket_url`: where clients connect.
  core::Result<std::string> BindingToken(const std::string& id, const std::string& websocket_url);
  // Waits up to `timeout` for the change feed to bring Subscription/ID (committed but not
  // delivered yet, as right after its create under load); false if it did not come.
  bool AwaitKnown(const std::string& id, std::chrono::milliseconds timeout);

  // A websocket connection's peer. `authorized`: the upgrade carried a token that may read
  // every subscription (R4 "bind ID" needs it; "bind-with-token" carries its own proof).
  std::shared_ptr<http::WebSocketPeer> Connect(std::shared_ptr<http::WebSocketConnection> conn,
                                               bool authorized);

  SubscriptionStats Stats() const;

 private:
  class Peer;
  struct Binding;
  struct Active;
  using Clock = std::chrono::steady_clock;

  SubscriptionService(records::RecordService& records, store::Store& store,
                      SubscriptionOptions options, std::unique_ptr<CursorStore> cursors);
  void Worker();
  // One turn for a subscription: status, handshake, then the notifications for the versions
  // after its cursor (a batch at most), or a heartbeat. Runs without mu_.
  void Step(Active& a);
  // Reads a Subscription version into the set (added, changed, removed). A new one starts at
  // `saved` (a rest-hook's durable cursor), else at `start_seq`.
  void Apply(const store::VersionRecord& version, std::optional<Cursor> saved, int64_t start_seq);
  // Makes `id` runnable now (if not queued or running; running: once more after). Under mu_.
  void Ready(const std::string& id);
  // Wakes the subscription at `at` (a retry, a heartbeat).
  void Schedule(Active& a, Clock::time_point at);
  // Saves the cursor: `now`, or when the last save is a few seconds old.
  void SaveCursor(Active& a, bool now);
  // A failed delivery: backoff, and status error after options_.error_after_failures.
  void Failed(Active& a, const core::Status& s);
  // Writes the Subscription's status (and error) into the record, if they changed.
  void WriteStatus(Active& a, std::string_view status, std::string_view error);
  core::Status Deliver(Active& a, const SubscriptionSpec& spec, NotificationType type,
                       std::span<const Event> events);
  core::Status DeliverRestHook(Active& a, const SubscriptionSpec& spec, NotificationType type,
                               std::span<const Event> events);
  core::Status DeliverWebSocket(Active& a, const SubscriptionSpec& spec, NotificationType type,
                                std::span<const Event> events);
  NotificationContext ContextFor(const Active& a, const SubscriptionSpec& spec) const;
  // Binds a websocket to a subscription (with the backport's handshake when asked).
  core::Status Bind(const std::shared_ptr<Binding>& binding, const std::string& id, bool handshake);
  void Unbind(const Binding& binding);
  core::Result<std::vector<std::string>> TokenSubscriptions(std::string_view token);

  records::RecordService& records_;
  store::Store& store_;
  SubscriptionOptions options_;           // base_url set before Start
  std::unique_ptr<CursorStore> cursors_;  // used under cursor_mu_
  std::mutex cursor_mu_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable known_cv_;  // a subscription became known
  std::unordered_map<std::string, std::shared_ptr<Active>> subs_;
  std::set<std::string> ready_set_;
  std::vector<std::string> ready_;                        // FIFO of runnable ids
  std::multimap<Clock::time_point, std::string> timers_;  // retries and heartbeats
  std::unordered_map<std::string, std::pair<std::vector<std::string>, Clock::time_point>>
      tokens_;            // binding token -> subscription ids, expiry
  int64_t feed_seq_ = 0;  // the change feed has delivered up to here
  bool stopping_ = false;
  SubscriptionStats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace medulla::subscriptions
