#include "api/fhir_api.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "api/capability.h"
#include "api/dispatch_api.h"
#include "api/oauth.h"
#include "api/routing_api.h"
#include "core/ids.h"
#include "core/logging.h"
#include "core/time.h"
#include "dispatch/service.h"
#include "fhir/compartments.h"
#include "fhir/operation_outcome.h"
#include "fhir/shaping.h"
#include "json/parse.h"
#include "json/write.h"
#include "rpm/monitor_service.h"
#include "security/audit_event.h"
#include "security/consent.h"
#include "security/policy.h"
#include "subscriptions/subscription_service.h"

namespace medulla::api {
namespace {

constexpr const char* kFhirJson = "application/fhir+json; charset=utf-8";

int HttpStatusFor(core::Code code) {
  switch (code) {
    case core::Code::kOk:
      return 200;
    case core::Code::kInvalidArgument:
      return 400;
    case core::Code::kUnprocessable:
      return 422;
    case core::Code::kNotFound:
      return 404;
    case core::Code::kGone:
      return 410;
    case core::Code::kConflict:
      return 409;
    case core::Code::kPreconditionFailed:
      return 412;
    case core::Code::kTooLarge:
      return 413;
    case core::Code::kUnauthenticated:
      return 401;
    case core::Code::kPermissionDenied:
      return 403;
    case core::Code::kUnavailable:
      return 503;
    case core::Code::kResourceExhausted:
      return 429;
    case core::Code::kTooCostly:
      return 422;
    case core::Code::kUnsupported:
      return 501;
    case core::Code::kInternal:
      return 500;
  }
  return 500;
}

http::Response Outcome(int status, const core::Status& s) {
  http::Response r;
  r.status = status;
  r.content_type = kFhirJson;
  r.body = fhir::OperationOutcomeJson(s);
  return r;
}

http::Response Failure(const core::Status& s) {
  return Outcome(HttpStatusFor(s.code()), s);
}

bool ContainsJson(std::string_view v) {
  return v.find("json") != std::string_view::npos;
}

// Accept / _format: is JSON acceptable?
bool AcceptsJson(std::string_view accept) {
  if (accept.empty()) return true;
  return ContainsJson(accept) || accept.find("*/*") != std::string_view::npos ||
         accept.find("application/*") != std::string_view::npos;
}

std::string ETag(int64_t version) {
  return fmt::format("W/\"{}\"", version);
}

// If-Match: W/"3" or "3".
std::optional<int64_t> ParseETag(std::string_view v) {
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < 1) return std::nullopt;
  return n;
}

void AddVersionHeaders(http::Response& r, const store::VersionRecord& rec) {
  r.headers.emplace_back("ETag", ETag(rec.version));
  r.headers.emplace_back("Last-Modified", core::FormatHttpDate(rec.last_updated));
}

// "201 Created": the status and reason phrase that Bundle entry responses carry.
std::string_view StatusLine(int status) {
  switch (status) {
    case 200:
      return "200 OK";
    case 201:
      return "201 Created";
    case 204:
      return "204 No Content";
    case 400:
      return "400 Bad Request";
    case 401:
      return "401 Unauthorized";
    case 403:
      return "403 Forbidden";
    case 404:
      return "404 Not Found";
    case 409:
      return "409 Conflict";
    case 410:
      return "410 Gone";
    case 412:
      return "412 Precondition Failed";
    case 405:
      return "405 Method Not Allowed";
    case 406:
      return "406 Not Acceptable";
    case 413:
      return "413 Payload Too Large";
    case 422:
      return "422 Unprocessable Entity";
    case 429:
      return "429 Too Many Requests";
    case 501:
      return "501 Not Implemented";
    case 503:
      return "503 Service Unavailable";
    default:
      return "500 Internal Server Error";
  }
}

}  // namespace

// What one request's audit entry says: who, from where, what they asked and reached.
struct FhirApi::Access {
  std::shared_ptr<const security::Principal> principal;  // null: no valid token
  std::string remote;
  std::string method;
  std::string target;
  std::string interaction = "operation";
  std::vector<std::string> patients;   // request threads only, in the order first reached
  std::vector<std::string> resources;  // the first few "Type/id" reached
  // Names a patient in the entry once. The index keeps that linear in the patients a request
  // reaches (a telemetry batch or a Bundle may reach thousands, and a scan per name made the
  // check quadratic).
  void AddPatient(std::string patient) {
    if (patient_index.insert(patient).second) patients.push_back(std::move(patient));
  }
  std::unordered_set<std::string> patient_index;
  // Set when a REST write's unit carried the request's audit entry (same commit).
  std::atomic<bool> audited{false};
  // A clinician's sharing decisions, per patient id (request threads only; see Sharing).
  std::unordered_map<std::string, security::SharingDecision> sharing;
  // Some data was reached only through break-glass: the entry is flagged for review.
  bool break_glass = false;

  // A write whose commit failed took its audit entry down with it: the response's own entry
  // must then be written.
  void UnmarkIfStoreFailed(const core::Status& s) {
    if (s.code() == core::Code::kInternal || s.code() == core::Code::kUnavailable) {
      audited.store(false, std::memory_order_release);
    }
  }
};

struct FhirApi::Context {
  http::Request& request;
  std::string base;  // no trailing slash
  records::QueryParams params;
  std::string_view prefer_return;  // minimal | representation | OperationOutcome
  bool strict = false;
  std::string content_type = kFhirJson;
  std::shared_ptr<Access> access;
  const security::Principal& principal() const { return *access->principal; }
};

// Wraps a request's Responder: before the response goes out, the access is in the audit log
// (no access without its audit entry). If the log cannot take it, the client gets 503 instead
// of the data.
class FhirApi::AuditingSink final : public http::Responder::Sink {
 public:
  AuditingSink(FhirApi& api, std::shared_ptr<Access> access, http::Responder inner)
      : api_(api), access_(std::move(access)), inner_(std::move(inner)) {}

  void Complete(http::Response response) override {
    if (access_->audited.load(std::memory_order_acquire)) return inner_.Send(std::move(response));
    std::string outcome;
    if (response.status >= 400 && !response.body.empty()) {
      if (auto doc = json::Parse(response.body)) {
        if (const json::Value* issues = doc->root()->Find("issue");
            issues && issues->is_array() && issues->size() > 0) {
          outcome = std::string(issues->items()[0]->StringOr("diagnostics"));
        } else if (doc->root()->is_object()) {
          outcome = std::string(doc->root()->StringOr("error_description"));  // OAuth errors
        }
      }
    }
    store::AuditEntry entry = api_.AuditEntryFor(*access_, response.status, outcome,
                                                 access_->patients, access_->resources);
    auto inner = std::make_shared<http::Responder>(std::move(inner_));
    auto held = std::make_shared<http::Response>(std::move(response));
    std::vector<store::AuditEntry> entries;
    entries.push_back(std::move(entry));
    api_.store_.Audit(std::move(entries), [inner, held](core::Status s) {
      if (!s.ok()) {
        return inner->Send(
            Outcome(503, core::Unavailable("the access could not be recorded in the audit log: " +
                                           s.message())));
      }
      inner->Send(std::move(*held));
    });
  }

 private:
  FhirApi& api_;
  std::shared_ptr<Access> access_;
  http::Responder inner_;
};

FhirApi::FhirApi(records::RecordService& records, store::Store& store,
                 core::MetricsRegistry& metrics, ApiOptions options, bulk::ExportManager* exports)
    : records_(records),
      store_(store),
      exports_(exports),
      metrics_(metrics),
      options_(std::move(options)),
      rate_limited_(metrics.GetCounter("medulla_rate_limited_total",
                                       "Requests refused with 429 for exceeding a rate limit.")) {
  capability_json_ =
      CapabilityStatementJson(records_.search_parameters(), options_.version, options_.base_url);
  security::Principal op;
  op.role = security::Role::kAdmin;
  op.subject = "local-operator";
  op.client_id = "medulla";
  op.scopes = security::ScopeSet::Parse("system/*.cruds");
  operator_ = std::make_shared<const security::Principal>(std::move(op));
}

http::Response FhirApi::ErrorResponse(int status, std::string_view message) {
  core::Code code = status == 413   ? core::Code::kTooLarge
                    : status == 431 ? core::Code::kTooLarge
                    : status >= 500 ? core::Code::kInternal
                                    : core::Code::kInvalidArgument;
  return Outcome(status, core::Status(code, std::string(message)));
}

std::string FhirApi::BaseUrl(const http::Request& request) const {
  if (!options_.base_url.empty()) return options_.base_url;
  // Without a configured base_url the Host header names the server in links. Only a
  // well-formed host[:port] is taken, so a request cannot inject text into them.
  std::string_view host = request.Header("host");
  bool plain =
      !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
               c == '[' || c == ']';
      });
  return fmt::format("{}://{}", request.secure ? "https" : "http", plain ? host : "localhost");
}

std::shared_ptr<FhirApi::Access> FhirApi::NewAccess(const http::Request& request) {
  auto access = std::make_shared<Access>();
  access->remote = request.remote;
  access->method = request.method;
  access->target = request.target;
  return access;
}

namespace {

// The rate-limit key of a caller without a valid token: its address without the port.
std::string AddressKey(std::string_view remote) {
  size_t colon = remote.rfind(':');
  return fmt::format("address {}",
                     colon == std::string_view::npos ? remote : remote.substr(0, colon));
}

}  // namespace

std::optional<http::Response> FhirApi::OverRate(security::RateLimiter* limiter,
                                                std::string_view key, bool oauth) {
  if (limiter == nullptr) return std::nullopt;
  security::RateLimiter::Decision d = limiter->Admit(key);
  if (d.admitted) return std::nullopt;
  rate_limited_.Add();
  const std::string message =
      fmt::format("too many requests from this {}; retry after {} s",
                  key.starts_with("address") ? "address" : "client", d.retry_after_seconds);
  http::Response r = oauth ? OAuthErrorResponse({429, "temporarily_unavailable", message})
                           : Failure(core::ResourceExhausted(message));
  r.headers.emplace_back("Retry-After", std::to_string(d.retry_after_seconds));
  return r;
}

