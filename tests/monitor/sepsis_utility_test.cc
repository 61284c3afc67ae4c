// The PhysioNet/CinC Challenge 2019 utility score (evaluate_sepsis_score.py,
// compute_prediction_utility; Reyna et al., Crit Care Med 2020;48(2):210-217).
//
// The primary oracle is hand arithmetic, written next to each case. With the defaults
// (dt_early -12, dt_optimal -6, dt_late 3, max_u_tp 1, min_u_fn -2, u_fp -0.05) and
// k = t - t_sepsis, the official lines are:
//   alert,    k <= -6:     max(k/6 + 2, -0.05)   (m_1 = 1/6, b_1 = 2)
//   alert,    -6 < k <= 3: (3 - k)/9             (m_2 = -1/9, b_2 = 1/3)
//   no alert, -6 < k <= 3: -(2k + 12)/9          (m_3 = -2/9, b_3 = -4/3)
//   k > 3: nothing.
// Sums used below:
//   missed (k = -5..3): -(2*(-9) + 9*12)/9 = -(-18 + 108)/9 = -10
//   alerts on k = -12..-6: (0+1+2+3+4+5+6)/6 = 3.5;  on k = -5..3: (8+7+...+0)/9 = 4
#include "monitor/sepsis_utility.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string_view>
#include <vector>

