#include "store/sqlite/search_sql.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <set>
#include <variant>

namespace medulla::store::sqlite {
namespace {

using fhir::SearchParamType;

// Collects bound values; each Add returns its numbered placeholder, so SQL fragments can be
// assembled in any order.
class Binder {
 public:
  std::string Text(std::string_view s) { return Add({Kind::kText, 0, 0, std::string(s)}); }
  std::string Int(int64_t v) { return Add({Kind::kInt, v, 0, {}}); }
  std::string Real(double v) { return Add({Kind::kReal, 0, v, {}}); }
  // Binds every value the statement has a placeholder for.
  void BindAll(sqlite3_stmt* stmt) const {
    int n = sqlite3_bind_parameter_count(stmt);
    for (int i = 0; i < n && i < static_cast<int>(values_.size()); ++i) {
      const Value& v = values_[static_cast<size_t>(i)];
      switch (v.kind) {
        case Kind::kInt:
          sqlite3_bind_int64(stmt, i + 1, v.integer);
          break;
        case Kind::kReal:
          sqlite3_bind_double(stmt, i + 1, v.real);
          break;
        case Kind::kText:
          sqlite3_bind_text(stmt, i + 1, v.text.data(), static_cast<int>(v.text.size()),
                            SQLITE_STATIC);
          break;
      }
    }
  }

 private:
  enum class Kind : uint8_t { kInt, kReal, kText };
  struct Value {
    Kind kind;
    int64_t integer;
    double real;
    std::string text;
  };
  std::string Add(Value v) {
    values_.push_back(std::move(v));
    return fmt::format("?{}", values_.size());
  }
  std::vector<Value> values_;
};

// A statement prepared for one search (search SQL varies too much to cache).
struct OwnedStmt {
  StmtPtr stmt;
  sqlite3_stmt* get() const { return stmt.get(); }
};

core::Result<OwnedStmt> PrepareBound(Db& db, const std::string& sql, const Binder& binder) {
  sqlite3_stmt* raw = nullptr;
  int rc =
      sqlite3_prepare_v2(db.handle(), sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return core::Fail(db.Error("prepare search"));
  }
  OwnedStmt s{StmtPtr(raw)};
  binder.BindAll(raw);
  return s;
}

// Upper bound of the strings that start with `prefix` (0xFF never occurs in UTF-8).
std::string PrefixEnd(std::string_view prefix) {
  return std::string(prefix) + "\xff";
}

// Value conditions are written against the table alias "T." (our own SQL: values are bound,
// never spliced) and given their real alias here.
std::string RenameTable(std::string sql, const std::string& alias) {
  for (size_t pos = 0; (pos = sql.find("T.", pos)) != std::string::npos;) {
    sql.replace(pos, 2, alias + ".");
    pos += alias.size() + 1;
  }
  return sql;
}

// A filter compiled to SQL about one resource (alias.rk).
struct Compiled {
  std::string test;                // a boolean SQL expression
  std::optional<std::string> set;  // an uncorrelated "SELECT rk ..." of the matches
  int cost = 3;  // of the set: 0 point lookups, 1 value range, 2 scan of the parameter's rows
};

constexpr int kMaxDepth = 4;
constexpr int kProbeLimit = 256;

class Compiler {
 public:
  Compiler(const SearchContext& ctx, Binder& b) : ctx_(ctx), b_(b) {}

  // The WHERE conditions (over `alias`, a row of `current`) of the current resources of
  // `type` meeting `filters`: "FROM current <alias> WHERE <this>".
  core::Result<std::string> Where(std::string_view type, const std::vector<SearchFilter>& filters,
                                  const std::string& alias, int depth) {
    if (depth > kMaxDepth) {
      return core::Fail(core::InvalidArgument("search chains are nested too deeply"));
    }
    std::vector<Compiled> compiled;
    compiled.reserve(filters.size());
    for (const SearchFilter& f : filters) {
      ASSIGN_OR_RETURN(Compiled c, Compile(f, type, alias, depth));
      compiled.push_back(std::move(c));
    }
    ASSIGN_OR_RETURN(int driver, ChooseDriver(compiled));
    std::string sql = fmt::format("{0}.type = {1} AND {0}.deleted = 0", alias, b_.Text(type));
    for (size_t i = 0; i < compiled.size(); ++i) {
      if (static_cast<int>(i) == driver) {
        sql += fmt::format(" AND {}.rk IN ({})", alias, *compiled[i].set);
      } else {
        sql += " AND (" + compiled[i].test + ")";
      }
    }
    return sql;
  }

 private:
  std::string NewAlias() { return fmt::format("x{}", next_alias_++); }

  core::Result<int64_t> Pid(std::string_view type, std::string_view param,
                            std::string_view suffix = {}) {
    auto pid = ctx_.ids.Find(type, param, suffix);
    if (!pid) {
      return core::Fail(core::InvalidArgument(fmt::format(
          "search parameter '{}' is not indexed for {}", std::string(param), std::string(type))));
    }
    return *pid;
  }

  // The index (-1: none) of the filter whose set drives the query: the most selective of
  // those that look values up (cost <= 1), measured by counting a few of their rows.
  core::Result<int> ChooseDriver(const std::vector<Compiled>& compiled) {
    std::vector<int> candidates;
    for (size_t i = 0; i < compiled.size(); ++i) {
      if (compiled[i].set && compiled[i].cost <= 1) candidates.push_back(static_cast<int>(i));
    }
    if (candidates.empty()) return -1;
    if (candidates.size() == 1) return candidates.front();
    int best = -1;
    int64_t best_rows = 0;
    for (int i : candidates) {
      std::string sql = fmt::format("SELECT count(*) FROM ({} LIMIT {})",
                                    *compiled[static_cast<size_t>(i)].set, kProbeLimit);
      ASSIGN_OR_RETURN(OwnedStmt probe, PrepareBound(ctx_.db, sql, b_));
      if (sqlite3_step(probe.get()) != SQLITE_ROW) {
        return core::Fail(ctx_.db.Error("search probe"));
      }
      int64_t rows = sqlite3_column_int64(probe.get(), 0);
      if (best < 0 || rows < best_rows ||
          (rows == best_rows &&
           compiled[static_cast<size_t>(i)].cost < compiled[static_cast<size_t>(best)].cost)) {
        best = i;
        best_rows = rows;
      }
    }
    return best;
  }

