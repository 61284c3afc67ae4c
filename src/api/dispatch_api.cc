#include "api/dispatch_api.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "json/parse.h"
#include "json/write.h"

namespace medulla::api {
namespace {

using dispatch::Recommendation;

constexpr size_t kMaxBody = 1 << 20;

core::Unexpected Bad(std::string message) {
  return core::Fail(core::InvalidArgument(std::move(message)));
}

std::optional<double> NumberOf(const json::Value* v) {
  return v ? v->NumberValue() : std::nullopt;
}

std::optional<int64_t> IntegerOf(const json::Value* v) {
  if (!v || !v->is_number()) return std::nullopt;
  int64_t i = 0;
  const std::string_view t = v->text();
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), i);
  if (ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
  return i;
}

core::Result<dispatch::Condition> ConditionOf(std::string_view code) {
  if (auto c = dispatch::ConditionFromCode(code)) return *c;
  return Bad(fmt::format(
      "condition \"{}\" is not one of general, stroke, stemi, major-trauma, cardiac-arrest, "
      "burns, obstetric",
      code));
}

core::Result<bool> FlagOf(const json::Value& o, std::string_view key, std::string_view where) {
  const json::Value* v = o.Find(key);
  if (!v) return false;
  if (!v->is_bool()) return Bad(fmt::format("{}: \"{}\" must be true or false", where, key));
  return v->bool_value();
}

core::Result<dispatch::Incident> IncidentOf(const json::Value& o, std::string_view where) {
  if (!o.is_object()) return Bad(fmt::format("{} must be an object", where));
  dispatch::Incident in;
  const json::Value* id = o.Find("id");
  if (id && !id->is_string()) return Bad(fmt::format("{}: \"id\" must be a string", where));
  if (id) in.id = std::string(id->text());
  const json::Value* loc = o.Find("location");
  if (!loc || !loc->is_array() || loc->size() != 2 || !NumberOf(loc->items()[0]) ||
      !NumberOf(loc->items()[1])) {
    return Bad(fmt::format("{}: \"location\" must be [longitude, latitude]", where));
  }
  in.where = {*NumberOf(loc->items()[0]), *NumberOf(loc->items()[1])};
  const json::Value* cond = o.Find("condition");
  if (cond && !cond->is_string()) {
    return Bad(fmt::format("{}: \"condition\" must be a string", where));
  }
  ASSIGN_OR_RETURN(in.condition, ConditionOf(cond ? cond->text() : "general"));
  ASSIGN_OR_RETURN(in.lvo_suspected, FlagOf(o, "lvo_suspected", where));
  ASSIGN_OR_RETURN(in.paediatric, FlagOf(o, "paediatric", where));
  return in;
}

std::string StripType(std::string_view ref, std::string_view type) {
  if (ref.size() > type.size() + 1 && ref.substr(0, type.size()) == type &&
      ref[type.size()] == '/') {
    ref.remove_prefix(type.size() + 1);
  }
  return std::string(ref);
}

core::Result<routing::Closures> ClosuresOf(
    const routing::Router& router, const std::vector<std::pair<int64_t, int64_t>>& segments) {
  if (segments.empty()) return routing::Closures{};
  return router.ResolveClosures(segments);
}

std::string J(std::string_view s) {
  std::string out;
  json::WriteString(s, out);
  return out;
}

std::string Num(std::optional<double> v) {
  return v ? fmt::format("{:.1f}", *v) : "null";
}

std::string Line(const std::vector<routing::LonLat>& points) {
  std::string out = R"({"type":"LineString","coordinates":[)";
  for (size_t i = 0; i < points.size(); ++i) {
    out += fmt::format("{}[{:.7f},{:.7f}]", i ? "," : "", points[i].lon, points[i].lat);
  }
  return out + "]}";
}

// The routes as a GeoJSON FeatureCollection: the ambulance to the scene, the scene to the
// hospital.
std::string Routes(const Recommendation& r) {
  std::string out = R"({"type":"FeatureCollection","features":[)";
  bool first = true;
  if (r.ambulance && !r.route_to_scene.empty()) {
    out += fmt::format(
        R"({{"type":"Feature","properties":{{"leg":"to-scene","ambulance":{},"duration_s":{}}},"geometry":{}}})",
        J("Device/" + r.ambulances[*r.ambulance].id), Num(r.ambulances[*r.ambulance].arrival_s),
        Line(r.route_to_scene));
    first = false;
  }
  if (r.hospital && !r.route_to_hospital.empty()) {
    const auto& h = r.hospitals[*r.hospital];
    out += fmt::format(
        R"({}{{"type":"Feature","properties":{{"leg":"to-hospital","hospital":{},"duration_s":{},"distance_m":{}}},"geometry":{}}})",
        first ? "" : ",", J("Location/" + h.id), Num(h.drive_s), Num(h.distance_m),
        Line(r.route_to_hospital));
  }
  return out + "]}";
}

std::string IncidentJson(const dispatch::Incident& in) {
  return fmt::format(
      R"({{"id":{},"location":[{:.7f},{:.7f}],"condition":"{}","lvo_suspected":{},"paediatric":{}}})",
      J(in.id), in.where.lon, in.where.lat, dispatch::ConditionCode(in.condition), in.lvo_suspected,
      in.paediatric);
}

std::string RecommendationJson(const Recommendation& r, const std::string& task) {
  std::string ambulance = "null", hospital = "null";
  if (r.ambulance) {
    const auto& a = r.ambulances[*r.ambulance];
    ambulance = fmt::format(R"({{"reference":{},"name":{},"arrival_s":{}}})", J("Device/" + a.id),
                            J(a.name), Num(a.arrival_s));
  }
  if (r.hospital) {
    const auto& h = r.hospitals[*r.hospital];
    hospital = fmt::format(
        R"({{"reference":{},"name":{},"drive_s":{},"distance_m":{},"door_to_treatment_s":{},"total_s":{}}})",
        J("Location/" + h.id), J(h.name), Num(h.drive_s), Num(h.distance_m),
        Num(h.door_to_treatment.total_min * 60), Num(h.total_s));
  }
  std::string ambulances, hospitals;
  for (const auto& a : r.ambulances) {
    ambulances +=
        fmt::format(R"({}{{"reference":{},"name":{},"arrival_s":{},"chosen":{},"reason":{}}})",
                    ambulances.empty() ? "" : ",", J("Device/" + a.id), J(a.name), Num(a.arrival_s),
                    a.chosen, J(a.reason));
  }
  for (const auto& h : r.hospitals) {
    hospitals += fmt::format(
        R"({}{{"reference":{},"name":{},"drive_s":{},"distance_m":{},"door_to_treatment_s":{},"ed_wait_s":{},"wait_basis":{},"total_s":{},"eligible":{},"chosen":{},"reason":{}}})",
        hospitals.empty() ? "" : ",", J("Location/" + h.id), J(h.name), Num(h.drive_s),
        Num(h.distance_m), Num(h.door_to_treatment.total_min * 60),
        Num(h.door_to_treatment.ed_wait_min * 60), J(h.door_to_treatment.wait_basis),
        Num(h.total_s), h.eligible, h.chosen, J(h.reason));
  }
  return fmt::format(
      R"({{"incident":{},"ambulance":{},"hospital":{},"time_to_treatment_s":{},"rule":{},"task":{},"candidates":{{"ambulances":[{}],"hospitals":[{}]}},"routes":{}}})",
      IncidentJson(r.incident), ambulance, hospital, Num(r.time_to_treatment_s), J(r.rule),
      task.empty() ? "null" : J("Task/" + task), ambulances, hospitals, Routes(r));
}

}  // namespace

