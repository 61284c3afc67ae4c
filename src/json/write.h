// Writing JSON text: compact, members in tree order, numbers exactly as parsed.
#pragma once

#include <string>
#include <string_view>

#include "json/value.h"

namespace medulla::json {

void Write(const Value& value, std::string& out);
std::string Write(const Value& value);
// Appends s as a JSON string literal, quotes included.
void WriteString(std::string_view s, std::string& out);

}  // namespace medulla::json
