#include "fhir/primitives.h"

#include <array>
#include <limits>

namespace medulla::fhir {
namespace {

struct PrimitiveInfo {
  Primitive type;
  std::string_view name;
};

// Sorted by name for binary search.
constexpr std::array<PrimitiveInfo, 20> kByName = {{
    {Primitive::kBase64Binary, "base64Binary"},
    {Primitive::kBoolean, "boolean"},
    {Primitive::kCanonical, "canonical"},
    {Primitive::kCode, "code"},
    {Primitive::kDate, "date"},
    {Primitive::kDateTime, "dateTime"},
    {Primitive::kDecimal, "decimal"},
    {Primitive::kId, "id"},
    {Primitive::kInstant, "instant"},
    {Primitive::kInteger, "integer"},
    {Primitive::kMarkdown, "markdown"},
    {Primitive::kOid, "oid"},
    {Primitive::kPositiveInt, "positiveInt"},
    {Primitive::kString, "string"},
    {Primitive::kTime, "time"},
    {Primitive::kUnsignedInt, "unsignedInt"},
    {Primitive::kUri, "uri"},
    {Primitive::kUrl, "url"},
    {Primitive::kUuid, "uuid"},
    {Primitive::kXhtml, "xhtml"},
}};

// Java's \s, which is what the regexes in the FHIR definitions mean: [ \t\n\x0B\f\r].
bool IsRegexSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\x0B' || c == '\f' || c == '\r';
}

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// A cursor over the text, for the date and time grammars.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool done() const { return pos_ == s_.size(); }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }
  // Reads exactly n digits as a number.
  bool Digits(int n, int& out) {
    if (s_.size() - pos_ < static_cast<size_t>(n)) return false;
    out = 0;
    for (int i = 0; i < n; ++i) {
      char c = s_[pos_ + i];
      if (!IsDigit(c)) return false;
      out = out * 10 + (c - '0');
    }
    pos_ += n;
    return true;
  }
  // (\.[0-9]+)?
  bool OptionalFraction() {
    if (!Eat('.')) return true;
    size_t start = pos_;
    while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    return pos_ > start;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

bool IsLeapYear(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// The year part of the R4 regexes, ([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000): four
// digits, not 0000.
bool Year(Scanner& s, int& year) {
  return s.Digits(4, year) && year != 0;
}

bool Month(Scanner& s, int& month) {
  return s.Digits(2, month) && month >= 1 && month <= 12;
}

// The regexes allow days 01-31 in any month; "Dates SHALL be valid dates" (R4 datatypes), so the
// day is also checked against the calendar.
bool Day(Scanner& s, int year, int month) {
  int day;
  return s.Digits(2, day) && day >= 1 && day <= DaysInMonth(year, month);
}

// ([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?
bool TimeOfDay(Scanner& s) {
  int h, m, sec;
  return s.Digits(2, h) && h <= 23 && s.Eat(':') && s.Digits(2, m) && m <= 59 && s.Eat(':') &&
         s.Digits(2, sec) && sec <= 60 && s.OptionalFraction();
}

// Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)
bool Zone(Scanner& s) {
  if (s.Eat('Z')) return true;
  if (!s.Eat('+') && !s.Eat('-')) return false;
  int h, m;
  if (!s.Digits(2, h) || !s.Eat(':') || !s.Digits(2, m)) return false;
  return (h <= 13 && m <= 59) || (h == 14 && m == 0);
}

bool FullDate(Scanner& s) {
  int year, month;
  return Year(s, year) && s.Eat('-') && Month(s, month) && s.Eat('-') && Day(s, year, month);
}

bool IsValidDecimal(std::string_view s) {
  size_t i = 0, n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i >= n) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && IsDigit(s[i])) ++i;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    size_t start = ++i;
    while (i < n && IsDigit(s[i])) ++i;
    if (i == start) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    size_t start = i;
    while (i < n && IsDigit(s[i])) ++i;
    if (i == start) return false;
  }
  return i == n;
}

bool IsLowerHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f');
}

}  // namespace

std::string_view PrimitiveName(Primitive type) {
  for (const PrimitiveInfo& p : kByName)
    if (p.type == type) return p.name;
  return {};
}

std::optional<Primitive> PrimitiveFromName(std::string_view code) {
  size_t lo = 0, hi = kByName.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kByName[mid].name < code) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < kByName.size() && kByName[lo].name == code) return kByName[lo].type;
  return std::nullopt;
}

