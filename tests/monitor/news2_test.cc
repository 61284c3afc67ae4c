// NEWS2 scoring, checked against the published chart, not against the implementation.
//
// Source: Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the
// assessment of acute-illness severity in the NHS. Updated report of a working party.
// London: RCP, 2017.
//   Chart 1 (the NEWS scoring system):
//     Respiration rate (per minute)  <=8:3  9-11:1  12-20:0  21-24:2  >=25:3
//     SpO2 scale 1 (%)               <=91:3  92-93:2  94-95:1  >=96:0
//     SpO2 scale 2 (%)               <=83:3  84-85:2  86-87:1  88-92:0  >=93 on air:0
//                                    93-94 on oxygen:1  95-96 on oxygen:2  >=97 on oxygen:3
//     Air or oxygen?                 oxygen:2  air:0
//     Systolic blood pressure (mmHg) <=90:3  91-100:2  101-110:1  111-219:0  >=220:3
//     Pulse (per minute)             <=40:3  41-50:1  51-90:0  91-110:1  111-130:2  >=131:3
//     Consciousness                  Alert:0  new Confusion, Voice, Pain, Unresponsive:3
//     Temperature (Cel)              <=35.0:3  35.1-36.0:1  36.1-38.0:0  38.1-39.0:1  >=39.1:2
//   Chart 4 (clinical response): aggregate 0-4 low; a score of 3 in any single parameter
//   ("red score") with aggregate 0-4 low-medium; aggregate 5-6 medium; 7 or more high.
//
// Every table below was written from the chart above. Each boundary is tested with the values
// either side of it, plus extremes, and the rounding the header promises (whole numbers for RR,
// SpO2, SBP and pulse; one decimal for temperature; half away from zero).
#include "monitor/news2.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <functional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace medulla::monitor {

// So that a failing EXPECT_EQ on a risk band prints the band, not its bytes.
void PrintTo(News2Risk r, std::ostream* os) {
  switch (r) {
    case News2Risk::kLow:
      *os << "kLow";
      return;
    case News2Risk::kLowMedium:
      *os << "kLowMedium";
      return;
    case News2Risk::kMedium:
      *os << "kMedium";
      return;
    case News2Risk::kHigh:
      *os << "kHigh";
      return;
  }
  *os << "News2Risk(" << static_cast<int>(r) << ")";
}

namespace {

struct Row {
  double value;
  int chart_score;
};

std::string Describe(std::string_view what, double value, int chart_score) {
  std::ostringstream s;
  s << what << " = " << value << " (chart score " << chart_score << ")";
  return s.str();
}

void CheckRows(std::string_view what, const std::function<int(double)>& score,
               const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    SCOPED_TRACE(Describe(what, row.value, row.chart_score));
    EXPECT_EQ(score(row.value), row.chart_score);
  }
}

int Index(News2Parameter p) {
  return static_cast<int>(p);
}

// ---------------------------------------------------------------------------------------------
// Chart 1, one parameter at a time.

TEST(News2ChartTest, RespiratoryRate) {
  CheckRows("respiration rate", ScoreRespiratoryRate,
            {
                {0, 3},
                {1, 3},
                {5, 3},
                {8, 3},  // <=8: 3
                {9, 1},
                {10, 1},
                {11, 1},  // 9-11: 1
                {12, 0},
                {16, 0},
                {20, 0},  // 12-20: 0
                {21, 2},
                {22, 2},
                {24, 2},  // 21-24: 2
                {25, 3},
                {30, 3},
                {40, 3},
                {60, 3},
                {100, 3},  // >=25: 3
            });
}

TEST(News2ChartTest, RespiratoryRateRoundsToWholeBreaths) {
  CheckRows("respiration rate", ScoreRespiratoryRate,
            {
                {8.4, 3},   // -> 8
                {8.5, 1},   // -> 9
                {11.4, 1},  // -> 11
                {11.5, 0},  // -> 12
                {20.4, 0},  // -> 20
                {20.5, 2},  // -> 21
                {24.4, 2},  // -> 24
                {24.5, 3},  // -> 25
            });
}

