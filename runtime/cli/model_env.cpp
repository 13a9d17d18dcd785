#include "cli/model_env.hpp"

#include "core/log.hpp"
#include "core/memory_stats.hpp"

#if __has_include("modelgen/modelgen.hpp")
#include "modelgen/modelgen.hpp"
#define BITNET_HAVE_DEFAULT_MODEL 1
#endif

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

namespace bitnet::cli {

void add_model_options(po::options_description& desc, ModelOptions& o) {
    desc.add_options()
        ("model,m", po::value(&o.model), "GGUF model file (default: config's model, else the embedded demo model)")
        ("ctx-size,c", po::value(&o.ctx), "context length (default: config, else the model's, capped by the memory budget)")
        ("batch-size,b", po::value(&o.batch), "prompt tokens per forward pass")
        ("pin", po::value(&o.pins)->composing(), "route an op family to a plugin, e.g. --pin matmul=avx2 (repeatable)")
        ("autotune", po::value(&o.autotune), "kernel routing: full (measure), cache (measure what the cache lacks), off (static order); default: config")
        ("autotune-budget-ms", po::value(&o.budget_ms), "start-up tuning time budget (default: config, 20000)")
        ("adapt", po::bool_switch(&o.adapt), "re-route a kernel whose latency degrades while running (config autotune.adapt)")
        ("no-mmap", po::bool_switch(&o.no_mmap), "read the weights into huge-page memory instead of mapping the file (config use_mmap: false)")
        ("no-huge-pages", po::bool_switch(&o.no_huge_pages), "leave the mapped file's page cache in whatever pages it is in, rather than re-reading it in 2 MiB pages once (config mmap_huge_pages: false)")
        ("device", po::value(&o.device), "where the model runs: auto (a GPU plugin covering every op, else the CPU), cpu, or a GPU plugin's name such as cuda; default: config");
}

std::unique_ptr<ModelEnv> make_model_env(const CommonOptions& common, const ModelOptions& mo) {
    auto env = std::make_unique<ModelEnv>();
    env->runtime = make_runtime(common);
    const Config& cfg = env->runtime->config;
    RouterOptions ro;
    ro.pins = cfg.autotune.pin;
    for (const auto& p : mo.pins) {
        const auto eq = p.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == p.size())
            throw po::error(fmt::format("--pin expects op=plugin, got '{}'", p));
        ro.pins[p.substr(0, eq)] = p.substr(eq + 1);
    }
    for (const auto& [op, plugin] : ro.pins)
        if (env->runtime->plugins->find(plugin) == nullptr)
            throw std::runtime_error(fmt::format("pin {}={}: no plugin named '{}' is loaded (see bitnet plugins)", op, plugin, plugin));
    env->router = std::make_unique<Router>(*env->runtime->plugins, ro);

    std::string path = !mo.model.empty() ? mo.model : cfg.model;
    if (path.empty()) {
#ifdef BITNET_HAVE_DEFAULT_MODEL
        path = modelgen::ensure_default_model().string();
        env->is_default_model = true;
        std::fprintf(stderr, "note: no model given (-m); using the embedded demo model %s.\n"
                             "      Its weights are RANDOM: the text is meaningless until you pass a real model.\n",
                     path.c_str());
#else
        throw std::runtime_error("no model given: pass -m FILE");
#endif
    }
    const auto t0 = std::chrono::steady_clock::now();
    const bool map = cfg.use_mmap && !mo.no_mmap;
    env->model = model::Model::load(path, map ? gguf::File::Load::map : gguf::File::Load::read);
    if (map && cfg.mmap_huge_pages && !mo.no_huge_pages) {
        const auto hp = env->model->file().adopt_huge_pages();
        logger().log(hp.reread ? spdlog::level::info : spdlog::level::debug, "{}: {}", path, hp.note);
    }
    model::SessionOptions so;
    so.n_ctx = mo.ctx >= 0 ? mo.ctx : cfg.context_length;
    so.n_batch = mo.batch > 0 ? mo.batch : cfg.batch_size;
    so.device = !mo.device.empty() ? mo.device : cfg.device;
    so.n_seq = mo.n_seq;
    so.kv_budget_bytes = cfg.memory_budget_mb > 0 ? cfg.memory_budget_mb << 20 : int64_t(physical_memory_bytes() / 4);

    tuning::ManagerOptions to;
    to.mode = !mo.autotune.empty() ? mo.autotune : cfg.autotune.mode;
    if (to.mode != "full" && to.mode != "cache" && to.mode != "off")
        throw po::error(fmt::format("--autotune expects full, cache or off, got '{}'", to.mode));
    to.cache_dir = cfg.autotune.cache_dir;
    to.budget_ms = mo.budget_ms >= 0 ? mo.budget_ms : cfg.autotune.budget_ms;
    to.adapt = mo.adapt || cfg.autotune.adapt;
    env->tuner = std::make_unique<tuning::KernelManager>(*env->router, to);
    // The sizes the Session will settle on, so the tuned signatures are the ones it asks for.
    const int32_t n_ctx = model::choose_n_ctx(env->model->hparams(), so.n_ctx, so.kv_budget_bytes);
    const auto t_tune = std::chrono::steady_clock::now();
    env->tuner->tune(*env->model, std::max(1, std::min(so.n_batch, n_ctx)), n_ctx);
    env->tune_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_tune).count();
    env->session = std::make_unique<model::Session>(*env->model, *env->router, so);
    env->load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return env;
}

} // namespace bitnet::cli
