#include "dispatch/service.h"

#include <future>
#include <set>

#include <fmt/format.h>

#include "core/ids.h"
#include "core/logging.h"
#include "dispatch/fhir_mapping.h"
#include "json/parse.h"
#include "json/write.h"

namespace medulla::dispatch {
namespace {

// How far ahead of the server's clock a report's time may be (clock skew).
constexpr int64_t kMaxClockAheadMs = 5 * 60'000;

constexpr std::string_view kWatchedTypes[] = {"Location", "HealthcareService", "MeasureReport",
                                              "Device", "Task"};

bool Watched(std::string_view type) {
  for (std::string_view t : kWatchedTypes) {
    if (t == type) return true;
  }
  return false;
}

// Task states in which a dispatch is still going on.
bool InProgress(std::string_view status) {
  return status == "requested" || status == "accepted" || status == "ready" ||
         status == "in-progress" || status == "received";
}

std::string Json(std::string_view s) {
  std::string out;
  json::WriteString(s, out);
  return out;
}

std::string Coded(std::string_view code) {
  return fmt::format(R"({{"coding":[{{"system":{},"code":{}}}]}})", Json(kDispatchTaskSystem),
                     Json(code));
}

// The Task's output: where to take the patient and why.
std::string Outputs(const std::string& hospital, std::optional<double> total_s,
                    std::string_view reason) {
  std::string out = fmt::format(R"([{{"type":{},"valueReference":{{"reference":"Location/{}"}}}})",
                                Coded("destination"), hospital);
  if (total_s) {
    out += fmt::format(R"(,{{"type":{},"valueDecimal":{:.1f}}})",
                       Coded("drive-and-door-to-treatment-seconds"), *total_s);
  }
  out += fmt::format(R"(,{{"type":{},"valueString":{}}}])", Coded("reason"), Json(reason));
  return out;
}

std::string NewTaskBody(const Recommendation& r, int64_t now_ms) {
  const Incident& in = r.incident;
  const AmbulanceCandidate& amb = r.ambulances[*r.ambulance];
  const HospitalCandidate& hosp = r.hospitals[*r.hospital];
  const std::string now = core::FormatInstant(now_ms * 1000);
  std::string inputs =
      fmt::format(R"([{{"type":{},"valueCode":{}}},{{"type":{},"valueDecimal":{:.7f}}},)"
                  R"({{"type":{},"valueDecimal":{:.7f}}},{{"type":{},"valueBoolean":{}}},)"
                  R"({{"type":{},"valueBoolean":{}}})",
                  Coded("condition"), Json(ConditionCode(in.condition)), Coded("longitude"),
                  in.where.lon, Coded("latitude"), in.where.lat, Coded("lvo-suspected"),
                  in.lvo_suspected, Coded("paediatric"), in.paediatric);
  if (!in.id.empty())
    inputs += fmt::format(R"(,{{"type":{},"valueString":{}}})", Coded("incident"), Json(in.id));
  inputs += "]";
  return fmt::format(
      R"({{"resourceType":"Task","status":"in-progress","intent":"order","priority":"{}",)"
      R"("code":{{"coding":[{{"system":{},"code":{}}}],"text":"Ambulance dispatch"}},)"
      R"("businessStatus":{{"text":"dispatched"}},"authoredOn":"{}","lastModified":"{}",)"
      R"("owner":{{"reference":"Device/{}"}},"input":{},"output":{}}})",
      Priority(in.condition) <= 1 ? "stat" : "urgent", Json(kDispatchTaskSystem),
      Json(kDispatchTaskCode), now, now, amb.id, inputs,
      Outputs(hosp.id, hosp.total_s, hosp.reason));
}

// The coded type of a Task input or output.
std::string_view TypeCode(const json::Value& entry) {
  const json::Value* type = entry.Find("type");
  const json::Value* codings = type && type->is_object() ? type->Find("coding") : nullptr;
  if (!codings || !codings->is_array()) return {};
  for (const json::Value* c : codings->items()) {
    if (c->is_object() && c->StringOr("system") == kDispatchTaskSystem) return c->StringOr("code");
  }
  return {};
}

std::optional<double> Decimal(const json::Value& entry, std::string_view key) {
  const json::Value* v = entry.Find(key);
  return v ? v->NumberValue() : std::nullopt;
}

std::optional<TrackedDispatch> TrackedFromTask(const json::Value& task, const std::string& id) {
  if (!IsDispatchTask(task) || !InProgress(task.StringOr("status"))) return std::nullopt;
  TrackedDispatch d;
  d.task = id;
  auto owner = LocalId(task.Find("owner"), "Device");
  if (!owner) return std::nullopt;
  d.ambulance = *owner;
  std::optional<double> lon, lat;
  if (const json::Value* inputs = task.Find("input"); inputs && inputs->is_array()) {
    for (const json::Value* in : inputs->items()) {
      if (!in->is_object()) continue;
      const std::string_view code = TypeCode(*in);
      const json::Value* flag = in->Find("valueBoolean");
      if (code == "condition") {
        d.incident.condition =
            ConditionFromCode(in->StringOr("valueCode")).value_or(Condition::kGeneral);
      } else if (code == "longitude") {
        lon = Decimal(*in, "valueDecimal");
      } else if (code == "latitude") {
        lat = Decimal(*in, "valueDecimal");
      } else if (code == "lvo-suspected" && flag && flag->is_bool()) {
        d.incident.lvo_suspected = flag->bool_value();
      } else if (code == "paediatric" && flag && flag->is_bool()) {
        d.incident.paediatric = flag->bool_value();
      } else if (code == "incident") {
        d.incident.id = std::string(in->StringOr("valueString"));
      }
    }
  }
  if (!lon || !lat) return std::nullopt;
  d.incident.where = {*lon, *lat};
  if (const json::Value* outputs = task.Find("output"); outputs && outputs->is_array()) {
    for (const json::Value* out : outputs->items()) {
      if (!out->is_object()) continue;
      const std::string_view code = TypeCode(*out);
      if (code == "destination") {
        if (auto h = LocalId(out->Find("valueReference"), "Location")) d.hospital = *h;
      } else if (code == "drive-and-door-to-treatment-seconds") {
        d.total_s = Decimal(*out, "valueDecimal");
      }
    }
  }
  if (d.hospital.empty()) return std::nullopt;
  return d;
}

// The Device with its ambulance-status extension set to `status` (other extensions kept).
core::Result<std::string> WithStatus(std::string_view device_body, AmbulanceStatus status) {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(device_body));
  json::Value* root = doc.root();
  if (!root || !root->is_object()) return core::Fail(core::Internal("a stored Device is not JSON"));
  std::vector<json::Value*> kept;
  if (const json::Value* ext = root->Find("extension"); ext && ext->is_array()) {
    for (json::Value* e : ext->items()) {
      if (!(e->is_object() && e->StringOr("url") == kAmbulanceStatusUrl)) kept.push_back(e);
    }
  }
  const json::Member members[] = {{"url", doc.NewString(kAmbulanceStatusUrl)},
                                  {"valueCode", doc.NewString(AmbulanceStatusCode(status))}};
  kept.push_back(doc.NewObject(members));
  doc.Set(*root, "extension", doc.NewArray(kept));
  doc.Remove(*root, "meta");
  return json::Write(*root);
}

// The stored Task with a new destination (output, lastModified, businessStatus).
core::Result<std::string> Rerouted(std::string_view task_body, const std::string& hospital,
                                   std::optional<double> total_s, const std::string& reason,
                                   int64_t now_ms) {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(task_body));
  json::Value* root = doc.root();
  if (!root || !root->is_object()) return core::Fail(core::Internal("a stored Task is not JSON"));
  ASSIGN_OR_RETURN(json::Document outputs, json::Parse(Outputs(hospital, total_s, reason)));
  ASSIGN_OR_RETURN(json::Document status, json::Parse(R"({"text":"destination changed"})"));
  // The parsed parts live in their own arenas: write the result before they go.
  doc.Set(*root, "output", outputs.root());
  doc.Set(*root, "businessStatus", status.root());
  doc.Set(*root, "lastModified", doc.NewString(core::FormatInstant(now_ms * 1000)));
  doc.Remove(*root, "meta");
  return json::Write(*root);
}