void FhirApi::TokenEndpoint(http::Request& request, http::Responder responder) {
  // Audited like any access (interaction "login"): who obtained a token, from where, and who
  // tried and failed. The form body, which holds the signed assertion, is not recorded.
  auto access = NewAccess(request);
  access->interaction = "login";
  http::Responder audited(std::make_shared<AuditingSink>(*this, access, std::move(responder)));
  auto parsed = ParseTokenRequest(request);
  if (!parsed) return audited.Send(OAuthErrorResponse(parsed.error()));
  auto issued = options_.token_service->Issue(*parsed, BaseUrl(request) + "/auth/token");
  if (!issued) return audited.Send(OAuthErrorResponse(issued.error()));
  const security::RegisteredClient& client = *issued->client;
  auto principal = std::make_shared<security::Principal>();
  principal->role = client.role;
  principal->subject = client.client_id;
  principal->client_id = client.client_id;
  principal->patient = client.patient;
  principal->organization = client.organization;
  principal->scopes = security::ScopeSet::Parse(issued->scope);
  access->principal = std::move(principal);
  audited.Send(TokenResponse(*issued));
}

void FhirApi::Handle(http::Request& request, http::Responder responder) {
  // The route table (routes.h) is the only way in: every route names its guard.
  RouteMatch match = MatchRoute(request.method, request.path(), [this](std::string_view type) {
    return records_.IsResourceType(type);
  });
  const RouteInfo* route = match.route;
  // Operational probes: plain text, no FHIR negotiation, no token, no data.
  if (route && route->guard == Guard::kProbe) {
    if (route->id == RouteId::kHealth) return responder.Send(http::Response::Text(200, "ok\n"));
    return responder.Send(ready_.load() ? http::Response::Text(200, "ready\n")
                                        : http::Response::Text(503, "not ready\n"));
  }
  if (route && route->guard == Guard::kClientAssertion) {
    if (auto over = OverRate(options_.address_rate, AddressKey(request.remote), true)) {
      return responder.Send(std::move(*over));
    }
    if (options_.token_service) return TokenEndpoint(request, std::move(responder));
    route = nullptr;  // no built-in issuer (security off)
    match.status = 404;
  }
  // Everything else is audited, and needs a valid token except the server's self-description
  // (the CapabilityStatement and the SMART configuration, which say how to get a token).
  auto access = NewAccess(request);
  if (route) access->interaction = std::string(route->interaction);
  const bool self_description = route && route->guard == Guard::kSelfDescription;
  std::optional<core::Status> unauthenticated;
  if (options_.authenticator == nullptr) {
    access->principal = operator_;
  } else if (!self_description || request.HasHeader("authorization")) {
    auto principal = options_.authenticator->Authenticate(request.Header("authorization"));
    if (principal) {
      access->principal = std::move(*principal);
    } else if (!self_description) {
      unauthenticated = std::move(principal.error());
    }
  }
  // Rates: a client's user by client id and subject (one busy clinician does not slow the others
  // using the same app; a backend service is its own subject), not administrators; a caller
  // without a valid token by address.
  const security::Principal* who = access->principal.get();
  if (auto over =
          who ? (who->role == security::Role::kAdmin
                     ? std::nullopt
                     : OverRate(options_.client_rate,
                                fmt::format("client {} {}", who->client_id, who->subject), false))
              : OverRate(options_.address_rate, AddressKey(request.remote), false)) {
    return responder.Send(std::move(*over));
  }
  if (unauthenticated) {
    http::Responder audited(std::make_shared<AuditingSink>(*this, access, std::move(responder)));
    http::Response r = Failure(*unauthenticated);
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"medulla\", error=\"invalid_token\"");
    return audited.Send(std::move(r));
  }
  if (options_.audit) {
    http::Responder audited(std::make_shared<AuditingSink>(*this, access, std::move(responder)));
    responder = std::move(audited);
  }
  if (!route) return responder.Send(NoRoute(request, match.status));
  if (core::Status s = CheckGuard(*route, match, access->principal.get()); !s.ok()) {
    return responder.Send(s.code() == core::Code::kUnsupported ? Outcome(405, s) : Failure(s));
  }

  Context ctx{
      request, BaseUrl(request), records::ParseQueryString(request.query()), {}, false, kFhirJson,
      access};
  if (route->fhir) {
    // Content negotiation: JSON only. _format wins over Accept.
    for (const auto& [k, v] : ctx.params) {
      if (k != "_format") continue;
      if (v == "json" || v == "application/json" || v == "application/fhir+json" ||
          v == "application/json+fhir") {
        // "json" is FHIR's short name for application/fhir+json; only an explicit
        // application/json asks for the plain JSON media type.
        if (v == "application/json") ctx.content_type = "application/json; charset=utf-8";
      } else {
        return responder.Send(
            Outcome(406, core::Unsupported(fmt::format("_format '{}' is not supported: this server "
                                                       "speaks FHIR JSON only",
                                                       v))));
      }
    }
    if (!AcceptsJson(request.Header("accept")) &&
        std::none_of(ctx.params.begin(), ctx.params.end(),
                     [](const auto& p) { return p.first == "_format"; })) {
      return responder.Send(Outcome(
          406, core::Unsupported(fmt::format("Accept '{}' is not supported: this server speaks "
                                             "FHIR JSON only",
                                             request.Header("accept")))));
    }
    std::string_view prefer = request.Header("prefer");
    if (prefer.find("return=minimal") != std::string_view::npos) ctx.prefer_return = "minimal";
    if (prefer.find("return=OperationOutcome") != std::string_view::npos)
      ctx.prefer_return = "OperationOutcome";
    if (prefer.find("handling=strict") != std::string_view::npos) ctx.strict = true;
  }
  Dispatch(ctx, responder, match);
}

http::Response FhirApi::NoRoute(const http::Request& request, int status) const {
  if (status == 405) {
    return Outcome(405, core::Unsupported(fmt::format("{} is not allowed on {}", request.method,
                                                      request.path())));
  }
  std::vector<std::string_view> segs = SplitPath(request.path());
  if (!segs.empty() && std::isupper(static_cast<unsigned char>(segs[0][0])) &&
      !records_.IsResourceType(segs[0])) {
    return Outcome(404,
                   core::NotFound(fmt::format("'{}' is not a FHIR R4 resource type", segs[0])));
  }
  return Outcome(404, core::NotFound(fmt::format("no route for {}", request.path())));
}

core::Status FhirApi::CheckGuard(const RouteInfo& route, const RouteMatch& match,
                                 const security::Principal* who) const {
  switch (route.guard) {
    case Guard::kProbe:
    case Guard::kClientAssertion:
    case Guard::kSelfDescription:
      return core::OkStatus();
    case Guard::kAuthenticated:
      break;
    case Guard::kAdministrator:
      if (!who) break;
      return security::CheckAdministrator(*who, route.pattern);
    case Guard::kDispatcher:
      if (!who) break;
      if (who->role == security::Role::kDispatcher) return core::OkStatus();
      return security::CheckAdministrator(*who, route.pattern);
    case Guard::kTypeScope:
      if (!who) break;
      return security::CheckInteraction(
          *who, route.id == RouteId::kCompartmentSearch ? match.compartment : match.type,
          route.scope);
    case Guard::kAuditLog:
      if (!who) break;
      return security::CheckAuditLogReader(*who, route.id == RouteId::kAuditRead);
    case Guard::kRefused:
      return core::Unsupported(
          "the audit log is append-only: AuditEvents are written by the server, never through "
          "the API");
  }
  return who ? core::OkStatus() : core::Unauthenticated("this endpoint needs an access token");
}

void FhirApi::Dispatch(Context& ctx, http::Responder& responder, const RouteMatch& m) {
  switch (m.route->id) {
    case RouteId::kHealth:
    case RouteId::kReady:
    case RouteId::kToken:
    case RouteId::kAuditWrite:
      break;  // answered before dispatch
    case RouteId::kSmartConfiguration:
      return SmartConfiguration(ctx, responder);
    case RouteId::kMetadata:
      return Metadata(ctx, responder);
    case RouteId::kMetrics: {
      store::StoreStats stats = store_.Stats();
      metrics_.GetGauge("medulla_store_last_seq", "Sequence number of the last commit.")
          .Set(stats.last_seq);
      if (options_.monitoring) {
        // Device readings are not commits of the record: the time-series store counts them.
        const telemetry::SeriesStoreStats series = options_.monitoring->SeriesStats();
        metrics_
            .GetGauge("medulla_telemetry_readings",
                      "Device readings stored (durable or queued for their commit).")
            .Set(static_cast<int64_t>(series.readings));
        metrics_
            .GetGauge("medulla_telemetry_queued_readings",
                      "Device readings waiting for their group commit.")
            .Set(static_cast<int64_t>(series.queued));
        metrics_.GetGauge("medulla_telemetry_block_bytes", "Bytes of coded reading blocks on disk.")
            .Set(static_cast<int64_t>(series.block_bytes));
      }
      return responder.Send(
          http::Response::Text(200, metrics_.Render(), "text/plain; version=0.0.4; charset=utf-8"));
    }
    case RouteId::kBatch:
      return Bundle(ctx, std::move(responder));
    case RouteId::kSystemHistory:
      return History(ctx, responder, "", "");
    case RouteId::kExportSystem:
      return ExportKickOff(ctx, responder, bulk::ExportLevel::kSystem, "");
    case RouteId::kExportStatus:
      return ExportStatus(ctx, responder, m.job);
    case RouteId::kExportCancel: {
      if (!exports_) return responder.Send(Failure(core::Unsupported("$export is not enabled")));
      if (core::Status s = exports_->Delete(m.job); !s.ok()) return responder.Send(Failure(s));
      http::Response r;
      r.status = 202;
      return responder.Send(std::move(r));
    }
    case RouteId::kExportFile:
      return ExportFile(ctx, responder, m.job, m.file);
    case RouteId::kExportPatient:
      return ExportKickOff(ctx, responder, bulk::ExportLevel::kPatient, "");
    case RouteId::kExportGroup:
      return ExportKickOff(ctx, responder, bulk::ExportLevel::kGroup, m.id);
    case RouteId::kAuditSearch:
      return AuditLog(ctx, responder, "");
    case RouteId::kAuditRead:
      return AuditLog(ctx, responder, m.id);
    case RouteId::kTelemetry:
      return Telemetry(ctx, std::move(responder));
    case RouteId::kRoutingRoute:
    case RouteId::kRoutingTable:
    case RouteId::kRoutingTraffic:
      return Routing(ctx, responder, m.route->id);
    case RouteId::kDispatchRecommend:
    case RouteId::kDispatchOperation:
    case RouteId::kDispatchPositions:
    case RouteId::kDispatchState:
      return Dispatching(ctx, std::move(responder), m.route->id);
    case RouteId::kSubscriptionStatus:
    case RouteId::kSubscriptionBindingToken:
      return SubscriptionOperation(ctx, responder, m.route->id, m.id);
    case RouteId::kSearch:
      return Search(ctx, responder, m.type, ctx.params);
    case RouteId::kSearchPost: {
      // POST _search: parameters in a form body and/or the query string.
      records::QueryParams params = ctx.params;
      for (auto& p : records::ParseQueryString(ctx.request.body, /*plus_is_space=*/true)) {
        params.push_back(std::move(p));
      }
      return Search(ctx, responder, m.type, params);
    }
    case RouteId::kCreate:
      return Create(ctx, std::move(responder), m.type);
    case RouteId::kTypeHistory:
      return History(ctx, responder, m.type, "");
    case RouteId::kRead:
      return Read(ctx, responder, m.type, m.id);
    case RouteId::kUpdate:
      return Update(ctx, std::move(responder), m.type, m.id);
    case RouteId::kDelete:
      return Delete(ctx, std::move(responder), m.type, m.id);
    case RouteId::kInstanceHistory:
      return History(ctx, responder, m.type, m.id);
    case RouteId::kEverything:
      return Everything(ctx, responder, m.id);
    case RouteId::kCompartmentSearch:
      return CompartmentSearch(ctx, responder, m.id, m.compartment);
    case RouteId::kVRead:
      return VRead(ctx, responder, m.type, m.id, m.version);
  }
  responder.Send(Outcome(500, core::Internal("a route without a handler")));
}