  // Per-alternative SQL conditions over table alias `t` of the parameter's value table.
  struct Alternatives {
    std::string table;
    std::vector<std::string> conditions;
    int cost = 0;
    bool point = true;   // each condition pins the leading key columns: test per rk cheaply
    bool range = false;  // the table leads with rk (date, number, quantity): see RangeFilter
  };

  // Combines alternatives into a compiled filter for resource `alias`.
  Compiled FromAlternatives(const Alternatives& a, int64_t pid, const std::string& alias) {
    Compiled c;
    c.cost = a.cost;
    std::string pid_sql = b_.Int(pid);
    std::string set;
    std::string test;
    for (const std::string& cond : a.conditions) {
      std::string t = NewAlias();
      std::string renamed =
          fmt::format("{0}.pid = {1} AND ({2})", t, pid_sql, RenameTable(cond, t));
      if (!set.empty()) set += " UNION ";
      set += fmt::format("SELECT {0}.rk FROM {1} {0} WHERE {2}", t, a.table, renamed);
      if (a.point) {
        if (!test.empty()) test += " OR ";
        test += fmt::format("EXISTS (SELECT 1 FROM {1} {0} WHERE {2} AND {0}.rk = {3}.rk)", t,
                            a.table, renamed, alias);
      }
    }
    if (a.conditions.empty()) {
      c.test = "0";
      c.set = "SELECT NULL WHERE 0";
      c.cost = 0;
      return c;
    }
    c.set = set;
    c.test = a.point ? test : fmt::format("{}.rk IN ({})", alias, set);
    return c;
  }

  static std::string DateCondition(const SearchValue& v, const std::string& lo,
                                   const std::string& hi, Binder& b) {
    // Search range [sb, se), target range [T.begin, T.end) (search.html#prefix).
    std::string sb = b.Int(v.begin), se = b.Int(v.end);
    switch (v.comparator) {
      case Comparator::kEq:
        return fmt::format("{} >= {} AND {} <= {}", lo, sb, hi, se);
      case Comparator::kNe:
        return fmt::format("NOT ({} >= {} AND {} <= {})", lo, sb, hi, se);
      case Comparator::kLt:
        return fmt::format("{} < {}", lo, sb);
      case Comparator::kLe:
        return fmt::format("{} < {}", lo, se);
      case Comparator::kGt:
        return fmt::format("{} > {}", hi, se);
      case Comparator::kGe:
        return fmt::format("{} > {}", hi, sb);
      case Comparator::kSa:
        return fmt::format("{} >= {}", lo, se);
      case Comparator::kEb:
        return fmt::format("{} <= {}", hi, sb);
      case Comparator::kAp: {
        // Approximately: within 10% of the distance between the value and now, at least a
        // day either side (search.html#prefix leaves the margin to the server).
        int64_t now = core::SystemClock::Instance().Now();
        int64_t margin = std::max<int64_t>(std::abs(now - v.begin) / 10, 86400LL * 1000000);
        return fmt::format("{} < {} AND {} > {}", lo, b.Int(v.end + margin), hi,
                           b.Int(v.begin - margin));
      }
    }
    return "0";
  }

  // Numbers: the search value's precision range [low, high) for eq/ne/ap, the exact value for
  // the order comparisons (search.html#number).
  static std::string NumberCondition(Comparator cmp, const std::string& col, double number,
                                     double low, double high, Binder& b) {
    switch (cmp) {
      case Comparator::kEq:
        return fmt::format("{0} >= {1} AND {0} < {2}", col, b.Real(low), b.Real(high));
      case Comparator::kNe:
        return fmt::format("NOT ({0} >= {1} AND {0} < {2})", col, b.Real(low), b.Real(high));
      case Comparator::kGt:
      case Comparator::kSa:
        return fmt::format("{} > {}", col, b.Real(number));
      case Comparator::kLt:
      case Comparator::kEb:
        return fmt::format("{} < {}", col, b.Real(number));
      case Comparator::kGe:
        return fmt::format("{} >= {}", col, b.Real(number));
      case Comparator::kLe:
        return fmt::format("{} <= {}", col, b.Real(number));
      case Comparator::kAp: {
        double margin = std::abs(number) * 0.1;
        return fmt::format("{0} >= {1} AND {0} <= {2}", col, b.Real(number - margin),
                           b.Real(number + margin));
      }
    }
    return "0";
  }