template <typename T>
core::Result<T> Wait(const std::function<void(std::function<void(core::Result<T>)>)>& start) {
  std::promise<core::Result<T>> p;
  auto f = p.get_future();
  start([&p](core::Result<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace

struct DispatchService::State {
  std::map<std::string, Hospital> locations;          // hospital sites by Location id
  std::map<std::string, ServiceOffer> services;       // by HealthcareService id
  std::map<std::string, HospitalStatus> status;       // latest report by Location id
  std::map<std::string, std::string> latest_report;   // MeasureReport id -> its Location
  std::map<std::string, Ambulance> ambulances;        // by Device id
  std::map<std::string, TrackedDispatch> dispatches;  // by Task id

  Hospital Merged(const Hospital& site) const {
    Hospital h = site;
    for (const auto& [id, offer] : services) {
      for (const std::string& loc : offer.locations) {
        if (loc == h.id) h.capabilities |= offer.capabilities;
      }
    }
    if (auto it = status.find(h.id); it != status.end()) h.status = it->second;
    return h;
  }
  std::vector<Hospital> Hospitals() const {
    std::vector<Hospital> out;
    out.reserve(locations.size());
    for (const auto& [id, site] : locations) out.push_back(Merged(site));
    return out;
  }
  std::vector<Ambulance> Ambulances() const {
    std::vector<Ambulance> out;
    out.reserve(ambulances.size());
    for (const auto& [id, a] : ambulances) out.push_back(a);
    return out;
  }
};

DispatchService::DispatchService(routing::Router& router, records::RecordService& records,
                                 std::unique_ptr<PositionStore> positions, ServiceOptions options)
    : router_(router),
      records_(records),
      positions_(std::move(positions)),
      options_(std::move(options)),
      state_(std::make_unique<State>()) {
  if (!options_.clock) options_.clock = &core::SystemClock::Instance();
}

DispatchService::~DispatchService() {
  {
    std::lock_guard lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t DispatchService::NowMs() const {
  return options_.clock->Now() / 1000;
}

core::Status DispatchService::Start() {
  for (std::string_view type : kWatchedTypes) {
    // Each hospital's newest report only: reports pile up (one per hospital every few
    // minutes), and only the newest is the status.
    if (type == "MeasureReport") continue;
    records::QueryParams query;
    if (type == "Task") {
      query.push_back({"code", fmt::format("{}|{}", kDispatchTaskSystem, kDispatchTaskCode)});
    }
    RETURN_IF_ERROR(records::ForEachMatch(
        records_, std::string(type), query,
        [&](const store::VersionRecord& v) { Apply(v.type, v.id, v.body, false); }));
  }
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, site] : state_->locations) stale_locations_.push_back(id);
  }
  RefreshStaleStatus();
  ASSIGN_OR_RETURN(auto kept, positions_->Load());
  {
    std::lock_guard lock(mu_);
    for (const PositionReport& p : kept) {
      auto it = state_->ambulances.find(p.device);
      if (it == state_->ambulances.end()) continue;
      it->second.where = p.where;
      it->second.position_ms = p.time_ms;
    }
  }
  thread_ = std::thread([this] { Loop(); });
  return core::OkStatus();
}

void DispatchService::OnChange(const store::VersionRecord& v) {
  if (!Watched(v.type)) return;
  Apply(v.type, v.id, v.body, v.deleted());
  if (v.type == "MeasureReport") RefreshStaleStatus();
  if (v.type != "Task" && v.type != "Device") Reevaluate();
}

void DispatchService::RefreshStaleStatus() {
  std::vector<std::string> locations;
  {
    std::lock_guard lock(mu_);
    locations.swap(stale_locations_);
  }
  for (const std::string& location : locations) {
    const records::QueryParams query = {
        {"subject", "Location/" + location}, {"_sort", "-date"}, {"_count", "5"}};
    auto reply = records_.Search("MeasureReport", query, false);
    if (!reply) {
      core::Logger("dispatch")
          ->warn("status of Location/{} not read: {}", location, reply.error().message());
      continue;
    }
    // The newest complete ones (Apply keeps the newest of those it is given).
    for (const store::VersionRecord& v : reply->page.resources) {
      Apply(v.type, v.id, v.body, false);
    }
  }
}

void DispatchService::Apply(const std::string& type, const std::string& id, std::string_view body,
                            bool deleted) {
  std::optional<json::Document> doc;
  if (!deleted) {
    auto parsed = json::Parse(body);
    if (!parsed || !parsed->root() || !parsed->root()->is_object()) return;
    doc = std::move(*parsed);
  }
  const json::Value* root = doc ? doc->root() : nullptr;
  std::lock_guard lock(mu_);
  State& s = *state_;
  if (type == "Location") {
    auto h = root ? HospitalFromLocation(*root, id) : std::nullopt;
    if (h) {
      s.locations[id] = std::move(*h);
    } else {
      s.locations.erase(id);
    }
  } else if (type == "HealthcareService") {
    auto offer = root ? OfferFromHealthcareService(*root) : std::nullopt;
    if (offer) {
      s.services[id] = std::move(*offer);
    } else {
      s.services.erase(id);
    }
  } else if (type == "MeasureReport") {
    auto report = root ? StatusFromMeasureReport(*root) : std::nullopt;
    if (!report) {
      // The latest report of a hospital deleted (or changed into something else): its status
      // is the newest report left, which RefreshStaleStatus reads outside the lock.
      if (auto it = s.latest_report.find(id); it != s.latest_report.end()) {
        s.status.erase(it->second);
        stale_locations_.push_back(it->second);
        s.latest_report.erase(it);
      }
      return;
    }
    // A report dated ahead of the clock would hold its status until that time has passed.
    if (report->status.reported_ms > NowMs() + kMaxClockAheadMs) return;
    HospitalStatus& kept = s.status[report->location];
    // Reports may arrive out of order (a late batch): the newest measurement wins.
    if (report->status.reported_ms >= kept.reported_ms) {
      kept = std::move(report->status);
      std::erase_if(s.latest_report, [&](const auto& e) { return e.second == report->location; });
      s.latest_report[id] = report->location;
    }
  } else if (type == "Device") {
    auto a = root ? AmbulanceFromDevice(*root, id) : std::nullopt;
    if (!a) {
      s.ambulances.erase(id);
      return;
    }
    if (auto it = s.ambulances.find(id); it != s.ambulances.end()) {
      a->where = it->second.where;  // positions come from reports, not the Device
      a->position_ms = it->second.position_ms;
    }
    s.ambulances[id] = std::move(*a);
  } else if (type == "Task") {
    // A rewrite reads the Task again (its version, its dispatcher's edits) before writing.
    auto d = root ? TrackedFromTask(*root, id) : std::nullopt;
    if (d) {
      s.dispatches[id] = std::move(*d);
    } else {
      s.dispatches.erase(id);
    }
  }
}

core::Result<std::vector<Recommendation>> DispatchService::Recommend(
    const RecommendRequest& request) const {
  if (request.incidents.empty()) {
    return core::Fail(core::InvalidArgument("no incident given"));
  }
  if (request.incidents.size() > options_.max_incidents) {
    return core::Fail(
        core::TooLarge(fmt::format("{} incidents: at most {} in one request",
                                   request.incidents.size(), options_.max_incidents)));
  }
  std::vector<Hospital> hospitals;
  std::vector<Ambulance> ambulances;
  {
    std::lock_guard lock(mu_);
    if (request.hospitals.empty()) {
      hospitals = state_->Hospitals();
    } else {
      std::set<std::string> seen;
      for (const std::string& id : request.hospitals) {
        auto it = state_->locations.find(id);
        if (it == state_->locations.end()) {
          return core::Fail(core::NotFound(fmt::format(
              "Location/{} is not a hospital known to dispatch (a Location of type HOSP with a "
              "position)",
              id)));
        }
        if (seen.insert(id).second) hospitals.push_back(state_->Merged(it->second));
      }
    }
    ambulances = state_->Ambulances();
  }
  RecommendOptions options;
  options.now_ms = NowMs();
  options.with_geometry = request.with_geometry;
  options.closures = request.closures.empty() ? nullptr : &request.closures;
  if (request.incidents.size() == 1) {
    ASSIGN_OR_RETURN(Recommendation r,
                     dispatch::Recommend(router_, options_.policy, request.incidents.front(),
                                         hospitals, ambulances, options));
    std::vector<Recommendation> out;
    out.push_back(std::move(r));
    return out;
  }
  return RecommendMany(router_, options_.policy, request.incidents, hospitals, ambulances, options);
}

void DispatchService::Commit(const std::vector<Recommendation>& recommendations,
                             CommitCallback done) {
  const int64_t now = NowMs();
  std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  std::vector<size_t> task_entry(recommendations.size(), SIZE_MAX);
  size_t entries = 0;
  for (size_t i = 0; i < recommendations.size(); ++i) {
    const Recommendation& r = recommendations[i];
    if (!r.ambulance || !r.hospital) continue;
    const std::string& device = r.ambulances[*r.ambulance].id;
    auto stored = records_.Read("Device", device);
    if (!stored) return done(core::Fail(stored.error()));
    // The decision may predate another request's dispatch of the same ambulance: what is
    // stored now decides (If-Match below then guards the moment between this read and the
    // write).
    if (auto now_stored = json::Parse(stored->body); now_stored && now_stored->root()) {
      auto a = AmbulanceFromDevice(*now_stored->root(), device);
      if (!a || a->status != AmbulanceStatus::kAvailable) {
        return done(core::Fail(core::Conflict(fmt::format(
            "Device/{} is no longer available ({}): it was dispatched or changed since the "
            "recommendation; ask for a new one",
            device, a ? AmbulanceStatusCode(a->status) : "not an ambulance"))));
      }
    }
    auto body = WithStatus(stored->body, AmbulanceStatus::kDispatched);
    if (!body) return done(core::Fail(body.error()));
    bundle += fmt::format(
        R"({}{{"fullUrl":"urn:uuid:{}","resource":{},"request":{{"method":"POST","url":"Task"}}}},)"
        R"({{"resource":{},"request":{{"method":"PUT","url":"Device/{}","ifMatch":"W/\"{}\""}}}})",
        entries ? "," : "", core::NewUuidV7(), NewTaskBody(r, now), *body, device, stored->version);
    task_entry[i] = entries;
    entries += 2;
  }
  bundle += "]}";
  if (entries == 0) return done(std::vector<std::string>(recommendations.size()));
  records_.ProcessBundle(
      bundle, [this, task_entry, done = std::move(done)](core::Result<records::BundleReply> reply) {
        if (!reply && reply.error().code() == core::Code::kPreconditionFailed) {
          return done(core::Fail(core::Conflict(
              "an ambulance was dispatched or changed while this dispatch was being recorded; "
              "nothing was recorded: ask for a new recommendation")));
        }
        if (!reply) return done(core::Fail(reply.error()));
        std::vector<std::string> ids(task_entry.size());
        for (size_t i = 0; i < task_entry.size(); ++i) {
          if (task_entry[i] == SIZE_MAX) continue;
          const store::VersionRecord& task = reply->entries[task_entry[i]].record;
          const store::VersionRecord& device = reply->entries[task_entry[i] + 1].record;
          // Read-your-writes: the next recommendation sees the ambulance dispatched at once, not
          // when the change feed gets there.
          Apply("Device", device.id, device.body, false);
          Apply("Task", task.id, task.body, false);
          ids[i] = task.id;
        }
        done(std::move(ids));
      });
}

