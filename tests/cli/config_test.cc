#include "cli/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "testing/temp_dir.h"

namespace medulla::cli {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"MEDULLA_LISTEN", "MEDULLA_DATA_DIR", "MEDULLA_LOG_LEVEL"}) unsetenv(v);
  }
  std::string Write(const std::string& text) {
    std::string path = dir_.path() + "/medulla.toml";
    std::ofstream(path) << text;
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(ConfigTest, DefaultsAreEmbeddedAndLocal) {
  auto c = LoadConfig(std::nullopt);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Validate().ok());
  EXPECT_EQ(c->data_dir, "var/medulla");
  EXPECT_EQ(c->http.host, "127.0.0.1");
  EXPECT_EQ(c->http.port, 8080);
  EXPECT_EQ(c->store.synchronous, "full");
}

TEST_F(ConfigTest, FileThenEnvironmentOverride) {
  std::string path = Write(R"(
data_dir = "/srv/medulla"
[server]
listen = "0.0.0.0:9000"
max_body_bytes = 1048576
[store]
search_timeout_ms = 2500
[log]
level = "debug"
)");
  setenv("MEDULLA_LISTEN", "127.0.0.1:9100", 1);
  auto c = LoadConfig(path);
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_TRUE(c->Validate().ok());
  EXPECT_EQ(c->data_dir, "/srv/medulla");
  EXPECT_EQ(c->http.port, 9100);  // the environment wins over the file
  EXPECT_EQ(c->http.max_body_bytes, 1048576u);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->store.data_dir, "/srv/medulla");
  EXPECT_EQ(c->store.search_timeout, std::chrono::milliseconds(2500));
}

TEST_F(ConfigTest, BadFileReportsWhere) {
  auto c = LoadConfig(Write("[server\nlisten = 1"));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("medulla.toml:1"), std::string::npos) << c.error().message();
}

TEST_F(ConfigTest, ValidateRejectsBadValues) {
  Config c;
  c.listen = "nohost";
  EXPECT_FALSE(c.Validate().ok());
  c.listen = "127.0.0.1:99999";
  EXPECT_FALSE(c.Validate().ok());
  c.listen = "127.0.0.1:8080";
  c.store.synchronous = "sometimes";
  EXPECT_FALSE(c.Validate().ok());
  c.store.synchronous = "normal";
  c.store.search_timeout = std::chrono::milliseconds(0);
  EXPECT_FALSE(c.Validate().ok());
  c.store.search_timeout = std::chrono::milliseconds(10000);
  c.http.max_body_bytes = 10;
  EXPECT_FALSE(c.Validate().ok());
}

TEST_F(ConfigTest, PlainHttpOnlyOnLoopbackUnlessBehindAProxy) {
  Config c;
  c.listen = "0.0.0.0:8443";
  EXPECT_FALSE(c.Validate().ok());
  c.insecure_behind_proxy = true;
  EXPECT_TRUE(c.Validate().ok());
  c.insecure_behind_proxy = false;
  c.http.tls = {"server.crt", "server.key"};
  EXPECT_TRUE(c.Validate().ok());
  c.insecure_behind_proxy = true;  // plain HTTP and a certificate contradict each other
  EXPECT_FALSE(c.Validate().ok());
  c.insecure_behind_proxy = false;
  c.http.tls.private_key.clear();  // half a TLS configuration
  EXPECT_FALSE(c.Validate().ok());
}

TEST_F(ConfigTest, TlsFilesFromFileAndEnvironment) {
  std::string path =
      Write("[server]\ntls_cert = \"/etc/medulla/chain.pem\"\ntls_key = \"k.pem\"\n");
  setenv("MEDULLA_TLS_KEY", "/etc/medulla/key.pem", 1);
  auto c = LoadConfig(path);
  unsetenv("MEDULLA_TLS_KEY");
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->http.tls.certificate_chain, "/etc/medulla/chain.pem");
  EXPECT_EQ(c->http.tls.private_key, "/etc/medulla/key.pem");
}

