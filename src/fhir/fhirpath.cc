#include "fhir/fhirpath.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <utility>

#include "fhir/primitives.h"
#include "json/value.h"

namespace medulla::fhir::fhirpath {

enum class Op : uint8_t {
  kMember,    // name: a child of each input item, or a type filter when capitalised
  kFunction,  // name(args...) applied to input
  kIndex,     // input[index]
  kUnion,     // lhs | rhs
  kEqual,     // lhs = rhs
  kNotEqual,  // lhs != rhs
  kAnd,       // lhs and rhs
  kOr,        // lhs or rhs
  kIs,        // lhs is name
  kAs,        // lhs as name
  kLiteral,   // literal: a node of literals_
  kVariable,  // %resource, %context, %rootResource, $this (name)
};

enum class Fn : uint8_t {
  kNone,
  kWhere,
  kExists,
  kEmpty,
  kNot,
  kFirst,
  kLast,
  kResolve,
  kAs,
  kIs,
  kOfType,
  kExtension,
};

struct Node {
  Op op;
  Fn fn = Fn::kNone;
  int input = -1;  // kMember/kFunction: -1 = the focus ($this); else the input node
  int lhs = -1;
  int rhs = -1;
  std::vector<int> args;
  std::string name;  // member, function or type name; extension url
  size_t index = 0;  // kIndex
  const json::Value* literal = nullptr;
  uint32_t begin = 0;  // source span, for UnionBranches
  uint32_t end = 0;
};

namespace {

// The booleans that operators produce, shared by all expressions (never mutated).
struct Booleans {
  json::Document doc;
  const json::Value* yes;
  const json::Value* no;
  Booleans() : yes(doc.NewBool(true)), no(doc.NewBool(false)) {}
};
const Booleans& Bools() {
  static const Booleans kBools;
  return kBools;
}

bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsIdentChar(char c) {
  return IsIdentStart(c) || (c >= '0' && c <= '9');
}
bool IsUpper(char c) {
  return c >= 'A' && c <= 'Z';
}
char Lower(char c) {
  return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

// Recursive descent over the FHIRPath grammar's precedence levels, restricted to the subset.
class Parser {
 public:
  Parser(std::string_view text, const ParseLimits& limits, Expression& expr)
      : text_(text), limits_(limits), expr_(expr) {}

  core::Status Run() {
    if (text_.size() > limits_.max_length)
      return Error(0, fmt::format("expression longer than {} characters", limits_.max_length));
    int root;
    RETURN_IF_ERROR(ParseOr(root));
    SkipSpace();
    if (pos_ < text_.size()) return Error(pos_, "unexpected text");
    expr_.root_ = root;
    return core::OkStatus();
  }

 private:
  core::Status Error(size_t pos, std::string_view what) {
    return core::InvalidArgument(fmt::format("FHIRPath: {} at position {}", what, pos));
  }

  void SkipSpace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }
  bool Peek(std::string_view s) {
    SkipSpace();
    return text_.substr(pos_, s.size()) == s;
  }
  bool Accept(std::string_view s) {
    if (!Peek(s)) return false;
    pos_ += s.size();
    return true;
  }
  // A keyword operator: the word followed by a non-identifier character.
  bool AcceptWord(std::string_view w) {
    if (!Peek(w)) return false;
    size_t after = pos_ + w.size();
    if (after < text_.size() && IsIdentChar(text_[after])) return false;
    pos_ = after;
    return true;
  }
  core::Status Identifier(std::string& out) {
    SkipSpace();
    size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '`') {  // delimited identifier
      size_t close = text_.find('`', pos_ + 1);
      if (close == std::string_view::npos) return Error(start, "unterminated `identifier`");
      out = std::string(text_.substr(pos_ + 1, close - pos_ - 1));
      pos_ = close + 1;
      return core::OkStatus();
    }
    if (pos_ >= text_.size() || !IsIdentStart(text_[pos_]))
      return Error(start, "expected an identifier");
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
    out = std::string(text_.substr(start, pos_ - start));
    return core::OkStatus();
  }
  // A type specifier: Name or Namespace.Name (FHIR.Quantity, System.String).
  core::Status TypeName(std::string& out) {
    RETURN_IF_ERROR(Identifier(out));
    if ((out == "FHIR" || out == "System") && Accept(".")) RETURN_IF_ERROR(Identifier(out));
    return core::OkStatus();
  }

