// The timing loop: repeated runs with robust statistics, stopping early for clear losers and when
// the candidate's share of the time budget is spent.
#pragma once

#include <bitnet/plugin.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace bitnet::tuning {

struct BenchOptions {
    int min_runs = 3;           // runs before the time cap may stop the loop
    int max_runs = 15;
    double max_seconds = 0.3;   // per candidate and signature
    int drop_after = 2;         // runs after which a clear loser stops
    double drop_factor = 2.0;   // "clear loser": its fastest run is this much slower than the best median
};

struct BenchOutcome {
    std::vector<double> us;     // timed runs, microseconds
    bool dropped = false;       // stopped as a clear loser
    bitnet_status error = BITNET_OK; // a run failed (the samples before it are kept)
};

// Times `run_once` (whose first, warm-up call the caller already made) until max_runs, the time cap
// after min_runs, the deadline, or an early drop against `best_us` (0: no contender yet).
// Adds the number of timed runs to `counter`.
BenchOutcome benchmark(const std::function<bitnet_status()>& run_once, const BenchOptions& opt, double best_us,
                       std::chrono::steady_clock::time_point deadline, int64_t& counter);

} // namespace bitnet::tuning
