// medulla routes: the API's route table (api/routes.h), one route per line: method, path
// pattern, guard, audited interaction and, for type-scoped routes, the scope letter needed.
// For operators reviewing what a server exposes, and for the route-enumeration test.
#include <cstdio>

#include "api/routes.h"
#include "cli/commands.h"

namespace medulla::cli {

int RunRoutes() {
  for (const api::RouteInfo& r : api::Routes()) {
    const char* scope = "";
    if (r.guard == api::Guard::kTypeScope) {
      scope = r.scope == security::kCreate   ? "c"
              : r.scope == security::kRead   ? "r"
              : r.scope == security::kUpdate ? "u"
              : r.scope == security::kDelete ? "d"
                                             : "s";
    }
    std::printf("%.*s\t%.*s\t%.*s\t%.*s\t%s\n", static_cast<int>(r.method.size()),
                r.method.data(), static_cast<int>(r.pattern.size()), r.pattern.data(),
                static_cast<int>(api::GuardName(r.guard).size()), api::GuardName(r.guard).data(),
                static_cast<int>(r.interaction.size()), r.interaction.data(), scope);
  }
  return 0;
}

}  // namespace medulla::cli
