// What the model-running subcommands share: -m/--model, context and batch flags, and the loaded
// model with its router and session on top of the common runtime environment.
#pragma once

#include "cli/common_options.hpp"
#include "dispatch/router.hpp"
#include "model/model.hpp"
#include "tuning/kernel_manager.hpp"

#include <memory>
#include <string>

namespace bitnet::cli {

struct ModelOptions {
    std::string model;      // empty: config's model, else the embedded default
    int ctx = -1;           // -1: config
    int batch = -1;         // -1: config
    std::vector<std::string> pins; // op=plugin
    std::string autotune;   // full | cache | off; empty: config
    int budget_ms = -1;     // -1: config
    bool adapt = false;     // or config's autotune.adapt
    std::string device;     // auto | cpu | a GPU plugin ("cuda"); empty: config
    bool no_mmap = false;   // or config's use_mmap: false
    bool no_huge_pages = false; // or config's mmap_huge_pages: false
    int n_seq = 1;          // independent sequences in the session (set by commands, not an option)
};

void add_model_options(po::options_description& desc, ModelOptions& opts);

struct ModelEnv {
    std::unique_ptr<RuntimeEnv> runtime;
    std::unique_ptr<Router> router;
    std::unique_ptr<model::Model> model;
    std::unique_ptr<tuning::KernelManager> tuner; // routes the model's signatures; outlives the session's use
    std::unique_ptr<model::Session> session;
    bool is_default_model = false;
    double load_seconds = 0;
    double tune_seconds = 0;  // part of load_seconds spent verifying/benchmarking kernels
};

// Loads plugins, the model (or the embedded default, saying so on stderr), tunes the kernel routes
// (autotune mode from the flag, else the config) and builds a session on them.
std::unique_ptr<ModelEnv> make_model_env(const CommonOptions& common, const ModelOptions& mopts);

} // namespace bitnet::cli
