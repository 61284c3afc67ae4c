#include "routing/traffic_feed.h"

#include <charconv>

#include <fmt/format.h>

#include "json/parse.h"

namespace medulla::routing {

namespace {

core::Result<int64_t> NodeId(const json::Value& line, std::string_view key) {
  const json::Value* v = line.Find(key);
  if (!v || !v->is_number()) {
    return core::Fail(core::InvalidArgument(fmt::format("{} must be an OSM node id", key)));
  }
  int64_t id = 0;
  const std::string_view text = v->text();
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
    return core::Fail(core::InvalidArgument(fmt::format("{} must be an OSM node id", key)));
  }
  return id;
}

core::Result<SpeedUpdate> ParseLine(std::string_view text) {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(text));
  const json::Value* line = doc.root();
  if (!line->is_object()) return core::Fail(core::InvalidArgument("not a JSON object"));
  SpeedUpdate u;
  ASSIGN_OR_RETURN(u.from_node, NodeId(*line, "from_node"));
  ASSIGN_OR_RETURN(u.to_node, NodeId(*line, "to_node"));
  const json::Value* speed = line->Find("speed_kmh");
  if (!speed) return core::Fail(core::InvalidArgument("speed_kmh is missing"));
  if (!speed->is_null()) {
    if (!speed->is_number()) {
      return core::Fail(core::InvalidArgument("speed_kmh must be a number (or null)"));
    }
    double kmh = 0;
    const std::string_view t = speed->text();
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), kmh);
    if (ec != std::errc() || end != t.data() + t.size()) {
      return core::Fail(core::InvalidArgument("speed_kmh must be a number (or null)"));
    }
    u.speed_kmh = kmh;
  }
  for (const json::Member& m : line->members()) {
    if (m.key != "from_node" && m.key != "to_node" && m.key != "speed_kmh") {
      return core::Fail(core::InvalidArgument(fmt::format("unknown member '{}'", m.key)));
    }
  }
  return u;
}

}  // namespace

core::Result<std::vector<SpeedUpdate>> ParseSpeedUpdates(std::string_view ndjson) {
  std::vector<SpeedUpdate> out;
  size_t line_no = 0;
  while (!ndjson.empty()) {
    ++line_no;
    const size_t nl = ndjson.find('\n');
    std::string_view line = ndjson.substr(0, nl);
    ndjson.remove_prefix(nl == std::string_view::npos ? ndjson.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (out.size() == kMaxSpeedUpdates) {
      return core::Fail(core::TooLarge(
          fmt::format("more than {} speed updates in one request", kMaxSpeedUpdates)));
    }
    auto u = ParseLine(line);
    if (!u) {
      return core::Fail(core::InvalidArgument(
          fmt::format("line {}: {}; nothing was applied", line_no, u.error().message())));
    }
    out.push_back(*u);
  }
  if (out.empty()) return core::Fail(core::InvalidArgument("no speed updates in the request"));
  return out;
}

}  // namespace medulla::routing
