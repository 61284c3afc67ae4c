#include "monitor/sepsis_utility.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace medulla::monitor {
namespace {

// The official t_sepsis: the first hour labelled 1, minus dt_optimal (np.argmax(labels) -
// dt_optimal). nullopt for a patient who never becomes septic (the official code's inf).
std::optional<std::ptrdiff_t> SepsisTime(std::span<const int8_t> labels,
                                         const UtilityParameters& p) {
  const auto first = std::find(labels.begin(), labels.end(), int8_t{1});
  if (first == labels.end()) return std::nullopt;
  return (first - labels.begin()) - p.dt_optimal;
}

bool AllBinary(std::span<const int8_t> values) {
  return std::all_of(values.begin(), values.end(), [](int8_t v) { return v == 0 || v == 1; });
}

// compute_prediction_utility without its input checks; callers have validated.
double UncheckedPatientUtility(std::span<const int8_t> labels, std::span<const int8_t> predictions,
                               const UtilityParameters& p) {
  const std::optional<std::ptrdiff_t> t_sepsis = SepsisTime(labels, p);

  // The official lines u = m * (t - t_sepsis) + b, computed the same way so that the doubles
  // agree: 1 rises to max_u_tp at dt_optimal from 0 at dt_early; 2 falls from max_u_tp at
  // dt_optimal to 0 at dt_late; 3 falls from 0 at dt_optimal to min_u_fn at dt_late.
  const double m_1 = p.max_u_tp / static_cast<double>(p.dt_optimal - p.dt_early);
  const double b_1 = -m_1 * p.dt_early;
  const double m_2 = -p.max_u_tp / static_cast<double>(p.dt_late - p.dt_optimal);
  const double b_2 = -m_2 * p.dt_late;
  const double m_3 = p.min_u_fn / static_cast<double>(p.dt_late - p.dt_optimal);
  const double b_3 = -m_3 * p.dt_optimal;

  const auto n = static_cast<std::ptrdiff_t>(labels.size());
  double total = 0;
  for (std::ptrdiff_t t = 0; t < n; ++t) {
    const bool alert = predictions[t] != 0;
    if (!t_sepsis) {
      // Non-septic: t_sepsis is inf in the official code, so every hour counts.
      total += alert ? p.u_fp : p.u_tn;
      continue;
    }
    // The official loop leaves hours after t_sepsis + dt_late at 0: an alert there is neither
    // rewarded nor, although the patient is septic by then, is a missing alert penalized.
    const std::ptrdiff_t k = t - *t_sepsis;
    if (k > p.dt_late) continue;
    const auto dk = static_cast<double>(k);
    if (alert) {
      // Too early an alert (k < dt_early) would be negative on line 1; the official code
      // floors it at u_fp, the price of a false alarm.
      total += k <= p.dt_optimal ? std::max(m_1 * dk + b_1, p.u_fp) : m_2 * dk + b_2;
    } else {
      total += k <= p.dt_optimal ? 0.0 : m_3 * dk + b_3;
    }
  }
  return total;
}

}  // namespace

core::Status ValidateUtilityInputs(std::span<const int8_t> labels,
                                   std::span<const int8_t> predictions,
                                   const UtilityParameters& p) {
  if (labels.size() != predictions.size()) {
    return core::InvalidArgument("sepsis utility: " + std::to_string(labels.size()) +
                                 " labels but " + std::to_string(predictions.size()) +
                                 " predictions; there must be one prediction per label");
  }
  if (!AllBinary(labels)) return core::InvalidArgument("sepsis utility: labels must be 0 or 1");
  if (!AllBinary(predictions)) {
    return core::InvalidArgument("sepsis utility: predictions must be 0 or 1");
  }
  if (p.dt_early >= p.dt_optimal) {
    return core::InvalidArgument("sepsis utility: dt_early must be before dt_optimal");
  }
  if (p.dt_optimal >= p.dt_late) {
    return core::InvalidArgument("sepsis utility: dt_optimal must be before dt_late");
  }
  return core::OkStatus();
}

double PatientUtility(std::span<const int8_t> labels, std::span<const int8_t> predictions,
                      const UtilityParameters& p) {
  if (!ValidateUtilityInputs(labels, predictions, p).ok()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return UncheckedPatientUtility(labels, predictions, p);
}

std::vector<int8_t> BestPredictions(std::span<const int8_t> labels, const UtilityParameters& p) {
  const auto n = static_cast<std::ptrdiff_t>(labels.size());
  std::vector<int8_t> best(labels.size(), 0);
  const std::optional<std::ptrdiff_t> t_sepsis = SepsisTime(labels, p);
  if (!t_sepsis) return best;
  // best_predictions[max(0, t_sepsis + dt_early) : min(t_sepsis + dt_late + 1, num_rows)] = 1.
  // With dt_optimal < dt_late the end is at least 2 (t_sepsis + dt_late + 1 > first + 1), so
  // numpy's negative-index slicing never comes into play; an empty slice stays empty here too.
  const std::ptrdiff_t begin = std::max<std::ptrdiff_t>(0, *t_sepsis + p.dt_early);
  const std::ptrdiff_t end = std::min<std::ptrdiff_t>(*t_sepsis + p.dt_late + 1, n);
  for (std::ptrdiff_t t = begin; t < end; ++t) best[t] = 1;
  return best;
}

core::Result<UtilityTotals> CohortUtility(std::span<const std::vector<int8_t>> labels,
                                          std::span<const std::vector<int8_t>> predictions,
                                          const UtilityParameters& p) {
  if (labels.size() != predictions.size()) {
    return core::Fail(core::InvalidArgument(
        "sepsis utility: " + std::to_string(labels.size()) + " patients with labels but " +
        std::to_string(predictions.size()) + " with predictions"));
  }
  UtilityTotals totals;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    core::Status valid = ValidateUtilityInputs(labels[i], predictions[i], p);
    if (!valid.ok()) {
      return core::Fail(std::move(valid).WithLocation("patient[" + std::to_string(i) + "]"));
    }
    const std::vector<int8_t> none(labels[i].size(), 0);
    totals.observed += UncheckedPatientUtility(labels[i], predictions[i], p);
    totals.best += UncheckedPatientUtility(labels[i], BestPredictions(labels[i], p), p);
    totals.inaction += UncheckedPatientUtility(labels[i], none, p);
  }
  // The official scorer also computes a "worst" total (1 - best predictions) but never uses it.
  return totals;
}

core::Result<double> NormalizedUtility(std::span<const std::vector<int8_t>> labels,
                                       std::span<const std::vector<int8_t>> predictions,
                                       const UtilityParameters& p) {
  ASSIGN_OR_RETURN(const UtilityTotals totals, CohortUtility(labels, predictions, p));
  // Exact comparison: with max_u_tp > 0, best exceeds inaction by at least max_u_tp for each
  // septic patient (the alert at the first labelled hour, k = dt_optimal), so the two are equal
  // exactly when no patient is septic.
  if (totals.best == totals.inaction) {
    return core::Fail(core::InvalidArgument(
        "sepsis utility: normalized utility is undefined when the best and inaction totals are "
        "equal (the cohort has no septic patient)"));
  }
  return (totals.observed - totals.inaction) / (totals.best - totals.inaction);
}

}  // namespace medulla::monitor
