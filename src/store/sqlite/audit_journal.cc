#include "store/sqlite/audit_journal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace medulla::store::sqlite {
namespace {

constexpr size_t kHashHex = 64;
constexpr uint32_t kMaxRecord = 16u << 20;  // far above any entry the server writes
constexpr uint32_t kMaxPatients = 100000;

template <typename T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

void PutBytes(std::string& out, std::string_view bytes) {
  Put(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
}

// Reads fields off one record's bytes; any overrun makes it !ok().
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  template <typename T>
  T Get() {
    T value{};
    if (rest_.size() < sizeof value) {
      ok_ = false;
      return value;
    }
    std::memcpy(&value, rest_.data(), sizeof value);
    rest_.remove_prefix(sizeof value);
    return value;
  }
  std::string_view Bytes(size_t n) {
    if (rest_.size() < n) {
      ok_ = false;
      return {};
    }
    std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }
  std::string_view Sized() { return Bytes(Get<uint32_t>()); }
  bool ok() const { return ok_; }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
  bool ok_ = true;
};

core::Status Errno(std::string_view what, const std::string& path) {
  return core::Internal(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

}  // namespace

StoreCipher AuditJournalKey(const StoreCipher& store_key) {
  return store_key.Derive("medulla audit journal v1");
}

bool EncodeAuditJournalRecord(const SealedAuditEntry& e, std::string& out,
                              const StoreCipher* cipher) {
  const size_t at = out.size();
  Put(out, uint32_t{0});  // the length, filled in below
  Put(out, e.seq);
  Put(out, e.recorded);
  out.append(e.prev_hash.substr(0, kHashHex));
  out.append(kHashHex - std::min(kHashHex, e.prev_hash.size()), '0');
  out.append(e.hash.substr(0, kHashHex));
  out.append(kHashHex - std::min(kHashHex, e.hash.size()), '0');
  Put(out, static_cast<uint32_t>(e.patients.size()));
  for (const std::string& p : e.patients) PutBytes(out, p);
  PutBytes(out, e.event);
  if (cipher != nullptr && !cipher->SealTail(out, at + sizeof(uint32_t))) {
    out.resize(at);
    return false;
  }
  const auto length = static_cast<uint32_t>(out.size() - at - sizeof(uint32_t));
  std::memcpy(out.data() + at, &length, sizeof length);
  return true;
}

core::Result<std::vector<SealedAuditEntry>> DecodeAuditJournal(std::string_view bytes, size_t& used,
                                                               const StoreCipher* cipher) {
  std::string opened;
  std::vector<SealedAuditEntry> entries;
  size_t at = 0;
  used = 0;
  auto damaged = [&] {
    return core::Fail(core::Internal(fmt::format("the audit journal is damaged at byte {}", at)));
  };
  while (bytes.size() - at >= sizeof(uint32_t)) {
    uint32_t length = 0;
    std::memcpy(&length, bytes.data() + at, sizeof length);
    if (length == 0) break;  // the end (or an append a kill cut short: its length comes last)
    if (length > kMaxRecord || bytes.size() - at - sizeof length < length) return damaged();
    std::string_view record = bytes.substr(at + sizeof length, length);
    if (cipher != nullptr) {
      if (record.size() < StoreCipher::kTrailerBytes) return damaged();
      if (!cipher->OpenSealed(record, opened)) {
        return core::Fail(core::Internal(fmt::format(
            "the audit journal's record at byte {} does not open with the store key", at)));
      }
      record = opened;
    }
    Reader r(record);
    SealedAuditEntry e;
    e.seq = r.Get<int64_t>();
    e.recorded = r.Get<int64_t>();
    e.prev_hash = r.Bytes(kHashHex);
    e.hash = r.Bytes(kHashHex);
    const auto patients = r.Get<uint32_t>();
    if (patients > kMaxPatients) return damaged();
    for (uint32_t i = 0; r.ok() && i < patients; ++i) e.patients.emplace_back(r.Sized());
    e.event = r.Sized();
    if (!r.ok() || !r.done() || e.seq <= 0) return damaged();
    entries.push_back(std::move(e));
    at += sizeof length + length;
    used = at;
  }
  return entries;
}

core::Result<std::unique_ptr<AuditJournal>> AuditJournal::Open(const std::string& path,
                                                               const StoreCipher* cipher,
                                                               size_t capacity) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return core::Fail(Errno("cannot open the audit journal", path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    core::Status failed = Errno("cannot stat", path);
    ::close(fd);
    return core::Fail(failed);
  }
  capacity = std::max(capacity, static_cast<size_t>(st.st_size));
  if (static_cast<size_t>(st.st_size) < capacity &&
      ::ftruncate(fd, static_cast<off_t>(capacity)) != 0) {
    core::Status failed = Errno("cannot size", path);
    ::close(fd);
    return core::Fail(failed);
  }
  void* data = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (data == MAP_FAILED) return core::Fail(Errno("cannot map", path));
  return std::unique_ptr<AuditJournal>(
      new AuditJournal(static_cast<char*>(data), capacity, cipher));
}

AuditJournal::~AuditJournal() {
  ::munmap(data_, capacity_);
}

core::Result<std::vector<SealedAuditEntry>> AuditJournal::ReadAll() {
  size_t used = 0;
  ASSIGN_OR_RETURN(std::vector<SealedAuditEntry> entries,
                   DecodeAuditJournal(std::string_view(data_, capacity_), used, cipher_));
  size_ = used;
  return entries;
}

bool AuditJournal::Append(std::span<const SealedAuditEntry> entries) {
  thread_local std::string buffer;
  buffer.clear();
  for (const SealedAuditEntry& e : entries) {
    if (!EncodeAuditJournalRecord(e, buffer, cipher_)) return false;
  }
  // Keep a zero length after the last record: it marks the end.
  if (buffer.size() + sizeof(uint32_t) > capacity_ - size_) return false;
  // Each record's length goes in after its body, so that a kill part-way leaves a clean end.
  char* out = data_ + size_;
  size_t at = 0;
  while (at < buffer.size()) {
    uint32_t length = 0;
    std::memcpy(&length, buffer.data() + at, sizeof length);
    std::memcpy(out + at + sizeof length, buffer.data() + at + sizeof length, length);
    std::atomic_signal_fence(std::memory_order_release);
    std::memcpy(out + at, &length, sizeof length);
    at += sizeof length + length;
  }
  size_ += buffer.size();
  return true;
}

}  // namespace medulla::store::sqlite
