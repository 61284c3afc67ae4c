#include "dispatch/decision.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

namespace medulla::dispatch {
namespace {

double Minutes(double seconds) {
  return seconds / 60.0;
}

// What a condition requires of a hospital (any one of these bits), in words.
struct Requirement {
  uint32_t any_of = 0;  // 0: any ED
  std::string_view lacks;
};

Requirement RequirementFor(Condition c) {
  switch (c) {
    case Condition::kStroke:
      return {kAnyStrokeCentre, "no stroke unit"};
    case Condition::kStemi:
      return {kPci, "no PCI cath lab"};
    case Condition::kMajorTrauma:
      return {kAnyTraumaCentre, "not a trauma centre"};
    case Condition::kObstetric:
      return {kMaternity, "no maternity unit"};
    default:
      return {};
  }
}

// A published destination preference: go to a centre with `capability` when it adds no more
// than `bypass_min` of drive over the hospital otherwise chosen.
struct Preference {
  uint32_t capability;
  double bypass_min;
  std::string_view centre;
  std::string_view source;
};

std::vector<Preference> PreferencesFor(const Policy& p, const Incident& incident) {
  std::vector<Preference> out;
  switch (incident.condition) {
    case Condition::kStroke:
      if (incident.lvo_suspected) {
        out.push_back({kThrombectomy, p.stroke_bypass_min, "thrombectomy centre",
                       "AHA/ASA Mission: Lifeline Stroke severity-based triage"});
      }
      break;
    case Condition::kMajorTrauma:
      out.push_back({kTraumaLevel1, p.trauma_bypass_min, "level I trauma centre",
                     "ACS-COT 2021 field triage: the highest-level trauma centre"});
      break;
    case Condition::kCardiacArrest:
      out.push_back({kPci, p.arrest_bypass_min, "cardiac arrest centre (24/7 PCI)",
                     "ERC-ESICM 2021 post-resuscitation care"});
      break;
    case Condition::kBurns:
      out.push_back({kBurns, p.burns_bypass_min, "burn centre", "burn centre referral criteria"});
      break;
    default:
      break;
  }
  if (incident.paediatric) {
    out.push_back({kPaediatrics, p.paediatric_bypass_min, "paediatric ED", "local protocol"});
  }
  return out;
}

std::string CapabilityWords(uint32_t caps) {
  std::string out;
  for (Capability c : AllCapabilities()) {
    if (!(caps & c)) continue;
    if (!out.empty()) out += ", ";
    out += CapabilityCode(c);
  }
  return out.empty() ? "ED only" : out;
}

const std::string& Label(const std::string& id, const std::string& name) {
  return name.empty() ? id : name;
}

// Snaps each place; nullopt where it is not on the road network (with the reason).
struct Placed {
  std::vector<routing::LonLat> points;
  std::vector<size_t> index;  // points[k] belongs to item index[k]
};

void ChooseAmbulance(routing::Router& router, const Policy& policy, const Incident& incident,
                     std::span<const Ambulance> ambulances, const RecommendOptions& options,
                     Recommendation& r, std::vector<routing::LonLat>& ambulance_points) {
  r.ambulances.resize(ambulances.size());
  Placed placed;
  for (size_t i = 0; i < ambulances.size(); ++i) {
    const Ambulance& a = ambulances[i];
    AmbulanceCandidate& c = r.ambulances[i];
    c.id = a.id;
    c.name = a.name;
    if (a.status != AmbulanceStatus::kAvailable) {
      c.reason = fmt::format("not available ({})", AmbulanceStatusCode(a.status));
    } else if (!a.where) {
      c.reason = "no position reported";
    } else if (options.now_ms - a.position_ms > policy.position_max_age_ms) {
      c.reason =
          fmt::format("last position {:.0f} min old", (options.now_ms - a.position_ms) / 60'000.0);
    } else if (auto s = router.Snap(*a.where); !s) {
      c.reason = fmt::format("position not on the road network: {}", s.error().message());
    } else {
      placed.points.push_back(*a.where);
      placed.index.push_back(i);
    }
  }
  ambulance_points.assign(ambulances.size(), {});
  if (placed.points.empty()) return;
  const routing::LonLat scene[] = {incident.where};
  auto table = router.Table(placed.points, scene, options.closures);
  if (!table) {  // every point was snapped above: not expected, but said if it happens
    for (size_t i : placed.index) {
      r.ambulances[i].reason = fmt::format("no drive time: {}", table.error().message());
    }
    return;
  }
  std::optional<size_t> best;
  for (size_t k = 0; k < placed.points.size(); ++k) {
    AmbulanceCandidate& c = r.ambulances[placed.index[k]];
    ambulance_points[placed.index[k]] = placed.points[k];
    c.arrival_s = table->durations_s[k];
    if (!c.arrival_s) {
      c.reason = "no road leads from it to the scene";
      continue;
    }
    if (!best || *c.arrival_s < *r.ambulances[*best].arrival_s) best = placed.index[k];
  }
  if (!best) return;
  AmbulanceCandidate& chosen = r.ambulances[*best];
  chosen.chosen = true;
  chosen.reason = fmt::format("chosen: the shortest drive to the scene, {:.1f} min",
                              Minutes(*chosen.arrival_s));
  for (AmbulanceCandidate& c : r.ambulances) {
    if (!c.chosen && c.arrival_s && c.reason.empty()) {
      c.reason =
          fmt::format("{:.1f} min later to the scene than {}",
                      Minutes(*c.arrival_s - *chosen.arrival_s), Label(chosen.id, chosen.name));
    }
  }
  r.ambulance = *best;
}

void ChooseHospital(routing::Router& router, const Policy& policy, const Incident& incident,
                    std::span<const Hospital> hospitals, const RecommendOptions& options,
                    routing::LonLat origin, Recommendation& r) {
  r.hospitals.resize(hospitals.size());
  Placed placed;
  std::vector<bool> fresh(hospitals.size()), diverted(hospitals.size());
  for (size_t i = 0; i < hospitals.size(); ++i) {
    const Hospital& h = hospitals[i];
    HospitalCandidate& c = r.hospitals[i];
    c.id = h.id;
    c.name = h.name;
    fresh[i] = h.status.reported_ms > 0 &&
               options.now_ms - h.status.reported_ms <= policy.status_max_age_ms;
    diverted[i] = fresh[i] && h.status.diversion;
    c.door_to_treatment =
        DoorToTreatment(policy.door_to_treatment, incident.condition, h.status, fresh[i]);
    if (auto s = router.Snap(h.where); !s) {
      c.reason = fmt::format("its location is not on the road network: {}", s.error().message());
    } else {
      placed.points.push_back(h.where);
      placed.index.push_back(i);
    }
  }
  if (!placed.points.empty()) {
    const routing::LonLat from[] = {origin};
    auto table = router.Table(from, placed.points, options.closures);
    if (!table) {
      for (size_t i : placed.index) {
        r.hospitals[i].reason = fmt::format("no drive time: {}", table.error().message());
      }
    } else {
      for (size_t k = 0; k < placed.points.size(); ++k) {
        HospitalCandidate& c = r.hospitals[placed.index[k]];
        c.drive_s = table->durations_s[k];
        c.distance_m = table->distances_m[k];
        if (c.drive_s) c.total_s = *c.drive_s + c.door_to_treatment.total_min * 60;
      }
    }
  }
  const Requirement need = RequirementFor(incident.condition);
  auto capable = [&](size_t i) {
    return need.any_of == 0 || (hospitals[i].capabilities & need.any_of) != 0;
  };
  for (size_t i = 0; i < hospitals.size(); ++i) {
    HospitalCandidate& c = r.hospitals[i];
    if (!c.reason.empty()) continue;
    if (!c.drive_s) {
      c.reason = "no road leads there";
    } else if (diverted[i]) {
      c.reason = "on diversion";
    } else if (!capable(i)) {
      c.reason = std::string(need.lacks);
    } else {
      c.eligible = true;
    }
  }
  auto quickest = [&](auto&& accept) -> std::optional<size_t> {
    std::optional<size_t> best;
    for (size_t i = 0; i < hospitals.size(); ++i) {
      if (!r.hospitals[i].total_s || !accept(i)) continue;
      if (!best || *r.hospitals[i].total_s < *r.hospitals[*best].total_s) best = i;
    }
    return best;
  };
  const std::string condition(ConditionCode(incident.condition));
  std::optional<size_t> chosen = quickest([&](size_t i) { return r.hospitals[i].eligible; });
  if (chosen) {
    r.rule = fmt::format(
        "{}: the least expected time to treatment among hospitals able to "
        "treat it and not on diversion",
        condition);
    uint32_t kept = 0;  // the capabilities earlier preferences settled on
    for (const Preference& p : PreferencesFor(policy, incident)) {
      if (hospitals[*chosen].capabilities & p.capability) {
        kept |= p.capability;
        continue;
      }
      const auto centre = quickest([&](size_t i) {
        const uint32_t caps = hospitals[i].capabilities;
        return r.hospitals[i].eligible && (caps & p.capability) && (caps & kept) == kept;
      });
      if (!centre) {
        r.rule += fmt::format("; no {} can be reached", p.centre);
        continue;
      }
      const double extra_min =
          Minutes(*r.hospitals[*centre].drive_s - *r.hospitals[*chosen].drive_s);
      if (extra_min <= p.bypass_min) {
        r.hospitals[*chosen].reason = fmt::format(
            "quicker to treatment, but the {} {} adds {:.1f} min of drive, within the {:.0f} "
            "min allowed ({})",
            p.centre, Label(hospitals[*centre].id, hospitals[*centre].name), extra_min,
            p.bypass_min, p.source);
        r.rule += fmt::format("; bypass to the {} when it adds at most {:.0f} min of drive ({})",
                              p.centre, p.bypass_min, p.source);
        chosen = centre;
        kept |= p.capability;
      } else {
        r.rule += fmt::format(
            "; the nearest {} would add {:.1f} min of drive, more than the "
            "{:.0f} min allowed ({})",
            p.centre, extra_min, p.bypass_min, p.source);
      }
    }
  } else if ((chosen = quickest([&](size_t i) { return !diverted[i]; }))) {
    r.rule = fmt::format(
        "no hospital able to treat {} can take the patient: the quickest ED "
        "not on diversion, to stabilise",
        condition);
  } else if ((chosen = quickest([&](size_t i) { return capable(i); }))) {
    // Every reachable ED is on diversion: diversion cannot refuse the last resort, and the
    // condition still needs a hospital that can treat it.
    r.rule = fmt::format(
        "every reachable ED is on diversion: diversion set aside, the quickest "
        "hospital able to treat {}",
        condition);
  } else if ((chosen = quickest([](size_t) { return true; }))) {
    r.rule = "every reachable ED is on diversion: diversion set aside, the quickest ED";
  } else {
    r.rule = "no hospital can be reached";
    return;
  }
  HospitalCandidate& best = r.hospitals[*chosen];
  best.chosen = true;
  best.reason =
      fmt::format("chosen: {:.1f} min drive + {:.1f} min door-to-treatment ({}) = {:.1f} min",
                  Minutes(*best.drive_s), best.door_to_treatment.total_min,
                  best.door_to_treatment.wait_basis, Minutes(*best.total_s));
  for (size_t i = 0; i < hospitals.size(); ++i) {
    HospitalCandidate& c = r.hospitals[i];
    if (c.chosen || !c.reason.empty()) continue;
    if (c.total_s) {
      c.reason = fmt::format(
          "{:.1f} min later to treatment ({:.1f} min drive + {:.1f} min "
          "door-to-treatment)",
          Minutes(*c.total_s - *best.total_s), Minutes(*c.drive_s), c.door_to_treatment.total_min);
    }
  }
  if (!best.eligible && need.any_of != 0 && !capable(*chosen)) {
    best.reason += fmt::format(" ({}; capabilities: {})", need.lacks,
                               CapabilityWords(hospitals[*chosen].capabilities));
  }
  r.hospital = *chosen;
}

// Chosen first, then by the given key (nullopt last); the chosen index follows.
template <typename Candidate, typename Key>
void Order(std::vector<Candidate>& items, std::optional<size_t>& chosen, Key key) {
  std::vector<size_t> idx(items.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    if (items[a].chosen != items[b].chosen) return items[a].chosen;
    const std::optional<double> ka = key(items[a]), kb = key(items[b]);
    if (ka.has_value() != kb.has_value()) return ka.has_value();
    return ka && *ka < *kb;
  });
  std::vector<Candidate> sorted;
  sorted.reserve(items.size());
  for (size_t i : idx) sorted.push_back(std::move(items[i]));
  items = std::move(sorted);
  if (chosen) chosen = 0;
}

}  // namespace

core::Result<Recommendation> Recommend(routing::Router& router, const Policy& policy,
                                       const Incident& incident,
                                       std::span<const Hospital> hospitals,
                                       std::span<const Ambulance> ambulances,
                                       const RecommendOptions& options) {
  if (auto s = router.Snap(incident.where); !s) {
    return core::Fail(
        core::InvalidArgument(fmt::format("the incident's location: {}", s.error().message())));
  }
  const routing::LonLat origin = options.origin.value_or(incident.where);
  if (options.origin) {
    if (auto s = router.Snap(origin); !s) {
      return core::Fail(core::InvalidArgument(fmt::format("the origin: {}", s.error().message())));
    }
  }
  Recommendation r;
  r.incident = incident;
  std::vector<routing::LonLat> ambulance_points;
  if (options.choose_ambulance) {
    ChooseAmbulance(router, policy, incident, ambulances, options, r, ambulance_points);
  }
  ChooseHospital(router, policy, incident, hospitals, options, origin, r);

  if (r.hospital && (!options.choose_ambulance || r.ambulance)) {
    double t = *r.hospitals[*r.hospital].total_s;
    if (r.ambulance) t += *r.ambulances[*r.ambulance].arrival_s;
    if (!options.origin) t += policy.on_scene_min * 60;
    r.time_to_treatment_s = t;
  }
  if (options.with_geometry) {
    if (r.ambulance) {
      auto route =
          router.Route(ambulance_points[*r.ambulance], incident.where, true, options.closures);
      if (route) r.route_to_scene = std::move(route->geometry);
    }
    if (r.hospital) {
      auto route = router.Route(origin, hospitals[*r.hospital].where, true, options.closures);
      if (route) r.route_to_hospital = std::move(route->geometry);
    }
  }
  Order(r.ambulances, r.ambulance, [](const AmbulanceCandidate& c) { return c.arrival_s; });
  Order(r.hospitals, r.hospital, [](const HospitalCandidate& c) {
    return c.eligible ? c.total_s : (c.total_s ? std::optional(*c.total_s + 1e12) : c.total_s);
  });
  return r;
}

core::Result<std::vector<Recommendation>> RecommendMany(routing::Router& router,
                                                        const Policy& policy,
                                                        std::span<const Incident> incidents,
                                                        std::span<const Hospital> hospitals,
                                                        std::span<const Ambulance> ambulances,
                                                        const RecommendOptions& options) {
  std::vector<size_t> order(incidents.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return Priority(incidents[a].condition) < Priority(incidents[b].condition);
  });
  std::vector<Ambulance> fleet(ambulances.begin(), ambulances.end());
  std::unordered_map<std::string, size_t> taken;  // ambulance id -> incident index
  std::vector<Recommendation> out(incidents.size());
  for (size_t i : order) {
    auto r = Recommend(router, policy, incidents[i], hospitals, fleet, options);
    if (!r) {
      return core::Fail(
          core::InvalidArgument(fmt::format("incident {}: {}", i + 1, r.error().message())));
    }
    for (AmbulanceCandidate& c : r->ambulances) {
      auto it = taken.find(c.id);
      if (it == taken.end()) continue;
      const Incident& other = incidents[it->second];
      c.reason = fmt::format("sent to incident {} ({}, {})", it->second + 1,
                             other.id.empty() ? "no id" : other.id,
                             Priority(other.condition) < Priority(incidents[i].condition)
                                 ? "more urgent"
                                 : "as urgent, earlier in the list");
    }
    if (r->ambulance) {
      const std::string& id = r->ambulances[*r->ambulance].id;
      taken[id] = i;
      for (Ambulance& a : fleet) {
        if (a.id == id) a.status = AmbulanceStatus::kDispatched;
      }
    }
    out[i] = std::move(*r);
  }
  return out;
}

}  // namespace medulla::dispatch
