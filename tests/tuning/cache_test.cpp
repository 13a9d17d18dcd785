// The tuning cache: a second start with the same machine and plugins measures nothing; a changed
// plugin version re-tunes exactly the signatures it serves; a corrupt file is ignored.
#include "tuning_fixture.hpp"

#include <fstream>

namespace {

using namespace bitnet;

int served_by(const tuning::TuneReport& r, const std::string& plugin) {
    int n = 0;
    for (const auto& s : r.signatures) n += bitnet::testing::find_candidate(s, plugin) != nullptr;
    return n;
}

TEST(TuningCache, SecondStartRunsNoBenchmarkAndNewVersionRetunesOnlyItsSignatures) {
    const auto cache = bitnet::testing::make_temp_dir("tune-cache");
    // Each start loads its own model after its plugins: packed weights must go before the plugin.
    int signatures = 0;
    {
        bitnet::testing::TuningEnv env({"fast"});
        auto model = bitnet::testing::tiny_model();
        tuning::KernelManager km(*env.router, bitnet::testing::options(cache));
        const auto& r = km.tune(*model, 16, 64);
        signatures = r.stats.signatures;
        EXPECT_EQ(r.stats.measured, signatures);
        EXPECT_GT(r.stats.bench_runs, 0);
    }
    {
        bitnet::testing::TuningEnv env({"fast"});
        auto model = bitnet::testing::tiny_model();
        tuning::KernelManager km(*env.router, bitnet::testing::options(cache));
        const auto& r = km.tune(*model, 16, 64);
        EXPECT_EQ(r.stats.bench_runs, 0);
        EXPECT_EQ(r.stats.verify_runs, 0);
        EXPECT_EQ(r.stats.from_cache, signatures);
        for (const auto& s : r.signatures) EXPECT_EQ(s.source, "cache");
    }
    {
        bitnet::testing::TuningEnv env({"fast-v2"}); // same plugin name, version 2.0.0
        auto model = bitnet::testing::tiny_model();
        tuning::KernelManager km(*env.router, bitnet::testing::options(cache));
        const auto& r = km.tune(*model, 16, 64);
        const int affected = served_by(r, "test-fast");
        EXPECT_GT(affected, 0);
        EXPECT_LT(affected, signatures);
        EXPECT_EQ(r.stats.measured, affected);
        EXPECT_EQ(r.stats.from_cache, signatures - affected);
    }
    std::filesystem::remove_all(cache);
}

TEST(TuningCache, CorruptFileIsIgnoredAndRewritten) {
    const auto cache = bitnet::testing::make_temp_dir("tune-corrupt");
    std::filesystem::path file;
    {
        bitnet::testing::TuningEnv env({"fast"});
        auto model = bitnet::testing::tiny_model();
        tuning::KernelManager km(*env.router, bitnet::testing::options(cache));
        file = km.tune(*model, 16, 64).cache_file;
    }
    ASSERT_TRUE(std::filesystem::exists(file));
    std::ofstream(file, std::ios::trunc) << "{\"format\": \"bitnet-tune-cache/1\", \"entries\": [1, 2";
    for (int pass = 0; pass < 2; ++pass) {
        bitnet::testing::TuningEnv env({"fast"});
        auto model = bitnet::testing::tiny_model();
        tuning::KernelManager km(*env.router, bitnet::testing::options(cache));
        const auto& r = km.tune(*model, 16, 64);
        if (pass == 0) EXPECT_EQ(r.stats.measured, r.stats.signatures); // ignored, re-tuned
        else EXPECT_EQ(r.stats.from_cache, r.stats.signatures);          // and rewritten
    }
    std::filesystem::remove_all(cache);
}

} // namespace
