// Live traffic from the network (POST /routing/traffic, NDJSON): the parser must refuse anything
// malformed with the line it is on, never read out of bounds, and what it accepts must be what a
// writer of the same updates would send. Seeds: fuzz/seeds-traffic_feed/.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "routing/traffic_feed.h"

namespace {

using medulla::routing::ParseSpeedUpdates;
using medulla::routing::SpeedUpdate;

void AppendNumber(std::string& out, auto value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) __builtin_trap();
  out.append(buf, end);
}

// The updates written back as NDJSON, as a traffic source would send them.
std::string Write(const std::vector<SpeedUpdate>& updates) {
  std::string out;
  for (const SpeedUpdate& u : updates) {
    out += R"({"from_node":)";
    AppendNumber(out, u.from_node);
    out += R"(,"to_node":)";
    AppendNumber(out, u.to_node);
    out += R"(,"speed_kmh":)";
    if (u.speed_kmh) {
      AppendNumber(out, *u.speed_kmh);
    } else {
      out += "null";
    }
    out += "}\n";
  }
  return out;
}

bool Same(const SpeedUpdate& a, const SpeedUpdate& b) {
  return a.from_node == b.from_node && a.to_node == b.to_node &&
         a.speed_kmh.has_value() == b.speed_kmh.has_value() &&
         (!a.speed_kmh || *a.speed_kmh == *b.speed_kmh);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t lines = static_cast<size_t>(std::count(input.begin(), input.end(), '\n')) + 1;
  auto parsed = ParseSpeedUpdates(input);
  if (!parsed) {
    const auto& e = parsed.error();
    if (e.code() == medulla::core::Code::kTooLarge) return 0;
    if (e.code() != medulla::core::Code::kInvalidArgument) __builtin_trap();
    // Every refusal but the empty body's names a line of the input.
    const std::string& m = e.message();
    if (m.starts_with("line ")) {
      size_t line = 0;
      const auto [end, ec] = std::from_chars(m.data() + 5, m.data() + m.size(), line);
      if (ec != std::errc() || line == 0 || line > lines) __builtin_trap();
    } else if (m.find("no speed updates") == std::string::npos) {
      __builtin_trap();
    }
    return 0;
  }
  const std::vector<SpeedUpdate>& updates = *parsed;
  if (updates.empty() || updates.size() > lines ||
      updates.size() > medulla::routing::kMaxSpeedUpdates) {
    __builtin_trap();
  }
  for (const SpeedUpdate& u : updates) {
    if (u.from_node <= 0 || u.to_node <= 0) __builtin_trap();
    if (u.speed_kmh && !std::isfinite(*u.speed_kmh)) __builtin_trap();
  }
  // What was accepted reads back the same once written out.
  auto again = ParseSpeedUpdates(Write(updates));
  if (!again || again->size() != updates.size()) __builtin_trap();
  for (size_t i = 0; i < updates.size(); ++i) {
    if (!Same((*again)[i], updates[i])) __builtin_trap();
  }
  return 0;
}
