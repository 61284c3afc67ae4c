#include "telemetry/pending_row.h"

#include <cmath>
#include <cstring>

namespace medulla::telemetry {
namespace {

constexpr unsigned char kVersion2 = 0xFF;
constexpr uint8_t kHasQuality = 1;
constexpr uint8_t kHasRr = 2;

template <typename T>
void Put(std::string& out, const T& v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

// Takes a T from the front of `in`; false when it is too short.
template <typename T>
bool Take(std::string_view& in, T& v) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(&v, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}

bool TakeVitalAndPatient(std::string_view& in, uint8_t vital, StoredReading& r) {
  uint8_t length;
  if (vital >= monitor::kVitalCount || !Take(in, length) || in.size() < length) return false;
  r.vital = static_cast<monitor::Vital>(vital);
  r.patient.assign(in.substr(0, length));
  in.remove_prefix(length);
  return true;
}

bool DecodeVersion1(std::string_view in, std::vector<StoredReading>& out) {
  while (!in.empty()) {
    StoredReading r;
    uint8_t vital;
    if (!Take(in, vital) || !TakeVitalAndPatient(in, vital, r) || !Take(in, r.time_ms) ||
        !Take(in, r.value)) {
      return false;
    }
    out.push_back(std::move(r));
  }
  return true;
}

}  // namespace

void EncodePendingRow(const std::vector<StoredReading>& batch, std::string& out) {
  out.push_back(static_cast<char>(kVersion2));
  for (const auto& r : batch) {
    const bool quality = !std::isnan(r.quality);
    out.push_back(static_cast<char>(r.vital));
    out.push_back(static_cast<char>((quality ? kHasQuality : 0) | (r.rr_ms.empty() ? 0 : kHasRr)));
    out.push_back(static_cast<char>(r.patient.size()));  // at most 255: Append checks
    out += r.patient;
    Put(out, r.time_ms);
    Put(out, r.value);
    if (quality) Put(out, r.quality);
    if (!r.rr_ms.empty()) {
      Put(out, static_cast<uint16_t>(r.rr_ms.size()));  // at most kMaxRrPerReading: checked too
      for (const uint16_t interval : r.rr_ms) Put(out, interval);
    }
  }
}

bool DecodePendingRow(std::string_view in, std::vector<StoredReading>& out) {
  if (in.empty() || static_cast<unsigned char>(in[0]) != kVersion2) return DecodeVersion1(in, out);
  in.remove_prefix(1);
  while (!in.empty()) {
    StoredReading r;
    uint8_t vital, flags;
    if (!Take(in, vital) || !Take(in, flags) || (flags & ~(kHasQuality | kHasRr)) != 0 ||
        !TakeVitalAndPatient(in, vital, r) || !Take(in, r.time_ms) || !Take(in, r.value)) {
      return false;
    }
    if ((flags & kHasQuality) != 0 && !Take(in, r.quality)) return false;
    if ((flags & kHasRr) != 0) {
      uint16_t n;
      if (!Take(in, n) || n == 0 || n > kMaxRrPerReading || in.size() < 2u * n) return false;
      r.rr_ms.resize(n);
      for (uint16_t& interval : r.rr_ms) Take(in, interval);
    }
    out.push_back(std::move(r));
  }
  return true;
}

}  // namespace medulla::telemetry
