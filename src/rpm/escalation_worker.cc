#include "rpm/escalation_worker.h"

#include <algorithm>

namespace medulla::rpm {

EscalationWorker::EscalationWorker(Escalation& escalation, const core::Clock& clock,
                                   std::chrono::milliseconds max_sleep)
    : escalation_(escalation), clock_(clock), max_sleep_(max_sleep), thread_([this] { Run(); }) {}

EscalationWorker::~EscalationWorker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void EscalationWorker::Post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void EscalationWorker::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void EscalationWorker::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!jobs_.empty()) {
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
      continue;
    }
    if (stopping_) return;
    woken_ = false;
    lock.unlock();
    const auto next = escalation_.NextDue();
    const int64_t now = clock_.Now() / 1000;
    if (next && *next <= now) {
      escalation_.RunDue();
      lock.lock();
      continue;
    }
    auto sleep = max_sleep_;
    if (next) sleep = std::min(sleep, std::chrono::milliseconds(*next - now));
    lock.lock();
    cv_.wait_for(lock, sleep, [this] { return stopping_ || woken_ || !jobs_.empty(); });
  }
}

}  // namespace medulla::rpm
