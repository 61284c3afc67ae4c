// A simulated day: does the recommended destination (decision.h) get patients to treatment
// sooner than the usual fixed rules, "the nearest capable hospital in a straight line" and "the
// nearest capable hospital by drive time"? Seeded, so that a day can be replayed exactly.
//
// The world (every number below is a SimulationConfig field; "assumption" marks the ones no
// source fixes):
//
//  - Hospitals. The sites given, or N random points on roads of the graph's main component at
//    least min_separation_m apart. Capabilities are drawn by tier (assumption, in the shape of a
//    city's network: a few central hospitals, more district ones, the rest local):
//      central (15%, at least one): thrombectomy + stroke unit, PCI, trauma level I,
//        paediatrics, maternity; the first also the burn centre; 60-90 ED beds;
//      district (35%): stroke unit, trauma level II, PCI (1 in 2), maternity (7 in 10),
//        paediatrics (4 in 10); 30-50 beds;
//      local (the rest): trauma level III (1 in 2), maternity (3 in 10); 15-25 beds.
//  - ED occupancy (patients / beds), the TRUE state, evolves continuously: a diurnal curve
//    times a per-hospital peak level (uniform 0.75-1.05 of beds, assumption) plus a per-hospital
//    Ornstein-Uhlenbeck deviation (sd 0.06, correlation time 2 h, assumption). The curve's
//    shape: lowest about 7 am, highest about 8 pm (the Henry Ford census study, Vajda et al.,
//    Ann Emerg Med 2025;86:S156), 2.8-fold from trough to peak, the day (8-16 h) 1.8 times and
//    the evening (16-24 h) 2.1 times the midnight-8 am level (the NHAMCS 2001 hourly-census
//    profile, "Emergency department crowding: a national perspective"; here 2.8, 1.75, 2.06).
//  - Diversion episodes: while the true occupancy is above 0.9, an episode starts at a hazard
//    that grows with the excess (diversion_hazard_per_h at full beds), lasting 30-90 min. Both
//    are assumptions, set so that hospitals spend a few % of the day on diversion: among US
//    EDs that divert, about 3% of operating time (Burt, McCaig & Valverde, Ann Emerg Med
//    2006;47:317, NHAMCS 2003); a median 374 h a year, 4.3%, in California in 2007 (Hsia et
//    al., Health Aff 2012;31:1767, PMC3618957).
//  - Load feedback (load_feedback, OFF by default: the loads above are then the same whatever
//    the policies do, as the model has them). Where a policy takes its patients
//    changes the loads it meets. With it on, the curves above are the status quo's, where
//    ambulances take patients to the nearest capable hospital by drive time (policy c below);
//    in the world of another policy, each of its patients adds to the ED it reached for
//    ed_stay_h hours (4 h, assumption: of the order of ED lengths of stay), and each patient
//    the status quo would have brought there within that time is taken away. The simulated
//    incidents are a sample of the city's ambulance patients, each standing for weight =
//    ambulance patients a day / incidents real ones; the ambulance patients a day are 14.2%
//    (arrivals by ambulance, Burt et al. 2006 below) of the ED arrivals the curves imply by
//    Little's law (mean census / stay). Diversion episodes stay those of the status quo's loads,
//    and a patient is counted once their incident has been simulated, in the order incidents
//    leave the scene (simplifications).
//    It matters, and against the recommendation: on the whole Porto extract (20 sites, 1000
//    incidents, seeds 1-5) the recommendation's lead over the nearest by drive time shrinks from
//    1.1-4.8 min on the mean and 2.0-10.7 on the p90 to -0.6..+1.0 and -4.3..+4.1 (it no longer
//    wins every day). The reason is the queue model's cap (door_to_treatment.h): the wait stops
//    growing at 80% occupancy, so the relief of a full ED a patient is taken away from counts
//    for nothing, while each patient added to a lighter ED lands on the steep part of the
//    M/M/1 curve; one patient at a time, the recommendation fills the lighter EDs until they
//    are as slow as the full ones. With the cap raised (the truth's and the decision's
//    queue_factor_cap 6, 90 min at 86%), the lead with feedback is back: 2.4-5.4 min on the
//    mean, 2.4-13.7 on the p90 (seeds 1-3).
//  - Reports: each hospital REPORTS its state (HospitalStatus: patients, beds, diversion) every
//    15-30 min (uniform, assumption), so the decision works on slightly stale reports, while
//    outcomes are judged on the truth at the moment the ambulance arrives. That costs
//    something: while EDs fill up in the morning (the curve rises by about 0.14 of the beds an
//    hour at 8-10 h), a 30-minute-old report understates the load by up to 0.07, and the
//    decision, which takes reports at face value, leans towards the ED that reported longest
//    ago.
//  - Door-to-treatment, true: DoorToTreatment(truth_model, condition, true state) -- the same
//    queueing formula the decision uses (door_to_treatment.h), which favours the decision: a
//    real ED's wait depends on more than its occupancy. Two noises stand for that, both
//    unknown to the decision: a per-hospital, per-condition factor (lognormal, sigma 0.15:
//    hospitals differ in their door-to-needle and door-to-balloon performance) and a
//    per-patient factor (lognormal, sigma 0.3). Both are assumptions; medians 1.
//  - Traffic: the router's time-of-day profile (speed_model.h) at the incident's hour: one
//    Router per simulated hour, opened with a clock set to that hour of the simulated weekday
//    (the Router reads its profile hour from its clock when it opens). Plus jams: at each hour
//    a share of the road segments (jam_share_night to jam_share_peak, following the same
//    profile's congestion) driven at 5-15 km/h (assumption), whole edges, arterials preferred,
//    each jam lasting 1-3 hours, applied with Router::UpdateTraffic. The decision sees that
//    traffic live, as it would through the traffic feed; the drive judged is the same router's
//    answer: drives are not noisy here.
//  - Incidents: `incidents` of them, at times drawn from a diurnal demand curve (lowest 3-6 am,
//    highest late morning to early evening, about 3 to 1: assumption, the usual shape of EMS
//    demand), at random road points of the main component (denser where the road network is
//    denser, a stand-in for population). The condition mix is an assumption, weighted towards
//    the time-critical conditions the decision is for, not a measured EMS caseload: general
//    72%, stroke 8% (a third with a positive LVO screen), STEMI 5%, major trauma 7%, cardiac
//    arrest 3%, burns 1%, obstetric 4%; a child in 12% of general, trauma, arrest and burns
//    incidents (about 10% overall).
//
// Each incident is taken, from the same scene at the same moment (leaving the scene), by three
// destination policies:
//  (a) the recommendation: Recommend(choose_ambulance=false, with_geometry=false) on the
//      reported hospital states;
//  (b) the nearest hospital able to treat the condition, by straight-line distance;
//  (c) the nearest hospital able to treat the condition, by drive time under the live traffic.
// (b) and (c) know the capabilities, as a published protocol would, but not load or diversion.
// "Able to treat" is the decision's own requirement (stroke: a stroke unit or thrombectomy
// centre; STEMI: PCI; major trauma: any trauma level; obstetric: maternity; others: any ED).
//
// Time to treatment judged, from leaving the scene: the drive (router, that hour's traffic) +
// the true door-to-treatment at the hospital reached, at the moment of arrival there. If the
// hospital reached is truly on diversion, the ambulance is turned away: add the drive from
// there to the nearest capable hospital not on diversion. If the hospital reached cannot treat
// the condition (a policy's choice when no capable hospital could take the patient), add an
// inter-hospital transfer: the drive to the nearest capable hospital + transfer_delay_min (57:
// the delay to treatment of a transfer in the MR CLEAN registry, Venema et al., Stroke
// 2019;50:923, PMC6430601; that delay already includes a Dutch inter-centre drive, so this errs
// long, and it applies to every policy alike).
//
// Not modelled, and so not credited to anyone: the clinical benefit of the destination
// preferences the recommendation applies (a suspected LVO stroke to a thrombectomy centre, a
// major trauma to level I, a child to a paediatric ED ...). Their extra drive is counted as a
// cost and their benefit (thrombectomy, higher-level care) is not: this works against the
// recommendation. Nor the ambulance's drive to the scene and its time there, the same for
// every policy.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "dispatch/decision.h"
#include "dispatch/door_to_treatment.h"
#include "dispatch/model.h"
#include "routing/router.h"