core::Result<std::vector<PositionReport>> DispatchService::ParsePositions(
    std::string_view body) const {
  std::vector<PositionReport> out;
  size_t line_no = 0;
  const int64_t now = NowMs();
  while (!body.empty()) {
    const size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (out.size() >= options_.max_positions) {
      return core::Fail(core::TooLarge(
          fmt::format("more than {} position reports in one batch", options_.max_positions)));
    }
    auto fail = [&](std::string_view why) {
      return core::Fail(core::InvalidArgument(fmt::format("line {}: {}", line_no, why)));
    };
    auto doc = json::Parse(line);
    if (!doc || !doc->root() || !doc->root()->is_object()) return fail("not a JSON object");
    const json::Value& o = *doc->root();
    PositionReport r;
    r.device = std::string(o.StringOr("device"));
    if (r.device.rfind("Device/", 0) == 0) r.device.erase(0, 7);
    if (r.device.empty()) return fail("\"device\" (the ambulance's Device id) is missing");
    const auto lon = Decimal(o, "lon"), lat = Decimal(o, "lat");
    if (!lon || !lat || std::abs(*lon) > 180 || std::abs(*lat) > 90) {
      return fail("\"lon\" and \"lat\" must be a longitude and a latitude in degrees");
    }
    r.where = {*lon, *lat};
    r.time_ms = now;
    if (const json::Value* t = o.Find("time")) {
      const auto range = t->is_string() ? core::ParseFhirDateTimeRange(t->text()) : std::nullopt;
      if (!range) return fail("\"time\" must be an instant such as 2026-11-22T08:00:00Z");
      r.time_ms = range->begin / 1000;
      // A device with a clock ahead would otherwise pin its ambulance: every later report,
      // older than this one, would be dropped.
      if (r.time_ms > now + kMaxClockAheadMs) {
        return fail("\"time\" is in the future (the device's clock is ahead?)");
      }
    }
    out.push_back(std::move(r));
  }
  if (out.empty()) return core::Fail(core::InvalidArgument("no position report in the body"));
  return out;
}