void FhirApi::ExportKickOff(Context& ctx, http::Responder& responder, bulk::ExportLevel level,
                            const std::string& group_id) {
  if (!exports_) return responder.Send(Failure(core::Unsupported("$export is not enabled")));
  // The async pattern is the only one (Bulk Data IG: the client SHALL send it).
  if (ctx.request.Header("prefer").find("respond-async") == std::string_view::npos) {
    return responder.Send(
        Failure(core::InvalidArgument("$export needs the header Prefer: respond-async")));
  }
  bulk::ExportRequest req;
  req.level = level;
  req.group_id = group_id;
  req.request_url = ctx.base + ctx.request.target;
  records::QueryParams params = ctx.params;
  if (ctx.request.method == "POST" && !ctx.request.body.empty()) {
    // POST kick-off: a Parameters resource (parameter[].name / value[x]).
    auto doc = json::Parse(ctx.request.body);
    if (!doc || doc->root()->StringOr("resourceType") != "Parameters") {
      return responder.Send(
          Failure(core::InvalidArgument("a POST $export takes a Parameters resource")));
    }
    if (const json::Value* ps = doc->root()->Find("parameter"); ps && ps->is_array()) {
      for (const json::Value* p : ps->items()) {
        if (!p->is_object()) continue;
        std::string name(p->StringOr("name"));
        for (const json::Member& m : p->members()) {
          if (m.key.starts_with("value") && m.value->is_string()) {
            params.emplace_back(name, std::string(m.value->text()));
          }
        }
      }
    }
  }
  for (const auto& [name, value] : params) {
    if (name == "_outputFormat") {
      if (value != "application/fhir+ndjson" && value != "application/ndjson" &&
          value != "ndjson") {
        return responder.Send(Failure(core::InvalidArgument(
            fmt::format("_outputFormat {} is not supported; use application/fhir+ndjson", value))));
      }
    } else if (name == "_since") {
      auto range = core::ParseFhirDateTimeRange(records::SearchDateText(value));
      if (!range) {
        return responder.Send(Failure(core::InvalidArgument("_since must be a FHIR instant")));
      }
      req.since = range->begin;
    } else if (name == "_type") {
      for (std::string& t : records::SplitUnescaped(value, ',')) {
        if (!records_.IsResourceType(t)) {
          return responder.Send(
              Failure(core::InvalidArgument(fmt::format("_type: unknown type '{}'", t))));
        }
        req.types.push_back(std::move(t));
      }
    } else if (name == "_format") {
      continue;
    } else {
      // _elements, _typeFilter, patient, includeAssociatedData...: not implemented. Strict
      // handling refuses; lenient ignores (Bulk Data IG: servers MAY ignore).
      if (ctx.strict) {
        return responder.Send(
            Failure(core::InvalidArgument(fmt::format("$export: '{}' is not supported", name))));
      }
    }
  }
  auto id = exports_->Start(std::move(req));
  if (!id) return responder.Send(Failure(id.error()));
  http::Response r;
  r.status = 202;
  r.headers.emplace_back("Content-Location", fmt::format("{}/$export-status/{}", ctx.base, *id));
  responder.Send(std::move(r));
}

void FhirApi::ExportStatus(Context& ctx, http::Responder& responder, const std::string& job_id) {
  if (!exports_) return responder.Send(Failure(core::Unsupported("$export is not enabled")));
  auto status = exports_->Status(job_id);
  if (!status) return responder.Send(Failure(status.error()));
  using State = bulk::ExportStatus::State;
  if (status->state == State::kRunning) {
    http::Response r;
    r.status = 202;
    r.headers.emplace_back("X-Progress",
                           fmt::format("{} of {} types, {} resources", status->types_done,
                                       status->types_total, status->resources));
    r.headers.emplace_back("Retry-After", "1");
    return responder.Send(std::move(r));
  }
  if (status->state == State::kFailed) {
    return responder.Send(Failure(core::Internal("the export failed: " + status->error)));
  }
  // The manifest (Bulk Data IG, "Response - Complete Status").
  std::string out = "{\"transactionTime\":";
  json::WriteString(core::FormatInstant(status->transaction_time), out);
  out += ",\"request\":";
  json::WriteString(status->request_url, out);
  out += fmt::format(",\"requiresAccessToken\":{},\"output\":[",
                     options_.authenticator ? "true" : "false");
  bool first = true;
  for (const bulk::ExportFile& f : status->files) {
    if (!first) out += ",";
    first = false;
    out += "{\"type\":";
    json::WriteString(f.type, out);
    out += ",\"url\":";
    json::WriteString(fmt::format("{}/$export-file/{}/{}", ctx.base, job_id, f.name), out);
    out += fmt::format(",\"count\":{}}}", f.count);
  }
  out += "],\"error\":[]}";
  http::Response r;
  r.content_type = "application/json";
  r.body = std::move(out);
  r.headers.emplace_back(
      "Expires", core::FormatHttpDate(core::SystemClock::Instance().Now() + 3600LL * 1000000));
  responder.Send(std::move(r));
}

void FhirApi::ExportFile(Context&, http::Responder& responder, const std::string& job_id,
                         const std::string& name) {
  if (!exports_) return responder.Send(Failure(core::Unsupported("$export is not enabled")));
  auto body = exports_->ReadFile(job_id, name);
  if (!body) return responder.Send(Failure(body.error()));
  http::Response r;
  r.content_type = "application/fhir+ndjson";
  r.body = std::move(*body);
  responder.Send(std::move(r));
}

void FhirApi::Metadata(Context& ctx, http::Responder& responder) {
  http::Response r;
  r.content_type = ctx.content_type;
  r.body = capability_json_;
  responder.Send(std::move(r));
}

namespace {
// A read or vread answer: the stored bytes as they are, with the version headers.
http::Response StoredResource(const std::string& content_type, store::VersionRecord&& rec) {
  http::Response r;
  r.content_type = content_type;
  AddVersionHeaders(r, rec);
  r.body = std::move(rec.body);
  return r;
}

// A resource the requester may not see reads as one that does not exist, so that a refusal
// does not tell whether it does (a deleted one too: 410 would).
core::Status NotVisible(const std::string& type, const std::string& id) {
  return core::NotFound(fmt::format("{}/{} is not known", type, id));
}
}  // namespace

bool FhirApi::Restricted(const security::Principal& p) {
  return p.PatientBinding() || p.role != security::Role::kAdmin;
}

std::optional<store::VersionRecord> FhirApi::LastStoredVersion(const std::string& type,
                                                               const std::string& id) const {
  // History is newest first: the deletion, if any, then the version it deleted.
  auto history = records_.History(type, id, {{"_count", "2"}});
  if (!history) return std::nullopt;
  for (store::VersionRecord& e : history->page.entries) {
    if (!e.deleted()) return std::move(e);
  }
  return std::nullopt;
}

bool FhirApi::DeletionVisible(Context& ctx, const std::string& type, const std::string& id) {
  if (!Restricted(ctx.principal())) return true;
  // A deleted resource answers 410 only to whoever could see it: its last stored version says.
  auto last = LastStoredVersion(type, id);
  return last && Visible(ctx, *last);
}

void FhirApi::Read(Context& ctx, http::Responder& responder, const std::string& type,
                   const std::string& id) {
  if (type == "Observation" && options_.monitoring && rpm::MonitorService::IsReadingId(id)) {
    // A device reading, kept in the time-series store rather than as a resource.
    auto body = options_.monitoring->ReadObservation(id);
    if (!body) return responder.Send(Failure(body.error()));
    store::VersionRecord rec{"Observation",   id, 1, 0, 0, store::Operation::kCreate,
                             std::move(*body)};
    if (!Visible(ctx, rec)) return responder.Send(Failure(NotVisible(type, id)));
    return responder.Send(StoredResource(ctx.content_type, std::move(rec)));
  }
  auto rec = records_.Read(type, id);
  if (!rec) {
    if (rec.error().code() == core::Code::kGone && !DeletionVisible(ctx, type, id)) {
      return responder.Send(Failure(NotVisible(type, id)));
    }
    return responder.Send(Failure(rec.error()));
  }
  if (!Visible(ctx, *rec)) return responder.Send(Failure(NotVisible(type, id)));
  responder.Send(StoredResource(ctx.content_type, std::move(*rec)));
}

void FhirApi::VRead(Context& ctx, http::Responder& responder, const std::string& type,
                    const std::string& id, const std::string& version) {
  auto rec = records_.VRead(type, id, version);
  if (!rec) {
    if (rec.error().code() == core::Code::kGone && !DeletionVisible(ctx, type, id)) {
      return responder.Send(Failure(NotVisible(type, id)));
    }
    return responder.Send(Failure(rec.error()));
  }
  if (!Visible(ctx, *rec)) return responder.Send(Failure(NotVisible(type, id)));
  responder.Send(StoredResource(ctx.content_type, std::move(*rec)));
}

