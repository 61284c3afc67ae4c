#include "records/change_feed.h"

#include "core/logging.h"

namespace medulla::records {

ChangeFeed::ChangeFeed(store::Store& store, ChangeFeedOptions options)
    : store_(store), options_(options) {}

ChangeFeed::~ChangeFeed() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  store_.SetCommitListener(nullptr);
}

void ChangeFeed::Add(Consumer consumer) {
  consumers_.push_back(std::move(consumer));
}

void ChangeFeed::Start(int64_t after_seq) {
  position_ = after_seq;
  known_ = std::max(after_seq, store_.Stats().last_seq);
  store_.SetCommitListener([this](int64_t seq) { Wake(seq); });
  thread_ = std::thread([this] { Run(); });
}

void ChangeFeed::Wake(int64_t seq) {
  {
    std::lock_guard lock(mu_);
    if (seq <= known_) return;
    known_ = seq;
  }
  cv_.notify_all();
}

int64_t ChangeFeed::position() const {
  std::lock_guard lock(mu_);
  return position_;
}

bool ChangeFeed::WaitDelivered(int64_t seq, std::chrono::milliseconds timeout) {
  Wake(seq);
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return position_ >= seq || stopping_; }) &&
         position_ >= seq;
}

void ChangeFeed::Run() {
  auto log = core::Logger("changes");
  for (;;) {
    int64_t from;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.poll, [&] { return stopping_ || known_ > position_; });
      if (stopping_) return;
      from = position_;
    }
    auto changes = store_.Changes(from, options_.batch);
    if (!changes) {
      log->warn("reading the change feed after {}: {}", from, changes.error().message());
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.retry_after_error, [&] { return stopping_; });
      continue;
    }
    for (const auto& version : *changes) {
      for (const auto& consumer : consumers_) consumer(version);
    }
    std::lock_guard lock(mu_);
    if (!changes->empty()) {
      position_ = changes->back().seq;
      known_ = std::max(known_, position_);
    } else {
      // Nothing past `from` (yet): the commit listener's number can be ahead of what a reader
      // sees for a moment; the poll picks it up.
      known_ = position_;
    }
    cv_.notify_all();
  }
}

}  // namespace medulla::records
