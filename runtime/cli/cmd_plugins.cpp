// `bitnet plugins [--json]`: every candidate plugin file with its verdict.
#include "cli/commands.hpp"
#include "cli/common_options.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>

namespace bitnet::cli {

int cmd_plugins(int argc, char** argv) {
    CommonOptions common;
    po::options_description desc("bitnet plugins options");
    add_common_options(desc, common);
    desc.add_options()("json", "print {\"plugins\":[...]} instead of a table");
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm, "bitnet plugins [--json] [--plugin-dir DIR] [--config FILE]")) return 0;
    auto env = make_runtime(common);
    const auto& records = env->plugins->records();

    if (vm.count("json")) {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& r : records) {
            arr.push_back({{"name", r.name}, {"version", r.version}, {"device", r.device},
                           {"status", r.loaded ? "loaded" : "refused"}, {"reason", r.reason},
                           {"kernels", r.kernels}, {"path", r.path.string()}});
        }
        std::cout << nlohmann::json{{"plugins", arr}}.dump(2) << "\n";
        return 0;
    }
    std::cout << fmt::format("{:<12} {:<8} {:<8} {:>7}  {:<30} {}\n", "name", "version", "status", "kernels",
                             "device", "reason / path");
    for (const auto& r : records) {
        std::cout << fmt::format("{:<12} {:<8} {:<8} {:>7}  {:<30} {}\n", r.name, r.version.empty() ? "-" : r.version,
                                 r.loaded ? "loaded" : "refused", r.kernels, r.device.empty() ? "-" : r.device,
                                 r.loaded ? r.path.string() : r.reason + " (" + r.path.string() + ")");
    }
    if (records.empty()) std::cout << "(no plugin files found; use --plugin-dir or BITNET_PLUGIN_PATH)\n";
    return 0;
}

} // namespace bitnet::cli
