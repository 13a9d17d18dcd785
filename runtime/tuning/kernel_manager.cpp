#include "tuning/kernel_manager.hpp"

#include "core/log.hpp"
#include "plugin/plugin_loader.hpp"
#include "tuning/cpu_identity.hpp"
#include "tuning/stats.hpp"
#include "tuning/tuning_cache.hpp"
#include "tuning/workload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace bitnet::tuning {

namespace {
using Clock = std::chrono::steady_clock;

bool is_scalar(const KernelRef& k) { return k.plugin && k.plugin->name() == "scalar"; }

CandidateResult identity_of(const KernelRef& k) {
    CandidateResult c;
    c.plugin = k.plugin->name();
    c.plugin_version = k.plugin->version();
    c.build_id = k.plugin->build_id();
    c.kernel = k.desc->name;
    return c;
}

bool same_ops_family(const bitnet_shape& a, const bitnet_shape& b) {
    return a.op == b.op && a.weight_format == b.weight_format && a.act_type == b.act_type;
}

std::string cache_key(const bitnet_shape& s, const std::vector<KernelRef>& cands) {
    std::set<std::string> ids;
    for (const auto& k : cands) ids.insert(plugin_identity(*k.plugin));
    std::string key = signature_string(s) + " | device=cpu |";
    for (const auto& id : ids) key += " " + id;
    return key;
}

// A stored result's candidates lined up with today's candidate list (the order routing_order
// expects); nullopt when the lists differ, and the entry cannot be trusted.
std::optional<std::vector<CandidateResult>> align(const SignatureResult& r, const std::vector<KernelRef>& cands) {
    if (r.candidates.size() != cands.size()) return std::nullopt;
    std::vector<CandidateResult> out;
    for (const auto& k : cands) {
        auto it = std::find_if(r.candidates.begin(), r.candidates.end(), [&](const CandidateResult& c) {
            return k.plugin->name() == c.plugin && c.kernel == k.desc->name;
        });
        if (it == r.candidates.end()) return std::nullopt;
        out.push_back(*it);
    }
    return out;
}
} // namespace

std::string plugin_identity(const LoadedPlugin& p) {
    return fmt::format("{}@{}#{}/abi{:x}", p.name(), p.version(), p.build_id(), p.descriptor().abi_version);
}

KernelManager::KernelManager(Router& router, ManagerOptions options) : router_(router), opt_(std::move(options)) {
    if (opt_.mode != "full" && opt_.mode != "cache" && opt_.mode != "off")
        throw std::invalid_argument(fmt::format("autotune mode '{}': expected full, cache or off", opt_.mode));
}

KernelManager::~KernelManager() {
    router_.set_resolver(nullptr);
    if (router_.observer() == monitor_.get()) router_.set_observer(nullptr);
}

bool KernelManager::rejected_for(const bitnet_shape& shape, const bitnet_kernel_desc* k) const {
    for (const auto& [s, d] : rejected_)
        if (d == k && same_ops_family(s, shape)) return true;
    return false;
}

std::optional<std::vector<KernelRef>> KernelManager::resolve(const bitnet_shape& shape) const {
    for (const auto& [s, order] : routes_) {
        if (!same_family(s, shape)) continue;
        std::vector<KernelRef> out;
        for (const auto& k : order)
            if (kernel_accepts(*k.desc, k.plugin->instance(), shape)) out.push_back(k);
        if (!out.empty()) return out;
    }
    // Unknown family: the static order, minus kernels that already failed a check for this op/format.
    std::vector<KernelRef> out;
    for (const auto& k : router_.candidates(shape))
        if (!rejected_for(shape, k.desc)) out.push_back(k);
    if (out.empty()) return std::nullopt;
    return out;
}