  int Add(Node n, size_t begin) {
    n.begin = static_cast<uint32_t>(begin);
    n.end = static_cast<uint32_t>(pos_);
    expr_.nodes_.push_back(std::move(n));
    return static_cast<int>(expr_.nodes_.size() - 1);
  }
  int Binary(Op op, int lhs, int rhs, size_t begin) {
    Node n{.op = op};
    n.lhs = lhs;
    n.rhs = rhs;
    return Add(std::move(n), begin);
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) { ++p.depth_; }
    ~DepthGuard() { --p.depth_; }
  };
  core::Status CheckDepth() {
    if (depth_ > limits_.max_depth)
      return Error(pos_, fmt::format("expression nested deeper than {}", limits_.max_depth));
    return core::OkStatus();
  }

  // or/xor/implies < and < = != < | < is/as < invocation.
  core::Status ParseOr(int& out) {
    DepthGuard guard(*this);
    RETURN_IF_ERROR(CheckDepth());
    SkipSpace();
    size_t begin = pos_;
    RETURN_IF_ERROR(ParseAnd(out));
    while (true) {
      if (AcceptWord("or")) {
        int rhs;
        RETURN_IF_ERROR(ParseAnd(rhs));
        out = Binary(Op::kOr, out, rhs, begin);
      } else if (Peek("xor") || Peek("implies")) {
        return Error(pos_, "unsupported operator");
      } else {
        return core::OkStatus();
      }
    }
  }
  core::Status ParseAnd(int& out) {
    SkipSpace();
    size_t begin = pos_;
    RETURN_IF_ERROR(ParseEquality(out));
    while (AcceptWord("and")) {
      int rhs;
      RETURN_IF_ERROR(ParseEquality(rhs));
      out = Binary(Op::kAnd, out, rhs, begin);
    }
    return core::OkStatus();
  }
  core::Status ParseEquality(int& out) {
    SkipSpace();
    size_t begin = pos_;
    RETURN_IF_ERROR(ParseUnion(out));
    while (true) {
      Op op;
      if (Accept("!=")) {
        op = Op::kNotEqual;
      } else if (Peek("!~") || Peek("~") || Peek("<") || Peek(">") || Peek("==")) {
        return Error(pos_, "unsupported operator");
      } else if (Accept("=")) {
        op = Op::kEqual;
      } else {
        return core::OkStatus();
      }
      int rhs;
      RETURN_IF_ERROR(ParseUnion(rhs));
      out = Binary(op, out, rhs, begin);
    }
  }
  core::Status ParseUnion(int& out) {
    SkipSpace();
    size_t begin = pos_;
    RETURN_IF_ERROR(ParseType(out));
    while (Accept("|")) {
      int rhs;
      RETURN_IF_ERROR(ParseType(rhs));
      out = Binary(Op::kUnion, out, rhs, begin);
    }
    return core::OkStatus();
  }
  core::Status ParseType(int& out) {
    SkipSpace();
    size_t begin = pos_;
    RETURN_IF_ERROR(ParsePostfix(out));
    while (true) {
      Op op;
      if (AcceptWord("is")) {
        op = Op::kIs;
      } else if (AcceptWord("as")) {
        op = Op::kAs;
      } else {
        break;
      }
      Node n{.op = op};
      n.lhs = out;
      RETURN_IF_ERROR(TypeName(n.name));
      out = Add(std::move(n), begin);
    }
    SkipSpace();
    if (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '+' || c == '-' || c == '*' || c == '/' || c == '&')
        return Error(pos_, "unsupported operator");
      if (AcceptWord("in") || AcceptWord("contains") || AcceptWord("div") || AcceptWord("mod"))
        return Error(pos_, "unsupported operator");
    }
    return core::OkStatus();
  }

  core::Status ParsePostfix(int& out) {
    SkipSpace();
    size_t begin = pos_;
    RETURN_IF_ERROR(ParseTerm(out));
    while (true) {
      if (Accept(".")) {
        RETURN_IF_ERROR(ParseInvocation(out, begin));
      } else if (Accept("[")) {
        SkipSpace();
        size_t start = pos_;
        size_t index = 0;
        while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
          if (index > 1'000'000) return Error(start, "index too large");
          index = index * 10 + static_cast<size_t>(text_[pos_++] - '0');
        }
        if (pos_ == start) return Error(start, "expected an integer index");
        if (!Accept("]")) return Error(pos_, "expected ']'");
        Node n{.op = Op::kIndex};
        n.input = out;
        n.index = index;
        out = Add(std::move(n), begin);
      } else {
        return core::OkStatus();
      }
    }
  }

  // name or name(args) applied to `input` (-1: the focus).
  core::Status ParseInvocation(int& inout, size_t begin) {
    std::string name;
    size_t name_pos = pos_;
    RETURN_IF_ERROR(Identifier(name));
    if (!Accept("(")) {
      Node n{.op = Op::kMember};
      n.input = inout;
      n.name = std::move(name);
      inout = Add(std::move(n), begin);
      return core::OkStatus();
    }
    static constexpr std::array<std::pair<std::string_view, Fn>, 11> kFunctions = {{
        {"where", Fn::kWhere},
        {"exists", Fn::kExists},
        {"empty", Fn::kEmpty},
        {"not", Fn::kNot},
        {"first", Fn::kFirst},
        {"last", Fn::kLast},
        {"resolve", Fn::kResolve},
        {"as", Fn::kAs},
        {"is", Fn::kIs},
        {"ofType", Fn::kOfType},
        {"extension", Fn::kExtension},
    }};
    Node n{.op = Op::kFunction};
    n.input = inout;
    for (const auto& [fname, fn] : kFunctions)
      if (fname == name) n.fn = fn;
    if (n.fn == Fn::kNone) return Error(name_pos, fmt::format("unknown function '{}'", name));
    switch (n.fn) {
      case Fn::kAs:
      case Fn::kIs:
      case Fn::kOfType:
        RETURN_IF_ERROR(TypeName(n.name));
        break;
      case Fn::kExtension: {
        SkipSpace();
        if (pos_ >= text_.size() || text_[pos_] != '\'')
          return Error(pos_, "extension() takes a string literal");
        RETURN_IF_ERROR(StringLiteral(n.name));
        break;
      }
      case Fn::kWhere:
      case Fn::kExists:
        if (!Peek(")")) {
          int arg;
          RETURN_IF_ERROR(ParseOr(arg));
          n.args.push_back(arg);
        }
        break;
      default:
        break;
    }
    if (n.fn == Fn::kWhere && n.args.empty()) return Error(pos_, "where() takes a criterion");
    if (!Accept(")")) return Error(pos_, fmt::format("expected ')' closing {}(", name));
    n.name = n.name.empty() ? name : n.name;
    inout = Add(std::move(n), begin);
    return core::OkStatus();
  }

  core::Status StringLiteral(std::string& out) {
    size_t start = pos_;
    ++pos_;  // opening quote
    out.clear();
    while (pos_ < text_.size() && text_[pos_] != '\'') {
      char c = text_[pos_++];
      if (c == '\\' && pos_ < text_.size()) {
        char e = text_[pos_++];
        switch (e) {
          case 'n':
            c = '\n';
            break;
          case 't':
            c = '\t';
            break;
          case 'r':
            c = '\r';
            break;
          case 'f':
            c = '\f';
            break;
          case 'u':
            return Error(pos_ - 2, "\\u escapes are not supported");
          default:
            c = e;  // \' \" \` \\ \/
        }
      }
      out.push_back(c);
    }
    if (pos_ >= text_.size()) return Error(start, "unterminated string literal");
    ++pos_;
    return core::OkStatus();
  }

  json::Document& Literals() {
    if (!expr_.literals_) expr_.literals_ = std::make_shared<json::Document>();
    return *expr_.literals_;
  }

  core::Status ParseTerm(int& out) {
    SkipSpace();
    size_t begin = pos_;
    if (pos_ >= text_.size()) return Error(pos_, "unexpected end of expression");
    char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      RETURN_IF_ERROR(ParseOr(out));
      if (!Accept(")")) return Error(pos_, "expected ')'");
      return core::OkStatus();
    }
    if (c == '\'') {
      std::string s;
      RETURN_IF_ERROR(StringLiteral(s));
      Node n{.op = Op::kLiteral};
      n.literal = Literals().NewString(s);
      out = Add(std::move(n), begin);
      return core::OkStatus();
    }
    if (c >= '0' && c <= '9') {
      while (pos_ < text_.size() && ((text_[pos_] >= '0' && text_[pos_] <= '9') ||
                                     (text_[pos_] == '.' && pos_ + 1 < text_.size() &&
                                      text_[pos_ + 1] >= '0' && text_[pos_ + 1] <= '9')))
        ++pos_;
      Node n{.op = Op::kLiteral};
      n.literal = Literals().NewNumber(text_.substr(begin, pos_ - begin));
      out = Add(std::move(n), begin);
      return core::OkStatus();
    }
    if (c == '%' || c == '$') {
      ++pos_;
      std::string name;
      RETURN_IF_ERROR(Identifier(name));
      bool known = c == '%' ? (name == "resource" || name == "context" || name == "rootResource")
                            : name == "this";
      if (!known) return Error(begin, fmt::format("unknown variable '{}{}'", c, name));
      Node n{.op = Op::kVariable};
      n.name = name;
      out = Add(std::move(n), begin);
      return core::OkStatus();
    }
    if (c == '@' || c == '{') return Error(pos_, "unsupported literal");
    if (AcceptWord("true") || AcceptWord("false")) {
      Node n{.op = Op::kLiteral};
      n.literal = text_[begin] == 't' ? Bools().yes : Bools().no;
      out = Add(std::move(n), begin);
      return core::OkStatus();
    }
    out = -1;  // the focus
    return ParseInvocation(out, begin);
  }

  std::string_view text_;
  const ParseLimits& limits_;
  Expression& expr_;
  size_t pos_ = 0;
  size_t depth_ = 0;
};

