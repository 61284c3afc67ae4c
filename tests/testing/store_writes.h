// Store writes for store tests: a Write per operation (the resource's JSON members given
// without braces, as fhir::ResourceParts keeps them) and a one-write commit.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "store/store.h"

namespace medulla::testing {

inline store::Write CreateWrite(std::string type, std::string id,
                                std::string content = R"("active":true)") {
  store::Write w;
  w.operation = store::Operation::kCreate;
  w.type = type;
  w.id = std::move(id);
  w.resource.type = std::move(type);
  w.resource.content = std::move(content);
  return w;
}

// An update; it creates with the given id when the resource is new.
inline store::Write UpdateWrite(std::string type, std::string id, std::string content,
                                std::optional<int64_t> if_match = {}) {
  store::Write w = CreateWrite(std::move(type), std::move(id), std::move(content));
  w.operation = store::Operation::kUpdate;
  w.if_match = if_match;
  return w;
}

inline store::Write DeleteWrite(std::string type, std::string id) {
  store::Write w;
  w.operation = store::Operation::kDelete;
  w.type = std::move(type);
  w.id = std::move(id);
  return w;
}

inline store::WriteResult CommitOne(store::Store& store, store::Write w) {
  store::Unit unit;
  unit.writes.push_back(std::move(w));
  return store::CommitAndWait(store, std::move(unit)).front();
}

}  // namespace medulla::testing
