// The HTTP(S) GET client's URL handling and refusals (its exchanges with real servers are in the
// e2e test jwks_url.test.mjs).
#include "http/client.h"

#include <gtest/gtest.h>

namespace medulla::http {
namespace {

TEST(ParseUrlTest, TakesSchemeHostPortAndTarget) {
  auto u = ParseUrl("https://idp.example.org/realms/city/certs?x=1");
  ASSERT_TRUE(u) << u.error().ToString();
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->host, "idp.example.org");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/realms/city/certs?x=1");
  u = ParseUrl("http://127.0.0.1:8443");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->https);
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->target, "/");
  u = ParseUrl("https://[::1]:9000/jwks");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9000");
}

TEST(ParseUrlTest, RefusesWhatItCannotFetchSafely) {
  for (const char* bad :
       {"ftp://host/x", "idp.example.org/jwks", "https:///jwks", "https://user:pw@host/jwks",
        "https://host:443x/", "https://[::1/jwks", "https://host/a b", "https://host/jwks#frag"}) {
    EXPECT_FALSE(ParseUrl(bad)) << bad;
  }
}

TEST(FetchTest, PlainHttpOnlyToLoopback) {
  auto r = Fetch("http://idp.example.org/jwks");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("loopback"), std::string::npos);
}

TEST(FetchTest, NothingListeningIsUnavailableAndNamesTheUrl) {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  auto r = Fetch("http://127.0.0.1:1/jwks", {.timeout = std::chrono::seconds(5)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Code::kUnavailable);
  EXPECT_NE(r.error().message().find("127.0.0.1:1/jwks"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace medulla::http
