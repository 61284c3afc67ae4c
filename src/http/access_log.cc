#include "http/access_log.h"

#include <unistd.h>

namespace medulla::http {

void AccessLog::Append(std::string_view line) {
  std::lock_guard lock(mu_);
  buffer_.append(line);
  buffer_.push_back('\n');
  if (buffer_.size() >= kFlushBytes ||
      std::chrono::steady_clock::now() - last_flush_ > std::chrono::milliseconds(200)) {
    FlushLocked();
  }
}

void AccessLog::Flush() {
  std::lock_guard lock(mu_);
  FlushLocked();
}

void AccessLog::FlushLocked() {
  size_t off = 0;
  while (off < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + off, buffer_.size() - off);
    if (n <= 0) break;  // stdout closed: drop the log rather than block serving
    off += static_cast<size_t>(n);
  }
  buffer_.clear();
  last_flush_ = std::chrono::steady_clock::now();
}

}  // namespace medulla::http
