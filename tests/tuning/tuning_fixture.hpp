// Shared set-up for the kernel manager tests: a registry holding scalar plus chosen test plugins
// (never avx2/avx512, so outcomes do not depend on the machine), the embedded tiny I2_S model, and
// a private cache folder.
#pragma once

#include "core/thread_pool.hpp"
#include "modelgen/modelgen.hpp"
#include "plugin/plugin_registry.hpp"
#include "test_env.hpp"
#include "tuning/kernel_manager.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace bitnet::testing {

inline std::filesystem::path tuning_plugin(const std::string& dir) {
    return std::filesystem::path(TUNING_PLUGIN_ROOT) / dir;
}

struct TuningEnv {
    ThreadPool pool;
    PluginRegistry registry{&pool};
    std::unique_ptr<Router> router;

    // `dirs`: folders under TUNING_PLUGIN_ROOT ("fast", "slow", ...). Speed comparisons use one
    // thread: on a loaded 2-core machine a second worker's wake-up latency can exceed a tiny
    // kernel's whole run time and invert the ranking.
    explicit TuningEnv(const std::vector<std::string>& dirs, RouterOptions ro = {}, int threads = 2) : pool(threads) {
        const auto scalar = build_plugin_dir() / "libbitnet-scalar.so";
        if (registry.load(scalar) == nullptr) throw std::runtime_error("cannot load " + scalar.string());
        std::vector<SearchDir> sd;
        for (const auto& d : dirs) sd.push_back({tuning_plugin(d), "test"});
        registry.discover(sd);
        for (const auto& d : dirs) {
            bool ok = false;
            for (const auto& r : registry.records()) ok |= r.loaded && r.path.parent_path() == tuning_plugin(d);
            if (!ok) throw std::runtime_error("test plugin in " + tuning_plugin(d).string() + " did not load");
        }
        router = std::make_unique<Router>(registry, std::move(ro));
    }
};

inline std::unique_ptr<model::Model> tiny_model() { return model::Model::load(modelgen::ensure_default_model()); }

inline tuning::ManagerOptions options(const std::filesystem::path& cache, const std::string& mode = "cache") {
    tuning::ManagerOptions o;
    o.mode = mode;
    o.cache_dir = cache.string();
    o.budget_ms = 60000;
    return o;
}

inline const tuning::CandidateResult* find_candidate(const tuning::SignatureResult& s, const std::string& plugin) {
    for (const auto& c : s.candidates)
        if (c.plugin == plugin) return &c;
    return nullptr;
}

} // namespace bitnet::testing
