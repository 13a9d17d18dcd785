// The timing loop: the candidates of one signature run in interleaved rounds (each surviving
// candidate once per round) with robust statistics, stopping early for clear losers and when the
// signature's share of the time budget is spent. Interleaving matters on shared machines: a slow
// spell (another tenant, a memory-bandwidth dip) that would have covered all of one candidate's
// runs in a back-to-back loop, and none of the next one's, now lands on all of them alike.
#pragma once

#include <bitnet/plugin.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace bitnet::tuning {

struct BenchOptions {
    int min_runs = 3;           // runs before the time cap may stop a candidate
    int max_runs = 15;
    double max_seconds = 0.3;   // per candidate and signature (the rounds get this times the candidates)
    int drop_after = 2;         // runs after which a clear loser stops
    double drop_factor = 2.0;   // "clear loser": its fastest run is this much slower than the best median
};

struct BenchOutcome {
    std::vector<double> us;     // timed runs, microseconds
    bool dropped = false;       // stopped as a clear loser
    bitnet_status error = BITNET_OK; // a run failed (the samples before it are kept)
};

// Times each of `runs` (whose first, warm-up calls the caller already made) in rounds until it has
// max_runs, the rounds' time cap passes after its min_runs, the deadline passes, or it is dropped
// against the best median among the others (those with at least drop_after runs). Adds the
// number of timed runs to `counter`. One outcome per entry of `runs`, in order.
std::vector<BenchOutcome> benchmark(const std::vector<std::function<bitnet_status()>>& runs, const BenchOptions& opt,
                                    std::chrono::steady_clock::time_point deadline, int64_t& counter);

} // namespace bitnet::tuning
