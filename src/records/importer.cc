#include "records/importer.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "core/ids.h"
#include "fhir/resource.h"
#include "json/parse.h"

namespace medulla::records {
namespace {

constexpr size_t kMaxInFlightUnits = 8;
constexpr size_t kNdjsonChunk = 1000;
constexpr size_t kMaxImportDocumentBytes = 1024ull * 1024 * 1024;

// Rewrites every Reference.reference (any "reference" string member) found in `map`.
void RewriteReferences(json::Document& doc, json::Value& v,
                       const std::unordered_map<std::string, std::string>& map, int depth = 0) {
  if (depth > 256) return;  // validated documents are far shallower
  if (v.is_object()) {
    for (const json::Member& m : v.members()) {
      if (m.key == "reference" && m.value->is_string()) {
        auto it = map.find(std::string(m.value->text()));
        if (it != map.end()) doc.SetText(*m.value, it->second);
      } else if (m.value->is_object() || m.value->is_array()) {
        RewriteReferences(doc, *m.value, map, depth + 1);
      }
    }
  } else if (v.is_array()) {
    for (json::Value* item : v.items()) RewriteReferences(doc, *item, map, depth + 1);
  }
}

// The reference strings of the form Type?criteria in a resource (conditional references).
void CollectConditionalReferences(const json::Value& v, std::vector<std::string>& out,
                                  int depth = 0) {
  if (depth > 256) return;
  if (v.is_object()) {
    for (const json::Member& m : v.members()) {
      if (m.key == "reference" && m.value->is_string()) {
        std::string_view ref = m.value->text();
        size_t q = ref.find('?');
        if (q != std::string_view::npos && q > 0 && ref.find('/') == std::string_view::npos) {
          out.emplace_back(ref);
        }
      } else if (m.value->is_object() || m.value->is_array()) {
        CollectConditionalReferences(*m.value, out, depth + 1);
      }
    }
  } else if (v.is_array()) {
    for (const json::Value* item : v.items()) CollectConditionalReferences(*item, out, depth + 1);
  }
}

core::Status EntryError(size_t index, std::string message) {
  return core::InvalidArgument(std::move(message))
      .WithLocation(fmt::format("Bundle.entry[{}]", index));
}

// "Patient/123" (optionally with a base or a query) -> {type, id}.
bool SplitTypeId(std::string_view url, std::string& type, std::string& id) {
  size_t q = url.find('?');
  if (q != std::string_view::npos) return false;
  size_t slash = url.rfind('/');
  if (slash == std::string_view::npos) return false;
  id = std::string(url.substr(slash + 1));
  std::string_view rest = url.substr(0, slash);
  size_t prev = rest.rfind('/');
  type = std::string(prev == std::string_view::npos ? rest : rest.substr(prev + 1));
  return !type.empty() && fhir::IsValidId(id);
}

}  // namespace

core::Result<store::Unit> BundleToUnit(const RecordService& records, json::Document& doc,
                                       std::vector<size_t>* entry_index, const Resolver& resolve,
                                       BundleReads* reads) {
  json::Value& bundle = *doc.root();
  if (!bundle.is_object() || bundle.StringOr("resourceType") != "Bundle") {
    return core::Fail(core::InvalidArgument("not a FHIR Bundle").WithLocation("resourceType"));
  }
  std::string_view bundle_type = bundle.StringOr("type");
  const bool collection = bundle_type == "collection" || bundle_type == "searchset" ||
                          bundle_type == "history" || bundle_type == "document" ||
                          bundle_type == "message";
  if (!collection && bundle_type != "transaction" && bundle_type != "batch") {
    return core::Fail(core::InvalidArgument(fmt::format("cannot import a Bundle of type '{}'",
                                                        std::string(bundle_type)))
                          .WithLocation("Bundle.type"));
  }
  json::Value* entries = bundle.Find("entry");
  store::Unit unit;
  if (!entries) return unit;
  if (!entries->is_array()) {
    return core::Fail(
        core::InvalidArgument("Bundle.entry must be an array").WithLocation("Bundle.entry"));
  }

  struct Planned {
    size_t index;
    store::Operation op;
    std::string type;
    std::string id;
    json::Value* resource;
    std::optional<int64_t> if_match;
    std::optional<store::SearchQuery> condition;  // re-checked at commit
    std::optional<std::string> planned_match;     // what `condition` found when planned
  };
  // A conditional entry's criteria ("Type?query"), searched now; its result is pinned.
  auto conditional = [&](size_t i, const std::string& type, std::string_view query,
                         Planned& p) -> core::Result<std::vector<store::VersionRecord>> {
    if (!resolve) {
      return core::Fail(EntryError(i, "conditional entries are not supported in an import"));
    }
    auto parsed = records.ParseSearch(type, ParseQueryString(query), /*strict=*/true);
    if (!parsed) return core::Fail(EntryError(i, parsed.error().message()));
    auto found = resolve(type, query);
    if (!found) return core::Fail(EntryError(i, found.error().message()));
    if (found->size() > 1) {
      return core::Fail(
          core::PreconditionFailed(fmt::format("the criteria {}?{} match more than one resource",
                                               type, std::string(query)))
              .WithLocation(fmt::format("Bundle.entry[{}]", i)));
    }
    p.condition = std::move(parsed->query);
    p.planned_match = found->empty() ? "" : found->front().id;
    return found;
  };
  auto if_match = [&](size_t i, const json::Value* request, Planned& p) -> core::Status {
    const json::Value* m = request ? request->Find("ifMatch") : nullptr;
    if (!m) return core::OkStatus();
    std::string_view etag = m->is_string() ? m->text() : "";
    if (etag.starts_with("W/")) etag.remove_prefix(2);
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
      etag = etag.substr(1, etag.size() - 2);
    }
    int64_t v = 0;
    auto [end, ec] = std::from_chars(etag.data(), etag.data() + etag.size(), v);
    if (ec != std::errc() || end != etag.data() + etag.size() || v < 1) {
      return EntryError(i, "request.ifMatch must be an ETag such as W/\"3\"");
    }
    p.if_match = v;
    return core::OkStatus();
  };
  std::vector<Planned> planned;
  std::unordered_map<std::string, std::string> references;  // fullUrl -> Type/id
  std::unordered_set<std::string> identities;               // Type/id written so far
  size_t index = 0;
  for (json::Value* entry : entries->items()) {
    size_t i = index++;
    if (!entry->is_object()) return core::Fail(EntryError(i, "an entry must be an object"));
    json::Value* resource = entry->Find("resource");
    const json::Value* request = entry->Find("request");
    std::string_view method = collection ? "" : (request ? request->StringOr("method") : "");
    Planned p{i, store::Operation::kCreate, "", "", resource};
    if (!collection && method.empty()) {
      return core::Fail(EntryError(i, "a transaction entry needs request.method"));
    }
    std::string_view url = request ? request->StringOr("url") : "";
    size_t question = url.find('?');
    if (method == "GET" && reads) {
      if (url.empty()) return core::Fail(EntryError(i, "a GET entry needs request.url"));
      reads->emplace_back(i, std::string(url));
      continue;
    }
    if (method == "DELETE") {
      p.op = store::Operation::kDelete;
      if (question != std::string_view::npos && resolve) {
        // Conditional delete: the one match, at the version found (none: nothing to do).
        p.type = std::string(url.substr(0, question));
        if (!records.IsResourceType(p.type)) {
          return core::Fail(EntryError(i, fmt::format("unknown resource type '{}'", p.type)));
        }
        ASSIGN_OR_RETURN(auto found, conditional(i, p.type, url.substr(question + 1), p));
        p.id = found.empty() ? core::NewUuidV7() : found.front().id;
        if (!found.empty()) p.if_match = found.front().version;
      } else if (!SplitTypeId(url, p.type, p.id)) {
        return core::Fail(EntryError(i, "DELETE needs request.url of the form Type/id"));
      }
      RETURN_IF_ERROR(if_match(i, request, p));
    } else if (method == "GET" || method == "HEAD" || method == "PATCH") {
      return core::Fail(
          EntryError(i, fmt::format("request.method {} is not supported {}", std::string(method),
                                    resolve ? "in a Bundle" : "in an import")));
    } else {
      if (!resource || !resource->is_object()) {
        return core::Fail(EntryError(i, "the entry has no resource"));
      }
      p.type = std::string(resource->StringOr("resourceType"));
      if (!records.IsResourceType(p.type)) {
        return core::Fail(EntryError(i, fmt::format("unknown resourceType '{}'", p.type)));
      }
      if (method == "PUT") {
        std::string url_type;
        p.op = store::Operation::kUpdate;
        if (question != std::string_view::npos && resolve) {
          // Conditional update: the one match at the version found, or a new resource.
          if (url.substr(0, question) != p.type) {
            return core::Fail(EntryError(i, "request.url's type must match the resource"));
          }
          ASSIGN_OR_RETURN(auto found, conditional(i, p.type, url.substr(question + 1), p));
          if (!found.empty()) {
            std::string_view own = resource->StringOr("id");
            if (!own.empty() && own != found.front().id) {
              return core::Fail(EntryError(
                  i, fmt::format("the resource's id '{}' is not that of the resource the "
                                 "criteria match ({})",
                                 std::string(own), found.front().id)));
            }
            p.id = found.front().id;
            p.if_match = found.front().version;
          } else {
            std::string_view own = resource->StringOr("id");
            p.id = !own.empty() && fhir::IsValidId(own) ? std::string(own) : core::NewUuidV7();
          }
        } else if (!SplitTypeId(url, url_type, p.id) || url_type != p.type) {
          return core::Fail(EntryError(i, "PUT needs request.url Type/id matching the resource"));
        }
        if (request->Find("ifNoneMatch")) {
          return core::Fail(EntryError(i, "request.ifNoneMatch is not supported"));
        }
        if (!resolve && request->Find("ifMatch")) {
          return core::Fail(EntryError(i, "conditional updates are not supported in an import"));
        }
        RETURN_IF_ERROR(if_match(i, request, p));
      } else if (method == "POST") {
        p.id = core::NewUuidV7();
        if (const json::Value* ine = request->Find("ifNoneExist")) {
          // Conditional create: references to this entry go to the match, if there is one.
          std::string_view query = ine->is_string() ? ine->text() : "";
          if (query.starts_with('?')) query.remove_prefix(1);
          if (query.empty()) return core::Fail(EntryError(i, "request.ifNoneExist is empty"));
          ASSIGN_OR_RETURN(auto found, conditional(i, p.type, query, p));
          if (!found.empty()) p.id = found.front().id;
        }
      } else if (collection) {
        std::string_view own = resource->StringOr("id");
        if (!own.empty() && fhir::IsValidId(own)) {
          p.id = std::string(own);
          p.op = store::Operation::kUpdate;
        } else {
          p.id = core::NewUuidV7();
        }
      } else {
        return core::Fail(EntryError(
            i, fmt::format("request.method '{}' is not a FHIR method", std::string(method))));
      }
      // Every later reference to this entry's fullUrl points to the stored resource.
      std::string_view full_url = entry->StringOr("fullUrl");
      std::string target = p.type + "/" + p.id;
      if (!full_url.empty() && !references.emplace(std::string(full_url), target).second) {
        return core::Fail(EntryError(
            i, fmt::format("fullUrl '{}' appears more than once", std::string(full_url))));
      }
    }
    // A transaction may not touch one resource twice (https://hl7.org/fhir/R4/http.html#trules).
    if (!collection && !identities.insert(p.type + "/" + p.id).second) {
      return core::Fail(
          EntryError(i, fmt::format("{}/{} is the target of more than one entry", p.type, p.id)));
    }
    planned.push_back(std::move(p));
  }