core::Result<Expression> Expression::Parse(std::string_view text, const ParseLimits& limits) {
  Expression expr;
  expr.text_ = std::string(text);
  Parser parser(expr.text_, limits, expr);
  RETURN_IF_ERROR(parser.Run());
  return expr;
}

Expression::Expression() = default;
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::Expression(const Expression&) = default;
Expression& Expression::operator=(const Expression&) = default;
Expression::~Expression() = default;

std::vector<std::string_view> Expression::UnionBranches() const {
  std::vector<std::string_view> out;
  if (root_ < 0) return out;
  // Unions are left-associative: walk down the left spine, then reverse.
  int n = root_;
  while (nodes_[n].op == Op::kUnion) {
    const Node& r = nodes_[nodes_[n].rhs];
    out.push_back(std::string_view(text_).substr(r.begin, r.end - r.begin));
    n = nodes_[n].lhs;
  }
  out.push_back(std::string_view(text_).substr(nodes_[n].begin, nodes_[n].end - nodes_[n].begin));
  std::reverse(out.begin(), out.end());
  for (auto& b : out) {
    while (!b.empty() && b.back() == ' ') b.remove_suffix(1);
    while (!b.empty() && b.front() == ' ') b.remove_prefix(1);
  }
  return out;
}

std::string_view Expression::RootTypeName() const {
  int n = root_;
  while (n >= 0) {
    const Node& node = nodes_[n];
    switch (node.op) {
      case Op::kMember:
        if (node.input < 0) return IsUpper(node.name[0]) ? std::string_view(node.name) : "";
        n = node.input;
        break;
      case Op::kFunction:
      case Op::kIndex:
        if (node.input < 0) return "";
        n = node.input;
        break;
      case Op::kIs:
      case Op::kAs:
        n = node.lhs;
        break;
      default:
        return "";
    }
  }
  return "";
}

