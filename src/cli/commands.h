// The subcommands of `medulla`. Each returns the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace medulla::cli {

std::string_view VersionLine();

struct ServeArgs {
  std::optional<std::string> config;
  std::optional<std::string> data_dir;
  std::optional<std::string> listen;
  bool insecure_behind_proxy = false;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
};
int RunServe(const ServeArgs& args);

struct ImportArgs {
  std::string data_dir;
  std::vector<std::string> files;
};
int RunImport(const ImportArgs& args);

struct ReindexArgs {
  std::string data_dir;
};
int RunReindex(const ReindexArgs& args);

struct TokenArgs {
  std::optional<std::string> config;
  std::optional<std::string> data_dir;
  std::string role;
  std::string patient;
  std::string organization;
  std::string scope;    // empty: the role's default scopes
  std::string purpose;  // purpose of use (v3 ActReason), e.g. ETREAT for break-glass
  std::string subject;  // sub; empty: cli:<role>
  int64_t expires = 3600;
};
int RunToken(const TokenArgs& args);

struct ClientArgs {
  std::string action;  // add, list, remove
  std::string data_dir;
  std::string id;
  std::string name;
  std::string role;
  std::string scope;  // empty: the role's default scopes
  std::string patient;
  std::string organization;
  std::string jwks_file;
};
int RunClient(const ClientArgs& args);

// Prints the API's route table.
int RunRoutes();

struct AuditArgs {
  std::string data_dir;
};
int RunAuditVerify(const AuditArgs& args);

struct MonitorReplayArgs {
  std::string format;    // physionet2019 or physionet2012
  std::string outcomes;  // 2012: Outcomes-a.txt, for the AUROC summary
  std::vector<std::string> files;
};
// Prints `file,hour,detector,score,alert` for every hour of every file; a summary on stderr.
int RunMonitorReplay(const MonitorReplayArgs& args);

struct RoutingImportArgs {
  std::string data_dir;
  std::string file;  // an OSM PBF extract
};
// Builds the road graph into the data directory; prints a summary.
int RunRoutingImport(const RoutingImportArgs& args);

}  // namespace medulla::cli
