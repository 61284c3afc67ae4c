#include "http/access_log.h"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace medulla::http {
namespace {

std::string Drain(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(AccessLogTest, EveryLineArrivesByShutdown) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    AccessLog log(fds[1]);
    for (int i = 0; i < 1000; ++i) log.Append("{\"n\":" + std::to_string(i) + "}");
  }
  ::close(fds[1]);
  std::string out = Drain(fds[0]);
  ::close(fds[0]);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1000);
  EXPECT_NE(out.find("{\"n\":999}\n"), std::string::npos);
}

TEST(AccessLogTest, AStalledReaderCostsDroppedLinesNotABlockedCaller) {
  ::signal(SIGPIPE, SIG_IGN);  // as medulla serve does; the closed pipe below must not kill us
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // nobody reads: the pipe fills at 64 KiB
  {
    AccessLog log(fds[1]);
    std::string line(1000, 'x');
    for (int i = 0; i < 10000; ++i) log.Append(line);  // 10 MB: must return, not block
    EXPECT_GT(log.dropped(), 0u);
    ::close(fds[0]);  // let the writer thread finish (its writes now fail)
  }
  ::close(fds[1]);
}

}  // namespace
}  // namespace medulla::http
