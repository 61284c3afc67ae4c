// `medulla monitor replay`: PhysioNet Challenge files through the monitor's per-patient engine,
// one CSV row per file, hour and detector.
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli/commands.h"
#include "monitor/physionet.h"
#include "monitor/replay.h"
#include "monitor/sepsis_utility.h"

namespace medulla::cli {
namespace {

using monitor::Detector;
using monitor::kDetectorCount;

// One row per hour and detector: the score (empty when too little was fresh) and the alert.
void PrintStay(const monitor::Stay& stay, const std::vector<monitor::HourVerdict>& verdicts,
               std::string& out) {
  for (size_t h = 0; h < verdicts.size(); ++h) {
    for (int d = 0; d < kDetectorCount; ++d) {
      const auto& score = verdicts[h].score[d];
      fmt::format_to(std::back_inserter(out), "{},{},{},", stay.file, h,
                     monitor::DetectorName(static_cast<Detector>(d)));
      if (score) fmt::format_to(std::back_inserter(out), "{:.4g}", *score);
      fmt::format_to(std::back_inserter(out), ",{}\n", verdicts[h].alert[d] ? 1 : 0);
    }
  }
}

}  // namespace

int RunMonitorReplay(const MonitorReplayArgs& args) {
  monitor::PhysionetFormat format;
  if (args.format == "physionet2019") {
    format = monitor::PhysionetFormat::k2019;
  } else if (args.format == "physionet2012") {
    format = monitor::PhysionetFormat::k2012;
  } else {
    std::fprintf(stderr,
                 "medulla monitor replay: unknown --format %s (physionet2019 or "
                 "physionet2012)\n",
                 args.format.c_str());
    return 2;
  }
  const auto settings = monitor::HourlyReplaySettings();
  std::unordered_map<int64_t, int> outcomes;  // record id -> in-hospital death
  if (!args.outcomes.empty()) {
    auto read = monitor::ReadPhysionet2012Outcomes(args.outcomes);
    if (!read) {
      std::fprintf(stderr, "medulla monitor replay: %s\n", read.error().ToString().c_str());
      return 1;
    }
    outcomes.insert(read->begin(), read->end());
  }

  // For the summary: per detector, every stay's hourly alerts (2019 utility) and its highest
  // score (2012 AUROC).
  std::vector<std::vector<int8_t>> labels;
  std::vector<std::vector<int8_t>> alerts[kDetectorCount];
  std::vector<double> peak[kDetectorCount];
  std::vector<int64_t> record_ids;
  size_t hours = 0, rejected = 0;
  std::fputs("file,hour,detector,score,alert\n", stdout);
  std::string out;
  for (size_t i = 0; i < args.files.size(); ++i) {
    auto stay = monitor::ReadPhysionet(args.files[i], format);
    if (!stay) {
      std::fprintf(stderr, "medulla monitor replay: %s\n", stay.error().ToString().c_str());
      return 1;
    }
    const auto verdicts = monitor::ReplayStay(*stay, settings);
    out.clear();
    PrintStay(*stay, verdicts, out);
    std::fwrite(out.data(), 1, out.size(), stdout);
    hours += verdicts.size();
    rejected += static_cast<size_t>(stay->rejected);
    labels.push_back(stay->sepsis_labels);
    record_ids.push_back(stay->record_id);
    for (int d = 0; d < kDetectorCount; ++d) {
      auto& a = alerts[d].emplace_back();
      double best = -1;
      for (const auto& v : verdicts) {
        a.push_back(v.alert[d] ? 1 : 0);
        if (v.score[d]) best = std::max(best, *v.score[d]);
      }
      peak[d].push_back(best);
    }
    if (args.files.size() >= 1000 && (i + 1) % 1000 == 0) {
      std::fprintf(stderr, "replayed %zu of %zu files\n", i + 1, args.files.size());
    }
  }
  std::fflush(stdout);
  std::fprintf(stderr, "replayed %zu files, %zu hours; %zu values rejected as implausible\n",
               args.files.size(), hours, rejected);

  if (format == monitor::PhysionetFormat::k2019) {
    for (int d = 0; d < kDetectorCount; ++d) {
      const auto u = monitor::NormalizedUtility(labels, alerts[d]);
      if (u) {
        std::fprintf(stderr, "%s: Challenge 2019 normalized utility %.3f\n",
                     std::string(monitor::DetectorName(static_cast<Detector>(d))).c_str(), *u);
      }
    }
  }
  if (!outcomes.empty()) {
    std::vector<int> died;
    std::vector<double> scores[kDetectorCount];
    for (size_t i = 0; i < record_ids.size(); ++i) {
      const auto outcome = outcomes.find(record_ids[i]);
      if (outcome == outcomes.end()) continue;
      died.push_back(outcome->second);
      for (int d = 0; d < kDetectorCount; ++d) scores[d].push_back(peak[d][i]);
    }
    for (int d = 0; d < kDetectorCount; ++d) {
      const auto auc = monitor::Auroc(scores[d], died);
      std::fprintf(stderr,
                   "%s: AUROC of the stay's highest score for in-hospital death %s "
                   "(%zu stays with an outcome)\n",
                   std::string(monitor::DetectorName(static_cast<Detector>(d))).c_str(),
                   auc ? fmt::format("{:.3f}", *auc).c_str() : "n/a", died.size());
    }
  }
  return 0;
}

}  // namespace medulla::cli
