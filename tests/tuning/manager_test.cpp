// Verification and benchmarking: a wrong kernel is rejected everywhere and the model still matches
// the reference engine; a slow kernel loses every signature; a fast correct one wins.
#include "oracle_compare.hpp"
#include "tuning_fixture.hpp"

namespace {

using namespace bitnet;
using bitnet::testing::find_candidate;

TEST(KernelManager, OffByOneKernelIsRejectedForEverySignature) {
    const auto cache = bitnet::testing::make_temp_dir("tune-wrong");
    bitnet::testing::TuningEnv env({"wrong"});
    auto model = bitnet::testing::tiny_model();
    tuning::KernelManager km(*env.router, bitnet::testing::options(cache, "full"));
    const auto& rep = km.tune(*model, 16, 64);
    int served = 0;
    for (const auto& s : rep.signatures) {
        const auto* c = find_candidate(s, "test-wrong");
        if (!c) continue;
        ++served;
        EXPECT_TRUE(c->rejected) << s.signature;
        EXPECT_NE(c->reason.find("wrong result"), std::string::npos) << c->reason;
        ASSERT_GE(s.winner, 0);
        EXPECT_EQ(s.candidates[s.winner].plugin, "scalar") << s.signature;
        for (const auto& k : env.router->order(s.shape)) EXPECT_NE(k.plugin->name(), "test-wrong") << s.signature;
    }
    EXPECT_GT(served, 0);
    // A prefill remainder the manager never measured routes like its bucket: not to the wrong kernel.
    const auto& w = model->weights().layers[0].wq;
    const auto rem = make_shape(BITNET_OP_MATMUL, w.wf, w.act, 5, w.n, w.k);
    EXPECT_NE(env.router->route(rem).plugin->name(), "test-wrong");
    std::filesystem::remove_all(cache);
}

TEST(KernelManager, ModelWithWrongPluginLoadedStillMatchesTheOracle) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR); CI always has it";
    const auto ref = *dir / "b158-small-i2_s.ref.json";
    ASSERT_TRUE(std::filesystem::exists(ref)) << ref;
    const auto cache = bitnet::testing::make_temp_dir("tune-oracle");
    bitnet::testing::TuningEnv env({"wrong"});
    // Statically the unknown plugin ranks before scalar, so without the manager it would be used.
    auto model = model::Model::load(*dir / "b158-small-i2_s.gguf");
    const auto& wq = model->weights().layers[0].wq;
    ASSERT_EQ(env.router->candidates(make_shape(BITNET_OP_MATMUL, wq.wf, wq.act, 1, wq.n, wq.k)).front().plugin->name(),
              "test-wrong");
    tuning::KernelManager km(*env.router, bitnet::testing::options(cache, "full"));
    km.tune(*model, 512, 1024); // the sizes oracle::compare's session uses
    const auto r = oracle::compare(ref, *env.router);
    EXPECT_GT(r.positions, 200);
    for (const auto& f : r.failures) ADD_FAILURE() << f;
    std::filesystem::remove_all(cache);
}

TEST(KernelManager, SlowKernelLosesAndFastCorrectKernelWins) {
    const auto cache = bitnet::testing::make_temp_dir("tune-speed");
    bitnet::testing::TuningEnv env({"fast", "slow"}, {}, 1);
    auto model = bitnet::testing::tiny_model();
    tuning::KernelManager km(*env.router, bitnet::testing::options(cache, "full"));
    const auto& rep = km.tune(*model, 16, 64);
    int served = 0, fast_wins = 0;
    for (const auto& s : rep.signatures) {
        const auto* slow = find_candidate(s, "test-slow");
        const auto* fast = find_candidate(s, "test-fast");
        if (!slow || !fast) continue;
        ++served;
        EXPECT_FALSE(slow->rejected) << slow->reason;
        EXPECT_FALSE(fast->rejected) << fast->reason;
        ASSERT_GE(s.winner, 0);
        const std::string winner = s.candidates[s.winner].plugin;
        EXPECT_NE(winner, "test-slow") << s.signature;
        EXPECT_LT(fast->median_us, slow->median_us) << s.signature;
        // On these tiny shapes the scalar reference can tie the fast kernel, and its time is a
        // noisy estimate under a loaded machine, so either may win — but never the slow one, and
        // the measured order must put the fast kernel ahead of the slow one.
        EXPECT_TRUE(winner == "test-fast" || winner == "scalar") << s.signature << " won by " << winner;
        const auto& order = env.router->order(s.shape);
        EXPECT_EQ(order.front().plugin->name(), winner);
        int pos_fast = -1, pos_slow = -1;
        for (size_t i = 0; i < order.size(); ++i) {
            if (order[i].plugin->name() == "test-fast") pos_fast = int(i);
            if (order[i].plugin->name() == "test-slow") pos_slow = int(i);
        }
        ASSERT_GE(pos_fast, 0);
        ASSERT_GE(pos_slow, 0);
        EXPECT_LT(pos_fast, pos_slow) << s.signature;
        // The reference is always in the fallback order, and last unless it won.
        if (winner != "scalar") {
            EXPECT_EQ(order.back().plugin->name(), "scalar") << s.signature;
        }
        if (winner == "test-fast") ++fast_wins;
    }
    // The fast kernel must win somewhere: it is correct and several times faster than the slow one.
    EXPECT_GT(fast_wins, 0);
    EXPECT_GT(served, 0);
    EXPECT_GT(rep.stats.bench_runs, 0);
    std::filesystem::remove_all(cache);
}

