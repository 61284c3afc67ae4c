// MonitorEngine: readings of many patients spread over partitions, each handled in order by its
// patient's monitor, with events attributed to the right patient; backpressure; targets applied
// in order with readings.
#include "monitor/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace medulla::monitor {
namespace {

constexpr int64_t kMinute = 60'000;

// Reading times near the wall clock, so that the engine's wall-clock silence check never sees
// these patients as silent during the test.
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Recorded {
  std::string patient;
  MonitorEvent event;
};

class EngineTest : public ::testing::Test {
 protected:
  MonitorEngine::Sink Sink() {
    return [this](const std::string& patient, const MonitorEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back({patient, e});
    };
  }
  std::vector<Recorded> Events() {
    std::lock_guard lock(mu_);
    return events_;
  }

  std::mutex mu_;
  std::vector<Recorded> events_;
};

// A patient id such as "p12" (built without operator+, which trips g++ 12's -Wrestrict).
std::string Id(char prefix, int n) {
  std::string id(1, prefix);
  id += std::to_string(n);
  return id;
}

PatientReading At(const std::string& patient, int64_t t, Vital v, double value) {
  PatientReading r;
  r.patient = patient;
  r.reading.time_ms = t;
  r.reading.vital = v;
  r.reading.value = value;
  return r;
}

TEST_F(EngineTest, ManyPatientsAcrossPartitionsAreAllProcessedAndAttributed) {
  EngineOptions options;
  options.partitions = 4;
  constexpr int kPatients = 100;
  constexpr int kMinutes = 20;
  const int64_t t0 = NowMs() - kMinutes * kMinute;
  {
    MonitorEngine engine(options, Sink());
    // Even patients have a red respiratory rate (NEWS2 alert after confirm_ms); odd ones are
    // well. Batches mix patients, one batch per minute.
    for (int m = 0; m < kMinutes; ++m) {
      std::vector<PatientReading> batch;
      for (int p = 0; p < kPatients; ++p) {
        const std::string id = Id('p', p);
        const int64_t t = t0 + m * kMinute;
        batch.push_back(At(id, t, Vital::kRespiratoryRate, p % 2 == 0 ? 30 : 16));
        batch.push_back(At(id, t, Vital::kSpO2, 97));
        batch.push_back(At(id, t, Vital::kHeartRate, 70 + p % 10));
      }
      ASSERT_TRUE(engine.Submit(std::move(batch)));
    }
    engine.Drain();
    EXPECT_EQ(engine.patients(), static_cast<size_t>(kPatients));
  }
  std::map<std::string, int> scores, opened;
  std::map<std::string, int64_t> last_time;
  for (const auto& [patient, e] : Events()) {
    // Per patient, events come in time order.
    EXPECT_GE(e.time_ms, last_time[patient]) << patient;
    last_time[patient] = e.time_ms;
    if (e.kind == MonitorEvent::Kind::kScore) ++scores[patient];
    if (e.kind == MonitorEvent::Kind::kAlertOpened && e.condition == Condition::kNews2) {
      ++opened[patient];
      EXPECT_EQ(e.time_ms, t0 + options.settings.confirm_ms) << patient;
    }
  }
  for (int p = 0; p < kPatients; ++p) {
    const std::string id = Id('p', p);
    // Constant totals over 20 minutes: scored once, at minute 0 (the band never changes, and
    // the next periodic score is due only after score_interval_ms).
    ASSERT_GT(options.settings.score_interval_ms, kMinutes * kMinute);
    EXPECT_EQ(scores[id], 1) << id;
    EXPECT_EQ(opened[id], p % 2 == 0 ? 1 : 0) << id;
  }
  // The red score is the patient's own: each even patient's score says RR scored 3.
  for (const auto& [patient, e] : Events()) {
    if (e.kind != MonitorEvent::Kind::kScore) continue;
    const int p = std::stoi(patient.substr(1));
    EXPECT_EQ(e.news2.parameter_scores[static_cast<int>(News2Parameter::kRespiratoryRate)],
              p % 2 == 0 ? 3 : 0)
        << patient;
  }
}

TEST_F(EngineTest, DestructorHandlesWhatIsQueued) {
  EngineOptions options;
  options.partitions = 3;
  const int64_t t0 = NowMs() - 10 * kMinute;
  {
    MonitorEngine engine(options, Sink());
    std::vector<PatientReading> batch;
    for (int p = 0; p < 30; ++p) {
      const std::string id = Id('q', p);
      batch.push_back(At(id, t0, Vital::kRespiratoryRate, 16));
      batch.push_back(At(id, t0, Vital::kSpO2, 97));
      batch.push_back(At(id, t0, Vital::kHeartRate, 70));
    }
    ASSERT_TRUE(engine.Submit(std::move(batch)));
  }
  std::map<std::string, int> scores;
  for (const auto& [patient, e] : Events()) scores[patient] += e.kind == MonitorEvent::Kind::kScore;
  EXPECT_EQ(scores.size(), 30u);
  for (const auto& [patient, n] : scores) EXPECT_EQ(n, 1) << patient;
}

TEST_F(EngineTest, SubmitRefusesBeyondMaxQueued) {
  EngineOptions options;
  options.partitions = 2;
  options.max_queued = 10;
  MonitorEngine engine(options, Sink());
  const int64_t t0 = NowMs();
  std::vector<PatientReading> eleven;
  for (int i = 0; i < 11; ++i) eleven.push_back(At("a", t0 + i, Vital::kHeartRate, 70));
  EXPECT_FALSE(engine.Submit(eleven));
  engine.Drain();
  EXPECT_EQ(engine.patients(), 0u);  // a refused batch is not partly taken
  eleven.pop_back();
  EXPECT_TRUE(engine.Submit(eleven));
  engine.Drain();
  EXPECT_EQ(engine.patients(), 1u);
  // The queue empties as readings are handled, so the next batch is taken again.
  EXPECT_TRUE(engine.Submit(eleven));
  engine.Drain();
}

TEST_F(EngineTest, SetTargetIsAppliedInOrderWithReadings) {
  EngineOptions options;
  options.partitions = 2;
  const int64_t t0 = NowMs() - 40 * kMinute;
  {
    MonitorEngine engine(options, Sink());
    std::vector<PatientReading> before, after;
    for (int m = 0; m <= 10; ++m)
      before.push_back(At("late", t0 + m * kMinute, Vital::kHeartRate, 120));
    for (int m = 11; m <= 30; ++m)
      after.push_back(At("late", t0 + m * kMinute, Vital::kHeartRate, 120));
    // "early": the target comes first.
    engine.SetTarget("early", Vital::kHeartRate, 50, 100);
    std::vector<PatientReading> early;
    for (int m = 0; m <= 30; ++m)
      early.push_back(At("early", t0 + m * kMinute, Vital::kHeartRate, 120));
    ASSERT_TRUE(engine.Submit(std::move(early)));
    // "late": readings, the target, more readings.
    ASSERT_TRUE(engine.Submit(std::move(before)));
    engine.SetTarget("late", Vital::kHeartRate, 50, 100);
    ASSERT_TRUE(engine.Submit(std::move(after)));
    // "cleared": a target set then cleared (both bounds nullopt) before its readings.
    engine.SetTarget("cleared", Vital::kHeartRate, 50, 100);
    engine.SetTarget("cleared", Vital::kHeartRate, std::nullopt, std::nullopt);
    std::vector<PatientReading> cleared;
    for (int m = 0; m <= 30; ++m) {
      cleared.push_back(At("cleared", t0 + m * kMinute, Vital::kHeartRate, 120));
    }
    ASSERT_TRUE(engine.Submit(std::move(cleared)));
    engine.Drain();
  }
  std::map<std::string, int64_t> goal_opened;
  for (const auto& [patient, e] : Events()) {
    if (e.kind == MonitorEvent::Kind::kAlertOpened && e.condition == Condition::kGoal) {
      EXPECT_EQ(goal_opened.count(patient), 0u) << patient;
      goal_opened[patient] = e.time_ms;
    }
  }
  ASSERT_EQ(goal_opened.count("early"), 1u);
  EXPECT_EQ(goal_opened["early"], t0 + options.settings.confirm_ms);
  ASSERT_EQ(goal_opened.count("late"), 1u);
  EXPECT_EQ(goal_opened["late"], t0 + 11 * kMinute + options.settings.confirm_ms);
  EXPECT_EQ(goal_opened.count("cleared"), 0u);
}

}  // namespace
}  // namespace medulla::monitor
