// SMART App Launch scopes (v2, with the v1 forms): what a token lets its holder do, per
// resource type and interaction.
// https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medulla::security {

// SMART v2's interaction letters, as bits: c r u d s.
enum Interaction : uint8_t {
  kCreate = 1,
  kRead = 2,
  kUpdate = 4,
  kDelete = 8,
  kSearch = 16,
};
constexpr uint8_t kAllInteractions = kCreate | kRead | kUpdate | kDelete | kSearch;

// The SMART v2 letter of one interaction: c, r, u, d or s.
char InteractionLetter(Interaction interaction);

// patient/: the data of the patient in the token's context; user/: what the user may see;
// system/: a backend service, no user.
enum class ScopeContext : uint8_t { kPatient, kUser, kSystem };

struct Scope {
  ScopeContext context = ScopeContext::kUser;
  std::string type;  // a resource type, or "*"
  uint8_t interactions = 0;
};

class ScopeSet {
 public:
  // Parses a space-separated scope string. Clinical scopes in v2 form ("patient/Observation.rs",
  // "user/*.cruds", "system/*.r") and v1 form (".read" = rs, ".write" = cud, ".*" = all) are
  // kept; the rest (openid, fhirUser, launch, offline_access) is not about data access and is
  // skipped, as are v2 granular scopes with a query ("...rs?category=x"), which this server
  // does not implement: refusing to widen is the safe reading.
  static ScopeSet Parse(std::string_view text);

  // Whether some scope grants `interaction` on `type`.
  bool Allows(std::string_view type, Interaction interaction) const;
  // Whether every data scope is patient-level (the token is bound to its patient's data).
  bool PatientLevelOnly() const;
  bool HasSystemScope() const;
  bool empty() const { return scopes_.empty(); }
  const std::vector<Scope>& scopes() const { return scopes_; }
  // Keeps only what `ceiling` also grants (per type and interaction); used to bound a token's
  // requested scopes by its role.
  ScopeSet Intersect(const ScopeSet& ceiling) const;
  // The scopes back in v2 text form, space-separated.
  std::string ToString() const;

  void Add(Scope scope) { scopes_.push_back(std::move(scope)); }

 private:
  std::vector<Scope> scopes_;
};

}  // namespace medulla::security
