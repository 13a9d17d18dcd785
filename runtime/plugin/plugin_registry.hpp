// All plugins of one runtime: scans the search folders, loads every candidate, keeps the verdicts
// for `bitnet plugins`, and owns the loaded instances.
#pragma once

#include "plugin/host_api.hpp"
#include "plugin/plugin_loader.hpp"
#include "plugin/search_path.hpp"

#include <memory>
#include <vector>

namespace bitnet {

class PluginRegistry {
public:
    // `pool` is the shared thread pool every plugin's parallel regions run on; it must outlive
    // the registry.
    explicit PluginRegistry(ThreadPool* pool);
    // Synchronizes every device, destroys every instance, then unloads the shared objects,
    // in reverse load order.
    ~PluginRegistry();
    PluginRegistry(const PluginRegistry&) = delete;
    PluginRegistry& operator=(const PluginRegistry&) = delete;

    // Loads every `*.so` in each folder (sorted by file name, folders in the order given). A
    // plugin name already loaded from an earlier file is refused as a duplicate.
    // Plugins named in `disabled` are refused with that reason.
    void discover(const std::vector<SearchDir>& dirs, const std::vector<std::string>& disabled = {});
    // Loads one file (used by tests and by discover).
    const LoadedPlugin* load(const std::filesystem::path& file, const std::vector<std::string>& disabled = {});

    const std::vector<PluginRecord>& records() const { return records_; }
    const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const { return plugins_; }
    const LoadedPlugin* find(std::string_view name) const;
    const HostApi& host() const { return host_; }

private:
    HostApi host_;
    std::vector<PluginRecord> records_;
    std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
};

} // namespace bitnet
