// A Gorilla-style block codec for one time series of (time_ms, value) points (Pelkonen et al.,
// "Gorilla: A Fast, Scalable, In-Memory Time Series Database", VLDB 2015), adapted to
// millisecond timestamps and to the decimal readings devices report (72.3, 36.8, 97).
//
// Block layout (all multi-byte header fields little-endian):
//
//   offset 0   u8   format version (1)
//   offset 1   u8   decimal scale d, 0..6
//   offset 2   u32  point count
//   offset 6   i64  first time (ms since the Unix epoch): the first timestamp, raw
//   offset 14  i64  last time: lets a store index the block without decoding it
//   offset 22  bit stream, most significant bit of each byte first, zero-padded to a byte
//
// Every point contributes a timestamp code (all but the first) followed by a value code.
//
// Timestamps: delta-of-delta D = (t - t_prev) - (t_prev - t_prevprev), the delta before the
// second point taken as 0, computed in uint64 arithmetic so any int64 times round-trip. D is
// read as a two's-complement int64 and written in the smallest bucket that holds it:
//
//   '0'                     D == 0                 1 bit   (a regular series)
//   '10'    + 8 bits        [-128, 127]           10 bits  (millisecond jitter)
//   '110'   + 12 bits       [-2048, 2047]         15 bits  (whole-second jitter)
//   '1110'  + 18 bits       [-131072, 131071]     22 bits  (a missed per-minute reading)
//   '11110' + 32 bits       [-2^31, 2^31 - 1]     37 bits  (gaps of up to 24 days)
//   '11111' + 64 bits       any                   69 bits
//
// Values: each value v is coded in one of two domains, each with its own previous word and
// XOR window:
//   scaled  the word is the bits of the double n = v * 10^d, used when n is an integer with
//           |n| < 2^52 and n / 10^d reproduces v bit for bit; nearby decimal readings then
//           differ in a few high mantissa bits, so their XOR is short;
//   raw     the word is the bits of v itself (NaN, infinities, denormals, values with more
//           decimals than d): plain Gorilla, so a series that never fits d degrades to
//           ordinary Gorilla compression, and every value is reproduced bit for bit.
// The stream starts in the scaled domain; both previous words start as 0. The codes, with
// x = word XOR previous word of the current domain:
//
//   '0'                                  x == 0
//   '10' + L bits                        x's meaningful bits fit the domain's current window
//                                        (leading zeros >= its lead, trailing >= its trail)
//   '11' + lead:5 + (L-1):6 + L bits     a new window: lead = leading zeros (at most 31),
//                                        L = meaningful bits, lead + L <= 64
//   '11' + 11111 + 111111                (lead 31 with L 64 is impossible) switch domain:
//                                        the value follows as one of the three codes above
//                                        in the other domain, which stays current after it
//
// The encoder declines to reuse a window more than 6 bits wider than x needs (see gorilla.cc
// for why); the format leaves that choice to it. A scaled series pays 13 bits per switch into and
// out of the raw domain (an isolated NaN costs two switches plus its XOR), and a series that is raw
// throughout pays 13 bits once.
//
// The decoder trusts nothing: it checks the header against the byte count, every code against
// the bits left, that times never decrease or pass the header's last time, that scaled words
// are integers, and that the last point lands on the header's last time with zero padding.
// It cannot detect every bit flip (a flipped value bit can decode to another valid value);
// checksums belong to the storage layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace medulla::telemetry {

inline constexpr int kGorillaMaxDecimalScale = 6;
inline constexpr size_t kGorillaHeaderBytes = 22;

// The XOR state of one value domain (see the header comment).
struct GorillaWindow {
  uint64_t previous = 0;  // the previous word coded in this domain
  int lead = 0;           // the current window's leading zeros
  int length = 0;         // its meaningful bits; 0 while there is no window yet
};

class GorillaEncoder {
 public:
  // decimal_scale is clamped to 0..6: it only affects size, never what decodes.
  explicit GorillaEncoder(int decimal_scale = 1);

  // Adds a point. False, and nothing changes, when time_ms is earlier than last_time() or the
  // block already holds 2^32 - 1 points.
  bool Append(int64_t time_ms, double value);

  size_t count() const { return count_; }
  int decimal_scale() const { return scale_; }
  // 0 for an empty block.
  int64_t first_time() const { return first_time_; }
  int64_t last_time() const { return last_time_; }

  // The block so far (header and bit stream), readable by GorillaDecoder. Appending may
  // continue afterwards; each call snapshots the points appended until then.
  std::string Finish() const;
  // Finish().size(), without building it.
  size_t byte_size() const { return kGorillaHeaderBytes + bytes_.size() + (pending_bits_ + 7) / 8; }

 private:
  void WriteBits(uint64_t bits, int n);
  void WriteTime(int64_t time_ms);
  void WriteValue(double value);
  void WriteXor(GorillaWindow& window, uint64_t word);

  int scale_;
  double scale_factor_;  // 10^scale_, exact
  size_t count_ = 0;
  int64_t first_time_ = 0;
  int64_t last_time_ = 0;
  uint64_t last_delta_ = 0;
  bool raw_domain_ = false;
  GorillaWindow scaled_;
  GorillaWindow raw_;
  std::string bytes_;     // whole 64-bit words of the stream, big-endian
  uint64_t pending_ = 0;  // the bits after them, right-aligned
  int pending_bits_ = 0;  // how many, 0..63
};

class GorillaDecoder {
 public:
  // Validates the header. The decoder refers to `block`, which must outlive it.
  static core::Result<GorillaDecoder> Open(std::string_view block);

  // The next point. False at the end of the block, or at the first inconsistency, after which
  // corrupt() is true and Next keeps returning false.
  bool Next(int64_t& time_ms, double& value);
  bool corrupt() const { return corrupt_; }

  size_t count() const { return count_; }
  int decimal_scale() const { return scale_; }
  int64_t first_time() const { return first_time_; }
  int64_t last_time() const { return last_time_; }

 private:
  GorillaDecoder() = default;
  bool Fail();
  bool Skip(int n);
  bool ReadBits(int n, uint64_t& bits);
  uint64_t PeekBits() const;
  bool ReadTime(int64_t& time_ms);
  bool ReadValue(double& value);
  enum class XorCode { kWord, kSwitch, kCorrupt };
  XorCode ReadXor(GorillaWindow& window);
  bool PaddingIsClean() const;

  const unsigned char* stream_ = nullptr;  // the bit stream after the header
  size_t stream_bytes_ = 0;
  size_t bit_ = 0;  // read position in the stream
  int scale_ = 0;
  double scale_factor_ = 1;
  size_t count_ = 0;
  size_t decoded_ = 0;
  int64_t first_time_ = 0;
  int64_t last_time_ = 0;
  int64_t time_ = 0;
  uint64_t last_delta_ = 0;
  bool raw_domain_ = false;
  GorillaWindow scaled_;
  GorillaWindow raw_;
  bool corrupt_ = false;
};

}  // namespace medulla::telemetry
