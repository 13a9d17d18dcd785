// The timing loop runs a signature's candidates in interleaved rounds, so a slow spell of the
// machine lands on all of them instead of on whichever was being timed; and a clear loser stops
// early. The candidates here sleep: their times differ by 1.5x and the spell by 6x, far outside
// any scheduling noise.
#include "tuning/bench.hpp"
#include "tuning/stats.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace {

using namespace std::chrono_literals;
using bitnet::tuning::BenchOptions;

TEST(TuningBench, SlowSpellDoesNotDecideBetweenCandidates) {
    // The first 10 timed calls (whichever candidate makes them) are slow. Timed one candidate after
    // the other, A would take all ten (10 of its 15 runs: a slow median) and lose to B.
    int calls = 0;
    auto sleeper = [&](std::chrono::microseconds base) {
        return [&calls, base] {
            std::this_thread::sleep_for(calls++ < 10 ? base + 12ms : base);
            return BITNET_OK;
        };
    };
    BenchOptions opt;
    opt.max_seconds = 10;
    opt.drop_factor = 100; // no drops here
    int64_t counter = 0;
    const auto outs = bitnet::tuning::benchmark({sleeper(2ms), sleeper(3ms)}, opt,
                                                std::chrono::steady_clock::now() + 60s, counter);
    ASSERT_EQ(outs.size(), 2u);
    EXPECT_EQ(outs[0].us.size(), 15u);
    EXPECT_EQ(outs[1].us.size(), 15u);
    EXPECT_EQ(counter, 30);
    EXPECT_LT(bitnet::tuning::median(outs[0].us), bitnet::tuning::median(outs[1].us));
    EXPECT_LT(bitnet::tuning::median(outs[0].us), 8000.0); // the spell is not A's median
}

TEST(TuningBench, ClearLoserStopsEarlyAndAFailedRunIsReported) {
    BenchOptions opt;
    opt.max_seconds = 10;
    int64_t counter = 0;
    int bad_calls = 0;
    const auto outs = bitnet::tuning::benchmark(
        {[] { std::this_thread::sleep_for(1ms); return BITNET_OK; },
         [] { std::this_thread::sleep_for(20ms); return BITNET_OK; },
         [&] { std::this_thread::sleep_for(1ms); return ++bad_calls < 3 ? BITNET_OK : BITNET_ERR_INTERNAL; }},
        opt, std::chrono::steady_clock::now() + 60s, counter);
    EXPECT_EQ(outs[0].us.size(), 15u);
    EXPECT_FALSE(outs[0].dropped);
    EXPECT_TRUE(outs[1].dropped);
    EXPECT_EQ(outs[1].us.size(), size_t(opt.drop_after));
    EXPECT_EQ(outs[2].error, BITNET_ERR_INTERNAL);
    EXPECT_EQ(outs[2].us.size(), 2u); // the runs before the failure are kept
}

} // namespace
