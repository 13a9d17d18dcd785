#include "tuning/bench.hpp"

#include "tuning/stats.hpp"

#include <algorithm>

namespace bitnet::tuning {

std::vector<BenchOutcome> benchmark(const std::vector<std::function<bitnet_status()>>& runs, const BenchOptions& opt,
                                    std::chrono::steady_clock::time_point deadline, int64_t& counter) {
    using Clock = std::chrono::steady_clock;
    const size_t n = runs.size();
    std::vector<BenchOutcome> out(n);
    std::vector<bool> active(n, true);
    std::vector<double> fastest(n, 0.0);
    const auto start = Clock::now();
    const double cap_seconds = opt.max_seconds * double(std::max<size_t>(n, 1));
    auto best_median_besides = [&](size_t self) {
        double best = 0;
        for (size_t j = 0; j < n; ++j) {
            if (j == self || out[j].error != BITNET_OK || int(out[j].us.size()) < opt.drop_after) continue;
            const double m = median(out[j].us);
            if (best <= 0 || m < best) best = m;
        }
        return best;
    };
    for (bool any = n > 0; any;) {
        any = false;
        for (size_t i = 0; i < n; ++i) {
            if (!active[i]) continue;
            const auto t0 = Clock::now();
            const bitnet_status st = runs[i]();
            const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
            ++counter;
            BenchOutcome& o = out[i];
            if (st != BITNET_OK) {
                o.error = st;
                active[i] = false;
                continue;
            }
            o.us.push_back(us);
            fastest[i] = o.us.size() == 1 ? us : std::min(fastest[i], us);
            const int runs_i = int(o.us.size());
            const double best = best_median_besides(i);
            if (best > 0 && runs_i >= opt.drop_after && fastest[i] > opt.drop_factor * best) {
                o.dropped = true;
                active[i] = false;
            } else if (runs_i >= opt.max_runs) {
                active[i] = false;
            } else if (runs_i >= opt.min_runs && std::chrono::duration<double>(Clock::now() - start).count() >= cap_seconds) {
                active[i] = false;
            }
            any = any || active[i];
        }
        if (Clock::now() >= deadline) break;
    }
    return out;
}

} // namespace bitnet::tuning