core::Result<size_t> DispatchService::ReportPositions(std::vector<PositionReport> reports) {
  {
    std::lock_guard lock(mu_);
    for (const PositionReport& r : reports) {
      if (!state_->ambulances.contains(r.device)) {
        return core::Fail(core::NotFound(fmt::format(
            "Device/{} is not an ambulance known to dispatch (a Device of type {}#ambulance)",
            r.device, kDeviceKindSystem)));
      }
    }
  }
  std::lock_guard order(positions_mu_);
  RETURN_IF_ERROR(positions_->Save(reports));
  std::lock_guard lock(mu_);
  for (const PositionReport& r : reports) {
    auto it = state_->ambulances.find(r.device);
    if (it == state_->ambulances.end() || r.time_ms < it->second.position_ms) continue;
    it->second.where = r.where;
    it->second.position_ms = r.time_ms;
  }
  return reports.size();
}

void DispatchService::Reevaluate() {
  {
    std::lock_guard lock(loop_mu_);
    wake_ = true;
  }
  loop_cv_.notify_all();
}

void DispatchService::Loop() {
  std::unique_lock lock(loop_mu_);
  while (!stopping_) {
    loop_cv_.wait_for(lock, options_.reevaluate_every, [this] { return wake_ || stopping_; });
    if (stopping_) break;
    wake_ = false;
    lock.unlock();
    ReevaluateNow();
    lock.lock();
  }
}

