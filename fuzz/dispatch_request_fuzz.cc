// A dispatch recommendation request (src/api/dispatch_api.h), as POST /dispatch/recommend takes
// it (JSON) or POST /$dispatch-recommend (a FHIR Parameters resource); the first input byte
// picks which (even, such as '0': JSON; odd, such as '1': Parameters), the rest is the body. Road
// closures are resolved against a small hand-made road network built once. The parsers must refuse
// anything malformed with InvalidArgument and a reason, never crash, and what they accept must
// hold: at least one incident (exactly one unless a JSON "incidents" batch), every incident at a
// finite position with a valid condition, hospital ids non-empty, closures sorted, unique and in
// the graph. And the two forms agree: what one accepts, written in either form, parses back the
// same. Seeds: fuzz/seeds-dispatch_request/.
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/dispatch_api.h"
#include "json/write.h"
#include "routing/graph_builder.h"
#include "routing/road_graph.h"
#include "routing/road_profile.h"
#include "routing/router.h"

namespace {

using medulla::api::DispatchRequest;
using medulla::dispatch::Condition;
using medulla::dispatch::Incident;
namespace routing = medulla::routing;

// Seven OSM nodes (ids 1..7) 100 m apart in Porto, joined by two-way residential roads, and a
// one-way road from 3 round by 7 to 6:
//
//   1 - 2 - 3 > 7
//   |   |   |  v
//   4 - 5 - 6 <
routing::RoadNetwork Network() {
  constexpr int32_t kLat = 411'500'000, kLon = -86'100'000;  // 1e-7 degrees
  constexpr int32_t kDLat = 9'000, kDLon = 11'950;           // about 100 m
  routing::RoadNetwork net;
  auto node = [&](int64_t id, int row, int col) {
    net.nodes[id] = {kLat - row * kDLat, kLon + col * kDLon};
  };
  node(1, 0, 0), node(2, 0, 1), node(3, 0, 2), node(7, 0, 3);
  node(4, 1, 0), node(5, 1, 1), node(6, 1, 2);
  auto way = [&](int64_t id, std::vector<int64_t> nodes, bool oneway) {
    auto profile = routing::ProfileOf([&](std::string_view key) -> std::string_view {
      if (key == "highway") return "residential";
      if (key == "oneway" && oneway) return "yes";
      return {};
    });
    if (!profile) __builtin_trap();
    net.ways.push_back({id, *profile, std::move(nodes)});
  };
  way(10, {1, 2, 3}, false);
  way(11, {4, 5, 6}, false);
  way(12, {1, 4}, false);
  way(13, {2, 5}, false);
  way(14, {3, 6}, false);
  way(15, {3, 7, 6}, true);
  return net;
}

const routing::Router& TheRouter() {
  static const std::unique_ptr<routing::Router> router = [] {
    auto data = routing::BuildRoadGraph(Network());
    if (!data) __builtin_trap();
    auto graph = routing::RoadGraph::FromData(std::move(*data));
    if (!graph) __builtin_trap();
    auto r = routing::Router::Open(*graph, {.time_of_day = false});
    if (!r) __builtin_trap();
    return std::move(*r);
  }();
  return *router;
}

void AppendNumber(std::string& out, double value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) __builtin_trap();
  out.append(buf, end);
}

std::string Json(std::string_view s) {
  std::string out;
  medulla::json::WriteString(s, out);
  return out;
}

std::string_view Bool(bool b) {
  return b ? "true" : "false";
}

// The request written back as POST /dispatch/recommend JSON (without closures: they are
// resolved to graph points and cannot be written back as node pairs).
std::string WriteJson(const DispatchRequest& r, bool batch) {
  auto incident = [](const Incident& in) {
    std::string out = R"({"id":)" + Json(in.id) + R"(,"location":[)";
    AppendNumber(out, in.where.lon);
    out += ",";
    AppendNumber(out, in.where.lat);
    out += R"(],"condition":)" + Json(medulla::dispatch::ConditionCode(in.condition)) +
           R"(,"lvo_suspected":)" + std::string(Bool(in.lvo_suspected)) + R"(,"paediatric":)" +
           std::string(Bool(in.paediatric)) + "}";
    return out;
  };
  std::string out = "{";
  if (batch) {
    out += R"("incidents":[)";
    for (size_t i = 0; i < r.request.incidents.size(); ++i) {
      out += (i ? "," : "") + incident(r.request.incidents[i]);
    }
    out += "]";
  } else {
    out += R"("incident":)" + incident(r.request.incidents.front());
  }
  out += R"(,"hospitals":[)";
  for (size_t i = 0; i < r.request.hospitals.size(); ++i) {
    out += (i ? "," : "") + Json("Location/" + r.request.hospitals[i]);
  }
  out += R"(],"geometry":)" + std::string(Bool(r.request.with_geometry)) + R"(,"dispatch":)" +
         std::string(Bool(r.commit)) + "}";
  return out;
}

