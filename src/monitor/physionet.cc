#include "monitor/physionet.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>

namespace medulla::monitor {
namespace {

constexpr int64_t kMsPerHour = 3'600'000;
constexpr std::streamoff kMaxFileBytes = 64 << 20;

core::Status Bad(const std::string& path, int line, std::string_view what) {
  return core::Status(core::Code::kInvalidArgument,
                      path + ":" + std::to_string(line) + ": " + std::string(what));
}

core::Result<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return core::Fail(core::Status(core::Code::kNotFound, "cannot open " + path));
  const auto size = in.tellg();
  if (size > kMaxFileBytes)
    return core::Fail(core::Status(core::Code::kTooLarge, path + ": over 64 MiB"));
  std::string text(static_cast<size_t>(size), '\0');
  in.seekg(0);
  in.read(text.data(), size);
  return text;
}

std::vector<std::string_view> Split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t end = line.find(sep, start);
    out.push_back(line.substr(start, end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// A number, or nullopt for an empty field or NaN; false when the text is not a number.
bool ParseNumber(std::string_view s, std::optional<double>& out) {
  out.reset();
  if (s.empty() || s == "NaN" || s == "nan") return true;
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  out = v;
  return true;
}

// Adds a reading if it is plausible, as live ingest would accept it.
void Add(Stay& stay, size_t hour, Vital vital, int64_t time_ms, double value) {
  if (!Plausible(vital, value)) {
    ++stay.rejected;
    return;
  }
  if (stay.hours.size() <= hour) stay.hours.resize(hour + 1);
  stay.hours[hour].push_back(Reading{time_ms, value, vital});
}

template <typename Lines>
void ForEachLine(std::string_view text, Lines&& fn) {
  int number = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++number;
    if (!fn(line, number)) return;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

core::Result<Stay> Read2019(const std::string& path, std::string_view text) {
  Stay stay;
  stay.file = path;
  struct Column {
    std::string_view name;
    Vital vital;
    double scale;
  };
  // FiO2 is a fraction in the Challenge files; the monitor keeps it in percent.
  static constexpr Column kColumns[] = {
      {"HR", Vital::kHeartRate, 1},          {"O2Sat", Vital::kSpO2, 1},
      {"Temp", Vital::kTemperature, 1},      {"SBP", Vital::kSystolicBp, 1},
      {"DBP", Vital::kDiastolicBp, 1},       {"Resp", Vital::kRespiratoryRate, 1},
      {"FiO2", Vital::kInspiredOxygen, 100},
  };
  std::vector<int> index(std::size(kColumns), -1);
  int label_index = -1;
  size_t width = 0;
  core::Status error;
  ForEachLine(text, [&](std::string_view line, int number) {
    if (line.empty()) return true;
    const auto fields = Split(line, '|');
    if (number == 1) {
      width = fields.size();
      for (size_t f = 0; f < fields.size(); ++f) {
        for (size_t c = 0; c < std::size(kColumns); ++c) {
          if (fields[f] == kColumns[c].name) index[c] = static_cast<int>(f);
        }
        if (fields[f] == "SepsisLabel") label_index = static_cast<int>(f);
      }
      if (label_index < 0 || index[0] < 0) {
        error = Bad(path, number, "not a Challenge 2019 file (no HR or SepsisLabel column)");
        return false;
      }
      return true;
    }
    if (fields.size() != width) {
      error = Bad(path, number, "expected " + std::to_string(width) + " fields");
      return false;
    }
    const size_t hour = stay.sepsis_labels.size();
    const int64_t time_ms = static_cast<int64_t>(hour) * kMsPerHour;
    for (size_t c = 0; c < std::size(kColumns); ++c) {
      if (index[c] < 0) continue;
      std::optional<double> v;
      if (!ParseNumber(fields[index[c]], v)) {
        error = Bad(path, number, "not a number in " + std::string(kColumns[c].name));
        return false;
      }
      if (v) Add(stay, hour, kColumns[c].vital, time_ms, *v * kColumns[c].scale);
    }
    std::optional<double> label;
    if (!ParseNumber(fields[label_index], label) || !label || (*label != 0 && *label != 1)) {
      error = Bad(path, number, "SepsisLabel must be 0 or 1");
      return false;
    }
    stay.sepsis_labels.push_back(static_cast<int8_t>(*label));
    return true;
  });
  if (!error.ok()) return core::Fail(std::move(error));
  if (stay.sepsis_labels.empty()) return core::Fail(Bad(path, 1, "no rows"));
  stay.hours.resize(stay.sepsis_labels.size());
  return stay;
}

core::Result<Stay> Read2012(const std::string& path, std::string_view text) {
  Stay stay;
  stay.file = path;
  struct Parameter {
    std::string_view name;
    Vital vital;
  };
  static constexpr Parameter kParameters[] = {
      {"HR", Vital::kHeartRate},          {"RespRate", Vital::kRespiratoryRate},
      {"Temp", Vital::kTemperature},      {"SysABP", Vital::kSystolicBp},
      {"NISysABP", Vital::kSystolicBp},   {"DiasABP", Vital::kDiastolicBp},
      {"NIDiasABP", Vital::kDiastolicBp}, {"SaO2", Vital::kSpO2},
      {"FiO2", Vital::kInspiredOxygen},   {"GCS", Vital::kConsciousness},
  };
  core::Status error;
  size_t last_hour = 47;  // the Challenge's records cover 48 hours
  ForEachLine(text, [&](std::string_view line, int number) {
    if (line.empty()) return true;
    const auto fields = Split(line, ',');
    if (number == 1) {
      if (line != "Time,Parameter,Value") {
        error = Bad(path, number, "not a Challenge 2012 file (header Time,Parameter,Value)");
        return false;
      }
      return true;
    }
    if (fields.size() != 3 || fields[0].size() != 5 || fields[0][2] != ':') {
      error = Bad(path, number, "expected HH:MM,Parameter,Value");
      return false;
    }
    int hh = 0, mm = 0;
    const auto t = fields[0];
    if (std::from_chars(t.data(), t.data() + 2, hh).ec != std::errc() ||
        std::from_chars(t.data() + 3, t.data() + 5, mm).ec != std::errc() || mm > 59) {
      error = Bad(path, number, "bad time " + std::string(t));
      return false;
    }
    std::optional<double> value;
    if (!ParseNumber(fields[2], value) || !value) {
      error = Bad(path, number, "bad value");
      return false;
    }
    if (fields[1] == "RecordID") stay.record_id = static_cast<int64_t>(*value);
    const int minutes = hh * 60 + mm;
    // Hour h holds (h:00, h+1:00]; admission (00:00) belongs to hour 0.
    const size_t hour = minutes == 0 ? 0 : static_cast<size_t>((minutes - 1) / 60);
    last_hour = std::max(last_hour, hour);
    for (const auto& p : kParameters) {
      if (fields[1] != p.name) continue;
      double v = *value;
      if (p.vital == Vital::kInspiredOxygen) v *= 100;  // a fraction in the files
      if (p.vital == Vital::kConsciousness) {
        // GCS 15 is alert; anything lower is an altered level of consciousness (ACVPU "C" or
        // worse). A GCS outside 3..15 is not a GCS.
        if (v < 3 || v > 15) {
          ++stay.rejected;
          break;
        }
        v = v >= 15 ? 0 : 1;
      }
      Add(stay, hour, p.vital, int64_t{minutes} * 60'000, v);
      break;
    }
    return true;
  });
  if (!error.ok()) return core::Fail(std::move(error));
  stay.hours.resize(last_hour + 1);
  for (auto& h : stay.hours) {
    std::stable_sort(h.begin(), h.end(),
                     [](const Reading& a, const Reading& b) { return a.time_ms < b.time_ms; });
  }
  return stay;
}

}  // namespace

core::Result<Stay> ReadPhysionet(const std::string& path, PhysionetFormat format) {
  ASSIGN_OR_RETURN(const std::string text, Slurp(path));
  return format == PhysionetFormat::k2019 ? Read2019(path, text) : Read2012(path, text);
}

core::Result<std::vector<std::pair<int64_t, int>>> ReadPhysionet2012Outcomes(
    const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, Slurp(path));
  std::vector<std::pair<int64_t, int>> out;
  core::Status error;
  int death_index = -1;
  ForEachLine(text, [&](std::string_view line, int number) {
    if (line.empty()) return true;
    const auto fields = Split(line, ',');
    if (number == 1) {
      for (size_t f = 0; f < fields.size(); ++f) {
        if (fields[f] == "In-hospital_death") death_index = static_cast<int>(f);
      }
      if (fields.empty() || fields[0] != "RecordID" || death_index < 0) {
        error = Bad(path, number, "expected RecordID,...,In-hospital_death");
        return false;
      }
      return true;
    }
    std::optional<double> id, death;
    if (static_cast<int>(fields.size()) <= death_index || !ParseNumber(fields[0], id) || !id ||
        !ParseNumber(fields[death_index], death) || !death) {
      error = Bad(path, number, "bad outcome row");
      return false;
    }
    out.emplace_back(static_cast<int64_t>(*id), *death != 0 ? 1 : 0);
    return true;
  });
  if (!error.ok()) return core::Fail(std::move(error));
  return out;
}

}  // namespace medulla::monitor
