// Device readings from the network and blocks from disk: the reading parser must refuse
// anything malformed with a reason, and the block decoder must never read out of bounds or
// loop on a damaged block. The first byte picks the target: even (the seeds' leading space) the
// reading parser, odd the block decoder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "telemetry/gorilla.h"
#include "telemetry/reading.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto r = medulla::telemetry::ParseReading(input, 1'800'000'000'000);
    if (r && !medulla::monitor::Plausible(r->vital, r->value)) __builtin_trap();
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
