#include "bulk/export.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_set>

#include "core/ids.h"
#include "core/logging.h"
#include "fhir/compartments.h"
#include "json/parse.h"
#include "records/search_request.h"

namespace medulla::bulk {
namespace {

using store::sqlite::StoreCipher;

using store::SearchFilter;
using store::SearchValue;

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = core::Logger("export");
  return logger;
}

// Patients per compartment filter when a Group is exported (the search's OR-list limit).
constexpr size_t kPatientsPerQuery = 100;

// Group-level Patient resources: the members themselves (their compartments would add the
// Patients that link to them).
SearchFilter IsOneOf(const std::vector<std::string>& patients) {
  SearchFilter ids;
  ids.kind = SearchFilter::Kind::kId;
  ids.param = "_id";
  for (const std::string& p : patients) ids.any_of.push_back(SearchValue{.text = p});
  return ids;
}

constexpr size_t kSealedChunk = 64 * 1024;

// What a sealed chunk is bound to: its file (the job's directory and the file's name), its
// place in it, and whether it ends the file (so
// chunks cannot be moved, dropped or cut off unnoticed).
std::string ChunkAad(std::string_view file, uint64_t index, bool last) {
  return fmt::format("{}\n{}\n{}", file, index, last ? "last" : "more");
}

// Writes NDJSON lines into <dir>/<Type>-<n>.ndjson, starting a new file every `max_lines`.
// With a key, each file is a run of sealed chunks: u32 length, ciphertext, nonce and tag.
class NdjsonWriter {
 public:
  NdjsonWriter(std::string dir, std::string type, size_t max_lines, const StoreCipher* key)
      : dir_(std::move(dir)), type_(std::move(type)), max_lines_(max_lines), key_(key) {}

  core::Status Write(std::string_view line) {
    if (!out_.is_open() || lines_ == max_lines_) RETURN_IF_ERROR(Next());
    ++lines_;
    ++files_.back().count;
    if (key_ == nullptr) {
      out_.write(line.data(), static_cast<std::streamsize>(line.size()));
      out_.put('\n');
    } else {
      pending_.append(line);
      pending_.push_back('\n');
      if (pending_.size() >= kSealedChunk) RETURN_IF_ERROR(Seal(/*last=*/false));
    }
    if (!out_) return core::Internal(fmt::format("writing {}: disk full?", files_.back().name));
    return core::OkStatus();
  }
  core::Result<std::vector<ExportFile>> Finish() {
    RETURN_IF_ERROR(Close());
    return files_;
  }

 private:
  core::Status Close() {
    if (!out_.is_open()) return core::OkStatus();
    if (key_ != nullptr) RETURN_IF_ERROR(Seal(/*last=*/true));
    out_.close();
    if (out_.fail()) return core::Internal("closing an export file failed");
    return core::OkStatus();
  }
  core::Status Seal(bool last) {
    if (!key_->SealTail(pending_, 0, ChunkAad(dir_ + "/" + files_.back().name, chunks_++, last))) {
      return core::Internal("sealing an export file failed");
    }
    const auto length = static_cast<uint32_t>(pending_.size());
    out_.write(reinterpret_cast<const char*>(&length), sizeof length);
    out_.write(pending_.data(), static_cast<std::streamsize>(pending_.size()));
    pending_.clear();
    return core::OkStatus();
  }
  core::Status Next() {
    RETURN_IF_ERROR(Close());
    ExportFile f{type_, fmt::format("{}-{}.ndjson", type_, files_.size() + 1), 0};
    out_.open(dir_ + "/" + f.name, std::ios::binary | std::ios::trunc);
    if (!out_) return core::Internal("cannot create " + f.name);
    files_.push_back(std::move(f));
    lines_ = 0;
    chunks_ = 0;
    return core::OkStatus();
  }

  std::string dir_;
  std::string type_;
  size_t max_lines_;
  const StoreCipher* key_;
  std::ofstream out_;
  size_t lines_ = 0;
  uint64_t chunks_ = 0;
  std::string pending_;  // lines not yet sealed
  std::vector<ExportFile> files_;
};

// The NDJSON of a sealed export file.
core::Result<std::string> OpenSealedFile(const StoreCipher& key, std::string_view path,
                                         std::string_view name, std::string_view bytes) {
  std::string out;
  std::string chunk;
  for (uint64_t index = 0;; ++index) {
    uint32_t length = 0;
    if (bytes.size() < sizeof length) break;
    std::memcpy(&length, bytes.data(), sizeof length);
    bytes.remove_prefix(sizeof length);
    if (length > bytes.size()) break;
    const std::string_view sealed = bytes.substr(0, length);
    bytes.remove_prefix(length);
    const bool last = bytes.empty();
    if (!key.OpenSealed(sealed, chunk, ChunkAad(path, index, last))) break;
    out += chunk;
    if (last) return out;
  }
  return core::Fail(core::Internal(fmt::format("the export file {} is damaged", name)));
}

}  // namespace

