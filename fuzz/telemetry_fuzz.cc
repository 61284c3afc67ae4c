// Device readings from the network and blocks and pending rows from disk: the reading parser must
// refuse anything malformed with a reason, and the decoders must never read out of bounds or
// loop on damaged input. The first byte picks the target: even (the text seeds' leading space)
// the reading parser; 1 mod 4 the Gorilla block decoder; 3 mod 8 the stored-block decoder
// (telemetry/block.h); 7 mod 8 the pending-row decoder. Binary seeds: fuzz/seeds-telemetry.py.
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry/block.h"
#include "telemetry/gorilla.h"
#include "telemetry/pending_row.h"
#include "telemetry/reading.h"

namespace {

using medulla::telemetry::BlockDecoder;
using medulla::telemetry::BlockEncoder;
using medulla::telemetry::Sample;
using medulla::telemetry::StoredReading;

uint32_t QualityBits(float q) {
  return std::isnan(q) ? medulla::telemetry::kAbsentQualityBits : std::bit_cast<uint32_t>(q);
}

bool Same(const Sample& a, const Sample& b) {
  return a.time_ms == b.time_ms &&
         std::bit_cast<uint64_t>(a.value) == std::bit_cast<uint64_t>(b.value) &&
         QualityBits(a.quality) == QualityBits(b.quality) && a.rr_ms == b.rr_ms;
}

// Whatever decodes, the encoder writes again and the decoder reads back the same.
void FuzzBlock(std::string_view input) {
  auto decoder = BlockDecoder::Open(input);
  if (!decoder) return;
  std::vector<Sample> samples;
  Sample s;
  while (decoder->Next(s)) {
    if (samples.size() == decoder->count()) __builtin_trap();
    if (!samples.empty() && s.time_ms < samples.back().time_ms) __builtin_trap();
    if (s.rr_ms.size() > medulla::telemetry::kMaxRrPerReading) __builtin_trap();
    samples.push_back(s);
  }
  BlockEncoder encoder;
  for (const Sample& x : samples) {
    if (!encoder.Append(x)) __builtin_trap();
  }
  const std::string again = encoder.Finish();
  if (again.size() != encoder.byte_size()) __builtin_trap();
  auto reread = BlockDecoder::Open(again);
  if (!reread) __builtin_trap();
  for (const Sample& x : samples) {
    if (!reread->Next(s) || !Same(s, x)) __builtin_trap();
  }
  if (reread->Next(s) || reread->corrupt()) __builtin_trap();
}

void FuzzPendingRow(std::string_view input) {
  std::vector<StoredReading> readings;
  if (!medulla::telemetry::DecodePendingRow(input, readings)) return;
  for (const auto& r : readings) {
    if (r.patient.size() > 255 || r.rr_ms.size() > medulla::telemetry::kMaxRrPerReading) {
      __builtin_trap();
    }
  }
  std::string row;
  medulla::telemetry::EncodePendingRow(readings, row);
  std::vector<StoredReading> again;
  if (!medulla::telemetry::DecodePendingRow(row, again) || again.size() != readings.size()) {
    __builtin_trap();
  }
  for (size_t i = 0; i < again.size(); ++i) {
    const auto &a = again[i], &b = readings[i];
    if (a.patient != b.patient || a.vital != b.vital || a.time_ms != b.time_ms ||
        std::bit_cast<uint64_t>(a.value) != std::bit_cast<uint64_t>(b.value) ||
        QualityBits(a.quality) != QualityBits(b.quality) || a.rr_ms != b.rr_ms) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto r = medulla::telemetry::ParseReading(input, 1'800'000'000'000);
    if (r && !medulla::monitor::Plausible(r->vital, r->value)) __builtin_trap();
    return 0;
  }
  if (data[0] % 4 == 3) {
    if (data[0] % 8 == 3) {
      FuzzBlock(input);
    } else {
      FuzzPendingRow(input);
    }
    return 0;
  }
  auto decoder = medulla::telemetry::GorillaDecoder::Open(input);
  if (!decoder) return 0;
  int64_t t = 0, last = INT64_MIN;
  double v = 0;
  size_t n = 0;
  while (decoder->Next(t, v)) {
    if (t < last || ++n > decoder->count()) __builtin_trap();  // times never go backwards
    last = t;
  }
  return 0;
}
