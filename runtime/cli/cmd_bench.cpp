// `bitnet bench -m FILE -t N -p 128 -n 64 [-r R] [--json]`: llama-bench-style throughput of a
// model file — prompt processing (pp) and generation (tg) tokens/s over R runs (median and
// spread), per-token latency p50/p95, time to first token, peak RSS — and the memory read
// bandwidth measured in the same run, with the fraction of the roofline tg reaches
// (bytes read per token × tokens/s ÷ bandwidth). The --json object is a contract.
// --parallel N adds a test of N sequences decoded together (Session::decode_parallel): aggregate
// tokens/s, the serving figure, with the weights read once per step for all N.
// --profile adds where the time goes: milliseconds per token of every (signature, kernel) in tg
// (per prompt in pp), the matmuls' weight streaming rate, and what the kernels leave to the host.
#include "cli/commands.hpp"
#include "cli/model_env.hpp"
#include "core/bandwidth.hpp"
#include "core/memory_stats.hpp"
#include "dispatch/op_profile.hpp"
#include "model/logits.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>

namespace bitnet::cli {

namespace {
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}
double percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return 0.0;
    return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}
// Median absolute deviation: a spread that one noisy run cannot inflate.
double mad(const std::vector<double>& v) {
    const double m = median(v);
    std::vector<double> d;
    for (double x : v) d.push_back(std::fabs(x - m));
    return median(d);
}
} // namespace

