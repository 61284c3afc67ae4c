// The dispatch decision: which ambulance to send to an incident and which hospital to take the
// patient to, with every candidate and the reason it was or was not chosen.
//
// The rule (docs/dispatch.md, "The decision rule", with its clinical sources):
//  1. Ambulance: among those available with a recent position, the one with the shortest
//     live-traffic drive to the scene (one many-to-one table).
//  2. Hospital: among hospitals able to treat the condition (capabilities) and not on
//     diversion, the one with the least expected time to definitive treatment:
//       drive from the scene + door-to-treatment(condition, the ED's load)
//     (door_to_treatment.h). Then the condition's published destination preferences: e.g. a
//     suspected large-vessel stroke goes to a thrombectomy centre when that adds no more than
//     the bypass minutes of drive (AHA/ASA Mission: Lifeline Stroke, 15 min).
//  3. If no capable hospital can be reached, the quickest ED that is not on diversion (to
//     stabilise); if every ED is on diversion, diversion is set aside and it says so.
// No HTTP here: api/dispatch_api renders the answer.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "dispatch/door_to_treatment.h"
#include "dispatch/model.h"
#include "routing/router.h"

namespace medulla::dispatch {

struct Policy {
  DoorToTreatmentModel door_to_treatment;
  // Extra drive accepted to reach a preferred centre (docs/dispatch.md cites each).
  double stroke_bypass_min = 15;      // thrombectomy centre, LVO suspected (Mission: Lifeline)
  double trauma_bypass_min = 20;      // level I trauma centre (local protocol)
  double arrest_bypass_min = 10;      // PCI-capable cardiac arrest centre (ERC-ESICM 2021)
  double burns_bypass_min = 30;       // burn centre
  double paediatric_bypass_min = 15;  // paediatric ED
  // A planning figure for the time from the ambulance's arrival to leaving the scene.
  double on_scene_min = 15;
  // Older positions are not trusted to choose an ambulance.
  int64_t position_max_age_ms = 10 * 60'000;
  // An ED status older than this counts as unknown (its load and its diversion flag).
  int64_t status_max_age_ms = 6 * 3'600'000;
};

struct AmbulanceCandidate {
  std::string id, name;
  std::optional<double> arrival_s;  // drive to the scene; nullopt when not considered
  bool chosen = false;
  std::string reason;
};

struct HospitalCandidate {
  std::string id, name;
  std::optional<double> drive_s, distance_m;  // nullopt: no road leads there
  Estimate door_to_treatment;                 // minutes, with its parts
  std::optional<double> total_s;              // drive + door-to-treatment
  bool eligible = false;                      // capable, open and reachable
  bool chosen = false;
  std::string reason;
};

struct Recommendation {
  Incident incident;
  std::vector<AmbulanceCandidate> ambulances;  // chosen first, then by arrival
  std::vector<HospitalCandidate> hospitals;    // chosen first, then by total
  std::optional<size_t> ambulance;             // index into ambulances of the one to send
  std::optional<size_t> hospital;              // index into hospitals
  std::string rule;                            // the destination rule applied, in words
  // From now: arrival + on scene + drive to the hospital + door-to-treatment.
  std::optional<double> time_to_treatment_s;
  std::vector<routing::LonLat> route_to_scene, route_to_hospital;  // when asked for
};

struct RecommendOptions {
  int64_t now_ms = 0;
  bool with_geometry = true;
  // Choose an ambulance (false: the destination only, as when re-evaluating en route).
  bool choose_ambulance = true;
  // Where the patient leaves from, when not the scene (an ambulance already transporting).
  std::optional<routing::LonLat> origin;
  // Road segments closed for this request only (routing::Router::ResolveClosures).
  const routing::Closures* closures = nullptr;
};

// One incident. InvalidArgument when its location cannot be placed on the road network.
core::Result<Recommendation> Recommend(routing::Router& router, const Policy& policy,
                                       const Incident& incident,
                                       std::span<const Hospital> hospitals,
                                       std::span<const Ambulance> ambulances,
                                       const RecommendOptions& options);

// Several incidents at once, competing for the same ambulances: the most urgent (Priority)
// chooses first, ties in the order given, and no ambulance is sent twice. Answers in the order
// given.
core::Result<std::vector<Recommendation>> RecommendMany(routing::Router& router,
                                                        const Policy& policy,
                                                        std::span<const Incident> incidents,
                                                        std::span<const Hospital> hospitals,
                                                        std::span<const Ambulance> ambulances,
                                                        const RecommendOptions& options);

}  // namespace medulla::dispatch