namespace medulla::monitor {
namespace {

constexpr double kTol = 1e-12;

// "0011" -> {0, 0, 1, 1}.
std::vector<int8_t> Bits(std::string_view bits) {
  std::vector<int8_t> v;
  for (char c : bits) v.push_back(static_cast<int8_t>(c - '0'));
  return v;
}

// n hours, 1 on [from, to).
std::vector<int8_t> Ones(int n, int from, int to) {
  std::vector<int8_t> v(n, 0);
  for (int t = from; t < to; ++t) v[t] = 1;
  return v;
}

std::vector<int8_t> None(int n) {
  return std::vector<int8_t>(n, 0);
}

// The reference septic patient: 30 hours, SepsisLabel 1 from hour 10, so t_sepsis = 10 + 6 = 16.
// Hour 4 is k = -12, hour 10 is k = -6, hour 16 is k = 0, hour 19 is k = 3.
constexpr int kStay = 30;
std::vector<int8_t> Septic() {
  return Ones(kStay, 10, kStay);
}
std::vector<int8_t> NonSeptic() {
  return None(kStay);
}

double Utility(const std::vector<int8_t>& labels, const std::vector<int8_t>& predictions) {
  return PatientUtility(labels, predictions);
}

// --- one patient -----------------------------------------------------------------------------

TEST(SepsisPatientUtility, OfficialDocstringExample) {
  // evaluate_sepsis_score.py's own example. Label onset at hour 4: t_sepsis = 10; alerts at
  // k = -8, -7, -6, -5: 4/6 + 5/6 + 1 + 8/9 = 3.3888...
  EXPECT_NEAR(Utility(Bits("000011"), Bits("001111")), 3.388888888888889, kTol);
}

TEST(SepsisPatientUtility, NonSepticWithoutAlertsScoresZero) {
  EXPECT_EQ(Utility(NonSeptic(), None(kStay)), 0.0);  // 30 * u_tn = 0
}

TEST(SepsisPatientUtility, NonSepticCostsUfpPerAlert) {
  std::vector<int8_t> three = None(kStay);
  three[3] = three[7] = three[29] = 1;
  EXPECT_NEAR(Utility(NonSeptic(), three), -0.15, kTol);                 // 3 * -0.05
  EXPECT_NEAR(Utility(NonSeptic(), Ones(kStay, 0, kStay)), -1.5, kTol);  // 30 * -0.05
}

TEST(SepsisPatientUtility, SepticMissedEntirely) {
  // Hours 11..19 (k = -5..3) each cost -(2k + 12)/9: -2/9 -4/9 ... -18/9 = -90/9 = -10.
  // Hours 0..10 (k <= -6) cost nothing, nor do hours 20..29 (k > 3).
  EXPECT_NEAR(Utility(Septic(), None(kStay)), -10.0, kTol);
}

TEST(SepsisPatientUtility, SepticAlertingOverTheWholeRewardWindow) {
  // Hours 4..19 (k = -12..3): 3.5 + 4 = 7.5, the official best.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 4, 20)), 7.5, kTol);
  EXPECT_EQ(BestPredictions(Septic()), Ones(kStay, 4, 20));
}

TEST(SepsisPatientUtility, SepticAlertingFromTheOptimalHourOn) {
  // Hour 10 (k = -6): 1; hours 11..19: 4; hours 20..29: nothing. 1 + 4 = 5.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 10, kStay)), 5.0, kTol);
}

TEST(SepsisPatientUtility, SepticSingleAlertAtTheOptimalHour) {
  // Hour 10: +1; hours 11..19 still missed: -10. Total -9.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 10, 11)), -9.0, kTol);
}

TEST(SepsisPatientUtility, AlertAtTSepsisIsNotTheMaximum) {
  // The reward peaks at k = dt_optimal = -6 (1.0); at k = 0 it is only (3 - 0)/9 = 1/3.
  // Single alert at hour 16: the miss there (-12/9) becomes +3/9: -10 + 15/9 = -75/9 = -25/3.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 16, 17)), -25.0 / 3.0, kTol);
  // Alerts from hour 16 on: k = 0..3 earn (3+2+1+0)/9 = 6/9; k = -5..-1 are missed:
  // -(2+4+6+8+10)/9 = -30/9. Total -24/9 = -8/3.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 16, kStay)), -8.0 / 3.0, kTol);
}

TEST(SepsisPatientUtility, AlertExactlyAtDtEarlyEarnsNothing) {
  // Hour 4 is k = -12: max(-12/6 + 2, -0.05) = 0. Only the miss counts: -10.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 4, 5)), -10.0, kTol);
  // Hour 5 is k = -11: 1/6.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 5, 6)), -10.0 + 1.0 / 6.0, kTol);
}

TEST(SepsisPatientUtility, TooEarlyAlertsAreFlooredAtUfp) {
  // Hour 3 is k = -13: the line gives -13/6 + 2 = -1/6, floored to u_fp = -0.05.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 3, 4)), -10.05, kTol);
  // Hours 0..3 (k = -16..-13): 4 * -0.05 = -0.2, plus the miss: -10.2.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 0, 4)), -10.2, kTol);
}

TEST(SepsisPatientUtility, LateAlertsFollowTheDescendingLine) {
  // A single late alert at k swaps the miss -(2k + 12)/9 for (3 - k)/9, a gain of (15 + k)/9.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 17, 18)), -10.0 + 16.0 / 9.0, kTol);  // k = 1
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 18, 19)), -10.0 + 17.0 / 9.0, kTol);  // k = 2
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 19, 20)), -8.0, kTol);  // k = 3: 0 instead of -2
  // From hour 17 on: (2+1+0)/9 = 1/3 earned; k = -5..0 missed: -(2+4+6+8+10+12)/9 = -42/9.
  // Total 3/9 - 42/9 = -39/9 = -13/3.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 17, kStay)), -13.0 / 3.0, kTol);
}

TEST(SepsisPatientUtility, HoursAfterDtLateDoNotCount) {
  // Hours 20..29 are past t_sepsis + 3: alerts there are worth nothing, the miss stays -10.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 20, kStay)), -10.0, kTol);
  // Alerting every hour: hours 0..3 -0.2, hours 4..19 7.5, hours 20..29 nothing: 7.3.
  EXPECT_NEAR(Utility(Septic(), Ones(kStay, 0, kStay)), 7.3, kTol);
}

