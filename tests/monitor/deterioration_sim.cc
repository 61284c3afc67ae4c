#include "monitor/deterioration_sim.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

namespace medulla::monitor::sim {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Portable draws from a std::mt19937_64 (whose output the standard fixes, unlike the
// distributions'): 53-bit uniforms, Box-Muller normals, inverse-CDF exponentials.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double Uniform() { return static_cast<double>(g_() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  bool Chance(double p) { return Uniform() < p; }
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2 * std::numbers::pi * u2);
  }
  double Normal(double mean, double sd) { return mean + sd * Normal(); }
  double Clamped(double mean, double sd, double lo, double hi) {
    return std::clamp(Normal(mean, sd), lo, hi);
  }
  double Exponential(double mean) { return -mean * std::log1p(-Uniform()); }

 private:
  std::mt19937_64 g_;
  bool has_spare_ = false;
  double spare_ = 0;
};

int64_t RoundToMinute(double ms) {
  return static_cast<int64_t>(std::llround(ms / kMinuteMs)) * kMinuteMs;
}

double LocalHour(int64_t t_ms) {
  const int64_t in_day = ((t_ms - kEpochMs) % kDayMs + kDayMs) % kDayMs;
  return static_cast<double>(in_day) / kHourMs;
}

double Progress(const PatientParams& p, int64_t t_ms) {
  if (!p.deteriorates() || t_ms <= p.onset_ms) return 0;
  const double span = static_cast<double>(p.event_ms - p.onset_ms);
  return std::min(1.0, static_cast<double>(t_ms - p.onset_ms) / span);
}

double Quantise(double v, double decimals) {
  const double f = decimals > 0 ? std::pow(10.0, decimals) : 1.0;
  return std::round(v * f) / f;
}

