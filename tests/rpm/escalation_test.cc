// Acknowledgement and escalation of monitoring alerts: the CareTeam's members in order, the
// Task owned by the first and handed on at each deadline (a test clock stands for the wall
// clock), acknowledgement through the Task's status (never overwritten, even when it comes
// between escalation's read and write), no CareTeam, resolution, a deadline moved by a
// clinician, and resumption after a restart. A real store under a RecordService.
#include "rpm/escalation.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "json/parse.h"
#include "json/write.h"
#include "rpm/escalation_worker.h"
#include "testing/fake_clock.h"
#include "testing/record_fixture.h"

namespace medulla::rpm {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kT0Seconds = 1'795'248'000;  // 2026-11-21T08:00:00Z

json::Document Parse(std::string_view text) {
  auto doc = json::Parse(text);
  EXPECT_TRUE(doc) << text;
  return doc ? std::move(*doc) : json::Document();
}

// ---------------------------------------------------------------------------------------------
// The members of a CareTeam, and the next step for a Task

TEST(MembersOfCareTeam, ParticipantsInForceInOrderThatCanOwnATask) {
  auto team = Parse(R"({"resourceType":"CareTeam","status":"active",
    "subject":{"reference":"Patient/p"},
    "participant":[
      {"member":{"reference":"Practitioner/a"}},
      {"member":{"reference":"Patient/p"}},
      {"member":{"reference":"PractitionerRole/b"},"period":{"start":"2026-11-01"}},
      {"member":{"reference":"Practitioner/gone"},"period":{"end":"2026-11-20"}},
      {"member":{"reference":"RelatedPerson/c"},"period":{"end":"2026-11-21T09:00:00Z"}},
      {"member":{"reference":"Practitioner/later"},"period":{"start":"2026-11-21T10:00:00Z"}},
      {"member":{"reference":"Device/d"}},
      {"member":{"reference":"#contained"}},
      {"member":{"reference":"https://elsewhere.example/fhir/Practitioner/x"}},
      {"role":[{"text":"no member"}]}]})");
  const auto m = MembersOfCareTeam(*team.root(), kT0Seconds * 1000);
  EXPECT_EQ(m.members,
            (std::vector<std::string>{"Practitioner/a", "PractitionerRole/b", "RelatedPerson/c"}));
  // The answer changes when RelatedPerson/c's period ends, after 09:00:00 (an end runs through
  // its precision, here the second), before Practitioner/later's begins at 10:00.
  EXPECT_EQ(m.until_ms, (kT0Seconds + 3601) * 1000);
}

TEST(MembersOfCareTeam, ATeamNotInForceHasNone) {
  for (
      const char* team : {
          R"({"resourceType":"CareTeam","status":"inactive","participant":[{"member":{"reference":"Practitioner/a"}}]})",
          R"({"resourceType":"CareTeam","status":"proposed","participant":[{"member":{"reference":"Practitioner/a"}}]})",
          R"({"resourceType":"CareTeam","period":{"end":"2026-11-20"},"participant":[{"member":{"reference":"Practitioner/a"}}]})",
      }) {
    EXPECT_TRUE(MembersOfCareTeam(*Parse(team).root(), kT0Seconds * 1000).members.empty()) << team;
  }
  auto no_status = Parse(
      R"({"resourceType":"CareTeam","participant":[{"member":{"reference":"Practitioner/a"}}]})");
  EXPECT_EQ(MembersOfCareTeam(*no_status.root(), kT0Seconds * 1000).members.size(), 1u)
      << "a team without a status is in force";
}

