// Every HTTP route the API serves, as one table: its method, path pattern, the FHIR interaction
// it is audited as, and the guard that decides before its handler runs. FhirApi::Handle matches
// requests against this table and nothing else, so a route cannot exist without a guard;
// `medulla routes` prints the table and the route-enumeration test checks every entry.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "security/scopes.h"

namespace medulla::api {

enum class RouteId {
  kHealth,
  kReady,
  kToken,
  kSmartConfiguration,
  kMetadata,
  kMetrics,
  kBatch,
  kSystemHistory,
  kExportSystem,
  kExportStatus,
  kExportCancel,
  kExportFile,
  kExportPatient,
  kExportGroup,
  kAuditSearch,
  kAuditRead,
  kAuditWrite,
  kTelemetry,
  kRoutingRoute,
  kRoutingTable,
  kRoutingTraffic,
  kDispatchRecommend,
  kDispatchOperation,
  kDispatchPositions,
  kDispatchState,
  kSubscriptionStatus,
  kSubscriptionBindingToken,
  kSearch,
  kSearchPost,
  kCreate,
  kTypeHistory,
  kRead,
  kUpdate,
  kDelete,
  kInstanceHistory,
  kEverything,
  kCompartmentSearch,
  kVRead,
};

// Who may pass, decided before the handler runs (security/policy.h has the decisions).
enum class Guard {
  kProbe,            // no token, no data, not audited: /healthz, /readyz
  kClientAssertion,  // the token endpoint: the client authenticates with a signed assertion
  kSelfDescription,  // no token needed (how to get one), audited
  kAuthenticated,    // any valid token; each part is then checked (Bundle entries)
  kAdministrator,    // the admin role
  kDispatcher,       // the dispatcher or admin role (live traffic, dispatch)
  kTypeScope,        // the token's scopes grant `scope` on the type (the compartment's target)
  kAuditLog,         // the admin role, or a patient-bound token reading its own entries
  kRefused,          // answered with an error whoever asks (AuditEvent writes: append-only)
};

struct RouteInfo {
  RouteId id;
  std::string_view method;       // GET (which also answers HEAD), POST, PUT or DELETE
  std::string_view pattern;      // "/{type}/{id}/_history/{version}"; {type} and {compartment}
                                 // match resource types only
  std::string_view interaction;  // audited as (FHIR restful-interaction)
  Guard guard;
  security::Interaction scope = security::kRead;  // for kTypeScope
  bool fhir = true;                               // FHIR JSON content negotiation applies
};

std::span<const RouteInfo> Routes();
std::string_view GuardName(Guard guard);

struct RouteMatch {
  const RouteInfo* route = nullptr;  // null: no route (status 404) or not this method (405)
  int status = 0;
  std::string type, id, version, compartment, job, file;
};

// The non-empty segments of a path ("/a//b/" -> a, b).
std::vector<std::string_view> SplitPath(std::string_view path);

// The first route whose pattern and method match. `$` may arrive percent-encoded (%24).
RouteMatch MatchRoute(std::string_view method, std::string_view path,
                      const std::function<bool(std::string_view)>& is_resource_type);

}  // namespace medulla::api