TEST(SepsisPatientUtility, SepticFromTheFirstRow) {
  // Label 1 from hour 0: t_sepsis = 6. Hour 0 is k = -6; the earlier part of the ramp is
  // before admission. Best = hours [max(0, -6), min(10, 30)) = 0..9: 1 + 4 = 5.
  const std::vector<int8_t> labels = Ones(kStay, 0, kStay);
  EXPECT_EQ(BestPredictions(labels), Ones(kStay, 0, 10));
  EXPECT_NEAR(Utility(labels, Ones(kStay, 0, 10)), 5.0, kTol);
  EXPECT_NEAR(Utility(labels, None(kStay)), -10.0, kTol);          // hours 1..9 missed
  EXPECT_NEAR(Utility(labels, Ones(kStay, 0, kStay)), 5.0, kTol);  // hours 10.. do not count
}

TEST(SepsisPatientUtility, StayEndingBeforeTSepsis) {
  // Label 1 from hour 3 of 5: t_sepsis = 9, after the stay ends. Best = hours
  // [max(0, -3), min(13, 5)) = 0..4 (k = -9..-5): 3/6 + 4/6 + 5/6 + 1 + 8/9 = 35/9.
  // Inaction misses only hour 4 (k = -5): -2/9.
  const std::vector<int8_t> labels = Bits("00011");
  EXPECT_EQ(BestPredictions(labels), Bits("11111"));
  EXPECT_NEAR(Utility(labels, Bits("11111")), 35.0 / 9.0, kTol);
  EXPECT_NEAR(Utility(labels, Bits("00000")), -2.0 / 9.0, kTol);
}

TEST(SepsisPatientUtility, EmptyStayScoresZero) {
  EXPECT_EQ(Utility({}, {}), 0.0);
  EXPECT_TRUE(BestPredictions({}).empty());
}

TEST(SepsisPatientUtility, NonDefaultParameters) {
  // dt_early -8, dt_optimal -4, dt_late 2, max_u_tp 2: m_1 = 2/4, b_1 = 4; m_2 = -2/6, b_2 = 2/3.
  // Label 1 from hour 5 of 12: t_sepsis = 9. Alerting every hour:
  //   k = -9: max(-4.5 + 4, -0.05) = -0.05; k = -8..-4: 0, 0.5, 1, 1.5, 2 (sum 5);
  //   k = -3..2: (2 - k)/3 = 5/3, 4/3, 1, 2/3, 1/3, 0 (sum 5). Total 9.95.
  UtilityParameters p;
  p.dt_early = -8;
  p.dt_optimal = -4;
  p.dt_late = 2;
  p.max_u_tp = 2;
  EXPECT_NEAR(PatientUtility(Ones(12, 5, 12), Ones(12, 0, 12), p), 9.95, kTol);
  // Best: [max(0, 9 - 8), min(9 + 2 + 1, 12)) = hours 1..11.
  EXPECT_EQ(BestPredictions(Ones(12, 5, 12), p), Ones(12, 1, 12));
}

TEST(SepsisPatientUtility, InvalidInputIsNaN) {
  EXPECT_TRUE(std::isnan(Utility(Bits("0001"), Bits("001"))));   // lengths differ
  EXPECT_TRUE(std::isnan(Utility(Bits("0002"), Bits("0001"))));  // label not 0/1
  EXPECT_TRUE(std::isnan(Utility(Bits("0001"), Bits("0003"))));  // prediction not 0/1
  UtilityParameters early_after_optimal;
  early_after_optimal.dt_early = -6;  // == dt_optimal
  EXPECT_TRUE(std::isnan(PatientUtility(Bits("01"), Bits("01"), early_after_optimal)));
  UtilityParameters late_before_optimal;
  late_before_optimal.dt_late = -7;
  EXPECT_TRUE(std::isnan(PatientUtility(Bits("01"), Bits("01"), late_before_optimal)));

  const core::Status status = ValidateUtilityInputs(Bits("0001"), Bits("001"));
  EXPECT_EQ(status.code(), core::Code::kInvalidArgument);
  EXPECT_TRUE(ValidateUtilityInputs(Bits("0001"), Bits("0011")).ok());
}

// --- a cohort ------------------------------------------------------------------------------

