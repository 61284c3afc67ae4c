// Bulk import of FHIR Bundles (transaction, batch or collection) and NDJSON files into a
// store, used by `medulla import`. Each bundle is stored all-or-nothing; NDJSON files in
// all-or-nothing chunks. Parsing and validation of the next unit overlap the commit of the
// previous ones.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "core/status.h"
#include "json/value.h"
#include "records/record_service.h"
#include "store/store.h"

namespace medulla::records {

struct ImportStats {
  size_t files = 0;
  size_t resources = 0;  // versions written
  size_t bytes = 0;      // input bytes read
  std::map<std::string, size_t> by_type;
};

// Turns a Bundle into one store unit with FHIR transaction semantics: POST entries get new
// server ids, PUT entries keep theirs, DELETE entries delete, and every reference to an entry's
// fullUrl (urn:uuid:... or an absolute URL) is rewritten to Type/id. Collection bundles store
// each resource under its own id (or a new one). Processing order follows the spec
// (DELETE, POST, PUT). The document is modified in place.
// `entry_index`, when given, receives for each write of the unit the index of the Bundle entry
// it came from (writes are reordered into processing order).
//
// With `resolve` (REST batch and transaction; not import), conditional entries are allowed:
// POST with ifNoneExist, PUT and DELETE to Type?criteria, request.ifMatch, and conditional
// references ("Patient?identifier=x|1"). `resolve` searches (at most 2 matches are needed) and
// what it found is pinned in the writes, so the commit fails with 412 if it changed meanwhile.
//
// `reads`, when given (REST), receives the GET entries as (entry index, request.url): they are
// not writes, and are answered by the caller after the unit commits (http.html#trules: reads
// come last). Without it a GET entry is an error.
using Resolver = std::function<core::Result<std::vector<store::VersionRecord>>(
    const std::string& type, std::string_view query)>;
using BundleReads = std::vector<std::pair<size_t, std::string>>;
core::Result<store::Unit> BundleToUnit(const RecordService& records, json::Document& bundle,
                                       std::vector<size_t>* entry_index = nullptr,
                                       const Resolver& resolve = {}, BundleReads* reads = nullptr);

class Importer {
 public:
  // progress(bytes_done) is called from the importing thread after each unit is queued.
  Importer(const RecordService& records, store::Store& store,
           std::function<void(size_t bytes_done)> progress = {});

  core::Status ImportFile(const std::string& path);
  // Waits for every queued unit; returns the first failure, if any.
  core::Status Finish();
  const ImportStats& stats() const { return stats_; }

 private:
  core::Status ImportBundleFile(const std::string& path, std::string text);
  core::Status ImportNdjsonFile(const std::string& path);
  core::Status SubmitUnit(store::Unit unit, std::string origin);

  const RecordService& records_;
  store::Store& store_;
  std::function<void(size_t)> progress_;
  ImportStats stats_;

  std::mutex mu_;
  std::condition_variable cv_;
  size_t in_flight_ = 0;                             // GUARDED_BY(mu_)
  core::Status first_error_;                         // GUARDED_BY(mu_)
  std::map<std::string, size_t> committed_by_type_;  // GUARDED_BY(mu_)
  size_t committed_ = 0;                             // GUARDED_BY(mu_)
};

}  // namespace medulla::records
