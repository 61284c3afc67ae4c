#include "rpm/care_teams.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "json/parse.h"

namespace medulla::rpm {
namespace {

// The types Task.owner may hold, less Patient and Device: the patient being monitored and a
// device cannot acknowledge an alert about the patient.
constexpr std::array<std::string_view, 6> kOwnerTypes = {"Practitioner/",  "PractitionerRole/",
                                                         "RelatedPerson/", "Organization/",
                                                         "CareTeam/",      "HealthcareService/"};

bool CanOwn(std::string_view reference) {
  for (const auto type : kOwnerTypes) {
    if (reference.starts_with(type)) {
      const auto id = reference.substr(type.size());
      return !id.empty() && id.find('/') == std::string_view::npos;
    }
  }
  return false;
}

// Whether `now_ms` lies in the Period (a missing bound is open), and the next boundary after
// now at which that may change. A bound is read at its precision: an end of "2026-11-21" runs
// through that day.
bool InPeriod(const json::Value* period, int64_t now_ms, int64_t& until_ms) {
  if (!period || !period->is_object()) return true;
  bool in = true;
  if (auto start = core::ParseFhirDateTimeRange(period->StringOr("start"))) {
    const int64_t from = start->begin / 1000;
    if (now_ms < from) {
      in = false;
      until_ms = std::min(until_ms, from);
    }
  }
  if (auto end = core::ParseFhirDateTimeRange(period->StringOr("end"))) {
    const int64_t to = end->end / 1000;
    if (now_ms >= to) return false;
    until_ms = std::min(until_ms, to);
  }
  return in;
}

constexpr size_t kMaxPages = 100;  // 50,000 teams for one patient: far beyond any real record

}  // namespace

TeamMembers MembersOfCareTeam(const json::Value& team, int64_t now_ms) {
  TeamMembers out;
  const auto status = team.StringOr("status");
  if (!status.empty() && status != "active") return out;
  if (!InPeriod(team.Find("period"), now_ms, out.until_ms)) return out;
  const json::Value* participants = team.Find("participant");
  if (!participants || !participants->is_array()) return out;
  for (const json::Value* p : participants->items()) {
    if (!p->is_object()) continue;
    const json::Value* member = p->Find("member");
    if (!member || !member->is_object()) continue;
    const std::string_view reference = member->StringOr("reference");
    if (!CanOwn(reference)) continue;
    if (!InPeriod(p->Find("period"), now_ms, out.until_ms)) continue;
    out.members.emplace_back(reference);
  }
  return out;
}

CareTeams::CareTeams(const records::RecordService& records, const core::Clock& clock)
    : records_(records), clock_(clock) {}

core::Result<TeamMembers> CareTeams::Lookup(const std::string& patient, int64_t now_ms) const {
  const records::QueryParams query{{"subject", "Patient/" + patient}, {"_count", "500"}};
  std::vector<store::VersionRecord> teams;
  RETURN_IF_ERROR(records::ForEachMatch(
      records_, "CareTeam", query, [&](const store::VersionRecord& v) { teams.push_back(v); },
      kMaxPages));
  std::sort(
      teams.begin(), teams.end(),
      [](const store::VersionRecord& a, const store::VersionRecord& b) { return a.id < b.id; });
  TeamMembers all;
  for (const auto& v : teams) {
    auto doc = json::Parse(v.body);
    if (!doc) continue;
    auto team = MembersOfCareTeam(*doc->root(), now_ms);
    all.until_ms = std::min(all.until_ms, team.until_ms);
    for (auto& m : team.members) {
      if (std::find(all.members.begin(), all.members.end(), m) == all.members.end()) {
        all.members.push_back(std::move(m));
      }
    }
  }
  return all;
}

core::Result<std::vector<std::string>> CareTeams::MembersOf(const std::string& patient) {
  const int64_t now_ms = clock_.Now() / 1000;
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(patient); it != cache_.end() && now_ms < it->second.until_ms) {
      return it->second.members;
    }
    generation = generation_;
  }
  ASSIGN_OR_RETURN(auto found, Lookup(patient, now_ms));
  std::lock_guard lock(mu_);
  if (generation == generation_) {
    if (cache_.size() > 100'000) cache_.clear();  // bounded, whatever the number of patients
    cache_[patient] = found;
  }
  return std::move(found.members);
}

void CareTeams::Invalidate() {
  std::lock_guard lock(mu_);
  ++generation_;
  cache_.clear();
}

}  // namespace medulla::rpm
