#include "dispatch/simulation.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <memory>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>

#include "routing/road_profile.h"
#include "routing/speed_model.h"

namespace medulla::dispatch {
namespace {

using routing::LonLat;
using routing::RoadGraph;
using routing::Router;

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kStepMs = 5 * kMinuteMs;  // the ED state's time step

// Relative ED census by hour of the day (value at the start of the hour, linear between),
// peak 1: lowest about 7 am, highest about 8 pm, 2.8-fold, day (8-16 h) 1.75x and evening
// (16-24 h) 2.06x the midnight-8 am mean (simulation.h for the sources).
constexpr std::array<double, 24> kCensus = {0.75, 0.60, 0.48, 0.42, 0.39, 0.37, 0.36, 0.36,
                                            0.50, 0.66, 0.78, 0.86, 0.90, 0.93, 0.95, 0.96,
                                            0.97, 0.98, 0.99, 1.00, 1.00, 0.97, 0.92, 0.85};
// Relative EMS demand by hour (assumption: lowest 3-6 am, highest late morning to early
// evening, about 3 to 1).
constexpr std::array<double, 24> kDemand = {3.0, 2.6, 2.3, 2.0, 1.9, 1.9, 2.2, 3.0,
                                            4.0, 4.8, 5.3, 5.6, 5.6, 5.4, 5.3, 5.2,
                                            5.2, 5.2, 5.1, 4.9, 4.6, 4.2, 3.8, 3.4};

// Independent random streams, so that changing one part of the world (say the number of
// incidents) leaves the others as they were.
enum Stream : uint64_t {
  kSites = 1,
  kTiers,
  kEdState,
  kReports,
  kIncidents,
  kTraffic,
  kHospitalNoise,
  kPatientNoise,
};

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// SplitMix64, with its own uniform and normal draws (the standard library's distributions
// differ between implementations; these give the same day everywhere).
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : state_(SplitMix(seed) ^ SplitMix(~stream)) {}
  uint64_t Next() { return SplitMix(state_++ * 0x9E3779B97F4A7C15ull); }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  bool Chance(double p) { return Uniform() < p; }
  double Normal() {  // Box-Muller
    const double u = 1.0 - Uniform(), v = Uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
  }

 private:
  uint64_t state_;
};

class FixedClock final : public core::Clock {
 public:
  explicit FixedClock(core::MicrosSinceEpoch now) : now_(now) {}
  core::MicrosSinceEpoch Now() const override { return now_; }

 private:
  core::MicrosSinceEpoch now_;
};

double MetresBetween(LonLat a, LonLat b) {
  constexpr double kEarthRadiusM = 6'371'008.8;
  const double rad = M_PI / 180;
  const double dlat = (b.lat - a.lat) * rad, dlon = (b.lon - a.lon) * rad;
  const double h =
      std::sin(dlat / 2) * std::sin(dlat / 2) +
      std::cos(a.lat * rad) * std::cos(b.lat * rad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusM * std::asin(std::min(1.0, std::sqrt(h)));
}

// The middle of a random road segment of the main component (nullopt: the draw missed).
std::optional<LonLat> RandomRoadPoint(const RoadGraph& g, Rng& rng) {
  const auto p = static_cast<uint32_t>(rng.Below(g.point_count()));
  const uint32_t e = g.point_edge[p];
  if (!(g.edge_flags[e] & routing::kEdgeInMainComponent) || p + 1 >= g.edge_point_begin[e + 1]) {
    return std::nullopt;
  }
  return LonLat{(g.point_lon[p] + g.point_lon[p + 1]) / 2e7,
                (g.point_lat[p] + g.point_lat[p + 1]) / 2e7};
}

// What the decision requires of a hospital for the condition (any of these bits; 0: any ED):
// decision.cc's RequirementFor.
uint32_t Requirement(Condition c) {
  switch (c) {
    case Condition::kStroke:
      return kAnyStrokeCentre;
    case Condition::kStemi:
      return kPci;
    case Condition::kMajorTrauma:
      return kAnyTraumaCentre;
    case Condition::kObstetric:
      return kMaternity;
    default:
      return 0;
  }
}

bool Capable(uint32_t capabilities, Condition c) {
  const uint32_t need = Requirement(c);
  return need == 0 || (capabilities & need) != 0;
}

// Milliseconds since the epoch of hour:minute local time on the configured day.
core::Result<int64_t> LocalMs(const SimulationConfig& c, int hour, int minute, bool* weekend) {
  std::tm tm{};
  tm.tm_year = c.year - 1900;
  tm.tm_mon = c.month - 1;
  tm.tm_mday = c.day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t == static_cast<std::time_t>(-1)) {
    return core::Fail(core::InvalidArgument(fmt::format(
        "{}-{:02}-{:02} is not a date the local time zone can place", c.year, c.month, c.day)));
  }
  if (weekend) *weekend = tm.tm_wday == 0 || tm.tm_wday == 6;
  return static_cast<int64_t>(t) * 1000;
}

// Load feedback (simulation.h): how long a patient stays and how many real ambulance patients
// each simulated one stands for.
struct Feedback {
  int64_t stay_ms = 0;
  double weight = 0;
};

// An emergency department: its true state on a time grid and what it reported.
struct Ed {
  double beds = 0;
  double peak = 0;  // occupancy at the census peak
  int64_t grid_start_ms = 0;
  std::vector<double> occupancy;                        // per kStepMs from grid_start_ms
  std::vector<std::pair<int64_t, int64_t>> diversions;  // [start, end), by time
  std::vector<int64_t> report_ms;                       // by time
  std::array<double, kConditionCount> performance{};    // door-to-treatment factor, true
  // Per policy, when its patients arrived here (not in time order).
  std::array<std::vector<int64_t>, kPolicyCount> arrivals;

