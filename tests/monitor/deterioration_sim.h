// A seeded simulator of wearable vital signs for the deterioration test bench: a cohort of
// patients, each with a personal baseline drawn from population distributions, a circadian
// rhythm, slow physiological wander, bouts of activity, sensor noise, artefact spikes and gaps;
// one in ten deteriorates along a documented trajectory (sepsis-like, heart-failure
// decompensation, respiratory decline) to a recorded critical event. The sources of every
// distribution and shape are cited next to the numbers in deterioration_sim.cc.
//
// Deterministic: everything is drawn from std::mt19937_64 streams seeded from the cohort seed
// and the patient's index (through portable uniform and normal transforms, not the standard
// library's implementation-defined distributions), so a patient is the same whatever else is
// simulated and a smaller cohort is a prefix of a larger one.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "monitor/patient_monitor.h"

namespace medulla::monitor::sim {

inline constexpr int64_t kMinuteMs = 60'000;
inline constexpr int64_t kHourMs = 60 * kMinuteMs;
inline constexpr int64_t kDayMs = 24 * kHourMs;
// 2026-11-21T00:00:00Z; the simulated clock is local time (hour of day = time modulo 24 h).
inline constexpr int64_t kEpochMs = 1'795'219'200'000;

enum class Trajectory : uint8_t { kStable, kSepsis, kHeartFailure, kRespiratory };
inline constexpr int kTrajectoryCount = 4;
std::string_view TrajectoryName(Trajectory t);

// The simulated channels, in the order readings of one instant are emitted.
enum Channel : int { kHr, kRr, kSpo2, kTemp, kSbp, kDbp };
inline constexpr int kChannelCount = 6;
Vital VitalOf(int channel);

// One channel of one patient.
struct ChannelModel {
  double baseline = 0;    // personal mean (canonical unit)
  double amplitude = 0;   // circadian: half the peak-to-trough swing
  double nadir_hour = 4;  // circadian: local hour of the minimum
  double drift_sd = 0;    // stationary SD of the slow wander (Ornstein-Uhlenbeck)
  double noise_sd = 0;    // sensor noise of one reading
  double decimals = 0;    // the device's resolution: 0 whole units, 1 tenths
  double change = 0;      // deterioration: deviation from baseline reached at the event
  double exponent = 1;    // deterioration: shape progress^exponent (1 linear, >1 accelerating)
};

struct PatientParams {
  int index = 0;
  uint64_t seed = 0;
  int64_t start_ms = 0;  // monitoring starts
  int64_t end_ms = 0;    // and ends (at the critical event for a deteriorating patient)
  std::array<ChannelModel, kChannelCount> ch{};
  double drift_minutes = 90;     // time constant of the wander
  double activity_per_hour = 0;  // bouts per waking hour
  double activity_hr = 0;        // a bout's heart-rate and respiratory-rate rise
  double activity_rr = 0;
  Trajectory trajectory = Trajectory::kStable;
  int64_t onset_ms = INT64_MAX;  // deterioration begins
  int64_t event_ms = INT64_MAX;  // the recorded critical event (end of the trajectory)
  bool deteriorates() const { return trajectory != Trajectory::kStable; }
};

struct SimOptions {
  uint64_t seed = 20261122;
  double days = 7;
  // Cadence. HR, RR and SpO2 come from the wearable every minute (each the device's one-minute
  // value); temperature hourly from the same patch; blood pressure from a cuff 4 times a day.
  int64_t wearable_step_ms = kMinuteMs;
  int64_t temperature_step_ms = kHourMs;
  int bp_per_day = 4;
  int deteriorate_every = 10;  // patient i deteriorates when i % 10 == 9: exactly 10 %
  // Components, each switchable for the statistics tests.
  bool drift = true;
  bool activity = true;
  bool artefacts = true;
  bool gaps = true;
  // Artefact spikes on the wearable channels: a run of 1-3 readings starts with this chance at
  // each reading; half of the runs are flagged by the device (quality < 0.5).
  double artefact_chance = 0.003;
  double artefact_flagged_share = 0.5;
  // Gaps: dropouts (about 3 a day, mean 8 minutes) and one charging gap a day (20-60 min).
  double dropout_chance = 1.0 / 480;
  double dropout_mean_minutes = 8;
  bool charging_gap = true;
};

// A reading with the simulator's truth about it.
struct SimReading {
  Reading reading;
  bool artefact = false;  // an artefact spike (value unrelated to physiology)
  bool active = false;    // taken during an activity bout
};

// The parameters of patient `index` of the cohort (depends only on the seed and the index).
PatientParams DrawPatient(const SimOptions& o, int index);

// All readings of the patient from start_ms to end_ms, in time order (within one instant:
// HR, RR, SpO2, temperature, systolic, diastolic). `out` is cleared first.
void Simulate(const PatientParams& p, const SimOptions& o, std::vector<SimReading>* out);

// The deterministic part of a channel at time t: baseline + circadian + deterioration
// (no wander, activity, noise or artefacts).
double Expected(const PatientParams& p, int channel, int64_t t_ms);
// The circadian component alone, and the deterioration component alone.
double Circadian(const ChannelModel& c, int64_t t_ms);
double Deterioration(const PatientParams& p, int channel, int64_t t_ms);

}  // namespace medulla::monitor::sim
