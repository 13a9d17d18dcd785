// Routes each kernel signature to one plugin kernel, with an ordered fallback list ending in the
// `scalar` reference. This is the static router (preference order + pins); the adaptive kernel
// manager decides the order by measuring and feeds it in through set_order().
#pragma once

#include "dispatch/observer.hpp"
#include "dispatch/signature.hpp"
#include "plugin/plugin_registry.hpp"

#include <functional>
#include <map>
#include <mutex>
#include <optional>
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
    // Only plugins of this kind are candidates: a host-memory session must never hand its
    // pointers to a GPU kernel, nor a device session its device pointers to a CPU kernel.
    bitnet_device_kind device = BITNET_DEVICE_CPU;
};

// Decides the order for a signature the router has not seen yet (the kernel manager maps a prefill
// remainder onto its tuned batch bucket, and keeps rejected kernels out). nullopt: use the static order.
using RouteResolver = std::function<std::optional<std::vector<KernelRef>>(const bitnet_shape&)>;

class Router {
public:
    Router(const PluginRegistry& registry, RouterOptions options);

    // Every loaded kernel that accepts the shape, best first (pins, then preference, scalar last).
    std::vector<KernelRef> candidates(const bitnet_shape& shape) const;
    // The routed kernel for a shape (cached). Throws DispatchError when no plugin supports it.
    KernelRef route(const bitnet_shape& shape);
    // Replace the order for one signature (the kernel manager's verdict). `order` must be non-empty.
    // `why` names the decision in the BITNET_VERBOSE=dispatch line ("autotune", "cache", "adapt").
    void set_order(const bitnet_shape& shape, std::vector<KernelRef> order, std::string_view why = "set");
    // The fallback list currently in force for a shape (routes it first if needed: the resolver,
    // else the static order). The reference stays valid for the router's life; its contents change
    // when set_order is called for the same shape. Does not allocate once the shape is known.
    const std::vector<KernelRef>& order(const bitnet_shape& shape);

    // Consulted on the first route of each shape not already given an order with set_order.
    void set_resolver(RouteResolver resolver);
    // Told about every successful kernel run by Ops (nullptr: no timing at all, the default).
    void set_observer(KernelObserver* observer) { observer_ = observer; }
    KernelObserver* observer() const { return observer_; }
    // The options it was built with (preference and pins), for managers that start from them.
    const RouterOptions& options() const { return options_; }

    const PluginRegistry& registry() const { return registry_; }

private:
    int rank(const LoadedPlugin& p, bitnet_op op) const;
    const PluginRegistry& registry_;
    RouterOptions options_;
    std::mutex mu_;
    std::unordered_map<ShapeKey, std::vector<KernelRef>, ShapeKeyHash> table_;
    RouteResolver resolver_;
    KernelObserver* observer_ = nullptr;
};

} // namespace bitnet
