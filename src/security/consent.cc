#include "security/consent.h"

#include <algorithm>

#include <fmt/format.h>

#include "json/value.h"

namespace medulla::security {
namespace {

constexpr std::string_view kConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope";
constexpr size_t kMaxDepth = 8;  // nested provisions read; deeper ones are an error

bool HasCoding(const json::Value* codeable, std::string_view system, std::string_view code) {
  if (!codeable || !codeable->is_object()) return false;
  const json::Value* codings = codeable->Find("coding");
  if (!codings || !codings->is_array()) return false;
  return std::any_of(codings->items().begin(), codings->items().end(), [&](const json::Value* c) {
    return c->is_object() && c->StringOr("system") == system && c->StringOr("code") == code;
  });
}

core::Result<ConsentRule> ReadRule(const json::Value& p, std::string_view consent_id,
                                   size_t depth) {
  if (depth > kMaxDepth) {
    return core::Fail(core::InvalidArgument(
        fmt::format("Consent/{}: provisions nest deeper than {}", consent_id, kMaxDepth)));
  }
  ConsentRule rule;
  std::string_view type = p.StringOr("type");
  if (type != "permit" && type != "deny") {
    return core::Fail(core::InvalidArgument(
        fmt::format("Consent/{}: provision.type must be permit or deny", consent_id)));
  }
  rule.permit = type == "permit";
  if (const json::Value* period = p.Find("period"); period && period->is_object()) {
    for (auto [name, slot] : {std::pair{"start", &rule.period_begin}, {"end", &rule.period_end}}) {
      std::string_view text = period->StringOr(name);
      if (text.empty()) continue;
      auto range = core::ParseFhirDateTimeRange(text);
      if (!range) {
        return core::Fail(core::InvalidArgument(
            fmt::format("Consent/{}: provision.period.{} is not a date", consent_id, name)));
      }
      // The start counts from its first instant, the end to its last.
      *slot = std::string_view(name) == "start" ? range->begin : range->end;
    }
  }
  if (const json::Value* actors = p.Find("actor"); actors && actors->is_array()) {
    for (const json::Value* a : actors->items()) {
      const json::Value* ref = a->is_object() ? a->Find("reference") : nullptr;
      std::string_view r = ref && ref->is_object() ? ref->StringOr("reference") : "";
      if (r.empty()) continue;
      rule.names_actors = true;
      if (r.find("Organization/") != std::string_view::npos) {
        rule.organizations.push_back(OrganizationId(r));
      }
    }
  }
  if (const json::Value* purposes = p.Find("purpose"); purposes && purposes->is_array()) {
    for (const json::Value* c : purposes->items()) {
      if (c->is_object() && !c->StringOr("code").empty()) {
        rule.purposes.emplace_back(c->StringOr("code"));
      }
    }
  }
  if (const json::Value* nested = p.Find("provision"); nested && nested->is_array()) {
    for (const json::Value* n : nested->items()) {
      if (!n->is_object()) continue;
      ASSIGN_OR_RETURN(ConsentRule exception, ReadRule(*n, consent_id, depth + 1));
      rule.exceptions.push_back(std::move(exception));
    }
  }
  return rule;
}

bool Applies(const ConsentRule& rule, std::string_view organization,
             const std::vector<std::string>& purposes, core::MicrosSinceEpoch now) {
  if (rule.period_begin && now < rule.period_begin) return false;
  if (rule.period_end && now >= rule.period_end) return false;
  if (rule.names_actors && std::find(rule.organizations.begin(), rule.organizations.end(),
                                     organization) == rule.organizations.end()) {
    return false;
  }
  if (!rule.purposes.empty() &&
      std::none_of(rule.purposes.begin(), rule.purposes.end(), [&](const std::string& p) {
        return std::find(purposes.begin(), purposes.end(), p) != purposes.end();
      })) {
    return false;
  }
  return true;
}

// The deepest applicable rule under (and including) `rule`; null when `rule` does not apply.
const ConsentRule* Deciding(const ConsentRule& rule, std::string_view organization,
                            const std::vector<std::string>& purposes, core::MicrosSinceEpoch now) {
  if (!Applies(rule, organization, purposes, now)) return nullptr;
  for (const ConsentRule& e : rule.exceptions) {
    if (const ConsentRule* deeper = Deciding(e, organization, purposes, now)) return deeper;
  }
  return &rule;
}

}  // namespace

std::string OrganizationId(std::string_view reference) {
  constexpr std::string_view kPrefix = "Organization/";
  if (size_t at = reference.rfind(kPrefix); at != std::string_view::npos) {
    reference.remove_prefix(at + kPrefix.size());
  }
  if (size_t h = reference.find("/_history/"); h != std::string_view::npos) {
    reference = reference.substr(0, h);
  }
  return std::string(reference);
}

bool IsEmergencyPurpose(std::string_view code) {
  return code == "ETREAT" || code == "BTG";
}

core::Result<std::optional<PatientConsent>> ReadConsent(const json::Value& consent,
                                                        core::MicrosSinceEpoch stored_at) {
  if (!consent.is_object() || consent.StringOr("resourceType") != "Consent") {
    return core::Fail(core::InvalidArgument("not a Consent"));
  }
  if (consent.StringOr("status") != "active") return std::optional<PatientConsent>{};
  if (!HasCoding(consent.Find("scope"), kConsentScope, "patient-privacy")) {
    return std::optional<PatientConsent>{};
  }
  const json::Value* provision = consent.Find("provision");
  if (!provision || !provision->is_object() || provision->StringOr("type").empty()) {
    return std::optional<PatientConsent>{};
  }
  PatientConsent out;
  out.id = std::string(consent.StringOr("id"));
  if (const json::Value* patient = consent.Find("patient"); patient && patient->is_object()) {
    std::string_view ref = patient->StringOr("reference");
    if (size_t slash = ref.rfind("Patient/"); slash != std::string_view::npos) {
      out.patient = std::string(ref.substr(slash + 8));
    }
  }
  out.when = stored_at;
  if (std::string_view when = consent.StringOr("dateTime"); !when.empty()) {
    if (auto range = core::ParseFhirDateTimeRange(when)) out.when = range->begin;
  }
  ASSIGN_OR_RETURN(out.provision, ReadRule(*provision, out.id, 0));
  return std::optional<PatientConsent>(std::move(out));
}

SharingDecision DecideSharing(const Principal& clinician, std::string_view managing_organization,
                              std::span<const PatientConsent> consents, SharingDefault fallback,
                              core::MicrosSinceEpoch now) {
  const std::string own = OrganizationId(clinician.organization);
  const bool managed_here = !own.empty() && own == managing_organization;
  // The most recent consent in force governs.
  const PatientConsent* governing = nullptr;
  for (const PatientConsent& c : consents) {
    if (!governing || c.when > governing->when ||
        (c.when == governing->when && c.id > governing->id)) {
      governing = &c;
    }
  }
  SharingDecision d;
  const ConsentRule* rule =
      governing ? Deciding(governing->provision, own, clinician.purpose_of_use, now) : nullptr;
  if (rule && !rule->permit && managed_here && !rule->names_actors) {
    // A general "do not share" does not cut the patient off from the organisation that
    // manages their care; only a denial naming it does.
    rule = nullptr;
  }
  if (rule) {
    d.allowed = rule->permit;
    d.reason = fmt::format("Consent/{} {}", governing->id, rule->permit ? "permits" : "denies");
  } else if (managed_here) {
    d.allowed = true;
    d.reason = "managing organisation";
  } else {
    d.allowed = fallback == SharingDefault::kOptOut;
    d.reason = d.allowed ? "no consent; shared by default (opt-out)"
                         : "no consent sharing with this organisation (opt-in)";
  }
  if (!d.allowed && clinician.role == Role::kClinician &&
      std::any_of(clinician.purpose_of_use.begin(), clinician.purpose_of_use.end(),
                  [](const std::string& p) { return IsEmergencyPurpose(p); })) {
    d.allowed = true;
    d.break_glass = true;
    d.reason = "break-glass (emergency purpose of use) over: " + d.reason;
  }
  return d;
}

}  // namespace medulla::security
