// A stored block of one series: the Gorilla-coded times and values (telemetry/gorilla.h) plus
// two optional columns, each reading's signal quality and its beat-to-beat (rr) intervals.
//
// Version 1 blocks (written before these columns existed) are bare Gorilla blocks, whose first
// byte is Gorilla's format version 1; they decode as readings without quality or rr. Version 2:
//
//   u8      2, the block format version
//   u8      flags: bit 0 the quality column is present, bit 1 the rr column; the rest 0
//   varint  the Gorilla block's length, then the Gorilla block (it holds the count and times)
//   varint  the quality column's length, then the column     (only with flag bit 0)
//   varint  the rr column's length, then the column          (only with flag bit 1)
//
// Varints are unsigned LEB128. A column is left out when no reading of the block has it, so a
// block without quality or rr costs 4 to 5 bytes more than its Gorilla block.
//
// Quality column: a bit stream (most significant bit of each byte first, zero-padded), one code
// per reading. A quality q is "centi" when c = round(q * 100) is in 0..127 and float(c / 100.0)
// gives back q bit for bit, which holds for every value a device sends with at most two
// decimals (the parser turns 0.93 into float(0.93), the same operation). The codes:
//
//   '0'                   the same as the previous reading (absent, or the same bits)
//   '10'   + 5 bits       centi: the previous centi value plus d in [-16, 15] (two's complement)
//   '110'  + 7 bits       centi: c itself
//   '1110' + 32 bits      the float's bits, any other value (lossless)
//   '1111'                absent (NaN); every NaN is stored as the one quiet NaN
//
// "Previous" starts as absent and the previous centi value as 0. A constant quality costs one
// bit per reading, a quality that moves by a few hundredths 7 bits.
//
// Rr column: bytes. Per reading, varint n (0..kMaxRrPerReading) and n zigzag varints: the first
// interval minus the last interval of the latest earlier reading with rr (0 at first), each
// following one minus the one before it. Successive beats rarely differ by more than 63 ms, so
// an interval takes one byte.
//
// The decoder trusts nothing, as Gorilla's does: lengths against the bytes, codes against the
// bits left, intervals in 0..65535, and at the last reading every column used up exactly, with
// zero padding.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "telemetry/gorilla.h"

namespace medulla::telemetry {

// Beat-to-beat intervals one reading may carry (a minute of beats at up to 256/min).
inline constexpr size_t kMaxRrPerReading = 256;
// How an absent quality (any NaN) is stored: the float quiet NaN.
inline constexpr uint32_t kAbsentQualityBits = 0x7FC00000;

// One reading of one series.
struct Sample {
  int64_t time_ms = 0;
  double value = 0;
  float quality = NAN;  // 0..1; NaN: none
  std::vector<uint16_t> rr_ms;
};

class BlockEncoder {
 public:
  // decimal_scale: Gorilla's (telemetry/gorilla.h).
  explicit BlockEncoder(int decimal_scale = 1) : values_(decimal_scale) {}

  // Adds a reading. False, and nothing changes, when time_ms is earlier than last_time(), rr
  // holds more than kMaxRrPerReading intervals or the block is full (2^32 - 1 readings).
  bool Append(int64_t time_ms, double value, float quality, std::span<const uint16_t> rr);
  bool Append(const Sample& s) { return Append(s.time_ms, s.value, s.quality, s.rr_ms); }

  size_t count() const { return values_.count(); }
  int64_t first_time() const { return values_.first_time(); }
  int64_t last_time() const { return values_.last_time(); }

  // The block so far; appending may continue afterwards.
  std::string Finish() const;
  // Finish().size(), without building it.
  size_t byte_size() const;

 private:
  void WriteQualityBits(uint64_t bits, int n);
  void WriteQuality(float quality);
  void WriteRr(std::span<const uint16_t> rr);

  GorillaEncoder values_;
  bool has_quality_ = false;
  bool has_rr_ = false;
  // The quality column: whole bytes, and the bits after them (right-aligned).
  std::string quality_;
  uint64_t quality_pending_ = 0;
  int quality_pending_bits_ = 0;
  uint32_t previous_quality_bits_ = kAbsentQualityBits;
  int previous_centi_ = 0;
  std::string rr_;
  uint16_t previous_rr_ = 0;
};

class BlockDecoder {
 public:
  // Validates the framing. The decoder refers to `block`, which must outlive it.
  static core::Result<BlockDecoder> Open(std::string_view block);

  // The next reading. With with_rr false, s.rr_ms is left empty (the column is skipped). False
  // at the end of the block or at the first inconsistency, after which corrupt() is true.
  bool Next(Sample& s, bool with_rr = true);
  bool corrupt() const { return corrupt_; }

  int version() const { return version_; }
  bool has_quality() const { return has_quality_column_; }
  bool has_rr() const { return has_rr_column_; }
  size_t count() const { return values_.count(); }
  int64_t first_time() const { return values_.first_time(); }
  int64_t last_time() const { return values_.last_time(); }

 private:
  explicit BlockDecoder(GorillaDecoder values) : values_(std::move(values)) {}
  bool Fail();
  bool ReadQuality(float& quality);
  bool ReadRr(std::vector<uint16_t>* rr);
  bool AtCleanEnd() const;

  GorillaDecoder values_;
  int version_ = 1;
  size_t decoded_ = 0;
  bool has_quality_column_ = false;
  bool has_rr_column_ = false;
  const unsigned char* quality_ = nullptr;
  size_t quality_bytes_ = 0;
  size_t quality_bit_ = 0;
  uint32_t previous_quality_bits_ = kAbsentQualityBits;
  int previous_centi_ = 0;
  const unsigned char* rr_ = nullptr;
  size_t rr_bytes_ = 0;
  size_t rr_pos_ = 0;
  uint16_t previous_rr_ = 0;
  bool corrupt_ = false;
};

}  // namespace medulla::telemetry
