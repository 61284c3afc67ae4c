#include "json/value.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <new>

namespace medulla::json {

struct Document::Arena {
  // Starts with a small inline-sized first block; grows geometrically.
  std::pmr::monotonic_buffer_resource resource{16 * 1024};
};

Document::Document() : arena_(new Arena) {}
Document::Document(Document&& other) noexcept : arena_(other.arena_), root_(other.root_) {
  other.arena_ = nullptr;
  other.root_ = nullptr;
}
Document& Document::operator=(Document&& other) noexcept {
  if (this != &other) {
    delete arena_;
    arena_ = other.arena_;
    root_ = other.root_;
    other.arena_ = nullptr;
    other.root_ = nullptr;
  }
  return *this;
}
Document::~Document() {
  delete arena_;
}

std::pmr::memory_resource* Document::arena() {
  return &arena_->resource;
}

std::string_view Document::CopyText(std::string_view text) {
  if (text.empty()) return {};
  char* p = static_cast<char*>(arena_->resource.allocate(text.size(), 1));
  std::memcpy(p, text.data(), text.size());
  return {p, text.size()};
}

namespace {
template <typename T>
T* Allocate(std::pmr::memory_resource& r, size_t n) {
  return static_cast<T*>(r.allocate(sizeof(T) * (n == 0 ? 1 : n), alignof(T)));
}
}  // namespace

Value* Document::NewNull() {
  Value* v = new (Allocate<Value>(arena_->resource, 1)) Value();
  v->items_ = nullptr;
  return v;
}

Value* Document::NewBool(bool b) {
  Value* v = NewNull();
  v->kind_ = Kind::kBool;
  v->bool_ = b;
  return v;
}

Value* Document::NewNumber(std::string_view text) {
  Value* v = NewNull();
  v->kind_ = Kind::kNumber;
  v->text_ = CopyText(text);
  return v;
}

Value* Document::NewString(std::string_view text) {
  Value* v = NewNull();
  v->kind_ = Kind::kString;
  v->text_ = CopyText(text);
  return v;
}

Value* Document::NewArray(std::span<Value* const> items) {
  Value* v = NewNull();
  v->kind_ = Kind::kArray;
  v->size_ = static_cast<uint32_t>(items.size());
  v->items_ = Allocate<Value*>(arena_->resource, items.size());
  std::copy(items.begin(), items.end(), v->items_);
  return v;
}

Value* Document::NewObject(std::span<const Member> members) {
  Value* v = NewNull();
  v->kind_ = Kind::kObject;
  v->size_ = static_cast<uint32_t>(members.size());
  v->members_ = Allocate<Member>(arena_->resource, members.size());
  std::copy(members.begin(), members.end(), v->members_);
  return v;
}

void Document::Set(Value& object, std::string_view key, Value* value) {
  SetAt(object, object.size_, key, value);
}

void Document::SetAt(Value& object, size_t index, std::string_view key, Value* value) {
  for (uint32_t i = 0; i < object.size_; ++i) {
    if (object.members_[i].key == key) {
      object.members_[i].value = value;
      return;
    }
  }
  if (index > object.size_) index = object.size_;
  Member* m = Allocate<Member>(arena_->resource, object.size_ + 1);
  std::copy(object.members_, object.members_ + index, m);
  m[index] = Member{CopyText(key), value};
  std::copy(object.members_ + index, object.members_ + object.size_, m + index + 1);
  object.members_ = m;
  ++object.size_;
}

void Document::Remove(Value& object, std::string_view key) {
  uint32_t out = 0;
  for (uint32_t i = 0; i < object.size_; ++i) {
    if (object.members_[i].key != key) object.members_[out++] = object.members_[i];
  }
  object.size_ = out;
}

void Document::SetText(Value& string_value, std::string_view text) {
  string_value.text_ = CopyText(text);
}

const Value* Value::Find(std::string_view key) const {
  if (kind_ != Kind::kObject) return nullptr;
  for (uint32_t i = 0; i < size_; ++i)
    if (members_[i].key == key) return members_[i].value;
  return nullptr;
}

Value* Value::Find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->Find(key));
}

std::optional<double> Value::NumberValue() const {
  if (kind_ != Kind::kNumber) return std::nullopt;
  double d = 0;
  const auto [end, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), d);
  if (ec != std::errc() || end != text_.data() + text_.size() || !std::isfinite(d)) {
    return std::nullopt;
  }
  return d;
}

std::string_view Value::StringOr(std::string_view key, std::string_view fallback) const {
  const Value* v = Find(key);
  return v && v->is_string() ? v->text() : fallback;
}

}  // namespace medulla::json