size_t DispatchService::ReevaluateNow() {
  auto log = core::Logger("dispatch");
  std::vector<TrackedDispatch> dispatches;
  std::vector<Hospital> hospitals;
  std::map<std::string, Ambulance> ambulances;
  {
    std::lock_guard lock(mu_);
    if (state_->dispatches.empty()) return 0;
    for (const auto& [id, d] : state_->dispatches) dispatches.push_back(d);
    hospitals = state_->Hospitals();
    ambulances = state_->ambulances;
  }
  size_t rewritten = 0;
  const int64_t now = NowMs();
  for (const TrackedDispatch& d : dispatches) {
    RecommendOptions options;
    options.now_ms = now;
    options.with_geometry = false;
    options.choose_ambulance = false;
    // Transporting: the patient is aboard, so the drive starts where the ambulance is now.
    if (auto it = ambulances.find(d.ambulance);
        it != ambulances.end() && it->second.status == AmbulanceStatus::kTransporting &&
        it->second.where && now - it->second.position_ms <= options_.policy.position_max_age_ms) {
      options.origin = it->second.where;
    }
    auto r = dispatch::Recommend(router_, options_.policy, d.incident, hospitals, {}, options);
    if (!r || !r->hospital) continue;
    const HospitalCandidate& best = r->hospitals[*r->hospital];
    if (best.id == d.hospital) continue;
    const HospitalCandidate* current = nullptr;
    for (const HospitalCandidate& c : r->hospitals) {
      if (c.id == d.hospital) current = &c;
    }
    const bool current_lost = !current || !current->eligible || !current->total_s;
    if (!current_lost && *best.total_s + options_.reroute_min_gain_min * 60 > *current->total_s) {
      continue;
    }
    const std::string reason =
        current_lost
            ? fmt::format("re-evaluated: Location/{} can no longer take the patient ({}); {}",
                          d.hospital, current ? current->reason : "no longer a hospital",
                          best.reason)
            : fmt::format("re-evaluated: {:.1f} min sooner to treatment than Location/{}; {}",
                          (*current->total_s - *best.total_s) / 60, d.hospital, best.reason);
    auto stored = records_.Read("Task", d.task);
    if (!stored) continue;
    auto body = Rerouted(stored->body, best.id, best.total_s, reason, now);
    if (!body) continue;
    auto written = Wait<records::WriteReply>([&](records::WriteCallback cb) {
      records_.Update("Task", d.task, *body, stored->version, std::move(cb));
    });
    if (!written) {
      // A dispatcher changed the Task meanwhile: the next pass decides again on its new form.
      log->info("Task/{}: new destination not written: {}", d.task, written.error().message());
      continue;
    }
    Apply("Task", d.task, written->record.body, false);
    log->info("Task/{}: destination Location/{} -> Location/{} ({})", d.task, d.hospital, best.id,
              reason);
    ++rewritten;
  }
  return rewritten;
}

FleetView DispatchService::View() const {
  std::lock_guard lock(mu_);
  FleetView v;
  v.hospitals = state_->Hospitals();
  v.ambulances = state_->Ambulances();
  for (const auto& [id, d] : state_->dispatches) v.dispatches.push_back(d);
  return v;
}

}  // namespace medulla::dispatch
