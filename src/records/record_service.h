// The FHIR record service: create, read, update, delete, history and search with FHIR's
// semantics (validation, server-assigned ids, conditional create, version preconditions) over
// a Store. Knows nothing of HTTP: api/ parses a request, calls this, and renders the answer.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "fhir/definitions.h"
#include "fhir/validator.h"
#include "json/parse.h"
#include "records/search_request.h"
#include "store/store.h"

namespace medulla::records {

struct RecordOptions {
  json::ParseLimits parse_limits;
  fhir::ValidationLimits validation_limits;
  size_t default_page_size = 50;
  size_t max_page_size = 1000;
  size_t max_search_parameters = 64;                                 // more in one request: 400
  size_t max_values_per_parameter = 100;                             // a longer comma list: 400
  const fhir::SearchParameterRegistry* search_parameters = nullptr;  // nullptr: embedded R4
};

struct WriteReply {
  store::WriteOutcome outcome;
  store::VersionRecord record;
};
// Called exactly once, after the write is durable or has failed; possibly on another thread.
using WriteCallback = std::function<void(core::Result<WriteReply>)>;

// How the caller (api/) checks and logs writes: its access policy and audit trail.
struct WriteControl {
  // Asked for each write before it is submitted, with the patients whose compartments the new
  // content is in (none for a delete). An error refuses the write (a transaction: all of it).
  std::function<core::Status(const store::Write& write, const std::vector<std::string>& patients)>
      check;
  // Renders the unit's audit entries once its results are known (store::AuditRenderer), with
  // the patients its writes touched. Unset: no audit entries.
  std::function<std::vector<store::AuditEntry>(const std::vector<store::WriteResult>& results,
                                               const std::vector<std::string>& patients)>
      audit;
};

struct SearchReply {
  store::SearchPage page;
  // The parameters applied, normalised, for the Bundle's self link (without paging cursor).
  QueryParams applied;
  // Parameters that were not understood and ignored (lenient handling).
  std::vector<std::string> ignored;
  Summary summary = Summary::kFalse;
  std::string elements;
};

struct HistoryReply {
  store::HistoryPage page;
  QueryParams applied;
};

// A resource that passed parsing and validation, ready to be stored.
struct PreparedResource {
  fhir::ResourceParts parts;
  std::string id;                              // the id in the body, if any
  std::vector<fhir::IndexValue> index_values;  // its search index entries
};

// One entry's outcome in a batch or transaction response, in request entry order.
struct BundleEntryReply {
  core::Status status;  // a batch entry can fail alone
  store::WriteOutcome outcome = store::WriteOutcome::kCreated;
  store::VersionRecord record;
  // A GET entry: its request.url, for the caller to answer (a read or search, after the writes).
  std::string read_url;
};
struct BundleReply {
  bool transaction = false;  // else batch
  std::vector<BundleEntryReply> entries;
};
using BundleCallback = std::function<void(core::Result<BundleReply>)>;

class RecordService {
 public:
  RecordService(store::Store& store, const fhir::Definitions& definitions,
                RecordOptions options = {});

  bool IsResourceType(std::string_view type) const { return definitions_.IsResourceType(type); }
  const fhir::Definitions& definitions() const { return definitions_; }
  const RecordOptions& options() const { return options_; }

  // Parses and validates a JSON resource; `expected_type` must match its resourceType.
  core::Result<PreparedResource> Prepare(std::string_view body,
                                         std::string_view expected_type) const;
  // Validates an already parsed resource and splits it for storage.
  core::Result<PreparedResource> PrepareParsed(const json::Value& resource) const;

  // Thread-safe. `if_none_exist` is the query string of an If-None-Exist header.
  void Create(std::string_view type, std::string_view body,
              std::optional<std::string_view> if_none_exist, WriteCallback done,
              const WriteControl& control = {});
  void Update(std::string_view type, std::string_view id, std::string_view body,
              std::optional<int64_t> if_match, WriteCallback done,
              const WriteControl& control = {});
  void Delete(std::string_view type, std::string_view id, WriteCallback done,
              const WriteControl& control = {});

  // POST of a Bundle to the base: a transaction is stored all-or-nothing, with references to
  // entries' fullUrls rewritten to the new ids; a batch stores each entry on its own. Entries
  // may POST, PUT or DELETE (also conditionally) and GET: a GET entry comes back with its
  // `read_url` for the caller to answer after the writes. When there are GET entries, `done`
  // runs on the calling thread (after the commit), so the caller may search there; otherwise
  // it may run on the store's commit thread.
  void ProcessBundle(std::string_view body, BundleCallback done, const WriteControl& control = {});

  core::Result<store::VersionRecord> Read(const std::string& type, const std::string& id) const;
  core::Result<store::VersionRecord> VRead(const std::string& type, const std::string& id,
                                           std::string_view version) const;
  // `strict`: unknown or malformed parameters are errors (Prefer: handling=strict); otherwise
  // they are ignored and listed in the reply.
  // `patient_id` set: a compartment search (Patient/123/Observation?...).
  core::Result<SearchReply> Search(const std::string& type, const QueryParams& params, bool strict,
                                   std::optional<std::string_view> patient_id = {}) const;
  // Patient/123/$everything: the patient and everything in its compartment, type by type, in
  // pages. Parameters: _since, _type, _count, _cursor.
  core::Result<SearchReply> Everything(const std::string& patient_id, const QueryParams& params,
                                       bool strict) const;
  // `type` empty: system history; `id` set: instance history.
  core::Result<HistoryReply> History(const std::string& type, const std::string& id,
                                     const QueryParams& params) const;

  // Parses search parameters (also those of If-None-Exist and conditional references).
  core::Result<ParsedSearch> ParseSearch(const std::string& type, const QueryParams& params,
                                         bool strict) const;
  const fhir::SearchParameterRegistry& search_parameters() const { return search_parameters_; }

 private:
  // Commits one write as its own unit and reports it to `done`.
  void SubmitOne(store::Write write, WriteCallback done, const WriteControl& control);
  // ProcessBundle after its checks: plans and submits the (parsed) batch or transaction.
  void SubmitBundle(json::Document& doc, bool transaction, BundleCallback done,
                    const WriteControl& control);
  // Runs control.check on each write of the unit and sets its audit renderer.
  core::Status Control(store::Unit& unit, const WriteControl& control) const;
  // The patients whose compartments a write's content is in (a delete: the current version's).
  std::vector<std::string> PatientsOfWrite(const store::Write& write) const;

  store::Store& store_;
  const fhir::Definitions& definitions_;
  RecordOptions options_;
  const fhir::SearchParameterRegistry& search_parameters_;
  SearchLimits search_limits_;
};

// Splits "a=1&b=x%20y" into percent-decoded pairs. '+' means a space, as clients encode it
// (URLSearchParams, form bodies); a date's time zone then reads "... 01:00", which the search
// grammar takes back as "+01:00" (SearchDateText). `plus_is_space` = false keeps '+'.
QueryParams ParseQueryString(std::string_view query, bool plus_is_space = true);

// Every match of a search (not strict), page after page, at most `max_pages` pages of the
// query's _count: for start-up loads and lookups that need them all.
core::Status ForEachMatch(const RecordService& records, const std::string& type,
                          const QueryParams& query,
                          const std::function<void(const store::VersionRecord&)>& each,
                          size_t max_pages = 10'000);
// Encodes pairs back into a query string.
std::string EncodeQueryString(const QueryParams& params);

}  // namespace medulla::records
