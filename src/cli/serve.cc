#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "api/fhir_api.h"
#include "bulk/export.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/security_setup.h"
#include "cli/store_key.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/time.h"
#include "dispatch/service.h"
#include "fhir/definitions.h"
#include "http/client.h"
#include "http/server.h"
#include "mqtt/subscriber.h"
#include "records/change_feed.h"
#include "records/record_service.h"
#include "routing/road_graph.h"
#include "routing/router.h"
#include "routing/traffic_feed.h"
#include "rpm/monitor_service.h"
#include "security/client_registry.h"
#include "security/token_service.h"
#include "store/sqlite/encrypted_vfs.h"
#include "store/sqlite/sqlite_store.h"
#include "subscriptions/subscription_service.h"
#include "telemetry/series_store.h"

#ifndef MEDULLA_VERSION
#define MEDULLA_VERSION "0.0.0"
#endif

namespace medulla::cli {

namespace {

bulk::ExportOptions ExportOptionsFor(const Config& config) {
  bulk::ExportOptions options{.directory = config.data_dir + "/exports"};
  if (!config.store.encryption_key.empty()) {
    // The store opened with this key already, so it is well formed.
    if (auto key = store::sqlite::StoreCipher::FromKey(config.store.encryption_key)) {
      options.store_key = std::move(*key);
    }
  }
  return options;
}

int64_t Millis(double minutes) {
  return std::llround(minutes * 60'000);
}

// The [monitor] section (validated) over MonitorSettings' defaults.
monitor::MonitorSettings MonitorSettingsFor(const Config::Monitor& m) {
  monitor::MonitorSettings s;
  s.confirm_ms = Millis(m.confirm_minutes);
  s.resolve_hold_ms = Millis(m.resolve_hold_minutes);
  s.news2_max_age_ms = Millis(m.news2_max_age_minutes);
  s.silence_ms = Millis(m.silence_minutes);
  s.score_interval_ms = Millis(m.score_interval_minutes);
  s.trend_single = m.trend_single;
  s.trend_pair = m.trend_pair;
  s.qsofa_enabled = m.qsofa;
  return s;
}

// What became of an MQTT message: taken (its refused readings logged: nobody to answer over
// MQTT), or to be delivered again when the refusal was transient.
mqtt::Disposition Ingested(const std::string& device, const core::Result<rpm::IngestReply>& r) {
  auto log = core::Logger("mqtt");
  if (!r.has_value()) {
    const auto code = r.error().code();
    const bool transient = code == core::Code::kResourceExhausted ||
                           code == core::Code::kUnavailable || code == core::Code::kInternal;
    log->warn("message from Device/{} {}: {}", device, transient ? "not taken now" : "refused",
              r.error().message());
    return transient ? mqtt::Disposition::kRetry : mqtt::Disposition::kDone;
  }
  if (const auto& errors = r->errors; !errors.empty()) {
    log->warn("message from Device/{}: {} reading(s) refused; line {}: {}", device, errors.size(),
              errors.front().line, errors.front().reason);
  }
  return mqtt::Disposition::kDone;
}

constexpr std::string_view kDispatchTopicPrefix = "medulla/dispatch/";

// The broker connection both MQTT lanes share: address, login, backpressure. nullopt (logged)
// when mqtt.password_file cannot be read.
std::optional<mqtt::SubscriberOptions> MqttConnection(const Config& config) {
  mqtt::SubscriberOptions options;
  const auto colon = config.mqtt.broker.rfind(':');
  options.host = config.mqtt.broker.substr(0, colon);
  if (options.host.size() > 2 && options.host.front() == '[') {
    options.host = options.host.substr(1, options.host.size() - 2);
  }
  options.port = config.mqtt.broker.substr(colon + 1);
  options.username = config.mqtt.username;
  options.max_unacked = static_cast<size_t>(config.mqtt.max_unacked);
  if (!config.mqtt.password_file.empty()) {
    std::FILE* f = std::fopen(config.mqtt.password_file.c_str(), "r");
    if (!f) {
      core::Logger("mqtt")->error("mqtt.password_file {} cannot be read",
                                  config.mqtt.password_file);
      return std::nullopt;
    }
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof buf, f);
    std::fclose(f);
    options.password.assign(buf, n);
    while (!options.password.empty() &&
           (options.password.back() == '\n' || options.password.back() == '\r')) {
      options.password.pop_back();
    }
  }
  return options;
}

// Device readings from the MQTT broker: each message is an NDJSON batch published by one
// device on <prefix>/<device id>. The broker authenticated the device and keeps it to its
// topic; here its readings must name that device and a patient the record assigns it to.
// The message is acknowledged to the broker once its readings are durable.
std::unique_ptr<mqtt::Subscriber> StartMqttIngest(const Config& config,
                                                  rpm::MonitorService& monitoring) {
  auto log = core::Logger("mqtt");
  auto connection = MqttConnection(config);
  if (!connection) return nullptr;
  mqtt::SubscriberOptions options = std::move(*connection);
  options.topic_filter = config.mqtt.topic;
  options.client_id = config.mqtt.client_id;
  log->info("taking device readings from the MQTT broker at {} on {}", config.mqtt.broker,
            options.topic_filter);
  return std::make_unique<mqtt::Subscriber>(
      std::move(options), [&monitoring](std::string topic, std::string payload, mqtt::Ack ack) {
        const std::string device = topic.substr(topic.rfind('/') + 1);
        rpm::BatchAssignmentCheck check(monitoring.assignments(), device, [&](const std::string&) {
          return fmt::format("published on the topic of Device/{}", device);
        });
        monitoring.Ingest(payload, std::ref(check),
                          [ack = std::move(ack), device](core::Result<rpm::IngestReply> r) {
                            ack(Ingested(device, r));
                          });
      });
}

// The subscription service, its delivery cursors in subscriptions.db beside the record,
// sealed like it (no database file in the clear).
core::Result<std::unique_ptr<subscriptions::SubscriptionService>> OpenSubscriptions(
    const Config& config, records::RecordService& records, store::Store& store) {
  subscriptions::SubscriptionOptions options{
      .cursor_path = config.data_dir + "/subscriptions.db",
      .workers = static_cast<size_t>(config.subscriptions.workers),
      .rest_hook_timeout = std::chrono::seconds(config.subscriptions.timeout_seconds),
      .retry_max = std::chrono::seconds(config.subscriptions.retry_max_seconds),
      .ca_file = config.subscriptions.ca_file};
  ASSIGN_OR_RETURN(auto encryption,
                   store::sqlite::PrepareStoreEncryption(
                       options.cursor_path, config.store.encryption_key, config.store.vfs));
  options.vfs = encryption.vfs;
  if (encryption.key) options.reserve_bytes = store::sqlite::kEncryptedPageReserve;
  return subscriptions::SubscriptionService::Open(records, store, std::move(options));
}

core::Result<std::unique_ptr<dispatch::DispatchService>> OpenDispatch(
    const Config& config, routing::Router& router, records::RecordService& records) {
  const std::string path = config.data_dir + "/dispatch.db";
  ASSIGN_OR_RETURN(auto encryption, store::sqlite::PrepareStoreEncryption(
                                        path, config.store.encryption_key, config.store.vfs));
  ASSIGN_OR_RETURN(auto positions, dispatch::PositionStore::Open(
                                       path, encryption.vfs,
                                       encryption.key ? store::sqlite::kEncryptedPageReserve : 0));
  const Config::Dispatch& d = config.dispatch;
  dispatch::ServiceOptions options;
  options.policy.stroke_bypass_min = d.stroke_bypass_minutes;
  options.policy.trauma_bypass_min = d.trauma_bypass_minutes;
  options.policy.arrest_bypass_min = d.arrest_bypass_minutes;
  options.policy.burns_bypass_min = d.burns_bypass_minutes;
  options.policy.paediatric_bypass_min = d.paediatric_bypass_minutes;
  options.policy.on_scene_min = d.on_scene_minutes;
  options.policy.position_max_age_ms = Millis(d.position_max_age_minutes);
  options.policy.status_max_age_ms = Millis(d.status_max_age_minutes);
  options.reevaluate_every =
      std::chrono::milliseconds(static_cast<int64_t>(d.reevaluate_seconds * 1000));
  options.reroute_min_gain_min = d.reroute_min_gain_minutes;
  auto service = std::make_unique<dispatch::DispatchService>(router, records, std::move(positions),
                                                             std::move(options));
  RETURN_IF_ERROR(service->Start());
  return service;
}

// Live traffic and ambulance positions through the telemetry lane: <prefix>traffic carries
// NDJSON speed updates as POST /routing/traffic takes them, <prefix>positions NDJSON position
// reports as POST /dispatch/positions. A message is acknowledged once applied (positions: once
// stored); a malformed one is logged and acknowledged, since sending it again cannot mend it.
std::unique_ptr<mqtt::Subscriber> StartDispatchFeed(const Config& config, routing::Router& router,
                                                    dispatch::DispatchService& dispatcher) {
  auto log = core::Logger("mqtt");
  auto connection = MqttConnection(config);
  if (!connection) return nullptr;
  mqtt::SubscriberOptions options = std::move(*connection);
  options.topic_filter = std::string(kDispatchTopicPrefix) + "+";
  // Its own persistent session (MQTT 3.1.1 client ids are at most 23 characters).
  options.client_id = config.mqtt.client_id.substr(0, 14) + "-dispatch";
  log->info("taking live traffic and ambulance positions from the MQTT broker at {} on {}",
            config.mqtt.broker, options.topic_filter);
  return std::make_unique<mqtt::Subscriber>(
      std::move(options),
      [&router, &dispatcher](std::string topic, std::string payload, mqtt::Ack ack) {
        auto log = core::Logger("dispatch");
        const std::string_view kind = std::string_view(topic).substr(kDispatchTopicPrefix.size());
        if (kind == "traffic") {
          auto updates = routing::ParseSpeedUpdates(payload);
          auto applied = updates ? router.UpdateTraffic(*updates) : core::Fail(updates.error());
          if (!applied) {
            log->warn("traffic message on {} refused: {}", topic, applied.error().message());
          } else {
            dispatcher.Reevaluate();
          }
        } else if (kind == "positions") {
          auto reports = dispatcher.ParsePositions(payload);
          auto stored = reports ? dispatcher.ReportPositions(std::move(*reports))
                                : core::Fail(reports.error());
          if (!stored && stored.error().code() == core::Code::kInternal) {
            return ack(mqtt::Disposition::kRetry);  // the store failed: take it again later
          }
          if (!stored) log->warn("positions on {} refused: {}", topic, stored.error().message());
        } else {
          log->warn("MQTT topic {} is neither {}traffic nor {}positions", topic,
                    kDispatchTopicPrefix, kDispatchTopicPrefix);
        }
        ack(mqtt::Disposition::kDone);
      });
}

}  // namespace

std::string_view VersionLine() {
  return "medulla " MEDULLA_VERSION " (FHIR R4 4.0.1)";
}

int RunServe(const ServeArgs& args) {
  auto config = LoadConfig(args.config);
  if (!config) {
    std::fprintf(stderr, "medulla: %s\n", config.error().message().c_str());
    return 2;
  }
  if (args.data_dir) config->data_dir = *args.data_dir;
  if (args.listen) config->listen = *args.listen;
  if (args.insecure_behind_proxy) config->insecure_behind_proxy = true;
  if (args.tls_cert) config->http.tls.certificate_chain = *args.tls_cert;
  if (args.tls_key) config->http.tls.private_key = *args.tls_key;
  if (auto s = config->Validate(); !s.ok()) {
    std::fprintf(stderr, "medulla: %s\n", s.message().c_str());
    return 2;
  }
  core::InitLogging(config->log_level);
  auto log = core::Logger("medulla");

  // SIGTERM/SIGINT are taken by a dedicated thread (sigwait), so they are blocked here before
  // any other thread starts and inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (config->insecure_behind_proxy) {
    log->warn(
        "*** --insecure-behind-proxy: serving PLAIN HTTP on {}; tokens and health data "
        "cross the network unencrypted unless a TLS-terminating proxy is in front ***",
        config->listen);
  }
  auto security = SetUpSecurity(*config);
  if (!security) {
    log->error("{}", security.error().message());
    return 1;
  }
  config->store.audit_key = security->keys.audit_key;
  auto store_key = LoadStoreKey(config->store_key_file);
  if (!store_key) {
    log->error("{}", store_key.error().message());
    return 1;
  }
  config->store.encryption_key = std::move(*store_key);
  if (!config->store.encryption_key.empty()) {
    log->info("the store is encrypted at rest (AES-256-GCM)");
  }
  std::unique_ptr<security::RemoteKeySet> provider_keys;  // security.jwks_url
  std::unique_ptr<security::Authenticator> authenticator;
  std::unique_ptr<security::ClientRegistry> clients;
  std::unique_ptr<security::TokenService> token_service;
  if (config->security.enabled) {
    clients =
        std::make_unique<security::ClientRegistry>(security::ClientsFilePath(config->data_dir));
    token_service = std::make_unique<security::TokenService>(
        security->keys.signing, *clients,
        security::TokenServiceOptions{
            .issuer = security->issuer,
            .audience = security->audience,
            .token_lifetime_seconds = config->security.token_lifetime_seconds,
            .leeway_seconds = config->security.leeway_seconds},
        core::SystemClock::Instance());
    if (!config->security.jwks_url.empty()) {
      provider_keys = std::make_unique<security::RemoteKeySet>(
          config->security.jwks_url,
          [url = config->security.jwks_url, ca = config->security.jwks_ca_file] {
            return http::Fetch(url, {.ca_file = ca});
          },
          security::RemoteKeySetOptions{
              .refresh = std::chrono::seconds(config->security.jwks_refresh_seconds),
              .min_interval = std::chrono::seconds(config->security.jwks_min_interval_seconds)});
      // An unreachable provider does not stop the server: the built-in issuer still works,
      // and the keys are fetched again every jwks_min_interval_seconds until they arrive.
      if (core::Status s = provider_keys->Start(); !s.ok()) {
        log->error("{}; its tokens are refused until the keys load (retried every {} s)",
                   s.message(), config->security.jwks_min_interval_seconds);
      } else {
        log->info("identity provider keys: {} from {}", provider_keys->Keys()->size(),
                  config->security.jwks_url);
      }
    }
    authenticator = std::make_unique<security::Authenticator>(
        std::move(security->trusted),
        security::AuthenticatorOptions{
            security->issuer, security->audience, config->security.leeway_seconds,
            security->keys.signing.kid(), config->security.max_token_lifetime_seconds},
        core::SystemClock::Instance(), provider_keys.get());
  } else {
    log->warn(
        "*** security.enabled = false: no tokens are checked; every request acts as an "
        "administrator ({}) ***",
        config->security.audit ? "still audited" : "and security.audit = false: NOT audited");
  }