TEST(News2ChartTest, SpO2Scale1DoesNotDependOnOxygen) {
  const std::vector<Row> rows = {
      {0, 3},  {50, 3}, {85, 3}, {88, 3},  {90, 3}, {91, 3},  // <=91: 3
      {92, 2}, {93, 2},                                       // 92-93: 2
      {94, 1}, {95, 1},                                       // 94-95: 1
      {96, 0}, {97, 0}, {98, 0}, {100, 0},                    // >=96: 0
  };
  CheckRows(
      "SpO2 scale 1 on air", [](double v) { return ScoreSpO2(v, SpO2Scale::kScale1, false); },
      rows);
  CheckRows(
      "SpO2 scale 1 on oxygen", [](double v) { return ScoreSpO2(v, SpO2Scale::kScale1, true); },
      rows);
}

TEST(News2ChartTest, SpO2Scale1RoundsToWholePercent) {
  const std::vector<Row> rows = {
      {91.4, 3},  // -> 91
      {91.5, 2},  // -> 92
      {93.4, 2},  // -> 93
      {93.5, 1},  // -> 94
      {95.4, 1},  // -> 95
      {95.5, 0},  // -> 96
  };
  CheckRows(
      "SpO2 scale 1 on air", [](double v) { return ScoreSpO2(v, SpO2Scale::kScale1, false); },
      rows);
  CheckRows(
      "SpO2 scale 1 on oxygen", [](double v) { return ScoreSpO2(v, SpO2Scale::kScale1, true); },
      rows);
}

TEST(News2ChartTest, SpO2Scale2OnAir) {
  CheckRows("SpO2 scale 2 on air", [](double v) { return ScoreSpO2(v, SpO2Scale::kScale2, false); },
            {
                {0, 3},
                {50, 3},
                {80, 3},
                {83, 3},  // <=83: 3
                {84, 2},
                {85, 2},  // 84-85: 2
                {86, 1},
                {87, 1},  // 86-87: 1
                {88, 0},
                {90, 0},
                {92, 0},  // 88-92: 0
                {93, 0},
                {94, 0},
                {95, 0},
                {96, 0},
                {97, 0},
                {100, 0},  // >=93 on air: 0
            });
}

TEST(News2ChartTest, SpO2Scale2OnOxygen) {
  CheckRows("SpO2 scale 2 on oxygen",
            [](double v) { return ScoreSpO2(v, SpO2Scale::kScale2, true); },
            {
                {0, 3},
                {50, 3},
                {80, 3},
                {83, 3},  // <=83: 3
                {84, 2},
                {85, 2},  // 84-85: 2
                {86, 1},
                {87, 1},  // 86-87: 1
                {88, 0},
                {90, 0},
                {92, 0},  // 88-92: 0
                {93, 1},
                {94, 1},  // 93-94 on oxygen: 1
                {95, 2},
                {96, 2},  // 95-96 on oxygen: 2
                {97, 3},
                {98, 3},
                {100, 3},  // >=97 on oxygen: 3
            });
}

TEST(News2ChartTest, SpO2Scale2RoundsToWholePercent) {
  CheckRows("SpO2 scale 2 on air", [](double v) { return ScoreSpO2(v, SpO2Scale::kScale2, false); },
            {
                {83.4, 3},  // -> 83
                {83.5, 2},  // -> 84
                {85.4, 2},  // -> 85
                {85.5, 1},  // -> 86
                {87.4, 1},  // -> 87
                {87.5, 0},  // -> 88
                {92.4, 0},  // -> 92
                {92.5, 0},  // -> 93, on air
                {96.5, 0},  // -> 97, on air
            });
  CheckRows("SpO2 scale 2 on oxygen",
            [](double v) { return ScoreSpO2(v, SpO2Scale::kScale2, true); },
            {
                {83.4, 3},  // -> 83
                {83.5, 2},  // -> 84
                {87.4, 1},  // -> 87
                {87.5, 0},  // -> 88
                {92.4, 0},  // -> 92
                {92.5, 1},  // -> 93
                {94.4, 1},  // -> 94
                {94.5, 2},  // -> 95
                {96.4, 2},  // -> 96
                {96.5, 3},  // -> 97
            });
}

