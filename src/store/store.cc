#include "store/store.h"

#include <future>

namespace medulla::store {

std::vector<WriteResult> CommitAndWait(Store& store, Unit unit) {
  std::promise<std::vector<WriteResult>> done;
  auto result = done.get_future();
  store.Submit(std::move(unit),
               [&done](std::vector<WriteResult> results) { done.set_value(std::move(results)); });
  return result.get();
}

}  // namespace medulla::store