std::vector<std::string> FhirApi::PatientsOfRecord(const store::VersionRecord& r) const {
  if (r.type == "Patient") return {r.id};
  if (r.deleted() && r.version > 1) {
    // A deletion has no body: it belongs to the patients of the version it deleted.
    if (auto before = records_.VRead(r.type, r.id, std::to_string(r.version - 1))) {
      return PatientsOfRecord(*before);
    }
    return {};
  }
  if (r.body.empty()) return {};
  auto doc = json::Parse(r.body);
  if (!doc) return {};
  return fhir::PatientsOf(records_.search_parameters(), *doc->root());
}

namespace {

// The id of a Patient's managingOrganization, or empty.
std::string ManagingOrganization(std::string_view patient_json) {
  auto doc = json::Parse(patient_json);
  if (!doc || !doc->root()->is_object()) return {};
  const json::Value* m = doc->root()->Find("managingOrganization");
  return m && m->is_object() ? security::OrganizationId(m->StringOr("reference")) : std::string();
}

}  // namespace

security::SharingDecision FhirApi::Sharing(Access& access, const std::string& patient) {
  if (auto it = access.sharing.find(patient); it != access.sharing.end()) return it->second;
  // The managing organisation of the patient's last stored version (a deleted patient's
  // records still belong to it).
  std::string managing;
  if (auto last = LastStoredVersion("Patient", patient))
    managing = ManagingOrganization(last->body);
  std::vector<security::PatientConsent> consents;
  std::string unreadable;
  constexpr size_t kMaxConsents = 200;
  records::QueryParams query{{"patient", "Patient/" + patient},
                             {"_count", std::to_string(kMaxConsents)}};
  if (auto found = records_.Search("Consent", query, false); !found) {
    unreadable = found.error().message();
  } else {
    for (const store::VersionRecord& rec : found->page.resources) {
      auto doc = json::Parse(rec.body);
      if (!doc) {
        unreadable = fmt::format("Consent/{} is not JSON", rec.id);
        break;
      }
      auto consent = security::ReadConsent(*doc->root(), rec.last_updated);
      if (!consent) {
        unreadable = consent.error().message();
        break;
      }
      if (*consent) consents.push_back(std::move(**consent));
    }
  }
  if (!unreadable.empty()) {
    // Fail closed: a consent that cannot be read counts as the newest, sharing with nobody
    // (break-glass still passes it, and the managing organisation keeps its patient).
    security::PatientConsent closed;
    closed.id = "unreadable";
    closed.when = std::numeric_limits<core::MicrosSinceEpoch>::max();
    closed.provision.permit = false;
    consents.push_back(std::move(closed));
    core::Logger("api")->warn("consents of Patient/{} unreadable, sharing denied: {}", patient,
                              unreadable);
  }
  security::SharingDecision d =
      security::DecideSharing(*access.principal, managing, consents, options_.sharing_default,
                              core::SystemClock::Instance().Now());
  if (access.sharing.size() < 10000) access.sharing.emplace(patient, d);
  return d;
}

bool FhirApi::SharedWith(Access& access, std::span<const std::string> patients) {
  // Clinicians are bounded by organisation and consent; administrators see everything and
  // patient-bound tokens their own compartment (policy.h).
  const security::Role role = access.principal->role;
  // Dispatchers and public-health analysts see no record that belongs to a patient (an
  // individual MeasureReport, a Device assigned to someone), whatever their scopes say.
  if (role == security::Role::kDispatcher || role == security::Role::kAnalyst) {
    return patients.empty();
  }
  if (role != security::Role::kClinician) return true;
  for (const std::string& p : patients) {
    security::SharingDecision d = Sharing(access, p);
    if (!d.allowed) return false;
    if (d.break_glass && !access.break_glass) {
      access.break_glass = true;
      core::Logger("api")->warn("break-glass access by {} (client {}) to Patient/{}: {}",
                                access.principal->subject, access.principal->client_id, p,
                                d.reason);
    }
  }
  return true;
}

bool FhirApi::Visible(Context& ctx, const store::VersionRecord& r) {
  const security::Principal& who = ctx.principal();
  if (!who.scopes.Allows(r.type, security::kRead) &&
      !who.scopes.Allows(r.type, security::kSearch)) {
    return false;
  }
  std::vector<std::string> patients = PatientsOfRecord(r);
  if (!security::CanSee(who, r.type, patients)) return false;
  Access& access = *ctx.access;
  if (!SharedWith(access, patients)) return false;
  constexpr size_t kMaxAuditPatients = 1000;
  for (std::string& p : patients) {
    if (access.patients.size() >= kMaxAuditPatients) break;
    access.AddPatient(std::move(p));
  }
  if (access.resources.size() < 20) access.resources.push_back(r.type + "/" + r.id);
  return true;
}

core::Status FhirApi::CheckClinicianWrite(Access& access, const store::Write& w,
                                          const std::vector<std::string>& patients) {
  // What is there now must be shared with the clinician (a record they cannot see cannot be
  // changed or deleted, and does not answer whether it exists).
  if (w.operation != store::Operation::kCreate) {
    if (auto current = store_.ReadCurrent(w.type, w.id);
        current && !SharedWith(access, PatientsOfRecord(*current))) {
      return NotVisible(w.type, w.id);
    }
  }
  const std::string own = security::OrganizationId(access.principal->organization);
  auto managed_here = [&](const std::string& patient) {
    auto rec = records_.Read("Patient", patient);
    return rec && !own.empty() && ManagingOrganization(rec->body) == own;
  };
  if (w.type == "Consent" || (w.type == "Patient" && w.operation == store::Operation::kDelete)) {
    // A patient's privacy choices and their record's existence are for the organisation that
    // manages them: sharing or break-glass must not let another widen or remove them.
    std::vector<std::string> named = patients;
    if (w.type == "Patient") {
      named = {w.id};
    } else if (w.operation != store::Operation::kCreate) {
      if (auto current = store_.ReadCurrent(w.type, w.id)) {
        for (std::string& p : PatientsOfRecord(*current)) named.push_back(std::move(p));
      }
    }
    for (const std::string& p : named) {
      if (!managed_here(p)) {
        return core::PermissionDenied(fmt::format(
            "a clinician changes {} only for patients their own organisation manages", w.type));
      }
    }
    if (w.type == "Patient") return core::OkStatus();
  }
  if (w.operation == store::Operation::kDelete) return core::OkStatus();
  if (w.type == "Patient") {
    // Demographics belong to the organisation that manages the patient: a clinician writes
    // patients their own organisation manages.
    std::string managing = ManagingOrganization("{" + w.resource.content + "}");
    if (own.empty() || managing != own) {
      return core::PermissionDenied(
          "a clinician writes only patients whose managingOrganization is their own "
          "organisation");
    }
    return core::OkStatus();
  }
  std::vector<std::string> others;
  for (const std::string& p : patients) {
    if (!SharedWith(access, std::span(&p, 1))) others.push_back(p);
  }
  if (others.empty()) return core::OkStatus();
  return core::PermissionDenied(fmt::format(
      "this {} names a patient whose record is not shared with your organisation", w.type));
}

records::WriteControl FhirApi::ControlFor(Context& ctx, bool rest_write) {
  records::WriteControl control;
  std::shared_ptr<Access> access = ctx.access;
  control.check = [this, access](const store::Write& w,
                                 const std::vector<std::string>& patients) -> core::Status {
    // The patients a write reaches are named in the request's audit entry, refused or not
    // (this runs on the request's thread).
    for (const std::string& p : patients) access->AddPatient(p);
    const security::Principal& who = *access->principal;
    if (w.type == "Subscription") RETURN_IF_ERROR(CheckSubscriptionWrite(who, w));
    security::Interaction need = w.operation == store::Operation::kCreate   ? security::kCreate
                                 : w.operation == store::Operation::kDelete ? security::kDelete
                                                                            : security::kUpdate;
    RETURN_IF_ERROR(security::CheckInteraction(who, w.type, need));
    if (who.role == security::Role::kClinician) return CheckClinicianWrite(*access, w, patients);
    if ((who.role == security::Role::kDispatcher || who.role == security::Role::kAnalyst) &&
        !patients.empty()) {
      return core::PermissionDenied(fmt::format(
          "a {} token does not write records that belong to a patient", RoleName(who.role)));
    }
    if (!who.PatientBinding()) return core::OkStatus();
    if (w.operation != store::Operation::kCreate && w.if_none_exist) {
      return core::PermissionDenied(
          "a patient-bound token cannot update or delete by search criteria");
    }
    if (w.operation != store::Operation::kDelete) {
      RETURN_IF_ERROR(security::CheckWriteContent(who, w.type, patients));
    }
    if (w.operation != store::Operation::kCreate) {
      // What is there now must be the patient's too (or not exist).
      auto current = store_.ReadCurrent(w.type, w.id);
      if (current && !security::CanSee(who, w.type, PatientsOfRecord(*current))) {
        return NotVisible(w.type, w.id);
      }
    }
    return core::OkStatus();
  };
  if (!options_.audit) return control;
  control.audit = [this, access, rest_write](const std::vector<store::WriteResult>& results,
                                             const std::vector<std::string>& patients) {
    int status = 200;
    std::string outcome;
    std::vector<std::string> resources;
    for (const store::WriteResult& r : results) {
      if (!r.status.ok()) {
        status = HttpStatusFor(r.status.code());
        outcome = r.status.message();
        break;
      }
      if (resources.size() < 20 && !r.record.id.empty()) {
        resources.push_back(
            fmt::format("{}/{}/_history/{}", r.record.type, r.record.id, r.record.version));
      }
    }
    if (rest_write) access->audited.store(true, std::memory_order_release);
    std::vector<store::AuditEntry> entries;
    entries.push_back(AuditEntryFor(*access, status, outcome, patients, std::move(resources)));
    return entries;
  };
  return control;
}

store::AuditEntry FhirApi::AuditEntryFor(const Access& access, int status, std::string_view outcome,
                                         std::vector<std::string> patients,
                                         std::vector<std::string> resources) const {
  security::AccessRecord record;
  record.SetPrincipal(access.principal.get());
  record.break_glass = access.break_glass;
  record.remote = access.remote;
  record.method = access.method;
  record.target = access.target;
  record.interaction = access.interaction;
  record.http_status = status;
  record.outcome_text = outcome;
  record.patients = std::move(patients);
  record.resources = std::move(resources);
  store::AuditEntry entry;
  entry.event = security::EncodeAccessRecord(record);
  entry.recorded = core::SystemClock::Instance().Now();
  entry.patients = std::move(record.patients);
  return entry;
}

