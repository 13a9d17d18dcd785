#include "tuning/adaptive_monitor.hpp"

#include "core/log.hpp"
#include "tuning/stats.hpp"

#include <algorithm>
#include <numeric>

namespace bitnet::tuning {

AdaptiveMonitor::AdaptiveMonitor(Router& router, AdaptOptions options) : router_(router), opt_(options) {
    opt_.window = std::max(opt_.window, 3);
    opt_.probe_calls = std::max(opt_.probe_calls, 1);
}

AdaptiveMonitor::State& AdaptiveMonitor::state(const bitnet_shape& shape) {
    auto it = states_.find(ShapeKey(shape));
    if (it == states_.end()) {
        // First sight of a signature: the only allocation it ever causes on the steady path.
        State st;
        st.window.resize(opt_.window);
        st.scratch.resize(opt_.window);
        it = states_.emplace(ShapeKey(shape), std::move(st)).first;
    }
    return it->second;
}

int64_t AdaptiveMonitor::calls(const bitnet_shape& shape) const {
    auto it = states_.find(ShapeKey(shape));
    return it == states_.end() ? 0 : it->second.calls;
}

void AdaptiveMonitor::set_baseline(const bitnet_shape& shape, double tuned_us) { state(shape).tuned_us = tuned_us; }

void AdaptiveMonitor::on_kernel_run(const bitnet_shape& shape, const KernelRef& kernel, int64_t ns) {
    // Attention's cost grows with the context, which its signature does not carry: a slower call
    // there is the sequence getting longer, not the kernel degrading.
    if (shape.op == BITNET_OP_ATTENTION) return;
    State& st = state(shape);
    ++st.calls;
    const double us = double(ns) * 1e-3;
    if (st.probing) {
        if (kernel.desc != st.probe_order[st.probe_idx].desc) return; // a fallback ran, not the probed kernel
        auto& samples = st.probe_us[st.probe_idx];
        samples.push_back(us);
        if (int(samples.size()) < opt_.probe_calls) return;
        if (++st.probe_idx == st.probe_order.size()) {
            finish_probe(shape, st);
            return;
        }
        std::vector<KernelRef> next = st.probe_order;
        std::rotate(next.begin(), next.begin() + st.probe_idx, next.begin() + st.probe_idx + 1);
        router_.set_order(shape, std::move(next), "adapt-probe");
        return;
    }
    if (kernel.desc != router_.order(shape).front().desc) return;
    st.window[st.filled++] = us;
    if (st.filled < st.window.size()) return;
    st.filled = 0;
    std::copy(st.window.begin(), st.window.end(), st.scratch.begin());
    const double med = median_inplace(st.scratch);
    if (st.tuned_us <= 0) {
        st.tuned_us = med;
        return;
    }
    if (med > opt_.slowdown * st.tuned_us && router_.order(shape).size() > 1) {
        logger().info("{}: {} median {:.1f} us over the last {} calls, tuned {:.1f} us; re-measuring",
                      signature_string(shape), kernel.label(), med, opt_.window, st.tuned_us);
        start_probe(shape, st);
    }
}

void AdaptiveMonitor::start_probe(const bitnet_shape& shape, State& st) {
    ++probes_;
    st.probing = true;
    st.probe_order = router_.order(shape);
    st.probe_us.assign(st.probe_order.size(), {});
    st.probe_idx = 0; // the current kernel is measured afresh too, on the very next calls
}

void AdaptiveMonitor::finish_probe(const bitnet_shape& shape, State& st) {
    std::vector<double> med(st.probe_order.size());
    for (size_t i = 0; i < med.size(); ++i) med[i] = median_inplace(st.probe_us[i]);
    std::vector<size_t> idx(med.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return med[a] < med[b]; });
    // The reference stays the last resort unless it is the fastest.
    auto is_scalar = [&](size_t i) { return st.probe_order[i].plugin && st.probe_order[i].plugin->name() == "scalar"; };
    if (idx.size() > 1) std::stable_partition(idx.begin() + 1, idx.end(), [&](size_t i) { return !is_scalar(i); });
    std::vector<KernelRef> order;
    for (size_t i : idx) order.push_back(st.probe_order[i]);
    const KernelRef before = st.probe_order.front(), after = order.front();
    const bool moved = before.desc != after.desc;
    router_.set_order(shape, std::move(order), moved ? "adapt-reroute" : "adapt-keep");
    if (moved) {
        events_.push_back({signature_string(shape), before.label(), after.label(), st.calls});
        logger().warn("re-routed {}: {} ({:.1f} us) -> {} ({:.1f} us)", signature_string(shape), before.label(),
                      med[0], after.label(), med[idx[0]]);
    }
    st.tuned_us = med[idx[0]];
    st.probing = false;
    st.filled = 0;
}

} // namespace bitnet::tuning