TEST(News2ChartTest, AirOrOxygen) {
  EXPECT_EQ(ScoreAirOrOxygen(false), 0);
  EXPECT_EQ(ScoreAirOrOxygen(true), 2);
}

TEST(News2ChartTest, SystolicBp) {
  CheckRows("systolic BP", ScoreSystolicBp,
            {
                {0, 3},   {40, 3},  {70, 3},  {89, 3},  {90, 3},   // <=90: 3
                {91, 2},  {95, 2},  {100, 2},                      // 91-100: 2
                {101, 1}, {105, 1}, {110, 1},                      // 101-110: 1
                {111, 0}, {120, 0}, {160, 0}, {218, 0}, {219, 0},  // 111-219: 0
                {220, 3}, {221, 3}, {250, 3}, {300, 3},            // >=220: 3
            });
}

TEST(News2ChartTest, SystolicBpRoundsToWholeMmHg) {
  CheckRows("systolic BP", ScoreSystolicBp,
            {
                {90.4, 3},   // -> 90
                {90.5, 2},   // -> 91
                {100.4, 2},  // -> 100
                {100.5, 1},  // -> 101
                {110.4, 1},  // -> 110
                {110.5, 0},  // -> 111
                {219.4, 0},  // -> 219
                {219.5, 3},  // -> 220
            });
}

TEST(News2ChartTest, Pulse) {
  CheckRows("pulse", ScorePulse,
            {
                {0, 3},   {20, 3},  {39, 3},  {40, 3},   // <=40: 3
                {41, 1},  {45, 1},  {50, 1},             // 41-50: 1
                {51, 0},  {70, 0},  {90, 0},             // 51-90: 0
                {91, 1},  {100, 1}, {110, 1},            // 91-110: 1
                {111, 2}, {120, 2}, {130, 2},            // 111-130: 2
                {131, 3}, {132, 3}, {180, 3}, {250, 3},  // >=131: 3
            });
}

TEST(News2ChartTest, PulseRoundsToWholeBeats) {
  CheckRows("pulse", ScorePulse,
            {
                {40.4, 3},   // -> 40
                {40.5, 1},   // -> 41
                {50.4, 1},   // -> 50
                {50.5, 0},   // -> 51
                {90.4, 0},   // -> 90
                {90.5, 1},   // -> 91
                {110.4, 1},  // -> 110
                {110.5, 2},  // -> 111
                {130.4, 2},  // -> 130
                {130.5, 3},  // -> 131
            });
}

TEST(News2ChartTest, Consciousness) {
  struct {
    Acvpu level;
    const char* name;
    int chart_score;
  } const rows[] = {
      {Acvpu::kAlert, "Alert", 0},
      {Acvpu::kConfusion, "new Confusion", 3},
      {Acvpu::kVoice, "Voice", 3},
      {Acvpu::kPain, "Pain", 3},
      {Acvpu::kUnresponsive, "Unresponsive", 3},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(ScoreConsciousness(row.level), row.chart_score);
  }
}

TEST(News2ChartTest, Temperature) {
  CheckRows("temperature", ScoreTemperature,
            {
                {25.0, 3},
                {30.0, 3},
                {34.9, 3},
                {35.0, 3},  // <=35.0: 3
                {35.1, 1},
                {35.5, 1},
                {36.0, 1},  // 35.1-36.0: 1
                {36.1, 0},
                {37.0, 0},
                {37.9, 0},
                {38.0, 0},  // 36.1-38.0: 0
                {38.1, 1},
                {38.5, 1},
                {39.0, 1},  // 38.1-39.0: 1
                {39.1, 2},
                {39.2, 2},
                {40.0, 2},
                {42.0, 2},  // >=39.1: 2
            });
}