core::Result<DispatchRequest> ParseDispatchRequest(std::string_view body,
                                                   const routing::Router& router) {
  if (body.size() > kMaxBody) {
    return core::Fail(core::TooLarge(fmt::format("the body is over {} bytes", kMaxBody)));
  }
  auto doc = json::Parse(body);
  if (!doc) return Bad(fmt::format("the body is not JSON: {}", doc.error().message()));
  const json::Value* root = doc->root();
  if (!root || !root->is_object()) return Bad("the body must be a JSON object");
  DispatchRequest out;
  const json::Value* one = root->Find("incident");
  const json::Value* many = root->Find("incidents");
  if ((one != nullptr) == (many != nullptr)) {
    return Bad("give either \"incident\" (an object) or \"incidents\" (an array)");
  }
  if (one) {
    ASSIGN_OR_RETURN(auto in, IncidentOf(*one, "incident"));
    out.request.incidents.push_back(std::move(in));
  } else {
    if (!many->is_array() || many->size() == 0) {
      return Bad("\"incidents\" must be a non-empty array");
    }
    out.batch = true;
    for (size_t i = 0; i < many->size(); ++i) {
      ASSIGN_OR_RETURN(auto in, IncidentOf(*many->items()[i], fmt::format("incidents[{}]", i)));
      out.request.incidents.push_back(std::move(in));
    }
  }
  if (const json::Value* h = root->Find("hospitals")) {
    if (!h->is_array()) return Bad("\"hospitals\" must be an array of Location ids");
    for (const json::Value* id : h->items()) {
      if (!id->is_string() || id->text().empty()) {
        return Bad("\"hospitals\" must be an array of Location ids");
      }
      out.request.hospitals.push_back(StripType(id->text(), "Location"));
    }
  }
  if (const json::Value* c = root->Find("closed")) {
    std::vector<std::pair<int64_t, int64_t>> segments;
    if (!c->is_array()) return Bad("\"closed\" must be an array of [from_node, to_node]");
    for (const json::Value* pair : c->items()) {
      if (!pair->is_array() || pair->size() != 2 || !IntegerOf(pair->items()[0]) ||
          !IntegerOf(pair->items()[1])) {
        return Bad("\"closed\" must be an array of [from_node, to_node] OSM node ids");
      }
      segments.emplace_back(*IntegerOf(pair->items()[0]), *IntegerOf(pair->items()[1]));
    }
    ASSIGN_OR_RETURN(out.request.closures, ClosuresOf(router, segments));
  }
  ASSIGN_OR_RETURN(out.commit, FlagOf(*root, "dispatch", "the request"));
  if (root->Find("geometry")) {
    ASSIGN_OR_RETURN(out.request.with_geometry, FlagOf(*root, "geometry", "the request"));
  }
  return out;
}

