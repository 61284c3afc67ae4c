#include "monitor/news2.h"

#include <cmath>

namespace medulla::monitor {
namespace {

// The chart's values are whole numbers (temperature: tenths). A measured value between two
// rows is rounded to the chart's resolution first, half away from zero, so no value falls
// between bands.
int Whole(double v) {
  return static_cast<int>(std::lround(v));
}
int Tenths(double v) {
  return static_cast<int>(std::lround(v * 10.0));
}

}  // namespace

std::string_view News2ParameterName(News2Parameter p) {
  switch (p) {
    case News2Parameter::kRespiratoryRate:
      return "respiration_rate";
    case News2Parameter::kSpO2:
      return "spo2";
    case News2Parameter::kAirOrOxygen:
      return "air_or_oxygen";
    case News2Parameter::kSystolicBp:
      return "systolic_bp";
    case News2Parameter::kPulse:
      return "pulse";
    case News2Parameter::kConsciousness:
      return "consciousness";
    case News2Parameter::kTemperature:
      return "temperature";
  }
  return "unknown";
}

std::string_view News2RiskName(News2Risk r) {
  switch (r) {
    case News2Risk::kLow:
      return "low";
    case News2Risk::kLowMedium:
      return "low-medium";
    case News2Risk::kMedium:
      return "medium";
    case News2Risk::kHigh:
      return "high";
  }
  return "unknown";
}

// Chart 1, "Respiration rate (per minute)": <=8 3, 9-11 1, 12-20 0, 21-24 2, >=25 3.
int ScoreRespiratoryRate(double breaths_per_min) {
  const int v = Whole(breaths_per_min);
  if (v <= 8) return 3;
  if (v <= 11) return 1;
  if (v <= 20) return 0;
  if (v <= 24) return 2;
  return 3;
}

// Chart 1, "SpO2 Scale 1 (%)": <=91 3, 92-93 2, 94-95 1, >=96 0.
// "SpO2 Scale 2 (%)": <=83 3, 84-85 2, 86-87 1, 88-92 and >=93 on air 0,
// 93-94 on oxygen 1, 95-96 on oxygen 2, >=97 on oxygen 3.
int ScoreSpO2(double percent, SpO2Scale scale, bool on_oxygen) {
  const int v = Whole(percent);
  if (scale == SpO2Scale::kScale1) {
    if (v <= 91) return 3;
    if (v <= 93) return 2;
    if (v <= 95) return 1;
    return 0;
  }
  if (v <= 83) return 3;
  if (v <= 85) return 2;
  if (v <= 87) return 1;
  if (v <= 92 || !on_oxygen) return 0;
  if (v <= 94) return 1;
  if (v <= 96) return 2;
  return 3;
}

// Chart 1, "Air or oxygen?": oxygen 2, air 0.
int ScoreAirOrOxygen(bool on_oxygen) {
  return on_oxygen ? 2 : 0;
}

// Chart 1, "Systolic blood pressure (mmHg)": <=90 3, 91-100 2, 101-110 1, 111-219 0, >=220 3.
int ScoreSystolicBp(double mm_hg) {
  const int v = Whole(mm_hg);
  if (v <= 90) return 3;
  if (v <= 100) return 2;
  if (v <= 110) return 1;
  if (v <= 219) return 0;
  return 3;
}

// Chart 1, "Pulse (per minute)": <=40 3, 41-50 1, 51-90 0, 91-110 1, 111-130 2, >=131 3.
int ScorePulse(double beats_per_min) {
  const int v = Whole(beats_per_min);
  if (v <= 40) return 3;
  if (v <= 50) return 1;
  if (v <= 90) return 0;
  if (v <= 110) return 1;
  if (v <= 130) return 2;
  return 3;
}

// Chart 1, "Consciousness": Alert 0; new Confusion, Voice, Pain, Unresponsive 3.
int ScoreConsciousness(Acvpu level) {
  return level == Acvpu::kAlert ? 0 : 3;
}

// Chart 1, "Temperature (°C)": <=35.0 3, 35.1-36.0 1, 36.1-38.0 0, 38.1-39.0 1, >=39.1 2.
int ScoreTemperature(double celsius) {
  const int t = Tenths(celsius);
  if (t <= 350) return 3;
  if (t <= 360) return 1;
  if (t <= 380) return 0;
  if (t <= 390) return 1;
  return 2;
}

// Chart 4: 0-4 low (a single red score makes it low-medium), 5-6 medium, 7+ high.
News2Risk RiskBand(int total, bool single_parameter_3) {
  if (total >= 7) return News2Risk::kHigh;
  if (total >= 5) return News2Risk::kMedium;
  if (single_parameter_3) return News2Risk::kLowMedium;
  return News2Risk::kLow;
}

News2Result ComputeNews2(const News2Inputs& in) {
  News2Result r;
  auto put = [&r](News2Parameter p, std::optional<int> score) {
    const auto i = static_cast<int>(p);
    if (!score) {
      r.parameter_scores[i] = -1;
      ++r.missing_count;
      return;
    }
    r.parameter_scores[i] = static_cast<int8_t>(*score);
    r.total += *score;
    if (*score == 3) r.single_parameter_3 = true;
  };
  auto opt = [](const auto& v, auto f) -> std::optional<int> {
    if (!v) return std::nullopt;
    return f(*v);
  };
  const bool oxygen = in.on_oxygen.value_or(false);
  put(News2Parameter::kRespiratoryRate, opt(in.respiratory_rate, ScoreRespiratoryRate));
  put(News2Parameter::kSpO2,
      opt(in.spo2, [&](double v) { return ScoreSpO2(v, in.scale, oxygen); }));
  put(News2Parameter::kAirOrOxygen, opt(in.on_oxygen, ScoreAirOrOxygen));
  put(News2Parameter::kSystolicBp, opt(in.systolic_bp, ScoreSystolicBp));
  put(News2Parameter::kPulse, opt(in.pulse, ScorePulse));
  put(News2Parameter::kConsciousness, opt(in.consciousness, ScoreConsciousness));
  put(News2Parameter::kTemperature, opt(in.temperature, ScoreTemperature));
  r.risk = RiskBand(r.total, r.single_parameter_3);
  return r;
}

}  // namespace medulla::monitor