TEST(NextStep, AssignsEscalatesAndRunsOut) {
  using Kind = EscalationStep::Kind;
  const std::vector<std::string> team = {"Practitioner/a", "Practitioner/b", "Practitioner/c"};
  AlertTaskState t;
  EXPECT_EQ(NextStep(t, {}).kind, Kind::kWait);
  auto s = NextStep(t, team);
  EXPECT_EQ(s.kind, Kind::kAssign);
  EXPECT_EQ(s.to, "Practitioner/a");
  t.owner = "Practitioner/a";
  s = NextStep(t, team);
  EXPECT_EQ(s.kind, Kind::kEscalate);
  EXPECT_EQ(s.to, "Practitioner/b");
  t.owner = "Practitioner/c";
  EXPECT_EQ(NextStep(t, team).kind, Kind::kExhausted);
  t.owner = "Practitioner/someone-else";  // handed on by a clinician, or left the team
  s = NextStep(t, team);
  EXPECT_EQ(s.kind, Kind::kEscalate);
  EXPECT_EQ(s.to, "Practitioner/a");
  EXPECT_EQ(NextStep(t, {}).kind, Kind::kExhausted);
}

TEST(AwaitsAcknowledgement, OnlyRequestedWaits) {
  EXPECT_TRUE(AwaitsAcknowledgement("requested"));
  for (const char* s : {"received", "accepted", "in-progress", "completed", "rejected", "cancelled",
                        "on-hold", "failed", "entered-in-error"}) {
    EXPECT_FALSE(AwaitsAcknowledgement(s)) << s;
  }
}

TEST(ClosedAlertTask, CancelsWhatNobodyTookUpAndCompletesWhatWasAcknowledged) {
  const auto task = [](const char* status) {
    return std::string(R"({"resourceType":"Task","id":"t","status":")") + status +
           R"(","intent":"order","note":[{"text":"earlier"}]})";
  };
  const int64_t now = kT0Seconds * 1000;
  auto cancelled = ClosedAlertTask(task("requested"), now);
  ASSERT_TRUE(cancelled && *cancelled);
  auto doc = Parse(**cancelled);
  EXPECT_EQ(doc.root()->StringOr("status"), "cancelled");
  EXPECT_EQ(doc.root()->Find("statusReason")->StringOr("text"), "condition cleared");
  ASSERT_EQ(doc.root()->Find("note")->size(), 2u) << "the earlier note is kept";
  EXPECT_NE(doc.root()->Find("note")->items()[1]->StringOr("text").find("Condition cleared"),
            std::string_view::npos);
  auto completed = ClosedAlertTask(task("accepted"), now);
  ASSERT_TRUE(completed && *completed);
  EXPECT_EQ(Parse(**completed).root()->StringOr("status"), "completed");
  for (const char* done : {"completed", "cancelled", "rejected", "entered-in-error"}) {
    auto none = ClosedAlertTask(task(done), now);
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none) << done;
  }
}

// ---------------------------------------------------------------------------------------------
// Escalation over a real store

class EscalationTest : public medulla::testing::RecordFixture {
 protected:
  void SetUp() override {
    RecordFixture::SetUp();
    teams_ = std::make_unique<CareTeams>(*records_, clock_);
    escalation_ = std::make_unique<Escalation>(*records_, *teams_, EscalationOptions{}, clock_);
  }