namespace {

bool AcceptableBodyType(const http::Request& req) {
  std::string_view ct = req.Header("content-type");
  return ct.empty() || ContainsJson(ct);
}

// The response to a successful write, honouring Prefer: return=...
http::Response WriteResponse(int status, std::string_view prefer_return,
                             const std::string& content_type, const std::string& base,
                             store::VersionRecord& rec, std::string_view message) {
  http::Response r;
  r.status = status;
  AddVersionHeaders(r, rec);
  if (status == 201 || status == 200) {
    r.headers.emplace_back(
        "Location", fmt::format("{}/{}/{}/_history/{}", base, rec.type, rec.id, rec.version));
  }
  if (prefer_return == "minimal") return r;
  r.content_type = content_type;
  if (prefer_return == "OperationOutcome") {
    r.body = fhir::OperationOutcomeJson("information", "informational", message);
  } else {
    r.body = std::move(rec.body);
  }
  return r;
}

}  // namespace

records::WriteCallback FhirApi::ReplyToWrite(
    Context& ctx, http::Responder responder,
    std::function<http::Response(records::WriteReply&)> render) {
  return [responder = std::make_shared<http::Responder>(std::move(responder)),
          render = std::move(render),
          access = ctx.access](core::Result<records::WriteReply> reply) mutable {
    if (!reply) {
      access->UnmarkIfStoreFailed(reply.error());
      return responder->Send(Failure(reply.error()));
    }
    responder->Send(render(*reply));
  };
}

void FhirApi::Create(Context& ctx, http::Responder responder, const std::string& type) {
  if (!AcceptableBodyType(ctx.request)) {
    return responder.Send(
        Outcome(415, core::Unsupported("send resources as application/fhir+json")));
  }
  std::optional<std::string_view> if_none_exist;
  if (ctx.request.HasHeader("if-none-exist")) if_none_exist = ctx.request.Header("if-none-exist");
  records_.Create(type, ctx.request.body, if_none_exist,
                  ReplyToWrite(ctx, std::move(responder),
                               [prefer = std::string(ctx.prefer_return), ct = ctx.content_type,
                                base = ctx.base](records::WriteReply& reply) {
                                 bool existing = reply.outcome == store::WriteOutcome::kExisting;
                                 return WriteResponse(
                                     existing ? 200 : 201, prefer, ct, base, reply.record,
                                     existing ? "a matching resource already exists" : "created");
                               }),
                  ControlFor(ctx, /*rest_write=*/true));
}

void FhirApi::Update(Context& ctx, http::Responder responder, const std::string& type,
                     const std::string& id) {
  if (!AcceptableBodyType(ctx.request)) {
    return responder.Send(
        Outcome(415, core::Unsupported("send resources as application/fhir+json")));
  }
  std::optional<int64_t> if_match;
  if (ctx.request.HasHeader("if-match")) {
    if_match = ParseETag(ctx.request.Header("if-match"));
    if (!if_match) {
      return responder.Send(
          Outcome(400, core::InvalidArgument("If-Match must be a version ETag such as W/\"3\"")));
    }
  }
  records_.Update(type, id, ctx.request.body, if_match,
                  ReplyToWrite(ctx, std::move(responder),
                               [prefer = std::string(ctx.prefer_return), ct = ctx.content_type,
                                base = ctx.base](records::WriteReply& reply) {
                                 bool created = reply.outcome == store::WriteOutcome::kCreated;
                                 return WriteResponse(created ? 201 : 200, prefer, ct, base,
                                                      reply.record,
                                                      created ? "created" : "updated");
                               }),
                  ControlFor(ctx, /*rest_write=*/true));
}

void FhirApi::Delete(Context& ctx, http::Responder responder, const std::string& type,
                     const std::string& id) {
  records_.Delete(type, id,
                  ReplyToWrite(ctx, std::move(responder),
                               [prefer = std::string(ctx.prefer_return),
                                ct = ctx.content_type](records::WriteReply& reply) {
                                 const bool deleted =
                                     reply.outcome == store::WriteOutcome::kDeleted;
                                 http::Response r;
                                 if (deleted)
                                   r.headers.emplace_back("ETag", ETag(reply.record.version));
                                 if (prefer == "OperationOutcome") {
                                   r.status = 200;
                                   r.content_type = ct;
                                   r.body = fhir::OperationOutcomeJson(
                                       "information", "informational",
                                       deleted ? "deleted" : "nothing to delete");
                                 } else {
                                   r.status = 204;
                                 }
                                 return r;
                               }),
                  ControlFor(ctx, /*rest_write=*/true));
}

namespace {

void AppendLink(std::string& out, bool& first, std::string_view relation, std::string_view url) {
  if (!first) out += ",";
  first = false;
  out += "{\"relation\":";
  json::WriteString(relation, out);
  out += ",\"url\":";
  json::WriteString(url, out);
  out += "}";
}

std::string BundleHeader(std::string_view type) {
  std::string out = "{\"resourceType\":\"Bundle\",\"id\":\"";
  out += core::NewUuidV7();
  out += "\",\"meta\":{\"lastUpdated\":\"";
  out += core::FormatInstant(core::SystemClock::Instance().Now());
  out += "\"},\"type\":\"";
  out += type;
  out += "\"";
  return out;
}

std::string PageUrl(const std::string& base, std::string_view path, records::QueryParams params) {
  std::string q = records::EncodeQueryString(params);
  return q.empty() ? fmt::format("{}{}", base, path) : fmt::format("{}{}?{}", base, path, q);
}

// A paging link: its relation ("next", "previous") and the cursor parameter it sets.
struct PageLink {
  std::string relation;
  std::pair<std::string, std::string> cursor;
};

// Appends `,"link":[self, next?, previous?],"entry":[` to a Bundle being written. Paging links
// repeat the applied parameters with the cursor replaced.
void AppendLinksAndOpenEntries(std::string& out, const std::string& base, std::string_view path,
                               const records::QueryParams& applied, std::vector<PageLink> pages) {
  out += ",\"link\":[";
  bool first = true;
  AppendLink(out, first, "self", PageUrl(base, path, applied));
  for (PageLink& page : pages) {
    records::QueryParams params;
    for (const auto& p : applied) {
      if (p.first != page.cursor.first) params.push_back(p);
    }
    params.push_back(std::move(page.cursor));
    AppendLink(out, first, page.relation, PageUrl(base, path, std::move(params)));
  }
  out += "],\"entry\":[";
}

// Ends a Bundle whose entries AppendLinksAndOpenEntries opened. FHIR JSON has no empty
// arrays: a Bundle without entries has no "entry".
void CloseEntries(std::string& out) {
  constexpr std::string_view kOpen = ",\"entry\":[";
  if (out.ends_with(kOpen)) {
    out.resize(out.size() - kOpen.size());
    out += "}";
  } else {
    out += "]}";
  }
}

// Appends the start of a Bundle entry: `{"fullUrl":"base/Type/id"`.
void OpenEntry(std::string& out, bool& first, const std::string& base,
               const store::VersionRecord& r) {
  if (!first) out += ",";
  first = false;
  out += "{\"fullUrl\":";
  json::WriteString(fmt::format("{}/{}/{}", base, r.type, r.id), out);
}

// _summary and _elements applied to the matches of a search page (fhir/shaping.h). Without
// either, the stored bytes go out as they are.
class ResultShaper {
 public:
  ResultShaper(const fhir::Definitions& defs, records::Summary summary, const std::string& elements)
      : defs_(defs), selection_(elements) {
    if (summary == records::Summary::kTrue) mode_ = fhir::SummaryMode::kTrue;
    if (summary == records::Summary::kText) mode_ = fhir::SummaryMode::kText;
    if (summary == records::Summary::kData) mode_ = fhir::SummaryMode::kData;
  }

  void Append(const store::VersionRecord& r, std::string& out) {
    if (mode_ == fhir::SummaryMode::kFalse && selection_.empty()) {
      out += r.body;
      return;
    }
    auto doc = json::Parse(r.body);
    if (!doc) {  // stored bodies are our own JSON; should one not parse, send it whole
      out += r.body;
      return;
    }
    json::Document scratch;
    const json::Value* shaped = doc->root();
    if (mode_ != fhir::SummaryMode::kFalse) {
      shaped = &fhir::Summarize(defs_, *shaped, mode_, scratch);
    } else {
      if (const fhir::TypeDef* t = defs_.FindResource(r.type);
          t && seen_types_.insert(r.type).second) {
        for (auto& name : selection_.UnknownNames(*t)) unknown_.insert(name);
      }
      shaped = &fhir::SelectElements(defs_, *shaped, selection_, scratch);
    }
    json::Write(*shaped, out);
  }

  void ReportUnknownElements(std::vector<std::string>& ignored) const {
    if (unknown_.empty()) return;
    std::string names;
    for (const auto& n : unknown_) names += (names.empty() ? "" : ", ") + n;
    ignored.push_back("_elements: not top-level elements of the matches: " + names);
  }

 private:
  const fhir::Definitions& defs_;
  fhir::SummaryMode mode_ = fhir::SummaryMode::kFalse;
  fhir::ElementSelection selection_;
  std::set<std::string> seen_types_;
  std::set<std::string> unknown_;
};

}  // namespace

void FhirApi::Search(Context& ctx, http::Responder& responder, const std::string& type,
                     const records::QueryParams& params) {
  // A patient-bound token searches inside its patient's compartment; directory types are open.
  std::optional<std::string_view> bound = ctx.principal().PatientBinding();
  std::optional<std::string_view> compartment;
  if (bound && !security::IsDirectoryType(type)) {
    if (type != "Patient" && fhir::PatientCompartment::Embedded().Params(type).empty()) {
      return responder.Send(Failure(core::PermissionDenied(fmt::format(
          "this token reaches its patient's record and directory types; {} is neither", type))));
    }
    compartment = *bound;
  }
  auto reply = records_.Search(type, params, ctx.strict, compartment);
  if (!reply) return responder.Send(Failure(reply.error()));
  if (type == "Observation" && options_.monitoring) AddReadings(params, *reply);
  SendSearchset(ctx, responder, "/" + type, *reply);
}

