// An identity provider's JWKS kept current: first fetch, refresh on request (no more often than
// min_interval), keys kept through a failed fetch, retry after a failure.
#include "security/remote_key_set.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "security/security_fixtures.h"

namespace medulla::security {
namespace {

using namespace std::chrono_literals;

const SigningKey& KeyA() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}
const SigningKey& KeyB() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}

// What the provider publishes now, and how often it was asked.
struct FakeProvider {
  std::mutex mu;
  core::Result<std::string> body = core::Fail(core::Unavailable("connection refused"));
  std::atomic<int> calls{0};

  void Publish(core::Result<std::string> b) {
    std::lock_guard lock(mu);
    body = std::move(b);
  }
  RemoteKeySet::Fetch Fetcher() {
    return [this] {
      ++calls;
      std::lock_guard lock(mu);
      return body;
    };
  }
};

// Waits up to 5 s for `done`.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

TEST(RemoteKeySetTest, StartLoadsTheKeys) {
  FakeProvider idp;
  idp.Publish(testing::KeysOf({&KeyA()}).ToJwks());
  RemoteKeySet keys("https://idp.test/jwks", idp.Fetcher(), {.refresh = 1h, .min_interval = 1h});
  ASSERT_TRUE(keys.Start().ok());
  EXPECT_NE(keys.Keys()->Find(KeyA().kid(), Algorithm::kES256), nullptr);
  EXPECT_EQ(keys.fetches(), 1);
}

TEST(RemoteKeySetTest, AnUnreachableProviderIsRetriedAfterMinInterval) {
  FakeProvider idp;
  RemoteKeySet keys("https://idp.test/jwks", idp.Fetcher(), {.refresh = 1h, .min_interval = 50ms});
  core::Status first = keys.Start();
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.message().find("https://idp.test/jwks"), std::string::npos) << first.message();
  EXPECT_EQ(keys.Keys()->size(), 0u);
  idp.Publish(testing::KeysOf({&KeyA()}).ToJwks());
  EXPECT_TRUE(Eventually([&] { return keys.Keys()->size() == 1; }));
}

TEST(RemoteKeySetTest, ARotatedKeyArrivesOnRequestAndRequestsAreNotAFlood) {
  FakeProvider idp;
  idp.Publish(testing::KeysOf({&KeyA()}).ToJwks());
  RemoteKeySet keys("https://idp.test/jwks", idp.Fetcher(), {.refresh = 1h, .min_interval = 200ms});
  ASSERT_TRUE(keys.Start().ok());
  idp.Publish(testing::KeysOf({&KeyA(), &KeyB()}).ToJwks());  // the provider rotates B in
  const auto asked = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) keys.RequestRefresh();  // tokens naming B, one after another
  ASSERT_TRUE(Eventually([&] { return keys.Keys()->Find(KeyB().kid(), Algorithm::kES256); }));
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 150ms) << "not before min_interval";
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(idp.calls.load(), 2) << "a thousand requests, one fetch";
}

TEST(RemoteKeySetTest, AFailedOrEmptyFetchKeepsTheKeysItHas) {
  FakeProvider idp;
  idp.Publish(testing::KeysOf({&KeyA()}).ToJwks());
  RemoteKeySet keys("https://idp.test/jwks", idp.Fetcher(), {.refresh = 1h, .min_interval = 30ms});
  ASSERT_TRUE(keys.Start().ok());
  idp.Publish(core::Fail(core::Unavailable("HTTP status 503")));
  keys.RequestRefresh();
  ASSERT_TRUE(Eventually([&] { return idp.calls.load() >= 2; }));
  idp.Publish(std::string(R"({"keys":[]})"));  // a set without keys is a broken publication
  ASSERT_TRUE(Eventually([&] { return idp.calls.load() >= 3; }));
  idp.Publish(std::string("<html>login</html>"));
  ASSERT_TRUE(Eventually([&] { return idp.calls.load() >= 4; }));
  EXPECT_NE(keys.Keys()->Find(KeyA().kid(), Algorithm::kES256), nullptr);
  EXPECT_EQ(keys.fetches(), 1);
}

}  // namespace
}  // namespace medulla::security
