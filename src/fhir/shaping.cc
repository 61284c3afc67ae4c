#include "fhir/shaping.h"

#include <span>

namespace medulla::fhir {

namespace {

// One shaping call: the output document and scratch stacks for the members and items of the
// objects and arrays being rebuilt. The input tree is only read: its nodes are shared into the
// output, which is why they are handled as non-const pointers (json::Member holds those).
class Shaper {
 public:
  Shaper(const Definitions& defs, json::Document& out) : defs_(defs), out_(out) {
    members_.reserve(64);
  }

  // kTrue: the summary of a resource (the root or a nested one).
  json::Value* Summary(json::Value& v) {
    if (const TypeDef* t = defs_.FindType("Extension")) {
      extension_type_ = static_cast<uint32_t>(t - &defs_.type(0));
    }
    return SummaryResource(v);
  }

  // The root of the result: `shaped`, the resource that Summary returned, tagged.
  json::Value* Tagged(const json::Value& shaped) {
    return FilterTopLevel(shaped, [](std::string_view) { return true; });
  }

  // kText, kData and _elements: the top-level members that `keep` accepts, whole, tagged.
  template <typename Keep>
  json::Value* FilterTopLevel(const json::Value& resource, Keep keep) {
    const size_t base = members_.size();
    for (const json::Member& m : resource.members()) {
      if (IsAlwaysKept(m.key) || keep(m.key)) members_.push_back(m);
    }
    // meta.tag gets SUBSETTED (once); a resource without meta gets one after its id.
    for (size_t i = base; i < members_.size(); ++i) {
      if (members_[i].key != "meta") continue;
      json::Value* meta = TaggedMeta(*members_[i].value);  // pushes onto members_ and pops
      members_[i].value = meta;
      return PopObject(base);
    }
    size_t at = base;
    while (at < members_.size() && (members_[at].key == "resourceType" || members_[at].key == "id"))
      ++at;
    json::Member tag{"tag", out_.NewArray(std::span<json::Value* const>(&subsetted_coding(), 1))};
    members_.insert(members_.begin() + at, {"meta", out_.NewObject({&tag, 1})});
    return PopObject(base);
  }

  static const TypeDef* ResourceType(const Definitions& defs, const json::Value& v) {
    if (!v.is_object()) return nullptr;
    const json::Value* rt = v.Find("resourceType");
    return rt != nullptr && rt->is_string() ? defs.FindResource(rt->text()) : nullptr;
  }

  // The element a JSON key names, `_name` included (only for primitives); or nullptr.
  static const ElementDef* Lookup(const TypeDef& type, std::string_view key) {
    if (!key.starts_with('_')) return type.Find(key);
    const ElementDef* e = type.Find(key.substr(1));
    return e != nullptr && e->primitive != Primitive::kNone ? e : nullptr;
  }

  // resourceType, id and meta: kept by every shape (search.html#summary, #elements).
  static bool IsAlwaysKept(std::string_view key) {
    return key == "resourceType" || key == "id" || key == "meta";
  }

 private:
  json::Value* SummaryResource(json::Value& v) {
    const TypeDef* type = ResourceType(defs_, v);
    if (type == nullptr) return &v;
    return SummaryObject(v, *type, /*resource=*/true);
  }

  // The summary of an object of `type`: `obj` itself when nothing changes, nullptr when nothing
  // is left.
  json::Value* SummaryObject(json::Value& obj, const TypeDef& type, bool resource) {
    const size_t base = members_.size();
    bool changed = false;
    for (const json::Member& m : obj.members()) {
      json::Value* value = m.value;
      if (resource && IsAlwaysKept(m.key)) {
        // Kept whole.
      } else if (const ElementDef* e = Lookup(type, m.key); e == nullptr || !e->is_summary) {
        value = nullptr;
      } else if (e->primitive == Primitive::kNone && e->type != extension_type_) {
        value = SummaryValue(*m.value, *e);
      }
      if (value != m.value) changed = true;
      if (value != nullptr) members_.push_back({m.key, value});
    }
    if (!changed) {
      members_.resize(base);
      return &obj;
    }
    if (members_.size() == base) return nullptr;
    return PopObject(base);
  }

  // A complex element's value: an object, or an array of them.
  json::Value* SummaryValue(json::Value& v, const ElementDef& e) {
    if (!v.is_array()) return SummaryItem(v, e);
    const size_t base = items_.size();
    bool changed = false;
    for (json::Value* item : v.items()) {
      json::Value* shaped = SummaryItem(*item, e);
      if (shaped != item) changed = true;
      if (shaped != nullptr) items_.push_back(shaped);
    }
    if (!changed) {
      items_.resize(base);
      return &v;
    }
    json::Value* out = nullptr;
    if (items_.size() > base) {
      out = out_.NewArray(std::span<json::Value* const>(items_).subspan(base));
    }
    items_.resize(base);
    return out;
  }

  json::Value* SummaryItem(json::Value& v, const ElementDef& e) {
    if (!v.is_object()) return &v;  // not valid FHIR; left as it is
    if (e.type == kAnyResource) return SummaryResource(v);
    return SummaryObject(v, defs_.type(e.type), /*resource=*/false);
  }

