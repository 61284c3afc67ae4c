// The REST face of medulla: FHIR R4 interactions over the record service, plus the operational
// endpoints (/healthz, /readyz, /metrics). Parses requests, calls records::RecordService and
// renders FHIR JSON; the only module that knows both HTTP and FHIR.
#pragma once

#include <atomic>
#include <span>
#include <string>

#include "api/routes.h"
#include "bulk/export.h"
#include "core/metrics.h"
#include "http/message.h"
#include "http/websocket.h"
#include "records/record_service.h"
#include "security/authenticator.h"
#include "security/consent.h"
#include "security/principal.h"
#include "security/rate_limiter.h"
#include "security/token_service.h"
#include "store/store.h"

namespace medulla::rpm {
class MonitorService;
}
namespace medulla::routing {
class Router;
}
namespace medulla::dispatch {
class DispatchService;
}
namespace medulla::subscriptions {
class SubscriptionService;
}

namespace medulla::api {

struct ApiOptions {
  // The server's base URL for fullUrl/Location/links. Empty: "http://" + the request's Host.
  std::string base_url;
  std::string version = "0.0.0";
  // Verifies bearer tokens. nullptr: security is off (`security.enabled = false`, loopback
  // only): every request acts as an administrator; it is still audited.
  const security::Authenticator* authenticator = nullptr;
  std::string issuer;  // for /.well-known/smart-configuration
  // The built-in token endpoint (POST /auth/token). nullptr: none (security off).
  security::TokenService* token_service = nullptr;
  // Whether patients without a consent are shared across organisations (security/consent.h).
  security::SharingDefault sharing_default = security::SharingDefault::kOptIn;
  // false (security off, for the benchmark reference only): no audit entries.
  bool audit = true;
  // Request rates (security/rate_limiter.h), answered 429 with Retry-After past them: a client
  // with a valid token by its client id and subject (administrators, the operators, are not
  // limited);
  // requests without a valid token and token requests by the caller's address. nullptr: none.
  security::RateLimiter* client_rate = nullptr;
  security::RateLimiter* address_rate = nullptr;
  // Remote patient monitoring (POST /telemetry; readings searchable as Observation). nullptr:
  // POST /telemetry answers 501.
  rpm::MonitorService* monitoring = nullptr;
  // FHIR Subscriptions (Subscription writes are checked by it; $status, $get-ws-binding-token,
  // the websocket at /websocket). nullptr: Subscriptions are stored but nothing is delivered.
  subscriptions::SubscriptionService* subscriptions = nullptr;
  // Ambulance routing (/routing/*). nullptr: no road graph was imported; they answer 501.
  routing::Router* router = nullptr;
  // Dispatch (/dispatch/*, $dispatch-recommend). nullptr: they answer 501.
  dispatch::DispatchService* dispatch = nullptr;
};

class FhirApi {
 public:
  // `exports` may be null: then $export answers 501.
  FhirApi(records::RecordService& records, store::Store& store, core::MetricsRegistry& metrics,
          ApiOptions options, bulk::ExportManager* exports = nullptr);

  // The http::Handler. Thread-safe.
  void Handle(http::Request& request, http::Responder responder);

  // The http::WebSocketHandler: GET /websocket upgrades to the Subscriptions websocket channel.
  // A token in the upgrade's Authorization header that is an administrator's may bind by
  // subscription id; without one, a client binds with a token from $get-ws-binding-token.
  std::variant<http::Response, std::shared_ptr<http::WebSocketPeer>> WebSocket(
      const http::Request& request, std::shared_ptr<http::WebSocketConnection> connection);

  // /readyz answers 200 only while ready (false during start-up and shutdown).
  void SetReady(bool ready) { ready_.store(ready); }

  // A FHIR OperationOutcome response for errors the HTTP server raises itself.
  static http::Response ErrorResponse(int status, std::string_view message);