  core::Result<Compiled> Compile(const SearchFilter& f, std::string_view type,
                                 const std::string& alias, int depth) {
    switch (f.kind) {
      case SearchFilter::Kind::kId:
        return CompileId(f, type, alias);
      case SearchFilter::Kind::kLastUpdated:
        return CompileLastUpdated(f, alias);
      case SearchFilter::Kind::kChain:
        return CompileChain(f, type, alias, depth);
      case SearchFilter::Kind::kReverseChain:
        return CompileReverseChain(f, type, alias, depth);
      case SearchFilter::Kind::kAnyOf: {
        Compiled c;
        c.cost = 0;
        std::string set;
        bool all_sets = true;
        for (const SearchFilter& alt : f.alternatives) {
          ASSIGN_OR_RETURN(Compiled a, Compile(alt, type, alias, depth));
          c.test += (c.test.empty() ? "(" : " OR (") + a.test + ")";
          if (!a.set) {
            all_sets = false;
          } else {
            set += (set.empty() ? "" : " UNION ") + *a.set;
            c.cost = std::max(c.cost, a.cost);
          }
        }
        if (c.test.empty()) c.test = "0";
        if (all_sets && !set.empty()) c.set = set;
        return c;
      }
      case SearchFilter::Kind::kValue:
        break;
    }
    if (f.modifier == Modifier::kMissing) {
      ASSIGN_OR_RETURN(int64_t pid, Pid(type, f.param));
      Compiled c;
      c.test =
          fmt::format("{}EXISTS (SELECT 1 FROM ix_present p WHERE p.pid = {} AND p.rk = {}.rk)",
                      f.missing ? "NOT " : "", b_.Int(pid), alias);
      return c;
    }
    if (f.type == SearchParamType::kComposite) return CompileComposite(f, type, alias);
    // :text searches the display text as a string, :identifier the identifier as a token.
    std::string_view suffix = f.modifier == Modifier::kText         ? ":text"
                              : f.modifier == Modifier::kIdentifier ? ":identifier"
                                                                    : "";
    ASSIGN_OR_RETURN(int64_t pid, Pid(type, f.param, suffix));
    Alternatives a = ValueAlternatives(f);
    if (a.range) return RangeFilter(a, pid, alias);
    Compiled c = FromAlternatives(a, pid, alias);
    if (f.modifier == Modifier::kNot) {
      c.test = "NOT (" + c.test + ")";
      c.set.reset();
    }
    return c;
  }

  // Date, number and quantity tables lead with rk: one EXISTS per resource, all alternatives
  // inside it; their sets scan the parameter's rows.
  Compiled RangeFilter(const Alternatives& a, int64_t pid, const std::string& alias) {
    Compiled c;
    c.cost = 2;
    std::string t = NewAlias();
    std::string any;
    for (const std::string& cond : a.conditions) {
      any += (any.empty() ? "(" : " OR (") + cond + ")";
    }
    if (any.empty()) any = "0";
    any = RenameTable(any, t);
    std::string pid_sql = b_.Int(pid);
    c.test = fmt::format(
        "EXISTS (SELECT 1 FROM {1} {0} WHERE {0}.pid = {2} AND {0}.rk = {3}.rk "
        "AND ({4}))",
        t, a.table, pid_sql, alias, any);
    c.set = fmt::format("SELECT {0}.rk FROM {1} {0} WHERE {0}.pid = {2} AND ({3})", t, a.table,
                        pid_sql, any);
    return c;
  }

  // The value table and one condition per OR-ed value of a filter on an indexed value
  // (any type but composite; the modifier decides the table for :text and :identifier).
  Alternatives ValueAlternatives(const SearchFilter& f) {
    switch (f.type) {
      case SearchParamType::kString:
        return StringAlternatives(f);
      case SearchParamType::kToken:
        return f.modifier == Modifier::kText ? StringAlternatives(f) : TokenAlternatives(f);
      case SearchParamType::kReference:
        return f.modifier == Modifier::kIdentifier ? TokenAlternatives(f)
                                                   : ReferenceAlternatives(f);
      case SearchParamType::kUri:
        return UriAlternatives(f);
      case SearchParamType::kDate: {
        Alternatives a{"ix_date", {}, 2, true, true};
        for (const SearchValue& v : f.any_of)
          a.conditions.push_back(DateCondition(v, "T.begin", "T.end", b_));
        return a;
      }
      case SearchParamType::kNumber: {
        Alternatives a{"ix_number", {}, 2, true, true};
        for (const SearchValue& v : f.any_of)
          a.conditions.push_back(
              NumberCondition(v.comparator, "T.value", v.number, v.low, v.high, b_));
        return a;
      }
      case SearchParamType::kQuantity:
        return QuantityAlternatives(f);
      case SearchParamType::kComposite:
        break;
    }
    return Alternatives{"ix_token", {}, 0, true, false};  // no condition: matches nothing
  }

  Alternatives StringAlternatives(const SearchFilter& f) {
    Alternatives a{"ix_string", {}, 0, true, false};
    for (const SearchValue& v : f.any_of) {
      if (f.modifier == Modifier::kExact) {
        a.conditions.push_back(
            fmt::format("T.value = {} AND T.exact = {}", b_.Text(v.text), b_.Text(v.exact)));
      } else if (f.modifier == Modifier::kContains) {
        a.conditions.push_back(fmt::format("instr(T.value, {}) > 0", b_.Text(v.text)));
        a.cost = 2;
        a.point = false;
      } else {
        a.conditions.push_back(fmt::format("T.value >= {} AND T.value < {}", b_.Text(v.text),
                                           b_.Text(PrefixEnd(v.text))));
        a.cost = std::max(a.cost, 1);
        a.point = false;
      }
    }
    return a;
  }

  Alternatives TokenAlternatives(const SearchFilter& f) {
    Alternatives a{"ix_token", {}, 0, true, false};
    for (const SearchValue& v : f.any_of) {
      if (!v.code.empty()) {
        std::string cond = fmt::format("T.code = {}", b_.Text(v.code));
        if (v.system) cond += fmt::format(" AND T.system = {}", b_.Text(*v.system));
        a.conditions.push_back(std::move(cond));
      } else if (v.system) {
        a.conditions.push_back(fmt::format("T.system = {}", b_.Text(*v.system)));
        a.cost = 2;
        a.point = false;
      }
    }
    return a;
  }