  store::VersionRecord Write(const std::string& type, const std::string& body,
                             std::optional<std::string> id = {},
                             std::optional<int64_t> if_match = {}) {
    std::promise<core::Result<records::WriteReply>> promise;
    auto done = [&promise](core::Result<records::WriteReply> r) {
      promise.set_value(std::move(r));
    };
    if (id) {
      records_->Update(type, *id, body, if_match, done);
    } else {
      records_->Create(type, body, std::nullopt, done);
    }
    auto r = promise.get_future().get();
    EXPECT_TRUE(r) << (r ? "" : r.error().ToString());
    return r ? r->record : store::VersionRecord{};
  }
  // A monitoring alert as MonitorService writes it.
  std::string NewIssue(const std::string& patient) {
    return Write(
               "DetectedIssue",
               R"({"resourceType":"DetectedIssue","status":"preliminary",)"
               R"("code":{"coding":[{"system":"https://medulla.health/fhir/CodeSystem/monitor-alert","code":"news2"}]},)"
               R"("severity":"high","patient":{"reference":"Patient/)" +
                   patient + R"("}})")
        .id;
  }
  store::VersionRecord NewTeam(const std::string& patient,
                               const std::vector<std::string>& members) {
    std::string participants;
    for (const auto& m : members) {
      participants += (participants.empty() ? "" : ",") +
                      std::string(R"({"member":{"reference":")") + m + R"("}})";
    }
    return Write("CareTeam", R"({"resourceType":"CareTeam","status":"active",)"
                             R"("subject":{"reference":"Patient/)" +
                                 patient + R"("},"participant":[)" + participants + "]}");
  }
  store::VersionRecord TaskOf(const std::string& issue) {
    auto r = records_->Search("Task", {{"focus", "DetectedIssue/" + issue}}, true);
    EXPECT_TRUE(r);
    EXPECT_EQ(r->page.resources.size(), 1u);
    return r && !r->page.resources.empty() ? r->page.resources.front() : store::VersionRecord{};
  }
  static AlertTaskState StateOf(const store::VersionRecord& task) {
    return ReadAlertTask(*Parse(task.body).root());
  }
  static std::vector<std::string> Notes(const store::VersionRecord& task) {
    std::vector<std::string> out;
    auto doc = Parse(task.body);
    if (const auto* notes = doc.root()->Find("note"); notes && notes->is_array()) {
      for (const auto* n : notes->items()) out.emplace_back(n->StringOr("text"));
    }
    return out;
  }
  // The Task as a clinician changes it (a plain PUT, without If-Match).
  store::VersionRecord Clinician(const store::VersionRecord& task, std::string_view status) {
    auto doc = Parse(task.body);
    doc.Set(*doc.root(), "status", doc.NewString(status));
    return Write("Task", json::Write(*doc.root()), task.id);
  }
  void Advance(int64_t ms) { clock_.AdvanceMicros(ms * 1000); }
  int64_t NowMs() const { return clock_.Now() / 1000; }
  AlertTaskSpec Spec(const std::string& issue, const std::string& patient) {
    return {issue, patient, "stat"};
  }

  medulla::testing::FakeClock clock_{kT0Seconds};
  std::unique_ptr<CareTeams> teams_;
  std::unique_ptr<Escalation> escalation_;
  const std::vector<std::string> team_ = {"Practitioner/m1", "Practitioner/m2", "Practitioner/m3"};
};

TEST_F(EscalationTest, TheTaskIsOwnedByTheFirstMemberAndDueInFifteenMinutes) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  const auto task = TaskOf(issue);
  const auto s = StateOf(task);
  EXPECT_EQ(s.status, "requested");
  EXPECT_EQ(s.owner, "Practitioner/m1");
  EXPECT_EQ(s.focus, "DetectedIssue/" + issue);
  EXPECT_EQ(s.patient, "p1");
  EXPECT_EQ(s.deadline_ms, NowMs() + 15 * kMinute);
  EXPECT_EQ(escalation_->NextDue(), NowMs() + 15 * kMinute);
  // Opening it again (a retry, a restart) writes no second Task.
  escalation_->Open(Spec(issue, "p1"));
  TaskOf(issue);
}