  core::MetricsRegistry metrics;
  const fhir::Definitions& definitions = fhir::Definitions::Embedded();
  auto store =
      store::sqlite::SqliteStore::Open(config->store, metrics, core::SystemClock::Instance());
  if (!store) {
    log->error("{}", store.error().message());
    return 1;
  }
  records::RecordService records(**store, definitions);
  // Bulk export jobs write under the data directory; they end before the store closes.
  auto exports = std::make_unique<bulk::ExportManager>(records, **store, ExportOptionsFor(*config));
  // Remote monitoring: device readings in their own time-series file, sealed like the store.
  telemetry::SeriesStoreOptions series_options{.path = config->data_dir + "/telemetry.db"};
  series_options.retention_ms = config->telemetry.retention_days * 86'400'000;
  series_options.rollup_interval_ms = config->telemetry.rollup_interval_minutes * 60'000;
  series_options.rollup_retention_ms = config->telemetry.rollup_retention_days * 86'400'000;
  {
    auto encryption = store::sqlite::PrepareStoreEncryption(
        series_options.path, config->store.encryption_key, config->store.vfs);
    if (!encryption) {
      log->error("{}", encryption.error().message());
      return 1;
    }
    series_options.vfs = encryption->vfs;
    if (encryption->key) series_options.reserve_bytes = store::sqlite::kEncryptedPageReserve;
  }
  auto series = telemetry::SeriesStore::Open(series_options);
  if (!series) {
    log->error("telemetry store: {}", series.error().message());
    return 1;
  }
  monitor::EngineOptions engine_options;
  engine_options.partitions =
      static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  engine_options.settings = MonitorSettingsFor(config->monitor);
  auto monitoring = std::make_unique<rpm::MonitorService>(
      records, **series, std::move(engine_options),
      rpm::EscalationOptions{.acknowledge_ms = Millis(config->monitor.escalation_minutes)});
  // The change feed: Goals, Observations and device assignments reach the monitor.
  auto changes = std::make_unique<records::ChangeFeed>(**store);
  changes->Add([&m = *monitoring](const store::VersionRecord& v) { m.OnChange(v); });
  const int64_t feed_start = (*store)->Stats().last_seq;
  if (auto s = monitoring->LoadGoals(); !s.ok()) {
    log->warn("clinicians' monitoring targets (Goal) not loaded: {}", s.message());
  }
  if (auto s = monitoring->LoadOpenAlerts(); !s.ok()) {
    log->warn("open monitoring alerts not loaded (their escalation does not resume): {}",
              s.message());
  }
  // Before any reading comes in: the monitor's state as it was (readings past the raw
  // retention are gone, so the window ends there).
  int64_t rebuild_ms = static_cast<int64_t>(config->monitor.rebuild_days * 86'400'000);
  if (series_options.retention_ms > 0)
    rebuild_ms = std::min(rebuild_ms, series_options.retention_ms);
  if (auto r = monitoring->RebuildState(core::SystemClock::Instance().Now() / 1000, rebuild_ms);
      !r) {
    log->warn("monitor state not rebuilt (it starts empty): {}", r.error().message());
  }
  // FHIR Subscriptions: the delivery cursors in their own file, sealed like the store.
  auto notifications = OpenSubscriptions(*config, records, **store);
  if (!notifications) {
    log->error("subscriptions: {}", notifications.error().message());
    return 1;
  }
  changes->Add([&n = **notifications](const store::VersionRecord& v) { n.OnChange(v); });
  std::unique_ptr<mqtt::Subscriber> mqtt_ingest;
  if (!config->mqtt.broker.empty()) {
    mqtt_ingest = StartMqttIngest(*config, *monitoring);
    if (!mqtt_ingest) return 1;
  }
  // Ambulance routing, when a road network was imported into the data directory.
  std::unique_ptr<routing::Router> router;
  if (const std::string graph_path = routing::RoadGraphPath(config->data_dir);
      std::filesystem::exists(graph_path)) {
    const auto start = std::chrono::steady_clock::now();
    auto graph = routing::RoadGraph::Load(graph_path);
    auto opened = graph ? routing::Router::Open(*graph) : core::Fail(graph.error());
    if (!opened) {
      log->error("routing: {}", opened.error().message());
      return 1;
    }
    router = std::move(*opened);
    log->info("routing: road graph {} ({} nodes, {} edges) ready in {:.0f} ms", graph_path,
              router->graph().node_count(), router->graph().edge_count(),
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count());
  } else {
    log->info("routing: no road graph in {} (medulla routing import FILE.osm.pbf)",
              config->data_dir);
  }
  // Dispatch, on the road network: hospitals and ambulances from the record, positions kept in
  // their own file (sealed like the store).
  std::unique_ptr<dispatch::DispatchService> dispatcher;
  std::unique_ptr<mqtt::Subscriber> dispatch_feed;
  if (router) {
    auto service = OpenDispatch(*config, *router, records);
    if (!service) {
      log->error("dispatch: {}", service.error().message());
      return 1;
    }
    dispatcher = std::move(*service);
    changes->Add([&d = *dispatcher](const store::VersionRecord& v) { d.OnChange(v); });
    if (!config->mqtt.broker.empty()) {
      dispatch_feed = StartDispatchFeed(*config, *router, *dispatcher);
      if (!dispatch_feed) return 1;
    }
  }
  api::ApiOptions api_options{config->base_url, MEDULLA_VERSION};
  api_options.router = router.get();
  api_options.dispatch = dispatcher.get();
  api_options.monitoring = monitoring.get();
  api_options.subscriptions = notifications->get();
  api_options.authenticator = authenticator.get();
  api_options.issuer = security->issuer;
  api_options.token_service = token_service.get();
  api_options.sharing_default = config->security.consent_default == "opt-out"
                                    ? security::SharingDefault::kOptOut
                                    : security::SharingDefault::kOptIn;
  api_options.audit = config->security.audit;
  std::unique_ptr<security::RateLimiter> client_rate, address_rate;
  if (config->security.enabled) {
    client_rate = std::make_unique<security::RateLimiter>(
        security::RateLimit{config->security.rate_limit, config->security.rate_burst},
        core::SystemClock::Instance());
    address_rate = std::make_unique<security::RateLimiter>(
        security::RateLimit{config->security.anonymous_rate_limit,
                            config->security.anonymous_rate_burst},
        core::SystemClock::Instance());
    api_options.client_rate = client_rate.get();
    api_options.address_rate = address_rate.get();
  }
  api::FhirApi fhir_api(records, **store, metrics, std::move(api_options), exports.get());
  config->http.render_error = &api::FhirApi::ErrorResponse;
  config->http.websocket = [&fhir_api](const http::Request& req,
                                       std::shared_ptr<http::WebSocketConnection> conn) {
    return fhir_api.WebSocket(req, std::move(conn));
  };
  auto server = http::Server::Start(
      config->http,
      [&fhir_api](http::Request& req, http::Responder res) {
        fhir_api.Handle(req, std::move(res));
      },
      metrics);
  if (!server) {
    log->error("{}", server.error().message());
    return 1;
  }
  // Notifications name this server: its base URL, known now that the port is.
  (*notifications)
      ->SetBaseUrl(!config->base_url.empty()
                       ? config->base_url
                       : fmt::format("{}://{}:{}", (*server)->secure() ? "https" : "http",
                                     config->http.host, (*server)->port()));
  if (auto s = (*notifications)->Start(feed_start); !s.ok()) {
    log->error("subscriptions: {}", s.message());
    return 1;
  }
  changes->Start(feed_start);
  fhir_api.SetReady(true);
  log->info("medulla {} serving FHIR R4 on {}://{}:{} with data in {}", MEDULLA_VERSION,
            (*server)->secure() ? "https" : "http", config->http.host, (*server)->port(),
            config->data_dir);
  if (authenticator) {
    log->info(
        "tokens: issuer {}, audience {}; mint one with `medulla token --data-dir {} "
        "--role admin`",
        security->issuer, security->audience, config->data_dir);
  }

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log->info("received {}, draining in-flight requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    fhir_api.SetReady(false);
    (*server)->Shutdown(std::chrono::milliseconds(config->shutdown_grace_ms));
  });
  (*server)->Run();
  // If Run returned for another reason, release the signal thread.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  // Every queued write is committed before exit.
  exports.reset();
  mqtt_ingest.reset();  // unacknowledged messages stay with the broker
  dispatch_feed.reset();
  changes.reset();
  dispatcher.reset();      // after the feed that calls it; its re-evaluation writes reach the store
  notifications->reset();  // a notification in flight finishes or times out
  monitoring.reset();      // scores and alerts in flight reach the store
  series->reset();
  if (core::Status closed = (*store)->Close(); !closed.ok()) {
    log->error("closing the store: {}", closed.message());
    return 1;
  }
  log->info("stopped cleanly");
  return 0;
}

}  // namespace medulla::cli
