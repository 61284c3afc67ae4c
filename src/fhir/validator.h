// Structural validation of a FHIR R4 resource in JSON form against the base StructureDefinitions:
// the rules of https://hl7.org/fhir/R4/json.html (arrays, primitives and their `_name`
// extensions, choice types, nulls, empty values, nested resources) plus cardinality, unknown
// elements, the lexical rules of the primitive types, and required bindings of `code` elements
// (the value sets that data/fhir/definitions/required-bindings.json could expand). Not checked:
// invariants (FHIRPath constraints) other than ext-1 and ele-1, other terminology bindings
// (Coding, CodeableConcept, extensible and weaker strengths), profiles, and references.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"
#include "json/value.h"

namespace medulla::fhir {

// OperationOutcome.issue.code values: structure, required, value, invalid, too-costly.
enum class IssueType { kStructure, kRequired, kValue, kInvalid, kTooCostly };

// The IssueType's OperationOutcome code ("too-costly").
std::string_view IssueTypeCode(IssueType type);

struct ValidationIssue {
  IssueType type;
  // Where: FHIRPath-style from the resource type, with JSON property names and array indices:
  // "Patient.name[0].given[1]", "Observation.valueQuantity", "Patient._birthDate.extension[0]",
  // "Bundle.entry[2].resource.status" (a nested resource continues its container's path). An
  // issue with the root's resourceType itself is at "resourceType".
  std::string expression;
  // For humans. Names the element and type (or value set), never the offending value (it may
  // be PHI and OperationOutcomes end up in logs).
  std::string message;
};

struct ValidationLimits {
  // Nesting of FHIR objects (resources, data types, backbone elements), not of JSON arrays.
  // Deeper content is not validated and yields one kTooCostly issue.
  size_t max_depth = 32;
  // Validation stops after this many issues and appends one kTooCostly issue saying so.
  size_t max_issues = 50;
};

// Validates `resource` (the root of a parsed JSON document). Empty result: valid. Thread-safe.
std::vector<ValidationIssue> Validate(const Definitions& definitions, const json::Value& resource,
                                      const ValidationLimits& limits = {});

}  // namespace medulla::fhir