TEST_F(EscalationTest, NotAcknowledgedInTimeGoesToTheNextMemberThenRunsOut) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  Advance(15 * kMinute - 1000);
  escalation_->RunDue();
  EXPECT_EQ(StateOf(TaskOf(issue)).owner, "Practitioner/m1") << "not yet due";

  Advance(1000);
  escalation_->RunDue();
  auto task = TaskOf(issue);
  EXPECT_EQ(StateOf(task).owner, "Practitioner/m2");
  EXPECT_EQ(StateOf(task).deadline_ms, NowMs() + 15 * kMinute) << "the next member's own time";
  ASSERT_EQ(Notes(task).size(), 1u);
  EXPECT_EQ(Notes(task)[0],
            "Not acknowledged by Practitioner/m1 by 2026-11-21T08:15:00.000Z; escalated to "
            "Practitioner/m2 at 2026-11-21T08:15:00.000Z");

  Advance(15 * kMinute);
  escalation_->RunDue();
  task = TaskOf(issue);
  EXPECT_EQ(StateOf(task).owner, "Practitioner/m3");

  Advance(15 * kMinute);
  escalation_->RunDue();
  task = TaskOf(issue);
  const auto s = StateOf(task);
  EXPECT_EQ(s.owner, "Practitioner/m3") << "stays with the last member";
  EXPECT_TRUE(s.exhausted);
  EXPECT_EQ(s.status, "requested") << "still waiting for someone";
  ASSERT_EQ(Notes(task).size(), 3u);
  EXPECT_NE(Notes(task)[2].find("escalation exhausted"), std::string::npos) << Notes(task)[2];
  EXPECT_EQ(escalation_->tracked(), 0u);
  // What a ward's display asks for (docs/monitoring.md).
  auto exhausted = records_->Search(
      "Task", {{"status", "requested"}, {"business-status:text", "escalation exhausted"}}, true);
  ASSERT_TRUE(exhausted) << exhausted.error().ToString();
  EXPECT_EQ(exhausted->page.resources.size(), 1u);

  const int64_t version = task.version;
  Advance(60 * kMinute);
  escalation_->RunDue();
  EXPECT_EQ(TaskOf(issue).version, version) << "nothing more once exhausted";
}

TEST_F(EscalationTest, AnAcknowledgementStopsTheEscalation) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  const auto accepted = Clinician(TaskOf(issue), "accepted");
  escalation_->OnTaskChange(accepted);  // as the change feed delivers it
  EXPECT_EQ(escalation_->tracked(), 0u);
  EXPECT_FALSE(escalation_->NextDue());
  Advance(60 * kMinute);
  escalation_->RunDue();
  const auto task = TaskOf(issue);
  EXPECT_EQ(task.version, accepted.version);
  EXPECT_EQ(StateOf(task).status, "accepted");
  EXPECT_EQ(StateOf(task).owner, "Practitioner/m1");
}

TEST_F(EscalationTest, AnAcknowledgementTheFeedHasNotDeliveredYetIsSeenOnTheRead) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  Clinician(TaskOf(issue), "in-progress");
  Advance(16 * kMinute);
  escalation_->RunDue();
  EXPECT_EQ(StateOf(TaskOf(issue)).status, "in-progress");
  EXPECT_EQ(StateOf(TaskOf(issue)).owner, "Practitioner/m1");
  EXPECT_EQ(escalation_->tracked(), 0u);
}

TEST_F(EscalationTest, AnAcknowledgementBetweenTheReadAndTheWriteIsNeverOverwritten) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  int writes = 0;
  escalation_->SetBeforeWriteForTest([&](const std::string& task_id) {
    if (writes++ == 0) Clinician(*records_->Read("Task", task_id), "accepted");
  });
  Advance(16 * kMinute);
  escalation_->RunDue();
  const auto task = TaskOf(issue);
  EXPECT_EQ(StateOf(task).status, "accepted");
  EXPECT_EQ(StateOf(task).owner, "Practitioner/m1");
  EXPECT_TRUE(Notes(task).empty());
  EXPECT_EQ(writes, 1) << "read again after the conflict, and left alone";
  EXPECT_EQ(escalation_->tracked(), 0u);
}

TEST_F(EscalationTest, AnotherChangeBetweenTheReadAndTheWriteIsKeptAndTheTaskEscalates) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  int writes = 0;
  escalation_->SetBeforeWriteForTest([&](const std::string& task_id) {
    if (writes++ > 0) return;
    auto doc = Parse(records_->Read("Task", task_id)->body);
    doc.Set(*doc.root(), "description", doc.NewString("called the ward"));
    Write("Task", json::Write(*doc.root()), task_id);
  });
  Advance(16 * kMinute);
  escalation_->RunDue();
  const auto task = TaskOf(issue);
  EXPECT_EQ(writes, 2);
  EXPECT_EQ(StateOf(task).owner, "Practitioner/m2");
  EXPECT_EQ(Parse(task.body).root()->StringOr("description"), "called the ward");
}