bool IsValidInteger(std::string_view text, int64_t min, int64_t max) {
  // -?([0]|([1-9][0-9]*)), then the range. More than 10 digits is out of any 32-bit range and
  // would overflow the accumulator below.
  size_t i = 0;
  bool negative = false;
  // The unsignedInt and positiveInt regexes have no sign at all, so not even "-0".
  if (i < text.size() && text[i] == '-') {
    if (min >= 0) return false;
    negative = true;
    ++i;
  }
  std::string_view digits = text.substr(i);
  if (digits.empty() || digits.size() > 10) return false;
  if (digits[0] == '0' && digits.size() > 1) return false;
  int64_t v = 0;
  for (char c : digits) {
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  if (negative) v = -v;
  return v >= min && v <= max;
}

bool IsValidString(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (c == '\x0B' || c == '\f') return false;
  return true;
}

bool IsValidCode(std::string_view text) {
  if (text.empty() || IsRegexSpace(text.front()) || IsRegexSpace(text.back())) return false;
  bool previous_space = false;
  for (char c : text) {
    bool space = IsRegexSpace(c);
    if (space && previous_space) return false;
    previous_space = space;
  }
  return true;
}

bool IsValidId(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool IsValidUri(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (IsRegexSpace(c)) return false;
  return true;
}

bool IsValidOid(std::string_view text) {
  constexpr std::string_view kPrefix = "urn:oid:";
  if (!text.starts_with(kPrefix)) return false;
  text.remove_prefix(kPrefix.size());
  if (text.empty() || text[0] < '0' || text[0] > '2') return false;
  size_t i = 1;
  int arcs = 0;
  while (i < text.size()) {
    if (text[i] != '.') return false;
    size_t start = ++i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    if (i == start || (text[start] == '0' && i - start > 1)) return false;
    ++arcs;
  }
  return arcs > 0;
}

bool IsValidUuid(std::string_view text) {
  constexpr std::string_view kPrefix = "urn:uuid:";
  if (!text.starts_with(kPrefix)) return false;
  text.remove_prefix(kPrefix.size());
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !IsLowerHex(text[i])) return false;
  }
  return true;
}

bool IsValidBase64(std::string_view text) {
  // The R4 regex (\s*([0-9a-zA-Z\+/=]){4}\s*)+ allows whitespace only between groups of four
  // and '=' anywhere; RFC 4648 (which the type is defined by) allows '=' only as the final one
  // or two characters, so that is checked too.
  size_t count = 0;
  size_t padding = 0;
  for (char c : text) {
    if (IsRegexSpace(c)) {
      if (count % 4 != 0) return false;
      continue;
    }
    bool alphabet =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '+' || c == '/';
    if (c == '=') {
      ++padding;
    } else if (!alphabet || padding > 0) {
      return false;
    }
    ++count;
  }
  return count > 0 && count % 4 == 0 && padding <= 2;
}

bool IsValidDate(std::string_view text) {
  Scanner s(text);
  int year, month;
  if (!Year(s, year)) return false;
  if (s.done()) return true;
  if (!s.Eat('-') || !Month(s, month)) return false;
  if (s.done()) return true;
  return s.Eat('-') && Day(s, year, month) && s.done();
}

bool IsValidDateTime(std::string_view text) {
  Scanner s(text);
  int year, month;
  if (!Year(s, year)) return false;
  if (s.done()) return true;
  if (!s.Eat('-') || !Month(s, month)) return false;
  if (s.done()) return true;
  if (!s.Eat('-') || !Day(s, year, month)) return false;
  if (s.done()) return true;
  // A time needs a zone (the regex makes the zone part of the time group).
  return s.Eat('T') && TimeOfDay(s) && Zone(s) && s.done();
}

bool IsValidInstant(std::string_view text) {
  Scanner s(text);
  return FullDate(s) && s.Eat('T') && TimeOfDay(s) && Zone(s) && s.done();
}

bool IsValidTime(std::string_view text) {
  Scanner s(text);
  return TimeOfDay(s) && s.done();
}