// The deviations a trajectory reaches at the critical event, and their shapes. Shapes are
// progress^k: k = 1 a steady climb, k > 1 a change that accelerates towards the event, k < 1
// one that appears early and levels off.
void DrawTrajectory(Rng& r, PatientParams& p) {
  auto set = [&](int c, double change, double k_lo, double k_hi) {
    p.ch[c].change = change;
    p.ch[c].exponent = r.Uniform(k_lo, k_hi);
  };
  double hours = 0;
  switch (p.trajectory) {
    case Trajectory::kSepsis:
      // Sepsis-like: infection to septic shock within 6-48 h (Sepsis-3: Singer et al., JAMA
      // 2016;315(8):801-810; progression to shock "in as little as 12-24 h" in patient
      // guidance). Temperature moves first and levels off: abnormal temperature curves precede
      // the clinical suspicion of sepsis by up to 72 h (Drewry et al., Crit Care
      // 2013;17:R200); 10-20 % of septic patients are hypothermic instead (Kushimoto et al.,
      // Crit Care 2013, cited there). Heart and respiratory rate climb (SIRS criteria: HR > 90,
      // RR > 20; Quinten et al., Scand J Trauma Resusc Emerg Med 2018;26:57: rising RR and
      // falling MAP precede deterioration); hypotension (SBP <= 90-100, qSOFA / Sepsis-3) is a
      // late sign, so systolic pressure falls last. Mean RR before ward arrest: 29/min (Schein
      // et al., Chest 1990;98:1388-1392).
      hours = r.Uniform(6, 48);
      set(kTemp, r.Chance(0.15) ? -r.Uniform(0.8, 1.5) : r.Uniform(1.0, 2.2), 0.5, 1.0);
      set(kHr, r.Uniform(20, 45), 1.0, 2.0);
      set(kRr, r.Uniform(6, 12), 1.0, 2.0);
      set(kSbp, -r.Uniform(20, 45), 2.0, 3.0);
      set(kSpo2, -r.Uniform(1, 4), 1.5, 2.5);
      break;
    case Trajectory::kHeartFailure:
      // Heart-failure decompensation over 2-5 days: respiratory rate creeps up (NOTICE-HF,
      // implanted-device RR: daily median RR rose by 2.1 +- 2.8 /min in the weeks before HF
      // events, J Interv Card Electrophysiol 2015, PMC4438200; dyspnoea at rest in 36 % at
      // admission, ADHERE), heart rate rises and SpO2 falls over days (LINK-HF wearable patch:
      // personalised-baseline alerts a median 6.5 days before readmission, Stehlik et al.,
      // Circ Heart Fail 2020;13:e006513; filling pressures rise over days to weeks before
      // admission, Zile et al., Circulation 2008;118:1433-1441). Blood pressure is variable.
      hours = r.Uniform(48, 120);
      set(kRr, r.Uniform(5, 11), 1.0, 2.0);
      set(kHr, r.Uniform(10, 25), 1.0, 2.0);
      set(kSpo2, -r.Uniform(3, 7), 1.0, 2.0);
      set(kSbp, r.Uniform(-10, 10), 1.0, 1.0);
      break;
    case Trajectory::kRespiratory:
      // Respiratory decline over 12-72 h (pneumonia, COPD exacerbation): respiratory rate up
      // and SpO2 down, heart rate up, sometimes fever. RR is the earliest and most sensitive
      // sign of respiratory compromise (Cretikos et al., Med J Aust 2008;188:657-659); at COPD
      // exacerbation onset HR rises and SpO2 falls, with changes largest 2-3 days after
      // symptom onset (Hurst et al., BMC Pulm Med 2010;10:52); three days before an
      // exacerbation RR rose by 2.0 /min and HR by 8.1 /min on a wearable (Al Rajeh et al.,
      // Respir Res 2022;23:79). Respiratory derangement precedes most ward arrests (Schein
      // 1990: 38 % respiratory, mean RR 29).
      hours = r.Uniform(12, 72);
      set(kRr, r.Uniform(7, 14), 1.0, 2.0);
      set(kSpo2, -r.Uniform(5, 10), 1.0, 2.0);
      set(kHr, r.Uniform(10, 25), 1.0, 2.0);
      set(kTemp, r.Uniform(0, 1.0), 0.5, 1.5);
      break;
    case Trajectory::kStable:
      return;
  }
  p.ch[kDbp].change = 0.6 * p.ch[kSbp].change;
  p.ch[kDbp].exponent = p.ch[kSbp].exponent;
  // The illness starts after at least a day of monitoring (so every patient has a day of own
  // baseline) and the critical event falls within the 7 days; monitoring ends at the event.
  const double span = hours * kHourMs;
  const double earliest_event = static_cast<double>(p.start_ms) + kDayMs + span;
  p.event_ms = std::min(p.end_ms, RoundToMinute(r.Uniform(earliest_event, p.end_ms)));
  p.onset_ms = p.event_ms - static_cast<int64_t>(span);
  p.end_ms = p.event_ms;
}

}  // namespace

std::string_view TrajectoryName(Trajectory t) {
  switch (t) {
    case Trajectory::kStable:
      return "stable";
    case Trajectory::kSepsis:
      return "sepsis";
    case Trajectory::kHeartFailure:
      return "heart-failure";
    case Trajectory::kRespiratory:
      return "respiratory";
  }
  return "?";
}

Vital VitalOf(int channel) {
  switch (channel) {
    case kHr:
      return Vital::kHeartRate;
    case kRr:
      return Vital::kRespiratoryRate;
    case kSpo2:
      return Vital::kSpO2;
    case kTemp:
      return Vital::kTemperature;
    case kSbp:
      return Vital::kSystolicBp;
    default:
      return Vital::kDiastolicBp;
  }
}