ExportManager::ExportManager(const records::RecordService& records, store::Store& store,
                             ExportOptions options)
    : records_(records), store_(store), options_(std::move(options)) {
  if (options_.store_key) file_key_ = options_.store_key->Derive("medulla export files v1");
  // Jobs do not survive a restart; neither do their files.
  std::error_code ec;
  std::filesystem::remove_all(options_.directory, ec);
}

ExportManager::~ExportManager() {
  std::map<std::string, std::unique_ptr<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    jobs.swap(jobs_);
  }
  for (auto& [id, job] : jobs) {
    job->cancel = true;
    if (job->thread.joinable()) job->thread.join();
  }
}

core::Result<std::string> ExportManager::Start(ExportRequest request) {
  // The types this level covers, narrowed by _type.
  std::vector<std::string> covered;
  if (request.level == ExportLevel::kSystem) {
    covered = records_.definitions().ResourceTypes();
  } else {
    covered = fhir::PatientCompartment::Embedded().Types();
  }
  if (!request.types.empty()) {
    for (const std::string& t : request.types) {
      if (std::find(covered.begin(), covered.end(), t) == covered.end()) {
        return core::Fail(core::InvalidArgument(
            fmt::format("_type: {} is not a resource type this export covers", t)));
      }
    }
    covered = request.types;
  }
  request.types = std::move(covered);
  if (request.level == ExportLevel::kGroup) {
    auto group = store_.ReadCurrent("Group", request.group_id);
    if (!group) return core::Fail(group.error());
  }

  auto job = std::make_unique<Job>();
  job->id = core::NewUuidV7();
  job->dir = options_.directory + "/" + job->id;
  job->status.transaction_time = core::SystemClock::Instance().Now() / 1000 * 1000;
  job->status.request_url = request.request_url;
  job->status.types_total = static_cast<int64_t>(request.types.size());
  job->request = std::move(request);
  std::error_code ec;
  std::filesystem::create_directories(job->dir, ec);
  if (ec) {
    return core::Fail(core::Internal(fmt::format("cannot create {}: {}", job->dir, ec.message())));
  }
  std::lock_guard lock(mu_);
  Expire();
  size_t running = 0;
  for (auto& [id, j] : jobs_) {
    std::lock_guard job_lock(j->mu);
    if (j->status.state == ExportStatus::State::kRunning) ++running;
  }
  if (running >= options_.max_running_jobs) {
    std::filesystem::remove_all(job->dir, ec);
    return core::Fail(core::ResourceExhausted(
        fmt::format("{} exports are running already; try again later", running)));
  }
  Job& j = *job;
  std::string id = job->id;
  jobs_.emplace(id, std::move(job));
  j.thread = std::thread([this, &j] { Run(j); });
  return id;
}

void ExportManager::Run(Job& job) {
  auto started = std::chrono::steady_clock::now();
  core::Status s = Export(job);
  std::lock_guard lock(job.mu);
  job.finished_at = std::chrono::steady_clock::now();
  if (s.ok()) {
    job.status.state = ExportStatus::State::kDone;
    Log()->info("export {}: {} resources in {:.1f} s", job.id, job.status.resources,
                std::chrono::duration<double>(job.finished_at - started).count());
  } else {
    job.status.state = ExportStatus::State::kFailed;
    job.status.error = s.message();
    if (!job.cancel) Log()->warn("export {} failed: {}", job.id, s.message());
  }
}

