#include "telemetry/gorilla.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace medulla::telemetry {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint64_t kMaxPoints = std::numeric_limits<uint32_t>::max();

// Value codes (see gorilla.h).
constexpr int kMaxLead = 31;               // what 5 bits of leading zeros can say
constexpr uint64_t kNewWindow = 0b11;      // followed by lead:5, (length-1):6
constexpr uint64_t kSwitchWindow = 0x7FF;  // lead 31 with length 64: not a window
constexpr int kWindowHeaderBits = 13;      // '11' + 5 + 6
// How many bits wider than needed a window may be and still be reused. On simulated vital
// signs (week-long random walks of heart rate, temperature, SpO2, glucose, blood pressure) 5
// or 6 came out about 10% smaller than 11 (reuse whenever that value alone is cheaper) and
// half the size of Gorilla's reuse-whenever-it-fits: a narrow window pays off on later values.
constexpr int kWindowSlack = 6;

// Timestamp delta-of-delta buckets after the 1-bit '0' for 0, smallest first.
struct TimeBucket {
  uint64_t prefix;
  int prefix_bits;
  int payload_bits;
};
constexpr TimeBucket kTimeBuckets[] = {
    {0b10, 2, 8}, {0b110, 3, 12}, {0b1110, 4, 18}, {0b11110, 5, 32}, {0b11111, 5, 64},
};

// The most bits one point can take: the widest time code, a domain switch and a full window.
constexpr uint64_t kMaxPointBits = 5 + 64 + kWindowHeaderBits + kWindowHeaderBits + 64;

constexpr uint64_t LowBits(uint64_t bits, int n) {
  return n >= 64 ? bits : bits & ((uint64_t{1} << n) - 1);
}

constexpr bool FitsSigned(int64_t v, int bits) {
  if (bits >= 64) return true;
  const int64_t half = int64_t{1} << (bits - 1);
  return v >= -half && v < half;
}

double ScaleFactor(int scale) {
  double factor = 1;  // powers of ten up to 10^22 are exact doubles
  for (int i = 0; i < scale; ++i) factor *= 10;
  return factor;
}

// The scaled-domain word of v (the bits of n = v * factor), when n is an integer below 2^52
// that gives back exactly v. The decoder computes n / factor, the same operation.
bool ScaledWord(double v, double factor, uint64_t& word) {
  if (std::isnan(v)) return false;
  const double n = v * factor;
  if (!(std::fabs(n) < 0x1p52) || std::trunc(n) != n) return false;
  if (std::bit_cast<uint64_t>(n / factor) != std::bit_cast<uint64_t>(v)) return false;
  word = std::bit_cast<uint64_t>(n);
  return true;
}

// The inverse, refusing words the encoder could not have written (a sign of corruption).
bool ValueOfScaledWord(uint64_t word, double factor, double& value) {
  const double n = std::bit_cast<double>(word);
  if (!(std::fabs(n) < 0x1p52) || std::trunc(n) != n) return false;
  value = n / factor;
  return std::bit_cast<uint64_t>(value * factor) == word;
}

void PutLittleEndian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLittleEndian(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

}  // namespace

// ---- GorillaEncoder ----

GorillaEncoder::GorillaEncoder(int decimal_scale)
    : scale_(std::clamp(decimal_scale, 0, kGorillaMaxDecimalScale)),
      scale_factor_(ScaleFactor(scale_)) {}

bool GorillaEncoder::Append(int64_t time_ms, double value) {
  if (count_ > 0 && time_ms < last_time_) return false;
  if (count_ >= kMaxPoints) return false;
  if (count_ == 0) {
    first_time_ = time_ms;  // the header holds it raw
  } else {
    WriteTime(time_ms);
  }
  last_time_ = time_ms;
  WriteValue(value);
  ++count_;
  return true;
}

