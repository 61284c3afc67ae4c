// The access log: one JSON line per request, appended to a shared buffer and written to stdout
// in large batches (every 32 KiB or 200 ms), so logging costs no system call per request.
// Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace medulla::http {

class AccessLog {
 public:
  explicit AccessLog(int fd = 1) : fd_(fd) { buffer_.reserve(kFlushBytes * 2); }
  ~AccessLog() { Flush(); }

  void Append(std::string_view line);
  // Writes whatever is buffered. Called by the server's periodic timer and at shutdown.
  void Flush();

 private:
  static constexpr size_t kFlushBytes = 32 * 1024;
  void FlushLocked();

  int fd_;
  std::mutex mu_;
  std::string buffer_;  // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_flush_ = std::chrono::steady_clock::now();
};

}  // namespace medulla::http