  Alternatives ReferenceAlternatives(const SearchFilter& f) {
    Alternatives a{"ix_reference", {}, 0, true, false};
    for (const SearchValue& v : f.any_of) {
      if (v.target_id.empty()) {
        // Any resource of the type (export: "in some patient's compartment").
        a.conditions.push_back(fmt::format("T.target_type = {}", b_.Text(v.target_type)));
        a.cost = 2;
        a.point = false;
        continue;
      }
      std::string cond = fmt::format("T.target_id = {}", b_.Text(v.target_id));
      if (!v.target_type.empty())
        cond += fmt::format(" AND T.target_type = {}", b_.Text(v.target_type));
      a.conditions.push_back(std::move(cond));
    }
    return a;
  }

  Alternatives UriAlternatives(const SearchFilter& f) {
    Alternatives a{"ix_uri", {}, 0, true, false};
    for (const SearchValue& v : f.any_of) {
      switch (f.modifier) {
        case Modifier::kBelow:
          a.conditions.push_back(fmt::format("T.value >= {} AND T.value < {}", b_.Text(v.text),
                                             b_.Text(PrefixEnd(v.text))));
          a.cost = std::max(a.cost, 1);
          a.point = false;
          break;
        case Modifier::kAbove:
          a.conditions.push_back(
              fmt::format("substr({0}, 1, length(T.value)) = T.value", b_.Text(v.text)));
          a.cost = 2;
          a.point = false;
          break;
        case Modifier::kContains:
          a.conditions.push_back(fmt::format("instr(T.value, {}) > 0", b_.Text(v.text)));
          a.cost = 2;
          a.point = false;
          break;
        default:
          a.conditions.push_back(fmt::format("T.value = {}", b_.Text(v.text)));
      }
    }
    return a;
  }

  Alternatives QuantityAlternatives(const SearchFilter& f) {
    Alternatives a{"ix_quantity", {}, 2, true, true};
    for (const SearchValue& v : f.any_of) {
      std::string cond;
      if (v.canonical_number) {
        // The unit converts: compare in canonical units with every value of the same
        // dimension, whatever unit it was recorded in.
        cond = fmt::format("T.canonical_code = {} AND ", b_.Text(v.canonical_code)) +
               NumberCondition(v.comparator, "T.canonical_value", *v.canonical_number,
                               v.canonical_low.value_or(*v.canonical_number),
                               v.canonical_high.value_or(*v.canonical_number), b_);
        if (v.system && v.system->empty()) {
          // `n||code` keeps its literal meaning too: the code or the human unit is `code`.
          std::string code = b_.Text(v.code);
          cond = fmt::format("({}) OR (({}) AND (T.code = {} OR T.unit = {}))", cond,
                             NumberCondition(v.comparator, "T.value", v.number, v.low, v.high, b_),
                             code, code);
        }
      } else {
        cond = NumberCondition(v.comparator, "T.value", v.number, v.low, v.high, b_);
        if (v.system && !v.system->empty()) {
          cond += fmt::format(" AND T.system = {} AND T.code = {}", b_.Text(*v.system),
                              b_.Text(v.code));
        } else if (!v.code.empty()) {
          std::string code = b_.Text(v.code);
          cond += fmt::format(" AND (T.code = {0} OR T.unit = {0})", code);
        }
      }
      a.conditions.push_back(std::move(cond));
    }
    return a;
  }

  // A composite (search.html#composite): some item of the resource has, in the same item,
  // component values matching each part of one of the OR-ed values. The components' rows
  // share the item's key (search_index.h, kCompositeGroups); they are joined on it, led by
  // the first component, whose table is keyed by value.
  core::Result<Compiled> CompileComposite(const SearchFilter& f, std::string_view type,
                                          const std::string& alias) {
    std::vector<std::string> pids;
    for (size_t i = 0; i < f.component_types.size(); ++i) {
      ASSIGN_OR_RETURN(int64_t pid, Pid(type, f.param, fmt::format("${}", i)));
      pids.push_back(b_.Int(pid));
    }
    Compiled c;
    c.cost = 0;
    std::string set, test;
    const std::string groups = b_.Int(kCompositeGroups);
    for (const SearchValue& v : f.any_of) {
      if (v.components.size() != pids.size() || pids.empty()) {
        return core::Fail(core::Internal("composite value without its components"));
      }
      std::string from, where;
      std::string first;
      bool matchable = true;
      for (size_t i = 0; i < pids.size(); ++i) {
        SearchFilter component;
        component.type = f.component_types[i];
        component.any_of.push_back(v.components[i]);
        Alternatives a = ValueAlternatives(component);
        if (a.conditions.size() != 1) {
          matchable = false;
          break;
        }
        std::string t = NewAlias();
        if (i == 0) {
          first = t;
          from = fmt::format("{} {}", a.table, t);
          where = fmt::format("{}.pid = {}", t, pids[i]);
          c.cost = std::max(c.cost, a.point && !a.range ? a.cost : 2);
        } else {
          from += fmt::format(" JOIN {1} {0} ON {0}.pid = {2} AND {0}.rk = {3}.rk", t, a.table,
                              pids[i], first);
        }
        where += " AND (" + RenameTable(a.conditions.front(), t) + ")";
      }
      if (!matchable) continue;
      set += fmt::format("{}SELECT {}.rk / {} FROM {} WHERE {}", set.empty() ? "" : " UNION ",
                         first, groups, from, where);
      // The resource's items: keys in (rk * groups, (rk + 1) * groups).
      test += fmt::format(
          "{0}EXISTS (SELECT 1 FROM {1} WHERE {2} AND {3}.rk > {4}.rk * {5} AND {3}.rk < ({4}.rk + "
          "1) * {5})",
          test.empty() ? "" : " OR ", from, where, first, alias, groups);
    }
    if (set.empty()) {
      c.test = "0";
      c.set = "SELECT NULL WHERE 0";
      c.cost = 0;
      return c;
    }
    c.set = set;
    c.test = test;
    return c;
  }

