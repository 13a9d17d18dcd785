// Runtime adaptation: watches each signature's routed kernel while the model runs. When a full
// window of its calls has a median latency `slowdown` times its tuned figure, it re-measures the
// signature on the next calls themselves (each verified candidate serves `probe_calls` real calls
// in turn, so nothing is computed twice) and re-routes to the fastest. Worst case from the first slow
// call to the new route: 2 × window + probe_calls × candidates calls of that signature.
// Attention is not watched (its latency grows with the context length, which is not part of its
// signature), nor are signatures with a single kernel. Not thread-safe: Ops calls it from the
// thread running the model.
#pragma once

#include "dispatch/router.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace bitnet::tuning {

struct AdaptOptions {
    int window = 32;        // routed-kernel calls per latency window
    double slowdown = 3.0;  // window median / tuned median that counts as degraded
    int probe_calls = 4;    // calls each candidate serves while re-measuring
};

struct AdaptEvent {
    std::string signature, from, to; // kernel labels
    int64_t call = 0;                // the signature's call count when the new route took effect
};

class AdaptiveMonitor final : public KernelObserver {
public:
    AdaptiveMonitor(Router& router, AdaptOptions options);

    // The tuned latency of the kernel routed first for `shape`; a shape never given one learns it
    // from its first window.
    void set_baseline(const bitnet_shape& shape, double tuned_us);

    void on_kernel_run(const bitnet_shape& shape, const KernelRef& kernel, int64_t ns) override;

    const std::vector<AdaptEvent>& events() const { return events_; }
    // Successful runs of `shape` seen so far (0 for a shape never run).
    int64_t calls(const bitnet_shape& shape) const;
    int64_t probes_started() const { return probes_; }

private:
    struct State {
        double tuned_us = 0;
        std::vector<double> window, scratch;
        size_t filled = 0;
        int64_t calls = 0;
        bool probing = false;
        std::vector<KernelRef> probe_order;
        std::vector<std::vector<double>> probe_us;
        size_t probe_idx = 0;
    };
    State& state(const bitnet_shape& shape);
    void start_probe(const bitnet_shape& shape, State& st);
    void finish_probe(const bitnet_shape& shape, State& st);

    Router& router_;
    AdaptOptions opt_;
    std::unordered_map<ShapeKey, State, ShapeKeyHash> states_;
    std::vector<AdaptEvent> events_;
    int64_t probes_ = 0;
};

} // namespace bitnet::tuning
