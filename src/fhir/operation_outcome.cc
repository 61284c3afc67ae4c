#include "fhir/operation_outcome.h"

#include "json/write.h"

namespace medulla::fhir {
namespace {

void AppendIssue(std::string& out, std::string_view severity, std::string_view type,
                 std::string_view diagnostics, std::string_view expression) {
  out += "{\"severity\":";
  json::WriteString(severity, out);
  out += ",\"code\":";
  json::WriteString(type, out);
  if (!diagnostics.empty()) {
    out += ",\"diagnostics\":";
    json::WriteString(diagnostics, out);
  }
  if (!expression.empty()) {
    out += ",\"expression\":[";
    json::WriteString(expression, out);
    out += "]";
  }
  out += "}";
}

}  // namespace

std::string_view IssueTypeFor(core::Code code) {
  switch (code) {
    case core::Code::kOk:
      return "informational";
    case core::Code::kInvalidArgument:
      return "invalid";
    case core::Code::kUnprocessable:
      return "invalid";
    case core::Code::kNotFound:
      return "not-found";
    case core::Code::kGone:
      return "deleted";
    case core::Code::kConflict:
      return "conflict";
    case core::Code::kPreconditionFailed:
      return "conflict";
    case core::Code::kTooLarge:
      return "too-costly";
    case core::Code::kUnauthenticated:
      return "login";
    case core::Code::kPermissionDenied:
      return "forbidden";
    case core::Code::kUnavailable:
      return "transient";
    case core::Code::kResourceExhausted:
      return "throttled";
    case core::Code::kTooCostly:
      return "too-costly";
    case core::Code::kUnsupported:
      return "not-supported";
    case core::Code::kInternal:
      return "exception";
  }
  return "exception";
}

std::string OperationOutcomeJson(const core::Status& status) {
  std::string out = "{\"resourceType\":\"OperationOutcome\",\"issue\":[";
  if (status.details().empty()) {
    AppendIssue(out, status.ok() ? "information" : "error", IssueTypeFor(status.code()),
                status.message(), status.location());
  } else {
    bool first = true;
    for (const core::StatusDetail& d : status.details()) {
      if (!first) out += ",";
      first = false;
      AppendIssue(out, "error", d.kind.empty() ? IssueTypeFor(status.code()) : d.kind, d.message,
                  d.location);
    }
  }
  out += "]}";
  return out;
}

std::string OperationOutcomeJson(std::string_view severity, std::string_view issue_type,
                                 std::string_view diagnostics) {
  std::string out = "{\"resourceType\":\"OperationOutcome\",\"issue\":[";
  AppendIssue(out, severity, issue_type, diagnostics, "");
  out += "]}";
  return out;
}

}  // namespace medulla::fhir
