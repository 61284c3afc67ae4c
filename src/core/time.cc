#include "core/time.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace medulla::core {
namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month, day, hour, minute, second, millis, weekday;
};

Civil ToCivil(MicrosSinceEpoch t) {
  int64_t secs = t >= 0 ? t / 1000000 : (t - 999999) / 1000000;
  int64_t micros = t - secs * 1000000;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t sod = secs - days * 86400;
  Civil c{};
  c.weekday = static_cast<unsigned>((days % 7 + 11) % 7);  // 1970-01-01 was a Thursday (4)
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  c.day = doy - (153 * mp + 2) / 5 + 1;
  c.month = mp < 10 ? mp + 3 : mp - 9;
  c.year = static_cast<int64_t>(yoe) + era * 400 + (c.month <= 2);
  c.hour = static_cast<unsigned>(sod / 3600);
  c.minute = static_cast<unsigned>(sod % 3600 / 60);
  c.second = static_cast<unsigned>(sod % 60);
  c.millis = static_cast<unsigned>(micros / 1000);
  return c;
}

bool IsLeap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}
unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n ASCII digits at s[pos..pos+n).
bool Digits(std::string_view s, size_t pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

MicrosSinceEpoch SystemClock::Now() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const SystemClock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

std::string FormatInstant(MicrosSinceEpoch t) {
  Civil c = ToCivil(t);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ",
                        static_cast<long long>(c.year), c.month, c.day, c.hour, c.minute, c.second,
                        c.millis);
  return std::string(buf, static_cast<size_t>(n));
}

std::string FormatHttpDate(MicrosSinceEpoch t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  Civil c = ToCivil(t);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02u:%02u:%02u GMT", kDays[c.weekday],
                        c.day, kMonths[c.month - 1], static_cast<long long>(c.year), c.hour,
                        c.minute, c.second);
  return std::string(buf, static_cast<size_t>(n));
}

std::optional<InstantRange> ParseFhirDateTimeRange(std::string_view s) {
  unsigned year, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  if (!Digits(s, 0, 4, year)) return std::nullopt;
  size_t pos = 4;
  enum { kYear, kMonth, kDay, kMinute, kSecond } precision = kYear;
  if (pos < s.size() && s[pos] == '-') {
    if (!Digits(s, pos + 1, 2, month) || month < 1 || month > 12) return std::nullopt;
    pos += 3;
    precision = kMonth;
    if (pos < s.size() && s[pos] == '-') {
      if (!Digits(s, pos + 1, 2, day) || day < 1 || day > DaysInMonth(year, month))
        return std::nullopt;
      pos += 3;
      precision = kDay;
    }
  }
  int64_t frac_micros = 0;
  int64_t frac_span = 1000000;  // width of the interval below one second
  bool has_time = false;
  if (pos < s.size() && s[pos] == 'T') {
    if (precision != kDay) return std::nullopt;
    if (!Digits(s, pos + 1, 2, hour) || s.size() < pos + 6 || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, minute) || hour > 23 || minute > 59)
      return std::nullopt;
    pos += 6;
    precision = kMinute;
    has_time = true;
    if (pos < s.size() && s[pos] == ':') {
      if (!Digits(s, pos + 1, 2, second) || second > 60) return std::nullopt;
      pos += 3;
      precision = kSecond;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        size_t start = pos;
        int64_t scale = 100000;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          frac_micros += (s[pos] - '0') * scale;
          scale /= 10;  // digits past microseconds add nothing
          ++pos;
        }
        if (pos == start) return std::nullopt;
        // "12:00:00.5" covers [.5, .6): the span is one unit of the last digit given.
        for (size_t i = 0; i < pos - start && frac_span > 1; ++i) frac_span /= 10;
      }
    }
  }
  int64_t offset_secs = 0;
  if (has_time) {
    // FHIR requires a zone when a time is given.
    if (pos >= s.size()) return std::nullopt;
    if (s[pos] == 'Z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      unsigned oh, om;
      if (!Digits(s, pos + 1, 2, oh) || s.size() < pos + 6 || s[pos + 3] != ':' ||
          !Digits(s, pos + 4, 2, om) || oh > 14 || om > 59)
        return std::nullopt;
      offset_secs = (static_cast<int64_t>(oh) * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
      pos += 6;
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;

  int64_t days = DaysFromCivil(year, month, day);
  int64_t begin_secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_secs;
  MicrosSinceEpoch begin = begin_secs * 1000000 + frac_micros;
  MicrosSinceEpoch end;
  switch (precision) {
    case kYear:
      end = DaysFromCivil(year + 1, 1, 1) * 86400 * 1000000;
      break;
    case kMonth:
      end = (month == 12 ? DaysFromCivil(year + 1, 1, 1) : DaysFromCivil(year, month + 1, 1)) *
            86400 * 1000000;
      break;
    case kDay:
      end = begin + 86400LL * 1000000;
      break;
    case kMinute:
      end = begin + 60LL * 1000000;
      break;
    case kSecond:
      end = begin + frac_span;
      break;
  }
  return InstantRange{begin, end};
}

}  // namespace medulla::core