namespace medulla::dispatch {

inline constexpr size_t kConditionCount = 7;  // Condition's values

struct HospitalSite {
  std::string id;
  routing::LonLat where;
};

struct SimulationConfig {
  uint64_t seed = 1;
  // Empty: `random_hospitals` random road points, at least `min_separation_m` apart.
  std::vector<HospitalSite> hospitals;
  int random_hospitals = 10;
  double min_separation_m = 1500;
  int incidents = 300;
  // The simulated day, a weekday, in the process's local time (the router's profile hour is
  // local time). Chosen away from daylight-saving changes.
  int year = 2026, month = 2, day = 11;
  // The recommendation's policy.
  Policy policy;
  // The world's door-to-treatment (medulla's defaults: the truth uses the same formula).
  DoorToTreatmentModel truth_model;
  double hospital_noise_sigma = 0.15;  // per hospital and condition
  double patient_noise_sigma = 0.3;    // per patient and hospital
  // Load feedback (see above): a patient brought to an ED stays there this long (hours), in
  // the world of the policy that brought them (false: ED loads are the same whatever the
  // policies do).
  bool load_feedback = false;
  double ed_stay_h = 4;
  // The share of ED arrivals that come by ambulance (Burt et al. 2006: 14.2%, NHAMCS 2003).
  double ambulance_share = 0.142;
  // ED reports.
  double report_every_min_lo = 15, report_every_min_hi = 30;
  // Diversion: episodes start while occupancy is above 0.9, at this hazard per hour at an
  // occupancy of 1.0 (proportional to the excess over 0.9).
  double diversion_hazard_per_h = 0.3;
  // Traffic: the time-of-day profile (false: free flow) and the jammed share of segments.
  bool time_of_day = true;
  double jam_share_night = 0.005, jam_share_peak = 0.04;
  // An inter-hospital transfer's delay over its drive.
  double transfer_delay_min = 57;
};

enum class DestinationPolicy : uint8_t { kRecommended, kNearestStraightLine, kNearestDriveTime };
inline constexpr size_t kPolicyCount = 3;
// "recommended", "nearest by straight line", "nearest by drive time".
std::string_view PolicyName(DestinationPolicy p);

struct PolicyOutcome {
  double mean_min = 0, p90_min = 0;  // time to treatment from leaving the scene
  // Per Condition; 0 where the day had no such incident.
  std::array<double, kConditionCount> condition_mean_min{};
  int turned_away = 0;  // chose a hospital that was on diversion when the ambulance arrived
  int transfers = 0;    // reached a hospital unable to treat the condition
  bool operator==(const PolicyOutcome&) const = default;
};

struct SimulatedHospital {
  std::string id;
  double lon = 0, lat = 0;
  uint32_t capabilities = 0;
  double ed_beds = 0;
  double diversion_min = 0;  // minutes on diversion during the day (0-24 h)
  bool operator==(const SimulatedHospital&) const = default;
};

struct SimulatedIncident {
  int64_t at_ms = 0;  // leaving the scene
  double lon = 0, lat = 0;
  Condition condition = Condition::kGeneral;
  bool lvo_suspected = false, paediatric = false;
  // Per policy: the hospital chosen (index into SimulationResult::hospitals), the one where
  // treatment happened, and the minutes to treatment.
  std::array<int, kPolicyCount> chosen{}, treated_at{};
  std::array<double, kPolicyCount> minutes{};
  bool operator==(const SimulatedIncident&) const = default;
};

struct SimulationResult {
  std::vector<SimulatedHospital> hospitals;
  std::vector<SimulatedIncident> incidents;          // by time
  std::array<PolicyOutcome, kPolicyCount> policies;  // indexed by DestinationPolicy
  std::array<int, kConditionCount> condition_count{};
  int diversion_episodes = 0;
  // The city's ambulance patients a day, as the ED curves imply (load feedback).
  double ambulance_patients_per_day = 0;
  double mean_jammed_share = 0;  // of segments, over the 24 hours
  bool operator==(const SimulationResult&) const = default;
};

// One day. `router` supplies the road graph (its own live traffic is neither read nor
// changed): the day opens its own Router per hour over the same graph. InvalidArgument when a
// hospital site is off the road network, or the random sites cannot be placed that far apart.
core::Result<SimulationResult> SimulateDay(const routing::Router& router,
                                           const SimulationConfig& config);

}  // namespace medulla::dispatch
