// The change feed: follows the store's commit sequence and hands every committed version, in
// commit order, to its consumers (the monitor's Goal targets and FHIR Observations, device
// assignments, subscriptions). One thread; woken by the store's commit listener, and polling
// as a fallback. A consumer that needs to survive restarts keeps its own durable position and
// starts the feed from there.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.h"

namespace medulla::records {

struct ChangeFeedOptions {
  size_t batch = 500;                                 // versions read per query
  std::chrono::milliseconds poll{1000};               // the fallback when no wake-up comes
  std::chrono::milliseconds retry_after_error{1000};  // a failed read is tried again
};

class ChangeFeed {
 public:
  // Versions in commit order. Called on the feed's thread: long work goes elsewhere.
  using Consumer = std::function<void(const store::VersionRecord&)>;

  ChangeFeed(store::Store& store, ChangeFeedOptions options = {});
  ~ChangeFeed();  // stops the thread
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Before Start.
  void Add(Consumer consumer);
  // Delivers every version with seq > after_seq, then follows new commits. Installs the
  // store's commit listener.
  void Start(int64_t after_seq);
  // Something was committed up to `seq`: read it now.
  void Wake(int64_t seq);
  // Waits until every version up to `seq` has been delivered (tests, orderly shutdown);
  // false on timeout.
  bool WaitDelivered(int64_t seq, std::chrono::milliseconds timeout);
  int64_t position() const;

 private:
  void Run();

  store::Store& store_;
  const ChangeFeedOptions options_;
  std::vector<Consumer> consumers_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t position_ = 0;  // delivered up to here
  int64_t known_ = 0;     // committed up to here, as far as the feed was told
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace medulla::records