TEST(SepsisNormalizedUtility, BestPredictionsScoreOne) {
  const std::vector<std::vector<int8_t>> labels = {Septic(), NonSeptic(), Ones(kStay, 0, kStay)};
  std::vector<std::vector<int8_t>> best;
  for (const auto& l : labels) best.push_back(BestPredictions(l));
  const core::Result<double> score = NormalizedUtility(labels, best);
  ASSERT_TRUE(score.has_value()) << score.error().ToString();
  EXPECT_NEAR(*score, 1.0, kTol);
}

TEST(SepsisNormalizedUtility, NoAlertsScoreZero) {
  const std::vector<std::vector<int8_t>> labels = {Septic(), NonSeptic()};
  const std::vector<std::vector<int8_t>> none = {None(kStay), None(kStay)};
  const core::Result<double> score = NormalizedUtility(labels, none);
  ASSERT_TRUE(score.has_value()) << score.error().ToString();
  EXPECT_EQ(*score, 0.0);
}

TEST(SepsisNormalizedUtility, HandWorkedMixedCohort) {
  // A: the reference septic patient alerting from hour 10 on: observed 5, best 7.5, inaction -10.
  // B: non-septic, 20 hours, 2 alerts: observed -0.1, best 0, inaction 0.
  // C: septic from the first row, 12 hours, never alerted: hours 1..9 missed, so observed -10,
  //    best (hours 0..9) 1 + 4 = 5, inaction -10.
  // observed = 5 - 0.1 - 10 = -5.1; best = 7.5 + 0 + 5 = 12.5; inaction = -10 + 0 - 10 = -20.
  // normalized = (-5.1 + 20) / (12.5 + 20) = 14.9 / 32.5 = 0.458461538...
  std::vector<int8_t> b_alerts = None(20);
  b_alerts[5] = b_alerts[6] = 1;
  const std::vector<std::vector<int8_t>> labels = {Septic(), None(20), Ones(12, 0, 12)};
  const std::vector<std::vector<int8_t>> predictions = {Ones(kStay, 10, kStay), b_alerts, None(12)};

  const core::Result<UtilityTotals> totals = CohortUtility(labels, predictions);
  ASSERT_TRUE(totals.has_value()) << totals.error().ToString();
  EXPECT_NEAR(totals->observed, -5.1, kTol);
  EXPECT_NEAR(totals->best, 12.5, kTol);
  EXPECT_NEAR(totals->inaction, -20.0, kTol);

  const core::Result<double> score = NormalizedUtility(labels, predictions);
  ASSERT_TRUE(score.has_value()) << score.error().ToString();
  EXPECT_NEAR(*score, 14.9 / 32.5, kTol);
}

TEST(SepsisNormalizedUtility, PatientCountsMustMatch) {
  const std::vector<std::vector<int8_t>> labels = {Septic(), NonSeptic()};
  const std::vector<std::vector<int8_t>> predictions = {None(kStay)};
  const core::Result<double> score = NormalizedUtility(labels, predictions);
  ASSERT_FALSE(score.has_value());
  EXPECT_EQ(score.error().code(), core::Code::kInvalidArgument);
}

TEST(SepsisNormalizedUtility, EachPatientNeedsOnePredictionPerLabel) {
  const std::vector<std::vector<int8_t>> labels = {Septic(), NonSeptic()};
  const std::vector<std::vector<int8_t>> predictions = {None(kStay), None(kStay - 1)};
  const core::Result<double> score = NormalizedUtility(labels, predictions);
  ASSERT_FALSE(score.has_value());
  EXPECT_EQ(score.error().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(score.error().location(), "patient[1]");
}

TEST(SepsisNormalizedUtility, UndefinedWithoutASepticPatient) {
  // best == inaction == 0: the official code would divide 0 by 0 (numpy: NaN).
  const std::vector<std::vector<int8_t>> labels = {NonSeptic()};
  const std::vector<std::vector<int8_t>> predictions = {Ones(kStay, 0, 3)};
  const core::Result<double> score = NormalizedUtility(labels, predictions);
  ASSERT_FALSE(score.has_value());
  EXPECT_EQ(score.error().code(), core::Code::kInvalidArgument);

  const core::Result<double> empty = NormalizedUtility({}, {});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), core::Code::kInvalidArgument);
}