Item ResourceItem(const json::Value& resource, const Definitions& defs) {
  Item item;
  item.value = &resource;
  if (!resource.is_object()) return item;
  item.type = resource.StringOr("resourceType");
  if (const TypeDef* def = defs.FindResource(item.type))
    item.type_index = static_cast<uint32_t>(def - &defs.type(0));
  return item;
}

namespace {

// The FHIR type name of a choice element's suffix: "Quantity" for valueQuantity, "dateTime"
// for valueDateTime (primitive names start in lower case).
std::string_view ChoiceSuffixType(std::string_view suffix) {
  if (suffix.empty()) return suffix;
  std::string lowered(suffix);
  lowered[0] = Lower(lowered[0]);
  if (auto p = PrimitiveFromName(lowered)) return PrimitiveName(*p);
  return suffix;
}

// Whether a value of FHIR type `actual` is a `wanted`: equal names ignoring the case of the
// first letter (the definitions write both `as(dateTime)` and `as(DateTime)`), plus the
// specialisations the search expressions meet.
bool TypeMatches(std::string_view actual, std::string_view wanted, bool is_resource) {
  if (actual.empty()) return false;
  if (actual.size() == wanted.size() && Lower(actual[0]) == Lower(wanted[0]) &&
      actual.substr(1) == wanted.substr(1))
    return true;
  if (is_resource) return wanted == "Resource" || wanted == "DomainResource";
  struct Sub {
    std::string_view base, derived;
  };
  static constexpr Sub kSubtypes[] = {
      {"Quantity", "Age"},
      {"Quantity", "Distance"},
      {"Quantity", "Duration"},
      {"Quantity", "Count"},
      {"Quantity", "SimpleQuantity"},
      {"Quantity", "MoneyQuantity"},
      {"string", "code"},
      {"string", "id"},
      {"string", "markdown"},
      {"uri", "url"},
      {"uri", "canonical"},
      {"uri", "oid"},
      {"uri", "uuid"},
      {"integer", "positiveInt"},
      {"integer", "unsignedInt"},
  };
  for (const Sub& s : kSubtypes)
    if (s.derived == actual && s.base.size() == wanted.size() &&
        Lower(s.base[0]) == Lower(wanted[0]) && s.base.substr(1) == wanted.substr(1))
      return true;
  return false;
}

bool IsResourceItem(const Item& item, const Definitions& defs) {
  return !item.resolved && item.type_index != kNoType &&
         defs.type(item.type_index).kind == TypeDef::Kind::kResource;
}

// The resource type that a reference string names: "Patient" for "Patient/1",
// "http://x/fhir/Patient/1" and "Patient/1/_history/2"; empty for urn:uuid:, "#contained"
// and anything else.
std::string_view ReferenceType(std::string_view ref, const Definitions& defs) {
  if (size_t h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
  size_t slash = ref.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  std::string_view head = ref.substr(0, slash);
  size_t prev = head.rfind('/');
  std::string_view type = prev == std::string_view::npos ? head : head.substr(prev + 1);
  return defs.IsResourceType(type) ? type : std::string_view();
}

}  // namespace

// Evaluation state for one call; the expression and definitions are shared and immutable.
class Evaluator {
 public:
  Evaluator(const Expression& expr, const Definitions& defs, const json::Value& resource)
      : expr_(expr), defs_(defs), resource_(resource) {}

