// A FHIRPath subset (https://hl7.org/fhirpath/N1/) over json::Value trees: enough for every
// `expression` of the FHIR R4 SearchParameter definitions of the indexable types (string,
// token, reference, date, number, quantity, uri, composite). Expressions are parsed once into
// an AST and evaluated many times; evaluation never fails (what does not apply yields nothing),
// so index extraction can skip and keep going.
//
// Supported: paths with choice types (`Observation.value` finds `valueQuantity`), a leading
// type name as a filter (`Patient.name`), `|`, `=`, `!=`, `and`, `or`, `is T`, `as T`,
// parentheses, indexers `[n]`, string/integer/boolean literals, `%resource`, `%context`,
// `$this`, and the functions where, exists, empty, not, first, last, resolve, as, is, ofType,
// extension. Anything else is a parse error naming its position.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fhir/definitions.h"
#include "json/value.h"

namespace medulla::fhir::fhirpath {

// One item of a result collection.
struct Item {
  // The node in the evaluated tree, or a literal / computed boolean owned by the expression
  // (valid as long as the Expression and the evaluated Document).
  const json::Value* value = nullptr;
  // The FHIR type name when known ("Quantity", "CodeableConcept", "dateTime", "Patient",
  // "BackboneElement", "boolean"); empty when unknown. Views static or definitions storage, or
  // the evaluated tree (resource types, reference targets).
  std::string_view type;
  // Definitions::type() index of a complex value, or kNoType (primitives, unknown).
  uint32_t type_index = kNoType;
  // Set by resolve(): `value` is the Reference and `type` the resource type its reference
  // names; we cannot follow it, so paths below it yield nothing.
  bool resolved = false;
};

struct ParseLimits {
  size_t max_length = 16 * 1024;  // the longest R4 search expression has 1,386 characters
  size_t max_depth = 64;          // nesting of parentheses, calls and operators
};

struct Node;

// A parsed expression. Immutable after Parse; Evaluate is thread-safe.
class Expression {
 public:
  // Errors: kInvalidArgument naming the position (0-based character offset) and the problem.
  static core::Result<Expression> Parse(std::string_view text, const ParseLimits& limits = {});

  // The empty expression, which evaluates to nothing.
  Expression();
  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;
  Expression(const Expression&);
  Expression& operator=(const Expression&);
  ~Expression();

  // Evaluates with `resource` as the context and %resource. Appends to `out` (not cleared).
  void Evaluate(const json::Value& resource, std::vector<Item>& out,
                const Definitions& defs = Definitions::Embedded()) const;
  // Evaluates with `focus` as the context ($this) and `resource` as %resource: the form that
  // composite search parameters' component expressions need.
  void Evaluate(const Item& focus, const json::Value& resource, std::vector<Item>& out,
                const Definitions& defs = Definitions::Embedded()) const;

  const std::string& text() const { return text_; }

  // The source text of the top-level `|` alternatives, in order ("Patient.name",
  // "Practitioner.name"); parentheses around an alternative are dropped.
  std::vector<std::string_view> UnionBranches() const;
  // The type name the expression starts from ("Patient" for `Patient.name.where(...)`), or
  // empty when it starts from something else (a member of the context, a literal, %resource).
  std::string_view RootTypeName() const;

 private:
  friend class Parser;
  friend class Evaluator;

  std::string text_;
  std::vector<Node> nodes_;
  int root_ = -1;
  // Literal values; shared by copies (immutable once parsed).
  std::shared_ptr<json::Document> literals_;
};

// The item for a resource: its node, its resourceType as type and its definition.
Item ResourceItem(const json::Value& resource, const Definitions& defs = Definitions::Embedded());

}  // namespace medulla::fhir::fhirpath