PatientParams DrawPatient(const SimOptions& o, int index) {
  PatientParams p;
  p.index = index;
  p.seed = SplitMix(o.seed ^ SplitMix(static_cast<uint64_t>(index) + 1));
  Rng r(p.seed);
  p.start_ms = kEpochMs + RoundToMinute(r.Uniform(0, kDayMs));
  p.end_ms = p.start_ms + static_cast<int64_t>(o.days * kDayMs);

  // Baselines: adult ward / virtual-ward patients at rest. Heart rate 76 +- 10 (ward patients'
  // mean HR about 80-90, Churpek et al., Crit Care Med 2012;40:2102; resting HR of healthy
  // adults 55-80, Speed et al., PLOS Digit Health 2023;2:e0000236); RR 16 +- 2; SpO2 96.5 +-
  // 1.2 on air; temperature 36.7 +- 0.25 Cel; systolic 128 +- 15 and diastolic 0.6 x
  // systolic. Clamped to what scores 0-1 on NEWS2 at rest: the cohort is stable at entry.
  // Circadian rhythm, a sinusoid with the nadir in the early morning: HR 5-8 /min (half the
  // swing; resting HR lowest between 03:00 and 07:00, Speed 2023), RR 0.5-1.5 /min with it;
  // temperature 0.3-0.5 Cel, lowest around 04:00-05:00; systolic 4-8 and diastolic 3-5 mm Hg,
  // lowest at about 03:00 (sleep dip 11 / 8 mm Hg, Morris et al., Am J Hypertens 2013;26:822);
  // SpO2 up to 0.5 % lower in sleep (assumed). Slow wander (an Ornstein-Uhlenbeck process,
  // time constant 1-3 h) so that day-to-day SD in the stable state is about 5 /min for HR
  // and 1 % for SpO2 with the noise (Hurst et al., BMC Pulm Med 2010;10:52) and about 1 /min
  // for RR (NOTICE-HF). Sensor noise per reading: HR 1.5-3 /min and RR 1.5-2.5 /min (patch
  // limits of agreement +-4 to +-7 for HR and +-4 to +-6 for RR, Breteler et al.,
  // Anesthesiology 2020;132:424), SpO2 1 %, temperature 0.1 Cel, cuff pressure 5 / 4 mm Hg.
  const double hr_nadir = r.Clamped(4.0, 0.75, 2.5, 6.5);
  const double bp_nadir = r.Clamped(3.0, 1.0, 1.0, 5.0);
  auto& hr = p.ch[kHr];
  hr = {r.Clamped(76, 10, 52, 100), r.Uniform(5, 8), hr_nadir, 3.0, r.Uniform(1.5, 3), 0};
  auto& rr = p.ch[kRr];
  rr = {r.Clamped(16, 2, 11, 20), r.Uniform(0.5, 1.5), hr_nadir, 0.8, r.Uniform(1.5, 2.5), 0};
  auto& spo2 = p.ch[kSpo2];
  spo2 = {r.Clamped(96.5, 1.2, 94, 99), r.Uniform(0, 0.5), hr_nadir, 0.5, 1.0, 0};
  auto& temp = p.ch[kTemp];
  temp = {r.Clamped(36.7, 0.25, 36.1, 37.3),
          r.Uniform(0.3, 0.5),
          r.Clamped(4.5, 0.75, 3, 6.5),
          0.08,
          0.1,
          1};
  auto& sbp = p.ch[kSbp];
  sbp = {r.Clamped(128, 15, 100, 175), r.Uniform(4, 8), bp_nadir, 4.0, 5.0, 0};
  auto& dbp = p.ch[kDbp];
  dbp = {std::clamp(0.6 * sbp.baseline + r.Normal(0, 5), 55.0, 100.0),
         r.Uniform(3, 5),
         bp_nadir,
         3.0,
         4.0,
         0};
  p.drift_minutes = r.Uniform(60, 180);
  // Activity while awake (07:00-22:00): 0.2-0.6 bouts an hour of a few to 60 minutes, raising
  // HR by 10-30 /min and RR by 2-6 /min (walking, washing; the chest-patch validation of
  // Haveman et al., JMIR Form Res 2022;6:e30863, covers these daily-life activities).
  p.activity_per_hour = r.Uniform(0.2, 0.6);
  p.activity_hr = r.Uniform(10, 30);
  p.activity_rr = r.Uniform(2, 6);

  if (o.deteriorate_every > 0 && index % o.deteriorate_every == o.deteriorate_every - 1) {
    p.trajectory = static_cast<Trajectory>(1 + (index / o.deteriorate_every) % 3);
    DrawTrajectory(r, p);
  }
  return p;
}