TEST_F(EscalationTest, WithoutACareTeamNobodyOwnsItUntilATeamIsRecorded) {
  const auto issue = NewIssue("p2");
  escalation_->Open(Spec(issue, "p2"));
  auto task = TaskOf(issue);
  auto s = StateOf(task);
  EXPECT_EQ(s.owner, "");
  EXPECT_FALSE(s.deadline_ms);
  ASSERT_EQ(Notes(task).size(), 1u);
  EXPECT_NE(Notes(task)[0].find("no active CareTeam"), std::string::npos) << Notes(task)[0];
  EXPECT_FALSE(escalation_->NextDue()) << "no escalation";
  Advance(60 * kMinute);
  escalation_->RunDue();
  EXPECT_EQ(TaskOf(issue).version, task.version);

  // A CareTeam recorded later (the change feed: CareTeams invalidated, then the escalation).
  NewTeam("p2", team_);
  teams_->Invalidate();
  escalation_->OnCareTeamChange();
  escalation_->RunDue();
  task = TaskOf(issue);
  s = StateOf(task);
  EXPECT_EQ(s.owner, "Practitioner/m1");
  EXPECT_EQ(s.deadline_ms, NowMs() + 15 * kMinute);
  EXPECT_EQ(Notes(task).size(), 2u);
}

TEST_F(EscalationTest, SeveralTeamsInTheOrderOfTheirIdsEachMemberOnce) {
  Write(
      "CareTeam",
      R"({"resourceType":"CareTeam","id":"team-b","status":"active","subject":{"reference":"Patient/p3"},)"
      R"("participant":[{"member":{"reference":"Practitioner/b1"}},{"member":{"reference":"Practitioner/a1"}}]})",
      "team-b");
  Write(
      "CareTeam",
      R"({"resourceType":"CareTeam","id":"team-a","subject":{"reference":"Patient/p3"},)"
      R"("participant":[{"member":{"reference":"Practitioner/a1"}},{"member":{"reference":"Practitioner/a2"}}]})",
      "team-a");
  Write(
      "CareTeam",
      R"({"resourceType":"CareTeam","id":"team-c","status":"inactive","subject":{"reference":"Patient/p3"},)"
      R"("participant":[{"member":{"reference":"Practitioner/c1"}}]})",
      "team-c");
  auto members = teams_->MembersOf("p3");
  ASSERT_TRUE(members);
  EXPECT_EQ(*members,
            (std::vector<std::string>{"Practitioner/a1", "Practitioner/a2", "Practitioner/b1"}));
  // Cached until a CareTeam changes.
  Write(
      "CareTeam",
      R"({"resourceType":"CareTeam","id":"team-c","status":"active","subject":{"reference":"Patient/p3"},)"
      R"("participant":[{"member":{"reference":"Practitioner/c1"}}]})",
      "team-c");
  EXPECT_EQ(teams_->MembersOf("p3")->size(), 3u);
  teams_->Invalidate();
  EXPECT_EQ(teams_->MembersOf("p3")->size(), 4u);
}

TEST_F(EscalationTest, AMembershipThatEndsIsNoticedWithoutAChange) {
  Write(
      "CareTeam",
      R"({"resourceType":"CareTeam","status":"active","subject":{"reference":"Patient/p4"},)"
      R"("participant":[{"member":{"reference":"Practitioner/night"},"period":{"end":"2026-11-21T09:00:00Z"}},)"
      R"({"member":{"reference":"Practitioner/day"}}]})");
  EXPECT_EQ(teams_->MembersOf("p4")->size(), 2u);
  Advance(61 * kMinute);
  EXPECT_EQ(*teams_->MembersOf("p4"), std::vector<std::string>{"Practitioner/day"});
}