std::vector<KernelRef> KernelManager::routing_order(SignatureResult& r, const std::vector<KernelRef>& cands) const {
    // Measured survivors by median, then unmeasured survivors (static order), then rejected ones;
    // scalar goes to the end of the survivors unless it won outright.
    std::vector<size_t> idx(r.candidates.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    auto rank = [&](size_t i) { return r.candidates[i].rejected ? 2 : r.candidates[i].measured ? 0 : 1; };
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
        if (rank(a) != rank(b)) return rank(a) < rank(b);
        return rank(a) == 0 && r.candidates[a].median_us < r.candidates[b].median_us;
    });
    const size_t survivors = std::count_if(idx.begin(), idx.end(), [&](size_t i) { return rank(i) < 2; });
    // The reference is a fallback, not a contender for a tie: only measured non-scalar survivors.
    std::vector<size_t> contenders;
    for (size_t p = 0; p < survivors; ++p)
        if (rank(idx[p]) == 0 && !is_scalar(cands[idx[p]])) contenders.push_back(idx[p]);
    if (!contenders.empty() && contenders.front() == idx[0]) {
        const size_t pick = pick_within_noise(r.candidates, contenders);
        if (pick != 0) {
            std::rotate(idx.begin(), std::find(idx.begin(), idx.end(), contenders[pick]),
                        std::find(idx.begin(), idx.end(), contenders[pick]) + 1);
            r.source += " + tie within noise: static order";
        }
    }
    if (survivors > 1)
        std::stable_partition(idx.begin() + 1, idx.begin() + survivors, [&](size_t i) { return !is_scalar(cands[i]); });
    // A pin (debugging override) puts the pinned plugin's surviving kernels first whatever they measured.
    const auto& pins = router_.options().pins;
    std::string pinned;
    const std::string keys[] = {std::string(op_name(r.shape.op)), "all"};
    for (const auto& key : keys)
        if (auto it = pins.find(key); it != pins.end() && pinned.empty()) pinned = it->second;
    if (!pinned.empty()) {
        const auto moved = std::stable_partition(idx.begin(), idx.begin() + survivors,
                                                 [&](size_t i) { return cands[i].plugin->name() == pinned; });
        if (moved != idx.begin()) r.source += " + pinned " + pinned;
    }
    std::vector<CandidateResult> sorted;
    std::vector<KernelRef> order;
    for (size_t i : idx) {
        sorted.push_back(r.candidates[i]);
        if (rank(i) < 2) order.push_back(cands[i]);
    }
    r.candidates = std::move(sorted);
    r.winner = survivors > 0 ? 0 : -1;
    r.margin = 0;
    if (survivors > 1 && r.candidates[0].measured && r.candidates[1].measured && r.candidates[0].median_us > 0)
        r.margin = r.candidates[1].median_us / r.candidates[0].median_us - 1.0;
    return order;
}

size_t pick_within_noise(const std::vector<CandidateResult>& c, const std::vector<size_t>& by_median) {
    if (by_median.empty()) return 0;
    const CandidateResult& best = c[by_median[0]];
    size_t pick = 0;
    for (size_t p = 1; p < by_median.size(); ++p) {
        const CandidateResult& x = c[by_median[p]];
        const bool tied = x.median_us - best.median_us <= best.mad_us + x.mad_us;
        if (tied && by_median[p] < by_median[pick]) pick = p;
    }
    return pick;
}