  void Eval(int n, const Item& focus, std::vector<Item>& out) const {
    const Node& node = expr_.nodes_[n];
    switch (node.op) {
      case Op::kMember: {
        if (node.input < 0) {
          Member(node, focus, out);
        } else {
          std::vector<Item> in;
          Eval(node.input, focus, in);
          for (const Item& item : in) Member(node, item, out);
        }
        return;
      }
      case Op::kFunction:
        Function(node, focus, out);
        return;
      case Op::kIndex: {
        std::vector<Item> in;
        Eval(node.input, focus, in);
        if (node.index < in.size()) out.push_back(in[node.index]);
        return;
      }
      case Op::kUnion: {
        // FHIRPath `|` removes duplicates by value equality, on both sides: two names with
        // the same given name yield it once.
        std::vector<Item> all;
        Eval(node.lhs, focus, all);
        Eval(node.rhs, focus, all);
        size_t start = out.size();
        for (const Item& item : all) {
          bool dup = false;
          for (size_t i = start; i < out.size() && !dup; ++i)
            dup = out[i].resolved == item.resolved && Equal(*out[i].value, *item.value);
          if (!dup) out.push_back(item);
        }
        return;
      }
      case Op::kEqual:
      case Op::kNotEqual: {
        std::vector<Item> lhs, rhs;
        Eval(node.lhs, focus, lhs);
        Eval(node.rhs, focus, rhs);
        if (lhs.empty() || rhs.empty()) return;
        bool eq = lhs.size() == rhs.size();
        for (size_t i = 0; eq && i < lhs.size(); ++i) eq = Equal(*lhs[i].value, *rhs[i].value);
        PushBool(node.op == Op::kEqual ? eq : !eq, out);
        return;
      }
      case Op::kAnd:
      case Op::kOr: {
        // Three-valued logic: empty is unknown.
        int l = Truth(node.lhs, focus), r = Truth(node.rhs, focus);
        if (node.op == Op::kAnd) {
          if (l == 0 || r == 0) return PushBool(false, out);
          if (l == 1 && r == 1) return PushBool(true, out);
        } else {
          if (l == 1 || r == 1) return PushBool(true, out);
          if (l == 0 && r == 0) return PushBool(false, out);
        }
        return;
      }
      case Op::kIs: {
        std::vector<Item> in;
        Eval(node.lhs, focus, in);
        if (in.size() == 1) PushBool(Is(in[0], node.name), out);
        return;
      }
      case Op::kAs: {
        std::vector<Item> in;
        Eval(node.lhs, focus, in);
        for (const Item& item : in)
          if (Is(item, node.name)) out.push_back(item);
        return;
      }
      case Op::kLiteral: {
        Item item;
        item.value = node.literal;
        item.type = node.literal->is_string() ? "string"
                    : node.literal->is_bool() ? "boolean"
                                              : "integer";
        out.push_back(item);
        return;
      }
      case Op::kVariable:
        if (node.name == "this")
          out.push_back(focus);
        else
          out.push_back(ResourceItem(resource_, defs_));
        return;
    }
  }

