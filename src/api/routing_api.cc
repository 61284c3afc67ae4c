#include "api/routing_api.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "json/parse.h"
#include "routing/traffic_feed.h"

namespace medulla::api {

namespace {

core::Result<routing::LonLat> ParseLonLat(std::string_view name, std::string_view text) {
  const size_t comma = text.find(',');
  double lon = 0, lat = 0;
  auto number = [](std::string_view s, double& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
  };
  if (comma == std::string_view::npos || !number(text.substr(0, comma), lon) ||
      !number(text.substr(comma + 1), lat)) {
    return core::Fail(core::InvalidArgument(
        fmt::format("{} must be LON,LAT in decimal degrees (got '{}')", name, text)));
  }
  return routing::LonLat{lon, lat};
}

core::Result<std::vector<routing::LonLat>> ParsePoints(const json::Value* list,
                                                       std::string_view name) {
  if (!list || !list->is_array() || list->size() == 0) {
    return core::Fail(core::InvalidArgument(
        fmt::format("{} must be a non-empty array of [lon, lat] pairs", name)));
  }
  if (list->size() > kMaxTableSide) {
    return core::Fail(core::TooLarge(
        fmt::format("{} has {} points; at most {} are taken", name, list->size(), kMaxTableSide)));
  }
  std::vector<routing::LonLat> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const json::Value* p = list->items()[i];
    double v[2] = {0, 0};
    bool ok = p->is_array() && p->size() == 2;
    for (size_t k = 0; ok && k < 2; ++k) {
      const json::Value* x = p->items()[k];
      ok = x->is_number();
      if (ok) {
        const std::string_view t = x->text();
        const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v[k]);
        ok = ec == std::errc() && end == t.data() + t.size();
      }
    }
    if (!ok) {
      return core::Fail(core::InvalidArgument(
          fmt::format("{}[{}] must be a [lon, lat] pair of numbers", name, i)));
    }
    out.push_back({v[0], v[1]});
  }
  return out;
}

// An OSM node id: the whole text, a decimal integer.
bool ParseNodeId(std::string_view text, int64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// ?closed=FROM:TO,FROM:TO,..
core::Result<routing::Closures> ParseClosedParam(const routing::Router& router,
                                                 std::string_view text) {
  // Counted before anything is parsed, so a huge list costs nothing.
  const size_t count = std::count(text.begin(), text.end(), ',') + size_t{1};
  if (count > routing::Router::kMaxClosures) {
    return core::Fail(core::InvalidArgument(fmt::format(
        "closed names {} segments; at most {} are taken", count, routing::Router::kMaxClosures)));
  }
  std::vector<std::pair<int64_t, int64_t>> segments;
  for (size_t i = 0, start = 0; start <= text.size(); ++i) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = text.substr(start, end - start);
    const size_t colon = item.find(':');
    int64_t from = 0, to = 0;
    if (colon == std::string_view::npos || !ParseNodeId(item.substr(0, colon), from) ||
        !ParseNodeId(item.substr(colon + 1), to)) {
      return core::Fail(core::InvalidArgument(fmt::format(
          "closed must be FROM:TO pairs of OSM node ids separated by commas (item {} is '{}')",
          i + 1, item)));
    }
    segments.emplace_back(from, to);
    start = end + 1;
  }
  return router.ResolveClosures(segments);
}

// "closed":[[from,to],..] in a table request; absent: none.
core::Result<routing::Closures> ParseClosedMember(const routing::Router& router,
                                                  const json::Value* list) {
  if (!list) return routing::Closures{};
  if (!list->is_array()) {
    return core::Fail(core::InvalidArgument(
        "closed must be an array of [from_node, to_node] pairs of OSM node ids"));
  }
  if (list->size() > routing::Router::kMaxClosures) {
    return core::Fail(
        core::InvalidArgument(fmt::format("closed has {} segments; at most {} are taken",
                                          list->size(), routing::Router::kMaxClosures)));
  }
  std::vector<std::pair<int64_t, int64_t>> segments;
  for (size_t i = 0; i < list->size(); ++i) {
    const json::Value* p = list->items()[i];
    int64_t ids[2] = {0, 0};
    bool ok = p->is_array() && p->size() == 2;
    for (size_t k = 0; ok && k < 2; ++k) {
      const json::Value* x = p->items()[k];
      ok = x->is_number() && ParseNodeId(x->text(), ids[k]);
    }
    if (!ok) {
      return core::Fail(core::InvalidArgument(
          fmt::format("closed[{}] must be a [from_node, to_node] pair of OSM node ids", i)));
    }
    segments.emplace_back(ids[0], ids[1]);
  }
  return router.ResolveClosures(segments);
}

