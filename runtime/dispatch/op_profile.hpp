// Where a run's time goes, kernel by kernel: an observer (`bitnet bench --profile`) that sums the
// wall time of every routed kernel call per (signature, kernel), so a report can put each one's
// milliseconds per token, and for matmuls the weight bytes it streamed per second, next to the
// step's total. What the kernels do not account for is the host's share (embedding, sampling,
// the gaps between parallel regions).
#pragma once

#include "dispatch/observer.hpp"
#include "dispatch/router.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace bitnet {

class OpProfile : public KernelObserver {
public:
    // Forwards every call to `next` too (the runtime adaptation monitor, when one is installed).
    explicit OpProfile(KernelObserver* next = nullptr) : next_(next) {}

    void on_kernel_run(const bitnet_shape& shape, const KernelRef& kernel, int64_t ns) override;
    void clear() { entries_.clear(); }

    // Rows sorted by time, largest first, with per-unit figures for `units` units of work (e.g.
    // tokens generated) that took `wall_s` seconds in all:
    //   {"total_ms_per_unit", "kernels_ms_per_unit", "rows": [{"signature", "kernel",
    //    "calls_per_unit", "ms_per_unit", "share", "weight_gbs" (matmuls)}]}
    nlohmann::json report(double units, double wall_s) const;

private:
    // op, weight format, act type, m, n, k, heads, kernel: one row of the report.
    using Key = std::tuple<int, int, int, int32_t, int32_t, int32_t, int32_t, const bitnet_kernel_desc*>;
    struct Entry {
        bitnet_shape shape{};
        KernelRef kernel;
        int64_t calls = 0, ns = 0;
    };
    KernelObserver* next_;
    std::map<Key, Entry> entries_;
};

} // namespace bitnet
