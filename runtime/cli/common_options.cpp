#include "cli/common_options.hpp"

#include "plugin/search_path.hpp"

#include <iostream>

namespace bitnet::cli {

void add_common_options(po::options_description& desc, CommonOptions& opts) {
    desc.add_options()
        ("help,h", "show this help")
        ("config", po::value(&opts.config_file), "YAML deployment file (see configs/default.yaml)")
        ("plugin-dir", po::value(&opts.plugin_dirs)->composing(),
         "folder to load backend plugins from (repeatable; searched first)")
        ("threads,t", po::value(&opts.threads), "threads (default: config, else one per core)");
}

bool parse_args(int argc, char** argv, const po::options_description& desc, po::variables_map& vm,
                const char* usage, const po::positional_options_description* positional) {
    auto parser = po::command_line_parser(argc, argv).options(desc);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
        std::cout << "usage: " << usage << "\n\n" << desc << "\n";
        return false;
    }
    po::notify(vm);
    return true;
}

Config effective_config(const CommonOptions& opts) {
    Config c = opts.config_file.empty() ? Config{} : load_config(opts.config_file);
    if (opts.threads >= 0) {
        if (opts.threads > 1024) throw ConfigError("--threads: expected 0..1024");
        c.threads = opts.threads;
    }
    return c;
}

std::unique_ptr<RuntimeEnv> make_runtime(const CommonOptions& opts) {
    auto env = std::make_unique<RuntimeEnv>();
    env->config = effective_config(opts);
    const int threads = env->config.threads > 0 ? env->config.threads : ThreadPool::default_threads();
    env->pool = std::make_unique<ThreadPool>(threads);
    env->plugins = std::make_unique<PluginRegistry>(env->pool.get());
    auto dirs = plugin_search_dirs(opts.plugin_dirs, env->config.plugin_search_paths);
    env->plugins->discover(dirs, env->config.plugin_disable);
    return env;
}

} // namespace bitnet::cli
