// medulla: the city health data hub, one program.
//   medulla serve [--config FILE] [--data-dir DIR] [--listen HOST:PORT]
//                 [--tls-cert FILE --tls-key FILE | --insecure-behind-proxy]
//   medulla import [--data-dir DIR] FILE...
//   medulla reindex [--data-dir DIR]
//   medulla token [--data-dir DIR] --role ROLE [--patient ID] [--organization ID] [--scope S]
//                 [--expires SECONDS]
//   medulla client add [--data-dir DIR] --id ID --role ROLE --jwks FILE [--scope S]
//                      [--patient ID] [--organization ID] [--name NAME]
//   medulla client list|remove [--data-dir DIR] [--id ID]
//   medulla audit verify [--data-dir DIR]
//   medulla monitor replay --format physionet2019|physionet2012 [--outcomes FILE] PATH...
//   medulla routing import [--data-dir DIR] FILE.osm.pbf
//   medulla routes
//   medulla --version
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"medulla: FHIR R4 health data hub for a city"};
  app.set_version_flag("--version", std::string(medulla::cli::VersionLine()));
  app.require_subcommand(1);

  medulla::cli::ServeArgs serve;
  auto* serve_cmd = app.add_subcommand("serve", "Serve the FHIR API on the embedded store");
  serve_cmd->add_option("--config", serve.config, "TOML configuration file");
  serve_cmd->add_option("--data-dir", serve.data_dir, "Data directory (default ./var/medulla)");
  serve_cmd->add_option("--listen", serve.listen,
                        "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve_cmd->add_flag("--insecure-behind-proxy", serve.insecure_behind_proxy,
                      "Serve plain HTTP on a non-loopback address because a TLS-terminating "
                      "proxy is in front (logged loudly)");
  serve_cmd->add_option("--tls-cert", serve.tls_cert,
                        "Serve HTTPS (TLS 1.2+) with this PEM certificate chain");
  serve_cmd->add_option("--tls-key", serve.tls_key, "The PEM private key for --tls-cert");

  medulla::cli::TokenArgs token;
  auto* token_cmd = app.add_subcommand(
      "token", "Mint a signed access token with the data directory's key (printed last)");
  token_cmd->add_option("--config", token.config, "TOML configuration file");
  token_cmd->add_option("--data-dir", token.data_dir, "Data directory (default ./var/medulla)");
  token_cmd
      ->add_option("--role", token.role, "admin, clinician, patient, device, dispatcher or analyst")
      ->required();
  token_cmd->add_option("--patient", token.patient, "The patient the token is bound to");
  token_cmd->add_option("--organization", token.organization, "The user's organisation");
  token_cmd->add_option("--scope", token.scope,
                        "SMART scopes, space-separated (default: the role's)");
  token_cmd->add_option("--purpose", token.purpose,
                        "Purpose of use, e.g. ETREAT (break-glass emergency access)");
  token_cmd->add_option("--subject", token.subject, "The token's sub (default cli:ROLE)");
  token_cmd->add_option("--expires", token.expires, "Lifetime in seconds (default 3600)");

  medulla::cli::ClientArgs client;
  auto* client_cmd = app.add_subcommand(
      "client", "Register backend clients with the built-in token endpoint (POST /auth/token)");
  client_cmd->require_subcommand(1);
  auto* client_add = client_cmd->add_subcommand(
      "add",
      "Register (or replace) a client that authenticates with a signed JWT (private_key_jwt)");
  client_add->add_option("--data-dir", client.data_dir, "Data directory (default ./var/medulla)");
  client_add->add_option("--id", client.id, "The client_id")->required();
  client_add
      ->add_option("--role", client.role,
                   "admin, clinician, patient, device, dispatcher or analyst")
      ->required();
  client_add->add_option("--jwks", client.jwks_file, "The client's public keys (JWKS file)")
      ->required();
  client_add->add_option("--scope", client.scope,
                         "The most its tokens may carry (default: the role's scopes)");
  client_add->add_option("--patient", client.patient,
                         "The patient a device or patient client is bound to");
  client_add->add_option("--organization", client.organization, "The client's organisation");
  client_add->add_option("--name", client.name, "A name for people");
  auto* client_list = client_cmd->add_subcommand("list", "List the registered clients");
  client_list->add_option("--data-dir", client.data_dir, "Data directory (default ./var/medulla)");
  auto* client_remove = client_cmd->add_subcommand("remove", "Unregister a client");
  client_remove->add_option("--data-dir", client.data_dir,
                            "Data directory (default ./var/medulla)");
  client_remove->add_option("--id", client.id, "The client_id")->required();

  auto* routes_cmd = app.add_subcommand(
      "routes", "Print every HTTP route with the guard that decides access to it");

  medulla::cli::MonitorReplayArgs replay;
  auto* monitor_cmd = app.add_subcommand("monitor", "The remote-monitoring engine");
  monitor_cmd->require_subcommand(1);
  auto* replay_cmd = monitor_cmd->add_subcommand(
      "replay",
      "Replay PhysioNet Challenge files through the monitor; prints CSV "
      "file,hour,detector,score,alert (a summary goes to stderr)");
  replay_cmd->add_option("--format", replay.format, "physionet2019 or physionet2012")->required();
  replay_cmd->add_option("--outcomes", replay.outcomes,
                         "physionet2012: the outcomes file (Outcomes-a.txt), for the AUROC");
  replay_cmd->add_option("files", replay.files, "Challenge files (.psv or .txt)")->required();

  medulla::cli::AuditArgs audit;
  auto* audit_cmd = app.add_subcommand("audit", "Work with the audit log");
  auto* verify_cmd = audit_cmd->add_subcommand(
      "verify", "Check the audit log's hash chain; names the first edited or missing entry");
  audit_cmd->require_subcommand(1);
  verify_cmd->add_option("--data-dir", audit.data_dir, "Data directory (default ./var/medulla)");

  medulla::cli::ImportArgs import;
  auto* import_cmd = app.add_subcommand(
      "import",
      "Import FHIR Bundles (transaction, batch, collection) and NDJSON files into a "
      "data directory that no server is using");
  import_cmd->add_option("--data-dir", import.data_dir, "Data directory (default ./var/medulla)");
  import_cmd->add_option("files", import.files, "Bundle .json or .ndjson files")->required();

  medulla::cli::RoutingImportArgs routing_import;
  auto* routing_cmd = app.add_subcommand("routing", "The road network for ambulance routing");
  routing_cmd->require_subcommand(1);
  auto* routing_import_cmd = routing_cmd->add_subcommand(
      "import",
      "Build the emergency-vehicle road graph of an OSM PBF extract into the data directory "
      "(restart the server to use it)");
  routing_import_cmd->add_option("--data-dir", routing_import.data_dir,
                                 "Data directory (default ./var/medulla)");
  routing_import_cmd->add_option("file", routing_import.file, "An OSM extract (.osm.pbf)")
      ->required();

  medulla::cli::ReindexArgs reindex;
  auto* reindex_cmd = app.add_subcommand(
      "reindex",
      "Rebuild the search index of a data directory that no server is using (after the "
      "search parameter definitions changed)");
  reindex_cmd->add_option("--data-dir", reindex.data_dir, "Data directory (default ./var/medulla)");

  CLI11_PARSE(app, argc, argv);
  if (serve_cmd->parsed()) return medulla::cli::RunServe(serve);
  if (import_cmd->parsed()) return medulla::cli::RunImport(import);
  if (reindex_cmd->parsed()) return medulla::cli::RunReindex(reindex);
  if (token_cmd->parsed()) return medulla::cli::RunToken(token);
  if (verify_cmd->parsed()) return medulla::cli::RunAuditVerify(audit);
  if (replay_cmd->parsed()) return medulla::cli::RunMonitorReplay(replay);
  if (routes_cmd->parsed()) return medulla::cli::RunRoutes();
  if (routing_import_cmd->parsed()) return medulla::cli::RunRoutingImport(routing_import);
  for (auto* sub : {client_add, client_list, client_remove}) {
    if (sub->parsed()) {
      client.action = sub->get_name();
      return medulla::cli::RunClient(client);
    }
  }
  return 2;
}