 private:
  void PushBool(bool b, std::vector<Item>& out) const {
    Item item;
    item.value = b ? Bools().yes : Bools().no;
    item.type = "boolean";
    out.push_back(item);
  }

  // 1 = true, 0 = false, -1 = empty (or not a single boolean).
  int Truth(int n, const Item& focus) const {
    std::vector<Item> v;
    Eval(n, focus, v);
    if (v.empty()) return -1;
    // A single non-boolean item counts as true (FHIRPath singleton evaluation).
    if (v.size() == 1 && v[0].value->is_bool()) return v[0].value->bool_value() ? 1 : 0;
    return 1;
  }

  bool Is(const Item& item, std::string_view type) const {
    return TypeMatches(item.type, type, item.resolved || IsResourceItem(item, defs_));
  }

  static bool Equal(const json::Value& a, const json::Value& b) {
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
      case json::Kind::kNull:
        return true;
      case json::Kind::kBool:
        return a.bool_value() == b.bool_value();
      case json::Kind::kNumber:
        return a.text() == b.text() || std::strtod(std::string(a.text()).c_str(), nullptr) ==
                                           std::strtod(std::string(b.text()).c_str(), nullptr);
      case json::Kind::kString:
        return a.text() == b.text();
      case json::Kind::kArray:
        if (a.size() != b.size()) return false;
        for (size_t i = 0; i < a.size(); ++i)
          if (!Equal(*a.items()[i], *b.items()[i])) return false;
        return true;
      case json::Kind::kObject:
        if (a.size() != b.size()) return false;
        for (const json::Member& m : a.members()) {
          const json::Value* other = b.Find(m.key);
          if (!other || !Equal(*m.value, *other)) return false;
        }
        return true;
    }
    return false;
  }

  // Appends the child `name` of one item (flattening arrays), or the item itself when `name`
  // is a type it has (`Patient` in `Patient.name`).
  void Member(const Node& node, const Item& item, std::vector<Item>& out) const {
    const std::string& name = node.name;
    if (IsUpper(name[0])) {
      if (Is(item, name)) out.push_back(item);
      return;
    }
    if (item.resolved || !item.value->is_object()) return;
    const TypeDef* def = item.type_index != kNoType && item.type_index != kAnyResource
                             ? &defs_.type(item.type_index)
                             : nullptr;
    if (const json::Value* child = item.value->Find(name)) {
      Push(def ? def->Find(name) : nullptr, child, {}, out);
      return;
    }
    // A choice element: `value` matches `valueQuantity`. JSON has at most one of them.
    for (const json::Member& m : item.value->members()) {
      std::string_view key = m.key;
      if (key.size() <= name.size() || !key.starts_with(name) || !IsUpper(key[name.size()]))
        continue;
      const ElementDef* element = def ? def->Find(key) : nullptr;
      if (def && !element) continue;  // not a property of this type
      if (element) {
        const SlotDef& slot = def->slots[element->slot];
        if (slot.name.size() != name.size() + 3 || !std::string_view(slot.name).starts_with(name))
          continue;  // not value[x]
      }
      Push(element, m.value, ChoiceSuffixType(key.substr(name.size())), out);
      return;
    }
  }