void GorillaEncoder::WriteBits(uint64_t bits, int n) {
  const int room = 64 - pending_bits_;
  if (n < room) {
    pending_ = (pending_ << n) | bits;
    pending_bits_ += n;
    return;
  }
  // The word fills up: emit it, keep the rest of `bits` pending.
  const int rest = n - room;
  const uint64_t word = pending_bits_ == 0 ? bits : (pending_ << room) | (bits >> rest);
  char out[8];
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(word >> (56 - 8 * i));
  bytes_.append(out, sizeof out);
  pending_ = LowBits(bits, rest);
  pending_bits_ = rest;
}

void GorillaEncoder::WriteTime(int64_t time_ms) {
  // Unsigned: the true delta of non-decreasing int64 times fits in uint64, and the
  // delta-of-delta wraps harmlessly (the decoder adds it back modulo 2^64).
  const uint64_t delta = static_cast<uint64_t>(time_ms) - static_cast<uint64_t>(last_time_);
  const uint64_t dod = delta - last_delta_;
  last_delta_ = delta;
  if (dod == 0) {
    WriteBits(0, 1);
    return;
  }
  const auto signed_dod = static_cast<int64_t>(dod);
  for (const TimeBucket& bucket : kTimeBuckets) {
    if (!FitsSigned(signed_dod, bucket.payload_bits)) continue;
    const uint64_t payload = LowBits(dod, bucket.payload_bits);
    if (bucket.prefix_bits + bucket.payload_bits <= 64) {
      WriteBits((bucket.prefix << bucket.payload_bits) | payload,
                bucket.prefix_bits + bucket.payload_bits);
    } else {
      WriteBits(bucket.prefix, bucket.prefix_bits);
      WriteBits(payload, bucket.payload_bits);
    }
    return;
  }
}

void GorillaEncoder::WriteValue(double value) {
  uint64_t word;
  const bool scaled = ScaledWord(value, scale_factor_, word);
  if (!scaled) word = std::bit_cast<uint64_t>(value);
  if (scaled == raw_domain_) {
    WriteBits((kNewWindow << 11) | kSwitchWindow, kWindowHeaderBits);
    raw_domain_ = !scaled;
  }
  WriteXor(raw_domain_ ? raw_ : scaled_, word);
}

void GorillaEncoder::WriteXor(GorillaWindow& window, uint64_t word) {
  const uint64_t x = word ^ window.previous;
  window.previous = word;
  if (x == 0) {
    WriteBits(0, 1);
    return;
  }
  const int lead = std::min(std::countl_zero(x), kMaxLead);
  const int trail = std::countr_zero(x);
  const int length = 64 - lead - trail;
  if (window.length > 0) {
    const int window_trail = 64 - window.lead - window.length;
    // Reuse the window only when it is not much wider than x needs: a wide stale window (the
    // first value's, say) would otherwise cost its extra bits on every value after it.
    if (lead >= window.lead && trail >= window_trail && window.length <= length + kWindowSlack) {
      const uint64_t meaningful = x >> window_trail;
      if (window.length <= 62) {
        WriteBits((uint64_t{0b10} << window.length) | meaningful, 2 + window.length);
      } else {
        WriteBits(0b10, 2);
        WriteBits(meaningful, window.length);
      }
      return;
    }
  }
  window.lead = lead;
  window.length = length;
  WriteBits((kNewWindow << 11) | (uint64_t(lead) << 6) | uint64_t(length - 1), kWindowHeaderBits);
  WriteBits(x >> trail, length);
}

std::string GorillaEncoder::Finish() const {
  std::string out;
  out.reserve(byte_size());
  out.push_back(static_cast<char>(kFormatVersion));
  out.push_back(static_cast<char>(scale_));
  PutLittleEndian(out, count_, 4);
  PutLittleEndian(out, static_cast<uint64_t>(first_time_), 8);
  PutLittleEndian(out, static_cast<uint64_t>(last_time_), 8);
  out += bytes_;
  if (pending_bits_ > 0) {
    const uint64_t left_aligned = pending_ << (64 - pending_bits_);
    for (int i = 0; i < (pending_bits_ + 7) / 8; ++i) {
      out.push_back(static_cast<char>(left_aligned >> (56 - 8 * i)));
    }
  }
  return out;
}

// ---- GorillaDecoder ----

