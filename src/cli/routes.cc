// medulla routes: the API's route table (api/routes.h), one route per line: method, path
// pattern, guard, audited interaction and, for type-scoped routes, the scope letter needed.
// For operators reviewing what a server exposes, and for the route-enumeration test.
#include <string>

#include <fmt/format.h>

#include "api/routes.h"
#include "cli/commands.h"

namespace medulla::cli {

int RunRoutes() {
  for (const api::RouteInfo& r : api::Routes()) {
    // Type-scoped routes name the SMART letter their scope must grant.
    std::string scope;
    if (r.guard == api::Guard::kTypeScope) scope = security::InteractionLetter(r.scope);
    fmt::print("{}\t{}\t{}\t{}\t{}\n", r.method, r.pattern, api::GuardName(r.guard), r.interaction,
               scope);
  }
  return 0;
}

}  // namespace medulla::cli