core::Result<DispatchRequest> ParseDispatchParameters(std::string_view body,
                                                      const routing::Router& router) {
  if (body.size() > kMaxBody) {
    return core::Fail(core::TooLarge(fmt::format("the body is over {} bytes", kMaxBody)));
  }
  auto doc = json::Parse(body);
  if (!doc) return Bad(fmt::format("the body is not JSON: {}", doc.error().message()));
  const json::Value* root = doc->root();
  if (!root || !root->is_object() || root->StringOr("resourceType") != "Parameters") {
    return Bad("the body must be a Parameters resource");
  }
  DispatchRequest out;
  dispatch::Incident in;
  std::optional<double> lon, lat;
  std::vector<std::pair<int64_t, int64_t>> segments;
  const json::Value* params = root->Find("parameter");
  if (params && !params->is_array()) return Bad("Parameters.parameter must be an array");
  for (const json::Value* p : params ? params->items() : std::span<json::Value* const>{}) {
    if (!p->is_object()) return Bad("each parameter must be an object");
    const std::string_view name = p->StringOr("name");
    auto flag = [&]() -> core::Result<bool> {
      const json::Value* v = p->Find("valueBoolean");
      if (!v || !v->is_bool()) return Bad(fmt::format("parameter {} takes valueBoolean", name));
      return v->bool_value();
    };
    if (name == "longitude" || name == "latitude") {
      auto v = NumberOf(p->Find("valueDecimal"));
      if (!v) return Bad(fmt::format("parameter {} takes valueDecimal", name));
      (name == "longitude" ? lon : lat) = v;
    } else if (name == "condition") {
      ASSIGN_OR_RETURN(in.condition, ConditionOf(p->StringOr("valueCode")));
    } else if (name == "incident") {
      in.id = std::string(p->StringOr("valueString"));
    } else if (name == "lvo-suspected") {
      ASSIGN_OR_RETURN(in.lvo_suspected, flag());
    } else if (name == "paediatric") {
      ASSIGN_OR_RETURN(in.paediatric, flag());
    } else if (name == "dispatch") {
      ASSIGN_OR_RETURN(out.commit, flag());
    } else if (name == "geometry") {
      ASSIGN_OR_RETURN(out.request.with_geometry, flag());
    } else if (name == "hospital") {
      std::string_view ref = p->StringOr("valueString");
      if (const json::Value* r = p->Find("valueReference"); r && r->is_object()) {
        ref = r->StringOr("reference");
      }
      if (ref.empty()) {
        return Bad("parameter hospital takes valueReference (Location/ID) or valueString");
      }
      out.request.hospitals.push_back(StripType(ref, "Location"));
    } else if (name == "closed") {
      const std::string_view v = p->StringOr("valueString");
      const size_t colon = v.find(':');
      int64_t from = 0, to = 0;
      auto whole = [](std::string_view text, int64_t& out) {
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
        return !text.empty() && ec == std::errc() && end == text.data() + text.size();
      };
      if (colon == std::string_view::npos || !whole(v.substr(0, colon), from) ||
          !whole(v.substr(colon + 1), to)) {
        return Bad("parameter closed takes valueString \"FROM_NODE:TO_NODE\"");
      }
      segments.emplace_back(from, to);
    } else {
      return Bad(fmt::format("unknown parameter \"{}\"", name));
    }
  }
  if (!lon || !lat) return Bad("parameters longitude and latitude are required");
  in.where = {*lon, *lat};
  out.request.incidents.push_back(std::move(in));
  ASSIGN_OR_RETURN(out.request.closures, ClosuresOf(router, segments));
  return out;
}

