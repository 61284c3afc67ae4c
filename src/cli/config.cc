#include "cli/config.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <iterator>
#include <tuple>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "http/client.h"
#include "http/loopback.h"

namespace medulla::cli {
namespace {

template <typename T>
void Read(const toml::node_view<toml::node>& node, T& out) {
  if (auto v = node.value<T>()) out = *v;
}

void ReadMillis(const toml::node_view<toml::node>& node, std::chrono::milliseconds& out) {
  if (auto v = node.value<int64_t>()) out = std::chrono::milliseconds(*v);
}

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// [monitor]: unlike the other sections, a key that is unknown or of the wrong type is an error,
// because a misspelt or mistyped clinical setting would otherwise pass for its default.
core::Status ReadMonitor(const toml::table& file, Config::Monitor& m) {
  const toml::node* node = file.get("monitor");
  if (!node) return core::OkStatus();
  const toml::table* section = node->as_table();
  if (!section) return core::InvalidArgument("[monitor] must be a table");
  const std::pair<std::string_view, double*> numbers[] = {
      {"escalation_minutes", &m.escalation_minutes},
      {"confirm_minutes", &m.confirm_minutes},
      {"resolve_hold_minutes", &m.resolve_hold_minutes},
      {"news2_max_age_minutes", &m.news2_max_age_minutes},
      {"silence_minutes", &m.silence_minutes},
      {"score_interval_minutes", &m.score_interval_minutes},
      {"trend_single", &m.trend_single},
      {"trend_pair", &m.trend_pair},
      {"rebuild_days", &m.rebuild_days}};
  for (const auto& [key, value] : *section) {
    const std::string_view name = key.str();
    if (name == "qsofa") {
      auto on = value.value_exact<bool>();
      if (!on) return core::InvalidArgument("monitor.qsofa must be true or false");
      m.qsofa = *on;
      continue;
    }
    auto it = std::find_if(std::begin(numbers), std::end(numbers),
                           [&](const auto& n) { return n.first == name; });
    if (it == std::end(numbers)) {
      return core::InvalidArgument(
          fmt::format("monitor.{} is not a setting (they are escalation_minutes, confirm_minutes, "
                      "resolve_hold_minutes, news2_max_age_minutes, silence_minutes, "
                      "score_interval_minutes, trend_single, trend_pair, qsofa and rebuild_days)",
                      name));
    }
    auto number = value.is_number() ? value.value<double>() : std::nullopt;
    if (!number) return core::InvalidArgument(fmt::format("monitor.{} must be a number", name));
    *it->second = *number;
  }
  return core::OkStatus();
}

// A [monitor] value within [low, high] (false for NaN).
core::Status MonitorRange(std::string_view name, double value, double low, double high,
                          std::string_view what) {
  if (value >= low && value <= high) return core::OkStatus();
  return core::InvalidArgument(fmt::format("monitor.{} must be {} (got {})", name, what, value));
}

// [dispatch]: like [monitor], an unknown key or a value out of range is an error (a misspelt
// bypass limit would silently fall back to its default).
core::Status ReadDispatch(const toml::table& file, Config::Dispatch& d) {
  const toml::node* node = file.get("dispatch");
  if (!node) return core::OkStatus();
  const toml::table* section = node->as_table();
  if (!section) return core::InvalidArgument("[dispatch] must be a table");
  struct Setting {
    std::string_view name;
    double* value;
    double low, high;
  };
  const Setting settings[] = {{"stroke_bypass_minutes", &d.stroke_bypass_minutes, 0, 120},
                              {"trauma_bypass_minutes", &d.trauma_bypass_minutes, 0, 120},
                              {"arrest_bypass_minutes", &d.arrest_bypass_minutes, 0, 120},
                              {"burns_bypass_minutes", &d.burns_bypass_minutes, 0, 120},
                              {"paediatric_bypass_minutes", &d.paediatric_bypass_minutes, 0, 120},
                              {"on_scene_minutes", &d.on_scene_minutes, 0, 120},
                              {"position_max_age_minutes", &d.position_max_age_minutes, 0.1, 1440},
                              {"status_max_age_minutes", &d.status_max_age_minutes, 1, 10080},
                              {"reevaluate_seconds", &d.reevaluate_seconds, 1, 3600},
                              {"reroute_min_gain_minutes", &d.reroute_min_gain_minutes, 0, 120}};
  for (const auto& [key, value] : *section) {
    const std::string_view name = key.str();
    auto it = std::find_if(std::begin(settings), std::end(settings),
                           [&](const Setting& s) { return s.name == name; });
    if (it == std::end(settings)) {
      std::string known;
      for (const Setting& s : settings)
        known += fmt::format("{}{}", known.empty() ? "" : ", ", s.name);
      return core::InvalidArgument(
          fmt::format("dispatch.{} is not a setting (they are {})", name, known));
    }
    auto number = value.is_number() ? value.value<double>() : std::nullopt;
    if (!number || *number < it->low || *number > it->high) {
      return core::InvalidArgument(
          fmt::format("dispatch.{} must be a number from {} to {}", name, it->low, it->high));
    }
    *it->value = *number;
  }
  return core::OkStatus();
}

}  // namespace

core::Status Config::Validate() {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return core::InvalidArgument(fmt::format("listen '{}' must be HOST:PORT", listen));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  std::string_view p = std::string_view(listen).substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || ptr != p.data() + p.size() || port > 65535) {
    return core::InvalidArgument(fmt::format("listen '{}': bad port", listen));
  }
  http.host = host;
  http.port = static_cast<uint16_t>(port);
  if (data_dir.empty()) return core::InvalidArgument("data_dir must not be empty");
  store.data_dir = data_dir;
  // Values arrive as signed TOML integers cast to size_t: a negative one becomes huge.
  if (http.threads > 256) return core::InvalidArgument("server.threads must be 0 (auto) to 256");
  if (http.max_connections == 0 || http.max_connections > 1000000) {
    return core::InvalidArgument("server.max_connections must be 1 to 1000000");
  }
  if (http.max_body_bytes > (size_t{1} << 30)) {
    return core::InvalidArgument("server.max_body_bytes must be at most 1 GiB");
  }
  if (http.max_header_bytes > (size_t{1} << 20)) {
    return core::InvalidArgument("server.max_header_bytes must be at most 1 MiB");
  }
  if (http.read_timeout.count() <= 0 || http.idle_timeout.count() <= 0 || shutdown_grace_ms < 0) {
    return core::InvalidArgument("timeouts must be positive");
  }
  if (http.max_body_bytes < 1024)
    return core::InvalidArgument("server.max_body_bytes is below 1 KiB");
  if (http.max_header_bytes < 1024)
    return core::InvalidArgument("server.max_header_bytes is below 1 KiB");
  if (store.search_timeout.count() <= 0 || store.search_timeout > std::chrono::hours(1)) {
    return core::InvalidArgument("store.search_timeout_ms must be 1 ms to 1 hour");
  }
  if (store.synchronous != "full" && store.synchronous != "normal") {
    return core::InvalidArgument("store.synchronous must be \"full\" or \"normal\"");
  }
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  const bool tls = !http.tls.certificate_chain.empty() || !http.tls.private_key.empty();
  if (tls && (http.tls.certificate_chain.empty() || http.tls.private_key.empty())) {
    return core::InvalidArgument("TLS needs both server.tls_cert and server.tls_key");
  }
  if (tls && insecure_behind_proxy) {
    return core::InvalidArgument(
        "--insecure-behind-proxy serves plain HTTP; it cannot be combined with a TLS certificate");
  }
  if (!tls && !http::IsLoopbackHost(http.host) && !insecure_behind_proxy) {
    return core::InvalidArgument(fmt::format(
        "listen '{}': plain HTTP is served on loopback addresses only; give a certificate "
        "(--tls-cert FILE --tls-key FILE) or, with a TLS-terminating proxy in front, pass "
        "--insecure-behind-proxy",
        listen));
  }
  if (!security.enabled && !http::IsLoopbackHost(http.host)) {
    return core::InvalidArgument("security.enabled = false is allowed on loopback only");
  }
  if (!security.audit && security.enabled) {
    return core::InvalidArgument("security.audit = false needs security.enabled = false");
  }
  if (security.leeway_seconds < 0 || security.leeway_seconds > 600) {
    return core::InvalidArgument("security.leeway_seconds must be 0 to 600");
  }
  if (security.max_token_lifetime_seconds <= 0) {
    return core::InvalidArgument("security.max_token_lifetime_seconds must be positive");
  }
  if (security.consent_default != "opt-in" && security.consent_default != "opt-out") {
    return core::InvalidArgument("security.consent_default must be \"opt-in\" or \"opt-out\"");
  }
  for (auto [name, rate, burst] :
       {std::tuple{"security.rate_limit", security.rate_limit, security.rate_burst},
        std::tuple{"security.anonymous_rate_limit", security.anonymous_rate_limit,
                   security.anonymous_rate_burst}}) {
    if (!(rate >= 0 && rate <= 1e9) || !(burst >= 1 && burst <= 1e9)) {
      return core::InvalidArgument(fmt::format(
          "{} must be 0 (no limit) to 1e9 requests per second and its burst 1 to 1e9", name));
    }
  }
  if (security.jwks_refresh_seconds < 30 || security.jwks_refresh_seconds > 86400) {
    return core::InvalidArgument("security.jwks_refresh_seconds must be 30 to 86400");
  }
  if (security.jwks_min_interval_seconds < 1 ||
      security.jwks_min_interval_seconds > security.jwks_refresh_seconds) {
    return core::InvalidArgument(
        "security.jwks_min_interval_seconds must be 1 to security.jwks_refresh_seconds");
  }
  if (!security.jwks_url.empty()) {
    auto url = http::ParseUrl(security.jwks_url);
    if (!url) return core::InvalidArgument("security.jwks_url: " + url.error().message());
    if (!url->https && !http::IsLoopbackHost(url->host)) {
      return core::InvalidArgument(
          "security.jwks_url must be https:// (plain http:// only to a loopback address)");
    }
  }
  if (!mqtt.broker.empty()) {
    const auto colon = mqtt.broker.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == mqtt.broker.size()) {
      return core::InvalidArgument("mqtt.broker must be HOST:PORT");
    }
    if (!mqtt.topic.ends_with("/+") || mqtt.topic.find('#') != std::string::npos) {
      return core::InvalidArgument(
          "mqtt.topic must end in /+ (the device id is the topic's last level)");
    }
    if (mqtt.client_id.empty() || mqtt.client_id.size() > 23) {
      return core::InvalidArgument("mqtt.client_id must be 1 to 23 characters (MQTT 3.1.1)");
    }
    // MQTT strings carry a two-byte length (section 1.5.3).
    if (mqtt.topic.size() > 65535 || mqtt.username.size() > 65535) {
      return core::InvalidArgument("mqtt.topic and mqtt.username must be at most 65535 bytes");
    }
    if (mqtt.max_unacked < 1 || mqtt.max_unacked > 65535) {
      return core::InvalidArgument("mqtt.max_unacked must be 1 to 65535");
    }
  }
  if (telemetry.retention_days < 0 || telemetry.retention_days > 36500 ||
      telemetry.rollup_retention_days < 0 || telemetry.rollup_retention_days > 36500) {
    return core::InvalidArgument(
        "telemetry.retention_days and telemetry.rollup_retention_days must be 0 (forever) to "
        "36500");
  }
  // Dividing a day, the stored rollups add up to hours (when it divides 60) and days.
  if (telemetry.rollup_interval_minutes < 1 || 1440 % telemetry.rollup_interval_minutes != 0) {
    return core::InvalidArgument(
        "telemetry.rollup_interval_minutes must divide a day (1440): 1, 5, 10, 15, 30, 60, ...");
  }
  // The rollups are what is left of expired readings: they must outlive them.
  if (telemetry.rollup_retention_days != 0 && telemetry.retention_days == 0) {
    return core::InvalidArgument(
        "telemetry.rollup_retention_days must be 0 (forever) while telemetry.retention_days is");
  }
  if (telemetry.rollup_retention_days != 0 &&
      telemetry.rollup_retention_days < telemetry.retention_days) {
    return core::InvalidArgument(
        "telemetry.rollup_retention_days must be 0 (forever) or at least "
        "telemetry.retention_days");
  }
  if (subscriptions.workers < 1 || subscriptions.workers > 64) {
    return core::InvalidArgument("subscriptions.workers must be 1 to 64");
  }
  if (subscriptions.retry_max_seconds < 1 || subscriptions.retry_max_seconds > 86400) {
    return core::InvalidArgument("subscriptions.retry_max_seconds must be 1 to 86400");
  }
  if (subscriptions.timeout_seconds < 1 || subscriptions.timeout_seconds > 600) {
    return core::InvalidArgument("subscriptions.timeout_seconds must be 1 to 600");
  }
  for (const auto& [name, value, low, high, what] :
       {std::tuple{"escalation_minutes", monitor.escalation_minutes, 1.0 / 60, 1440.0,
                   "1/60 (a second) to 1440 (a day)"},
        std::tuple{"confirm_minutes", monitor.confirm_minutes, 0.0, 1440.0, "0 to 1440"},
        std::tuple{"resolve_hold_minutes", monitor.resolve_hold_minutes, 0.0, 1440.0, "0 to 1440"},
        std::tuple{"news2_max_age_minutes", monitor.news2_max_age_minutes, 1.0, 1440.0,
                   "1 to 1440"},
        std::tuple{"silence_minutes", monitor.silence_minutes, 1.0, 10080.0, "1 to 10080 (a week)"},
        std::tuple{"score_interval_minutes", monitor.score_interval_minutes, 1.0, 1440.0,
                   "1 to 1440"},
        // The trend detector's CUSUM is capped at 12: a larger threshold could never be met.
        std::tuple{"trend_single", monitor.trend_single, 0.1, 12.0, "0.1 to 12"},
        std::tuple{"trend_pair", monitor.trend_pair, 0.1, monitor.trend_single,
                   "0.1 to monitor.trend_single"},
        std::tuple{"rebuild_days", monitor.rebuild_days, 0.0, 30.0, "0 to 30"}}) {
    RETURN_IF_ERROR(MonitorRange(name, value, low, high, what));
  }
  if (security.token_lifetime_seconds <= 0 ||
      security.token_lifetime_seconds > security.max_token_lifetime_seconds) {
    return core::InvalidArgument(
        "security.token_lifetime_seconds must be positive and at most "
        "security.max_token_lifetime_seconds");
  }
  return core::OkStatus();
}