TEST(KernelManager, OffModeKeepsTheStaticOrderAndMeasuresNothing) {
    const auto cache = bitnet::testing::make_temp_dir("tune-off");
    bitnet::testing::TuningEnv env({"slow"});
    auto model = bitnet::testing::tiny_model();
    tuning::KernelManager km(*env.router, bitnet::testing::options(cache, "off"));
    const auto& rep = km.tune(*model, 16, 64);
    EXPECT_EQ(rep.stats.bench_runs, 0);
    EXPECT_EQ(rep.stats.static_order, rep.stats.signatures);
    EXPECT_EQ(env.router->observer(), nullptr); // adaptation is off by default
    std::filesystem::remove_all(cache);
}

TEST(KernelManager, ExhaustedBudgetFallsBackToStaticOrderAndSaysSo) {
    const auto cache = bitnet::testing::make_temp_dir("tune-budget");
    bitnet::testing::TuningEnv env({"fast"});
    auto model = bitnet::testing::tiny_model();
    auto o = bitnet::testing::options(cache, "full");
    o.budget_ms = 0;
    tuning::KernelManager km(*env.router, o);
    const auto& rep = km.tune(*model, 16, 64);
    EXPECT_TRUE(rep.stats.budget_exhausted);
    EXPECT_EQ(rep.stats.bench_runs, 0);
    for (const auto& s : rep.signatures) EXPECT_NE(s.source.find("budget"), std::string::npos) << s.source;
    std::filesystem::remove_all(cache);
}

TEST(KernelManager, PinOverridesTheMeasuredWinner) {
    const auto cache = bitnet::testing::make_temp_dir("tune-pin");
    RouterOptions ro;
    ro.pins["matmul"] = "test-slow";
    bitnet::testing::TuningEnv env({"fast", "slow"}, ro);
    auto model = bitnet::testing::tiny_model();
    tuning::KernelManager km(*env.router, bitnet::testing::options(cache, "full"));
    for (const auto& s : km.tune(*model, 16, 64).signatures)
        if (find_candidate(s, "test-slow")) {
            EXPECT_EQ(env.router->route(s.shape).plugin->name(), "test-slow");
        }
    std::filesystem::remove_all(cache);
}

// Timings that cannot tell two kernels apart keep the static order; a clear difference wins.
TEST(KernelManager, TieWithinNoiseKeepsTheStaticOrder) {
    auto cand = [](double median, double mad) {
        tuning::CandidateResult c;
        c.measured = true;
        c.median_us = median;
        c.mad_us = mad;
        return c;
    };
    // Index 0 is the preferred plugin (e.g. avx512), index 1 the next (avx2).
    std::vector<tuning::CandidateResult> c = {cand(7398.0, 1395.7), cand(6551.2, 52.9)};
    EXPECT_EQ(tuning::pick_within_noise(c, {1, 0}), 1u) << "the noisy 13% gap is a tie: the preferred plugin routes";
    c = {cand(7398.0, 100.0), cand(6551.2, 52.9)};
    EXPECT_EQ(tuning::pick_within_noise(c, {1, 0}), 0u) << "a gap far outside the noise: the faster one routes";
    // Among several tied candidates the earliest in the static order routes, not merely an earlier one.
    c = {cand(105.0, 4.0), cand(103.0, 4.0), cand(100.0, 2.0)};
    EXPECT_EQ(tuning::pick_within_noise(c, {2, 1, 0}), 2u);
    c = {cand(150.0, 4.0), cand(103.0, 4.0), cand(100.0, 2.0)};
    EXPECT_EQ(tuning::pick_within_noise(c, {2, 1, 0}), 1u);
    EXPECT_EQ(tuning::pick_within_noise(c, {}), 0u);
}

} // namespace