std::string RenderRecommendations(const std::vector<Recommendation>& recs,
                                  const std::vector<std::string>& tasks, bool batch) {
  auto task = [&](size_t i) { return i < tasks.size() ? tasks[i] : std::string(); };
  if (!batch && recs.size() == 1) return RecommendationJson(recs.front(), task(0));
  std::string out = R"({"recommendations":[)";
  for (size_t i = 0; i < recs.size(); ++i) {
    if (i) out += ",";
    out += RecommendationJson(recs[i], task(i));
  }
  return out + "]}";
}

std::string RenderRecommendationParameters(const Recommendation& r, const std::string& task) {
  auto seconds = [](double s) {
    return fmt::format(
        R"({{"value":{:.1f},"unit":"s","system":"http://unitsofmeasure.org","code":"s"}})", s);
  };
  std::string out = R"({"resourceType":"Parameters","parameter":[)";
  std::vector<std::string> parts;
  if (r.ambulance) {
    parts.push_back(fmt::format(R"({{"name":"ambulance","valueReference":{{"reference":{}}}}})",
                                J("Device/" + r.ambulances[*r.ambulance].id)));
  }
  if (r.hospital) {
    parts.push_back(fmt::format(R"({{"name":"hospital","valueReference":{{"reference":{}}}}})",
                                J("Location/" + r.hospitals[*r.hospital].id)));
  }
  if (r.time_to_treatment_s) {
    parts.push_back(fmt::format(R"({{"name":"time-to-treatment","valueQuantity":{}}})",
                                seconds(*r.time_to_treatment_s)));
  }
  parts.push_back(fmt::format(R"({{"name":"rule","valueString":{}}})", J(r.rule)));
  if (!task.empty()) {
    parts.push_back(
        fmt::format(R"({{"name":"task","valueReference":{{"reference":{}}}}})", J("Task/" + task)));
  }
  for (const auto& a : r.ambulances) {
    std::string p = fmt::format(
        R"({{"name":"candidate","part":[{{"name":"kind","valueCode":"ambulance"}},{{"name":"reference","valueReference":{{"reference":{}}}}})",
        J("Device/" + a.id));
    if (a.arrival_s)
      p += fmt::format(R"(,{{"name":"drive","valueQuantity":{}}})", seconds(*a.arrival_s));
    p += fmt::format(
        R"(,{{"name":"chosen","valueBoolean":{}}},{{"name":"reason","valueString":{}}}]}})",
        a.chosen, J(a.reason));
    parts.push_back(std::move(p));
  }
  for (const auto& h : r.hospitals) {
    std::string p = fmt::format(
        R"({{"name":"candidate","part":[{{"name":"kind","valueCode":"hospital"}},{{"name":"reference","valueReference":{{"reference":{}}}}})",
        J("Location/" + h.id));
    if (h.drive_s)
      p += fmt::format(R"(,{{"name":"drive","valueQuantity":{}}})", seconds(*h.drive_s));
    p += fmt::format(R"(,{{"name":"door-to-treatment","valueQuantity":{}}})",
                     seconds(h.door_to_treatment.total_min * 60));
    if (h.total_s)
      p += fmt::format(R"(,{{"name":"total","valueQuantity":{}}})", seconds(*h.total_s));
    p += fmt::format(
        R"(,{{"name":"chosen","valueBoolean":{}}},{{"name":"reason","valueString":{}}}]}})",
        h.chosen, J(h.reason));
    parts.push_back(std::move(p));
  }
  parts.push_back(fmt::format(R"({{"name":"route","valueString":{}}})", J(Routes(r))));
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += ',';
    out += parts[i];
  }
  return out + "]}";
}

