// bitnet-oracle-check [ORACLE_DIR] [--plugin-dir DIR] [--pin op=plugin]: prints, per reference
// file, how closely this engine reproduces the other engines' logits (top-1 agreement, max
// |Δlogit|, max |Δlse|, greedy steps) and exits non-zero when a bound of the model tests fails.
#include "oracle_compare.hpp"

#include "core/thread_pool.hpp"
#include "plugin/plugin_registry.hpp"
#include "plugin/search_path.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    std::string dir = "../shared/oracle";
    std::vector<std::string> plugin_dirs;
    std::map<std::string, std::string> pins;
    int threads = 2;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--plugin-dir") && i + 1 < argc) plugin_dirs.push_back(argv[++i]);
        else if (!std::strcmp(argv[i], "--pin") && i + 1 < argc) {
            std::string p = argv[++i];
            auto eq = p.find('=');
            if (eq == std::string::npos) { std::fprintf(stderr, "--pin expects op=plugin\n"); return 2; }
            pins[p.substr(0, eq)] = p.substr(eq + 1);
        } else if (!std::strcmp(argv[i], "-t") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (argv[i][0] == '-') { std::fprintf(stderr, "usage: bitnet-oracle-check [DIR] [--plugin-dir D] [--pin op=plugin] [-t N]\n"); return 2; }
        else dir = argv[i];
    }
    try {
        bitnet::ThreadPool pool(threads);
        bitnet::PluginRegistry reg(&pool);
        reg.discover(bitnet::plugin_search_dirs(plugin_dirs, {}));
        bitnet::Router router(reg, {pins, {"cuda", "avx512", "avx2", "neon"}});
        std::vector<std::filesystem::path> refs;
        for (const auto& e : std::filesystem::directory_iterator(dir))
            if (e.path().string().ends_with(".ref.json")) refs.push_back(e.path());
        std::sort(refs.begin(), refs.end());
        bool ok = true;
        std::printf("%-32s %9s %12s %10s %10s %8s %s\n", "reference", "top-1", "max|Δlogit|", "median", "max|Δlse|", "greedy", "verdict");
        for (const auto& ref : refs) {
            auto r = bitnet::oracle::compare(ref, router);
            ok = ok && r.failures.empty();
            std::printf("%-32s %4d/%-4d %12.5f %10.5f %10.5f %3d/%-4d %s\n", r.ref_file.c_str(), r.top1_match, r.positions,
                        r.max_abs_logit, r.median_abs_logit, r.max_abs_lse, r.greedy_matched, r.greedy_steps,
                        r.failures.empty() ? "pass" : "FAIL");
            for (const auto& f : r.failures) std::printf("    %s\n", f.c_str());
        }
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bitnet-oracle-check: %s\n", e.what());
        return 1;
    }
}
