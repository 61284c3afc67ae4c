#include "telemetry/block.h"

#include <bit>
#include <cmath>
#include <limits>
#include <utility>

namespace medulla::telemetry {
namespace {

constexpr uint8_t kVersion = 2;
constexpr uint8_t kQualityColumn = 1;
constexpr uint8_t kRrColumn = 2;
constexpr int kMaxCenti = 127;
constexpr int kQualityDeltaBits = 5;
constexpr int kMaxQualityCodeBits = 4 + 32;
// A reading's rr: its count (at most 2 bytes) and each interval (at most 3 bytes).
constexpr uint64_t kMaxRrBytesPerReading = 2 + 3 * kMaxRrPerReading;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Reads a varint of at most 32 bits from in[pos, size).
bool GetVarint(const unsigned char* in, size_t size, size_t& pos, uint32_t& v) {
  uint64_t value = 0;
  for (int shift = 0; shift < 35 && pos < size; shift += 7) {
    const unsigned char byte = in[pos++];
    value |= uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) {
      if (value > std::numeric_limits<uint32_t>::max()) return false;
      v = static_cast<uint32_t>(value);
      return true;
    }
  }
  return false;
}

uint32_t ZigZag(int32_t d) {
  return (static_cast<uint32_t>(d) << 1) ^ static_cast<uint32_t>(d >> 31);
}

int64_t UnZigZag(uint32_t z) {
  return static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
}

float CentiValue(int centi) {
  return static_cast<float>(centi / 100.0);
}

// Whether q is a centi value (see block.h), and which.
bool Centi(float q, int& centi) {
  if (!(q >= 0 && q <= 1.3f)) return false;
  const long c = std::lround(static_cast<double>(q) * 100.0);
  if (c < 0 || c > kMaxCenti) return false;
  if (std::bit_cast<uint32_t>(CentiValue(static_cast<int>(c))) != std::bit_cast<uint32_t>(q)) {
    return false;
  }
  centi = static_cast<int>(c);
  return true;
}

}  // namespace

// ---- BlockEncoder ----

bool BlockEncoder::Append(int64_t time_ms, double value, float quality,
                          std::span<const uint16_t> rr) {
  if (rr.size() > kMaxRrPerReading) return false;
  if (!values_.Append(time_ms, value)) return false;
  WriteQuality(quality);
  WriteRr(rr);
  return true;
}

void BlockEncoder::WriteQualityBits(uint64_t bits, int n) {
  // Fewer than 8 bits are pending before, so at most 43 after: no overflow.
  quality_pending_ = (quality_pending_ << n) | bits;
  quality_pending_bits_ += n;
  while (quality_pending_bits_ >= 8) {
    quality_pending_bits_ -= 8;
    quality_.push_back(static_cast<char>(quality_pending_ >> quality_pending_bits_));
  }
  quality_pending_ &= (uint64_t{1} << quality_pending_bits_) - 1;
}

void BlockEncoder::WriteQuality(float quality) {
  const uint32_t bits = std::isnan(quality) ? kAbsentQualityBits : std::bit_cast<uint32_t>(quality);
  if (bits == previous_quality_bits_) {
    WriteQualityBits(0, 1);
    return;
  }
  previous_quality_bits_ = bits;
  if (bits == kAbsentQualityBits) {
    WriteQualityBits(0b1111, 4);
    return;
  }
  has_quality_ = true;
  int centi;
  if (!Centi(quality, centi)) {
    WriteQualityBits((uint64_t{0b1110} << 32) | bits, kMaxQualityCodeBits);
    return;
  }
  const int delta = centi - previous_centi_;
  previous_centi_ = centi;
  constexpr int kHalf = 1 << (kQualityDeltaBits - 1);
  if (delta >= -kHalf && delta < kHalf) {
    const uint64_t payload = static_cast<uint64_t>(delta) & ((1u << kQualityDeltaBits) - 1);
    WriteQualityBits((uint64_t{0b10} << kQualityDeltaBits) | payload, 2 + kQualityDeltaBits);
  } else {
    WriteQualityBits((uint64_t{0b110} << 7) | static_cast<uint64_t>(centi), 10);
  }
}