TEST_F(EscalationTest, ResolutionClosesTheTaskAndEndsTheEscalation) {
  NewTeam("p1", team_);
  const auto waiting = NewIssue("p1");
  escalation_->Open(Spec(waiting, "p1"));
  escalation_->Close(waiting);
  auto task = TaskOf(waiting);
  EXPECT_EQ(StateOf(task).status, "cancelled");
  ASSERT_EQ(Notes(task).size(), 1u);
  EXPECT_NE(Notes(task)[0].find("Condition cleared"), std::string::npos);
  EXPECT_EQ(escalation_->tracked(), 0u);

  const auto acknowledged = NewIssue("p5");
  escalation_->Open(Spec(acknowledged, "p5"));
  Clinician(TaskOf(acknowledged), "accepted");
  escalation_->Close(acknowledged);
  EXPECT_EQ(StateOf(TaskOf(acknowledged)).status, "completed");
}

TEST_F(EscalationTest, AnAlertResolvedWithoutItsTaskClosedIsClosedAtTheDeadline) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  auto doc = Parse(records_->Read("DetectedIssue", issue)->body);
  doc.Set(*doc.root(), "status", doc.NewString("final"));
  Write("DetectedIssue", json::Write(*doc.root()), issue);
  Advance(16 * kMinute);
  escalation_->RunDue();
  EXPECT_EQ(StateOf(TaskOf(issue)).status, "cancelled");
  EXPECT_EQ(StateOf(TaskOf(issue)).owner, "Practitioner/m1");
}

TEST_F(EscalationTest, ADeadlineMovedByAClinicianIsFollowed) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  std::string body = TaskOf(issue).body;
  const auto at = body.find("2026-11-21T08:15:00.000Z");
  ASSERT_NE(at, std::string::npos) << body;
  body.replace(at, 24, "2026-11-21T09:00:00.000Z");
  escalation_->OnTaskChange(Write("Task", body, TaskOf(issue).id));
  EXPECT_EQ(escalation_->NextDue(), (kT0Seconds + 3600) * 1000);
  Advance(30 * kMinute);
  escalation_->RunDue();
  EXPECT_EQ(StateOf(TaskOf(issue)).owner, "Practitioner/m1");
  Advance(31 * kMinute);
  escalation_->RunDue();
  EXPECT_EQ(StateOf(TaskOf(issue)).owner, "Practitioner/m2");
}

TEST_F(EscalationTest, AfterARestartTheEscalationResumesFromTheStoredDeadline) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  escalation_->Open(Spec(issue, "p1"));
  // A new process: nothing in memory, the record as it was.
  CareTeams teams(*records_, clock_);
  Escalation restarted(*records_, teams, EscalationOptions{}, clock_);
  Advance(20 * kMinute);  // down past the deadline
  restarted.Resume(TaskOf(issue));
  EXPECT_EQ(restarted.NextDue(), kT0Seconds * 1000 + 15 * kMinute);
  restarted.RunDue();
  const auto task = TaskOf(issue);
  EXPECT_EQ(StateOf(task).owner, "Practitioner/m2");
  EXPECT_EQ(StateOf(task).deadline_ms, NowMs() + 15 * kMinute);
  // An exhausted or acknowledged Task is not resumed.
  Escalation again(*records_, teams, EscalationOptions{}, clock_);
  again.Resume(Clinician(task, "accepted"));
  EXPECT_EQ(again.tracked(), 0u);
}

TEST_F(EscalationTest, TheWorkerRunsPostedJobsAndWakesAtTheDeadline) {
  NewTeam("p1", team_);
  const auto issue = NewIssue("p1");
  EscalationWorker worker(*escalation_, clock_, std::chrono::milliseconds(20));
  worker.Post([&] { escalation_->Open(Spec(issue, "p1")); });
  const auto wait_for = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 1000 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  };
  ASSERT_TRUE(wait_for([&] { return escalation_->tracked() == 1; }));
  Advance(15 * kMinute);
  worker.Wake();
  EXPECT_TRUE(wait_for([&] { return StateOf(TaskOf(issue)).owner == "Practitioner/m2"; }));
}

}  // namespace
}  // namespace medulla::rpm