  double Occupancy(int64_t t) const {
    const double x = static_cast<double>(t - grid_start_ms) / kStepMs;
    const auto i = static_cast<size_t>(std::clamp(x, 0.0, double(occupancy.size() - 1)));
    const size_t j = std::min(i + 1, occupancy.size() - 1);
    const double f = std::clamp(x - double(i), 0.0, 1.0);
    return occupancy[i] * (1 - f) + occupancy[j] * f;
  }
  bool Diverted(int64_t t) const {
    for (const auto& [from, to] : diversions) {
      if (t >= from && t < to) return true;
    }
    return false;
  }
  // Patients in the ED at t in policy p's world: the status quo's census, plus the patients p
  // brought here within the last stay, less those the status quo (nearest by drive time)
  // brought, each standing for `weight` real ones.
  double Patients(size_t p, int64_t t, const Feedback& fb) const {
    auto recent = [&](size_t q) {
      return std::ranges::count_if(arrivals[q],
                                   [&](int64_t a) { return a < t && a >= t - fb.stay_ms; });
    };
    const auto status_quo = static_cast<size_t>(DestinationPolicy::kNearestDriveTime);
    const double moved = p == status_quo ? 0.0 : double(recent(p) - recent(status_quo));
    return std::max(0.0, Occupancy(t) * beds + fb.weight * moved);
  }
  HospitalStatus Truth(size_t p, int64_t t, const Feedback& fb) const {
    HospitalStatus s;
    s.reported_ms = t;
    s.diversion = Diverted(t);
    s.ed_beds = beds;
    s.ed_patients = Patients(p, t, fb);
    return s;
  }
  // What the last report at or before t said in policy p's world (never reported before the
  // first).
  HospitalStatus Reported(size_t p, int64_t t, const Feedback& fb) const {
    auto it = std::upper_bound(report_ms.begin(), report_ms.end(), t);
    if (it == report_ms.begin()) return {};
    HospitalStatus s = Truth(p, *std::prev(it), fb);
    s.ed_patients = std::round(*s.ed_patients);
    return s;
  }
};

double Census(double hour_of_day) {
  hour_of_day = std::fmod(hour_of_day, 24.0);
  if (hour_of_day < 0) hour_of_day += 24;
  const auto h = static_cast<size_t>(hour_of_day);
  const double f = hour_of_day - double(h);
  return kCensus[h] * (1 - f) + kCensus[(h + 1) % 24] * f;
}

struct Tiered {
  uint32_t capabilities;
  double beds;
};

// Capabilities and ED beds by tier (simulation.h).
std::vector<Tiered> DrawTiers(size_t n, Rng& rng) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.Below(i)]);
  const size_t central = std::max<size_t>(1, static_cast<size_t>(std::lround(n * 0.15)));
  const size_t district = static_cast<size_t>(std::lround(n * 0.35));
  std::vector<Tiered> out(n);
  for (size_t k = 0; k < n; ++k) {
    Tiered& t = out[order[k]];
    if (k < central) {
      t.capabilities =
          kThrombectomy | kStrokeUnit | kPci | kTraumaLevel1 | kPaediatrics | kMaternity;
      if (k == 0) t.capabilities |= kBurns;
      t.beds = std::round(rng.Uniform(60, 90));
    } else if (k < central + district) {
      t.capabilities = kStrokeUnit | kTraumaLevel2;
      if (rng.Chance(0.5)) t.capabilities |= kPci;
      if (rng.Chance(0.7)) t.capabilities |= kMaternity;
      if (rng.Chance(0.4)) t.capabilities |= kPaediatrics;
      t.beds = std::round(rng.Uniform(30, 50));
    } else {
      t.capabilities = 0;
      if (rng.Chance(0.5)) t.capabilities |= kTraumaLevel3;
      if (rng.Chance(0.3)) t.capabilities |= kMaternity;
      t.beds = std::round(rng.Uniform(15, 25));
    }
  }
  return out;
}