  core::Result<Compiled> CompileId(const SearchFilter& f, std::string_view type,
                                   const std::string& alias) {
    Compiled c;
    c.cost = 0;
    std::string list;
    for (const SearchValue& v : f.any_of) list += (list.empty() ? "" : ", ") + b_.Text(v.text);
    if (list.empty()) {
      c.test = "0";
      return c;
    }
    c.test = fmt::format("{}.id IN ({})", alias, list);
    std::string t = NewAlias();
    c.set = fmt::format("SELECT {0}.rk FROM current {0} WHERE {0}.type = {1} AND {0}.id IN ({2})",
                        t, b_.Text(type), list);
    return c;
  }

  Compiled CompileLastUpdated(const SearchFilter& f, const std::string& alias) {
    Compiled c;
    std::string lu = alias + ".last_updated";
    for (const SearchValue& v : f.any_of) {
      // lastUpdated is an instant: the range [lu, lu + 1 ms).
      std::string cond = DateCondition(v, lu, "(" + lu + " + 1000)", b_);
      c.test += (c.test.empty() ? "(" : " OR (") + cond + ")";
    }
    if (c.test.empty()) c.test = "0";
    return c;
  }

  core::Result<Compiled> CompileChain(const SearchFilter& f, std::string_view type,
                                      const std::string& alias, int depth) {
    ASSIGN_OR_RETURN(int64_t pid, Pid(type, f.param));
    std::string pid_sql = b_.Int(pid);
    Compiled c;
    c.cost = 1;
    std::string set;
    for (const LinkedFilters& link : f.links) {
      std::string target = NewAlias();
      ASSIGN_OR_RETURN(std::string where, Where(link.type, link.filters, target, depth + 1));
      std::string r = NewAlias();
      if (!set.empty()) set += " UNION ";
      set += fmt::format(
          "SELECT {0}.rk FROM current {1} JOIN ix_reference {0} ON {0}.pid = {2} AND "
          "{0}.target_id = {1}.id AND {0}.target_type = {1}.type WHERE {3}",
          r, target, pid_sql, where);
    }
    if (set.empty()) {
      c.test = "0";
      c.set = "SELECT NULL WHERE 0";
      return c;
    }
    c.set = set;
    c.test = fmt::format("{}.rk IN ({})", alias, set);
    return c;
  }

  core::Result<Compiled> CompileReverseChain(const SearchFilter& f, std::string_view type,
                                             const std::string& alias, int depth) {
    if (f.links.size() != 1) return core::Fail(core::Internal("_has needs one source type"));
    const LinkedFilters& source = f.links.front();
    ASSIGN_OR_RETURN(int64_t pid, Pid(source.type, f.param));
    std::string s = NewAlias();
    ASSIGN_OR_RETURN(std::string where, Where(source.type, source.filters, s, depth + 1));
    std::string r = NewAlias(), t = NewAlias();
    Compiled c;
    c.cost = 1;
    c.set = fmt::format(
        "SELECT {0}.rk FROM current {0} WHERE {0}.type = {1} AND {0}.id IN (SELECT {2}.target_id "
        "FROM ix_reference {2} WHERE {2}.pid = {3} AND {2}.target_type = {1} AND {2}.rk IN "
        "(SELECT {4}.rk FROM current {4} WHERE {5}))",
        t, b_.Text(type), r, b_.Int(pid), s, where);
    c.test = fmt::format("{}.rk IN ({})", alias, *c.set);
    return c;
  }

  const SearchContext& ctx_;
  Binder& b_;
  int next_alias_ = 0;
};

// A sort key value as it comes out of SQLite (the paging cursor repeats it).
using KeyValue = std::variant<std::monostate, int64_t, double, std::string>;

KeyValue ColumnValue(sqlite3_stmt* stmt, int col) {
  switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER:
      return sqlite3_column_int64(stmt, col);
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, col);
    case SQLITE_NULL:
      return std::monostate{};
    default: {
      const void* p = sqlite3_column_blob(stmt, col);
      int n = sqlite3_column_bytes(stmt, col);
      return std::string(p ? static_cast<const char*>(p) : "", static_cast<size_t>(n));
    }
  }
}

// Cursor text: "n" (next: rows after) or "p" (prev: rows before), then one ".value" per sort
// key and ".i<rk>". Values: "z" null, "i<int>", "d<hex of the double's bits>", "s<hex>".
// Only characters that need no escaping in a URL.
struct Cursor {
  bool backward = false;
  std::vector<KeyValue> keys;
  int64_t rk = 0;
};

std::string Hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string EncodeValue(const KeyValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return fmt::format("i{}", *i);
  if (const auto* d = std::get_if<double>(&v))
    return fmt::format("d{:x}", std::bit_cast<uint64_t>(*d));
  if (const auto* s = std::get_if<std::string>(&v)) return "s" + Hex(*s);
  return "z";
}

std::string EncodeCursor(const Cursor& c) {
  std::string out = c.backward ? "p" : "n";
  for (const KeyValue& k : c.keys) out += "." + EncodeValue(k);
  out += fmt::format(".i{}", c.rk);
  return out;
}