core::Result<Config> LoadConfig(const std::optional<std::string>& path) {
  Config c;
  if (path) {
    toml::table t;
    try {
      t = toml::parse_file(*path);
    } catch (const toml::parse_error& e) {
      return core::Fail(core::InvalidArgument(fmt::format(
          "{}:{}:{}: {}", *path, e.source().begin.line, e.source().begin.column, e.description())));
    }
    Read(t["data_dir"], c.data_dir);
    Read(t["server"]["listen"], c.listen);
    Read(t["server"]["base_url"], c.base_url);
    if (auto v = t["server"]["threads"].value<int64_t>()) c.http.threads = static_cast<size_t>(*v);
    if (auto v = t["server"]["max_body_bytes"].value<int64_t>())
      c.http.max_body_bytes = static_cast<size_t>(*v);
    if (auto v = t["server"]["max_header_bytes"].value<int64_t>())
      c.http.max_header_bytes = static_cast<size_t>(*v);
    if (auto v = t["server"]["max_connections"].value<int64_t>())
      c.http.max_connections = static_cast<size_t>(*v);
    ReadMillis(t["server"]["read_timeout_ms"], c.http.read_timeout);
    ReadMillis(t["server"]["idle_timeout_ms"], c.http.idle_timeout);
    Read(t["server"]["access_log"], c.http.access_log);
    Read(t["server"]["shutdown_grace_ms"], c.shutdown_grace_ms);
    Read(t["server"]["tls_cert"], c.http.tls.certificate_chain);
    Read(t["server"]["tls_key"], c.http.tls.private_key);
    Read(t["store"]["synchronous"], c.store.synchronous);
    Read(t["store"]["key_file"], c.store_key_file);
    Read(t["security"]["enabled"], c.security.enabled);
    Read(t["security"]["audit"], c.security.audit);
    Read(t["security"]["issuer"], c.security.issuer);
    Read(t["security"]["audience"], c.security.audience);
    Read(t["security"]["jwks_file"], c.security.jwks_file);
    Read(t["security"]["jwks_url"], c.security.jwks_url);
    Read(t["security"]["jwks_ca_file"], c.security.jwks_ca_file);
    Read(t["security"]["jwks_refresh_seconds"], c.security.jwks_refresh_seconds);
    Read(t["security"]["jwks_min_interval_seconds"], c.security.jwks_min_interval_seconds);
    Read(t["security"]["leeway_seconds"], c.security.leeway_seconds);
    Read(t["security"]["max_token_lifetime_seconds"], c.security.max_token_lifetime_seconds);
    Read(t["security"]["token_lifetime_seconds"], c.security.token_lifetime_seconds);
    Read(t["security"]["consent_default"], c.security.consent_default);
    Read(t["security"]["rate_limit"], c.security.rate_limit);
    Read(t["security"]["rate_burst"], c.security.rate_burst);
    Read(t["security"]["anonymous_rate_limit"], c.security.anonymous_rate_limit);
    Read(t["security"]["anonymous_rate_burst"], c.security.anonymous_rate_burst);
    Read(t["mqtt"]["broker"], c.mqtt.broker);
    Read(t["mqtt"]["topic"], c.mqtt.topic);
    Read(t["mqtt"]["client_id"], c.mqtt.client_id);
    Read(t["mqtt"]["username"], c.mqtt.username);
    Read(t["mqtt"]["password_file"], c.mqtt.password_file);
    Read(t["mqtt"]["max_unacked"], c.mqtt.max_unacked);
    Read(t["telemetry"]["retention_days"], c.telemetry.retention_days);
    Read(t["telemetry"]["rollup_interval_minutes"], c.telemetry.rollup_interval_minutes);
    Read(t["telemetry"]["rollup_retention_days"], c.telemetry.rollup_retention_days);
    Read(t["subscriptions"]["workers"], c.subscriptions.workers);
    Read(t["subscriptions"]["retry_max_seconds"], c.subscriptions.retry_max_seconds);
    Read(t["subscriptions"]["timeout_seconds"], c.subscriptions.timeout_seconds);
    Read(t["subscriptions"]["ca_file"], c.subscriptions.ca_file);
    RETURN_IF_ERROR(ReadMonitor(t, c.monitor));
    RETURN_IF_ERROR(ReadDispatch(t, c.dispatch));
    ReadMillis(t["store"]["search_timeout_ms"], c.store.search_timeout);
    Read(t["log"]["level"], c.log_level);
  }
  if (auto v = Env("MEDULLA_DATA_DIR")) c.data_dir = v;
  if (auto v = Env("MEDULLA_LISTEN")) c.listen = v;
  if (auto v = Env("MEDULLA_BASE_URL")) c.base_url = v;
  if (auto v = Env("MEDULLA_LOG_LEVEL")) c.log_level = v;
  if (auto v = Env("MEDULLA_TLS_CERT")) c.http.tls.certificate_chain = v;
  if (auto v = Env("MEDULLA_TLS_KEY")) c.http.tls.private_key = v;
  if (auto v = Env("MEDULLA_THREADS")) c.http.threads = static_cast<size_t>(std::atoi(v));
  if (auto v = Env("MEDULLA_ACCESS_LOG"))
    c.http.access_log = std::string_view(v) != "0" && std::string_view(v) != "false";
  if (auto v = Env("MEDULLA_STORE_SYNCHRONOUS")) c.store.synchronous = v;
  if (auto v = Env("MEDULLA_SECURITY")) c.security.enabled = std::string_view(v) != "off";
  if (auto v = Env("MEDULLA_CONSENT_DEFAULT")) c.security.consent_default = v;
  if (auto v = Env("MEDULLA_JWKS_URL")) c.security.jwks_url = v;
  if (auto v = Env("MEDULLA_RATE_LIMIT")) c.security.rate_limit = std::atof(v);
  if (auto v = Env("MEDULLA_MQTT_BROKER")) c.mqtt.broker = v;
  if (auto v = Env("MEDULLA_MQTT_CLIENT_ID")) c.mqtt.client_id = v;
  if (auto v = Env("MEDULLA_ANONYMOUS_RATE_LIMIT")) c.security.anonymous_rate_limit = std::atof(v);
  if (auto v = Env("MEDULLA_AUDIT")) c.security.audit = std::string_view(v) != "off";
  if (auto v = Env("MEDULLA_SEARCH_TIMEOUT_MS"))
    c.store.search_timeout = std::chrono::milliseconds(std::atoll(v));
  return c;
}

}  // namespace medulla::cli