  // Transaction processing order (https://hl7.org/fhir/R4/http.html#trules): deletes, then
  // creates, then updates.
  std::stable_sort(planned.begin(), planned.end(), [](const Planned& a, const Planned& b) {
    auto rank = [](store::Operation op) {
      return op == store::Operation::kDelete ? 0 : op == store::Operation::kCreate ? 1 : 2;
    };
    return rank(a.op) < rank(b.op);
  });
  unit.writes.reserve(planned.size());
  if (entry_index) entry_index->clear();
  for (Planned& p : planned) {
    if (entry_index) entry_index->push_back(p.index);
    store::Write w;
    w.operation = p.op;
    w.type = std::move(p.type);
    w.id = std::move(p.id);
    w.if_match = p.if_match;
    w.if_none_exist = std::move(p.condition);
    w.planned_match = std::move(p.planned_match);
    // Conditional references ("Patient?identifier=x|1") are resolved at commit, after the
    // other entries (http.html#trules); here only their criteria are checked.
    if (p.resource) {
      std::vector<std::string> refs;
      CollectConditionalReferences(*p.resource, refs);
      std::sort(refs.begin(), refs.end());
      refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
      for (std::string& ref : refs) {
        if (!resolve) {
          return core::Fail(
              EntryError(p.index, fmt::format("conditional reference '{}' in an import", ref)));
        }
        size_t q = ref.find('?');
        std::string type = ref.substr(0, q);
        if (!records.IsResourceType(type)) {
          return core::Fail(EntryError(
              p.index, fmt::format("reference '{}': '{}' is not a resource type", ref, type)));
        }
        auto parsed = records.ParseSearch(type, ParseQueryString(ref.substr(q + 1)), true);
        if (!parsed) {
          return core::Fail(EntryError(
              p.index, fmt::format("reference '{}': {}", ref, parsed.error().message())));
        }
        w.conditional_references.push_back({std::move(ref), std::move(parsed->query)});
      }
    }
    if (p.op != store::Operation::kDelete) {
      RewriteReferences(doc, *p.resource, references);
      auto prepared = records.PrepareParsed(*p.resource);
      if (!prepared) {
        core::Status s = prepared.error();
        std::vector<core::StatusDetail> details = s.details();
        for (auto& d : details) {
          d.location = fmt::format("Bundle.entry[{}].resource.{}", p.index,
                                   d.location.substr(d.location.find('.') == std::string::npos
                                                         ? d.location.size()
                                                         : d.location.find('.') + 1));
        }
        if (details.empty())
          details.push_back({"invalid", fmt::format("Bundle.entry[{}]", p.index), s.message()});
        return core::Fail(
            core::InvalidArgument(fmt::format("Bundle.entry[{}]: {}", p.index, s.message()))
                .WithDetails(std::move(details)));
      }
      w.resource = std::move(prepared->parts);
      w.index_values = std::move(prepared->index_values);
    }
    unit.writes.push_back(std::move(w));
  }
  return unit;
}

