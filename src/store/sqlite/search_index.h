// The search index of the SQLite store: one WITHOUT ROWID table per kind of value, each row
// keyed by a parameter id (pid), the value and the resource's row key (rk, current.rk).
//
// Tables whose values are searched for by equality or prefix (string, token, reference, uri)
// lead with the value, so a search finds its resources with one range scan, and a candidate
// resource is tested with one point lookup. Range-searched values (date, number, quantity)
// lead with rk instead: they are tested per candidate, and their inserts append. ix_present
// holds one row per (pid, rk) that has any value, with the sort key (the smallest value): it
// answers :missing and _sort without touching the value tables.
//
// Rows are written by the store's commit thread behind the commits, in large batches
// (sqlite_store.cc, the index tail; bench/index_write_bench.cc measured the alternatives).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"
#include "fhir/search_parameters.h"
#include "store/sqlite/sqlite_db.h"

namespace medulla::store::sqlite {

extern const char kSearchIndexSchema[];

// Parameter ids: "Observation.code" -> pid, plus derived keys "Observation.code:text" (the
// display text of tokens, searched like strings) and "Observation.subject:identifier"
// (Reference.identifier, searched like tokens). Assigned for the whole registry when the store
// opens, so the map is immutable while the store runs and every thread may read it.
class ParamIds {
 public:
  // Loads the ids already in `db` and assigns ids to the registry's keys that have none.
  static core::Result<ParamIds> Load(Db& db, const fhir::SearchParameterRegistry& registry);
  std::optional<int64_t> Find(std::string_view type, std::string_view param,
                              std::string_view suffix = {}) const;

 private:
  std::map<std::string, int64_t, std::less<>> ids_;
};

// Composite parameters (Observation `code-value-quantity`) index each component in its own
// type's table, under the key "Type.param$<component>", and pair the components of one item
// (one Observation.component, say) through the row key: rk * kCompositeGroups + group, group
// in [1, kCompositeGroups). A search joins the components' rows on that key, and gets the
// resource back as key / kCompositeGroups. Items past the last group are not indexed.
inline constexpr int64_t kCompositeGroups = 1 << 16;

// The row key of a value: the resource's rk for plain values, the composite key for the
// components of a composite item (group > 0).
inline int64_t IndexRowKey(int64_t rk, uint32_t group) {
  return group == 0 ? rk : rk * kCompositeGroups + group;
}

// The index rows of one resource version, sorted and without duplicates. `group`: 0 for plain
// values, the composite item for composite components (see kCompositeGroups).
struct IndexRows {
  struct String {
    int64_t pid;
    std::string value;  // normalised
    std::string exact;  // as written
    uint32_t group = 0;
    auto operator<=>(const String&) const = default;
  };
  struct Token {
    int64_t pid;
    std::string code;
    std::string system;
    uint32_t group = 0;
    auto operator<=>(const Token&) const = default;
  };
  struct Reference {
    int64_t pid;
    std::string target_id;    // the id, or the whole reference when it is not Type/id
    std::string target_type;  // "" when the reference is not Type/id
    uint32_t group = 0;
    auto operator<=>(const Reference&) const = default;
  };
  struct Uri {
    int64_t pid;
    std::string value;
    uint32_t group = 0;
    auto operator<=>(const Uri&) const = default;
  };
  struct Date {
    int64_t pid;
    int64_t begin;
    int64_t end;
    uint32_t group = 0;
    auto operator<=>(const Date&) const = default;
  };
  struct Number {
    int64_t pid;
    double value;
    uint32_t group = 0;
    auto operator<=>(const Number&) const = default;
  };
  struct Quantity {
    int64_t pid;
    double value;
    std::string system;
    std::string code;
    std::string unit;
    std::optional<double> canonical_value;
    std::string canonical_code;
    uint32_t group = 0;
    auto operator<=>(const Quantity&) const = default;
  };
  using SortKey = std::variant<int64_t, double, std::string>;
  struct Present {
    int64_t pid;
    SortKey sort_key;
    auto operator<=>(const Present&) const = default;
  };

  std::vector<String> strings;
  std::vector<Token> tokens;
  std::vector<Reference> references;
  std::vector<Uri> uris;
  std::vector<Date> dates;
  std::vector<Number> numbers;
  std::vector<Quantity> quantities;
  std::vector<Present> present;
};

// Identifies what the index was built from: the parameters' names, types and expressions,
// and the version of the extraction code (kIndexFormat in search_index.cc). A store whose
// index was built from another fingerprint rebuilds it.
std::string SearchIndexFingerprint(const fhir::SearchParameterRegistry& registry);

// The rows for a resource's extracted values (fhir::ExtractIndexValues).
IndexRows BuildIndexRows(std::string_view type, std::span<const fhir::IndexValue> values,
                         const ParamIds& ids);

// Brings the index rows of resource `rk` from `before` to `after` (deletes what is gone,
// inserts what is new). On the writer connection, inside the write transaction.
core::Status WriteIndexDiff(Db& db, int64_t rk, const IndexRows& before, const IndexRows& after);

}  // namespace medulla::store::sqlite