std::optional<KeyValue> DecodeValue(std::string_view t) {
  if (t == "z") return KeyValue{};
  if (t.size() < 2) return std::nullopt;
  std::string_view body = t.substr(1);
  auto number = [&](int base) -> std::optional<uint64_t> {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v, base);
    if (ec != std::errc() || end != body.data() + body.size()) return std::nullopt;
    return v;
  };
  switch (t[0]) {
    case 'i': {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
      if (ec != std::errc() || end != body.data() + body.size()) return std::nullopt;
      return KeyValue{v};
    }
    case 'd': {
      auto bits = number(16);
      if (!bits) return std::nullopt;
      return KeyValue{std::bit_cast<double>(*bits)};
    }
    case 's': {
      if (body.size() % 2) return std::nullopt;
      std::string out;
      for (size_t i = 0; i < body.size(); i += 2) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(body.data() + i, body.data() + i + 2, v, 16);
        if (ec != std::errc() || end != body.data() + i + 2) return std::nullopt;
        out += static_cast<char>(v);
      }
      return KeyValue{std::move(out)};
    }
    default:
      return std::nullopt;
  }
}

core::Result<Cursor> DecodeCursor(std::string_view text, size_t sort_keys) {
  auto bad = [] {
    return core::Fail(
        core::InvalidArgument("the paging cursor is malformed or belongs to "
                              "another search; start again from the first page"));
  };
  if (text.empty() || (text[0] != 'n' && text[0] != 'p')) return bad();
  Cursor c;
  c.backward = text[0] == 'p';
  std::vector<KeyValue> parts;
  size_t pos = 1;
  while (pos < text.size()) {
    if (text[pos] != '.') return bad();
    size_t next = text.find('.', pos + 1);
    if (next == std::string_view::npos) next = text.size();
    auto v = DecodeValue(text.substr(pos + 1, next - pos - 1));
    if (!v) return bad();
    parts.push_back(std::move(*v));
    pos = next;
  }
  if (parts.size() != sort_keys + 1) return bad();
  const auto* rk = std::get_if<int64_t>(&parts.back());
  if (!rk) return bad();
  c.rk = *rk;
  parts.pop_back();
  c.keys = std::move(parts);
  return c;
}

std::string BindKey(Binder& b, const KeyValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return b.Int(*i);
  if (const auto* d = std::get_if<double>(&v)) return b.Real(*d);
  if (const auto* s = std::get_if<std::string>(&v)) return b.Text(*s);
  return "NULL";
}

struct SortSql {
  std::string expr;
  bool descending;
};

// One term of the page order: `expr` ascending or descending. Null sort keys come last.
// `after` is true for the rows after the cursor in that order.
std::string AfterCursor(const std::vector<SortSql>& keys, const Cursor& cursor,
                        const std::string& alias, Binder& b) {
  // The order is (k1 IS NULL, k1 dir1, k2 IS NULL, k2 dir2, ..., rk), reversed for a backward
  // cursor. Rows after the cursor: for some i, equal on every earlier term and after on i.
  struct Term {
    std::string expr;
    bool descending;
    std::string value;  // bound value, or "NULL"
  };
  std::vector<Term> terms;
  for (size_t i = 0; i < keys.size(); ++i) {
    bool is_null = std::holds_alternative<std::monostate>(cursor.keys[i]);
    terms.push_back({"(" + keys[i].expr + " IS NULL)", false, is_null ? "1" : "0"});
    if (!is_null) terms.push_back({keys[i].expr, keys[i].descending, BindKey(b, cursor.keys[i])});
  }
  terms.push_back({alias + ".rk", false, b.Int(cursor.rk)});
  std::string out;
  std::string equal_so_far;
  for (const Term& t : terms) {
    bool desc = t.descending != cursor.backward;
    std::string after = fmt::format("{} {} {}", t.expr, desc ? "<" : ">", t.value);
    out += (out.empty() ? "(" : " OR (") + equal_so_far + after + ")";
    equal_so_far += fmt::format("{} = {} AND ", t.expr, t.value);
  }
  return "(" + out + ")";
}

core::Result<std::string> SortExpression(const SearchContext& ctx, const SortKey& key,
                                         std::string_view type, const std::string& alias,
                                         Binder& b) {
  if (key.param == "_id") return alias + ".id";
  if (key.param == "_lastUpdated") return alias + ".last_updated";
  auto pid = ctx.ids.Find(type, key.param);
  if (!pid) {
    return core::Fail(
        core::InvalidArgument(fmt::format("cannot sort {} by '{}'", std::string(type), key.param)));
  }
  return fmt::format("(SELECT sp.sort_key FROM ix_present sp WHERE sp.pid = {} AND sp.rk = {}.rk)",
                     b.Int(*pid), alias);
}

struct Row {
  int64_t rk;
  VersionRecord record;
  std::vector<KeyValue> keys;
};

core::Status LoadBodies(Db& db, std::vector<Row>& rows, size_t max_bytes, size_t* kept) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare("SELECT body FROM versions WHERE seq = ?"));
  size_t bytes = 0;
  *kept = rows.size();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (bytes > max_bytes) {
      *kept = i;
      break;
    }
    Stmt stmt(raw);
    stmt.Bind(1, rows[i].record.seq);
    if (stmt.Step() != SQLITE_ROW) return db.Error("search: read body");
    rows[i].record.body = stmt.Text(0);
    bytes += rows[i].record.body.size();
  }
  return core::OkStatus();
}

VersionRecord RecordFromRow(sqlite3_stmt* s, int first, std::string type) {
  VersionRecord r;
  r.type = std::move(type);
  r.id = reinterpret_cast<const char*>(sqlite3_column_text(s, first));
  r.version = sqlite3_column_int64(s, first + 1);
  r.seq = sqlite3_column_int64(s, first + 2);
  r.last_updated = sqlite3_column_int64(s, first + 3);
  r.operation = r.version == 1 ? Operation::kCreate : Operation::kUpdate;
  return r;
}

// _include and _revinclude: the resources (by rk) that the `from` resources reference, or
// that reference them, through the includes' parameters.
class Includer {
 public:
  Includer(const SearchContext& ctx, const SearchQuery& q, SearchPage& page)
      : ctx_(ctx), q_(q), page_(page) {}

