#include "store/sqlite/audit_trail.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <iterator>

#include <fmt/format.h>

namespace medulla::store::sqlite {
namespace {

constexpr std::string_view kSuffix = ".log";

std::string JournalDir(const std::string& data_dir) {
  return data_dir + "/audit-journal";
}

std::string PathOf(const std::string& dir, int64_t number) {
  return fmt::format("{}/{:012}{}", dir, number, kSuffix);
}

// The number of a journal file's name, or -1 if it is not one.
int64_t NumberOf(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  if (!name.ends_with(kSuffix)) return -1;
  std::string_view stem(name.data(), name.size() - kSuffix.size());
  int64_t n = -1;
  auto [end, ec] = std::from_chars(stem.data(), stem.data() + stem.size(), n);
  return ec == std::errc() && end == stem.data() + stem.size() ? n : -1;
}

}  // namespace

std::vector<std::string> AuditTrail::JournalFiles(const std::string& data_dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(JournalDir(data_dir), ec)) {
    if (int64_t n = NumberOf(entry.path()); n >= 0) found.emplace_back(n, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [n, path] : found) out.push_back(std::move(path));
  return out;
}

core::Status AuditTrail::OpenJournal(int64_t number) {
  const std::string path = PathOf(dir_, number);
  ::unlink(path.c_str());  // a new file: its unused rest must be zeros
  ASSIGN_OR_RETURN(journal_, AuditJournal::Open(path, cipher_ ? &*cipher_ : nullptr));
  journal_number_ = number;
  return core::OkStatus();
}

core::Status AuditTrail::Open(const std::string& data_dir, Db& writer) {
  std::lock_guard lock(mu_);
  dir_ = JournalDir(data_dir);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return core::Internal(fmt::format("cannot create {}: {}", dir_, std::strerror(errno)));
  }
  RETURN_IF_ERROR(appender_.Load(writer));
  const std::vector<std::string> files = JournalFiles(data_dir);
  std::vector<SealedAuditEntry> missing;  // journaled, not in the table (a crash, a kill)
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(std::unique_ptr<AuditJournal> journal,
                     AuditJournal::Open(file, cipher_ ? &*cipher_ : nullptr));
    ASSIGN_OR_RETURN(std::vector<SealedAuditEntry> entries, journal->ReadAll());
    for (SealedAuditEntry& e : entries) {
      if (e.seq < appender_.head().next_seq) continue;  // folded; the file was not deleted
      RETURN_IF_ERROR(appender_.Continue(e));
      missing.push_back(std::move(e));
    }
  }
  if (!missing.empty()) {
    RETURN_IF_ERROR(writer.Exec("BEGIN IMMEDIATE"));
    core::Status folded = core::OkStatus();
    for (const SealedAuditEntry& e : missing) {
      folded = AuditAppender::Insert(writer, e);
      if (!folded.ok()) break;
    }
    if (folded.ok()) folded = writer.Exec("COMMIT");
    if (!folded.ok()) {
      (void)writer.Exec("ROLLBACK");
      return folded;
    }
  }
  for (const std::string& file : files) ::unlink(file.c_str());
  RETURN_IF_ERROR(OpenJournal(files.empty() ? 1 : NumberOf(files.back()) + 1));
  const int64_t head = appender_.head().next_seq - 1;
  sealed_.store(head, std::memory_order_release);
  stored_.store(head, std::memory_order_release);
  return core::OkStatus();
}

core::Status AuditTrail::Append(std::vector<AuditEntry> entries) {
  bool first_unfolded = false;
  core::Status appended = AppendLocked(std::move(entries), first_unfolded);
  if (first_unfolded && on_first_unfolded_) on_first_unfolded_();
  return appended;
}

core::Status AuditTrail::AppendLocked(std::vector<AuditEntry> entries, bool& first_unfolded) {
  std::lock_guard lock(mu_);
  if (!journal_) return core::Unavailable("the audit log is not open");
  const AuditAppender::Head mark = appender_.head();
  const size_t first = unfolded_.size();
  for (AuditEntry& entry : entries) unfolded_.push_back(appender_.Seal(std::move(entry)));
  const auto sealed = std::span<const SealedAuditEntry>(unfolded_).subspan(first);
  core::Status appended = core::OkStatus();
  if (!journal_->Append(sealed)) {
    // Full: continue in a new file (the full one is deleted once its entries are folded).
    const std::string full = PathOf(dir_, journal_number_);
    appended = OpenJournal(journal_number_ + 1);
    if (appended.ok()) {
      closed_files_.push_back(full);
      if (!journal_->Append(sealed)) appended = core::TooLarge("an audit entry is too large");
    }
  }
  if (!appended.ok()) {
    appender_.Restore(mark);
    unfolded_.resize(first);
    return appended;
  }
  sealed_.store(appender_.head().next_seq - 1, std::memory_order_release);
  unfolded_count_.store(unfolded_.size(), std::memory_order_release);
  first_unfolded = first == 0;
  return core::OkStatus();
}

core::Result<AuditTrail::Fold> AuditTrail::BeginFold() {
  std::lock_guard lock(mu_);
  Fold fold;
  if (unfolded_.empty() && closed_files_.empty()) return fold;
  fold.entries = std::move(unfolded_);
  unfolded_.clear();
  unfolded_count_.store(0, std::memory_order_release);
  fold.files = closed_files_;
  return fold;
}

void AuditTrail::EndFold(Fold fold, bool committed) {
  if (committed) {
    for (const std::string& file : fold.files) ::unlink(file.c_str());
    std::lock_guard lock(mu_);
    std::erase_if(closed_files_, [&](const std::string& f) {
      return std::find(fold.files.begin(), fold.files.end(), f) != fold.files.end();
    });
    if (!fold.entries.empty()) stored_.store(fold.entries.back().seq, std::memory_order_release);
    return;
  }
  std::lock_guard lock(mu_);
  unfolded_.insert(unfolded_.begin(), std::make_move_iterator(fold.entries.begin()),
                   std::make_move_iterator(fold.entries.end()));
  unfolded_count_.store(unfolded_.size(), std::memory_order_release);
}

}  // namespace medulla::store::sqlite