TEST_F(ConfigTest, RateLimitsFromFileWithSensibleBounds) {
  auto c = LoadConfig(Write(R"(
[security]
rate_limit = 20
rate_burst = 40.5
anonymous_rate_limit = 0
)"));
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_TRUE(c->Validate().ok());
  EXPECT_EQ(c->security.rate_limit, 20);  // a TOML integer is read as a rate
  EXPECT_EQ(c->security.rate_burst, 40.5);
  EXPECT_EQ(c->security.anonymous_rate_limit, 0);  // no limit
  EXPECT_EQ(c->security.anonymous_rate_burst, 200);
  c->security.rate_limit = -1;
  EXPECT_FALSE(c->Validate().ok());
  c->security.rate_limit = 20;
  c->security.anonymous_rate_burst = 0.5;  // a bucket must hold one request
  EXPECT_FALSE(c->Validate().ok());
}

TEST_F(ConfigTest, MonitorSectionWithFractionsOfMinutes) {
  auto defaults = LoadConfig(std::nullopt);
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->monitor.escalation_minutes, 15);
  EXPECT_EQ(defaults->monitor.confirm_minutes, 10);
  EXPECT_EQ(defaults->monitor.resolve_hold_minutes, 30);
  EXPECT_EQ(defaults->monitor.news2_max_age_minutes, 30);
  EXPECT_EQ(defaults->monitor.silence_minutes, 15);
  EXPECT_EQ(defaults->monitor.score_interval_minutes, 60);
  EXPECT_EQ(defaults->monitor.trend_single, 3.5);
  EXPECT_EQ(defaults->monitor.trend_pair, 2.5);
  EXPECT_TRUE(defaults->monitor.qsofa);
  auto c = LoadConfig(Write(R"(
[monitor]
escalation_minutes = 0.25
confirm_minutes = 5
resolve_hold_minutes = 0
news2_max_age_minutes = 45
silence_minutes = 120
score_interval_minutes = 30
trend_single = 4
trend_pair = 3.0
qsofa = false
)"));
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_TRUE(c->Validate().ok()) << c->Validate().message();
  EXPECT_EQ(c->monitor.escalation_minutes, 0.25);  // 15 seconds
  EXPECT_EQ(c->monitor.confirm_minutes, 5);        // a TOML integer is read as minutes too
  EXPECT_EQ(c->monitor.resolve_hold_minutes, 0);
  EXPECT_EQ(c->monitor.news2_max_age_minutes, 45);
  EXPECT_EQ(c->monitor.silence_minutes, 120);
  EXPECT_EQ(c->monitor.score_interval_minutes, 30);
  EXPECT_EQ(c->monitor.trend_single, 4);
  EXPECT_EQ(c->monitor.trend_pair, 3);
  EXPECT_FALSE(c->monitor.qsofa);
}

TEST_F(ConfigTest, MonitorSectionRefusesUnknownKeysAndWrongTypes) {
  for (const char* text :
       {"[monitor]\nescalation_minute = 5\n", "[monitor]\nescalation_minutes = \"5\"\n",
        "[monitor]\nqsofa = 1\n", "monitor = 3\n"}) {
    auto c = LoadConfig(Write(text));
    ASSERT_FALSE(c) << text;
    EXPECT_NE(c.error().message().find("monitor"), std::string::npos) << c.error().message();
  }
  auto c = LoadConfig(Write("[monitor]\nescalation_minute = 5\n"));
  EXPECT_NE(c.error().message().find("escalation_minutes"), std::string::npos)
      << "the message lists the settings: " << c.error().message();
}

TEST_F(ConfigTest, MonitorSectionRanges) {
  const auto refused = [](auto change) {
    Config c;
    change(c.monitor);
    const auto s = c.Validate();
    EXPECT_FALSE(s.ok());
    return s.message();
  };
  EXPECT_NE(refused([](auto& m) { m.escalation_minutes = 0; }).find("monitor.escalation_minutes"),
            std::string::npos);
  refused([](auto& m) { m.escalation_minutes = 0.01; });  // under a second
  refused([](auto& m) { m.escalation_minutes = 2000; });
  refused([](auto& m) { m.confirm_minutes = -1; });
  refused([](auto& m) { m.resolve_hold_minutes = 1441; });
  refused([](auto& m) { m.news2_max_age_minutes = 0; });
  refused([](auto& m) { m.silence_minutes = 0.5; });
  refused([](auto& m) { m.score_interval_minutes = 0; });
  refused([](auto& m) { m.trend_single = 13; });  // beyond the CUSUM's cap
  refused([](auto& m) { m.trend_single = NAN; });
  EXPECT_NE(refused([](auto& m) { m.trend_pair = 4; }).find("monitor.trend_single"),
            std::string::npos)
      << "the pair threshold is at most the single one";
  Config ok;
  ok.monitor.escalation_minutes = 1.0 / 60;  // a second: the least
  ok.monitor.confirm_minutes = 0;            // no hold, as the hourly replay uses
  EXPECT_TRUE(ok.Validate().ok()) << ok.Validate().message();
}

}  // namespace
}  // namespace medulla::cli
