// The configuration of `medulla serve`: a plain struct with documented defaults. Precedence:
// defaults < TOML file (--config) < environment (MEDULLA_*) < command-line flags.
#pragma once

#include <optional>
#include <string>

#include "core/status.h"
#include "http/server.h"
#include "store/sqlite/sqlite_store.h"

namespace medulla::cli {

struct Config {
  std::string data_dir = "var/medulla";   // the store and its lock file live here
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; loopback only unless configured
  std::string base_url;                   // empty: derived from each request's Host header
  std::string log_level = "info";         // trace, debug, info, warn, error, off
  http::ServerOptions http;               // host/port filled from `listen`
  store::sqlite::SqliteStoreOptions store;
  // Encryption at rest ([store] key_file; cli/store_key.h): the store key's file. The key
  // itself goes to store.encryption_key at start and is never part of the configuration.
  std::string store_key_file;
  int shutdown_grace_ms = 20000;  // how long SIGTERM waits for in-flight requests

  // Authentication, authorisation and audit (docs/security.md).
  struct Security {
    // false: no tokens; every request acts as an administrator (audited unless audit = false). For
    // benchmarks and trusted single-user set-ups; refused unless listening on loopback.
    bool enabled = true;
    // false (only with enabled = false): no audit entries either. The reference that the
    // security benchmark measures the cost of tokens and audit against (docs/benchmarks.md).
    bool audit = true;
    std::string issuer;     // the iss tokens must carry; empty: the built-in issuer's
    std::string audience;   // the aud tokens must carry; empty: the built-in audience
    std::string jwks_file;  // an external identity provider's keys (JWKS), trusted as well
    // ... or its JWKS URL (OpenID Connect jwks_uri), fetched at start and every
    // jwks_refresh_seconds, and sooner for an unknown key id. https://, or http:// to loopback.
    std::string jwks_url;
    std::string jwks_ca_file;  // PEM CAs to trust for jwks_url instead of the system's
    int64_t jwks_refresh_seconds = 300;
    // The least time between two fetches: after a failure, or when tokens name an unknown key.
    int64_t jwks_min_interval_seconds = 30;
    int64_t leeway_seconds = 60;
    int64_t max_token_lifetime_seconds = 7 * 24 * 3600;
    // Lifetime of tokens from the built-in endpoint (POST /auth/token); SMART Backend Services
    // recommends at most five minutes.
    int64_t token_lifetime_seconds = 300;
    // Patients without a consent: "opt-in" (not shared across organisations) or "opt-out"
    // (shared). security/consent.h has the model.
    std::string consent_default = "opt-in";
    // Requests per second, and the burst allowed above it, per OAuth client and user (the
    // token's client id and subject) with a valid token (security/rate_limiter.h);
    // administrators are not limited. 0: no limit.
    double rate_limit = 500;
    double rate_burst = 1000;
    // The same per address, for requests without a valid token (refused with 401, or the
    // anonymous self-description) and for the token endpoint: caps password-guessing-style
    // floods of forged tokens and assertions.
    double anonymous_rate_limit = 50;
    double anonymous_rate_burst = 200;
  } security;
  // Device readings from an MQTT broker (docs/monitoring.md). Devices publish NDJSON
  // readings to <topic prefix>/<device id>; the broker authenticates them and its ACL keeps
  // each to its own topic, and medulla checks the readings' patients against the device's
  // assignments in the record.
  struct Mqtt {
    std::string broker;                         // HOST:PORT; empty: no MQTT ingest
    std::string topic = "medulla/telemetry/+";  // the last level is the device id
    std::string client_id = "medulla";          // the broker keeps medulla's session by it
    std::string username;                       // empty: anonymous
    std::string password_file;                  // the password, in a file of its own
    int64_t max_unacked = 1000;                 // messages taken and not yet durable
  } mqtt;
  // The time-series store of device readings (docs/monitoring.md, "The time-series store").
  struct Telemetry {
    int64_t retention_days = 0;           // raw readings are dropped after this; 0: never
    int64_t rollup_interval_minutes = 5;  // min/max/mean/count per this; fixed at creation
    int64_t rollup_retention_days = 0;    // the rollups are dropped after this; 0: never
  } telemetry;
  // FHIR Subscriptions (docs/monitoring.md, "Notifications").
  struct Subscriptions {
    int64_t workers = 2;              // threads delivering notifications
    int64_t retry_max_seconds = 300;  // a failing rest-hook is retried with backoff up to this
    int64_t timeout_seconds = 10;     // per rest-hook notification
    std::string ca_file;              // CAs trusted for https endpoints; empty: the system's
  } subscriptions;
  // Remote monitoring: the monitor's settings and the escalation of unacknowledged alerts
  // (docs/monitoring.md). Durations in minutes; fractions are allowed (0.5 is 30 seconds).
  struct Monitor {
    double escalation_minutes = 15;      // each CareTeam member's time to acknowledge an alert
    double confirm_minutes = 10;         // a condition holds this long before its alert opens
    double resolve_hold_minutes = 30;    // and is clear this long before it resolves
    double news2_max_age_minutes = 30;   // an older value counts as missing from NEWS2
    double silence_minutes = 15;         // no device reading this long: device-silence alert
    double score_interval_minutes = 60;  // NEWS2 RiskAssessments: on a band change, else this often
    double trend_single = 3.5;  // spread-hours of one vital's CUSUM that open a trend alert
    double trend_pair = 2.5;    // ... or of two vitals' at once
    bool qsofa = true;          // the qSOFA alert
    // At start, the stored readings of this many days before it are replayed into the monitor,
    // so that baselines and open conditions are as before the stop (0: start empty).
    double rebuild_days = 7;
  } monitor;
  // Dispatch (docs/dispatch.md, "The decision rule"): the destination rules' bypass limits and
  // the service's pace. Minutes; fractions allowed.
  struct Dispatch {
    double stroke_bypass_minutes = 15;  // thrombectomy centre, LVO suspected (Mission: Lifeline)
    double trauma_bypass_minutes = 20;  // level I trauma centre
    double arrest_bypass_minutes = 10;  // PCI-capable cardiac arrest centre
    double burns_bypass_minutes = 30;   // burn centre
    double paediatric_bypass_minutes = 15;
    double on_scene_minutes = 15;          // planning figure for the time at the scene
    double position_max_age_minutes = 10;  // older ambulance positions are not trusted
    double status_max_age_minutes = 360;   // older ED status counts as unknown
    double reevaluate_seconds = 30;       // dispatches in progress judged again at least this often
    double reroute_min_gain_minutes = 2;  // a new destination must save this much
  } dispatch;

  // Serve plain HTTP on a non-loopback address: a TLS-terminating proxy is in front.
  bool insecure_behind_proxy = false;
  // HTTPS: http.tls.certificate_chain and http.tls.private_key ([server] tls_cert, tls_key).

  // Checks values and fills derived fields (http.host/port, store.data_dir).
  core::Status Validate();
};

// Reads the TOML file (if any) over the defaults, then the environment.
core::Result<Config> LoadConfig(const std::optional<std::string>& path);

}  // namespace medulla::cli
