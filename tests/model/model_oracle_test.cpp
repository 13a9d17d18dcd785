// The model against the reference engines (../shared/oracle): every *.ref.json, on the scalar
// plugin and on every fast CPU plugin this machine can load, with the bounds of the model issue.
#include "oracle_compare.hpp"

#include "core/thread_pool.hpp"
#include "plugin/plugin_registry.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace {

struct Case {
    std::string ref;     // file name in the oracle dir
    std::string plugin;  // every op family pinned to this plugin (scalar fills the gaps)
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    std::string n = info.param.plugin + "_" + info.param.ref.substr(0, info.param.ref.find(".ref.json"));
    for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

class OracleTest : public ::testing::TestWithParam<Case> {};

TEST_P(OracleTest, LogitsAndGreedyMatchReferenceEngine) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR); CI always has it";
    const fs::path ref = *dir / GetParam().ref;
    ASSERT_TRUE(fs::exists(ref)) << ref;
    bitnet::ThreadPool pool(2);
    bitnet::PluginRegistry reg(&pool);
    reg.discover({{bitnet::testing::build_plugin_dir(), "build"}});
    ASSERT_NE(reg.find("scalar"), nullptr) << "scalar plugin missing from " << bitnet::testing::build_plugin_dir();
    if (reg.find(GetParam().plugin) == nullptr) {
        std::string why = "plugin '" + GetParam().plugin + "' is not loaded here";
        for (const auto& r : reg.records())
            if (r.name == GetParam().plugin) why += ": " + r.reason;
        GTEST_SKIP() << why;
    }
    bitnet::Router router(reg, {{{"all", GetParam().plugin}}, {}});
    const auto r = bitnet::oracle::compare(ref, router);
    std::printf("[oracle] %s on %s: top-1 %d/%d, max|dlogit| %.5f (at %s), median %.5f, max|dlse| %.5f, greedy %d/%d compared before the first near-tie\n",
                r.ref_file.c_str(), GetParam().plugin.c_str(), r.top1_match, r.positions, r.max_abs_logit,
                r.worst_where.c_str(), r.median_abs_logit, r.max_abs_lse, r.greedy_matched, r.greedy_compared);
    EXPECT_GT(r.positions, 200);
    for (const auto& f : r.failures) ADD_FAILURE() << f;
}

std::vector<Case> cases() {
    std::vector<Case> out;
    for (const char* plugin : {"scalar", "avx2", "avx512"})
        for (const char* ref : {"b158-small-i2_s.ref.json", "bitnet-small-tq2_0.ref.json", "p2-bitnet-tiny-tq1_0.ref.json",
                                "p2-bitnet-tiny-tq2_0.ref.json"})
            out.push_back({ref, plugin});
    return out;
}

INSTANTIATE_TEST_SUITE_P(Oracle, OracleTest, ::testing::ValuesIn(cases()), case_name);

} // namespace
