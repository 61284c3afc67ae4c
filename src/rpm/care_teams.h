// Who answers for a patient's monitoring alerts: the members of the patient's CareTeams in
// force, in the order an unacknowledged alert escalates through them (docs/monitoring.md,
// "Acknowledgement and escalation"). Answers are cached per patient until a CareTeam changes
// (Invalidate, from the change feed) or a participant's period starts or ends.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "json/value.h"
#include "records/record_service.h"

namespace medulla::rpm {

struct TeamMembers {
  std::vector<std::string> members;  // references such as "Practitioner/123", in order
  int64_t until_ms = INT64_MAX;      // when a period boundary may change the answer
};

// The members of one CareTeam at `now_ms`, in the order of participant[]: the references that
// can own a Task (Practitioner, PractitionerRole, RelatedPerson, Organization, CareTeam,
// HealthcareService; not the patient, a device, a contained or an absolute reference), leaving
// out participants whose period has ended or not yet begun. None when the team is not in force:
// a status other than active (or none), or its own period over.
TeamMembers MembersOfCareTeam(const json::Value& team, int64_t now_ms);

class CareTeams {
 public:
  explicit CareTeams(const records::RecordService& records,
                     const core::Clock& clock = core::SystemClock::Instance());

  // Thread-safe; blocks on the store when the answer is not cached. The escalation order for a
  // patient (the id): the members of the CareTeams whose subject is the patient, team by team
  // in the order of the teams' ids (server-assigned ids are UUIDv7, so the order the teams were
  // created in), each member once, at its first place.
  core::Result<std::vector<std::string>> MembersOf(const std::string& patient);

  // A CareTeam changed: every cached answer goes (a changed or deleted team's previous subject
  // is not known from its new version).
  void Invalidate();

 private:
  core::Result<TeamMembers> Lookup(const std::string& patient, int64_t now_ms) const;

  const records::RecordService& records_;
  const core::Clock& clock_;
  std::mutex mu_;
  uint64_t generation_ = 0;  // bumped by Invalidate: a lookup begun before it is not cached
  std::unordered_map<std::string, TeamMembers> cache_;
};

}  // namespace medulla::rpm
