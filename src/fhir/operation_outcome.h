// OperationOutcome: how every FHIR error (and some successes) is reported.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace medulla::fhir {

// The OperationOutcome issue type (http://hl7.org/fhir/issue-type) for a status code.
std::string_view IssueTypeFor(core::Code code);

// An OperationOutcome for a failed status: one issue per detail (with its expression), or one
// issue from the status message and location.
std::string OperationOutcomeJson(const core::Status& status);

// A one-issue OperationOutcome with the given severity ("information", "warning", "error").
std::string OperationOutcomeJson(std::string_view severity, std::string_view issue_type,
                                 std::string_view diagnostics);

}  // namespace medulla::fhir
