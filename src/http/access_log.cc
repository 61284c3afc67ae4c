#include "http/access_log.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace medulla::http {

AccessLog::AccessLog(int fd) : fd_(fd), writer_([this] { WriterLoop(); }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  writer_.join();
}

void AccessLog::Append(std::string_view line) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (buffer_.size() + line.size() + 1 > kMaxBufferedBytes) {
      ++dropped_;
      return;
    }
    buffer_.append(line);
    buffer_.push_back('\n');
    wake = buffer_.size() >= kWakeBytes;
  }
  if (wake) cv_.notify_one();
}

uint64_t AccessLog::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void AccessLog::WriterLoop() {
  std::string batch;
  for (;;) {
    bool stopping;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(200),
                   [this] { return stop_ || buffer_.size() >= kWakeBytes; });
      batch.swap(buffer_);
      stopping = stop_;
    }
    WriteAll(batch);
    batch.clear();
    if (stopping) return;
  }
}

void AccessLog::WriteAll(const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stdout closed: drop the log rather than fail anything
    off += static_cast<size_t>(n);
  }
}

}  // namespace medulla::http