double Circadian(const ChannelModel& c, int64_t t_ms) {
  const double phase = 2 * std::numbers::pi * (LocalHour(t_ms) - c.nadir_hour) / 24;
  return -c.amplitude * std::cos(phase);
}

double Deterioration(const PatientParams& p, int channel, int64_t t_ms) {
  const double x = Progress(p, t_ms);
  if (x <= 0) return 0;
  const auto& c = p.ch[channel];
  return c.change * std::pow(x, c.exponent);
}

double Expected(const PatientParams& p, int channel, int64_t t_ms) {
  return p.ch[channel].baseline + Circadian(p.ch[channel], t_ms) + Deterioration(p, channel, t_ms);
}

void Simulate(const PatientParams& p, const SimOptions& o, std::vector<SimReading>* out) {
  out->clear();
  const int64_t step = std::max<int64_t>(o.wearable_step_ms, 1000);
  out->reserve(static_cast<size_t>((p.end_ms - p.start_ms) / step) * 3 + 512);
  Rng r(SplitMix(p.seed ^ 0x243F6A8885A308D3ULL));

  // Slow wander per channel, exact OU updates over any interval.
  std::array<double, kChannelCount> drift{};
  std::array<int64_t, kChannelCount> drift_ms{};
  for (int c = 0; c < kChannelCount; ++c) {
    drift[c] = o.drift ? r.Normal(0, p.ch[c].drift_sd) : 0;
    drift_ms[c] = p.start_ms;
  }
  const double tau_ms = p.drift_minutes * kMinuteMs;
  auto wander = [&](int c, int64_t t) {
    if (!o.drift) return 0.0;
    const double e = std::exp(-static_cast<double>(t - drift_ms[c]) / tau_ms);
    drift[c] = drift[c] * e + p.ch[c].drift_sd * std::sqrt(1 - e * e) * r.Normal();
    drift_ms[c] = t;
    return drift[c];
  };

  // Blood pressure at about 06:00, 12:00, 18:00 and 22:00 (+-15 min); for other counts,
  // evenly through the day from 06:00.
  std::vector<int64_t> bp_times;
  const int64_t first_day = p.start_ms - ((p.start_ms - kEpochMs) % kDayMs);
  for (int64_t day = first_day; day < p.end_ms; day += kDayMs) {
    for (int i = 0; i < o.bp_per_day; ++i) {
      const double hour =
          o.bp_per_day == 4 ? std::array{6.0, 12.0, 18.0, 22.0}[i] : 6.0 + 24.0 * i / o.bp_per_day;
      const int64_t t = day + RoundToMinute(hour * kHourMs + r.Uniform(-15, 15) * kMinuteMs);
      if (t >= p.start_ms && t <= p.end_ms) bp_times.push_back(t);
    }
  }
  size_t next_bp = 0;
  // One charging gap a day, 20-60 minutes between 09:00 and 20:00.
  std::vector<std::pair<int64_t, int64_t>> charging;
  if (o.gaps && o.charging_gap) {
    for (int64_t day = first_day; day < p.end_ms; day += kDayMs) {
      const int64_t from = day + RoundToMinute(r.Uniform(9, 20) * kHourMs);
      charging.emplace_back(from, from + RoundToMinute(r.Uniform(20, 60) * kMinuteMs));
    }
  }
  size_t next_charge = 0;

  int64_t gap_until = INT64_MIN;
  int64_t active_until = INT64_MIN;
  double bout = 0;  // this bout's intensity, times the patient's
  std::array<int, 3> artefact_left{};
  std::array<bool, 3> artefact_flagged{};
  int64_t next_temp = p.start_ms;
  const double step_hours = static_cast<double>(step) / kHourMs;

  auto push = [&](int64_t t, int c, double value, float quality, bool artefact, bool active) {
    SimReading s;
    s.reading.time_ms = t;
    s.reading.vital = VitalOf(c);
    s.reading.value = value;
    s.reading.quality = quality;
    s.artefact = artefact;
    s.active = active;
    out->push_back(s);
  };

  for (int64_t t = p.start_ms; t <= p.end_ms; t += step) {
    // Gaps: a dropout starts, or a charging gap is under way.
    if (o.gaps && t >= gap_until && r.Chance(o.dropout_chance * step / kMinuteMs)) {
      const double minutes = std::clamp(r.Exponential(o.dropout_mean_minutes), 1.0, 60.0);
      gap_until = t + RoundToMinute(minutes * kMinuteMs);
    }
    while (next_charge < charging.size() && charging[next_charge].second <= t) ++next_charge;
    const bool charging_now = next_charge < charging.size() && charging[next_charge].first <= t;
    const bool in_gap = t < gap_until || charging_now;

    // Activity: bouts start while awake; an ill patient moves less.
    const double progress = Progress(p, t);
    if (o.activity && t >= active_until) {
      const double hour = LocalHour(t);
      if (hour >= 7 && hour < 22 && r.Chance(p.activity_per_hour * step_hours * (1 - progress))) {
        active_until = t + RoundToMinute(std::clamp(r.Exponential(12), 3.0, 60.0) * kMinuteMs);
        bout = r.Uniform(0.5, 1.5);
      }
    }
    const bool active = t < active_until;

    if (!in_gap) {
      for (int c = kHr; c <= kSpo2; ++c) {
        const auto& m = p.ch[c];
        double v = Expected(p, c, t) + wander(c, t);
        if (active && c == kHr) v += bout * p.activity_hr;
        if (active && c == kRr) v += bout * p.activity_rr;
        v += r.Normal(0, m.noise_sd);
        bool artefact = false;
        if (o.artefacts) {
          if (artefact_left[c] == 0 && r.Chance(o.artefact_chance)) {
            artefact_left[c] = 1 + static_cast<int>(r.Uniform() * 3);
            artefact_flagged[c] = r.Chance(o.artefact_flagged_share);
          }
          if (artefact_left[c] > 0) {
            --artefact_left[c];
            artefact = true;
            // Motion and poor contact: doubled or halved beat counts, breathing read from
            // movement (fast) or missed (slow), an oximeter reading low.
            if (c == kHr) v *= r.Chance(0.5) ? r.Uniform(1.6, 2.0) : r.Uniform(0.45, 0.6);
            if (c == kRr) v = r.Chance(0.5) ? r.Uniform(26, 40) : r.Uniform(3, 7);
            if (c == kSpo2) v = r.Uniform(75, 90);
          }
        }
        v = Quantise(v, m.decimals);
        if (c == kSpo2) v = std::min(v, 100.0);
        v = std::max(v, 0.0);
        const float quality = static_cast<float>(
            artefact ? (artefact_flagged[c] ? r.Uniform(0.05, 0.45) : r.Uniform(0.6, 1.0))
                     : r.Uniform(0.8, 1.0));
        push(t, c, v, quality, artefact, active);
      }
    }
    if (t >= next_temp) {
      next_temp += o.temperature_step_ms;
      if (!in_gap) {  // the patch's own thermometer
        const auto& m = p.ch[kTemp];
        const double v = Expected(p, kTemp, t) + wander(kTemp, t) + r.Normal(0, m.noise_sd);
        push(t, kTemp, Quantise(v, m.decimals), NAN, false, active);
      }
    }
    if (next_bp < bp_times.size() && bp_times[next_bp] <= t) {
      ++next_bp;
      for (int c = kSbp; c <= kDbp; ++c) {
        const auto& m = p.ch[c];
        const double v = Expected(p, c, t) + wander(c, t) + r.Normal(0, m.noise_sd);
        push(t, c, Quantise(v, m.decimals), NAN, false, active);
      }
    }
  }
}

}  // namespace medulla::monitor::sim