Importer::Importer(const RecordService& records, store::Store& store,
                   std::function<void(size_t)> progress)
    : records_(records), store_(store), progress_(std::move(progress)) {}

core::Status Importer::ImportFile(const std::string& path) {
  {
    std::lock_guard lock(mu_);
    if (!first_error_.ok()) return first_error_;
  }
  ++stats_.files;
  bool ndjson = path.ends_with(".ndjson") || path.ends_with(".jsonl");
  if (ndjson) return ImportNdjsonFile(path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return core::InvalidArgument(fmt::format("{}: cannot open", path));
  const auto size = static_cast<size_t>(in.tellg());
  if (size > kMaxImportDocumentBytes) {
    return core::TooLarge(fmt::format("{}: {} bytes is over the {} byte limit for one bundle", path,
                                      size, kMaxImportDocumentBytes));
  }
  std::string text(size, '\0');
  in.seekg(0);
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) {
    return core::InvalidArgument(fmt::format("{}: read error", path));
  }
  return ImportBundleFile(path, std::move(text));
}

core::Status Importer::ImportBundleFile(const std::string& path, std::string text) {
  json::ParseLimits limits = records_.options().parse_limits;
  limits.max_bytes = kMaxImportDocumentBytes;
  auto doc = json::Parse(text, limits);
  if (!doc)
    return core::Status(doc.error().code(), fmt::format("{}: {}", path, doc.error().message()));
  auto unit = BundleToUnit(records_, *doc);
  if (!unit) {
    core::Status s = unit.error();
    std::string where;
    if (!s.details().empty()) where = " at " + s.details().front().location;
    if (!s.location().empty()) where = " at " + s.location();
    std::string first_detail = s.details().empty() ? "" : ": " + s.details().front().message;
    return core::Status(s.code(), fmt::format("{}: {}{}{}", path, s.message(), where,
                                              s.details().size() == 1 ? "" : first_detail));
  }
  stats_.bytes += text.size();
  return SubmitUnit(std::move(*unit), path);
}

