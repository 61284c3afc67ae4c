// NEWS2, the National Early Warning Score 2, exactly as the Royal College of Physicians' chart
// defines it: Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising
// the assessment of acute-illness severity in the NHS. Updated report of a working party.
// London: RCP, 2017. Chart 1 (the NEWS scoring system) and Chart 4 (clinical response).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace medulla::monitor {

// Which SpO2 scale applies (RCP 2017, chart 1). Scale 2 is only for patients with confirmed
// hypercapnic respiratory failure and a prescribed target of 88-92 %, as a clinician decides.
enum class SpO2Scale : uint8_t { kScale1, kScale2 };

// ACVPU (RCP 2017): new confusion counts like V, P and U.
enum class Acvpu : uint8_t { kAlert, kConfusion, kVoice, kPain, kUnresponsive };

// The seven parameters. A parameter that is not known is nullopt.
struct News2Inputs {
  std::optional<double> respiratory_rate;  // breaths/min
  std::optional<double> spo2;              // %
  std::optional<bool> on_oxygen;           // supplemental oxygen (true) or air (false)
  std::optional<double> systolic_bp;       // mm Hg
  std::optional<double> pulse;             // beats/min
  std::optional<Acvpu> consciousness;
  std::optional<double> temperature;  // degrees Celsius
  SpO2Scale scale = SpO2Scale::kScale1;
};

// The parameters, in chart order; used to index News2Result::parameter_scores.
enum class News2Parameter : uint8_t {
  kRespiratoryRate,
  kSpO2,
  kAirOrOxygen,
  kSystolicBp,
  kPulse,
  kConsciousness,
  kTemperature,
};
inline constexpr int kNews2ParameterCount = 7;
std::string_view News2ParameterName(News2Parameter p);

// Chart 4's clinical risk bands.
enum class News2Risk : uint8_t {
  kLow,        // aggregate 0-4 (with no single parameter scoring 3)
  kLowMedium,  // a single parameter scoring 3 ("red score"), aggregate 0-4
  kMedium,     // aggregate 5-6: key threshold for an urgent response
  kHigh,       // aggregate 7 or more: emergency response
};
std::string_view News2RiskName(News2Risk r);

struct News2Result {
  int total = 0;
  // -1 for a parameter that was missing (it adds nothing to the total).
  std::array<int8_t, kNews2ParameterCount> parameter_scores{};
  bool single_parameter_3 = false;  // any parameter scored 3 (the red-score rule)
  News2Risk risk = News2Risk::kLow;
  uint8_t missing_count = 0;  // how many of the seven were missing
};

// The score of each parameter, per chart 1. Values are first rounded to the chart's resolution:
// whole numbers for respiration rate, SpO2, systolic pressure and pulse, one decimal for
// temperature (half away from zero), so 20.4 breaths/min scores as 20 and 38.05 Cel as 38.1.
int ScoreRespiratoryRate(double breaths_per_min);
int ScoreSpO2(double percent, SpO2Scale scale, bool on_oxygen);
int ScoreAirOrOxygen(bool on_oxygen);
int ScoreSystolicBp(double mm_hg);
int ScorePulse(double beats_per_min);
int ScoreConsciousness(Acvpu level);
int ScoreTemperature(double celsius);

// Chart 4: the risk band of an aggregate score and the red-score rule.
News2Risk RiskBand(int total, bool single_parameter_3);

// The aggregate score. Missing parameters score nothing and are counted in missing_count; the
// caller decides (see PatientMonitor) whether enough were present for the score to mean
// anything. On scale 2 with on_oxygen missing, SpO2 is scored as on air.
News2Result ComputeNews2(const News2Inputs& in);

}  // namespace medulla::monitor