SignatureResult KernelManager::measure(const TuneTarget& t, const std::vector<KernelRef>& cands, model::Ops& ops) {
    SignatureResult r;
    r.source = "measured";
    if (cands.size() == 1) {
        // Nothing to choose between (attention has only the reference today); its prefill run
        // alone would cost seconds of the budget.
        r.candidates.push_back(identity_of(cands[0]));
        r.candidates.back().reason = "sole candidate: routed without timing";
        return r;
    }
    Scratch scratch;
    auto wl = make_workload(t, ops, scratch, 0x5eed ^ uint32_t(t.shape.m * 31 + t.shape.n * 7 + t.shape.k));
    auto ref_it = std::find_if(cands.begin(), cands.end(), is_scalar);
    ReferenceTiming rt;
    std::string no_ref = "unverified: no scalar reference kernel";
    if (ref_it != cands.end()) {
        try {
            rt = wl->make_reference(*ref_it);
            ++report_.stats.verify_runs;
            no_ref.clear();
        } catch (const std::exception& e) {
            no_ref = std::string("unverified: ") + e.what();
        }
    }
    // Every candidate is checked first, then the ones that passed are timed together in rounds.
    std::vector<size_t> timed; // indices into cands and r.candidates
    for (const KernelRef& k : cands) {
        CandidateResult c = identity_of(k);
        if (ref_it != cands.end() && k.desc == ref_it->desc && no_ref.empty()) {
            c.measured = true;
            c.runs = 1;
            c.median_us = rt.seconds * 1e6 * rt.to_full;
            c.reason = rt.to_full != 1 ? rt.note : "reference: one timed run (the fallback, not a contender)";
        } else if (Clock::now() >= deadline_) {
            c.reason = "not measured: time budget exhausted";
            report_.stats.budget_exhausted = true;
        } else {
            try {
                wl->poison();
                const bitnet_status st = wl->run(k);
                ++report_.stats.verify_runs;
                if (st != BITNET_OK) {
                    c.rejected = true;
                    c.reason = fmt::format("reported an error: {}", status_string(st));
                } else if (std::string why = wl->check(); !why.empty()) {
                    c.rejected = true;
                    c.reason = "wrong result: " + why;
                }
                c.max_error = wl->max_error();
            } catch (const std::exception& e) {
                c.rejected = true;
                c.reason = e.what();
            }
            if (!c.rejected) timed.push_back(r.candidates.size());
        }
        r.candidates.push_back(std::move(c));
    }
    std::vector<std::function<bitnet_status()>> runs;
    for (size_t i : timed) runs.push_back([&wl, k = cands[i]] { return wl->run_timed(k); });
    std::vector<BenchOutcome> outs;
    try {
        outs = benchmark(runs, bench_, deadline_, report_.stats.bench_runs);
    } catch (const std::exception& e) { // a kernel that throws on a timed run is out, as on its checked one
        for (size_t i : timed) {
            r.candidates[i].rejected = true;
            r.candidates[i].reason = e.what();
        }
        return r;
    }
    for (size_t t = 0; t < timed.size(); ++t) {
        CandidateResult& c = r.candidates[timed[t]];
        const BenchOutcome& out = outs[t];
        if (out.error != BITNET_OK) {
            c.rejected = true;
            c.reason = fmt::format("reported an error on a timed run: {}", status_string(out.error));
        } else if (out.us.empty()) {
            c.reason = "not measured: time budget exhausted";
        } else {
            c.measured = true;
            c.runs = int(out.us.size());
            c.median_us = median(out.us) * wl->to_full;
            c.mad_us = mad(out.us) * wl->to_full;
            std::vector<std::string> notes;
            if (!no_ref.empty()) notes.push_back(no_ref);
            if (out.dropped) notes.push_back(fmt::format("dropped early: a clear loser after {} runs", c.runs));
            if (!wl->slice_note.empty()) notes.push_back(wl->slice_note);
            if (std::string n = wl->timing_note(cands[timed[t]]); !n.empty()) notes.push_back(std::move(n));
            for (size_t i = 0; i < notes.size(); ++i) c.reason += (i ? "; " : "") + notes[i];
        }
    }
    return r;
}

