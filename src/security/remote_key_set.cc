#include "security/remote_key_set.h"

#include <pthread.h>

#include "core/logging.h"

namespace medulla::security {

RemoteKeySet::RemoteKeySet(std::string name, Fetch fetch, RemoteKeySetOptions options)
    : name_(std::move(name)),
      fetch_(std::move(fetch)),
      options_(options),
      keys_(std::make_shared<const KeySet>()) {}

RemoteKeySet::~RemoteKeySet() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

core::Status RemoteKeySet::FetchOnce() {
  {
    std::lock_guard lock(mu_);
    last_attempt_ = std::chrono::steady_clock::now();
    refresh_requested_ = false;
  }
  core::Result<std::string> body = fetch_();
  core::Result<KeySet> keys = body ? KeySet::FromJwks(*body) : core::Fail(body.error());
  if (keys && keys->size() == 0) {
    keys = core::Fail(core::InvalidArgument("the set has no RS256 or ES256 signing key"));
  }
  std::lock_guard lock(mu_);
  if (!keys) {
    last_failed_ = true;
    return core::Status(keys.error().code(),
                        "the keys at " + name_ + " could not be loaded: " + keys.error().message());
  }
  const size_t n = keys->size();
  keys_ = std::make_shared<const KeySet>(std::move(*keys));
  last_failed_ = false;
  ++fetches_;
  core::Logger("security")->debug("{} signing keys from {}", n, name_);
  return core::OkStatus();
}

core::Status RemoteKeySet::Start() {
  core::Status first = FetchOnce();
  thread_ = std::thread([this] { Run(); });
  return first;
}

void RemoteKeySet::Run() {
  pthread_setname_np(pthread_self(), "medulla-jwks");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Due: the regular refresh, or sooner after a failure or a request for an unknown key.
    const auto wait = last_failed_ || refresh_requested_ ? options_.min_interval : options_.refresh;
    const auto due = last_attempt_ + wait;
    if (std::chrono::steady_clock::now() < due) {
      cv_.wait_until(lock, due);  // or a request, or stopping: then look again
      continue;
    }
    lock.unlock();
    if (core::Status s = FetchOnce(); !s.ok()) {
      core::Logger("security")
          ->warn("{}; keeping the {} keys loaded before", s.message(), Keys()->size());
    }
    lock.lock();
  }
}

std::shared_ptr<const KeySet> RemoteKeySet::Keys() const {
  std::lock_guard lock(mu_);
  return keys_;
}

void RemoteKeySet::RequestRefresh() {
  {
    std::lock_guard lock(mu_);
    if (refresh_requested_) return;
    refresh_requested_ = true;
  }
  cv_.notify_all();
}

int64_t RemoteKeySet::fetches() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

}  // namespace medulla::security