  core::Status Run(const std::vector<Row>& matches) {
    for (const Row& r : matches) seen_.insert(r.rk);
    std::vector<std::pair<int64_t, std::string>> frontier;  // rk, type
    for (const Row& r : matches) frontier.emplace_back(r.rk, r.record.type);
    bool first = true;
    for (int round = 0; round < 4 && !frontier.empty(); ++round) {
      std::vector<std::pair<int64_t, std::string>> found;
      for (const Include& inc : q_.includes) {
        if (!first && !inc.iterate) continue;
        RETURN_IF_ERROR(Apply(inc, frontier, found));
        if (page_.included_truncated) return core::OkStatus();
      }
      first = false;
      frontier = std::move(found);
    }
    return core::OkStatus();
  }

 private:
  core::Status Apply(const Include& inc, const std::vector<std::pair<int64_t, std::string>>& from,
                     std::vector<std::pair<int64_t, std::string>>& found) {
    Db& db = ctx_.db;
    std::vector<std::string> params;
    if (inc.param == "*") {
      for (const fhir::SearchParameter& p : ctx_.registry.ForType(inc.source_type))
        if (p.type == SearchParamType::kReference) params.push_back(p.name);
    } else {
      params.push_back(inc.param);
    }
    for (const std::string& param : params) {
      auto pid = ctx_.ids.Find(inc.source_type, param);
      if (!pid) continue;
      std::string sql;
      if (!inc.reverse) {
        // The targets of the references held by each `from` resource of the source type.
        sql =
            "SELECT c.rk, c.type, c.id, c.version, c.seq, c.last_updated FROM ix_reference r "
            "JOIN current c ON c.type = r.target_type AND c.id = r.target_id AND c.deleted = 0 "
            "WHERE r.pid = ?1 AND r.rk = ?2";
        if (!inc.target_type.empty()) sql += " AND r.target_type = ?3";
      } else {
        // The resources of the source type whose references point at each `from` resource.
        sql =
            "SELECT c.rk, c.type, c.id, c.version, c.seq, c.last_updated FROM current f "
            "JOIN ix_reference r ON r.pid = ?1 AND r.target_id = f.id AND r.target_type = f.type "
            "JOIN current c ON c.rk = r.rk AND c.deleted = 0 WHERE f.rk = ?2";
        if (!inc.target_type.empty()) sql += " AND f.type = ?3";
      }
      ASSIGN_OR_RETURN(sqlite3_stmt * raw, db.Prepare(sql));
      for (const auto& [rk, type] : from) {
        if (!inc.reverse && type != inc.source_type) continue;
        Stmt stmt(raw);
        stmt.Bind(1, *pid);
        stmt.Bind(2, rk);
        if (!inc.target_type.empty()) stmt.Bind(3, std::string_view(inc.target_type));
        int rc;
        while ((rc = stmt.Step()) == SQLITE_ROW) {
          int64_t found_rk = stmt.Int(0);
          if (!seen_.insert(found_rk).second) continue;
          if (page_.included.size() + rows_.size() >= q_.max_included) {
            page_.included_truncated = true;
            break;  // keep what was found so far
          }
          VersionRecord rec = RecordFromRow(stmt.get(), 2, stmt.Text(1));
          found.emplace_back(found_rk, rec.type);
          rows_.push_back(Row{found_rk, std::move(rec), {}});
        }
        if (rc != SQLITE_DONE && !page_.included_truncated) return db.Error("search: include");
        if (page_.included_truncated) break;
      }
      if (page_.included_truncated) break;
    }
    // Bodies for what this include found.
    size_t kept = 0;
    RETURN_IF_ERROR(LoadBodies(db, rows_, ctx_.max_page_bytes, &kept));
    for (size_t i = 0; i < rows_.size(); ++i) {
      if (i >= kept) {
        page_.included_truncated = true;
        break;
      }
      page_.included.push_back(std::move(rows_[i].record));
    }
    rows_.clear();
    return core::OkStatus();
  }

  const SearchContext& ctx_;
  const SearchQuery& q_;
  SearchPage& page_;
  std::set<int64_t> seen_;
  std::vector<Row> rows_;
};

// Interrupts the connection's statements once the search's time is up, for as long as it
// lives (sqlite3_progress_handler: the callback runs every kProgressSteps VM steps, about
// 0.1 ms, and a non-zero return interrupts the statement with SQLITE_INTERRUPT).
class SearchDeadline {
 public:
  explicit SearchDeadline(const SearchContext& ctx)
      : db_(ctx.db.handle()),
        limit_(ctx.time_limit),
        deadline_(std::chrono::steady_clock::now() + ctx.time_limit) {
    sqlite3_progress_handler(db_, kProgressSteps, &SearchDeadline::Check, this);
  }
  ~SearchDeadline() { sqlite3_progress_handler(db_, 0, nullptr, nullptr); }
  SearchDeadline(const SearchDeadline&) = delete;
  SearchDeadline& operator=(const SearchDeadline&) = delete;

  // The result, or the time limit's error when the deadline interrupted it.
  template <typename T>
  core::Result<T> Checked(core::Result<T> r) const {
    if (!expired_) return r;
    return core::Fail(core::TooCostly(fmt::format(
        "the search was stopped after {} s; add more selective parameters (a patient, a code, "
        "a date range) or drop _total=accurate and _sort",
        std::chrono::duration<double>(limit_).count())));
  }

 private:
  static constexpr int kProgressSteps = 10000;
  static int Check(void* self) {
    auto* d = static_cast<SearchDeadline*>(self);
    if (std::chrono::steady_clock::now() > d->deadline_) d->expired_ = true;
    return d->expired_ ? 1 : 0;
  }
  sqlite3* db_;
  std::chrono::milliseconds limit_;
  std::chrono::steady_clock::time_point deadline_;
  bool expired_ = false;
};

