// The subcommands of `medulla`. Each returns the process exit code.
#pragma once

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

}  // namespace medulla::cli
