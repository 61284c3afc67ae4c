// medulla: the city health data hub, one program.
//   medulla serve [--config FILE] [--data-dir DIR] [--listen HOST:PORT]
//   medulla import [--data-dir DIR] FILE...
//   medulla reindex [--data-dir DIR]
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

  medulla::cli::ImportArgs import;
  auto* import_cmd = app.add_subcommand(
      "import",
      "Import FHIR Bundles (transaction, batch, collection) and NDJSON files into a "
      "data directory that no server is using");
  import_cmd->add_option("--data-dir", import.data_dir, "Data directory (default ./var/medulla)");
  import_cmd->add_option("files", import.files, "Bundle .json or .ndjson files")->required();

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
  return 2;
}
