#include "core/status.h"

namespace medulla::core {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kUnprocessable:
      return "unprocessable";
    case Code::kNotFound:
      return "not found";
    case Code::kGone:
      return "gone";
    case Code::kConflict:
      return "conflict";
    case Code::kPreconditionFailed:
      return "precondition failed";
    case Code::kTooLarge:
      return "too large";
    case Code::kUnauthenticated:
      return "unauthenticated";
    case Code::kPermissionDenied:
      return "permission denied";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kResourceExhausted:
      return "resource exhausted";
    case Code::kTooCostly:
      return "too costly";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string s(CodeName(code_));
  s += ": ";
  s += message_;
  if (!location_.empty()) {
    s += " (at ";
    s += location_;
    s += ")";
  }
  return s;
}

}  // namespace medulla::core
