#include "core/ids.h"

#include <chrono>
#include <cstdint>
#include <random>

namespace medulla::core {

std::string NewUuidV7() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t millis =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  uint8_t b[16];
  uint64_t r1 = rng(), r2 = rng();
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(millis >> (40 - 8 * i));
  for (int i = 6; i < 8; ++i) b[i] = static_cast<uint8_t>(r1 >> (8 * i));
  for (int i = 8; i < 16; ++i) b[i] = static_cast<uint8_t>(r2 >> (8 * (i - 8)));
  b[6] = static_cast<uint8_t>(0x70 | (b[6] & 0x0F));  // version 7
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3F));  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xF]);
  }
  return out;
}

}  // namespace medulla::core