core::Result<GorillaDecoder> GorillaDecoder::Open(std::string_view block) {
  if (block.size() < kGorillaHeaderBytes) {
    return core::Fail(core::InvalidArgument("gorilla block: " + std::to_string(block.size()) +
                                            " bytes, shorter than its header"));
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(block.data());
  if (bytes[0] != kFormatVersion) {
    return core::Fail(
        core::Unsupported("gorilla block: unknown format version " + std::to_string(bytes[0])));
  }
  GorillaDecoder d;
  d.scale_ = bytes[1];
  if (d.scale_ > kGorillaMaxDecimalScale) {
    return core::Fail(
        core::InvalidArgument("gorilla block: decimal scale " + std::to_string(d.scale_)));
  }
  d.scale_factor_ = ScaleFactor(d.scale_);
  d.count_ = GetLittleEndian(bytes + 2, 4);
  d.first_time_ = static_cast<int64_t>(GetLittleEndian(bytes + 6, 8));
  d.last_time_ = static_cast<int64_t>(GetLittleEndian(bytes + 14, 8));
  d.stream_ = bytes + kGorillaHeaderBytes;
  d.stream_bytes_ = block.size() - kGorillaHeaderBytes;

  // Bounds a genuine block satisfies: each point after the first takes 2 to kMaxPointBits
  // bits, the first 1 to kMaxPointBits, padding is under a byte.
  const uint64_t bits = uint64_t{d.stream_bytes_} * 8;
  const uint64_t count = d.count_;
  bool consistent = d.first_time_ <= d.last_time_;
  if (count == 0) {
    consistent = consistent && bits == 0 && d.first_time_ == 0 && d.last_time_ == 0;
  } else {
    consistent = consistent && (count > 1 || d.first_time_ == d.last_time_) &&
                 bits >= 1 + 2 * (count - 1) && bits < count * kMaxPointBits + 8;
  }
  if (!consistent) {
    return core::Fail(core::InvalidArgument("gorilla block: header (" + std::to_string(count) +
                                            " points) does not match its " +
                                            std::to_string(d.stream_bytes_) + "-byte stream"));
  }
  d.time_ = d.first_time_;
  return d;
}

bool GorillaDecoder::Next(int64_t& time_ms, double& value) {
  if (corrupt_ || decoded_ == count_) return false;
  if (decoded_ > 0 && !ReadTime(time_)) return Fail();
  double v;
  if (!ReadValue(v)) return Fail();
  ++decoded_;
  if (decoded_ == count_ && (time_ != last_time_ || !PaddingIsClean())) return Fail();
  time_ms = time_;
  value = v;
  return true;
}

bool GorillaDecoder::Fail() {
  corrupt_ = true;
  return false;
}

uint64_t GorillaDecoder::PeekBits() const {
  // The 64 bits from the read position (at least 57 of them real, zeros past the end).
  const size_t byte = bit_ >> 3;
  uint64_t word = 0;
  if (byte + 8 <= stream_bytes_) {
    std::memcpy(&word, stream_ + byte, 8);
    if constexpr (std::endian::native == std::endian::little) word = __builtin_bswap64(word);
  } else {
    for (size_t i = 0; byte + i < stream_bytes_; ++i) {
      word |= uint64_t{stream_[byte + i]} << (56 - 8 * i);
    }
  }
  return word << (bit_ & 7);
}

bool GorillaDecoder::Skip(int n) {
  if (uint64_t(n) > stream_bytes_ * 8 - bit_) return false;
  bit_ += n;
  return true;
}

bool GorillaDecoder::ReadBits(int n, uint64_t& bits) {
  if (uint64_t(n) > stream_bytes_ * 8 - bit_) return false;
  if (n > 57) {  // more than one peek is sure to hold
    const int high = n - 32;
    bits = (PeekBits() >> (64 - high)) << 32;
    bit_ += high;
    bits |= PeekBits() >> 32;
    bit_ += 32;
    return true;
  }
  bits = PeekBits() >> (64 - n);
  bit_ += n;
  return true;
}

// Each code is taken from one peek where it fits in the 57 bits a peek is sure to hold; the
// bits past the end read as zeros and Skip then fails, so nothing is used unchecked.

bool GorillaDecoder::ReadTime(int64_t& time_ms) {
  const uint64_t peek = PeekBits();
  // The prefix is the number of leading ones, '0' ending it except after five.
  const int ones = std::countl_one(peek);
  uint64_t dod = 0;
  if (ones == 0) {
    if (!Skip(1)) return false;
  } else {
    const TimeBucket& bucket = kTimeBuckets[std::min(ones, 5) - 1];
    uint64_t payload;
    if (bucket.prefix_bits + bucket.payload_bits <= 57) {
      payload = (peek << bucket.prefix_bits) >> (64 - bucket.payload_bits);
      if (!Skip(bucket.prefix_bits + bucket.payload_bits)) return false;
    } else if (!Skip(bucket.prefix_bits) || !ReadBits(bucket.payload_bits, payload)) {
      return false;
    }
    const int shift = 64 - bucket.payload_bits;  // sign-extend the two's-complement payload
    dod = static_cast<uint64_t>(static_cast<int64_t>(payload << shift) >> shift);
  }
  const uint64_t delta = last_delta_ + dod;
  // Times never decrease nor pass the header's last time; this also rules out overflow.
  const uint64_t room = static_cast<uint64_t>(last_time_) - static_cast<uint64_t>(time_ms);
  if (delta > room) return false;
  last_delta_ = delta;
  time_ms = static_cast<int64_t>(static_cast<uint64_t>(time_ms) + delta);
  return true;
}

GorillaDecoder::XorCode GorillaDecoder::ReadXor(GorillaWindow& window) {
  const uint64_t peek = PeekBits();
  if ((peek >> 63) == 0) {  // '0': the previous word again
    return Skip(1) ? XorCode::kWord : XorCode::kCorrupt;
  }
  uint64_t meaningful;
  if ((peek >> 62) == 0b10) {  // reuse the window
    const int length = window.length;
    if (length == 0) return XorCode::kCorrupt;  // no window yet
    if (2 + length <= 57) {
      meaningful = (peek << 2) >> (64 - length);
      if (!Skip(2 + length)) return XorCode::kCorrupt;
    } else if (!Skip(2) || !ReadBits(length, meaningful)) {
      return XorCode::kCorrupt;
    }
    window.previous ^= meaningful << (64 - window.lead - length);
    return XorCode::kWord;
  }
  const uint64_t header = (peek >> (64 - kWindowHeaderBits)) & 0x7FF;
  if (!Skip(kWindowHeaderBits)) return XorCode::kCorrupt;
  if (header == kSwitchWindow) return XorCode::kSwitch;
  const int lead = static_cast<int>(header >> 6);
  const int length = static_cast<int>(header & 63) + 1;
  if (lead + length > 64) return XorCode::kCorrupt;
  if (kWindowHeaderBits + length <= 57) {
    meaningful = (peek << kWindowHeaderBits) >> (64 - length);
    if (!Skip(length)) return XorCode::kCorrupt;
  } else if (!ReadBits(length, meaningful)) {
    return XorCode::kCorrupt;
  }
  window.lead = lead;
  window.length = length;
  window.previous ^= meaningful << (64 - lead - length);
  return XorCode::kWord;
}

bool GorillaDecoder::ReadValue(double& value) {
  XorCode code = ReadXor(raw_domain_ ? raw_ : scaled_);
  if (code == XorCode::kSwitch) {
    raw_domain_ = !raw_domain_;
    code = ReadXor(raw_domain_ ? raw_ : scaled_);  // a second switch in a row is corrupt
  }
  if (code != XorCode::kWord) return false;
  if (raw_domain_) {
    value = std::bit_cast<double>(raw_.previous);
    return true;
  }
  return ValueOfScaledWord(scaled_.previous, scale_factor_, value);
}

bool GorillaDecoder::PaddingIsClean() const {
  return stream_bytes_ * 8 - bit_ < 8 && PeekBits() == 0;
}

}  // namespace medulla::telemetry