std::string RenderFleetView(const dispatch::FleetView& v, int64_t now_ms) {
  std::string hospitals, ambulances, dispatches;
  for (const auto& h : v.hospitals) {
    std::string caps;
    for (dispatch::Capability c : dispatch::AllCapabilities()) {
      if (!(h.capabilities & c)) continue;
      if (!caps.empty()) caps += ',';
      caps += J(dispatch::CapabilityCode(c));
    }
    const auto& s = h.status;
    auto opt = [](const std::optional<double>& d) { return d ? fmt::format("{}", *d) : "null"; };
    std::string beds;
    for (const auto& [code, n] : s.beds)
      beds += fmt::format("{}{}:{}", beds.empty() ? "" : ",", J(code), n);
    hospitals += fmt::format(
        R"({}{{"reference":{},"name":{},"location":[{:.7f},{:.7f}],"capabilities":[{}],"status":{{"reported_age_s":{},"diversion":{},"ed_patients":{},"ed_beds":{},"ed_waiting":{},"ed_wait_min":{},"beds":{{{}}}}}}})",
        hospitals.empty() ? "" : ",", J("Location/" + h.id), J(h.name), h.where.lon, h.where.lat,
        caps, s.reported_ms ? fmt::format("{:.0f}", (now_ms - s.reported_ms) / 1000.0) : "null",
        s.diversion, opt(s.ed_patients), opt(s.ed_beds), opt(s.ed_waiting), opt(s.ed_wait_min),
        beds);
  }
  for (const auto& a : v.ambulances) {
    ambulances += fmt::format(
        R"({}{{"reference":{},"name":{},"status":"{}","location":{},"position_age_s":{}}})",
        ambulances.empty() ? "" : ",", J("Device/" + a.id), J(a.name),
        dispatch::AmbulanceStatusCode(a.status),
        a.where ? fmt::format("[{:.7f},{:.7f}]", a.where->lon, a.where->lat) : "null",
        a.where ? fmt::format("{:.0f}", (now_ms - a.position_ms) / 1000.0) : "null");
  }
  for (const auto& d : v.dispatches) {
    dispatches +=
        fmt::format(R"({}{{"task":{},"ambulance":{},"hospital":{},"incident":{}}})",
                    dispatches.empty() ? "" : ",", J("Task/" + d.task), J("Device/" + d.ambulance),
                    J("Location/" + d.hospital), IncidentJson(d.incident));
  }
  return fmt::format(R"({{"hospitals":[{}],"ambulances":[{}],"dispatches":[{}]}})", hospitals,
                     ambulances, dispatches);
}

}  // namespace medulla::api