int cmd_bench(int argc, char** argv) {
    CommonOptions common;
    ModelOptions mopts;
    int n_prompt = 128, n_gen = 64, reps = 3, parallel = 0, depth = 0;
    po::options_description desc("bitnet bench options");
    add_common_options(desc, common);
    add_model_options(desc, mopts);
    desc.add_options()
        ("n-prompt,p", po::value(&n_prompt), "prompt tokens for pp (default 128; 0 = skip)")
        ("n-gen,n", po::value(&n_gen), "generated tokens for tg (default 64; 0 = skip)")
        ("repetitions,r", po::value(&reps), "runs of each test (default 3)")
        ("n-depth,d", po::value(&depth), "tokens already in the KV cache when tg starts (llama-bench's -d; default 0)")
        ("parallel", po::value(&parallel), "also decode N sequences together (aggregate tg tokens/s; default off)")
        ("profile", "also report the time of every kernel per token (tg) and per prompt (pp)")
        ("json", "print one JSON object");
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm, "bitnet bench -m FILE [-t N] [-p 128] [-n 64] [-r 3] [--json]")) return 0;
    if (n_prompt < 0 || n_gen < 0 || reps < 1 || depth < 0) throw po::error("-p, -n and -d must be >= 0 and -r >= 1");
    if (parallel < 0 || parallel == 1 || parallel > 256) throw po::error("--parallel must be 0 (off) or 2..256");
    if (parallel > 1) mopts.n_seq = parallel;
    if (mopts.ctx < 0) mopts.ctx = std::max(n_prompt, depth + n_gen + 1) + 16;
    // The depth is filled as a prompt, in batches (a token at a time would take minutes at 4096).
    if (mopts.batch < 0) mopts.batch = std::max({n_prompt, parallel, std::min(depth + 1, 512), 1});
    auto env = make_model_env(common, mopts);
    auto& session = *env->session;
    const int32_t V = env->model->hparams().n_vocab;
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> tok(0, V - 1);
    std::vector<float> logits;

    // Warm-up: one short pass touches every weight page and packs nothing new.
    {
        std::vector<int32_t> w(std::min(n_prompt, 8) + 1);
        for (auto& t : w) t = tok(rng);
        session.reset();
        session.decode(w, false, logits);
    }
    // Profiles chain to whatever observer is installed (the --adapt monitor) and are taken off
    // again before the probe.
    Router& router = session.ops().router();
    KernelObserver* const installed = router.observer();
    const bool profile = vm.count("profile") > 0;
    OpProfile pp_profile(installed), tg_profile(installed);
    double pp_wall = 0, tg_wall = 0;
    std::vector<double> pp_tps, tg_tps, lat_ms, ttft_ms;
    // The bandwidth a decode gets moves while a benchmark runs (on shared machines by tens of
    // percent within a minute), so each repetition's tg run is followed by its own probe and the
    // roofline fraction is the median of the repetitions' pairs. The probe's 2 GiB buffer is not
    // the model's memory: the peak RSS is read before each probe and its high-water mark reset
    // after it. Where that reset is refused, one probe runs after every repetition, as a whole.
    uint64_t peak_rss = peak_rss_bytes();
    const bool paired = n_gen > 0 && reset_peak_rss();
    std::vector<double> bw_gbs;
    auto probe = [&] {
        peak_rss = std::max(peak_rss, peak_rss_bytes());
        bw_gbs.push_back(measure_read_bandwidth(*env->runtime->pool).gb_per_s);
        if (paired) reset_peak_rss();
    };
    for (int r = 0; r < reps; ++r) {
        if (n_prompt > 0) {
            if (profile) router.set_observer(&pp_profile);
            std::vector<int32_t> p(n_prompt);
            for (auto& t : p) t = tok(rng);
            session.reset();
            const auto t0 = Clock::now();
            session.decode(p, false, logits);
            const double s = std::chrono::duration<double>(Clock::now() - t0).count();
            router.set_observer(installed);
            pp_wall += s;
            pp_tps.push_back(n_prompt / s);
            ttft_ms.push_back(s * 1000.0);
        }
        if (n_gen > 0) {
            session.reset();
            // The context the generated tokens attend to: `depth` tokens, then the first one, untimed.
            std::vector<int32_t> ctx(static_cast<size_t>(depth) + 1);
            for (auto& t : ctx) t = tok(rng);
            session.decode(ctx, false, logits);
            int32_t t = 0;
            double total = 0;
            for (int i = 0; i < n_gen; ++i) {
                t = model::argmax(logits.data(), logits.size());
                if (profile) router.set_observer(&tg_profile);
                const auto t0 = Clock::now();
                session.decode(std::span<const int32_t>(&t, 1), false, logits);
                const double s = std::chrono::duration<double>(Clock::now() - t0).count();
                router.set_observer(installed);
                total += s;
                lat_ms.push_back(s * 1000.0);
            }
            tg_wall += total;
            tg_tps.push_back(n_gen / total);
            if (paired) probe();
        }
    }
    // N sequences, one token each per step, each continuing greedily from its own logits.
    std::vector<double> par_tps;
    for (int r = 0; r < reps && parallel > 1 && n_gen > 0; ++r) {
        session.reset();
        std::vector<int32_t> seqs(static_cast<size_t>(parallel)), toks(static_cast<size_t>(parallel));
        for (int32_t s = 0; s < parallel; ++s) {
            seqs[size_t(s)] = s;
            toks[size_t(s)] = tok(rng);
        }
        session.decode_parallel(seqs, toks, logits); // the first step of each, untimed
        double total = 0;
        for (int i = 0; i < n_gen; ++i) {
            for (int32_t s = 0; s < parallel; ++s) toks[size_t(s)] = model::argmax(logits.data() + size_t(s) * V, V);
            const auto t0 = Clock::now();
            session.decode_parallel(seqs, toks, logits);
            total += std::chrono::duration<double>(Clock::now() - t0).count();
        }
        par_tps.push_back(double(parallel) * n_gen / total);
    }
    if (!paired) probe();
    peak_rss = std::max(peak_rss, peak_rss_bytes());
    const size_t bytes_per_token = env->model->weights().bytes_per_token();
    const double tg = median(tg_tps);
    // Per pair (or the single probe against the median tg rate): bytes per token x tokens/s / GB/s.
    std::vector<double> fractions;
    for (size_t i = 0; i < bw_gbs.size(); ++i) {
        const double rate = paired ? tg_tps[i] : tg;
        fractions.push_back(bw_gbs[i] > 0 ? (double(bytes_per_token) * rate / 1e9) / bw_gbs[i] : 0.0);
    }
    const double bandwidth = median(bw_gbs), roofline = median(fractions);
    const int threads = env->runtime->pool->size();

    nlohmann::json j = {
        {"model", mopts.model.empty() ? std::string("(default)") : mopts.model},
        {"threads", threads},
        {"repetitions", reps},
        {"pp", {{"n_tokens", n_prompt}, {"tokens_per_s", median(pp_tps)}, {"mad_tokens_per_s", mad(pp_tps)}, {"runs", pp_tps}}},
        {"tg", {{"n_tokens", n_gen}, {"n_depth", depth}, {"tokens_per_s", tg}, {"mad_tokens_per_s", mad(tg_tps)}, {"p50_ms", percentile(lat_ms, 0.5)},
                {"p95_ms", percentile(lat_ms, 0.95)}, {"runs", tg_tps}, {"samples_ms", lat_ms}}},
        {"ttft_ms", median(ttft_ms)},
        {"peak_rss_bytes", peak_rss},
        {"model_file_bytes", env->model->file().file_size()},
        {"packed_weight_bytes", env->model->weights().packed_bytes()},
        {"bytes_per_token", bytes_per_token},
        {"bandwidth_gbs", bandwidth},
        {"roofline_fraction", roofline},
        // One probe after each repetition's tg run (median above), or one after all of them.
        {"bandwidth_runs_gbs", bw_gbs},
        {"roofline_runs", fractions},
        // How the run held its memory, which moves both figures (see README: --no-mmap, BITNET_KV_LAYOUT).
        {"device", session.device()},
        {"weights", env->model->file().mapped() ? "mmap" : "read"},
        // Of a mapped file, the bytes mapped as 2 MiB pages after the runs (see --no-huge-pages).
        {"weights_huge_page_bytes", env->model->file().huge_mapped_bytes()},
        {"kv_layout", session.kv_head_major() ? "head-major" : "interleaved"},
    };
    if (!par_tps.empty())
        j["parallel"] = {{"n_seq", parallel}, {"tokens_per_s", median(par_tps)}, {"mad_tokens_per_s", mad(par_tps)},
                         {"runs", par_tps}};
    if (profile) {
        j["profile"] = nlohmann::json::object();
        if (n_gen > 0) j["profile"]["tg"] = tg_profile.report(double(reps) * n_gen, tg_wall);
        if (n_prompt > 0) j["profile"]["pp"] = pp_profile.report(double(reps), pp_wall);
    }
    if (vm.count("json")) {
        std::cout << j.dump() << "\n";
        return 0;
    }
    const auto& hp = env->model->hparams();
    const std::string pages = env->model->file().mapped()
                                  ? fmt::format(" ({:.0f} % in 2 MiB pages)", 100.0 * j["weights_huge_page_bytes"].get<double>() /
                                                                                 double(env->model->file().file_size()))
                                  : std::string();
    std::cout << fmt::format("model: {} ({}, {} layers, hidden {}, {:.1f} MB read per token), threads {}, weights {}{}, "
                             "KV cache {}\n",
                             mopts.model.empty() ? "(default)" : mopts.model, hp.arch_name, hp.n_layer, hp.n_embd,
                             bytes_per_token / 1e6, threads, j["weights"].get<std::string>(), pages,
                             j["kv_layout"].get<std::string>());
    std::cout << fmt::format("| test  | tokens/s (median ± MAD) | p50 ms | p95 ms |\n|-------|------------------------|--------|--------|\n");
    if (n_prompt > 0) std::cout << fmt::format("| pp{:<3} | {:>10.2f} ± {:<9.2f} |        |        |\n", n_prompt, median(pp_tps), mad(pp_tps));
    if (n_gen > 0)
        std::cout << fmt::format("| tg{:<3} | {:>10.2f} ± {:<9.2f} | {:6.2f} | {:6.2f} |\n", n_gen, tg, mad(tg_tps),
                                 percentile(lat_ms, 0.5), percentile(lat_ms, 0.95));
    if (!par_tps.empty())
        std::cout << fmt::format("| tg{:<3} x{:<3} sequences | {:>10.2f} ± {:<9.2f} (aggregate) |\n", n_gen, parallel,
                                 median(par_tps), mad(par_tps));
    std::cout << fmt::format("ttft {:.1f} ms | peak RSS {:.1f} MiB (file {:.1f} MiB) | memory read bandwidth {:.2f} GB/s | "
                             "tg roofline fraction {:.2f}\n",
                             median(ttft_ms), peak_rss / 1048576.0, env->model->file().file_size() / 1048576.0, bandwidth, roofline);
    if (paired)
        std::cout << fmt::format("(each tg run paired with a bandwidth probe right after it; medians of: {:.1f} GB/s, "
                                 "roofline {:.2f})\n",
                                 fmt::join(bw_gbs, " / "), fmt::join(fractions, " / "));
    if (profile)
        for (const char* test : {"tg", "pp"}) {
            if (!j["profile"].contains(test)) continue;
            const auto& pr = j["profile"][test];
            std::cout << fmt::format("\n{} profile: {:.3f} ms per {} in all, {:.3f} in kernels (the rest is the host's)\n",
                                     test, pr["total_ms_per_unit"].get<double>(), test == std::string("tg") ? "token" : "prompt",
                                     pr["kernels_ms_per_unit"].get<double>());
            std::cout << "| share | ms | calls | GB/s | signature | kernel |\n|---|---|---|---|---|---|\n";
            for (const auto& r : pr["rows"])
                std::cout << fmt::format("| {:5.1f}% | {:.3f} | {:.0f} | {} | {} | {} |\n", 100 * r["share"].get<double>(),
                                         r["ms_per_unit"].get<double>(), r["calls_per_unit"].get<double>(),
                                         r.contains("weight_gbs") ? fmt::format("{:.1f}", r["weight_gbs"].get<double>()) : "",
                                         r["signature"].get<std::string>(), r["kernel"].get<std::string>());
        }
    return 0;
}

} // namespace bitnet::cli
