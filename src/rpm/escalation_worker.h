// The thread escalation runs on: the jobs the monitor posts (write a new alert's Task, close a
// resolved alert's), in order, and Escalation::RunDue whenever the next deadline arrives. The
// deadlines are wall time read from the clock: escalation is about people answering, not about
// the readings' own times.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "core/time.h"
#include "rpm/escalation.h"

namespace medulla::rpm {

class EscalationWorker {
 public:
  // `max_sleep`: the longest the thread sleeps without looking at the clock (a wall clock set
  // forwards, or a test's clock moved by hand, is noticed within it).
  EscalationWorker(Escalation& escalation, const core::Clock& clock,
                   std::chrono::milliseconds max_sleep = std::chrono::seconds(5));
  ~EscalationWorker();  // runs the jobs already posted, then stops; due escalations wait
  EscalationWorker(const EscalationWorker&) = delete;
  EscalationWorker& operator=(const EscalationWorker&) = delete;

  // Thread-safe; does not block.
  void Post(std::function<void()> job);
  // The schedule changed (a Task or a CareTeam changed): look at the next deadline again.
  void Wake();

 private:
  void Run();

  Escalation& escalation_;
  const core::Clock& clock_;
  const std::chrono::milliseconds max_sleep_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool woken_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace medulla::rpm
