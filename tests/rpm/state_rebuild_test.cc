// MonitorService::RebuildState over a real record store and telemetry store: every stored
// reading of the window is replayed once (also past the reads' chunk size), and the open alerts
// are judged only where the replay ran long enough before them to say (the e2e test
// monitor_restart.test.mjs covers the whole restart through the server).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "json/parse.h"
#include "rpm/monitor_service.h"
#include "telemetry/series_store.h"
#include "testing/record_fixture.h"

namespace medulla::rpm {
namespace {

using monitor::Vital;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class StateRebuildTest : public medulla::testing::RecordFixture {
 protected:
  void SetUp() override {
    RecordFixture::SetUp();
    telemetry::SeriesStoreOptions o;
    o.path = dir_.path() + "/telemetry.db";
    auto s = telemetry::SeriesStore::Open(o);
    ASSERT_TRUE(s) << s.error().ToString();
    series_ = std::move(*s);
  }
  std::unique_ptr<MonitorService> Service() {
    monitor::EngineOptions engine;
    engine.settings.silence_ms = 30 * kDay;  // the readings end in the past
    return std::make_unique<MonitorService>(*records_, *series_, engine);
  }
  // Per-minute well vital signs (NEWS2 0) for [from, to).
  void Well(const std::string& patient, int64_t from, int64_t to) {
    std::vector<telemetry::StoredReading> batch;
    for (int64_t t = from; t < to; t += kMinute) {
      for (const auto& [vital, value] : {std::pair{Vital::kHeartRate, 72.0},
                                         {Vital::kRespiratoryRate, 15.0},
                                         {Vital::kSpO2, 97.0},
                                         {Vital::kTemperature, 36.8}}) {
        batch.push_back({patient, vital, t, value});
      }
    }
    ASSERT_TRUE(series_->AppendSync(std::move(batch)).has_value());
  }
  // An open alert as MonitorService writes it, identified at `at`; a trend alert's evidence
  // is the heart-rate reading that tipped it (unless `evidence` is false).
  std::string Alert(const std::string& patient, const std::string& code, int64_t at,
                    bool evidence = true) {
    std::string body =
        R"({"resourceType":"DetectedIssue","status":"preliminary","code":{"coding":[{"system":")" +
        std::string(kAlertCodeSystem) + R"(","code":")" + code +
        R"("}]},"severity":"high","patient":{"reference":"Patient/)" + patient +
        R"("},"identifiedDateTime":")" + core::FormatInstant(at * 1000) + R"(")";
    if (code == "trend" && evidence) {
      body += R"(,"evidence":[{"detail":[{"reference":"Observation/r.)" + std::to_string(at) +
              ".0." + patient + R"("}]}])";
    }
    body += "}";
    std::promise<core::Result<records::WriteReply>> done;
    records_->Create("DetectedIssue", body, std::nullopt,
                     [&](core::Result<records::WriteReply> r) { done.set_value(std::move(r)); });
    auto r = done.get_future().get();
    EXPECT_TRUE(r) << (r ? "" : r.error().ToString());
    return r ? r->record.id : "";
  }
  std::string StatusOf(const std::string& issue) {
    auto v = records_->Read("DetectedIssue", issue);
    EXPECT_TRUE(v) << issue;
    if (!v) return "";
    auto doc = json::Parse(v->body);
    return doc ? std::string(doc->root()->StringOr("status")) : "";
  }

  std::unique_ptr<telemetry::SeriesStore> series_;
};

// Heart rate every second for 30 hours (past the 100,000 readings a replay step reads per
// vital) and the other vitals every minute: each reading reaches the engine once, in order.
TEST_F(StateRebuildTest, EveryReadingOfTheWindowIsReplayedOnce) {
  const int64_t now = NowMs() / kMinute * kMinute;
  const int64_t from = now - 30 * kHour;
  std::vector<telemetry::StoredReading> batch;
  size_t total = 0;
  for (int64_t t = from; t < now; t += 1000) {
    batch.push_back({"p1", Vital::kHeartRate, t, 60.0 + static_cast<double>(t / 1000 % 7)});
    if (t % kMinute == 0) {
      batch.push_back({"p1", Vital::kRespiratoryRate, t, 15});
      batch.push_back({"p1", Vital::kSpO2, t, 97});
    }
    if (batch.size() >= 50'000) {
      total += batch.size();
      ASSERT_TRUE(series_->AppendSync(std::move(batch)).has_value());
      batch.clear();
    }
  }
  total += batch.size();
  ASSERT_TRUE(series_->AppendSync(std::move(batch)).has_value());
  ASSERT_GT(total, 100'000u);
  Well("p2", now - 2 * kHour, now);
  // Readings before the window are not replayed.
  Well("p3", now - 40 * kHour, now - 31 * kHour);

  auto service = Service();
  ASSERT_TRUE(service->LoadOpenAlerts().ok());
  auto report = service->RebuildState(now, 30 * kHour);
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->patients, 2u);
  EXPECT_EQ(report->readings, total + 120 * 4);
  EXPECT_EQ(service->engine().patients(), 2u);
}

// A stored alert is resolved only when the replay had run long enough before it was identified
// to tell (for NEWS2 about 100 minutes: the freshest values, the confirmation and the
// resolution hold; for a heart-rate trend three baseline time constants and the warm-up, 84
// hours; for a trend naming no vital, the longest of them, blood pressure's 240).
TEST_F(StateRebuildTest, OnlyAlertsTheReplayCanJudgeAreResolved) {
  const int64_t now = NowMs() / kMinute * kMinute;
  const int64_t window = 7 * kDay, from = now - window;
  Well("judged", from, now);
  Well("early", from, now);
  Well("trend-judged", from, now);
  Well("trend-early", from, now);
  Well("trend-unnamed", from, now);
  const std::string judged = Alert("judged", "news2", now - kHour);
  const std::string early = Alert("early", "news2", from + 30 * kMinute);
  const std::string trend_judged = Alert("trend-judged", "trend", now - kDay);
  const std::string trend_early = Alert("trend-early", "trend", from + 60 * kHour);
  const std::string unnamed = Alert("trend-unnamed", "trend", now - kDay, false);
  {
    auto service = Service();
    ASSERT_TRUE(service->LoadOpenAlerts().ok());
    auto report = service->RebuildState(now, window);
    ASSERT_TRUE(report) << report.error().ToString();
    EXPECT_EQ(report->alerts_resolved, 2u);
    EXPECT_EQ(report->alerts_opened, 0u);
  }  // waits for its writes
  EXPECT_EQ(StatusOf(judged), "final");
  EXPECT_EQ(StatusOf(trend_judged), "final");
  EXPECT_EQ(StatusOf(early), "preliminary");
  EXPECT_EQ(StatusOf(trend_early), "preliminary");
  EXPECT_EQ(StatusOf(unnamed), "preliminary");
}

TEST_F(StateRebuildTest, AnEmptyWindowDoesNothing) {
  const int64_t now = NowMs();
  Well("p1", now - kHour, now);
  const std::string issue = Alert("p1", "news2", now - 10 * kMinute);
  {
    auto service = Service();
    ASSERT_TRUE(service->LoadOpenAlerts().ok());
    auto report = service->RebuildState(now, 0);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->readings, 0u);
    EXPECT_EQ(service->engine().patients(), 0u);
  }
  EXPECT_EQ(StatusOf(issue), "preliminary");
}

}  // namespace
}  // namespace medulla::rpm
