// A JSON tree that keeps what FHIR needs and generic parsers lose: the exact text of numbers
// (FHIR decimals carry precision: 1.50 is not 1.5) and member order. Nodes live in the owning
// Document's arena; a Value is valid as long as its Document.
#pragma once

#include <cstdint>
#include <memory_resource>
#include <optional>
#include <span>
#include <string_view>

namespace medulla::json {

enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

struct Member;

class Value {
 public:
  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool bool_value() const { return bool_; }
  // For a string, its unescaped UTF-8 text; for a number, its text exactly as written.
  std::string_view text() const { return text_; }
  std::span<Value* const> items() const { return {items_, size_}; }
  std::span<const Member> members() const;
  size_t size() const { return size_; }

  // The member with that key, or nullptr (objects only; linear: FHIR objects are small).
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  // Convenience: the member's text when it is a string, else empty.
  std::string_view StringOr(std::string_view key, std::string_view fallback = {}) const;
  // A number's value as a finite double; nullopt for anything else (or beyond double's range).
  std::optional<double> NumberValue() const;

 private:
  friend class Document;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  uint32_t size_ = 0;
  std::string_view text_;
  union {
    Value** items_;
    Member* members_;
  };
};

struct Member {
  std::string_view key;
  Value* value;
};

inline std::span<const Member> Value::members() const {
  return {members_, size_};
}

// Owns the arena that a tree lives in. Move-only.
class Document {
 public:
  Document();
  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;
  ~Document();

  Value* root() const { return root_; }
  void set_root(Value* v) { root_ = v; }

  // Node construction; text is copied into the arena.
  Value* NewNull();
  Value* NewBool(bool b);
  Value* NewNumber(std::string_view text);
  Value* NewString(std::string_view text);
  Value* NewArray(std::span<Value* const> items);
  Value* NewObject(std::span<const Member> members);
  std::string_view CopyText(std::string_view text);

  // Object edits, which rebuild the member array in the arena (objects are small).
  // Sets key to value: replaces an existing member in place, else appends.
  void Set(Value& object, std::string_view key, Value* value);
  // Inserts key=value at position `index` (or replaces an existing member in place).
  void SetAt(Value& object, size_t index, std::string_view key, Value* value);
  void Remove(Value& object, std::string_view key);
  // Replaces a string's text.
  void SetText(Value& string_value, std::string_view text);

  std::pmr::memory_resource* arena();

 private:
  struct Arena;
  Arena* arena_;
  Value* root_ = nullptr;
};

}  // namespace medulla::json