core::Result<SearchPage> RunSearch(const SearchContext& ctx, const SearchQuery& q) {
  SearchPage page;
  Binder b;
  Compiler compiler(ctx, b);
  const std::string alias = "m";
  ASSIGN_OR_RETURN(std::string where, compiler.Where(q.type, q.filters, alias, 0));

  std::vector<SortSql> sort;
  for (const SortKey& key : q.sort) {
    ASSIGN_OR_RETURN(std::string expr, SortExpression(ctx, key, q.type, alias, b));
    sort.push_back({std::move(expr), key.descending});
  }
  std::optional<Cursor> cursor;
  if (!q.cursor.empty()) {
    ASSIGN_OR_RETURN(cursor, DecodeCursor(q.cursor, sort.size()));
  }
  bool backward = cursor && cursor->backward;

  if (q.count > 0) {
    std::string sql =
        fmt::format("SELECT {0}.rk, {0}.id, {0}.version, {0}.seq, {0}.last_updated", alias);
    for (const SortSql& k : sort) sql += ", " + k.expr;
    sql += fmt::format(" FROM current {} WHERE {}", alias, where);
    if (cursor) sql += " AND " + AfterCursor(sort, *cursor, alias, b);
    sql += " ORDER BY ";
    for (const SortSql& k : sort) {
      bool desc = k.descending != backward;
      sql += fmt::format("({} IS NULL){}, {}{}, ", k.expr, backward ? " DESC" : "", k.expr,
                         desc ? " DESC" : "");
    }
    sql += fmt::format("{}.rk{} LIMIT {}", alias, backward ? " DESC" : "",
                       b.Int(static_cast<int64_t>(q.count) + 1));
    ASSIGN_OR_RETURN(OwnedStmt stmt, PrepareBound(ctx.db, sql, b));
    std::vector<Row> rows;
    int rc;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      Row row;
      row.rk = sqlite3_column_int64(stmt.get(), 0);
      row.record = RecordFromRow(stmt.get(), 1, q.type);
      for (size_t i = 0; i < sort.size(); ++i)
        row.keys.push_back(ColumnValue(stmt.get(), static_cast<int>(5 + i)));
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return core::Fail(ctx.db.Error("search"));
    bool more = rows.size() > q.count;
    if (more) rows.pop_back();
    if (backward) std::reverse(rows.begin(), rows.end());
    size_t kept = 0;
    RETURN_IF_ERROR(LoadBodies(ctx.db, rows, ctx.max_page_bytes, &kept));
    if (kept < rows.size()) {
      rows.resize(kept);
      if (!backward) more = true;
    }
    auto cursor_at = [&](const Row& r, bool back) {
      return EncodeCursor(Cursor{back, r.keys, r.rk});
    };
    if (!rows.empty()) {
      if (backward ? true : more) page.next_cursor = cursor_at(rows.back(), false);
      if (backward ? more : cursor.has_value()) page.prev_cursor = cursor_at(rows.front(), true);
    }
    if (!q.includes.empty()) {
      Includer includer(ctx, q, page);
      RETURN_IF_ERROR(includer.Run(rows));
    }
    for (Row& r : rows) page.resources.push_back(std::move(r.record));
    if (!cursor && !more) page.total = static_cast<int64_t>(page.resources.size());
  }
  if (q.count == 0 || (q.want_total && !page.total)) {
    std::string sql = fmt::format("SELECT count(*) FROM current {} WHERE {}", alias, where);
    ASSIGN_OR_RETURN(OwnedStmt stmt, PrepareBound(ctx.db, sql, b));
    if (sqlite3_step(stmt.get()) != SQLITE_ROW) return core::Fail(ctx.db.Error("search count"));
    page.total = sqlite3_column_int64(stmt.get(), 0);
  }
  return page;
}

core::Result<std::vector<VersionRecord>> RunFindMatches(const SearchContext& ctx,
                                                        const SearchQuery& q, size_t limit) {
  Binder b;
  Compiler compiler(ctx, b);
  ASSIGN_OR_RETURN(std::string where, compiler.Where(q.type, q.filters, "m", 0));
  std::string sql = fmt::format(
      "SELECT m.rk, m.id, m.version, m.seq, m.last_updated FROM current m WHERE {} ORDER BY m.rk "
      "LIMIT {}",
      where, b.Int(static_cast<int64_t>(limit)));
  ASSIGN_OR_RETURN(OwnedStmt stmt, PrepareBound(ctx.db, sql, b));
  std::vector<Row> rows;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    rows.push_back(
        Row{sqlite3_column_int64(stmt.get(), 0), RecordFromRow(stmt.get(), 1, q.type), {}});
  }
  if (rc != SQLITE_DONE) return core::Fail(ctx.db.Error("search"));
  size_t kept = 0;
  RETURN_IF_ERROR(LoadBodies(ctx.db, rows, SIZE_MAX, &kept));
  std::vector<VersionRecord> out;
  for (Row& r : rows) out.push_back(std::move(r.record));
  return out;
}

}  // namespace

core::Result<SearchPage> ExecuteSearch(const SearchContext& ctx, const SearchQuery& q) {
  SearchDeadline deadline(ctx);
  return deadline.Checked(RunSearch(ctx, q));
}

core::Result<std::vector<VersionRecord>> FindMatches(const SearchContext& ctx, const SearchQuery& q,
                                                     size_t limit) {
  SearchDeadline deadline(ctx);
  return deadline.Checked(RunFindMatches(ctx, q, limit));
}

}  // namespace medulla::store::sqlite
