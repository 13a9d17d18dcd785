// Finds plugin shared objects, checks them and loads them with Boost.DLL. Every file gets a
// verdict: loaded, or refused with the reason (load error, missing entry symbol, ABI mismatch,
// bad descriptor, probe says unsupported, create failed, duplicate name). One bad file never
// stops the others.
#pragma once

#include <bitnet/plugin.h>

#include <boost/dll/shared_library.hpp>

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace bitnet {

class ThreadPool;
class HostApi;

// A plugin instance that passed every check. Destroying it destroys the instance, then unloads
// the shared object, in that order.
class LoadedPlugin {
public:
    LoadedPlugin(boost::dll::shared_library lib, const bitnet_plugin_descriptor* desc, void* instance,
                 std::filesystem::path path);
    ~LoadedPlugin();
    LoadedPlugin(const LoadedPlugin&) = delete;
    LoadedPlugin& operator=(const LoadedPlugin&) = delete;

    const std::string& name() const { return name_; }
    const std::string& version() const { return version_; }
    const std::string& build_id() const { return build_id_; }
    const std::filesystem::path& path() const { return path_; }
    bitnet_device_kind device_kind() const { return desc_->device_kind; }
    std::string device_description() const;
    void* instance() const { return instance_; }
    const bitnet_plugin_descriptor& descriptor() const { return *desc_; }
    // Kernels whose descriptors passed validation (size, name, op range, run != NULL).
    std::span<const bitnet_kernel_desc* const> kernels() const { return kernels_; }
    // NULL for CPU plugins.
    const bitnet_device_iface* device_iface() const { return device_; }

private:
    boost::dll::shared_library lib_;
    const bitnet_plugin_descriptor* desc_;
    void* instance_;
    std::filesystem::path path_;
    std::string name_, version_, build_id_;
    std::vector<bitnet_kernel_desc> kernel_copies_; // this host's size; never resized after construction
    std::vector<const bitnet_kernel_desc*> kernels_;
    const bitnet_device_iface* device_ = nullptr;
};

// Whether a loaded kernel reads ABI 1.4's kv_head_stride. The loader's copies are zero-filled past a
// plugin's struct_size, so a kernel of an older plugin reads as not.
inline bool reads_kv_head_stride(const bitnet_kernel_desc& k) { return (k.flags & BITNET_KERNEL_FLAG_KV_HEAD_STRIDE) != 0; }
// The ops that read or write the KV cache.
inline bool kv_cache_op(bitnet_op op) {
    return op == BITNET_OP_ATTENTION || op == BITNET_OP_ATTENTION_SEQS || op == BITNET_OP_KV_STORE ||
           op == BITNET_OP_KV_STORE_SEQS;
}

// Human-readable name of a status code ("out of memory", ...).
const char* status_string(bitnet_status s);

// What happened to one candidate file.
struct PluginRecord {
    std::filesystem::path path;
    std::string name;        // from the descriptor when it could be read, else the file stem
    std::string version;
    std::string device;      // "cpu", "gpu" or a plugin-provided description
    bool loaded = false;
    std::string reason;      // why refused (empty when loaded)
    size_t kernels = 0;
};

// Loads one file. On success returns the plugin and fills `record`; on refusal returns null and
// record.reason says why. Never throws.
// Plugins whose descriptor name is in `disabled` are refused before probe/create.
std::unique_ptr<LoadedPlugin> load_plugin(const std::filesystem::path& path, const HostApi& host,
                                          PluginRecord& record,
                                          const std::vector<std::string>& disabled = {});

} // namespace bitnet