 private:
  struct Context;
  struct Access;
  class AuditingSink;
  // The handler of a matched route, after its guard passed.
  void Dispatch(Context& ctx, http::Responder& responder, const RouteMatch& match);
  // The route's guard (routes.h) for this principal (null: no valid token).
  core::Status CheckGuard(const RouteInfo& route, const RouteMatch& match,
                          const security::Principal* who) const;
  http::Response NoRoute(const http::Request& request, int status) const;
  // The base URL links name: options_.base_url, else the scheme and the request's Host.
  std::string BaseUrl(const http::Request& request) const;
  // A request's audit record with who-asks-what filled in from the request.
  static std::shared_ptr<Access> NewAccess(const http::Request& request);
  // Whether the request is within its rate: `limiter` (may be null) for `key`. A 429 response
  // with Retry-After when it is not; not audited (a flood would fill the log).
  std::optional<http::Response> OverRate(security::RateLimiter* limiter, std::string_view key,
                                         bool oauth);
  // POST /auth/token (security/token_service.h).
  void TokenEndpoint(http::Request& request, http::Responder responder);
  // The policy's view of a stored resource: the patients it belongs to (a Patient: itself).
  std::vector<std::string> PatientsOfRecord(const store::VersionRecord& r) const;
  // Whether the requester may see `r` (its type's scope and its patient); a visible record's
  // patients join the request's audit entry.
  bool Visible(Context& ctx, const store::VersionRecord& r);
  // Whether the principal sees less than everything (not an administrator): such tokens get no
  // hints about what they cannot see (totals, 410 for others' deletions).
  static bool Restricted(const security::Principal& p);
  // The newest version that is not a deletion (a deleted resource's last content).
  std::optional<store::VersionRecord> LastStoredVersion(const std::string& type,
                                                        const std::string& id) const;
  // Whether a deleted resource answers 410 (its last version was visible) rather than 404.
  bool DeletionVisible(Context& ctx, const std::string& type, const std::string& id);
  // Whether a clinician's organisation may see these patients' data (security/consent.h);
  // true for every other role. Marks the access break-glass when that is what let it through.
  bool SharedWith(Access& access, std::span<const std::string> patients);
  // The consent decision for one patient, cached for the request.
  security::SharingDecision Sharing(Access& access, const std::string& patient);
  // A clinician's write: the record now there and the patients the content names must be
  // shared with them; Patient resources only within their own organisation.
  core::Status CheckClinicianWrite(Access& access, const store::Write& w,
                                   const std::vector<std::string>& patients);
  // The policy check and audit renderer of the request's writes. `rest_write`: one REST
  // create, update or delete, whose unit carries the request's only audit entry.
  records::WriteControl ControlFor(Context& ctx, bool rest_write);
  store::AuditEntry AuditEntryFor(const Access& access, int status, std::string_view outcome,
                                  std::vector<std::string> patients,
                                  std::vector<std::string> resources) const;
  // GET AuditEvent and AuditEvent/id: the audit log (admin; a patient: entries naming them).
  void AuditLog(Context& ctx, http::Responder& responder, const std::string& id);
  void SmartConfiguration(Context& ctx, http::Responder& responder);
  void Read(Context& ctx, http::Responder& responder, const std::string& type,
            const std::string& id);
  void VRead(Context& ctx, http::Responder& responder, const std::string& type,
             const std::string& id, const std::string& version);
  // The reply callback of a REST create, update or delete: a failure is answered as such (and a
  // failed commit, which took the write's audit entry with it, has the response audited
  // instead: Access::UnmarkIfStoreFailed), a success as `render` says.
  records::WriteCallback ReplyToWrite(Context& ctx, http::Responder responder,
                                      std::function<http::Response(records::WriteReply&)> render);
  void Create(Context& ctx, http::Responder responder, const std::string& type);
  void Update(Context& ctx, http::Responder responder, const std::string& type,
              const std::string& id);
  void Delete(Context& ctx, http::Responder responder, const std::string& type,
              const std::string& id);
  // POST /telemetry: NDJSON device readings, each checked as an Observation create would be.
  void Telemetry(Context& ctx, http::Responder responder);
  // /routing/route, /routing/table, /routing/traffic (api/routing_api.h).
  void Routing(Context& ctx, http::Responder& responder, RouteId route);
  void Dispatching(Context& ctx, http::Responder responder, RouteId route);
  // A Subscription write: an administrator's, and one the subscription service can honour.
  core::Status CheckSubscriptionWrite(const security::Principal& who, const store::Write& w) const;
  // Subscription/ID/$status and $get-ws-binding-token.
  void SubscriptionOperation(Context& ctx, http::Responder& responder, RouteId route,
                             const std::string& id);
  // Device readings that match an Observation search (first page only), added to `reply`.
  void AddReadings(const records::QueryParams& params, records::SearchReply& reply) const;
  void Search(Context& ctx, http::Responder& responder, const std::string& type,
              const records::QueryParams& params);
  void CompartmentSearch(Context& ctx, http::Responder& responder, const std::string& patient_id,
                         const std::string& type);
  void Everything(Context& ctx, http::Responder& responder, const std::string& patient_id);
  // A searchset Bundle of the reply (matches, includes, paging links, warnings).
  void SendSearchset(Context& ctx, http::Responder& responder, const std::string& path,
                     records::SearchReply& reply);
  void History(Context& ctx, http::Responder& responder, const std::string& type,
               const std::string& id);
  void Metadata(Context& ctx, http::Responder& responder);
  void Bundle(Context& ctx, http::Responder responder);
  // A Bundle's GET entry: what a GET of `url` (relative to `base`) answers.
  http::Response AnswerBundleRead(std::string_view url, Context& parent);
  // Bulk Data: kick-off ($export at system, Patient, Group level), status, files.
  void ExportKickOff(Context& ctx, http::Responder& responder, bulk::ExportLevel level,
                     const std::string& group_id);
  void ExportStatus(Context& ctx, http::Responder& responder, const std::string& job_id);
  void ExportFile(Context& ctx, http::Responder& responder, const std::string& job_id,
                  const std::string& name);

  records::RecordService& records_;
  store::Store& store_;
  bulk::ExportManager* exports_;
  core::MetricsRegistry& metrics_;
  ApiOptions options_;
  std::atomic<bool> ready_{false};
  std::string capability_json_;  // built once: the definitions never change at run time
  std::shared_ptr<const security::Principal> operator_;  // who acts when security is off
  core::Counter& rate_limited_;
};

}  // namespace medulla::api
