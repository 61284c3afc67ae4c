// medulla token: mints a signed access token with the data directory's key, for operators and
// tests. The token is the last line of stdout; what it grants goes to stderr.
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/security_setup.h"
#include "core/time.h"
#include "security/access_token.h"
#include "security/principal.h"

namespace medulla::cli {

int RunToken(const TokenArgs& args) {
  auto config = LoadConfig(args.config);
  if (!config) {
    std::fprintf(stderr, "medulla token: %s\n", config.error().message().c_str());
    return 2;
  }
  if (args.data_dir) config->data_dir = *args.data_dir;
  auto role = security::ParseRole(args.role);
  if (!role) {
    std::fprintf(stderr,
                 "medulla token: unknown role '%s' (admin, clinician, patient, device, "
                 "dispatcher, analyst)\n",
                 args.role.c_str());
    return 2;
  }
  if ((*role == security::Role::kPatient || *role == security::Role::kDevice) &&
      args.patient.empty()) {
    std::fprintf(stderr, "medulla token: a %s token needs --patient ID\n", args.role.c_str());
    return 2;
  }
  if (args.expires <= 0 || args.expires > config->security.max_token_lifetime_seconds) {
    std::fprintf(stderr, "medulla token: --expires must be 1 to %lld seconds\n",
                 static_cast<long long>(config->security.max_token_lifetime_seconds));
    return 2;
  }
  auto setup = SetUpSecurity(*config);
  if (!setup) {
    std::fprintf(stderr, "medulla token: %s\n", setup.error().message().c_str());
    return 1;
  }
  std::string scope = args.scope.empty() ? std::string(security::DefaultScopes(*role)) : args.scope;
  security::ScopeSet granted =
      security::ScopeSet::Parse(scope).Intersect(security::RoleCeiling(*role));
  security::AccessTokenGrant grant{
      .issuer = setup->issuer,
      .audience = setup->audience,
      .subject = args.subject.empty() ? fmt::format("cli:{}", args.role) : args.subject,
      .client_id = "medulla-cli",
      .role = *role,
      .scope = scope,
      .patient = args.patient,
      .organization = args.organization,
      .purpose_of_use = args.purpose,
      .lifetime_seconds = args.expires,
  };
  auto token = security::MintAccessToken(setup->keys.signing, grant,
                                         core::SystemClock::Instance().Now() / 1000000);
  if (!token) {
    std::fprintf(stderr, "medulla token: %s\n", token.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "role %s, scopes granted: %s; expires in %lld s\n",
               std::string(security::RoleName(*role)).c_str(), granted.ToString().c_str(),
               static_cast<long long>(args.expires));
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace medulla::cli
