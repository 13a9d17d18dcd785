#include "plugin/plugin_loader.hpp"

#include "core/log.hpp"
#include "plugin/host_api.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include <boost/dll/shared_library.hpp>

#include <array>
#include <exception>

namespace bitnet {

namespace {

// Members every 1.x descriptor has; later-minor members are checked with BITNET_HAS_MEMBER.
constexpr size_t kMinDescriptorSize =
    offsetof(bitnet_plugin_descriptor, get_kernels) + sizeof(bitnet_plugin_descriptor::get_kernels);
constexpr size_t kMinKernelSize =
    offsetof(bitnet_kernel_desc, run) + sizeof(bitnet_kernel_desc::run);

std::string abi_string(uint32_t v) { return fmt::format("{}.{}", BITNET_ABI_MAJOR(v), BITNET_ABI_MINOR(v)); }

const char* status_name(bitnet_status s) {
    switch (s) {
    case BITNET_OK: return "ok";
    case BITNET_ERR_INVALID_ARGUMENT: return "invalid argument";
    case BITNET_ERR_UNSUPPORTED: return "unsupported";
    case BITNET_ERR_OUT_OF_MEMORY: return "out of memory";
    case BITNET_ERR_DEVICE: return "device error";
    case BITNET_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

// Why a kernel descriptor cannot be used, or empty when it can.
std::string kernel_problem(const bitnet_kernel_desc& k) {
    if (k.struct_size < kMinKernelSize) return fmt::format("struct_size {} too small", k.struct_size);
    if (k.name == nullptr || *k.name == '\0') return "no name";
    if (k.op <= BITNET_OP_NONE || k.op >= BITNET_OP_COUNT_) return fmt::format("unknown op {}", int(k.op));
    if (k.weight_format < BITNET_WF_NONE || k.weight_format >= BITNET_WF_COUNT_)
        return fmt::format("unknown weight format {}", int(k.weight_format));
    if (k.act_type < BITNET_ACT_NONE || k.act_type >= BITNET_ACT_COUNT_)
        return fmt::format("unknown activation type {}", int(k.act_type));
    if (k.run == nullptr) return "run is NULL";
    if ((k.pack_weights == nullptr) != (k.release_packed == nullptr))
        return "pack_weights and release_packed must both be set or both be NULL";
    return {};
}

} // namespace

const char* status_string(bitnet_status s) { return status_name(s); }

LoadedPlugin::LoadedPlugin(boost::dll::shared_library lib, const bitnet_plugin_descriptor* desc,
                           void* instance, std::filesystem::path path)
    : lib_(std::move(lib)), desc_(desc), instance_(instance), path_(std::move(path)),
      name_(desc->name), version_(desc->version), build_id_(desc->build_id ? desc->build_id : "") {
    size_t count = 0;
    const bitnet_kernel_desc* table = desc_->get_kernels(instance_, &count);
    // The entries are the plugin's struct_size apart, which is smaller than ours for a plugin
    // built against an older minor (1.4 added `flags`). Each usable entry is copied into a
    // zero-filled descriptor of this host's size (members the plugin does not have read as 0 /
    // NULL); its struct_size stays the plugin's, so BITNET_HAS_MEMBER still tells them apart.
    const size_t stride = table != nullptr && count > 0 ? table[0].struct_size : 0;
    if (table != nullptr && count > 0 && stride < kMinKernelSize) {
        logger().warn("plugin {}: kernel table ignored: entry struct_size {} is smaller than ABI 1.0's {}", name_,
                      stride, kMinKernelSize);
        count = 0;
    }
    kernel_copies_.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        const auto* entry = reinterpret_cast<const bitnet_kernel_desc*>(reinterpret_cast<const char*>(table) + i * stride);
        if (entry->struct_size != stride) {
            logger().warn("plugin {}: kernel #{} ignored: struct_size {} differs from the table's {}", name_, i,
                          entry->struct_size, stride);
            continue;
        }
        bitnet_kernel_desc k{};
        std::memcpy(&k, entry, std::min(stride, sizeof k));
        if (std::string why = kernel_problem(k); !why.empty()) {
            logger().warn("plugin {}: kernel #{} ignored: {}", name_, i, why);
            continue;
        }
        kernel_copies_.push_back(k);
    }
    for (const bitnet_kernel_desc& k : kernel_copies_) kernels_.push_back(&k);
    if (BITNET_HAS_MEMBER(desc_, bitnet_plugin_descriptor, get_device_iface) && desc_->get_device_iface)
        device_ = desc_->get_device_iface(instance_);
}

LoadedPlugin::~LoadedPlugin() {
    // The instance goes first: its code lives in lib_, which unloads when this object's members die.
    if (desc_ && desc_->destroy && instance_) desc_->destroy(instance_);
}

std::string LoadedPlugin::device_description() const {
    if (BITNET_HAS_MEMBER(desc_, bitnet_plugin_descriptor, describe_device) && desc_->describe_device) {
        if (const char* d = desc_->describe_device(instance_); d != nullptr && *d != '\0') return d;
    }
    return desc_->device_kind == BITNET_DEVICE_GPU ? "gpu" : "cpu";
}

std::unique_ptr<LoadedPlugin> load_plugin(const std::filesystem::path& path, const HostApi& host,
                                          PluginRecord& rec, const std::vector<std::string>& disabled) {
    rec = PluginRecord{};
    rec.path = path;
    rec.name = path.stem().string();
    if (rec.name.rfind("libbitnet-", 0) == 0) rec.name = rec.name.substr(10);
    try {
        boost::dll::shared_library lib;
        try {
            lib.load(boost::dll::fs::path(path.string()),
                     boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
        } catch (const std::exception& e) {
            rec.reason = fmt::format("load error: {}", e.what());
            return nullptr;
        }
        if (!lib.has(BITNET_PLUGIN_ENTRY_SYMBOL)) {
            rec.reason = "missing entry symbol " BITNET_PLUGIN_ENTRY_SYMBOL;
            return nullptr;
        }
        auto entry = lib.get<const bitnet_plugin_descriptor*()>(BITNET_PLUGIN_ENTRY_SYMBOL);
        const bitnet_plugin_descriptor* desc = entry();
        if (desc == nullptr) {
            rec.reason = BITNET_PLUGIN_ENTRY_SYMBOL " returned NULL";
            return nullptr;
        }
        // The version is checked before any other member is trusted: a different major may have
        // a different layout after the first two fields.
        if (desc->struct_size < 2 * sizeof(uint32_t)) {
            rec.reason = fmt::format("descriptor struct_size {} is too small", desc->struct_size);
            return nullptr;
        }
        if (BITNET_ABI_MAJOR(desc->abi_version) != BITNET_PLUGIN_ABI_VERSION_MAJOR) {
            rec.reason = fmt::format("ABI version mismatch: plugin built for ABI {}, host speaks ABI {}",
                                     abi_string(desc->abi_version), abi_string(BITNET_PLUGIN_ABI_VERSION));
            return nullptr;
        }
        if (desc->struct_size < kMinDescriptorSize) {
            rec.reason = fmt::format("descriptor struct_size {} is smaller than ABI 1.0's {}",
                                     desc->struct_size, kMinDescriptorSize);
            return nullptr;
        }
        if (desc->name == nullptr || *desc->name == '\0' || desc->version == nullptr) {
            rec.reason = "descriptor has no name or version";
            return nullptr;
        }
        rec.name = desc->name;
        rec.version = desc->version;
        rec.device = desc->device_kind == BITNET_DEVICE_GPU ? "gpu" : "cpu";
        if (std::find(disabled.begin(), disabled.end(), rec.name) != disabled.end()) {
            rec.reason = "disabled by configuration (plugins.disable)";
            return nullptr;
        }
        if (desc->probe == nullptr || desc->create == nullptr || desc->destroy == nullptr ||
            desc->get_kernels == nullptr) {
            rec.reason = "descriptor lacks probe, create, destroy or get_kernels";
            return nullptr;
        }
        std::array<char, 512> why{};
        if (desc->probe(why.data(), why.size()) != 1) {
            why.back() = '\0';
            rec.reason = fmt::format("unsupported on this machine: {}", why[0] ? why.data() : "probe said no");
            return nullptr;
        }
        void* instance = nullptr;
        if (bitnet_status st = desc->create(host.get(), &instance); st != BITNET_OK || instance == nullptr) {
            rec.reason = fmt::format("create failed: {}", st != BITNET_OK ? status_name(st) : "NULL instance");
            return nullptr;
        }
        auto plugin = std::make_unique<LoadedPlugin>(std::move(lib), desc, instance, path);
        if (desc->device_kind == BITNET_DEVICE_GPU) {
            const bitnet_device_iface* dev = plugin->device_iface();
            if (dev == nullptr || dev->alloc == nullptr || dev->free == nullptr ||
                dev->copy_to_device == nullptr || dev->copy_to_host == nullptr ||
                dev->copy_on_device == nullptr || dev->synchronize == nullptr) {
                rec.reason = "GPU plugin without a complete device memory interface";
                return nullptr;
            }
        }
        rec.device = plugin->device_description();
        rec.loaded = true;
        rec.kernels = plugin->kernels().size();
        return plugin;
    } catch (const std::exception& e) {
        rec.reason = fmt::format("load error: {}", e.what());
        return nullptr;
    }
}

} // namespace bitnet