TEST(News2ChartTest, TemperatureRoundsToOneDecimal) {
  CheckRows("temperature", ScoreTemperature,
            {
                {35.04, 3},  // -> 35.0
                {35.05, 1},  // -> 35.1
                {35.95, 1},  // -> 36.0
                {36.04, 1},  // -> 36.0
                {36.05, 0},  // -> 36.1
                {37.96, 0},  // -> 38.0
                {38.04, 0},  // -> 38.0
                {38.05, 1},  // -> 38.1
                {38.95, 1},  // -> 39.0
                {39.04, 1},  // -> 39.0
                {39.05, 2},  // -> 39.1
            });
}

// ---------------------------------------------------------------------------------------------
// Chart 4: risk bands.

TEST(News2RiskTest, BandsForEveryAggregateWithoutARedScore) {
  for (int total = 0; total <= 20; ++total) {
    SCOPED_TRACE(::testing::Message() << "total " << total << ", no single 3");
    News2Risk expected = total <= 4   ? News2Risk::kLow
                         : total <= 6 ? News2Risk::kMedium
                                      : News2Risk::kHigh;
    EXPECT_EQ(RiskBand(total, false), expected);
  }
}

TEST(News2RiskTest, BandsForEveryAggregateWithARedScore) {
  // A single 3 makes the total at least 3, so 0-2 cannot happen from ComputeNews2; the header
  // still defines kLowMedium as "aggregate 0-4" with a red score, so RiskBand is held to it.
  for (int total = 0; total <= 20; ++total) {
    SCOPED_TRACE(::testing::Message() << "total " << total << ", a single parameter scored 3");
    News2Risk expected = total <= 4   ? News2Risk::kLowMedium
                         : total <= 6 ? News2Risk::kMedium
                                      : News2Risk::kHigh;
    EXPECT_EQ(RiskBand(total, true), expected);
  }
}

TEST(News2NamesTest, ParameterNamesAreNonEmptyAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < kNews2ParameterCount; ++i) {
    SCOPED_TRACE(::testing::Message() << "parameter " << i);
    std::string_view name = News2ParameterName(static_cast<News2Parameter>(i));
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(seen.insert(std::string(name)).second) << "duplicate name " << name;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kNews2ParameterCount));
}

