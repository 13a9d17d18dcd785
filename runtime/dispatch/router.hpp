// Routes each kernel signature to one plugin kernel, with an ordered fallback list ending in the
// `scalar` reference. This is the static router (preference order + pins); the adaptive kernel
// manager decides the order by measuring and feeds it in through set_order().
#pragma once

#include "dispatch/signature.hpp"
#include "plugin/plugin_registry.hpp"

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace bitnet {

struct KernelRef {
    const LoadedPlugin* plugin = nullptr;
    const bitnet_kernel_desc* desc = nullptr;
    explicit operator bool() const { return desc != nullptr; }
    std::string label() const; // "avx512/matmul_i2s_i8row_gemv__avx512vnni"
};

class DispatchError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct RouterOptions {
    // op family ("matmul", "attention", ... or "all") -> plugin name, from --pin / autotune.pin.
    std::map<std::string, std::string> pins;
    // Plugins earlier in this list are preferred; unlisted plugins come after, then scalar last.
    std::vector<std::string> preference = {"cuda", "avx512", "avx2", "neon"};
};

class Router {
public:
    Router(const PluginRegistry& registry, RouterOptions options);

    // Every loaded kernel that accepts the shape, best first (pins, then preference, scalar last).
    std::vector<KernelRef> candidates(const bitnet_shape& shape) const;
    // The routed kernel for a shape (cached). Throws DispatchError when no plugin supports it.
    KernelRef route(const bitnet_shape& shape);
    // Replace the order for one signature (the kernel manager's verdict). `order` must be non-empty.
    void set_order(const bitnet_shape& shape, std::vector<KernelRef> order);
    // The fallback list currently in force for a shape (routes it first if needed).
    const std::vector<KernelRef>& order(const bitnet_shape& shape);

    const PluginRegistry& registry() const { return registry_; }

private:
    int rank(const LoadedPlugin& p, bitnet_op op) const;
    const PluginRegistry& registry_;
    RouterOptions options_;
    std::mutex mu_;
    std::unordered_map<std::string, std::vector<KernelRef>> table_;
};

} // namespace bitnet
