#include "json/parse.h"

#include <fmt/format.h>

namespace medulla::json {
namespace haswell {
core::Result<Document> Parse(std::string_view text, const ParseLimits& limits);
}
namespace generic {
core::Result<Document> Parse(std::string_view text, const ParseLimits& limits);
}

core::Result<Document> Parse(std::string_view text, const ParseLimits& limits) {
  // RFC 8259 section 8.1: a parser may ignore a leading byte order mark; Windows tools add one.
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (text.size() > limits.max_bytes) {
    return core::Fail(core::TooLarge(fmt::format(
        "JSON document of {} bytes exceeds the limit of {}", text.size(), limits.max_bytes)));
  }
  static const bool kHaswell = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
                               __builtin_cpu_supports("pclmul");
  return kHaswell ? haswell::Parse(text, limits) : generic::Parse(text, limits);
}

}  // namespace medulla::json