// --- cross-check ---------------------------------------------------------------------------

// Cohorts whose expected values were computed once, while writing this test, with the
// independent Python reimplementation /work/shared/checks/lib/utility.py (patient_utility,
// normalized_utility) and agreed within 1e-12 with a plain-Python transcription of the
// official evaluate_sepsis_score.py. The hand-worked cases above remain the primary oracle.
// utility.py scores every hour as the official code does; it differs only off that path: with
// no septic patient it raises ZeroDivisionError (the official code yields NaN or inf), it checks
// no input (zip silently truncates unequal cohorts; a short prediction row raises IndexError),
// and it sums in order where the official code uses np.sum.
struct CrossCheckPatient {
  std::string_view labels;
  std::string_view predictions;
  double utility;
};
struct CrossCheckCohort {
  std::vector<CrossCheckPatient> patients;
  double normalized;
};

const std::vector<CrossCheckCohort>& CrossCheckCohorts() {
  static const auto* cohorts = new std::vector<CrossCheckCohort>{
      {{
           {"0000000000000000000011111111111111111111", "0000000000001110011111000000001111111111",
            -5.988888888888888},
           {"000000000000000", "010000100000001", -0.15000000000000002},
           {"00011", "11111", 3.888888888888889},
           {"11111111", "00110011", -0.22222222222222215},
       },
       0.42699490662139217},
      {{
           {"000000000000000000000", "000000000000010000000", -0.05},
           {"000000000000", "000010100000", -0.1},
           {"00000000000000000", "00001001000101010", -0.25},
           {"000000000001111111111111111111111", "001010011111111111100000110000101",
            3.344444444444445},
           {"000000000000000000000000000000000000000", "010000000000100010100000000011000010000",
            -0.35},
       },
       0.7196825396825397},
      {{
           {"111111111111111111111111111111111", "010101011001001100100110101010001",
            -2.333333333333333},
           {"000000000000", "000000000000", 0.0},
           {"000000000000", "000000011000", -0.1},
           {"0000000000000000000000011111", "0110110011101010010111110001", 2.105555555555556},
           {"0000000000000000000011111111111111111111", "1001000111000101111100111110101001000010",
            1.3111111111111113},
           {"000000000000000000000000000000000000000000",
            "000000000010000110010100001110000000000000", -0.39999999999999997},
       },
       0.5547297297297297},
      {{
           {"00000000000000000000000000000000000000000000000",
            "00000011101001000001000000000001001100000000000", -0.44999999999999996},
           {"00000000000000000000000", "01001000000000110111010", -0.39999999999999997},
           {"0000000", "0010110", -0.15000000000000002},
           {"000000111111", "000111001001", 1.4444444444444444},
           {"000000000000000000000000000000000000000000000",
            "010100100011100100000000000001000000100000000", -0.44999999999999996},
           {"0000000000", "0000000000", 0.0},
           {"000000000000000000000000000001111", "000100111001001010101010100111011",
            3.388888888888889},
       },
       0.46442307692307677},
  };
  return *cohorts;
}

TEST(SepsisUtilityCrossCheck, MatchesThePythonReimplementation) {
  for (std::size_t c = 0; c < CrossCheckCohorts().size(); ++c) {
    const CrossCheckCohort& cohort = CrossCheckCohorts()[c];
    std::vector<std::vector<int8_t>> labels;
    std::vector<std::vector<int8_t>> predictions;
    for (const CrossCheckPatient& patient : cohort.patients) {
      labels.push_back(Bits(patient.labels));
      predictions.push_back(Bits(patient.predictions));
      EXPECT_NEAR(PatientUtility(labels.back(), predictions.back()), patient.utility, kTol)
          << "cohort " << c << " labels " << patient.labels;
    }
    const core::Result<double> score = NormalizedUtility(labels, predictions);
    ASSERT_TRUE(score.has_value()) << score.error().ToString();
    EXPECT_NEAR(*score, cohort.normalized, kTol) << "cohort " << c;
  }
}

}  // namespace
}  // namespace medulla::monitor
