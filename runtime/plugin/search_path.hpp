// The ordered list of folders plugins are looked for in.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace bitnet {

struct SearchDir {
    std::filesystem::path dir;
    std::string origin; // "--plugin-dir", "config", "BITNET_PLUGIN_PATH", "install", "build tree"
};

// In order: `cli_dirs` (--plugin-dir), `config_dirs` (YAML plugins.search_paths),
// BITNET_PLUGIN_PATH (colon-separated), then the install's plugin folder next to the executable
// (<prefix>/bin/bitnet -> <prefix>/lib/bitnet/plugins; the build tree's <build>/plugins likewise).
// Folders that do not exist are kept (the report says so); duplicates are dropped.
std::vector<SearchDir> plugin_search_dirs(const std::vector<std::string>& cli_dirs,
                                          const std::vector<std::string>& config_dirs);

} // namespace bitnet
