// The access log: one JSON line per request. I/O threads only append to a bounded buffer; a
// dedicated thread writes it to the file descriptor every 200 ms or 32 KiB. A slow reader of
// stdout (a full pipe, a stalled log collector) can therefore never stall request handling:
// past 4 MiB of backlog, lines are dropped and counted. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace medulla::http {

class AccessLog {
 public:
  explicit AccessLog(int fd = 1);
  ~AccessLog();  // writes what is buffered, then stops the writer thread
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void Append(std::string_view line);
  uint64_t dropped() const;

 private:
  static constexpr size_t kWakeBytes = 32 * 1024;
  static constexpr size_t kMaxBufferedBytes = 4 * 1024 * 1024;
  void WriterLoop();
  void WriteAll(const std::string& data);

  int fd_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;    // GUARDED_BY(mu_)
  bool stop_ = false;     // GUARDED_BY(mu_)
  uint64_t dropped_ = 0;  // GUARDED_BY(mu_)
  std::thread writer_;
};

}  // namespace medulla::http
