// Runs a store::SearchQuery over the SQLite search index (search_index.h): picks the most
// selective filter to drive the query, tests the others per candidate, sorts, pages with a
// keyset cursor and adds _include / _revinclude resources.
#pragma once

#include <chrono>
#include <cstddef>

#include "core/status.h"
#include "fhir/search_parameters.h"
#include "store/search_query.h"
#include "store/sqlite/search_index.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace medulla::store::sqlite {

struct SearchContext {
  Db& db;
  const ParamIds& ids;
  const fhir::SearchParameterRegistry& registry;
  size_t max_page_bytes = 32 * 1024 * 1024;
  // Work on `db` stops when this passes (SQLite's progress handler), and the search fails
  // kTooCostly: no search holds a connection, or the writer, for longer.
  std::chrono::milliseconds time_limit{10000};
};

core::Result<SearchPage> ExecuteSearch(const SearchContext& ctx, const SearchQuery& query);

// The current resources matching `query`'s filters, with their bodies (no paging, no
// includes; at most `limit`, in rk order). For conditional writes on the writer connection.
core::Result<std::vector<VersionRecord>> FindMatches(const SearchContext& ctx,
                                                     const SearchQuery& query, size_t limit);

}  // namespace medulla::store::sqlite