  json::Value* TaggedMeta(json::Value& meta) {
    if (!meta.is_object()) return &meta;
    const size_t base = members_.size();
    bool tagged = false;
    for (const json::Member& m : meta.members()) {
      if (m.key != "tag" || !m.value->is_array()) {
        members_.push_back(m);
        continue;
      }
      tagged = true;
      bool present = false;
      for (const json::Value* t : m.value->items()) {
        present = present || (t->StringOr("system") == kSubsettedSystem &&
                              t->StringOr("code") == kSubsettedCode);
      }
      if (present) {
        members_.push_back(m);
        continue;
      }
      const size_t items_base = items_.size();
      items_.insert(items_.end(), m.value->items().begin(), m.value->items().end());
      items_.push_back(subsetted_coding());
      members_.push_back(
          {m.key, out_.NewArray(std::span<json::Value* const>(items_).subspan(items_base))});
      items_.resize(items_base);
    }
    if (!tagged) {
      members_.push_back(
          {"tag", out_.NewArray(std::span<json::Value* const>(&subsetted_coding(), 1))});
    }
    return PopObject(base);
  }

  // {"system":...,"code":"SUBSETTED","display":"subsetted"}, made once per call.
  json::Value*& subsetted_coding() {
    if (subsetted_ == nullptr) {
      json::Member m[] = {{"system", out_.NewString(kSubsettedSystem)},
                          {"code", out_.NewString(kSubsettedCode)},
                          {"display", out_.NewString("subsetted")}};
      subsetted_ = out_.NewObject(m);
    }
    return subsetted_;
  }

  // An object of the members [base, end) of the stack, which it pops.
  json::Value* PopObject(size_t base) {
    json::Value* v = out_.NewObject(std::span<const json::Member>(members_).subspan(base));
    members_.resize(base);
    return v;
  }

  const Definitions& defs_;
  json::Document& out_;
  uint32_t extension_type_ = kNoType;  // TypeDef index, for ElementDef::type
  std::vector<json::Member> members_;
  std::vector<json::Value*> items_;
  json::Value* subsetted_ = nullptr;
};

}  // namespace

std::optional<SummaryMode> ParseSummaryMode(std::string_view value) {
  if (value == "true") return SummaryMode::kTrue;
  if (value == "false") return SummaryMode::kFalse;
  if (value == "text") return SummaryMode::kText;
  if (value == "data") return SummaryMode::kData;
  return std::nullopt;
}

const json::Value& Summarize(const Definitions& definitions, const json::Value& resource,
                             SummaryMode mode, json::Document& out) {
  if (mode == SummaryMode::kFalse) return resource;
  const TypeDef* type = Shaper::ResourceType(definitions, resource);
  if (type == nullptr) return resource;
  // The input is shared into the output, never modified (see Shaper).
  json::Value& in = const_cast<json::Value&>(resource);
  Shaper shaper(definitions, out);
  switch (mode) {
    case SummaryMode::kTrue:
      return *shaper.Tagged(*shaper.Summary(in));
    case SummaryMode::kText:
      return *shaper.FilterTopLevel(in, [&](std::string_view key) {
        if (key == "text") return true;
        const ElementDef* e = Shaper::Lookup(*type, key);
        return e != nullptr && type->slots[e->slot].min > 0;
      });
    case SummaryMode::kData:
      return *shaper.FilterTopLevel(in, [](std::string_view key) { return key != "text"; });
    case SummaryMode::kFalse:
      break;
  }
  return resource;
}

ElementSelection::ElementSelection(std::string_view elements) {
  while (!elements.empty()) {
    size_t comma = elements.find(',');
    std::string_view name = elements.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) names_.emplace_back(name);
    if (comma == std::string_view::npos) break;
    elements.remove_prefix(comma + 1);
  }
}

namespace {

// Marks the elements of `type` that `name` selects; false if none.
bool SelectByName(const TypeDef& type, std::string_view name, std::vector<uint8_t>& selected) {
  if (const ElementDef* e = type.Find(name)) {
    selected[e - type.elements.data()] = 1;
    return true;
  }
  // A choice by its name without [x]: every type of it.
  bool found = false;
  for (size_t i = 0; i < type.elements.size(); ++i) {
    std::string_view slot = type.slots[type.elements[i].slot].name;
    if (slot.ends_with("[x]") && slot.substr(0, slot.size() - 3) == name) {
      selected[i] = 1;
      found = true;
    }
  }
  return found;
}

}  // namespace

std::vector<std::string> ElementSelection::UnknownNames(const TypeDef& type) const {
  std::vector<std::string> unknown;
  std::vector<uint8_t> scratch(type.elements.size());
  for (const std::string& name : names_) {
    if (name != "resourceType" && !SelectByName(type, name, scratch)) unknown.push_back(name);
  }
  return unknown;
}

const std::vector<uint8_t>& ElementSelection::Selected(const TypeDef& type) const {
  for (const auto& [t, selected] : cache_)
    if (t == &type) return selected;
  std::vector<uint8_t> selected(type.elements.size());
  for (const std::string& name : names_) SelectByName(type, name, selected);
  for (size_t i = 0; i < type.elements.size(); ++i) {
    if (type.slots[type.elements[i].slot].min > 0) selected[i] = 1;
  }
  return cache_.emplace_back(&type, std::move(selected)).second;
}

const json::Value& SelectElements(const Definitions& definitions, const json::Value& resource,
                                  const ElementSelection& selection, json::Document& out) {
  if (selection.empty()) return resource;
  const TypeDef* type = Shaper::ResourceType(definitions, resource);
  if (type == nullptr) return resource;
  const std::vector<uint8_t>& selected = selection.Selected(*type);
  Shaper shaper(definitions, out);
  return *shaper.FilterTopLevel(resource, [&](std::string_view key) {
    const ElementDef* e = Shaper::Lookup(*type, key);
    return e != nullptr && selected[e - type->elements.data()] != 0;
  });
}

}  // namespace medulla::fhir
