#include "fhir/validator.h"

#include <charconv>
#include <cstdint>

#include <fmt/format.h>

namespace medulla::fhir {

std::string_view IssueTypeCode(IssueType type) {
  switch (type) {
    case IssueType::kStructure:
      return "structure";
    case IssueType::kRequired:
      return "required";
    case IssueType::kValue:
      return "value";
    case IssueType::kInvalid:
      return "invalid";
    case IssueType::kTooCostly:
      return "too-costly";
  }
  return "invalid";
}

namespace {

// Long keys and type names from the input are cut in messages, which are echoed to clients;
// the cut backs off to a UTF-8 character boundary so that the message stays valid UTF-8.
std::string_view Clip(std::string_view s) {
  constexpr size_t kMax = 64;
  if (s.size() <= kMax) return s;
  size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// How JSON carries a primitive type (json.html#primitive).
std::string_view JsonKindOf(Primitive type) {
  switch (type) {
    case Primitive::kBoolean:
      return "boolean";
    case Primitive::kInteger:
    case Primitive::kPositiveInt:
    case Primitive::kUnsignedInt:
    case Primitive::kDecimal:
      return "number";
    default:
      return "string";
  }
}

// The member `_name` of obj, or nullptr. Compared in place to avoid building the key.
const json::Value* FindUnderscored(const json::Value& obj, std::string_view name) {
  for (const json::Member& m : obj.members()) {
    if (m.key.size() == name.size() + 1 && m.key[0] == '_' && m.key.substr(1) == name) {
      return m.value;
    }
  }
  return nullptr;
}

// One validation run: the path being visited and the issues so far. Per call, never shared.
class Validator {
 public:
  Validator(const Definitions& defs, const ValidationLimits& limits)
      : defs_(defs), limits_(limits), extension_type_(defs.FindType("Extension")) {
    path_.reserve(256);
  }

  void Run(const json::Value& root) { ValidateResource(root, 0); }
  std::vector<ValidationIssue> TakeIssues() { return std::move(issues_); }

 private:
  // Appends ".name" or "[i]" to the path for the lifetime of the scope.
  class PathScope {
   public:
    PathScope(std::string& path, std::string_view name) : path_(path), size_(path.size()) {
      if (!path_.empty()) path_ += '.';
      path_ += name;
    }
    PathScope(std::string& path, size_t index) : path_(path), size_(path.size()) {
      char buf[24];
      buf[0] = '[';
      char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 1, index).ptr;
      *end++ = ']';
      path_.append(buf, end);
    }
    ~PathScope() { path_.resize(size_); }
    PathScope(const PathScope&) = delete;
    PathScope& operator=(const PathScope&) = delete;

   private:
    std::string& path_;
    size_t size_;
  };

  // Records an issue at the current path, or at its child `child` when given.
  void Report(IssueType type, std::string_view child, std::string message) {
    if (stopped_) return;
    if (issues_.size() >= limits_.max_issues) {
      issues_.push_back({IssueType::kTooCostly, path_,
                         fmt::format("validation stopped after {} issues", limits_.max_issues)});
      stopped_ = true;
      return;
    }
    std::string expression = path_;
    if (!child.empty()) {
      if (!expression.empty()) expression += '.';
      expression += child;
    }
    issues_.push_back({type, std::move(expression), std::move(message)});
  }

  void ValidateResource(const json::Value& v, size_t depth) {
    if (!v.is_object()) {
      Report(IssueType::kStructure, "", "a resource must be a JSON object");
      return;
    }
    const json::Value* rt = v.Find("resourceType");
    if (rt == nullptr) {
      Report(IssueType::kRequired, "resourceType", "a resource must have a resourceType");
      return;
    }
    if (!rt->is_string()) {
      Report(IssueType::kStructure, "resourceType", "resourceType must be a JSON string");
      return;
    }
    const TypeDef* type = defs_.FindResource(rt->text());
    if (type == nullptr) {
      const TypeDef* abstract = defs_.FindType(rt->text());
      Report(IssueType::kInvalid, "resourceType",
             abstract != nullptr && abstract->kind == TypeDef::Kind::kResource
                 ? fmt::format("'{}' is an abstract type, not a resource type", rt->text())
                 : fmt::format("unknown resource type '{}'", Clip(rt->text())));
      return;
    }
    // The root's expressions start with its type; a nested resource continues the path of the
    // element that holds it.
    bool root = path_.empty();
    if (root) path_ = type->name;
    ValidateObject(v, *type, depth, /*resource=*/true);
    if (root) path_.clear();
  }

  void ValidateObject(const json::Value& obj, const TypeDef& type, size_t depth, bool resource) {
    if (depth > limits_.max_depth) {
      Report(
          IssueType::kTooCostly, "",
          fmt::format("content nested deeper than {} levels is not validated", limits_.max_depth));
      return;
    }
    if (obj.size() == 0) {
      Report(IssueType::kStructure, "", "empty objects are not allowed");
      return;
    }
    // seen_[base + slot] = 1 + the index of the ElementDef that filled the slot, so that a
    // second variant of a choice is caught. Indices, not pointers: nested calls grow seen_.
    const size_t base = seen_.size();
    seen_.resize(base + type.slots.size(), 0);
    bool has_value_or_children = resource;
    bool has_extension = false;
    bool has_value = false;

    for (const json::Member& m : obj.members()) {
      if (stopped_) break;
      std::string_view key = m.key;
      if (resource && key == "resourceType") continue;
      // Counted before the lookup so that an unknown element is reported once, not again as
      // a missing value.
      if (key != "id") has_value_or_children = true;
      if (key == "extension") has_extension = true;
      if (key.starts_with("value") || key.starts_with("_value")) has_value = true;
      const bool underscore = !key.empty() && key[0] == '_';
      const ElementDef* e = type.Find(underscore ? key.substr(1) : key);
      if (e == nullptr ||
          (underscore && (e->primitive == Primitive::kNone || !e->primitive_extensions))) {
        Report(IssueType::kStructure, key, fmt::format("unknown element '{}'", Clip(key)));
        continue;
      }
      const uint32_t index = static_cast<uint32_t>(e - type.elements.data()) + 1;
      uint32_t& seen = seen_[base + e->slot];
      if (seen == 0) {
        seen = index;
      } else if (seen != index) {
        Report(
            IssueType::kStructure, key,
            fmt::format("only one type of '{}' may be present, found {} and {}",
                        type.slots[e->slot].name, type.elements[seen - 1].json_name, e->json_name));
      }

      PathScope scope(path_, key);
      if (underscore) {
        ValidatePrimitiveExtensions(obj, *e, *m.value, depth);
      } else {
        ValidateProperty(obj, type, *e, *m.value, depth);
      }
    }

    for (uint32_t slot : type.required_slots) {
      if (seen_[base + slot] == 0) {
        const SlotDef& s = type.slots[slot];
        Report(IssueType::kRequired, s.name, fmt::format("missing required element '{}'", s.name));
      }
    }
    seen_.resize(base);

    // ele-1: every element has a value or children other than its id.
    if (!has_value_or_children) {
      Report(IssueType::kInvalid, "", "an element must have a value or children, not only an id");
    }
    // ext-1: an extension has either nested extensions or a value, not both (nor neither).
    if (&type == extension_type_ && has_extension == has_value) {
      Report(IssueType::kInvalid, "",
             has_value ? "an extension must not have both a value and nested extensions"
                       : "an extension must have a value or nested extensions");
    }
  }

  // One property `name` (not `_name`) of obj; the path points at it.
  void ValidateProperty(const json::Value& obj, const TypeDef& type, const ElementDef& e,
                        const json::Value& v, size_t depth) {
    if (!e.array) {
      if (v.is_array()) {
        Report(IssueType::kStructure, "",
               fmt::format("'{}' has at most one value and must not be an array", e.json_name));
        return;
      }
      ValidateValue(e, v, depth);
      return;
    }
    if (!v.is_array()) {
      Report(IssueType::kStructure, "",
             fmt::format("'{}' may repeat and must be a JSON array", e.json_name));
      return;
    }
    auto items = v.items();
    if (items.empty()) {
      Report(IssueType::kStructure, "", "empty arrays are not allowed");
      return;
    }
    const SlotDef& slot = type.slots[e.slot];
    if (items.size() > slot.max) {
      Report(
          IssueType::kStructure, "",
          fmt::format("'{}' allows at most {} items, found {}", slot.name, slot.max, items.size()));
    } else if (items.size() < slot.min) {
      Report(
          IssueType::kRequired, "",
          fmt::format("'{}' needs at least {} items, found {}", slot.name, slot.min, items.size()));
    }
    // A null in a primitive array stands for a value that only has extensions: json.html
    // allows it only where the parallel `_name` array has an object at the same index.
    const json::Value* extensions =
        e.primitive != Primitive::kNone ? FindUnderscored(obj, e.json_name) : nullptr;
    for (size_t i = 0; i < items.size() && !stopped_; ++i) {
      PathScope scope(path_, i);
      const json::Value& item = *items[i];
      if (item.is_null()) {
        bool aligned = extensions != nullptr && extensions->is_array() && i < extensions->size() &&
                       !extensions->items()[i]->is_null();
        if (!aligned) {
          Report(IssueType::kStructure, "",
                 e.primitive != Primitive::kNone
                     ? fmt::format("null is only allowed where '_{}' has an item at the same index",
                                   e.json_name)
                     : std::string("null is not allowed here"));
        }
        continue;
      }
      ValidateValue(e, item, depth);
    }
  }

  // One value of element e (an array item or a single value); the path points at it.
  void ValidateValue(const ElementDef& e, const json::Value& v, size_t depth) {
    if (v.is_null()) {
      Report(IssueType::kStructure, "", "null is not allowed here");
      return;
    }
    if (e.primitive != Primitive::kNone) {
      if (v.is_object() || v.is_array()) {
        Report(IssueType::kStructure, "",
               fmt::format("'{}' is a {} and must be a JSON {}", e.json_name, e.type_code,
                           JsonKindOf(e.primitive)));
        return;
      }
      std::string_view problem = CheckPrimitive(e.primitive, v);
      if (!problem.empty()) {
        Report(IssueType::kValue, "", std::string(problem));
      } else if (e.required_codes != kNoValueSet) {
        CheckRequiredCode(e, v.text());
      }
      return;
    }
    if (e.type == kAnyResource) {
      ValidateResource(v, depth + 1);
      return;
    }
    if (!v.is_object()) {
      Report(IssueType::kStructure, "",
             fmt::format("'{}' is a {} and must be a JSON object", e.json_name, e.type_code));
      return;
    }
    ValidateObject(v, defs_.type(e.type), depth + 1, /*resource=*/false);
  }

  // terminologies.html#required: a `code` bound `required` holds a code of the value set.
  // The message names the value set, not the value: a code field can be sent free text.
  void CheckRequiredCode(const ElementDef& e, std::string_view code) {
    const ValueSetCodes& vs = defs_.value_set(e.required_codes);
    if (vs.Contains(code)) return;
    Report(IssueType::kValue, "",
           vs.hint.empty()
               ? fmt::format("'{}' must be a code from {}", e.json_name, vs.url)
               : fmt::format("'{}' must be a code from {} ({})", e.json_name, vs.url, vs.hint));
  }

  // The `_name` property of obj: the id and extensions of primitive e (json.html#primitive).
  void ValidatePrimitiveExtensions(const json::Value& obj, const ElementDef& e,
                                   const json::Value& v, size_t depth) {
    const TypeDef& element = defs_.element_type();
    if (!e.array) {
      if (!v.is_object()) {
        Report(IssueType::kStructure, "",
               fmt::format("'_{}' must be a JSON object with id and/or extension", e.json_name));
        return;
      }
      ValidateObject(v, element, depth + 1, /*resource=*/false);
      return;
    }
    if (!v.is_array()) {
      Report(IssueType::kStructure, "",
             fmt::format("'_{}' must be a JSON array parallel to '{}'", e.json_name, e.json_name));
      return;
    }
    auto items = v.items();
    if (items.empty()) {
      Report(IssueType::kStructure, "", "empty arrays are not allowed");
      return;
    }
    const json::Value* values = obj.Find(e.json_name);
    if (values != nullptr && values->is_array() && values->size() != items.size()) {
      Report(IssueType::kStructure, "",
             fmt::format("'_{}' must have as many items as '{}' ({}), found {}", e.json_name,
                         e.json_name, values->size(), items.size()));
    }
    for (size_t i = 0; i < items.size() && !stopped_; ++i) {
      PathScope scope(path_, i);
      const json::Value& item = *items[i];
      if (item.is_null()) {
        bool aligned = values != nullptr && values->is_array() && i < values->size() &&
                       !values->items()[i]->is_null();
        if (!aligned) {
          Report(IssueType::kStructure, "",
                 fmt::format("null is only allowed where '{}' has a value at the same index",
                             e.json_name));
        }
        continue;
      }
      if (!item.is_object()) {
        Report(IssueType::kStructure, "",
               "items of a primitive's extension array must be JSON objects or null");
        continue;
      }
      ValidateObject(item, element, depth + 1, /*resource=*/false);
    }
  }

  const Definitions& defs_;
  const ValidationLimits& limits_;
  const TypeDef* extension_type_;
  std::string path_;
  std::vector<uint32_t> seen_;
  std::vector<ValidationIssue> issues_;
  bool stopped_ = false;
};

}  // namespace

std::vector<ValidationIssue> Validate(const Definitions& definitions, const json::Value& resource,
                                      const ValidationLimits& limits) {
  Validator validator(definitions, limits);
  validator.Run(resource);
  return validator.TakeIssues();
}

}  // namespace medulla::fhir
