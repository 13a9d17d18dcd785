// The adaptive kernel manager. At start-up it takes every matmul/quantize/attention signature the
// loaded model needs, finds every loaded kernel that accepts it, checks each against the scalar
// reference (rejecting wrong, failing or out-of-bounds kernels with the reason), benchmarks the
// survivors, and routes the signature to the fastest with an ordered fallback ending in scalar.
// Results are cached on disk (tuning_cache.hpp); a signature the model asks for later (a prefill
// remainder) routes like its tuned batch bucket; optional runtime adaptation re-routes on a
// sustained slowdown (adaptive_monitor.hpp).
#pragma once

#include "dispatch/router.hpp"
#include "model/model.hpp"
#include "tuning/adaptive_monitor.hpp"
#include "tuning/bench.hpp"
#include "tuning/results.hpp"
#include "tuning/targets.hpp"

#include <memory>
#include <string>
#include <vector>

namespace bitnet::tuning {

struct ManagerOptions {
    std::string mode = "cache"; // full: always measure (and rewrite the cache); cache: measure what the
                                // cache lacks; off: static preference order, nothing checked
    std::string cache_dir;      // empty: user_cache_dir()/tuning
    int32_t budget_ms = 20000;  // start-up tuning time; signatures left when it runs out keep the static order
    bool adapt = false;
    AdaptOptions adapt_options;
    BenchOptions bench;         // max_seconds is lowered to fit the budget
};

class KernelManager {
public:
    // Throws std::invalid_argument for an unknown mode.
    KernelManager(Router& router, ManagerOptions options);
    // Uninstalls its resolver and observer from the router.
    ~KernelManager();
    KernelManager(const KernelManager&) = delete;
    KernelManager& operator=(const KernelManager&) = delete;

    // Routes every signature `model` needs with a session of these sizes (n_batch <= n_ctx, as the
    // Session will clamp them) and returns what was decided and why. Call before the Session is
    // built so its weight packing follows the tuned routes. The model must outlive the manager's
    // use of the router (the tuned matmuls reference its weights only during this call).
    const TuneReport& tune(model::Model& model, int32_t n_batch, int32_t n_ctx);
    const TuneReport& report() const { return report_; }
    // Non-null when adaptation is on.
    AdaptiveMonitor* monitor() { return monitor_.get(); }

private:
    SignatureResult measure(const TuneTarget& t, const std::vector<KernelRef>& cands, model::Ops& ops);
    std::vector<KernelRef> routing_order(SignatureResult& r, const std::vector<KernelRef>& cands) const;
    std::optional<std::vector<KernelRef>> resolve(const bitnet_shape& shape) const;
    bool rejected_for(const bitnet_shape& shape, const bitnet_kernel_desc* k) const;

    Router& router_;
    ManagerOptions opt_;
    BenchOptions bench_;  // opt_.bench with the time cap fitted to this tuning's budget
    TuneReport report_;
    std::chrono::steady_clock::time_point deadline_{};
    std::vector<std::pair<bitnet_shape, std::vector<KernelRef>>> routes_;   // tuned orders
    std::vector<std::pair<bitnet_shape, const bitnet_kernel_desc*>> rejected_;
    std::unique_ptr<AdaptiveMonitor> monitor_;
};

// Plugin identity as it enters the cache key: "name@version#build_id/abi".
std::string plugin_identity(const LoadedPlugin& p);

// Which measured candidate to route first. `by_median` lists indices into `c` (which is in the
// router's static order, most preferred first) sorted by median time. The fastest wins unless a
// candidate earlier in the static order is within the measurement noise of it (medians apart by
// no more than the two MADs together): a difference the timings cannot resolve is no reason to
// leave the preferred plugin (one noisy tuning run once routed the 2B head to avx2, 40 vs 57 GB/s).
// Returns a position in `by_median`.
size_t pick_within_noise(const std::vector<CandidateResult>& c, const std::vector<size_t>& by_median);

} // namespace bitnet::tuning
