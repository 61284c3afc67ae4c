// The normalized utility score of the PhysioNet/Computing in Cardiology Challenge 2019 (early
// prediction of sepsis from clinical data), reimplemented from the official scorer:
//   evaluate_sepsis_score.py, functions compute_prediction_utility and evaluate_sepsis_score,
//   https://physionet.org/content/challenge-2019/1.0.0/
//   (also github.com/physionetchallenges/evaluation-2019)
//   Reyna MA, Josef CS, Jeter R, et al. Early Prediction of Sepsis From Clinical Data: The
//   PhysioNet/Computing in Cardiology Challenge 2019. Crit Care Med 2020;48(2):210-217.
//
// It rewards hourly sepsis alerts that come early (but not too early) and penalizes late or
// missing alerts and false alarms. With t_sepsis the official onset time (the first hour whose
// SepsisLabel is 1, minus dt_optimal; the challenge labels run from 6 hours before onset) and
// k = t - t_sepsis, the official code scores each hour t as:
//
//   septic patient, alert:     k <= dt_optimal:           max(ramp up from 0 at dt_early to
//                                                              max_u_tp at dt_optimal, u_fp)
//                              dt_optimal < k <= dt_late: line from max_u_tp down to 0 at dt_late
//   septic patient, no alert:  k <= dt_optimal:           0
//                              dt_optimal < k <= dt_late: line from 0 down to min_u_fn at dt_late
//   septic patient, any hour with k > dt_late:            0 (the official loop skips these hours)
//   non-septic patient:        u_fp per alert hour, u_tn per other hour, over the whole stay
//
// A cohort's score is (observed - inaction) / (best - inaction), each term summed over patients:
// "inaction" never alerts; "best" alerts on exactly the hours
// [max(0, t_sepsis + dt_early), min(t_sepsis + dt_late + 1, n)) of each septic patient. So 1 is
// perfect, 0 is no better than never alerting, and the score is unbounded below.
//
// Deliberate behaviour where the official code is silent or raises (it raises on bad input):
//  - invalid input (unequal lengths, a value other than 0 or 1, dt_early >= dt_optimal or
//    dt_optimal >= dt_late): PatientUtility returns NaN, NormalizedUtility an error;
//  - a cohort whose best and inaction totals are equal (no septic patient, or an empty cohort):
//    the official code divides by zero and numpy yields NaN or +-inf; we return an error.
//  - the official scorer sums with np.sum (pairwise summation); we sum in order, so totals can
//    differ from it in the last bits (about 1e-15 relative).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace medulla::monitor {

// The official defaults (evaluate_sepsis_score.py, evaluate_sepsis_score). Times are in hours
// relative to t_sepsis; utilities are per hour.
struct UtilityParameters {
  int dt_early = -12;      // earliest hour at which an alert starts to earn utility
  int dt_optimal = -6;     // hour of the largest reward for an alert
  int dt_late = 3;         // last hour at which an alert earns anything (and a miss costs)
  double max_u_tp = 1.0;   // reward for an alert at dt_optimal
  double min_u_fn = -2.0;  // penalty for no alert at dt_late
  double u_fp = -0.05;     // each alert hour of a non-septic patient; floor for too-early alerts
  double u_tn = 0.0;       // each quiet hour of a non-septic patient
};

// Checks what the official code checks before scoring one patient: equal lengths, every value 0
// or 1, dt_early < dt_optimal < dt_late. kInvalidArgument otherwise.
core::Status ValidateUtilityInputs(std::span<const int8_t> labels,
                                   std::span<const int8_t> predictions,
                                   const UtilityParameters& p = {});

// compute_prediction_utility: one patient's total utility. `labels` is the hourly SepsisLabel
// column and `predictions` the hourly binary alert (1 = alert), one per label. Returns a quiet
// NaN when ValidateUtilityInputs fails, so that a misuse poisons any sum it reaches.
double PatientUtility(std::span<const int8_t> labels, std::span<const int8_t> predictions,
                      const UtilityParameters& p = {});

// The official "best" predictions for one patient: 1 on [max(0, t_sepsis + dt_early),
// min(t_sepsis + dt_late + 1, n)) when the patient is septic, otherwise all 0.
// Precondition: dt_early < dt_optimal < dt_late.
std::vector<int8_t> BestPredictions(std::span<const int8_t> labels,
                                    const UtilityParameters& p = {});

// A cohort's unnormalized totals, each summed over patients.
struct UtilityTotals {
  double observed = 0;  // the predictions being scored
  double best = 0;      // BestPredictions
  double inaction = 0;  // never alerting
};

// The totals of a cohort; labels[i] and predictions[i] are patient i's hourly columns.
// kInvalidArgument when the patient counts differ or a patient fails ValidateUtilityInputs.
core::Result<UtilityTotals> CohortUtility(std::span<const std::vector<int8_t>> labels,
                                          std::span<const std::vector<int8_t>> predictions,
                                          const UtilityParameters& p = {});

// The challenge score: (observed - inaction) / (best - inaction). Errors as CohortUtility, and
// kInvalidArgument when best == inaction (no septic patient), where the ratio is undefined.
core::Result<double> NormalizedUtility(std::span<const std::vector<int8_t>> labels,
                                       std::span<const std::vector<int8_t>> predictions,
                                       const UtilityParameters& p = {});

}  // namespace medulla::monitor