const TuneReport& KernelManager::tune(model::Model& model, int32_t n_batch, int32_t n_ctx) {
    const auto t0 = Clock::now();
    deadline_ = t0 + std::chrono::milliseconds(std::max(0, opt_.budget_ms));
    report_ = {};
    report_.mode = opt_.mode;
    report_.budget_ms = opt_.budget_ms;
    report_.cpu = cpu_identity().model;
    routes_.clear();
    rejected_.clear();
    const auto targets = model_targets(model, n_batch, n_ctx);
    // Give each candidate an equal share of the budget (roughly three per signature).
    bench_ = opt_.bench;
    bench_.max_seconds = std::min(opt_.bench.max_seconds,
                                  std::max(0.02, opt_.budget_ms * 1e-3 / (4.0 * std::max<size_t>(1, targets.size()))));

    const auto* host = router_.registry().host().get();
    const std::string machine = fmt::format("{} | flags {} | abi {:x} | threads {}", cpu_identity().model,
                                            cpu_identity().flags_hash, BITNET_PLUGIN_ABI_VERSION, host->n_threads);
    std::unique_ptr<TuningCache> cache;
    if (opt_.mode != "off") {
        cache = std::make_unique<TuningCache>(cache_dir(opt_.cache_dir), machine);
        report_.cache_file = cache->file().string();
    }
    model::Ops ops(router_);
    bool dirty = false;
    for (const TuneTarget& t : targets) {
        const auto cands = router_.candidates(t.shape);
        if (cands.empty()) continue; // the model's own route() names the missing kernel
        const std::string key = cache_key(t.shape, cands);
        SignatureResult r;
        const char* why = "autotune";
        bool done = false;
        if (opt_.mode == "cache" && cache) {
            if (auto hit = cache->find(key)) {
                if (auto aligned = align(*hit, cands)) {
                    r.candidates = std::move(*aligned);
                    r.source = "cache";
                    why = "cache";
                    done = true;
                    ++report_.stats.from_cache;
                }
            }
        }
        if (!done) {
            if (opt_.mode == "off" || Clock::now() >= deadline_) {
                for (const auto& k : cands) {
                    r.candidates.push_back(identity_of(k));
                    r.candidates.back().reason = opt_.mode == "off" ? "not measured: autotune off"
                                                                    : "not measured: time budget exhausted";
                }
                r.source = opt_.mode == "off" ? "static: autotune off" : "static: time budget exhausted";
                report_.stats.budget_exhausted |= opt_.mode != "off";
                ++report_.stats.static_order;
                why = "static-order";
            } else {
                r = measure(t, cands, ops);
                ++report_.stats.measured;
            }
        }
        r.shape = t.shape;
        r.signature = signature_string(t.shape);
        r.family = std::string(op_name(t.shape.op));
        r.bucket = std::string(batch_bucket(t.shape.m));
        work_of(t, r.ops, r.bytes);
        std::vector<KernelRef> order = routing_order(r, cands);
        if (r.source.rfind("measured", 0) == 0 && cache) {
            cache->put(key, r);
            dirty = true;
        }
        for (const auto& c : r.candidates)
            if (c.rejected)
                for (const auto& k : cands)
                    if (k.plugin->name() == c.plugin && c.kernel == k.desc->name) rejected_.push_back({t.shape, k.desc});
        if (order.empty()) order = cands; // nothing survived: let Ops report the failures
        if (opt_.mode != "off") router_.set_order(t.shape, order, why);
        routes_.push_back({t.shape, std::move(order)});
        report_.signatures.push_back(std::move(r));
    }
    report_.stats.signatures = int(report_.signatures.size());
    if (dirty) cache->save();
    if (opt_.mode != "off") router_.set_resolver([this](const bitnet_shape& s) { return resolve(s); });
    if (opt_.adapt) {
        monitor_ = std::make_unique<AdaptiveMonitor>(router_, opt_.adapt_options);
        for (const auto& r : report_.signatures)
            if (r.winner >= 0 && r.candidates[r.winner].measured) monitor_->set_baseline(r.shape, r.candidates[r.winner].median_us);
        router_.set_observer(monitor_.get());
    }
    report_.stats.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    logger().info("autotune ({}): {} signatures, {} measured, {} from cache, {} static, {} timed runs, {:.0f} ms",
                  opt_.mode, report_.stats.signatures, report_.stats.measured, report_.stats.from_cache,
                  report_.stats.static_order, report_.stats.bench_runs, report_.stats.elapsed_ms);
    return report_;
}

} // namespace bitnet::tuning