Ed SimulateEd(const SimulationConfig& c, size_t index, double beds, int64_t day_start_ms) {
  Rng rng(c.seed, (kEdState << 32) + index);
  Ed ed;
  ed.beds = beds;
  ed.peak = rng.Uniform(0.75, 1.05);
  ed.grid_start_ms = day_start_ms - 3 * kHourMs;
  const int64_t grid_end_ms = day_start_ms + 30 * kHourMs;
  const size_t steps = static_cast<size_t>((grid_end_ms - ed.grid_start_ms) / kStepMs) + 1;
  // Ornstein-Uhlenbeck deviation: sd 0.06, correlation time 2 h.
  constexpr double kSd = 0.06, kTauMin = 120;
  const double a = std::exp(-5.0 / kTauMin), b = kSd * std::sqrt(1 - a * a);
  double deviation = kSd * rng.Normal();
  ed.occupancy.resize(steps);
  for (size_t k = 0; k < steps; ++k) {
    const int64_t t = ed.grid_start_ms + static_cast<int64_t>(k) * kStepMs;
    const double hour = static_cast<double>(t - day_start_ms) / kHourMs;
    ed.occupancy[k] = std::max(0.05, ed.peak * Census(hour) + deviation);
    deviation = a * deviation + b * rng.Normal();
  }
  // Diversion episodes while above 0.9.
  int64_t free_from = ed.grid_start_ms;
  for (size_t k = 0; k < steps; ++k) {
    const int64_t t = ed.grid_start_ms + static_cast<int64_t>(k) * kStepMs;
    const double excess = ed.occupancy[k] - 0.9;
    if (t < free_from || excess <= 0) continue;
    const double hazard = c.diversion_hazard_per_h * excess / 0.1;
    if (rng.Chance(1 - std::exp(-hazard * kStepMs / double(kHourMs)))) {
      const auto minutes = static_cast<int64_t>(std::lround(rng.Uniform(30, 90)));
      ed.diversions.emplace_back(t, t + minutes * kMinuteMs);
      free_from = t + minutes * kMinuteMs;
    }
  }
  // Reports every 15-30 min.
  Rng reports(c.seed, (kReports << 32) + index);
  const double lo = c.report_every_min_lo,
               hi = std::max(c.report_every_min_lo, c.report_every_min_hi);
  auto every = [&] { return static_cast<int64_t>(reports.Uniform(lo, hi) * kMinuteMs); };
  for (int64_t t = ed.grid_start_ms + static_cast<int64_t>(reports.Uniform() * hi * kMinuteMs);
       t < grid_end_ms; t += std::max<int64_t>(kMinuteMs, every())) {
    ed.report_ms.push_back(t);
  }
  Rng performance(c.seed, (kHospitalNoise << 32) + index);
  for (double& f : ed.performance) f = std::exp(c.hospital_noise_sigma * performance.Normal());
  return ed;
}

// Jams: whole edges driven slowly for 1-3 hours; the share of segments jammed follows the
// hour's congestion in the time-of-day profile.
class Jams {
 public:
  Jams(const RoadGraph& g, const SimulationConfig& c, bool weekend)
      : g_(g), c_(c), weekend_(weekend), rng_(c.seed, kTraffic) {
    total_segments_ = g.point_count() - g.edge_count();
  }