void FhirApi::AddReadings(const records::QueryParams& params, records::SearchReply& reply) const {
  // Device readings answer a search by patient, and optionally code and date, on its first
  // page: the parameters a chart or a FHIR client's vital-signs view asks with.
  std::string patient;
  std::vector<monitor::Vital> vitals;
  int64_t from_ms = INT64_MIN, to_ms = INT64_MAX;
  size_t limit = 50;
  for (const auto& [key, value] : params) {
    if (key == "subject" || key == "patient") {
      patient = value.starts_with("Patient/") ? value.substr(8) : value;
    } else if (key == "code") {
      for (const auto& part : records::SplitUnescaped(value, ',')) {
        std::string_view code = part;
        if (const auto bar = code.find('|'); bar != std::string_view::npos) {
          if (code.substr(0, bar) != "http://loinc.org" && bar != 0) continue;
          code.remove_prefix(bar + 1);
        }
        if (auto v = monitor::VitalFromLoinc(code)) vitals.push_back(*v);
      }
      if (vitals.empty()) return;  // codes that are not vitals: nothing from the devices
    } else if (key == "date") {
      std::string_view v = value;
      std::string_view prefix = "eq";
      if (v.size() > 2 && std::isalpha(static_cast<unsigned char>(v[0])) &&
          std::isalpha(static_cast<unsigned char>(v[1]))) {
        prefix = v.substr(0, 2);
        v.remove_prefix(2);
      }
      const auto range = core::ParseFhirDateTimeRange(v);
      if (!range) return;
      const int64_t b = range->begin / 1000, e = range->end / 1000;
      if (prefix == "ge" || prefix == "sa")
        from_ms = std::max(from_ms, prefix == "sa" ? e : b);
      else if (prefix == "gt")
        from_ms = std::max(from_ms, e);
      else if (prefix == "le")
        to_ms = std::min(to_ms, e);
      else if (prefix == "lt" || prefix == "eb")
        to_ms = std::min(to_ms, b);
      else if (prefix == "eq")
        from_ms = std::max(from_ms, b), to_ms = std::min(to_ms, e);
      else
        return;
    } else if (key == "_count") {
      size_t n = 0;
      if (std::from_chars(value.data(), value.data() + value.size(), n).ec == std::errc()) {
        limit = std::min<size_t>(n, 1000);
      }
    } else if (key == "_cursor") {
      return;  // later pages hold only stored Observations
    } else if (key != "_format" && key != "_sort" && key != "_total" && key != "category") {
      return;  // a criterion device readings cannot be judged by
    }
  }
  if (patient.empty() || limit == 0) return;
  auto page = options_.monitoring->SearchObservations(patient, vitals, from_ms, to_ms, limit);
  if (!page) {
    reply.ignored.push_back("device readings could not be read: " + page.error().message());
    return;
  }
  for (auto& [id, body] : page->observations) {
    reply.page.resources.push_back(
        {"Observation", std::move(id), 1, 0, 0, store::Operation::kCreate, std::move(body)});
  }
  if (reply.page.total) *reply.page.total += page->observations.size();
  if (page->more) {
    reply.page.total.reset();
    reply.ignored.push_back(fmt::format(
        "more device readings match than _count ({}); the newest are shown: narrow the date "
        "range to see older ones",
        limit));
  }
}

core::Status FhirApi::CheckSubscriptionWrite(const security::Principal& who,
                                             const store::Write& w) const {
  // A subscription is told of every resource its criteria match, whoever the patient: only an
  // administrator sets one up (care-team apps are registered by the operator).
  if (Restricted(who)) {
    return core::PermissionDenied(
        "only an administrator may create, change or delete a "
        "Subscription");
  }
  if (w.operation == store::Operation::kDelete || !options_.subscriptions) return core::OkStatus();
  std::string body = R"({"resourceType":"Subscription")";
  if (!w.resource.meta_rest.empty()) body += R"(,"meta":{)" + w.resource.meta_rest + "}";
  if (!w.resource.content.empty()) body += "," + w.resource.content;
  body += "}";
  auto doc = json::Parse(body);
  if (!doc) return doc.error();
  return options_.subscriptions->Validate(*doc->root());
}

void FhirApi::SubscriptionOperation(Context& ctx, http::Responder& responder, RouteId route,
                                    const std::string& id) {
  if (!options_.subscriptions) {
    return responder.Send(
        Failure(core::Status(core::Code::kUnsupported, "subscriptions are not enabled")));
  }
  auto answer = [&] {
    return route == RouteId::kSubscriptionStatus
               ? options_.subscriptions->StatusBundle(id)
               : options_.subscriptions->BindingToken(id, WebSocketUrl(ctx.base));
  };
  auto body = answer();
  // A subscription just created reaches the service through the change feed, which may not
  // have delivered it yet: wait a little for one the record holds.
  if (!body && body.error().code() == core::Code::kNotFound && records_.Read("Subscription", id) &&
      options_.subscriptions->AwaitKnown(id, std::chrono::seconds(2))) {
    body = answer();
  }
  if (!body) return responder.Send(Failure(body.error()));
  http::Response r;
  r.content_type = ctx.content_type;
  r.body = std::move(*body);
  responder.Send(std::move(r));
}

std::variant<http::Response, std::shared_ptr<http::WebSocketPeer>> FhirApi::WebSocket(
    const http::Request& request, std::shared_ptr<http::WebSocketConnection> connection) {
  if (request.path() != "/websocket" || !options_.subscriptions) {
    return Outcome(404, core::NotFound("no websocket here: the Subscriptions channel is at "
                                       "/websocket"));
  }
  bool authorized = options_.authenticator == nullptr;
  if (!authorized && request.HasHeader("authorization")) {
    auto principal = options_.authenticator->Authenticate(request.Header("authorization"));
    if (!principal) {
      http::Response r = Failure(principal.error());
      r.headers.emplace_back("WWW-Authenticate",
                             "Bearer realm=\"medulla\", error=\"invalid_token\"");
      return r;
    }
    authorized = !Restricted(**principal);
  }
  return options_.subscriptions->Connect(std::move(connection), authorized);
}

void FhirApi::Telemetry(Context& ctx, http::Responder responder) {
  if (!options_.monitoring) {
    return responder.Send(Failure(
        core::Status(core::Code::kUnsupported, "remote patient monitoring is not enabled")));
  }
  // Each reading is judged as an Observation create for its patient would be (scopes, a
  // patient or device token's own patient, a clinician's organisation and consent); the
  // answer is remembered per patient within the batch.
  // A device's token that names the device (sub "Device/ID") writes only that device's
  // readings, for a patient the record assigns it to; any other caller is refused only when
  // the record assigns the named device to someone else (a mix-up).
  auto control = ControlFor(ctx, false);
  const auto& principal = ctx.principal();
  std::optional<std::string> token_device;
  if (principal.role == security::Role::kDevice && principal.subject.starts_with("Device/")) {
    token_device = principal.subject.substr(7);
  }
  rpm::BatchAssignmentCheck device_check(
      options_.monitoring->assignments(), token_device, [&](const std::string& named) {
        return fmt::format("this token speaks for Device/{}, not Device/{}", *token_device, named);
      });
  std::unordered_map<std::string, core::Status> decided;
  auto check = [&](const telemetry::DeviceReading& r) -> core::Status {
    auto it = decided.find(r.patient);
    if (it == decided.end()) {
      store::Write w;
      w.type = "Observation";
      w.operation = store::Operation::kCreate;
      it = decided.emplace(r.patient, control.check(w, {r.patient})).first;
    }
    if (!it->second.ok()) return it->second;
    return device_check(r);
  };
  options_.monitoring->Ingest(
      ctx.request.body, check,
      [responder = std::make_shared<http::Responder>(std::move(responder))](
          core::Result<rpm::IngestReply> r) {
        if (!r) return responder->Send(Failure(r.error()));
        if (r->accepted == 0 && r->duplicates == 0 && !r->errors.empty()) {
          // Refused outright when the caller may write none of it; malformed otherwise.
          const bool forbidden = std::all_of(r->errors.begin(), r->errors.end(), [](const auto& e) {
            return e.code == core::Code::kPermissionDenied;
          });
          std::vector<core::StatusDetail> details;
          for (const auto& e : r->errors) {
            if (details.size() >= 100) break;
            // Lines are not FHIRPath, so the line number goes in the text, not the expression.
            details.push_back({e.code == core::Code::kPermissionDenied ? "forbidden" : "invalid",
                               "", fmt::format("line {}: {}", e.line, e.reason)});
          }
          return responder->Send(Failure(
              core::Status(forbidden ? core::Code::kPermissionDenied : core::Code::kInvalidArgument,
                           fmt::format("no reading in the batch was accepted ({} refused)",
                                       r->errors.size()))
                  .WithDetails(std::move(details))));
        }
        std::string body = fmt::format(R"({{"accepted":{},"duplicates":{},"rejected":[)",
                                       r->accepted, r->duplicates);
        for (size_t i = 0; i < r->errors.size() && i < 1000; ++i) {
          body += fmt::format(R"({}{{"line":{},"reason":)", i ? "," : "", r->errors[i].line);
          json::WriteString(r->errors[i].reason, body);
          body += "}";
        }
        body += "]}";
        responder->Send(http::Response::Text(200, std::move(body), "application/json"));
      });
}

void FhirApi::Routing(Context& ctx, http::Responder& responder, RouteId route) {
  if (!options_.router) {
    return responder.Send(Failure(core::Unsupported(
        "routing is not enabled: no road network was imported (medulla routing import "
        "FILE.osm.pbf, then restart)")));
  }
  core::Result<http::Response> r =
      route == RouteId::kRoutingRoute   ? RoutingRoute(*options_.router, ctx.params)
      : route == RouteId::kRoutingTable ? RoutingTable(*options_.router, ctx.request.body)
                                        : RoutingTraffic(*options_.router, ctx.request.body);
  // Dispatches in progress are judged again on the new traffic.
  if (r && route == RouteId::kRoutingTraffic && options_.dispatch) options_.dispatch->Reevaluate();
  responder.Send(r ? std::move(*r) : Failure(r.error()));
}

