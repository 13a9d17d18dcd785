#include "tuning/bench.hpp"

#include <algorithm>

namespace bitnet::tuning {

BenchOutcome benchmark(const std::function<bitnet_status()>& run_once, const BenchOptions& opt, double best_us,
                       std::chrono::steady_clock::time_point deadline, int64_t& counter) {
    using Clock = std::chrono::steady_clock;
    BenchOutcome out;
    const auto start = Clock::now();
    double fastest = 0;
    while (int(out.us.size()) < opt.max_runs) {
        const auto t0 = Clock::now();
        const bitnet_status st = run_once();
        const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        ++counter;
        if (st != BITNET_OK) {
            out.error = st;
            break;
        }
        out.us.push_back(us);
        fastest = out.us.size() == 1 ? us : std::min(fastest, us);
        const int n = int(out.us.size());
        if (best_us > 0 && n >= opt.drop_after && fastest > opt.drop_factor * best_us) {
            out.dropped = true;
            break;
        }
        const auto now = Clock::now();
        if (now >= deadline) break;
        if (n >= opt.min_runs && std::chrono::duration<double>(now - start).count() >= opt.max_seconds) break;
    }
    return out;
}

} // namespace bitnet::tuning
