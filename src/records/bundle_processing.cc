// RecordService::ProcessBundle: batch and transaction Bundles posted to the base URL.
#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "json/parse.h"
#include "records/importer.h"
#include "records/record_service.h"

namespace medulla::records {
namespace {

// The status that explains a failed transaction: the write that failed, not the writes that
// were rolled back with it.
core::Status Cause(const std::vector<store::WriteResult>& results,
                   const std::vector<size_t>& entry_index) {
  const core::Status* rolled_back = nullptr;
  for (size_t i = 0; i < results.size(); ++i) {
    const core::Status& s = results[i].status;
    if (s.ok()) continue;
    if (!s.message().starts_with("not stored:")) {
      return core::Status(s.code(),
                          fmt::format("Bundle.entry[{}]: {}", entry_index[i], s.message()));
    }
    rolled_back = &s;
  }
  return rolled_back ? *rolled_back : core::Internal("the transaction failed");
}

// A batch entry is planned alone as entry 0 of a wrapper Bundle: put its real index back into
// the locations the error names.
core::Status AtEntry(const core::Status& s, size_t index) {
  auto fix = [index](std::string text) {
    const std::string from = "Bundle.entry[0]";
    if (text.starts_with(from))
      text = fmt::format("Bundle.entry[{}]", index) + text.substr(from.size());
    return text;
  };
  std::vector<core::StatusDetail> details = s.details();
  for (auto& d : details) d.location = fix(d.location);
  core::Status out(s.code(), fix(s.message()));
  if (!s.location().empty()) out.WithLocation(fix(s.location()));
  return std::move(out).WithDetails(std::move(details));
}

}  // namespace

void RecordService::ProcessBundle(std::string_view body, BundleCallback done,
                                  const WriteControl& control) {
  auto parsed = json::Parse(body, options_.parse_limits);
  if (!parsed) return done(core::Fail(parsed.error()));
  // The document must outlive the asynchronous commit only as far as BundleToUnit's output,
  // which owns its strings; it can go when this function returns.
  json::Document& doc = *parsed;
  const json::Value& root = *doc.root();
  if (!root.is_object() || root.StringOr("resourceType") != "Bundle") {
    return done(core::Fail(
        core::InvalidArgument("POST to the base URL takes a Bundle").WithLocation("resourceType")));
  }
  std::string_view type = root.StringOr("type");
  if (type != "transaction" && type != "batch") {
    return done(core::Fail(core::InvalidArgument("the Bundle's type must be transaction or batch")
                               .WithLocation("Bundle.type")));
  }
  const bool transaction = type == "transaction";

  // GET entries are answered by the caller after the writes, and may search: never on the
  // commit thread (a search waits for the index, which the commit thread writes). So with GET
  // entries, this thread waits for the writes and calls `done` itself.
  const json::Value* entries = root.Find("entry");
  const bool has_reads =
      entries && entries->is_array() &&
      std::any_of(entries->items().begin(), entries->items().end(), [](const json::Value* e) {
        const json::Value* request = e->Find("request");
        return request && request->StringOr("method") == "GET";
      });
  if (!has_reads) return SubmitBundle(doc, transaction, std::move(done), control);
  auto on_this_thread = std::make_shared<std::promise<core::Result<BundleReply>>>();
  SubmitBundle(
      doc, transaction,
      [on_this_thread](core::Result<BundleReply> r) { on_this_thread->set_value(std::move(r)); },
      control);
  done(on_this_thread->get_future().get());
}

void RecordService::SubmitBundle(json::Document& doc, bool transaction, BundleCallback done,
                                 const WriteControl& control) {
  const json::Value* entries = doc.root()->Find("entry");
  const size_t n = entries && entries->is_array() ? entries->size() : 0;
  // Conditional entries and references search the store now; the commit checks the results.
  Resolver resolve =
      [this](const std::string& t,
             std::string_view query) -> core::Result<std::vector<store::VersionRecord>> {
    ASSIGN_OR_RETURN(ParsedSearch parsed, ParseSearch(t, ParseQueryString(query), true));
    parsed.query.count = 2;
    ASSIGN_OR_RETURN(store::SearchPage page, store_.Search(parsed.query));
    return std::move(page.resources);
  };
  if (transaction) {
    std::vector<size_t> entry_index;
    BundleReads reads;
    auto unit = BundleToUnit(*this, doc, &entry_index, resolve, &reads);
    if (!unit) return done(core::Fail(unit.error()));
    if (core::Status s = Control(*unit, control); !s.ok()) return done(core::Fail(std::move(s)));
    auto committed = [done = std::move(done), entry_index = std::move(entry_index),
                      reads = std::move(reads), n](std::vector<store::WriteResult> results) {
      for (const auto& r : results) {
        if (!r.status.ok()) return done(core::Fail(Cause(results, entry_index)));
      }
      BundleReply reply;
      reply.transaction = true;
      reply.entries.resize(n);
      for (size_t i = 0; i < results.size(); ++i) {
        BundleEntryReply& e = reply.entries[entry_index[i]];
        e.outcome = results[i].outcome;
        e.record = std::move(results[i].record);
      }
      for (const auto& [i, url] : reads) reply.entries[i].read_url = url;
      done(std::move(reply));
    };
    if (unit->writes.empty()) return committed({});
    store_.Submit(std::move(*unit), std::move(committed));
    return;
  }

  // Batch: every entry is a one-entry transaction of its own, and fails alone. Each is planned
  // through a small wrapper Bundle that points at the entry in the parsed document.
  struct Pending {
    std::mutex mu;
    BundleReply reply;
    size_t remaining;
    BundleCallback done;
  };
  auto pending = std::make_shared<Pending>();
  pending->reply.entries.resize(n);
  pending->remaining = n;
  pending->done = std::move(done);
  auto finish_one = [pending](size_t i, BundleEntryReply entry) {
    BundleCallback done;
    {
      std::lock_guard lock(pending->mu);
      pending->reply.entries[i] = std::move(entry);
      if (--pending->remaining != 0) return;
      done = std::move(pending->done);
    }
    done(std::move(pending->reply));
  };
  if (n == 0) {
    auto cb = std::move(pending->done);
    return cb(BundleReply{});
  }
  for (size_t i = 0; i < n; ++i) {
    json::Value* entry = entries->items()[i];
    json::Member members[] = {{"resourceType", doc.NewString("Bundle")},
                              {"type", doc.NewString("transaction")},
                              {"entry", doc.NewArray(std::span<json::Value* const>(&entry, 1))}};
    json::Value* wrapper = doc.NewObject(members);
    json::Value* saved_root = doc.root();
    doc.set_root(wrapper);
    BundleReads reads;
    auto unit = BundleToUnit(*this, doc, nullptr, resolve, &reads);
    doc.set_root(saved_root);
    if (!unit) {
      finish_one(i, BundleEntryReply{AtEntry(unit.error(), i), {}, {}, {}});
      continue;
    }
    if (core::Status s = Control(*unit, control); !s.ok()) {
      finish_one(i, BundleEntryReply{AtEntry(s, i), {}, {}, {}});
      continue;
    }
    if (!reads.empty()) {
      BundleEntryReply read;
      read.read_url = std::move(reads.front().second);
      finish_one(i, std::move(read));
      continue;
    }
    store_.Submit(std::move(*unit), [finish_one, i](std::vector<store::WriteResult> results) {
      store::WriteResult& r = results.front();
      finish_one(i, BundleEntryReply{std::move(r.status), r.outcome, std::move(r.record), {}});
    });
  }
}

}  // namespace medulla::records
