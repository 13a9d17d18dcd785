#include "plugin/plugin_registry.hpp"

#include "core/log.hpp"

#include <algorithm>

namespace bitnet {

PluginRegistry::PluginRegistry(ThreadPool* pool) : host_(pool) {}

PluginRegistry::~PluginRegistry() {
    for (auto& p : plugins_) {
        if (const bitnet_device_iface* dev = p->device_iface(); dev && dev->synchronize)
            dev->synchronize(p->instance());
    }
    while (!plugins_.empty()) plugins_.pop_back();
}

const LoadedPlugin* PluginRegistry::find(std::string_view name) const {
    for (const auto& p : plugins_)
        if (p->name() == name) return p.get();
    return nullptr;
}

const LoadedPlugin* PluginRegistry::load(const std::filesystem::path& file,
                                         const std::vector<std::string>& disabled) {
    PluginRecord rec;
    auto plugin = load_plugin(file, host_, rec, disabled);
    if (plugin && find(plugin->name()) != nullptr) {
        rec.loaded = false;
        rec.reason = "duplicate plugin name, already loaded from " + find(plugin->name())->path().string();
        plugin.reset();
    }
    if (verbose("load")) logger().info("plugin {}: {}", file.string(), rec.loaded ? "loaded" : rec.reason);
    records_.push_back(rec);
    if (!plugin) return nullptr;
    plugins_.push_back(std::move(plugin));
    return plugins_.back().get();
}

void PluginRegistry::discover(const std::vector<SearchDir>& dirs, const std::vector<std::string>& disabled) {
    for (const auto& d : dirs) {
        std::error_code ec;
        if (!std::filesystem::is_directory(d.dir, ec)) {
            logger().debug("plugin folder {} ({}) does not exist", d.dir.string(), d.origin);
            continue;
        }
        std::vector<std::filesystem::path> files;
        for (const auto& entry : std::filesystem::directory_iterator(d.dir, ec)) {
            std::error_code fec;
            if (entry.is_regular_file(fec) && entry.path().extension() == ".so") files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) load(f, disabled);
    }
}

} // namespace bitnet
