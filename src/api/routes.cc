#include "api/routes.h"

#include <vector>

namespace medulla::api {
namespace {

using security::kCreate;
using security::kDelete;
using security::kRead;
using security::kSearch;
using security::kUpdate;

// In matching order: literal routes before the {type} patterns they would also match.
constexpr RouteInfo kRoutes[] = {
    {RouteId::kHealth, "GET", "/healthz", "read", Guard::kProbe, kRead, false},
    {RouteId::kReady, "GET", "/readyz", "read", Guard::kProbe, kRead, false},
    {RouteId::kToken, "POST", "/auth/token", "login", Guard::kClientAssertion, kRead, false},
    {RouteId::kSmartConfiguration, "GET", "/.well-known/smart-configuration", "read",
     Guard::kSelfDescription, kRead, false},
    {RouteId::kMetadata, "GET", "/metadata", "capabilities", Guard::kSelfDescription},
    {RouteId::kMetrics, "GET", "/metrics", "read", Guard::kAdministrator, kRead, false},
    {RouteId::kBatch, "POST", "/", "batch", Guard::kAuthenticated},
    {RouteId::kSystemHistory, "GET", "/_history", "history-system", Guard::kAdministrator},
    {RouteId::kExportSystem, "GET", "/$export", "operation", Guard::kAdministrator},
    {RouteId::kExportSystem, "POST", "/$export", "operation", Guard::kAdministrator},
    {RouteId::kExportStatus, "GET", "/$export-status/{job}", "operation", Guard::kAdministrator},
    {RouteId::kExportCancel, "DELETE", "/$export-status/{job}", "operation", Guard::kAdministrator},
    {RouteId::kExportFile, "GET", "/$export-file/{job}/{file}", "operation", Guard::kAdministrator},
    {RouteId::kExportPatient, "GET", "/Patient/$export", "operation", Guard::kAdministrator},
    {RouteId::kExportPatient, "POST", "/Patient/$export", "operation", Guard::kAdministrator},
    {RouteId::kExportGroup, "GET", "/Group/{id}/$export", "operation", Guard::kAdministrator},
    {RouteId::kExportGroup, "POST", "/Group/{id}/$export", "operation", Guard::kAdministrator},
    {RouteId::kAuditSearch, "GET", "/AuditEvent", "search-type", Guard::kAuditLog},
    {RouteId::kAuditRead, "GET", "/AuditEvent/{id}", "read", Guard::kAuditLog},
    {RouteId::kAuditWrite, "POST", "/AuditEvent", "create", Guard::kRefused},
    {RouteId::kAuditWrite, "PUT", "/AuditEvent/{id}", "update", Guard::kRefused},
    {RouteId::kAuditWrite, "DELETE", "/AuditEvent/{id}", "delete", Guard::kRefused},
    // Device readings (NDJSON); each reading is checked like an Observation create.
    {RouteId::kTelemetry, "POST", "/telemetry", "create", Guard::kAuthenticated, kCreate, false},
    // Ambulance routing (routing/): routes and tables carry no patient data; live traffic
    // changes every route, so only dispatch and operators send it.
    {RouteId::kRoutingRoute, "GET", "/routing/route", "read", Guard::kAuthenticated, kRead, false},
    {RouteId::kRoutingTable, "POST", "/routing/table", "read", Guard::kAuthenticated, kRead, false},
    {RouteId::kRoutingTraffic, "POST", "/routing/traffic", "update", Guard::kDispatcher, kUpdate,
     false},
    // Dispatch (dispatch/): recommendations name ambulances and hospitals and may record a
    // dispatch; position reports move the fleet. Dispatchers and operators only.
    {RouteId::kDispatchRecommend, "POST", "/dispatch/recommend", "operation", Guard::kDispatcher,
     kUpdate, false},
    {RouteId::kDispatchOperation, "POST", "/$dispatch-recommend", "operation", Guard::kDispatcher,
     kUpdate},
    {RouteId::kDispatchPositions, "POST", "/dispatch/positions", "update", Guard::kDispatcher,
     kUpdate, false},
    {RouteId::kDispatchState, "GET", "/dispatch/state", "read", Guard::kDispatcher, kRead, false},
    // FHIR Subscriptions (subscriptions/): a subscription sees whatever its criteria match, so
    // managing them is the administrator's.
    {RouteId::kSubscriptionStatus, "GET", "/Subscription/{id}/$status", "operation",
     Guard::kAdministrator},
    {RouteId::kSubscriptionBindingToken, "GET", "/Subscription/{id}/$get-ws-binding-token",
     "operation", Guard::kAdministrator},
    {RouteId::kSubscriptionBindingToken, "POST", "/Subscription/{id}/$get-ws-binding-token",
     "operation", Guard::kAdministrator},
    {RouteId::kSearch, "GET", "/{type}", "search-type", Guard::kTypeScope, kSearch},
    {RouteId::kCreate, "POST", "/{type}", "create", Guard::kTypeScope, kCreate},
    {RouteId::kSearchPost, "POST", "/{type}/_search", "search-type", Guard::kTypeScope, kSearch},
    {RouteId::kTypeHistory, "GET", "/{type}/_history", "history-type", Guard::kTypeScope, kRead},
    {RouteId::kRead, "GET", "/{type}/{id}", "read", Guard::kTypeScope, kRead},
    {RouteId::kUpdate, "PUT", "/{type}/{id}", "update", Guard::kTypeScope, kUpdate},
    {RouteId::kDelete, "DELETE", "/{type}/{id}", "delete", Guard::kTypeScope, kDelete},
    {RouteId::kInstanceHistory, "GET", "/{type}/{id}/_history", "history-instance",
     Guard::kTypeScope, kRead},
    {RouteId::kEverything, "GET", "/Patient/{id}/$everything", "operation", Guard::kTypeScope,
     kRead},
    {RouteId::kCompartmentSearch, "GET", "/Patient/{id}/{compartment}", "search-type",
     Guard::kTypeScope, kSearch},
    {RouteId::kVRead, "GET", "/{type}/{id}/_history/{version}", "vread", Guard::kTypeScope, kRead},
};

// Matches `path` against `pattern`, filling captures into `m`.
bool Matches(const std::vector<std::string_view>& want, const std::vector<std::string_view>& segs,
             const std::function<bool(std::string_view)>& is_type, RouteMatch& m) {
  if (want.size() != segs.size()) return false;
  RouteMatch local;
  for (size_t i = 0; i < want.size(); ++i) {
    std::string_view w = want[i];
    std::string_view s = segs[i];
    if (w.starts_with('{')) {
      std::string value(s);
      if (w == "{type}" || w == "{compartment}") {
        // The audit log is not a stored type: only its own routes reach it.
        if (!is_type(s) || s == "AuditEvent") return false;
        (w == "{type}" ? local.type : local.compartment) = std::move(value);
      } else if (w == "{id}") {
        local.id = std::move(value);
      } else if (w == "{version}") {
        local.version = std::move(value);
      } else if (w == "{job}") {
        local.job = std::move(value);
      } else if (w == "{file}") {
        local.file = std::move(value);
      }
      continue;
    }
    // "$op" also arrives as "%24op".
    if (w.starts_with('$') && s.starts_with("%24") && s.substr(3) == w.substr(1)) continue;
    if (s != w) return false;
  }
  // Literal types (Patient, Group, AuditEvent) are the type of their route.
  if (local.type.empty() && !want.empty() && is_type(want[0])) local.type = std::string(want[0]);
  m = std::move(local);
  return true;
}

}  // namespace

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

std::span<const RouteInfo> Routes() {
  return kRoutes;
}

std::string_view GuardName(Guard guard) {
  switch (guard) {
    case Guard::kProbe:
      return "probe";
    case Guard::kClientAssertion:
      return "client-assertion";
    case Guard::kSelfDescription:
      return "self-description";
    case Guard::kAuthenticated:
      return "authenticated";
    case Guard::kAdministrator:
      return "administrator";
    case Guard::kDispatcher:
      return "dispatcher";
    case Guard::kTypeScope:
      return "type-scope";
    case Guard::kAuditLog:
      return "audit-log";
    case Guard::kRefused:
      return "refused";
  }
  return "?";
}

RouteMatch MatchRoute(std::string_view method, std::string_view path,
                      const std::function<bool(std::string_view)>& is_resource_type) {
  std::vector<std::string_view> segs = SplitPath(path);
  std::string_view m = method == "HEAD" ? "GET" : method;
  // The patterns' segments, split once (this runs on every request).
  static const std::vector<std::vector<std::string_view>> patterns = [] {
    std::vector<std::vector<std::string_view>> out;
    for (const RouteInfo& route : kRoutes) out.push_back(SplitPath(route.pattern));
    return out;
  }();
  RouteMatch out;
  bool path_known = false;
  for (size_t i = 0; i < std::size(kRoutes); ++i) {
    const RouteInfo& route = kRoutes[i];
    if (patterns[i].size() != segs.size()) continue;
    RouteMatch candidate;
    if (!Matches(patterns[i], segs, is_resource_type, candidate)) continue;
    if (route.method != m) {
      path_known = true;
      continue;
    }
    candidate.route = &route;
    candidate.status = 200;
    return candidate;
  }
  out.status = path_known ? 405 : 404;
  return out;
}

}  // namespace medulla::api
