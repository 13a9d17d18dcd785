// Options every subcommand shares (--config, --plugin-dir, --threads) and the runtime
// environment they produce: configuration with flags applied, the shared thread pool and the
// plugin registry.
#pragma once

#include "config/config.hpp"
#include "core/thread_pool.hpp"
#include "plugin/plugin_registry.hpp"

#include <boost/program_options.hpp>

#include <memory>
#include <string>
#include <vector>

namespace bitnet::cli {

namespace po = boost::program_options;

struct CommonOptions {
    std::string config_file;
    std::vector<std::string> plugin_dirs;
    int threads = -1; // -1: from the config
};

// Adds --config, --plugin-dir and -t/--threads.
void add_common_options(po::options_description& desc, CommonOptions& opts);

// Parses argv (argv[0] is the subcommand name and is skipped, as a program name would be). Returns false after printing help (to stdout)
// when --help was given. Throws po::error on bad flags.
bool parse_args(int argc, char** argv, const po::options_description& desc, po::variables_map& vm,
                const char* usage, const po::positional_options_description* positional = nullptr);

// Reads --config (or nothing: built-in defaults) and applies the common flags.
Config effective_config(const CommonOptions& opts);

// The pool and plugins of one command. Members are destroyed plugins-first, then the pool, so no
// plugin code is unloaded while a worker could still run it.
struct RuntimeEnv {
    Config config;
    std::unique_ptr<ThreadPool> pool;
    std::unique_ptr<PluginRegistry> plugins;
};
std::unique_ptr<RuntimeEnv> make_runtime(const CommonOptions& opts);

} // namespace bitnet::cli