core::Status ExportManager::Export(Job& job) {
  const ExportRequest& req = job.request;
  const auto& registry = records_.search_parameters();
  // The group's patients, in chunks of one OR list each.
  std::vector<std::vector<std::string>> patient_chunks;
  if (req.level == ExportLevel::kGroup) {
    ASSIGN_OR_RETURN(store::VersionRecord group, store_.ReadCurrent("Group", req.group_id));
    ASSIGN_OR_RETURN(json::Document doc, json::Parse(group.body));
    std::vector<std::string> patients;
    if (const json::Value* members = doc.root()->Find("member"); members && members->is_array()) {
      for (const json::Value* m : members->items()) {
        const json::Value* entity = m->is_object() ? m->Find("entity") : nullptr;
        std::string_view ref = entity && entity->is_object() ? entity->StringOr("reference") : "";
        if (ref.starts_with("Patient/")) patients.emplace_back(ref.substr(8));
      }
    }
    for (size_t i = 0; i < patients.size(); i += kPatientsPerQuery) {
      patient_chunks.emplace_back(patients.begin() + static_cast<std::ptrdiff_t>(i),
                                  patients.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                         patients.size(), i + kPatientsPerQuery)));
    }
  } else {
    patient_chunks.emplace_back();  // one pass; for kPatient: "of any patient"
  }
  for (const std::string& type : req.types) {
    NdjsonWriter writer(job.dir, type, options_.max_lines_per_file,
                        file_key_ ? &*file_key_ : nullptr);
    std::unordered_set<std::string> seen;  // a resource in two members' compartments, once
    for (const auto& patients : patient_chunks) {
      store::SearchQuery q;
      q.type = type;
      q.count = options_.page_size;
      // Patient level, Patient: every patient. Otherwise what is in the patients' compartments.
      bool all_patients = req.level == ExportLevel::kPatient && type == "Patient";
      if (req.level != ExportLevel::kSystem && !all_patients) {
        if (type == "Patient") {
          q.filters.push_back(IsOneOf(patients));
        } else {
          auto in = records::PatientCompartmentFilter(registry, type, patients);
          if (!in) continue;  // nothing of this type can be in a patient's compartment
          q.filters.push_back(std::move(*in));
        }
      }
      // Nothing written after the transaction time (the manifest's promise), nothing before
      // _since.
      q.filters.push_back(
          records::LastUpdatedFilter(store::Comparator::kLt, job.status.transaction_time + 1000));
      if (req.since) {
        q.filters.push_back(records::LastUpdatedFilter(store::Comparator::kGe, *req.since));
      }
      for (;;) {
        if (job.cancel) return core::Unavailable("the export was cancelled");
        ASSIGN_OR_RETURN(store::SearchPage page, store_.Search(q));
        int64_t written = 0;
        for (const store::VersionRecord& r : page.resources) {
          if (patient_chunks.size() > 1 && !seen.insert(r.id).second) continue;
          RETURN_IF_ERROR(writer.Write(r.body));
          ++written;
        }
        {
          std::lock_guard lock(job.mu);
          job.status.resources += written;
        }
        if (!page.next_cursor) break;
        q.cursor = *page.next_cursor;
      }
    }
    ASSIGN_OR_RETURN(std::vector<ExportFile> files, writer.Finish());
    std::lock_guard lock(job.mu);
    for (auto& f : files) job.status.files.push_back(std::move(f));
    ++job.status.types_done;
  }
  return core::OkStatus();
}

core::Result<ExportStatus> ExportManager::Status(const std::string& job_id) {
  std::lock_guard lock(mu_);
  Expire();
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return core::Fail(core::NotFound(fmt::format("no export job {}", job_id)));
  }
  std::lock_guard job_lock(it->second->mu);
  return it->second->status;
}

core::Status ExportManager::Delete(const std::string& job_id) {
  std::unique_ptr<Job> job;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return core::NotFound(fmt::format("no export job {}", job_id));
    job = std::move(it->second);
    jobs_.erase(it);
  }
  job->cancel = true;
  if (job->thread.joinable()) job->thread.join();
  std::error_code ec;
  std::filesystem::remove_all(job->dir, ec);
  return core::OkStatus();
}

core::Result<std::string> ExportManager::ReadFile(const std::string& job_id,
                                                  const std::string& name) {
  std::string path;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      return core::Fail(core::NotFound(fmt::format("no export job {}", job_id)));
    }
    std::lock_guard job_lock(it->second->mu);
    const ExportStatus& s = it->second->status;
    if (s.state == ExportStatus::State::kDone) {
      for (const ExportFile& f : s.files) {
        if (f.name == name) path = it->second->dir + "/" + f.name;
      }
    }
  }
  if (path.empty()) {
    return core::Fail(core::NotFound(fmt::format("export {} has no file {}", job_id, name)));
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return core::Fail(core::Internal("cannot read the export file (expired meanwhile?)"));
  }
  if (!file_key_) return bytes;
  return OpenSealedFile(*file_key_, path, name, bytes);
}

void ExportManager::Expire() {
  auto now = std::chrono::steady_clock::now();
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> finished;
  for (auto& [id, job] : jobs_) {
    std::lock_guard lock(job->mu);
    if (job->status.state != ExportStatus::State::kRunning) {
      finished.emplace_back(job->finished_at, id);
    }
  }
  std::sort(finished.begin(), finished.end());
  size_t excess = jobs_.size() > options_.max_kept_jobs ? jobs_.size() - options_.max_kept_jobs : 0;
  for (size_t i = 0; i < finished.size(); ++i) {
    if (i >= excess && now - finished[i].first < options_.keep_for) continue;
    auto it = jobs_.find(finished[i].second);
    if (it->second->thread.joinable()) it->second->thread.join();  // finished: returns at once
    std::error_code ec;
    std::filesystem::remove_all(it->second->dir, ec);
    jobs_.erase(it);
  }
}

}  // namespace medulla::bulk