TEST(News2NamesTest, RiskNamesAreNonEmptyAndDistinct) {
  std::set<std::string> seen;
  for (News2Risk r :
       {News2Risk::kLow, News2Risk::kLowMedium, News2Risk::kMedium, News2Risk::kHigh}) {
    SCOPED_TRACE(::testing::Message() << "risk " << static_cast<int>(r));
    std::string_view name = News2RiskName(r);
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(seen.insert(std::string(name)).second) << "duplicate name " << name;
  }
  EXPECT_EQ(seen.size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// The aggregate.

// A patient scoring 0 on everything (scale 1, on air).
News2Inputs Healthy() {
  News2Inputs in;
  in.respiratory_rate = 16;
  in.spo2 = 98;
  in.on_oxygen = false;
  in.systolic_bp = 120;
  in.pulse = 70;
  in.consciousness = Acvpu::kAlert;
  in.temperature = 37.0;
  return in;
}

struct Expected {
  // Chart order: RR, SpO2, air/oxygen, SBP, pulse, consciousness, temperature; -1 = missing.
  std::array<int, kNews2ParameterCount> scores;
  int total;
  bool single_3;
  News2Risk risk;
  int missing;
};

void CheckResult(const News2Result& got, const Expected& want) {
  for (int i = 0; i < kNews2ParameterCount; ++i) {
    SCOPED_TRACE(News2ParameterName(static_cast<News2Parameter>(i)));
    EXPECT_EQ(static_cast<int>(got.parameter_scores[i]), want.scores[i]);
  }
  EXPECT_EQ(got.total, want.total);
  EXPECT_EQ(got.single_parameter_3, want.single_3);
  EXPECT_EQ(got.risk, want.risk);
  EXPECT_EQ(static_cast<int>(got.missing_count), want.missing);
  EXPECT_EQ(got.risk, RiskBand(got.total, got.single_parameter_3));
}

TEST(News2AggregateTest, HealthyPatientScoresZero) {
  CheckResult(ComputeNews2(Healthy()), {{0, 0, 0, 0, 0, 0, 0}, 0, false, News2Risk::kLow, 0});
}

TEST(News2AggregateTest, EachParameterLandsInItsOwnSlot) {
  // Move one parameter at a time off the healthy baseline; only its slot and the total change.
  struct Case {
    const char* name;
    std::function<void(News2Inputs&)> change;
    News2Parameter slot;
    int chart_score;
  };
  const std::vector<Case> cases = {
      {"RR 9", [](News2Inputs& in) { in.respiratory_rate = 9; }, News2Parameter::kRespiratoryRate,
       1},
      {"SpO2 92 scale 1", [](News2Inputs& in) { in.spo2 = 92; }, News2Parameter::kSpO2, 2},
      {"SBP 110", [](News2Inputs& in) { in.systolic_bp = 110; }, News2Parameter::kSystolicBp, 1},
      {"pulse 111", [](News2Inputs& in) { in.pulse = 111; }, News2Parameter::kPulse, 2},
      {"voice", [](News2Inputs& in) { in.consciousness = Acvpu::kVoice; },
       News2Parameter::kConsciousness, 3},
      {"temperature 39.1", [](News2Inputs& in) { in.temperature = 39.1; },
       News2Parameter::kTemperature, 2},
      {"oxygen", [](News2Inputs& in) { in.on_oxygen = true; }, News2Parameter::kAirOrOxygen, 2},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    News2Inputs in = Healthy();
    c.change(in);
    News2Result r = ComputeNews2(in);
    for (int i = 0; i < kNews2ParameterCount; ++i) {
      SCOPED_TRACE(News2ParameterName(static_cast<News2Parameter>(i)));
      EXPECT_EQ(static_cast<int>(r.parameter_scores[i]), i == Index(c.slot) ? c.chart_score : 0);
    }
    EXPECT_EQ(r.total, c.chart_score);
    EXPECT_EQ(r.single_parameter_3, c.chart_score == 3);
    EXPECT_EQ(static_cast<int>(r.missing_count), 0);
  }
}

TEST(News2AggregateTest, WorkedPatients) {
  struct Case {
    const char* name;
    News2Inputs in;
    Expected want;
  };
  auto patient = [](double rr, double spo2, bool o2, double sbp, double pulse, Acvpu acvpu,
                    double temp, SpO2Scale scale) {
    News2Inputs in;
    in.respiratory_rate = rr;
    in.spo2 = spo2;
    in.on_oxygen = o2;
    in.systolic_bp = sbp;
    in.pulse = pulse;
    in.consciousness = acvpu;
    in.temperature = temp;
    in.scale = scale;
    return in;
  };
  constexpr auto kS1 = SpO2Scale::kScale1;
  constexpr auto kS2 = SpO2Scale::kScale2;
  constexpr auto kA = Acvpu::kAlert;
  const std::vector<Case> cases = {
      // 2 + 2 + 0 + 1 + 2 + 0 + 1 = 8.
      {"RR 24, SpO2 93 s1 air, SBP 105, P 115, A, 38.5",
       patient(24, 93, false, 105, 115, kA, 38.5, kS1),
       {{2, 2, 0, 1, 2, 0, 1}, 8, false, News2Risk::kHigh, 0}},
      // Only new confusion: 3, a red score with aggregate <= 4.
      {"RR 16, SpO2 97 s1 air, SBP 120, P 80, C, 37.0",
       patient(16, 97, false, 120, 80, Acvpu::kConfusion, 37.0, kS1),
       {{0, 0, 0, 0, 0, 3, 0}, 3, true, News2Risk::kLowMedium, 0}},
      // 3 + 0 + 0 + 0 + 1 + 0 + 0 = 4 with RR 8 a red score.
      {"RR 8, SpO2 96 s1 air, SBP 111, P 91, A, 36.1",
       patient(8, 96, false, 111, 91, kA, 36.1, kS1),
       {{3, 0, 0, 0, 1, 0, 0}, 4, true, News2Risk::kLowMedium, 0}},
      // 1 + 1 + 0 + 1 + 1 + 0 + 0 = 4, no red score.
      {"RR 11, SpO2 95 s1 air, SBP 101, P 50, A, 38.0",
       patient(11, 95, false, 101, 50, kA, 38.0, kS1),
       {{1, 1, 0, 1, 1, 0, 0}, 4, false, News2Risk::kLow, 0}},
      // 2 + 1 + 0 + 0 + 1 + 0 + 1 = 5.
      {"RR 22, SpO2 95 s1 air, SBP 115, P 95, A, 38.2",
       patient(22, 95, false, 115, 95, kA, 38.2, kS1),
       {{2, 1, 0, 0, 1, 0, 1}, 5, false, News2Risk::kMedium, 0}},
      // 1 + 0 + 2 + 1 + 1 + 0 + 1 = 6 (SpO2 96 on oxygen scores 0 on scale 1).
      {"RR 9, SpO2 96 s1 O2, SBP 110, P 50, A, 36.0",
       patient(9, 96, true, 110, 50, kA, 36.0, kS1),
       {{1, 0, 2, 1, 1, 0, 1}, 6, false, News2Risk::kMedium, 0}},
      // 0 + 1 + 2 + 1 + 1 + 0 + 2 = 7.
      {"RR 12, SpO2 94 s1 O2, SBP 101, P 91, A, 39.1",
       patient(12, 94, true, 101, 91, kA, 39.1, kS1),
       {{0, 1, 2, 1, 1, 0, 2}, 7, false, News2Risk::kHigh, 0}},
      // Every parameter at its worst: 3 + 3 + 2 + 3 + 3 + 3 + 3 = 20.
      {"RR 30, SpO2 85 s1 O2, SBP 85, P 140, U, 34.0",
       patient(30, 85, true, 85, 140, Acvpu::kUnresponsive, 34.0, kS1),
       {{3, 3, 2, 3, 3, 3, 3}, 20, true, News2Risk::kHigh, 0}},
      // Hypercapnic patient on target (88-92) on air: 0.
      {"RR 20, SpO2 90 s2 air, SBP 111, P 90, A, 36.1",
       patient(20, 90, false, 111, 90, kA, 36.1, kS2),
       {{0, 0, 0, 0, 0, 0, 0}, 0, false, News2Risk::kLow, 0}},
      // The same observations on scale 1: SpO2 90 scores 3.
      {"RR 20, SpO2 90 s1 air, SBP 111, P 90, A, 36.1",
       patient(20, 90, false, 111, 90, kA, 36.1, kS1),
       {{0, 3, 0, 0, 0, 0, 0}, 3, true, News2Risk::kLowMedium, 0}},
      // Scale 2, over-oxygenated: SpO2 97 on oxygen 3, oxygen 2 = 5 with a red score.
      {"RR 18, SpO2 97 s2 O2, SBP 130, P 88, A, 37.2",
       patient(18, 97, true, 130, 88, kA, 37.2, kS2),
       {{0, 3, 2, 0, 0, 0, 0}, 5, true, News2Risk::kMedium, 0}},
      // Scale 2, SpO2 97 on air: 0.
      {"RR 18, SpO2 97 s2 air, SBP 130, P 88, A, 37.2",
       patient(18, 97, false, 130, 88, kA, 37.2, kS2),
       {{0, 0, 0, 0, 0, 0, 0}, 0, false, News2Risk::kLow, 0}},
      // Scale 2 on oxygen: 1 + 1 + 2 + 2 + 1 + 0 + 1 = 8.
      {"RR 10, SpO2 94 s2 O2, SBP 95, P 105, A, 35.5",
       patient(10, 94, true, 95, 105, kA, 35.5, kS2),
       {{1, 1, 2, 2, 1, 0, 1}, 8, false, News2Risk::kHigh, 0}},
      // Scale 2 low saturation on oxygen: 0 + 2 + 2 + 0 + 0 + 0 + 0 = 4.
      {"RR 20, SpO2 84 s2 O2, SBP 219, P 51, A, 38.0",
       patient(20, 84, true, 219, 51, kA, 38.0, kS2),
       {{0, 2, 2, 0, 0, 0, 0}, 4, false, News2Risk::kLow, 0}},
      // Rounding inside the aggregate: 20.5 -> 21 (2), 95.5 -> 96 (0), 110.5 -> 111 (0),
      // 90.5 -> 91 (1), 38.05 -> 38.1 (1) = 4.
      {"RR 20.5, SpO2 95.5 s1 air, SBP 110.5, P 90.5, A, 38.05",
       patient(20.5, 95.5, false, 110.5, 90.5, kA, 38.05, kS1),
       {{2, 0, 0, 0, 1, 0, 1}, 4, false, News2Risk::kLow, 0}},
      // SBP 220 and temperature 35.0 both red: 0 + 0 + 0 + 3 + 0 + 0 + 3 = 6.
      {"RR 12, SpO2 96 s1 air, SBP 220, P 60, A, 35.0",
       patient(12, 96, false, 220, 60, kA, 35.0, kS1),
       {{0, 0, 0, 3, 0, 0, 3}, 6, true, News2Risk::kMedium, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    CheckResult(ComputeNews2(c.in), c.want);
  }
}

TEST(News2AggregateTest, MissingParameters) {
  struct Case {
    const char* name;
    News2Inputs in;
    Expected want;
  };
  auto with = [](std::function<void(News2Inputs&)> change) {
    News2Inputs in = Healthy();
    change(in);
    return in;
  };
  const std::vector<Case> cases = {
      {"everything missing",
       News2Inputs{},
       {{-1, -1, -1, -1, -1, -1, -1}, 0, false, News2Risk::kLow, 7}},
      {"no RR",
       with([](News2Inputs& in) { in.respiratory_rate.reset(); }),
       {{-1, 0, 0, 0, 0, 0, 0}, 0, false, News2Risk::kLow, 1}},
      {"no SpO2, on oxygen",
       with([](News2Inputs& in) {
         in.spo2.reset();
         in.on_oxygen = true;
       }),
       {{0, -1, 2, 0, 0, 0, 0}, 2, false, News2Risk::kLow, 1}},
      {"no SBP",
       with([](News2Inputs& in) { in.systolic_bp.reset(); }),
       {{0, 0, 0, -1, 0, 0, 0}, 0, false, News2Risk::kLow, 1}},
      {"no pulse",
       with([](News2Inputs& in) { in.pulse.reset(); }),
       {{0, 0, 0, 0, -1, 0, 0}, 0, false, News2Risk::kLow, 1}},
      {"no consciousness",
       with([](News2Inputs& in) { in.consciousness.reset(); }),
       {{0, 0, 0, 0, 0, -1, 0}, 0, false, News2Risk::kLow, 1}},
      {"no temperature",
       with([](News2Inputs& in) { in.temperature.reset(); }),
       {{0, 0, 0, 0, 0, 0, -1}, 0, false, News2Risk::kLow, 1}},
      // Scale 1, air/oxygen unknown: SpO2 92 still scores 2 (scale 1 ignores oxygen).
      {"no air/oxygen, scale 1, SpO2 92",
       with([](News2Inputs& in) {
         in.on_oxygen.reset();
         in.spo2 = 92;
       }),
       {{0, 2, -1, 0, 0, 0, 0}, 2, false, News2Risk::kLow, 1}},
      // Scale 2, air/oxygen unknown: SpO2 is scored as on air, so 95 and 97 score 0.
      {"no air/oxygen, scale 2, SpO2 95",
       with([](News2Inputs& in) {
         in.on_oxygen.reset();
         in.scale = SpO2Scale::kScale2;
         in.spo2 = 95;
       }),
       {{0, 0, -1, 0, 0, 0, 0}, 0, false, News2Risk::kLow, 1}},
      {"no air/oxygen, scale 2, SpO2 97",
       with([](News2Inputs& in) {
         in.on_oxygen.reset();
         in.scale = SpO2Scale::kScale2;
         in.spo2 = 97;
       }),
       {{0, 0, -1, 0, 0, 0, 0}, 0, false, News2Risk::kLow, 1}},
      // Scale 2, air/oxygen unknown, below target: the air/oxygen-independent part still scores.
      {"no air/oxygen, scale 2, SpO2 85",
       with([](News2Inputs& in) {
         in.on_oxygen.reset();
         in.scale = SpO2Scale::kScale2;
         in.spo2 = 85;
       }),
       {{0, 2, -1, 0, 0, 0, 0}, 2, false, News2Risk::kLow, 1}},
      // Two missing, the rest scoring: RR 25 (3) + SBP 100 (2) + pulse 131 (3) = 8.
      {"no SpO2, no temperature, RR 25, SBP 100, P 131",
       with([](News2Inputs& in) {
         in.spo2.reset();
         in.temperature.reset();
         in.respiratory_rate = 25;
         in.systolic_bp = 100;
         in.pulse = 131;
       }),
       {{3, -1, 0, 2, 3, 0, -1}, 8, true, News2Risk::kHigh, 2}},
      // Only consciousness known, and it is a red score.
      {"only consciousness (pain)",
       [] {
         News2Inputs in;
         in.consciousness = Acvpu::kPain;
         return in;
       }(),
       {{-1, -1, -1, -1, -1, 3, -1}, 3, true, News2Risk::kLowMedium, 6}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    CheckResult(ComputeNews2(c.in), c.want);
  }
}

// ComputeNews2 agrees with the per-parameter functions for every boundary value of SpO2 on both
// scales, with and without oxygen.
TEST(News2AggregateTest, SpO2BoundariesThroughTheAggregate) {
  struct Case {
    double spo2;
    SpO2Scale scale;
    bool on_oxygen;
    int chart_spo2;
  };
  const std::vector<Case> cases = {
      {91, SpO2Scale::kScale1, false, 3}, {92, SpO2Scale::kScale1, true, 2},
      {95, SpO2Scale::kScale1, true, 1},  {96, SpO2Scale::kScale1, true, 0},
      {83, SpO2Scale::kScale2, false, 3}, {84, SpO2Scale::kScale2, true, 2},
      {87, SpO2Scale::kScale2, true, 1},  {88, SpO2Scale::kScale2, true, 0},
      {92, SpO2Scale::kScale2, true, 0},  {93, SpO2Scale::kScale2, true, 1},
      {93, SpO2Scale::kScale2, false, 0}, {96, SpO2Scale::kScale2, true, 2},
      {97, SpO2Scale::kScale2, true, 3},  {97, SpO2Scale::kScale2, false, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "SpO2 " << c.spo2 << " scale " << (c.scale == SpO2Scale::kScale1 ? 1 : 2)
                 << (c.on_oxygen ? " on oxygen" : " on air"));
    News2Inputs in = Healthy();
    in.spo2 = c.spo2;
    in.scale = c.scale;
    in.on_oxygen = c.on_oxygen;
    News2Result r = ComputeNews2(in);
    int oxygen = c.on_oxygen ? 2 : 0;
    EXPECT_EQ(static_cast<int>(r.parameter_scores[Index(News2Parameter::kSpO2)]), c.chart_spo2);
    EXPECT_EQ(static_cast<int>(r.parameter_scores[Index(News2Parameter::kAirOrOxygen)]), oxygen);
    EXPECT_EQ(r.total, c.chart_spo2 + oxygen);
    EXPECT_EQ(r.single_parameter_3, c.chart_spo2 == 3);
  }
}

}  // namespace
}  // namespace medulla::monitor