void AppendNumber(double v, std::string& out) {
  fmt::format_to(std::back_inserter(out), "{:.1f}", v);
}

http::Response Json(std::string body) {
  return http::Response::Text(200, std::move(body), "application/json");
}

}  // namespace

core::Result<http::Response> RoutingRoute(routing::Router& router,
                                          const records::QueryParams& params) {
  std::optional<routing::LonLat> from, to;
  bool geometry = true;
  std::optional<std::string_view> closed;
  for (const auto& [name, value] : params) {
    if (std::count_if(params.begin(), params.end(),
                      [&](const auto& p) { return p.first == name; }) > 1) {
      return core::Fail(core::InvalidArgument(fmt::format("{} is given more than once", name)));
    }
    if (name == "_format") continue;  // JSON is all it speaks
    if (name == "from") {
      ASSIGN_OR_RETURN(from, ParseLonLat("from", value));
    } else if (name == "to") {
      ASSIGN_OR_RETURN(to, ParseLonLat("to", value));
    } else if (name == "geometry") {
      if (value != "true" && value != "false") {
        return core::Fail(core::InvalidArgument("geometry must be true or false"));
      }
      geometry = value == "true";
    } else if (name == "closed") {
      closed = value;
    } else {
      return core::Fail(core::InvalidArgument(
          fmt::format("unknown parameter '{}' (from, to, geometry and closed are)", name)));
    }
  }
  if (!from || !to) {
    return core::Fail(core::InvalidArgument("from=LON,LAT and to=LON,LAT are both needed"));
  }
  routing::Closures closures;
  if (closed) {
    ASSIGN_OR_RETURN(closures, ParseClosedParam(router, *closed));
  }
  ASSIGN_OR_RETURN(routing::RouteAnswer answer, router.Route(*from, *to, geometry, &closures));
  std::string body = R"({"duration_s":)";
  AppendNumber(answer.duration_s, body);
  body += R"(,"distance_m":)";
  AppendNumber(answer.distance_m, body);
  if (geometry) {
    body += R"(,"geometry":{"type":"LineString","coordinates":[)";
    for (size_t i = 0; i < answer.geometry.size(); ++i) {
      fmt::format_to(std::back_inserter(body), "{}[{:.7f},{:.7f}]", i ? "," : "",
                     answer.geometry[i].lon, answer.geometry[i].lat);
    }
    body += "]}";
  }
  body += "}";
  return Json(std::move(body));
}

core::Result<http::Response> RoutingTable(routing::Router& router, std::string_view body) {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(body));
  const json::Value* root = doc.root();
  if (!root->is_object()) {
    return core::Fail(
        core::InvalidArgument("the body must be a JSON object with sources and destinations"));
  }
  ASSIGN_OR_RETURN(auto sources, ParsePoints(root->Find("sources"), "sources"));
  ASSIGN_OR_RETURN(auto destinations, ParsePoints(root->Find("destinations"), "destinations"));
  if (sources.size() * destinations.size() > kMaxTableCells) {
    return core::Fail(
        core::TooLarge(fmt::format("{} x {} is more than {} table cells", sources.size(),
                                   destinations.size(), kMaxTableCells)));
  }
  ASSIGN_OR_RETURN(routing::Closures closures, ParseClosedMember(router, root->Find("closed")));
  ASSIGN_OR_RETURN(routing::TableAnswer t, router.Table(sources, destinations, &closures));
  std::string out;
  auto matrix = [&](const std::vector<std::optional<double>>& cells) {
    out += "[";
    for (size_t i = 0; i < t.rows; ++i) {
      out += i ? ",[" : "[";
      for (size_t j = 0; j < t.cols; ++j) {
        if (j) out += ",";
        const auto& c = cells[i * t.cols + j];
        if (c) {
          AppendNumber(*c, out);
        } else {
          out += "null";
        }
      }
      out += "]";
    }
    out += "]";
  };
  out += R"({"durations_s":)";
  matrix(t.durations_s);
  out += R"(,"distances_m":)";
  matrix(t.distances_m);
  out += "}";
  return Json(std::move(out));
}

core::Result<http::Response> RoutingTraffic(routing::Router& router, std::string_view body) {
  ASSIGN_OR_RETURN(auto updates, routing::ParseSpeedUpdates(body));
  ASSIGN_OR_RETURN(routing::TrafficReport r, router.UpdateTraffic(updates));
  return Json(fmt::format(R"({{"applied":{},"unknown_segments":{},"live_after_ms":{:.1f}}})",
                          r.applied, r.unknown, r.live_after_ms));
}

}  // namespace medulla::api