void BlockEncoder::WriteRr(std::span<const uint16_t> rr) {
  PutVarint(rr_, rr.size());
  for (const uint16_t interval : rr) {
    PutVarint(rr_, ZigZag(int32_t{interval} - int32_t{previous_rr_}));
    previous_rr_ = interval;
  }
  if (!rr.empty()) has_rr_ = true;
}

size_t BlockEncoder::byte_size() const {
  const size_t values = values_.byte_size();
  size_t size = 2 + VarintSize(values) + values;
  if (has_quality_) {
    const size_t quality = quality_.size() + (quality_pending_bits_ > 0 ? 1 : 0);
    size += VarintSize(quality) + quality;
  }
  if (has_rr_) size += VarintSize(rr_.size()) + rr_.size();
  return size;
}

std::string BlockEncoder::Finish() const {
  std::string out;
  out.reserve(byte_size());
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>((has_quality_ ? kQualityColumn : 0) | (has_rr_ ? kRrColumn : 0)));
  const std::string values = values_.Finish();
  PutVarint(out, values.size());
  out += values;
  if (has_quality_) {
    const bool partial = quality_pending_bits_ > 0;
    PutVarint(out, quality_.size() + (partial ? 1 : 0));
    out += quality_;
    if (partial) {
      out.push_back(static_cast<char>(quality_pending_ << (8 - quality_pending_bits_)));
    }
  }
  if (has_rr_) {
    PutVarint(out, rr_.size());
    out += rr_;
  }
  return out;
}

// ---- BlockDecoder ----

core::Result<BlockDecoder> BlockDecoder::Open(std::string_view block) {
  if (block.empty()) return core::Fail(core::InvalidArgument("telemetry block: empty"));
  const auto* bytes = reinterpret_cast<const unsigned char*>(block.data());
  if (bytes[0] == 1) {  // a bare Gorilla block
    ASSIGN_OR_RETURN(auto values, GorillaDecoder::Open(block));
    return BlockDecoder(std::move(values));
  }
  if (bytes[0] != kVersion) {
    return core::Fail(
        core::Unsupported("telemetry block: unknown format version " + std::to_string(bytes[0])));
  }
  auto malformed = [](std::string_view what) {
    return core::Fail(core::InvalidArgument("telemetry block: " + std::string(what)));
  };
  if (block.size() < 2) return malformed("no flags");
  const uint8_t flags = bytes[1];
  if ((flags & ~(kQualityColumn | kRrColumn)) != 0) return malformed("unknown flags");
  size_t pos = 2;
  // The next length-prefixed part: [start, start + length).
  auto part = [&](size_t& start, size_t& length) {
    uint32_t n;
    if (!GetVarint(bytes, block.size(), pos, n) || n > block.size() - pos) return false;
    start = pos;
    length = n;
    pos += n;
    return true;
  };
  size_t values_start, values_length;
  if (!part(values_start, values_length)) return malformed("the values overrun the block");
  ASSIGN_OR_RETURN(auto values, GorillaDecoder::Open(block.substr(values_start, values_length)));
  BlockDecoder d(std::move(values));
  d.version_ = kVersion;
  const uint64_t count = d.count();
  if ((flags & kQualityColumn) != 0) {
    size_t start;
    if (!part(start, d.quality_bytes_)) return malformed("the quality column overruns the block");
    d.quality_ = bytes + start;
    d.has_quality_column_ = true;
    // Each reading takes 1 to kMaxQualityCodeBits bits; padding is under a byte.
    const uint64_t bits = uint64_t{d.quality_bytes_} * 8;
    if (count == 0 || bits < count || bits >= count * kMaxQualityCodeBits + 8) {
      return malformed("the quality column does not match the count");
    }
  }
  if ((flags & kRrColumn) != 0) {
    size_t start;
    if (!part(start, d.rr_bytes_)) return malformed("the rr column overruns the block");
    d.rr_ = bytes + start;
    d.has_rr_column_ = true;
    if (count == 0 || d.rr_bytes_ < count || d.rr_bytes_ > count * kMaxRrBytesPerReading) {
      return malformed("the rr column does not match the count");
    }
  }
  if (pos != block.size()) return malformed("bytes after the last column");
  return d;
}

