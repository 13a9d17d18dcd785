#include "plugin/search_path.hpp"

#include "core/paths.hpp"

#include <cstdlib>
#include <set>

namespace bitnet {

std::vector<SearchDir> plugin_search_dirs(const std::vector<std::string>& cli_dirs,
                                          const std::vector<std::string>& config_dirs) {
    std::vector<SearchDir> out;
    std::set<std::filesystem::path> seen;
    auto add = [&](const std::filesystem::path& p, const char* origin) {
        if (p.empty()) return;
        std::error_code ec;
        auto canon = std::filesystem::weakly_canonical(p, ec);
        if (ec) canon = p;
        if (seen.insert(canon).second) out.push_back({canon, origin});
    };
    for (const auto& d : cli_dirs) add(d, "--plugin-dir");
    for (const auto& d : config_dirs) add(d, "config");
    if (const char* env = std::getenv("BITNET_PLUGIN_PATH"); env != nullptr) {
        std::string s(env);
        size_t pos = 0;
        while (pos <= s.size()) {
            size_t end = s.find(':', pos);
            if (end == std::string::npos) end = s.size();
            add(s.substr(pos, end - pos), "BITNET_PLUGIN_PATH");
            pos = end + 1;
        }
    }
    if (auto exe = executable_path(); !exe.empty()) {
        const auto prefix = exe.parent_path().parent_path();
        std::error_code ec;
        if (auto installed = prefix / BITNET_INSTALL_PLUGIN_SUBDIR; std::filesystem::is_directory(installed, ec))
            add(installed, "install");
        if (auto build = prefix / "plugins"; std::filesystem::is_directory(build, ec)) add(build, "build tree");
    }
    return out;
}

} // namespace bitnet
