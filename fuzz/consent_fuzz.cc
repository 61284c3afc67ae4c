// Fuzzes the security parsers that read stored or operator-supplied JSON: patient-privacy
// Consents (ReadConsent, then DecideSharing for a few principals) and the registered-clients
// file (ParseClients). Any crash, hang or sanitizer report is a bug, and so is:
// - a sharing decision that lets a clinician without break-glass through as break-glass, or a
//   break-glass decision that was not needed;
// - a clients file that parses but whose re-serialisation does not parse to the same clients.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "json/parse.h"
#include "security/client_registry.h"
#include "security/consent.h"

namespace {

namespace security = medulla::security;

void CheckConsent(const medulla::json::Value& root) {
  auto consent = security::ReadConsent(root, 1'700'000'000'000'000);
  if (!consent || !*consent) return;
  const security::PatientConsent& c = **consent;
  for (const char* org : {"", "a", "org-1", "Organization/b"}) {
    for (const char* purpose : {"", "TREAT", "ETREAT"}) {
      security::Principal p;
      p.role = security::Role::kClinician;
      p.organization = org;
      if (*purpose) p.purpose_of_use.emplace_back(purpose);
      for (const char* managing : {"", "a", "org-1"}) {
        for (auto fallback :
             {security::SharingDefault::kOptIn, security::SharingDefault::kOptOut}) {
          auto d = security::DecideSharing(p, managing, std::span(&c, 1), fallback,
                                           1'800'000'000'000'000);
          if (d.break_glass && (!d.allowed || !security::IsEmergencyPurpose(purpose))) std::abort();
        }
      }
    }
  }
}

void CheckClients(std::string_view text) {
  auto clients = security::ParseClients(text);
  if (!clients) return;
  auto again = security::ParseClients(security::SerializeClients(*clients));
  if (!again || again->size() != clients->size()) std::abort();
  for (size_t i = 0; i < clients->size(); ++i) {
    const auto& a = (*clients)[i];
    const auto& b = (*again)[i];
    if (a.client_id != b.client_id || a.role != b.role || a.scope != b.scope ||
        a.patient != b.patient || a.keys.size() != b.keys.size()) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto doc = medulla::json::Parse(text)) CheckConsent(*doc->root());
  CheckClients(text);
  return 0;
}