bool BlockDecoder::Next(Sample& s, bool with_rr) {
  if (corrupt_ || decoded_ == count()) return false;
  // Short of the count, false from the values means damage.
  if (!values_.Next(s.time_ms, s.value)) return Fail();
  s.quality = NAN;
  s.rr_ms.clear();
  if (has_quality_column_ && !ReadQuality(s.quality)) return Fail();
  if (has_rr_column_ && !ReadRr(with_rr ? &s.rr_ms : nullptr)) return Fail();
  ++decoded_;
  if (decoded_ == count() && !AtCleanEnd()) return Fail();
  return true;
}

bool BlockDecoder::Fail() {
  corrupt_ = true;
  return false;
}

bool BlockDecoder::ReadQuality(float& quality) {
  auto read = [this](int n, uint64_t& bits) {
    if (uint64_t(n) > uint64_t{quality_bytes_} * 8 - quality_bit_) return false;
    bits = 0;
    for (int i = 0; i < n; ++i, ++quality_bit_) {
      bits = (bits << 1) | ((quality_[quality_bit_ >> 3] >> (7 - (quality_bit_ & 7))) & 1u);
    }
    return true;
  };
  // The prefix: up to four leading ones, ended by a '0' before the fourth.
  int ones = 0;
  for (uint64_t bit; ones < 4; ++ones) {
    if (!read(1, bit)) return false;
    if (bit == 0) break;
  }
  uint64_t payload = 0;
  switch (ones) {
    case 0:  // the same again
      break;
    case 1: {
      if (!read(kQualityDeltaBits, payload)) return false;
      constexpr int kShift = 64 - kQualityDeltaBits;  // sign-extend
      const auto delta = static_cast<int>(static_cast<int64_t>(payload << kShift) >> kShift);
      const int centi = previous_centi_ + delta;
      if (centi < 0 || centi > kMaxCenti) return false;
      previous_centi_ = centi;
      previous_quality_bits_ = std::bit_cast<uint32_t>(CentiValue(centi));
      break;
    }
    case 2:
      if (!read(7, payload)) return false;
      previous_centi_ = static_cast<int>(payload);
      previous_quality_bits_ = std::bit_cast<uint32_t>(CentiValue(previous_centi_));
      break;
    case 3:
      if (!read(32, payload)) return false;
      previous_quality_bits_ = static_cast<uint32_t>(payload);
      break;
    default:
      previous_quality_bits_ = kAbsentQualityBits;
      break;
  }
  quality = std::bit_cast<float>(previous_quality_bits_);
  return true;
}

bool BlockDecoder::ReadRr(std::vector<uint16_t>* rr) {
  uint32_t n;
  if (!GetVarint(rr_, rr_bytes_, rr_pos_, n) || n > kMaxRrPerReading) return false;
  if (rr != nullptr) rr->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t z;
    if (!GetVarint(rr_, rr_bytes_, rr_pos_, z)) return false;
    const int64_t interval = int64_t{previous_rr_} + UnZigZag(z);
    if (interval < 0 || interval > std::numeric_limits<uint16_t>::max()) return false;
    previous_rr_ = static_cast<uint16_t>(interval);
    if (rr != nullptr) rr->push_back(previous_rr_);
  }
  return true;
}

bool BlockDecoder::AtCleanEnd() const {
  if (has_quality_column_) {
    const uint64_t left = uint64_t{quality_bytes_} * 8 - quality_bit_;
    if (left >= 8) return false;
    if (left > 0 && (quality_[quality_bytes_ - 1] & ((1u << left) - 1)) != 0) return false;
  }
  return !has_rr_column_ || rr_pos_ == rr_bytes_;
}

}  // namespace medulla::telemetry
