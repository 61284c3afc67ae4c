// FHIR Bulk Data export (https://hl7.org/fhir/uv/bulkdata/STU2/export.html): $export at system,
// Patient and Group level as asynchronous jobs that write one NDJSON file per resource type
// (split every `max_lines_per_file` lines) into a directory of their own, report progress while
// they run, and are cancelled (files deleted) with DELETE on their status URL. Jobs live in
// memory: a restart forgets them (their files are removed on start-up).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "records/record_service.h"
#include "store/sqlite/store_cipher.h"
#include "store/store.h"

namespace medulla::bulk {

struct ExportOptions {
  std::string directory = "var/medulla/exports";
  size_t max_running_jobs = 2;          // more at once: 429
  size_t max_kept_jobs = 32;            // finished jobs kept for download; the oldest go first
  std::chrono::seconds keep_for{3600};  // finished jobs and their files expire after this
  size_t max_lines_per_file = 100000;
  size_t page_size = 1000;  // resources read per store search
  // An encrypted store's key: the files are sealed with a key derived from it, in chunks of
  // 64 KiB (AES-256-GCM, each bound to its file, place and whether it is the last), and opened
  // when downloaded. Unset: plain NDJSON.
  std::optional<store::sqlite::StoreCipher> store_key;
};

enum class ExportLevel : uint8_t { kSystem, kPatient, kGroup };

struct ExportRequest {
  ExportLevel level = ExportLevel::kSystem;
  std::string group_id;                         // kGroup
  std::vector<std::string> types;               // _type; empty: every type the level covers
  std::optional<core::MicrosSinceEpoch> since;  // _since
  std::string request_url;                      // echoed in the manifest
};

struct ExportFile {
  std::string type;
  std::string name;  // file name within the job's directory
  int64_t count = 0;
};

struct ExportStatus {
  enum class State : uint8_t { kRunning, kDone, kFailed };
  State state = State::kRunning;
  core::MicrosSinceEpoch transaction_time = 0;
  std::string request_url;
  int64_t resources = 0;  // written so far
  int64_t types_done = 0;
  int64_t types_total = 0;
  std::vector<ExportFile> files;
  std::string error;  // kFailed
};

class ExportManager {
 public:
  ExportManager(const records::RecordService& records, store::Store& store, ExportOptions options);
  ~ExportManager();  // cancels running jobs and waits for them
  ExportManager(const ExportManager&) = delete;
  ExportManager& operator=(const ExportManager&) = delete;

  // Errors: kInvalidArgument (bad _type, unknown group), kResourceExhausted (too many jobs
  // running), kInternal (cannot create the directory).
  core::Result<std::string> Start(ExportRequest request);
  // Errors: kNotFound (unknown or expired job).
  core::Result<ExportStatus> Status(const std::string& job_id);
  // Stops the job if it runs and deletes it with its files. Errors: kNotFound.
  core::Status Delete(const std::string& job_id);
  // The NDJSON of a finished job's file, for download. Errors: kNotFound; kInternal (the
  // file is damaged, or an encrypted one does not open).
  core::Result<std::string> ReadFile(const std::string& job_id, const std::string& name);

 private:
  struct Job {
    std::string id;
    std::string dir;
    ExportRequest request;
    std::chrono::steady_clock::time_point finished_at;
    std::atomic<bool> cancel = false;
    std::mutex mu;
    ExportStatus status;  // GUARDED_BY(mu)
    std::thread thread;
  };
  void Run(Job& job);
  core::Status Export(Job& job);
  void Expire();  // with mu_ held

  const records::RecordService& records_;
  store::Store& store_;
  ExportOptions options_;
  std::optional<store::sqlite::StoreCipher> file_key_;  // derived from options_.store_key
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Job>> jobs_;  // GUARDED_BY(mu_)
};

}  // namespace medulla::bulk