  // The jams of hour h (called for h = 0, 1, ... in order), as speed updates.
  std::vector<routing::SpeedUpdate> At(int h) {
    std::erase_if(active_, [&](const Jam& j) {
      if (j.until_hour > h) return false;
      jammed_edges_.erase(j.edge);
      return true;
    });
    // Congestion 0 at free flow to 1 at the profile's worst hour (+30% travel time on
    // arterials).
    const double slowdown =
        1.0 / routing::TimeOfDayFactor(routing::RoadClass::kPrimary, h, weekend_);
    const double congestion = std::clamp((slowdown - 1) / 0.30, 0.0, 1.0);
    const double share = c_.jam_share_night + (c_.jam_share_peak - c_.jam_share_night) * congestion;
    size_t jammed = 0;
    for (const Jam& j : active_) jammed += Segments(j.edge);
    const auto target = static_cast<size_t>(share * double(total_segments_));
    for (int attempts = 0; jammed < target && attempts < 1'000'000; ++attempts) {
      const auto p = static_cast<uint32_t>(rng_.Below(g_.point_count()));
      const uint32_t e = g_.point_edge[p];
      if (!(g_.edge_flags[e] & routing::kEdgeInMainComponent) || jammed_edges_.contains(e)) {
        continue;
      }
      const auto road_class = static_cast<routing::RoadClass>(g_.edge_class[e]);
      const bool arterial = road_class <= routing::RoadClass::kSecondaryLink;
      if (!arterial && !rng_.Chance(0.3)) continue;
      const int hours = 1 + static_cast<int>(rng_.Below(3));
      active_.push_back({e, rng_.Uniform(5, 15), h + hours});
      jammed_edges_.insert(e);
      jammed += Segments(e);
    }
    shares_sum_ += total_segments_ ? double(jammed) / double(total_segments_) : 0;
    std::vector<routing::SpeedUpdate> out;
    for (const Jam& j : active_) {
      for (uint32_t p = g_.edge_point_begin[j.edge]; p + 1 < g_.edge_point_begin[j.edge + 1]; ++p) {
        out.push_back({g_.point_osm[p], g_.point_osm[p + 1], j.kmh});
      }
    }
    return out;
  }
  double shares_sum() const { return shares_sum_; }

 private:
  struct Jam {
    uint32_t edge;
    double kmh;
    int until_hour;
  };
  size_t Segments(uint32_t e) const {
    return g_.edge_point_begin[e + 1] - g_.edge_point_begin[e] - 1;
  }

  const RoadGraph& g_;
  const SimulationConfig& c_;
  bool weekend_;
  Rng rng_;
  size_t total_segments_ = 0;
  std::vector<Jam> active_;
  std::unordered_set<uint32_t> jammed_edges_;
  double shares_sum_ = 0;
};

struct DrawnIncident {
  int64_t at_ms;
  Incident incident;
};

core::Result<std::vector<DrawnIncident>> DrawIncidents(const RoadGraph& g,
                                                       const SimulationConfig& c,
                                                       int64_t day_start_ms) {
  Rng rng(c.seed, kIncidents);
  double total = 0;
  for (double w : kDemand) total += w;
  std::vector<DrawnIncident> out;
  for (int i = 0; i < c.incidents; ++i) {
    double u = rng.Uniform() * total;
    int hour = 0;
    while (hour < 23 && u >= kDemand[hour]) u -= kDemand[hour++];
    DrawnIncident d;
    d.at_ms = day_start_ms + hour * kHourMs + static_cast<int64_t>(rng.Uniform() * kHourMs);
    std::optional<LonLat> where;
    for (int attempt = 0; !where && attempt < 100'000; ++attempt) where = RandomRoadPoint(g, rng);
    if (!where) {
      return core::Fail(core::InvalidArgument("the road graph has no road in its main component"));
    }
    d.incident.id = fmt::format("I{:04}", i);
    d.incident.where = *where;
    const double r = rng.Uniform();
    Condition condition = Condition::kGeneral;
    if (r < 0.08) {
      condition = Condition::kStroke;
    } else if (r < 0.13) {
      condition = Condition::kStemi;
    } else if (r < 0.20) {
      condition = Condition::kMajorTrauma;
    } else if (r < 0.23) {
      condition = Condition::kCardiacArrest;
    } else if (r < 0.24) {
      condition = Condition::kBurns;
    } else if (r < 0.28) {
      condition = Condition::kObstetric;
    }
    d.incident.condition = condition;
    const bool lvo = rng.Chance(1.0 / 3), child = rng.Chance(0.12);
    d.incident.lvo_suspected = condition == Condition::kStroke && lvo;
    d.incident.paediatric =
        child && (condition == Condition::kGeneral || condition == Condition::kMajorTrauma ||
                  condition == Condition::kCardiacArrest || condition == Condition::kBurns);
    out.push_back(std::move(d));
  }
  std::stable_sort(out.begin(), out.end(), [](const DrawnIncident& a, const DrawnIncident& b) {
    return a.at_ms < b.at_ms;
  });
  return out;
}

double Percentile90(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(0.9 * double(v.size())));
  return v[std::max<size_t>(rank, 1) - 1];
}

}  // namespace