std::string_view CheckPrimitive(Primitive type, const json::Value& value) {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
  switch (type) {
    case Primitive::kNone:
      return "not a primitive type";
    case Primitive::kBoolean:
      return value.is_bool() ? "" : "boolean must be a JSON true or false";
    case Primitive::kInteger:
      if (!value.is_number()) return "integer must be a JSON number";
      return IsValidInteger(value.text(), kInt32Min, kInt32Max)
                 ? ""
                 : "integer must be a whole number from -2147483648 to 2147483647";
    case Primitive::kPositiveInt:
      if (!value.is_number()) return "positiveInt must be a JSON number";
      return IsValidInteger(value.text(), 1, kInt32Max)
                 ? ""
                 : "positiveInt must be a whole number from 1 to 2147483647";
    case Primitive::kUnsignedInt:
      if (!value.is_number()) return "unsignedInt must be a JSON number";
      return IsValidInteger(value.text(), 0, kInt32Max)
                 ? ""
                 : "unsignedInt must be a whole number from 0 to 2147483647";
    case Primitive::kDecimal:
      if (!value.is_number()) return "decimal must be a JSON number";
      return IsValidDecimal(value.text()) ? "" : "decimal is not a valid number";
    default:
      break;
  }
  // Every other primitive is a JSON string.
  if (!value.is_string()) {
    switch (type) {
      case Primitive::kString:
        return "string must be a JSON string";
      case Primitive::kMarkdown:
        return "markdown must be a JSON string";
      case Primitive::kCode:
        return "code must be a JSON string";
      case Primitive::kId:
        return "id must be a JSON string";
      case Primitive::kUri:
        return "uri must be a JSON string";
      case Primitive::kUrl:
        return "url must be a JSON string";
      case Primitive::kCanonical:
        return "canonical must be a JSON string";
      case Primitive::kOid:
        return "oid must be a JSON string";
      case Primitive::kUuid:
        return "uuid must be a JSON string";
      case Primitive::kBase64Binary:
        return "base64Binary must be a JSON string";
      case Primitive::kDate:
        return "date must be a JSON string";
      case Primitive::kDateTime:
        return "dateTime must be a JSON string";
      case Primitive::kInstant:
        return "instant must be a JSON string";
      case Primitive::kTime:
        return "time must be a JSON string";
      case Primitive::kXhtml:
        return "xhtml must be a JSON string";
      default:
        return "must be a JSON string";
    }
  }
  std::string_view t = value.text();
  if (t.empty()) return "empty strings are not allowed in FHIR JSON";
  switch (type) {
    case Primitive::kString:
    case Primitive::kMarkdown:
      return IsValidString(t) ? "" : "string contains a vertical tab or form feed";
    case Primitive::kCode:
      return IsValidCode(t) ? "" : "code must not have leading, trailing or repeated whitespace";
    case Primitive::kId:
      return IsValidId(t) ? "" : "id must be 1 to 64 characters of A-Z, a-z, 0-9, '-' and '.'";
    case Primitive::kUri:
      return IsValidUri(t) ? "" : "uri must not contain whitespace";
    case Primitive::kUrl:
      return IsValidUri(t) ? "" : "url must not contain whitespace";
    case Primitive::kCanonical:
      return IsValidUri(t) ? "" : "canonical must not contain whitespace";
    case Primitive::kOid:
      return IsValidOid(t) ? "" : "oid must look like urn:oid:1.2.3";
    case Primitive::kUuid:
      return IsValidUuid(t) ? "" : "uuid must be urn:uuid: and a lowercase 8-4-4-4-12 hex UUID";
    case Primitive::kBase64Binary:
      return IsValidBase64(t) ? "" : "base64Binary is not valid base64";
    case Primitive::kDate:
      return IsValidDate(t) ? "" : "date must be a valid YYYY, YYYY-MM or YYYY-MM-DD";
    case Primitive::kDateTime:
      return IsValidDateTime(t) ? ""
                                : "dateTime must be a valid YYYY, YYYY-MM, YYYY-MM-DD or "
                                  "YYYY-MM-DDThh:mm:ss(.sss) with a time zone (Z or +hh:mm)";
    case Primitive::kInstant:
      return IsValidInstant(t)
                 ? ""
                 : "instant must be a valid YYYY-MM-DDThh:mm:ss(.sss) with a time zone";
    case Primitive::kTime:
      return IsValidTime(t) ? "" : "time must be a valid hh:mm:ss(.sss) without a time zone";
    case Primitive::kXhtml:
      return t.starts_with("<div") ? "" : "xhtml must be a <div> element";
    default:
      return "";
  }
}

}  // namespace medulla::fhir
