// Errors as values: core::Status and core::Result<T> (std::expected with a Status error).
#pragma once

#include <version>
#if defined(__cpp_lib_expected)
#include <expected>
#else
// clang 14 (the fuzz build) cannot compile libstdc++'s <expected>; tl::expected has the same
// interface.
#include <tl/expected.hpp>
#endif
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medulla::core {

// The few canonical codes; api/ maps each once to an HTTP status and an OperationOutcome.
enum class Code {
  kOk = 0,
  kInvalidArgument,     // malformed input: 400
  kUnprocessable,       // well-formed but invalid content (FHIR validation): 422
  kNotFound,            // 404
  kGone,                // deleted: 410
  kConflict,            // 409
  kPreconditionFailed,  // stale If-Match: 412
  kTooLarge,            // 413
  kUnauthenticated,     // 401
  kPermissionDenied,    // 403
  kUnavailable,         // 503: shutting down, store closed
  kResourceExhausted,   // 429: a limit on concurrent work was reached; retry later
  kTooCostly,           // 422: the request would exceed a limit on work (a search's time)
  kUnsupported,         // 501 / 415-like: a feature or format not implemented
  kInternal,            // 500: a bug or an I/O failure
};

std::string_view CodeName(Code code);

// One located problem inside a larger failure (a validation error at one path, say).
// `kind` is a short machine-readable class such as "structure", "required" or "value".
struct StatusDetail {
  std::string kind;
  std::string location;
  std::string message;
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Where in the input the problem is (a FHIRPath-like expression such as "Patient.birthDate").
  const std::string& location() const { return location_; }
  Status& WithLocation(std::string location) & {
    location_ = std::move(location);
    return *this;
  }
  Status&& WithLocation(std::string location) && {
    location_ = std::move(location);
    return std::move(*this);
  }
  // Several located problems (each becomes one OperationOutcome issue).
  const std::vector<StatusDetail>& details() const { return details_; }
  Status&& WithDetails(std::vector<StatusDetail> details) && {
    details_ = std::move(details);
    return std::move(*this);
  }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string location_;
  std::vector<StatusDetail> details_;
};

inline Status OkStatus() {
  return Status();
}
inline Status InvalidArgument(std::string m) {
  return {Code::kInvalidArgument, std::move(m)};
}
inline Status Unprocessable(std::string m) {
  return {Code::kUnprocessable, std::move(m)};
}
inline Status NotFound(std::string m) {
  return {Code::kNotFound, std::move(m)};
}
inline Status Gone(std::string m) {
  return {Code::kGone, std::move(m)};
}
inline Status Conflict(std::string m) {
  return {Code::kConflict, std::move(m)};
}
inline Status PreconditionFailed(std::string m) {
  return {Code::kPreconditionFailed, std::move(m)};
}
inline Status TooLarge(std::string m) {
  return {Code::kTooLarge, std::move(m)};
}
inline Status Unauthenticated(std::string m) {
  return {Code::kUnauthenticated, std::move(m)};
}
inline Status PermissionDenied(std::string m) {
  return {Code::kPermissionDenied, std::move(m)};
}
inline Status Unavailable(std::string m) {
  return {Code::kUnavailable, std::move(m)};
}
inline Status ResourceExhausted(std::string m) {
  return {Code::kResourceExhausted, std::move(m)};
}
inline Status TooCostly(std::string m) {
  return {Code::kTooCostly, std::move(m)};
}
inline Status Unsupported(std::string m) {
  return {Code::kUnsupported, std::move(m)};
}
inline Status Internal(std::string m) {
  return {Code::kInternal, std::move(m)};
}

#if defined(__cpp_lib_expected)
template <typename T, typename E>
using Expected = std::expected<T, E>;
template <typename E>
using UnexpectedOf = std::unexpected<E>;
using Unexpected = std::unexpected<Status>;
#else
template <typename T, typename E>
using Expected = tl::expected<T, E>;
template <typename E>
using UnexpectedOf = tl::unexpected<E>;
using Unexpected = tl::unexpected<Status>;
#endif

template <typename T>
using Result = Expected<T, Status>;

inline Unexpected Fail(Status s) {
  return Unexpected(std::move(s));
}

namespace internal {
// What the macros below return: converts to Status or to any Result<T>, so the same macro
// works in both kinds of function.
struct ErrorReturn {
  Status status;
  operator Status() && { return std::move(status); }
  template <typename T>
  operator Expected<T, Status>() && {
    return Unexpected(std::move(status));
  }
};
}  // namespace internal

}  // namespace medulla::core

#define MEDULLA_CONCAT_INNER(a, b) a##b
#define MEDULLA_CONCAT(a, b) MEDULLA_CONCAT_INNER(a, b)

// RETURN_IF_ERROR(status_expr): returns the Status from the enclosing function when not ok.
// Works in functions returning Status or Result<T>.
#define RETURN_IF_ERROR(expr)                                                    \
  do {                                                                           \
    ::medulla::core::Status medulla_status_ = (expr);                            \
    if (!medulla_status_.ok())                                                   \
      return ::medulla::core::internal::ErrorReturn{std::move(medulla_status_)}; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, result_expr): unwraps a Result<T> or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(MEDULLA_CONCAT(medulla_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                                                  \
  auto tmp = (expr);                                                                           \
  if (!tmp.has_value()) return ::medulla::core::internal::ErrorReturn{std::move(tmp).error()}; \
  lhs = std::move(tmp).value()