void FhirApi::Dispatching(Context& ctx, http::Responder responder, RouteId route) {
  if (!options_.dispatch || !options_.router) {
    return responder.Send(Failure(core::Unsupported(
        "dispatch is not enabled: no road network was imported (medulla routing import "
        "FILE.osm.pbf, then restart)")));
  }
  dispatch::DispatchService& service = *options_.dispatch;
  const int64_t now_ms = core::SystemClock::Instance().Now() / 1000;
  if (route == RouteId::kDispatchState) {
    return responder.Send(
        http::Response::Text(200, RenderFleetView(service.View(), now_ms), "application/json"));
  }
  if (route == RouteId::kDispatchPositions) {
    auto reports = service.ParsePositions(ctx.request.body);
    auto stored =
        reports ? service.ReportPositions(std::move(*reports)) : core::Fail(reports.error());
    if (!stored) return responder.Send(Failure(stored.error()));
    return responder.Send(http::Response::Text(200, fmt::format(R"({{"accepted":{}}})", *stored),
                                               "application/json"));
  }
  const bool operation = route == RouteId::kDispatchOperation;
  auto request = operation ? ParseDispatchParameters(ctx.request.body, *options_.router)
                           : ParseDispatchRequest(ctx.request.body, *options_.router);
  if (!request) return responder.Send(Failure(request.error()));
  auto recs = service.Recommend(request->request);
  if (!recs) return responder.Send(Failure(recs.error()));
  auto answer = [operation, batch = request->batch](const std::vector<dispatch::Recommendation>& r,
                                                    const std::vector<std::string>& tasks) {
    if (operation) {
      return http::Response::Text(
          200, RenderRecommendationParameters(r.front(), tasks.empty() ? "" : tasks.front()),
          "application/fhir+json");
    }
    return http::Response::Text(200, RenderRecommendations(r, tasks, batch), "application/json");
  };
  if (!request->commit) return responder.Send(answer(*recs, {}));
  auto shared = std::make_shared<std::vector<dispatch::Recommendation>>(std::move(*recs));
  auto out = std::make_shared<http::Responder>(std::move(responder));
  service.Commit(*shared, [out, shared, answer](core::Result<std::vector<std::string>> ids) {
    if (!ids) return out->Send(Failure(ids.error()));
    out->Send(answer(*shared, *ids));
  });
}

void FhirApi::CompartmentSearch(Context& ctx, http::Responder& responder,
                                const std::string& patient_id, const std::string& type) {
  if (auto bound = ctx.principal().PatientBinding(); bound && *bound != patient_id) {
    return responder.Send(Failure(NotVisible("Patient", patient_id)));
  }
  if (!SharedWith(*ctx.access, std::span(&patient_id, 1))) {
    return responder.Send(Failure(NotVisible("Patient", patient_id)));
  }
  auto reply = records_.Search(type, ctx.params, ctx.strict, patient_id);
  if (!reply) return responder.Send(Failure(reply.error()));
  SendSearchset(ctx, responder, fmt::format("/Patient/{}/{}", patient_id, type), *reply);
}

void FhirApi::Everything(Context& ctx, http::Responder& responder, const std::string& patient_id) {
  if (auto bound = ctx.principal().PatientBinding(); bound && *bound != patient_id) {
    return responder.Send(Failure(NotVisible("Patient", patient_id)));
  }
  if (!SharedWith(*ctx.access, std::span(&patient_id, 1))) {
    return responder.Send(Failure(NotVisible("Patient", patient_id)));
  }
  auto reply = records_.Everything(patient_id, ctx.params, ctx.strict);
  if (!reply) return responder.Send(Failure(reply.error()));
  SendSearchset(ctx, responder, fmt::format("/Patient/{}/$everything", patient_id), *reply);
}

void FhirApi::SendSearchset(Context& ctx, http::Responder& responder, const std::string& path,
                            records::SearchReply& reply_ref) {
  records::SearchReply* reply = &reply_ref;
  store::SearchPage& page = reply->page;
  // Only what the policy passes goes out: matches (a search of a type the token may search can
  // still reach records it may not see) and included resources alike.
  auto hidden = [&](const store::VersionRecord& r) { return !Visible(ctx, r); };
  size_t before = page.resources.size() + page.included.size();
  std::erase_if(page.resources, hidden);
  std::erase_if(page.included, hidden);
  if (Restricted(ctx.principal())) {
    // Whether anything was withheld, and how much, would tell what exists: a restricted token
    // gets no total and no warning, filtered or not.
    page.total.reset();
  } else if (page.resources.size() + page.included.size() < before) {
    page.total.reset();
    reply->ignored.push_back("some resources were left out: this token may not see them");
  }
  size_t bytes = 0;
  for (const auto& r : page.resources) bytes += r.body.size() + 128;
  std::string out = BundleHeader("searchset");
  out.reserve(bytes + 1024);
  if (page.total) out += fmt::format(",\"total\":{}", *page.total);
  std::vector<PageLink> links;
  if (page.next_cursor) links.push_back({"next", {"_cursor", *page.next_cursor}});
  if (page.prev_cursor) links.push_back({"previous", {"_cursor", *page.prev_cursor}});
  AppendLinksAndOpenEntries(out, ctx.base, path, reply->applied, std::move(links));
  bool first = true;
  ResultShaper shaper(records_.definitions(), reply->summary, reply->elements);
  for (const auto& r : page.resources) {
    OpenEntry(out, first, ctx.base, r);
    out += ",\"resource\":";
    shaper.Append(r, out);
    out += ",\"search\":{\"mode\":\"match\"}}";
  }
  shaper.ReportUnknownElements(reply->ignored);
  for (const auto& r : page.included) {
    OpenEntry(out, first, ctx.base, r);
    out += ",\"resource\":";
    out += r.body;
    out += ",\"search\":{\"mode\":\"include\"}}";
  }
  if (page.included_truncated) {
    reply->ignored.push_back(fmt::format(
        "more resources matched _include/_revinclude than one page carries ({}); the rest were "
        "left out",
        page.included.size()));
  }
  if (!reply->ignored.empty()) {
    if (!first) out += ",";
    std::string msg;
    for (const auto& m : reply->ignored) msg += (msg.empty() ? "" : "; ") + m;
    out += "{\"resource\":";
    out += fhir::OperationOutcomeJson("warning", "not-supported", msg);
    out += ",\"search\":{\"mode\":\"outcome\"}}";
  }
  CloseEntries(out);
  http::Response r;
  r.content_type = ctx.content_type;
  r.body = std::move(out);
  responder.Send(std::move(r));
}

void FhirApi::History(Context& ctx, http::Responder& responder, const std::string& type,
                      const std::string& id) {
  auto reply = records_.History(type, id, ctx.params);
  if (!reply) return responder.Send(Failure(reply.error()));
  const bool had_entries = !reply->page.entries.empty();
  std::erase_if(reply->page.entries, [&](const store::VersionRecord& e) {
    // A deletion shows to whoever may see the version it deleted (PatientsOfRecord).
    return !Visible(ctx, e);
  });
  if (had_entries && reply->page.entries.empty() && !id.empty() && Restricted(ctx.principal())) {
    return responder.Send(Failure(NotVisible(type, id)));
  }
  if (!id.empty() && reply->page.entries.empty()) {
    // An instance that never existed: 404 rather than an empty history.
    auto exists = records_.VRead(type, id, "1");
    if (!exists && exists.error().code() == core::Code::kNotFound) {
      return responder.Send(Failure(exists.error()));
    }
  }
  const store::HistoryPage& page = reply->page;
  std::string path = type.empty() ? "/_history"
                     : id.empty() ? fmt::format("/{}/_history", type)
                                  : fmt::format("/{}/{}/_history", type, id);
  size_t bytes = 0;
  for (const auto& e : page.entries) bytes += e.body.size() + 256;
  std::string out = BundleHeader("history");
  out.reserve(bytes + 1024);
  std::vector<PageLink> links;
  if (page.next_before_seq) {
    links.push_back({"next", {"_before_seq", std::to_string(*page.next_before_seq)}});
  }
  AppendLinksAndOpenEntries(out, ctx.base, path, reply->applied, std::move(links));
  bool first = true;
  for (const auto& e : page.entries) {
    OpenEntry(out, first, ctx.base, e);
    if (!e.deleted()) {
      out += ",\"resource\":";
      out += e.body;
    }
    std::string_view method = e.operation == store::Operation::kCreate   ? "POST"
                              : e.operation == store::Operation::kDelete ? "DELETE"
                                                                         : "PUT";
    std::string url = e.operation == store::Operation::kCreate ? e.type : e.type + "/" + e.id;
    int status = e.operation == store::Operation::kDelete   ? 204
                 : e.operation == store::Operation::kUpdate ? 200
                                                            : 201;
    out += fmt::format(",\"request\":{{\"method\":\"{}\",\"url\":", method);
    json::WriteString(url, out);
    out += fmt::format("}},\"response\":{{\"status\":\"{}\",\"etag\":", StatusLine(status));
    json::WriteString(ETag(e.version), out);
    out += fmt::format(",\"lastModified\":\"{}\"}}}}", core::FormatInstant(e.last_updated));
  }
  CloseEntries(out);
  http::Response r;
  r.content_type = ctx.content_type;
  r.body = std::move(out);
  responder.Send(std::move(r));
}

namespace {

std::string_view EntryStatus(const records::BundleEntryReply& e) {
  switch (e.outcome) {
    case store::WriteOutcome::kCreated:
      return "201 Created";
    case store::WriteOutcome::kUpdated:
      return "200 OK";
    case store::WriteOutcome::kExisting:
      return "200 OK";
    case store::WriteOutcome::kDeleted:
      return "204 No Content";
    case store::WriteOutcome::kNoChange:
      return "204 No Content";
  }
  return "200 OK";
}

}  // namespace

namespace {

// Keeps the response of a request answered inside the server (a Bundle's GET entry).
class CapturedResponse final : public http::Responder::Sink {
 public:
  void Complete(http::Response response) override {
    if (!response_) response_ = std::move(response);
  }
  std::optional<http::Response> response_;
};

}  // namespace

