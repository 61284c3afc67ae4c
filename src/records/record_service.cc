#include "records/record_service.h"

#include "fhir/compartments.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/ids.h"
#include "core/time.h"
#include "fhir/compartments.h"
#include "fhir/resource.h"

namespace medulla::records {
namespace {

core::Status InvalidId(std::string_view id) {
  return core::InvalidArgument(fmt::format("'{}' is not a valid FHIR id", std::string(id)));
}

core::Status ValidationFailure(const std::vector<fhir::ValidationIssue>& issues) {
  std::vector<core::StatusDetail> details;
  details.reserve(issues.size());
  for (const auto& i : issues) {
    details.push_back({std::string(fhir::IssueTypeCode(i.type)), i.expression, i.message});
  }
  std::string summary = issues.size() == 1 ? issues.front().message
                                           : fmt::format("{} validation errors", issues.size());
  return core::InvalidArgument(std::move(summary)).WithDetails(std::move(details));
}

std::optional<int64_t> ParsePositive(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

std::vector<std::string> RecordService::PatientsOfWrite(const store::Write& write) const {
  if (write.index_values) return fhir::PatientsOf(write.type, write.id, *write.index_values);
  if (write.operation != store::Operation::kDelete) return {};
  auto current = store_.ReadCurrent(write.type, write.id);
  if (!current || current->body.empty()) return {};
  auto doc = json::Parse(current->body);
  if (!doc) return {};
  return fhir::PatientsOf(search_parameters_, *doc->root());
}

core::Status RecordService::Control(store::Unit& unit, const WriteControl& control) const {
  if (!control.check && !control.audit) return core::OkStatus();
  std::vector<std::string> touched;
  for (size_t i = 0; i < unit.writes.size(); ++i) {
    std::vector<std::string> patients = PatientsOfWrite(unit.writes[i]);
    if (control.check) {
      if (core::Status s = control.check(unit.writes[i], patients); !s.ok()) return s;
    }
    touched.insert(touched.end(), patients.begin(), patients.end());
  }
  if (control.audit) {
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    unit.audit = [audit = control.audit,
                  touched = std::move(touched)](const std::vector<store::WriteResult>& results) {
      return audit(results, touched);
    };
  }
  return core::OkStatus();
}

void RecordService::SubmitOne(store::Write write, WriteCallback done, const WriteControl& control) {
  store::Unit unit;
  unit.writes.push_back(std::move(write));
  if (core::Status s = Control(unit, control); !s.ok()) return done(core::Fail(std::move(s)));
  store_.Submit(std::move(unit), [done = std::move(done)](std::vector<store::WriteResult> r) {
    store::WriteResult& result = r.front();
    if (!result.status.ok()) return done(core::Fail(std::move(result.status)));
    done(WriteReply{result.outcome, std::move(result.record)});
  });
}

RecordService::RecordService(store::Store& store, const fhir::Definitions& definitions,
                             RecordOptions options)
    : store_(store),
      definitions_(definitions),
      options_(std::move(options)),
      search_parameters_(options_.search_parameters ? *options_.search_parameters
                                                    : fhir::SearchParameterRegistry::Embedded()) {
  search_limits_.max_parameters = options_.max_search_parameters;
  search_limits_.max_values = options_.max_values_per_parameter;
  search_limits_.default_count = options_.default_page_size;
  search_limits_.max_count = options_.max_page_size;
}

core::Result<PreparedResource> RecordService::PrepareParsed(const json::Value& resource) const {
  auto issues = fhir::Validate(definitions_, resource, options_.validation_limits);
  if (!issues.empty()) return core::Fail(ValidationFailure(issues));
  PreparedResource prepared;
  prepared.parts = fhir::SplitResource(resource);
  prepared.id = std::string(resource.StringOr("id"));
  prepared.index_values = fhir::ExtractIndexValues(search_parameters_, resource);
  return prepared;
}

core::Result<PreparedResource> RecordService::Prepare(std::string_view body,
                                                      std::string_view expected_type) const {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(body, options_.parse_limits));
  const json::Value& root = *doc.root();
  if (!root.is_object()) {
    return core::Fail(core::InvalidArgument("a resource must be a JSON object"));
  }
  std::string_view type = root.StringOr("resourceType");
  if (!type.empty() && type != expected_type && definitions_.IsResourceType(type)) {
    return core::Fail(
        core::InvalidArgument(fmt::format("resourceType '{}' does not match the URL's type '{}'",
                                          std::string(type), std::string(expected_type)))
            .WithLocation("resourceType"));
  }
  return PrepareParsed(root);
}

void RecordService::Create(std::string_view type, std::string_view body,
                           std::optional<std::string_view> if_none_exist, WriteCallback done,
                           const WriteControl& control) {
  auto prepared = Prepare(body, type);
  if (!prepared) return done(core::Fail(prepared.error()));
  store::Write w;
  w.operation = store::Operation::kCreate;
  w.type = std::string(type);
  w.id = core::NewUuidV7();  // a create ignores any id in the body (FHIR create semantics)
  w.resource = std::move(prepared->parts);
  w.index_values = std::move(prepared->index_values);
  if (if_none_exist) {
    auto params = ParseQueryString(*if_none_exist);
    if (params.empty()) {
      return done(core::Fail(core::InvalidArgument("If-None-Exist has no search parameters")));
    }
    auto parsed = ParseSearch(w.type, params, /*strict=*/true);
    if (!parsed) return done(core::Fail(parsed.error()));
    w.if_none_exist = std::move(parsed->query);
  }
  SubmitOne(std::move(w), std::move(done), control);
}

void RecordService::Update(std::string_view type, std::string_view id, std::string_view body,
                           std::optional<int64_t> if_match, WriteCallback done,
                           const WriteControl& control) {
  if (!fhir::IsValidId(id)) {
    return done(core::Fail(InvalidId(id)));
  }
  auto prepared = Prepare(body, type);
  if (!prepared) return done(core::Fail(prepared.error()));
  if (prepared->id.empty()) {
    return done(core::Fail(core::InvalidArgument("an update must carry the resource's id")
                               .WithLocation(fmt::format("{}.id", std::string(type)))));
  }
  if (prepared->id != id) {
    return done(core::Fail(
        core::InvalidArgument(fmt::format("the body's id '{}' does not match the URL's id '{}'",
                                          prepared->id, std::string(id)))
            .WithLocation(fmt::format("{}.id", std::string(type)))));
  }
  store::Write w;
  w.operation = store::Operation::kUpdate;
  w.type = std::string(type);
  w.id = std::string(id);
  w.resource = std::move(prepared->parts);
  w.index_values = std::move(prepared->index_values);
  w.if_match = if_match;
  SubmitOne(std::move(w), std::move(done), control);
}

void RecordService::Delete(std::string_view type, std::string_view id, WriteCallback done,
                           const WriteControl& control) {
  if (!fhir::IsValidId(id)) {
    return done(core::Fail(InvalidId(id)));
  }
  store::Write w;
  w.operation = store::Operation::kDelete;
  w.type = std::string(type);
  w.id = std::string(id);
  SubmitOne(std::move(w), std::move(done), control);
}

core::Result<store::VersionRecord> RecordService::Read(const std::string& type,
                                                       const std::string& id) const {
  if (!fhir::IsValidId(id)) {
    return core::Fail(InvalidId(id));
  }
  return store_.ReadCurrent(type, id);
}

core::Result<store::VersionRecord> RecordService::VRead(const std::string& type,
                                                        const std::string& id,
                                                        std::string_view version) const {
  if (!fhir::IsValidId(id)) {
    return core::Fail(InvalidId(id));
  }
  auto v = ParsePositive(version);
  if (!v || *v == 0) {
    return core::Fail(core::NotFound(
        fmt::format("'{}' is not a version of {}/{}", std::string(version), type, id)));
  }
  return store_.ReadVersion(type, id, *v);
}

core::Result<ParsedSearch> RecordService::ParseSearch(const std::string& type,
                                                      const QueryParams& params,
                                                      bool strict) const {
  return ParseSearchRequest(search_parameters_, type, params, strict, search_limits_);
}

core::Result<SearchReply> RecordService::Search(const std::string& type, const QueryParams& params,
                                                bool strict,
                                                std::optional<std::string_view> patient_id) const {
  ASSIGN_OR_RETURN(ParsedSearch parsed, ParseSearch(type, params, strict));
  if (patient_id) {
    if (!fhir::IsValidId(*patient_id)) return core::Fail(InvalidId(*patient_id));
    ASSIGN_OR_RETURN(store::SearchFilter in,
                     PatientCompartmentFilter(search_parameters_, type, *patient_id));
    parsed.query.filters.push_back(std::move(in));
  }
  SearchReply reply;
  ASSIGN_OR_RETURN(reply.page, store_.Search(parsed.query));
  reply.applied = std::move(parsed.applied);
  reply.ignored = std::move(parsed.ignored);
  reply.summary = parsed.summary;
  reply.elements = std::move(parsed.elements);
  return reply;
}

core::Result<SearchReply> RecordService::Everything(const std::string& patient_id,
                                                    const QueryParams& params, bool strict) const {
  if (!fhir::IsValidId(patient_id)) return core::Fail(InvalidId(patient_id));
  ASSIGN_OR_RETURN(store::VersionRecord patient, store_.ReadCurrent("Patient", patient_id));
  (void)patient;  // a 404 or 410 for a patient that is not there
  // The types, Patient first, then the compartment's in name order; _type narrows them.
  std::vector<std::string> types = {"Patient"};
  for (const std::string& t : fhir::PatientCompartment::Embedded().Types()) {
    if (t != "Patient") types.push_back(t);
  }
  SearchReply reply;
  size_t count = options_.max_page_size;
  std::optional<core::MicrosSinceEpoch> since;
  size_t first_type = 0;
  std::string inner_cursor;
  auto reject = [&](core::Status s) -> core::Status {
    if (strict) return s;
    reply.ignored.push_back(s.message());
    return core::OkStatus();
  };
  for (const auto& [name, value] : params) {
    if (name == "_count") {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size()) {
        RETURN_IF_ERROR(reject(core::InvalidArgument("_count: not a non-negative integer")));
        continue;
      }
      count = std::min(n, options_.max_page_size);
    } else if (name == "_since") {
      auto range = core::ParseFhirDateTimeRange(SearchDateText(value));
      if (!range) {
        RETURN_IF_ERROR(reject(core::InvalidArgument("_since: not a FHIR instant")));
        continue;
      }
      since = range->begin;
    } else if (name == "_type") {
      std::vector<std::string> wanted;
      for (const std::string& t : SplitUnescaped(value, ',')) {
        if (std::find(types.begin(), types.end(), t) == types.end()) {
          RETURN_IF_ERROR(reject(core::InvalidArgument(
              fmt::format("_type: {} is not in the Patient compartment", t))));
          continue;
        }
        wanted.push_back(t);
      }
      std::erase_if(types, [&](const std::string& t) {
        return std::find(wanted.begin(), wanted.end(), t) == wanted.end();
      });
    } else if (name == "_cursor") {
      // "<type index>.<cursor within the type>": where the previous page stopped.
      size_t dot = value.find('.');
      auto [p, ec] =
          std::from_chars(value.data(), value.data() + std::min(dot, value.size()), first_type);
      if (ec != std::errc() || dot == std::string::npos || p != value.data() + dot) {
        return core::Fail(core::InvalidArgument("_cursor: not a cursor of this operation"));
      }
      inner_cursor = value.substr(dot + 1);
    } else if (name == "_format" || name == "_pretty") {
      continue;
    } else {
      RETURN_IF_ERROR(reject(
          core::InvalidArgument(fmt::format("'{}' is not a parameter of $everything", name))));
      continue;
    }
    reply.applied.emplace_back(name, value);
  }
  for (size_t i = first_type; i < types.size() && reply.page.resources.size() < count; ++i) {
    store::SearchQuery q;
    q.type = types[i];
    q.count = count - reply.page.resources.size();
    q.cursor = i == first_type ? inner_cursor : "";
    ASSIGN_OR_RETURN(store::SearchFilter in,
                     PatientCompartmentFilter(search_parameters_, q.type, patient_id));
    q.filters.push_back(std::move(in));
    if (since) q.filters.push_back(LastUpdatedFilter(store::Comparator::kGe, *since));
    ASSIGN_OR_RETURN(store::SearchPage page, store_.Search(q));
    for (auto& r : page.resources) reply.page.resources.push_back(std::move(r));
    if (page.next_cursor) {
      reply.page.next_cursor = fmt::format("{}.{}", i, *page.next_cursor);
      break;
    }
    if (reply.page.resources.size() >= count) {
      // The page is full at a type boundary: link a next page only if a later type has
      // something (an empty last page would be a dead end for the client).
      for (size_t j = i + 1; j < types.size(); ++j) {
        store::SearchQuery peek;
        peek.type = types[j];
        peek.count = 1;
        ASSIGN_OR_RETURN(store::SearchFilter in,
                         PatientCompartmentFilter(search_parameters_, peek.type, patient_id));
        peek.filters.push_back(std::move(in));
        if (since) peek.filters.push_back(q.filters.back());
        ASSIGN_OR_RETURN(store::SearchPage found, store_.Search(peek));
        if (!found.resources.empty()) {
          reply.page.next_cursor = fmt::format("{}.", j);
          break;
        }
      }
      break;
    }
  }
  return reply;
}

core::Result<HistoryReply> RecordService::History(const std::string& type, const std::string& id,
                                                  const QueryParams& params) const {
  if (!id.empty() && !fhir::IsValidId(id)) {
    return core::Fail(InvalidId(id));
  }
  if (params.size() > options_.max_search_parameters) {
    return core::Fail(core::InvalidArgument("too many history parameters"));
  }
  HistoryReply reply;
  store::HistoryQuery q;
  q.type = type;
  q.id = id;
  q.count = options_.default_page_size;
  for (const auto& [name, value] : params) {
    if (name == "_count") {
      auto n = ParsePositive(value);
      if (!n)
        return core::Fail(
            core::InvalidArgument(fmt::format("_count: '{}' is not a number", value)));
      q.count = std::min<size_t>(static_cast<size_t>(*n), options_.max_page_size);
      reply.applied.emplace_back(name, value);
    } else if (name == "_since") {
      auto range = core::ParseFhirDateTimeRange(value);
      if (!range) {
        return core::Fail(
            core::InvalidArgument(fmt::format("_since: '{}' is not a valid instant", value)));
      }
      q.since = range->begin;
      reply.applied.emplace_back(name, value);
    } else if (name == "_before_seq") {
      auto n = ParsePositive(value);
      if (!n) return core::Fail(core::InvalidArgument("_before_seq: not a valid cursor"));
      q.before_seq = *n;
      reply.applied.emplace_back(name, value);
    } else if (name == "_format" || name == "_pretty") {
      // handled by the REST layer
    } else {
      return core::Fail(
          core::InvalidArgument(fmt::format("history parameter '{}' is not supported", name)));
    }
  }
  ASSIGN_OR_RETURN(reply.page, store_.History(q));
  return reply;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
std::string Decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() + 0 && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}
void Encode(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == ',' ||
        c == '|' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
}
}  // namespace

QueryParams ParseQueryString(std::string_view query, bool plus_is_space) {
  QueryParams out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string_view part =
        query.substr(start, amp == std::string_view::npos ? query.npos : amp - start);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        out.emplace_back(Decode(part, plus_is_space), "");
      } else {
        out.emplace_back(Decode(part.substr(0, eq), plus_is_space),
                         Decode(part.substr(eq + 1), plus_is_space));
      }
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

std::string EncodeQueryString(const QueryParams& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    Encode(k, out);
    out.push_back('=');
    Encode(v, out);
  }
  return out;
}

core::Status ForEachMatch(const RecordService& records, const std::string& type,
                          const QueryParams& query,
                          const std::function<void(const store::VersionRecord&)>& each,
                          size_t max_pages) {
  QueryParams params = query;
  for (size_t pages = 0; pages < max_pages; ++pages) {
    ASSIGN_OR_RETURN(auto reply, records.Search(type, params, false));
    for (const auto& v : reply.page.resources) each(v);
    if (!reply.page.next_cursor) break;
    params = query;
    params.emplace_back("_cursor", *reply.page.next_cursor);
  }
  return core::OkStatus();
}

}  // namespace medulla::records