std::string_view PolicyName(DestinationPolicy p) {
  switch (p) {
    case DestinationPolicy::kRecommended:
      return "recommended";
    case DestinationPolicy::kNearestStraightLine:
      return "nearest by straight line";
    case DestinationPolicy::kNearestDriveTime:
      return "nearest by drive time";
  }
  return "?";
}

core::Result<SimulationResult> SimulateDay(const routing::Router& router,
                                           const SimulationConfig& config) {
  const std::shared_ptr<const RoadGraph> graph = router.shared_graph();
  const RoadGraph& g = *graph;
  bool weekend = false;
  ASSIGN_OR_RETURN(const int64_t day_start_ms, LocalMs(config, 0, 0, &weekend));

  // Hospitals.
  std::vector<HospitalSite> sites = config.hospitals;
  if (sites.empty()) {
    Rng rng(config.seed, kSites);
    const auto n = static_cast<size_t>(std::max(0, config.random_hospitals));
    for (int attempt = 0; sites.size() < n && attempt < 1'000'000; ++attempt) {
      const std::optional<LonLat> p = RandomRoadPoint(g, rng);
      if (!p) continue;
      const bool apart = std::ranges::all_of(sites, [&](const HospitalSite& s) {
        return MetresBetween(s.where, *p) >= config.min_separation_m;
      });
      if (apart) sites.push_back({fmt::format("H{:02}", sites.size()), *p});
    }
    if (sites.size() < n) {
      return core::Fail(core::InvalidArgument(
          fmt::format("only {} of {} random hospital sites fit {:.0f} m apart on this map",
                      sites.size(), n, config.min_separation_m)));
    }
  }
  if (sites.empty()) return core::Fail(core::InvalidArgument("no hospitals"));
  for (const HospitalSite& s : sites) {
    if (auto snapped = router.Snap(s.where); !snapped) {
      return core::Fail(
          core::InvalidArgument(fmt::format("hospital {}: {}", s.id, snapped.error().message())));
    }
  }
  const size_t nh = sites.size();
  Rng tier_rng(config.seed, kTiers);
  const std::vector<Tiered> tiers = DrawTiers(nh, tier_rng);
  std::vector<Ed> eds;
  std::vector<LonLat> site_points;
  SimulationResult result;
  for (size_t h = 0; h < nh; ++h) {
    eds.push_back(SimulateEd(config, h, tiers[h].beds, day_start_ms));
    site_points.push_back(sites[h].where);
    SimulatedHospital out;
    out.id = sites[h].id;
    out.lon = sites[h].where.lon;
    out.lat = sites[h].where.lat;
    out.capabilities = tiers[h].capabilities;
    out.ed_beds = tiers[h].beds;
    for (const auto& [from, to] : eds[h].diversions) {
      const int64_t a = std::max(from, day_start_ms), b = std::min(to, day_start_ms + 24 * kHourMs);
      if (b > a) {
        out.diversion_min += double(b - a) / kMinuteMs;
        if (from >= day_start_ms && from < day_start_ms + 24 * kHourMs) ++result.diversion_episodes;
      }
    }
    result.hospitals.push_back(std::move(out));
  }

  ASSIGN_OR_RETURN(const std::vector<DrawnIncident> drawn, DrawIncidents(g, config, day_start_ms));
  Jams jams(g, config, weekend);
  // The simulated incidents are a sample of the city's ambulance patients: the share of ED
  // arrivals that come by ambulance, of the arrivals the ED curves imply (Little's law: the mean
  // census over the day / the stay, per hour), divided among them.
  Feedback feedback;
  if (config.load_feedback && config.incidents > 0 && config.ed_stay_h > 0) {
    feedback.stay_ms = static_cast<int64_t>(config.ed_stay_h * kHourMs);
    const int64_t from = day_start_ms, to = day_start_ms + 24 * kHourMs;
    double arrivals_per_day = 0;
    for (const Ed& ed : eds) {
      double census = 0;
      int n = 0;
      for (int64_t t = from; t < to; t += kStepMs, ++n) census += ed.Occupancy(t) * ed.beds;
      arrivals_per_day += census / n * 24 / config.ed_stay_h;
    }
    result.ambulance_patients_per_day = config.ambulance_share * arrivals_per_day;
    feedback.weight = result.ambulance_patients_per_day / config.incidents;
  }

  std::array<std::vector<double>, kPolicyCount> minutes;
  std::array<std::array<double, kConditionCount>, kPolicyCount> condition_sum{};
  size_t next = 0;
  for (int hour = 0; hour < 24; ++hour) {
    const std::vector<routing::SpeedUpdate> jam_updates = jams.At(hour);
    const int64_t hour_end_ms = day_start_ms + (hour + 1) * kHourMs;
    if (next >= drawn.size() || drawn[next].at_ms >= hour_end_ms) continue;
    // This hour's traffic: a router whose clock says half past the hour, and the jams.
    ASSIGN_OR_RETURN(const int64_t half_past_ms, LocalMs(config, hour, 30, nullptr));
    const FixedClock clock(half_past_ms * 1000);
    const routing::RouterOptions options{.time_of_day = config.time_of_day, .clock = &clock};
    ASSIGN_OR_RETURN(std::unique_ptr<Router> traffic, Router::Open(graph, options));
    if (!jam_updates.empty()) {
      ASSIGN_OR_RETURN(routing::TrafficReport ignored, traffic->UpdateTraffic(jam_updates));
      (void)ignored;
    }
    ASSIGN_OR_RETURN(const routing::TableAnswer between, traffic->Table(site_points, site_points));
    auto drive_between = [&](size_t a, size_t b) -> std::optional<double> {
      return between.durations_s[a * nh + b];
    };
    // The nearest hospital from hospital `from` (by drive) that `accept`s.
    auto nearest_from = [&](size_t from, auto&& accept) -> std::optional<size_t> {
      std::optional<size_t> best;
      for (size_t h = 0; h < nh; ++h) {
        if (h == from || !drive_between(from, h) || !accept(h)) continue;
        if (!best || *drive_between(from, h) < *drive_between(from, *best)) best = h;
      }
      return best;
    };

    for (; next < drawn.size() && drawn[next].at_ms < hour_end_ms; ++next) {
      const size_t index = next;
      const int64_t t = drawn[index].at_ms;
      const Incident& incident = drawn[index].incident;
      const Condition condition = incident.condition;
      const auto ci = static_cast<size_t>(condition);
      auto capable = [&](size_t h) { return Capable(tiers[h].capabilities, condition); };

      // (a) The recommendation, on the reports.
      std::vector<Hospital> reported(nh);
      for (size_t h = 0; h < nh; ++h) {
        reported[h].id = sites[h].id;
        reported[h].where = sites[h].where;
        reported[h].capabilities = tiers[h].capabilities;
        reported[h].status = eds[h].Reported(0, t, feedback);
      }
      const RecommendOptions destination_only{
          .now_ms = t, .with_geometry = false, .choose_ambulance = false};
      ASSIGN_OR_RETURN(const Recommendation r, Recommend(*traffic, config.policy, incident,
                                                         reported, {}, destination_only));
      if (!r.hospital) {
        return core::Fail(core::Internal(
            fmt::format("incident {}: no hospital recommended ({})", incident.id, r.rule)));
      }
      std::array<size_t, kPolicyCount> chosen{};
      for (size_t h = 0; h < nh; ++h) {
        if (sites[h].id == r.hospitals[*r.hospital].id) chosen[0] = h;
      }

      // (b) and (c): the nearest capable hospital (any, when none is capable).
      const LonLat scene[] = {incident.where};
      ASSIGN_OR_RETURN(const routing::TableAnswer from_scene, traffic->Table(scene, site_points));
      const bool any_capable = [&] {
        for (size_t h = 0; h < nh; ++h) {
          if (capable(h)) return true;
        }
        return false;
      }();
      auto nearest_by = [&](auto&& key) {
        std::optional<size_t> best;
        std::optional<double> best_key;
        for (size_t h = 0; h < nh; ++h) {
          if (any_capable && !capable(h)) continue;
          const std::optional<double> k = key(h);
          if (!k) continue;
          if (!best || *k < *best_key) best = h, best_key = k;
        }
        return best;
      };
      const auto by_line = nearest_by(
          [&](size_t h) { return std::optional(MetresBetween(incident.where, sites[h].where)); });
      const auto by_drive = nearest_by([&](size_t h) { return from_scene.durations_s[h]; });
      if (!by_line || !by_drive) {
        return core::Fail(core::Internal(fmt::format("incident {}: no hospital", incident.id)));
      }
      chosen[1] = *by_line;
      chosen[2] = *by_drive;

      SimulatedIncident out;
      out.at_ms = t;
      out.lon = incident.where.lon;
      out.lat = incident.where.lat;
      out.condition = condition;
      out.lvo_suspected = incident.lvo_suspected;
      out.paediatric = incident.paediatric;
      for (size_t p = 0; p < kPolicyCount; ++p) {
        size_t at = chosen[p];
        const std::optional<double> drive = from_scene.durations_s[at];
        if (!drive) {
          return core::Fail(core::Internal(
              fmt::format("incident {}: no road to hospital {} ({})", incident.id, sites[at].id,
                          PolicyName(static_cast<DestinationPolicy>(p)))));
        }
        double now = static_cast<double>(t) + *drive * 1000;
        PolicyOutcome& outcome = result.policies[p];
        auto now_ms = [&] { return static_cast<int64_t>(std::llround(now)); };
        if (eds[at].Diverted(now_ms())) {
          // Turned away: on to the nearest capable hospital not on diversion.
          ++outcome.turned_away;
          const int64_t when = now_ms();
          auto open = [&](size_t h) { return !eds[h].Diverted(when); };
          std::optional<size_t> to =
              nearest_from(at, [&](size_t h) { return capable(h) && open(h); });
          if (!to) to = nearest_from(at, open);
          if (to) {
            now += *drive_between(at, *to) * 1000;
            at = *to;
          }
        }
        if (!capable(at) && any_capable) {
          // Transferred on to the nearest capable hospital (not on diversion if one can be).
          ++outcome.transfers;
          const int64_t when = now_ms();
          std::optional<size_t> to =
              nearest_from(at, [&](size_t h) { return capable(h) && !eds[h].Diverted(when); });
          if (!to) to = nearest_from(at, capable);
          if (to) {
            now += (*drive_between(at, *to) + config.transfer_delay_min * 60) * 1000;
            at = *to;
          }
        }
        // The true door-to-treatment there, with the hospital's and the patient's noise.
        Rng patient(config.seed, (uint64_t{kPatientNoise} << 56) ^ (uint64_t{index} << 20) ^ at);
        const double door =
            DoorToTreatment(config.truth_model, condition, eds[at].Truth(p, now_ms(), feedback),
                            /*fresh=*/true)
                .total_min *
            eds[at].performance[ci] * std::exp(config.patient_noise_sigma * patient.Normal());
        const double total = (now - static_cast<double>(t)) / kMinuteMs + door;
        out.chosen[p] = static_cast<int>(chosen[p]);
        out.treated_at[p] = static_cast<int>(at);
        out.minutes[p] = total;
        eds[at].arrivals[p].push_back(now_ms());
        minutes[p].push_back(total);
        condition_sum[p][ci] += total;
      }
      ++result.condition_count[ci];
      result.incidents.push_back(std::move(out));
    }
  }
  result.mean_jammed_share = jams.shares_sum() / 24;
  for (size_t p = 0; p < kPolicyCount; ++p) {
    PolicyOutcome& o = result.policies[p];
    double sum = 0;
    for (double m : minutes[p]) sum += m;
    o.mean_min = minutes[p].empty() ? 0 : sum / double(minutes[p].size());
    o.p90_min = Percentile90(minutes[p]);
    for (size_t c = 0; c < kConditionCount; ++c) {
      o.condition_mean_min[c] =
          result.condition_count[c] ? condition_sum[p][c] / result.condition_count[c] : 0;
    }
  }
  return result;
}

}  // namespace medulla::dispatch
