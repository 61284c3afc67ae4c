#include "json/write.h"

namespace medulla::json {

void WriteString(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void Write(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Kind::kNull:
      out += "null";
      break;
    case Kind::kBool:
      out += v.bool_value() ? "true" : "false";
      break;
    case Kind::kNumber:
      out += v.text();
      break;
    case Kind::kString:
      WriteString(v.text(), out);
      break;
    case Kind::kArray: {
      out.push_back('[');
      bool first = true;
      for (const Value* item : v.items()) {
        if (!first) out.push_back(',');
        first = false;
        Write(*item, out);
      }
      out.push_back(']');
      break;
    }
    case Kind::kObject: {
      out.push_back('{');
      bool first = true;
      for (const Member& m : v.members()) {
        if (!first) out.push_back(',');
        first = false;
        WriteString(m.key, out);
        out.push_back(':');
        Write(*m.value, out);
      }
      out.push_back('}');
      break;
    }
  }
}

std::string Write(const Value& value) {
  std::string out;
  out.reserve(1024);
  Write(value, out);
  return out;
}

}  // namespace medulla::json