// The (single-incident) request written back as a Parameters resource, without closures.
std::string WriteParameters(const DispatchRequest& r) {
  const Incident& in = r.request.incidents.front();
  std::string out = R"({"resourceType":"Parameters","parameter":[)";
  out += R"({"name":"longitude","valueDecimal":)";
  AppendNumber(out, in.where.lon);
  out += R"(},{"name":"latitude","valueDecimal":)";
  AppendNumber(out, in.where.lat);
  out += R"(},{"name":"condition","valueCode":)" +
         Json(medulla::dispatch::ConditionCode(in.condition)) + "}";
  out += R"(,{"name":"incident","valueString":)" + Json(in.id) + "}";
  out += R"(,{"name":"lvo-suspected","valueBoolean":)" + std::string(Bool(in.lvo_suspected)) + "}";
  out += R"(,{"name":"paediatric","valueBoolean":)" + std::string(Bool(in.paediatric)) + "}";
  out += R"(,{"name":"dispatch","valueBoolean":)" + std::string(Bool(r.commit)) + "}";
  out +=
      R"(,{"name":"geometry","valueBoolean":)" + std::string(Bool(r.request.with_geometry)) + "}";
  for (const std::string& h : r.request.hospitals) {
    out += R"(,{"name":"hospital","valueReference":{"reference":)" + Json("Location/" + h) + "}}";
  }
  return out + "]}";
}

bool SameIncident(const Incident& a, const Incident& b) {
  return a.id == b.id && a.where.lon == b.where.lon && a.where.lat == b.where.lat &&
         a.condition == b.condition && a.lvo_suspected == b.lvo_suspected &&
         a.paediatric == b.paediatric;
}

// Everything but the closures and the batch flag.
bool SameRequest(const DispatchRequest& a, const DispatchRequest& b) {
  if (a.commit != b.commit || a.request.with_geometry != b.request.with_geometry ||
      a.request.hospitals != b.request.hospitals ||
      a.request.incidents.size() != b.request.incidents.size()) {
    return false;
  }
  for (size_t i = 0; i < a.request.incidents.size(); ++i) {
    if (!SameIncident(a.request.incidents[i], b.request.incidents[i])) return false;
  }
  return true;
}

void CheckAccepted(const DispatchRequest& r, bool parameters, const routing::Router& router) {
  const auto& incidents = r.request.incidents;
  if (incidents.empty()) __builtin_trap();
  if ((parameters || !r.batch) && incidents.size() != 1) __builtin_trap();
  if (parameters && r.batch) __builtin_trap();
  for (const Incident& in : incidents) {
    if (!std::isfinite(in.where.lon) || !std::isfinite(in.where.lat)) __builtin_trap();
    if (static_cast<uint8_t>(in.condition) > static_cast<uint8_t>(Condition::kObstetric)) {
      __builtin_trap();
    }
    const auto again =
        medulla::dispatch::ConditionFromCode(medulla::dispatch::ConditionCode(in.condition));
    if (!again || *again != in.condition) __builtin_trap();
  }
  for (const std::string& h : r.request.hospitals) {
    if (h.empty()) __builtin_trap();
  }
  const auto& points = r.request.closures.points;
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i] >= router.graph().point_count()) __builtin_trap();
    if (i && points[i - 1] >= points[i]) __builtin_trap();
  }
}

void CheckRefused(const medulla::core::Status& e) {
  if (e.code() != medulla::core::Code::kInvalidArgument &&
      e.code() != medulla::core::Code::kTooLarge) {
    __builtin_trap();
  }
  if (e.message().empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool parameters = data[0] & 1;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const routing::Router& router = TheRouter();
  auto parsed = parameters ? medulla::api::ParseDispatchParameters(body, router)
                           : medulla::api::ParseDispatchRequest(body, router);
  if (!parsed) {
    CheckRefused(parsed.error());
    return 0;
  }
  const DispatchRequest& r = *parsed;
  CheckAccepted(r, parameters, router);
  // Written back as JSON (in the form it came in, or a batch of one), it parses the same.
  for (bool batch : {r.batch, true}) {
    auto again = medulla::api::ParseDispatchRequest(WriteJson(r, batch), router);
    if (!again || again->batch != batch || !SameRequest(*again, r)) __builtin_trap();
  }
  // One incident written as Parameters parses the same.
  if (r.request.incidents.size() == 1) {
    auto again = medulla::api::ParseDispatchParameters(WriteParameters(r), router);
    if (!again || again->batch || !SameRequest(*again, r)) __builtin_trap();
  }
  return 0;
}
