// The record store: current and historical versions of every resource, written through one
// commit path that gives each version a sequence number (the change-feed position).
// Implementations: sqlite/ (embedded default); PostgreSQL later. Nothing above this interface
// knows which one runs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "fhir/resource.h"
#include "fhir/search_parameters.h"
#include "store/search_query.h"

namespace medulla::store {

// How a version came to be. kUpdateCreated: a PUT that created the resource (create-on-update,
// or an update after a delete); history shows it as PUT with 201 Created.
enum class Operation : uint8_t { kCreate = 0, kUpdate = 1, kDelete = 2, kUpdateCreated = 3 };

// One stored version of one resource.
struct VersionRecord {
  std::string type;
  std::string id;
  int64_t version = 0;
  int64_t seq = 0;  // commit sequence number, unique and increasing across the store
  core::MicrosSinceEpoch last_updated = 0;
  Operation operation = Operation::kCreate;
  bool deleted() const { return operation == Operation::kDelete; }
  std::string body;  // the resource JSON; empty for a delete
};

struct SearchPage {
  std::vector<VersionRecord> resources;  // the matches, in order
  std::vector<VersionRecord> included;   // _include / _revinclude, each resource once
  bool included_truncated = false;       // more were to be included than max_included
  std::optional<std::string> next_cursor;
  std::optional<std::string> prev_cursor;
  std::optional<int64_t> total;
};

// History, newest first. `type` empty = system level; `id` set = instance level.
struct HistoryQuery {
  std::string type;
  std::string id;
  std::optional<core::MicrosSinceEpoch> since;  // lastUpdated >= since
  int64_t before_seq = 0;                       // paging cursor (exclusive); 0 = from the newest
  size_t count = 50;
};

struct HistoryPage {
  std::vector<VersionRecord> entries;
  std::optional<int64_t> next_before_seq;
};

// One requested change. For a create the caller assigns the id (a fresh UUID).
struct Write {
  Operation operation = Operation::kCreate;
  std::string type;
  std::string id;
  fhir::ResourceParts resource;     // create and update
  std::optional<int64_t> if_match;  // update: the version the client last saw
  // Conditional create (a create) or the criteria a bundle entry was planned with (any
  // operation), searched again at commit.
  std::optional<SearchQuery> if_none_exist;
  // What `if_none_exist` found when the bundle was planned: "" none, else the id of the one
  // match. When set, the commit fails with kPreconditionFailed if the search now finds
  // something else (a concurrent write changed it): no entry acts on a stale decision.
  std::optional<std::string> planned_match;
  // Conditional references in the resource ("Patient?identifier=x|1", as written) with their
  // criteria. At commit, after the unit's other writes (http.html#trules), each is replaced in
  // the stored resource by Type/id of its one match; none or several fail the unit (412).
  struct ConditionalReference {
    std::string reference;
    SearchQuery query;
  };
  std::vector<ConditionalReference> conditional_references;
  // The resource's search index values (fhir::ExtractIndexValues). Extracted by the caller,
  // off the commit thread; when absent the store extracts them itself.
  std::optional<std::vector<fhir::IndexValue>> index_values;
};

enum class WriteOutcome : uint8_t {
  kCreated,   // a new resource (201)
  kUpdated,   // a new version of an existing resource (200)
  kDeleted,   // a tombstone version was written
  kExisting,  // conditional create matched one resource; nothing written
  kNoChange,  // delete of a resource that does not exist or is already deleted
};

struct WriteResult {
  core::Status status;  // a failed precondition, a conflict...
  WriteOutcome outcome = WriteOutcome::kCreated;
  VersionRecord record;  // the version written (or found, for kExisting)
};

// One entry of the audit log: an AuditEvent, appended in commit order to an append-only log in
// which each entry's hash covers the previous entry's (docs/security.md). The log's sequence
// number is the AuditEvent's id.
struct AuditEntry {
  std::string event;                  // the AuditEvent JSON, without id
  std::vector<std::string> patients;  // the patients whose records the event touched
  core::MicrosSinceEpoch recorded = 0;
};
// A unit's audit entries, rendered on the commit thread once its writes' results are known, and
// appended in the same transaction (outside the unit's savepoint, so a failed write is logged
// as failed). Keep it short.
using AuditRenderer = std::function<std::vector<AuditEntry>(const std::vector<WriteResult>&)>;

// A unit commits all-or-nothing: if any write fails, none of the unit is stored, and every
// write reports a status (the failing one its own, the others kConflict "rolled back").
struct Unit {
  std::vector<Write> writes;
  AuditRenderer audit;  // optional
};

// The audit log, newest first. `patient` set: the entries that touched that patient (also for
// one entry by `seq`: none unless it touched them).
struct AuditQuery {
  std::string patient;
  int64_t seq = 0;         // one entry (GET AuditEvent/123); 0: a search
  int64_t before_seq = 0;  // paging cursor (exclusive); 0 = from the newest
  size_t count = 50;
};
struct AuditRecord {
  int64_t seq = 0;
  core::MicrosSinceEpoch recorded = 0;
  std::string event;
};
struct AuditPage {
  std::vector<AuditRecord> entries;
  std::optional<int64_t> next_before_seq;
};

// Called once the unit is durable (or has failed), on the store's commit thread: keep it short.
using UnitCallback = std::function<void(std::vector<WriteResult>)>;

struct StoreStats {
  int64_t last_seq = 0;
  int64_t queue_depth = 0;  // units waiting for the commit thread
};

class Store {
 public:
  virtual ~Store() = default;

  // Queues a unit for the commit thread. Thread-safe. Units submitted while a commit is in
  // flight share the next transaction and its single fsync (group commit).
  virtual void Submit(Unit unit, UnitCallback done) = 0;

  // Reads, from any thread. Errors: kNotFound, kGone (deleted: the tombstone is in the error
  // message's record), kInternal.
  virtual core::Result<VersionRecord> ReadCurrent(const std::string& type,
                                                  const std::string& id) = 0;
  virtual core::Result<VersionRecord> ReadVersion(const std::string& type, const std::string& id,
                                                  int64_t version) = 0;
  virtual core::Result<SearchPage> Search(const SearchQuery& query) = 0;
  virtual core::Result<HistoryPage> History(const HistoryQuery& query) = 0;
  // The change feed: versions committed after `after_seq`, oldest first, at most `limit`.
  // With a feed position kept durably, a consumer picks up after a restart where it stopped.
  virtual core::Result<std::vector<VersionRecord>> Changes(int64_t after_seq, size_t limit) = 0;

  // Appends audit entries on their own (a read's, a denial's); `done` runs once they are in
  // the log (durable across a process crash) or have failed, possibly on the calling thread.
  virtual void Audit(std::vector<AuditEntry> entries, std::function<void(core::Status)> done) = 0;
  virtual core::Result<AuditPage> AuditSearch(const AuditQuery& query) = 0;

  virtual StoreStats Stats() const = 0;

  // Called on the commit thread after each commit, with the last sequence number: a change-feed
  // reader's wake-up (it reads the changes through Changes). Set it before writes begin.
  virtual void SetCommitListener(std::function<void(int64_t last_seq)> listener) = 0;

  // Finishes every queued unit, stops the commit thread and makes everything durable (with
  // any synchronous mode). Further submits fail kUnavailable. Idempotent.
  virtual core::Status Close() = 0;
};

// Submits and waits. For tools (import) and tests; never call on an I/O thread.
std::vector<WriteResult> CommitAndWait(Store& store, Unit unit);

}  // namespace medulla::store
