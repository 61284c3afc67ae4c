// An identity provider's signing keys, published as a JWKS at a URL (OpenID Connect
// `jwks_uri`), kept current in the background.
//
// Providers rotate keys: a new key appears in the set before tokens are signed with it, and an
// old one leaves after its tokens have expired. So the set is fetched at start, again every
// `refresh`, and early when a token names a key id the set lacks (at most once per
// `min_interval`, so a flood of tokens with made-up key ids cannot make medulla flood the
// provider). A failed fetch keeps the keys it has (an outage of the provider does not log
// everyone out) and is retried after `min_interval`.
//
// The fetch itself is a function (http::Fetch in the server), so this class has no network
// code and its unit tests need none.
// Thread-safety: Keys() and RequestRefresh() from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"
#include "security/jose.h"

namespace medulla::security {

struct RemoteKeySetOptions {
  std::chrono::milliseconds refresh{std::chrono::minutes(5)};
  std::chrono::milliseconds min_interval{std::chrono::seconds(30)};
};

class RemoteKeySet {
 public:
  using Fetch = std::function<core::Result<std::string>()>;

  // `name` says where the keys come from in log lines (the URL).
  RemoteKeySet(std::string name, Fetch fetch, RemoteKeySetOptions options = {});
  ~RemoteKeySet();  // stops the refresher
  RemoteKeySet(const RemoteKeySet&) = delete;
  RemoteKeySet& operator=(const RemoteKeySet&) = delete;

  // The first fetch, on the caller's thread, then the refresher starts. Its error (the set is
  // empty then, and is fetched again after min_interval) is for the caller to log or refuse.
  core::Status Start();

  // The current keys (never null; empty before the first successful fetch).
  std::shared_ptr<const KeySet> Keys() const;
  // A token named a key the set lacks: fetch again soon (no more often than min_interval).
  void RequestRefresh();
  // Successful fetches so far (for tests and metrics).
  int64_t fetches() const;

 private:
  core::Status FetchOnce();
  void Run();

  const std::string name_;
  const Fetch fetch_;
  const RemoteKeySetOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const KeySet> keys_;                  // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_attempt_;  // GUARDED_BY(mu_)
  bool refresh_requested_ = false;                      // GUARDED_BY(mu_)
  bool last_failed_ = false;                            // GUARDED_BY(mu_)
  bool stopping_ = false;                               // GUARDED_BY(mu_)
  int64_t fetches_ = 0;                                 // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace medulla::security