core::Status Importer::ImportNdjsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::InvalidArgument(fmt::format("{}: cannot open", path));
  store::Unit unit;
  std::string line;
  size_t line_no = 0;
  size_t first_line = 1;
  while (std::getline(in, line)) {
    ++line_no;
    stats_.bytes += line.size() + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto doc = json::Parse(line, records_.options().parse_limits);
    if (!doc)
      return core::InvalidArgument(fmt::format("{}:{}: {}", path, line_no, doc.error().message()));
    const json::Value& r = *doc->root();
    std::string type(r.StringOr("resourceType"));
    auto prepared = records_.PrepareParsed(r);
    if (!prepared) {
      std::string where = prepared.error().details().empty()
                              ? ""
                              : " at " + prepared.error().details().front().location;
      return core::InvalidArgument(
          fmt::format("{}:{}: {}{}", path, line_no, prepared.error().message(), where));
    }
    store::Write w;
    w.type = type;
    if (!prepared->id.empty()) {
      w.operation = store::Operation::kUpdate;  // NDJSON (bulk data) keeps the resource's id
      w.id = prepared->id;
    } else {
      w.operation = store::Operation::kCreate;
      w.id = core::NewUuidV7();
    }
    w.resource = std::move(prepared->parts);
    w.index_values = std::move(prepared->index_values);
    unit.writes.push_back(std::move(w));
    if (unit.writes.size() == kNdjsonChunk) {
      RETURN_IF_ERROR(
          SubmitUnit(std::move(unit), fmt::format("{}:{}-{}", path, first_line, line_no)));
      unit = store::Unit{};
      first_line = line_no + 1;
    }
  }
  if (!unit.writes.empty()) {
    RETURN_IF_ERROR(
        SubmitUnit(std::move(unit), fmt::format("{}:{}-{}", path, first_line, line_no)));
  }
  return core::OkStatus();
}

