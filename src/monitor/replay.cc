#include "monitor/replay.h"

#include <algorithm>
#include <numeric>

namespace medulla::monitor {

std::string_view DetectorName(Detector d) {
  switch (d) {
    case Detector::kNews2:
      return "news2";
    case Detector::kQsofa:
      return "qsofa";
    case Detector::kTrend:
      return "trend";
  }
  return "unknown";
}

MonitorSettings HourlyReplaySettings() {
  MonitorSettings s;
  s.news2_max_age_ms = 4 * 3'600'000LL;
  s.confirm_ms = 0;
  s.resolve_hold_ms = 0;
  s.score_interval_ms = 3'600'000;
  // Hourly charting gives the baseline far fewer points than a wearable: it learns over a
  // day, smooths over two hours, and judges after four.
  for (auto& t : s.trend) {
    t.baseline_hours = 24;
    t.smoothing_minutes = 120;
    t.warmup_hours = 4;
    t.max_step_hours = 4;
  }
  return s;
}

std::vector<HourVerdict> ReplayStay(const Stay& stay, const MonitorSettings& settings) {
  PatientMonitor monitor;
  const EventSink ignore = [](const MonitorEvent&) {};
  std::vector<HourVerdict> out(stay.hours.size());
  for (size_t h = 0; h < stay.hours.size(); ++h) {
    for (const Reading& r : stay.hours[h]) monitor.Observe(r, settings, ignore);
    // Judged at the end of the hour, on what has arrived by then.
    const int64_t now =
        static_cast<int64_t>(h) * 3'600'000 + (stay.sepsis_labels.empty() ? 3'600'000 : 0);
    auto& v = out[h];
    if (const auto n = monitor.News2At(now, settings)) v.score[0] = n->total;
    if (const auto q = monitor.QsofaAt(now, settings)) v.score[1] = *q;
    if (monitor.last_reading_ms() != INT64_MIN) v.score[2] = monitor.TrendScore(settings);
    v.alert[0] = monitor.open(Condition::kNews2);
    v.alert[1] = monitor.open(Condition::kQsofa);
    v.alert[2] = monitor.open(Condition::kTrend);
  }
  return out;
}

std::optional<double> Auroc(std::span<const double> scores, std::span<const int> outcomes) {
  const size_t n = std::min(scores.size(), outcomes.size());
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Mann-Whitney U from mid-ranks: AUROC = (R+ - n+(n+ + 1)/2) / (n+ n-).
  double rank_sum = 0;
  size_t positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) {
      if (outcomes[order[k]]) {
        rank_sum += mid_rank;
        ++positives;
      }
    }
    i = j;
  }
  const size_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return std::nullopt;
  const double p = static_cast<double>(positives);
  return (rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

}  // namespace medulla::monitor