http::Response FhirApi::AnswerBundleRead(std::string_view url, Context& parent) {
  const std::string& base = parent.base;
  // request.url is relative to the base ("Patient/1", "Patient?name=x"); the server's own
  // absolute URL is accepted too, another server's is not.
  if (url.starts_with(base + "/")) url.remove_prefix(base.size());
  if (url.find("://") != std::string_view::npos) {
    return Outcome(
        400, core::InvalidArgument(fmt::format(
                 "GET '{}': a Bundle entry may only read from this server", std::string(url))));
  }
  while (url.starts_with('/')) url.remove_prefix(1);
  http::Request sub;
  sub.method = "GET";
  sub.target = "/" + std::string(url);
  sub.headers.emplace_back("accept", "application/fhir+json");
  auto segs = SplitPath(sub.path());
  // Reads, searches, history and $everything; not the bulk operations, which start jobs.
  bool bulk = std::any_of(segs.begin(), segs.end(), [](std::string_view seg) {
    return seg.find("export") != std::string_view::npos &&
           (seg.starts_with('$') || seg.starts_with("%24"));
  });
  if (segs.empty() || bulk) {
    return Outcome(400, core::InvalidArgument(fmt::format(
                            "GET '{}' is not a read, search or $everything", std::string(url))));
  }
  // The entry is decided by the same routes and policy as a GET of its own, as the Bundle's
  // requester; what it reaches joins the Bundle's audit entry. The requester's access record
  // stands in for the entry's own, whose interaction name it must not overwrite.
  Access entry_access;
  entry_access.principal = parent.access->principal;
  std::shared_ptr<Access> borrowed(std::shared_ptr<Access>(), &entry_access);
  Context ctx{sub,       base,    records::ParseQueryString(sub.query()), {}, parent.strict,
              kFhirJson, borrowed};
  auto sink = std::make_shared<CapturedResponse>();
  {
    // GET routes answer before they return (their store calls block), so the response is
    // captured by the time this Responder goes (unanswered, it would give 500).
    http::Responder responder(sink);
    RouteMatch m = MatchRoute(
        "GET", sub.path(), [this](std::string_view type) { return records_.IsResourceType(type); });
    if (!m.route || !m.route->fhir) {
      responder.Send(m.route ? Outcome(400, core::InvalidArgument(fmt::format(
                                                "GET '{}' is not a FHIR read", std::string(url))))
                             : NoRoute(sub, m.status));
    } else if (core::Status s = CheckGuard(*m.route, m, entry_access.principal.get()); !s.ok()) {
      responder.Send(Failure(s));
    } else {
      Dispatch(ctx, responder, m);
    }
  }
  Access& into = *parent.access;
  for (std::string& p : entry_access.patients) into.AddPatient(std::move(p));
  for (std::string& r : entry_access.resources) {
    if (into.resources.size() < 20) into.resources.push_back(std::move(r));
  }
  return std::move(*sink->response_);
}

void FhirApi::Bundle(Context& ctx, http::Responder responder) {
  if (!AcceptableBodyType(ctx.request)) {
    return responder.Send(
        Outcome(415, core::Unsupported("send the Bundle as application/fhir+json")));
  }
  // With GET entries the callback runs on this thread after the writes (ProcessBundle), where
  // the reads can be answered.
  records::WriteControl control = ControlFor(ctx, /*rest_write=*/false);
  records_.ProcessBundle(
      ctx.request.body,
      [this, responder = std::make_shared<http::Responder>(std::move(responder)),
       prefer = std::string(ctx.prefer_return), ct = ctx.content_type, base = ctx.base,
       &ctx](core::Result<records::BundleReply> reply) mutable {
        if (!reply) return responder->Send(Failure(reply.error()));
        std::string out =
            BundleHeader(reply->transaction ? "transaction-response" : "batch-response");
        out += ",\"entry\":[";
        bool first = true;
        for (const records::BundleEntryReply& e : reply->entries) {
          if (!first) out += ",";
          first = false;
          out += "{";
          if (!e.read_url.empty()) {
            // GET entries are answered on the request's thread (ProcessBundle), while `ctx`
            // is alive.
            http::Response r = AnswerBundleRead(e.read_url, ctx);
            const bool json_body = !r.body.empty() && r.body.front() == '{';
            const bool ok = r.status < 300;
            if (ok && json_body) out += "\"resource\":" + r.body + ",";
            out += fmt::format("\"response\":{{\"status\":\"{}\"", StatusLine(r.status));
            for (const auto& [name, value] : r.headers) {
              if (name == "ETag") {
                out += ",\"etag\":";
                json::WriteString(value, out);
              }
            }
            if (!ok && json_body) out += ",\"outcome\":" + r.body;
            out += "}}";
            continue;
          }
          if (!e.status.ok()) {
            out += fmt::format("\"response\":{{\"status\":\"{}\",\"outcome\":",
                               StatusLine(HttpStatusFor(e.status.code())));
            out += fhir::OperationOutcomeJson(e.status);
            out += "}}";
            continue;
          }
          const store::VersionRecord& r = e.record;
          bool has_version = r.version > 0 && !r.id.empty();
          if (has_version) {
            out += "\"fullUrl\":";
            json::WriteString(fmt::format("{}/{}/{}", base, r.type, r.id), out);
            if (!r.body.empty() && prefer != "minimal") {
              out += ",\"resource\":";
              out += r.body;
            }
            out += ",";
          }
          out += fmt::format("\"response\":{{\"status\":\"{}\"", EntryStatus(e));
          if (has_version && !r.deleted()) {
            out += fmt::format(",\"location\":\"{}/{}/_history/{}\"", r.type, r.id, r.version);
          }
          if (has_version) {
            out += fmt::format(",\"etag\":\"W/\\\"{}\\\"\",\"lastModified\":\"{}\"", r.version,
                               core::FormatInstant(r.last_updated));
          }
          out += "}}";
        }
        out += "]}";
        http::Response res;
        res.content_type = ct;
        res.body = std::move(out);
        responder->Send(std::move(res));
      },
      control);
}

void FhirApi::AuditLog(Context& ctx, http::Responder& responder, const std::string& id) {
  const security::Principal& who = ctx.principal();
  store::AuditQuery query;
  // The administrator (privacy officer) sees the whole log; a patient-bound token sees who
  // touched its own patient's record, and nothing else.
  std::optional<std::string_view> bound = ctx.principal().PatientBinding();
  if (core::Status s = security::CheckAuditLogReader(who, !id.empty()); !s.ok()) {
    return responder.Send(Failure(s));
  }
  if (!id.empty()) {
    int64_t seq = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), seq);
    if (ec != std::errc() || end != id.data() + id.size() || seq <= 0) {
      return responder.Send(Failure(NotVisible("AuditEvent", id)));
    }
    query.seq = seq;
    if (bound) query.patient = std::string(*bound);
  } else {
    for (const auto& [name, value] : ctx.params) {
      if (name == "patient") {
        std::string_view v = value;
        if (v.starts_with("Patient/")) v.remove_prefix(8);
        query.patient = std::string(v);
      } else if (name == "_count") {
        size_t n = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || n == 0) {
          return responder.Send(
              Failure(core::InvalidArgument("_count must be a positive integer")));
        }
        query.count = std::min<size_t>(n, records_.options().max_page_size);
      } else if (name == "_before") {
        auto [end, ec] =
            std::from_chars(value.data(), value.data() + value.size(), query.before_seq);
        if (ec != std::errc()) {
          return responder.Send(Failure(core::InvalidArgument("_before is a paging cursor")));
        }
      } else if (name != "_format" && ctx.strict) {
        return responder.Send(Failure(core::InvalidArgument(
            fmt::format("AuditEvent search supports patient and _count, not '{}'", name))));
      }
    }
    if (bound) {
      if (!query.patient.empty() && query.patient != *bound) {
        return responder.Send(Failure(core::PermissionDenied(
            "this token may see only the audit entries of its own patient's record")));
      }
      query.patient = std::string(*bound);
    }
  }
  auto page = store_.AuditSearch(query);
  if (!page) return responder.Send(Failure(page.error()));
  // The log keeps the facts; the AuditEvent is rendered from them, its id the log's sequence
  // number.
  std::vector<std::string> events;
  for (const store::AuditRecord& r : page->entries) {
    // Entries written before the log kept compact records hold the AuditEvent itself.
    constexpr std::string_view kRendered = R"({"resourceType":"AuditEvent",)";
    if (r.event.starts_with(kRendered)) {
      events.push_back(fmt::format(R"({}"id":"{}",{})", kRendered, r.seq,
                                   std::string_view(r.event).substr(kRendered.size())));
      continue;
    }
    auto access = security::DecodeAccessRecord(r.event);
    if (!access) {
      return responder.Send(Failure(core::Internal(
          fmt::format("audit entry {} is unreadable: run `medulla audit verify`", r.seq))));
    }
    access->recorded = r.recorded;
    events.push_back(security::RenderAuditEvent(*access, std::to_string(r.seq)));
  }
  if (!id.empty()) {
    if (events.empty()) return responder.Send(Failure(NotVisible("AuditEvent", id)));
    http::Response r;
    r.content_type = ctx.content_type;
    r.body = std::move(events.front());
    return responder.Send(std::move(r));
  }
  std::string out = BundleHeader("searchset");
  records::QueryParams applied;
  if (!query.patient.empty()) applied.emplace_back("patient", query.patient);
  applied.emplace_back("_count", std::to_string(query.count));
  std::vector<PageLink> links;
  if (page->next_before_seq) {
    links.push_back({"next", {"_before", std::to_string(*page->next_before_seq)}});
  }
  AppendLinksAndOpenEntries(out, ctx.base, "/AuditEvent", applied, std::move(links));
  for (size_t i = 0; i < events.size(); ++i) {
    if (i) out += ",";
    out += "{\"fullUrl\":";
    json::WriteString(fmt::format("{}/AuditEvent/{}", ctx.base, page->entries[i].seq), out);
    out += ",\"resource\":";
    out += events[i];
    out += ",\"search\":{\"mode\":\"match\"}}";
  }
  CloseEntries(out);
  http::Response r;
  r.content_type = ctx.content_type;
  r.body = std::move(out);
  responder.Send(std::move(r));
}

void FhirApi::SmartConfiguration(Context& ctx, http::Responder& responder) {
  // SMART App Launch 2.x, "Conformance": what a client needs to get a token here.
  std::string base = ctx.base;
  std::string out = "{\"issuer\":";
  json::WriteString(options_.issuer, out);
  out += ",\"token_endpoint\":";
  json::WriteString(base + "/auth/token", out);
  out += R"(,"grant_types_supported":["client_credentials"],)"
         R"("token_endpoint_auth_methods_supported":["private_key_jwt"],)"
         R"("token_endpoint_auth_signing_alg_values_supported":["RS256","ES256"],)"
         R"("scopes_supported":["system/*.cruds","system/*.rs","user/*.cruds","patient/*.rs"],)"
         R"("capabilities":["client-confidential-asymmetric","permission-v1","permission-v2",)"
         R"("permission-patient","permission-user"],"code_challenge_methods_supported":["S256"]})";
  http::Response r;
  r.content_type = "application/json";
  r.body = std::move(out);
  responder.Send(std::move(r));
}

}  // namespace medulla::api