core::Status Importer::SubmitUnit(store::Unit unit, std::string origin) {
  std::vector<std::string> types;
  types.reserve(unit.writes.size());
  for (const auto& w : unit.writes) types.push_back(w.type + "/" + w.id);
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return in_flight_ < kMaxInFlightUnits; });
    if (!first_error_.ok()) return first_error_;
    ++in_flight_;
  }
  store_.Submit(std::move(unit), [this, origin = std::move(origin), types = std::move(types)](
                                     std::vector<store::WriteResult> results) {
    std::lock_guard lock(mu_);
    --in_flight_;
    // Report the write that failed, not the others rolled back with it (kConflict "not
    // stored: ..."), and name it by resource rather than by its position in the unit.
    const store::WriteResult* cause = nullptr;
    size_t cause_index = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      if (r.status.ok()) continue;
      bool rolled_back = r.status.message().starts_with("not stored:");
      if (!cause || (!rolled_back && cause->status.message().starts_with("not stored:"))) {
        cause = &r;
        cause_index = i;
      }
    }
    if (cause && first_error_.ok()) {
      first_error_ = core::Status(
          cause->status.code(),
          fmt::format("{}: {}: {}", origin, types[cause_index], cause->status.message()));
    }
    for (size_t i = 0; i < results.size() && !cause; ++i) {
      const auto& r = results[i];
      if (r.outcome == store::WriteOutcome::kCreated ||
          r.outcome == store::WriteOutcome::kUpdated ||
          r.outcome == store::WriteOutcome::kDeleted) {
        ++committed_;
        ++committed_by_type_[types[i].substr(0, types[i].find('/'))];
      }
    }
    cv_.notify_all();
  });
  if (progress_) progress_(stats_.bytes);
  return core::OkStatus();
}

core::Status Importer::Finish() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return in_flight_ == 0; });
  stats_.resources = committed_;
  stats_.by_type = committed_by_type_;
  return first_error_;
}

}  // namespace medulla::records