  void Push(const ElementDef* element, const json::Value* v, std::string_view fallback_type,
            std::vector<Item>& out) const {
    auto one = [&](const json::Value* x) {
      if (x->is_null()) return;  // a gap in a primitive array whose `_name` carries extensions
      Item item;
      item.value = x;
      if (element) {
        // Elements typed with FHIRPath System types (Resource.id, Element.id, Extension.url)
        // hold System.String values, which we name "string".
        item.type = element->primitive == Primitive::kNone ? std::string_view(element->type_code)
                    : element->primitive_extensions        ? PrimitiveName(element->primitive)
                                                           : "string";
        item.type_index = element->type;
        if (element->type == kAnyResource) item = ResourceItem(*x, defs_);
      } else {
        item.type = fallback_type;
      }
      out.push_back(item);
    };
    if (v->is_array()) {
      for (const json::Value* x : v->items()) one(x);
    } else {
      one(v);
    }
  }

  void Function(const Node& node, const Item& focus, std::vector<Item>& out) const {
    std::vector<Item> in;
    if (node.input < 0)
      in.push_back(focus);
    else
      Eval(node.input, focus, in);
    switch (node.fn) {
      case Fn::kWhere:
        for (const Item& item : in)
          if (Truth(node.args[0], item) == 1) out.push_back(item);
        return;
      case Fn::kExists: {
        bool any = false;
        if (node.args.empty()) {
          any = !in.empty();
        } else {
          for (const Item& item : in) any = any || Truth(node.args[0], item) == 1;
        }
        return PushBool(any, out);
      }
      case Fn::kEmpty:
        return PushBool(in.empty(), out);
      case Fn::kNot:
        if (in.size() == 1 && in[0].value->is_bool()) PushBool(!in[0].value->bool_value(), out);
        return;
      case Fn::kFirst:
        if (!in.empty()) out.push_back(in.front());
        return;
      case Fn::kLast:
        if (!in.empty()) out.push_back(in.back());
        return;
      case Fn::kResolve:
        // We cannot follow references while indexing; what the search expressions ask of a
        // resolved reference is its type (`resolve() is Patient`), which the reference names.
        for (const Item& item : in) {
          if (item.resolved || !item.value->is_object()) continue;
          std::string_view type = ReferenceType(item.value->StringOr("reference"), defs_);
          if (type.empty()) continue;
          Item r;
          r.value = item.value;
          r.type = type;
          r.resolved = true;
          out.push_back(r);
        }
        return;
      case Fn::kAs:
      case Fn::kOfType:
        for (const Item& item : in)
          if (Is(item, node.name)) out.push_back(item);
        return;
      case Fn::kIs:
        if (in.size() == 1) PushBool(Is(in[0], node.name), out);
        return;
      case Fn::kExtension: {
        Node ext{.op = Op::kMember};
        ext.name = "extension";
        std::vector<Item> exts;
        for (const Item& item : in) Member(ext, item, exts);
        for (const Item& e : exts)
          if (e.value->is_object() && e.value->StringOr("url") == node.name) out.push_back(e);
        return;
      }
      case Fn::kNone:
        return;
    }
  }

  const Expression& expr_;
  const Definitions& defs_;
  const json::Value& resource_;
};

void Expression::Evaluate(const json::Value& resource, std::vector<Item>& out,
                          const Definitions& defs) const {
  Evaluate(ResourceItem(resource, defs), resource, out, defs);
}

void Expression::Evaluate(const Item& focus, const json::Value& resource, std::vector<Item>& out,
                          const Definitions& defs) const {
  if (root_ < 0 || focus.value == nullptr) return;
  Evaluator(*this, defs, resource).Eval(root_, focus, out);
}

}  // namespace medulla::fhir::fhirpath
