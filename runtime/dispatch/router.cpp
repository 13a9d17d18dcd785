#include "dispatch/router.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace bitnet {

std::string KernelRef::label() const {
    if (!desc) return "<none>";
    return fmt::format("{}/{}", plugin ? plugin->name() : "?", desc->name);
}

Router::Router(const PluginRegistry& registry, RouterOptions options)
    : registry_(registry), options_(std::move(options)) {}

int Router::rank(const LoadedPlugin& p, bitnet_op op) const {
    const std::string family(op_name(op));
    for (const auto& key : {family, std::string("all")}) {
        if (auto it = options_.pins.find(key); it != options_.pins.end() && it->second == p.name()) return -1;
    }
    if (p.name() == "scalar") return 1 << 20;
    const auto& pref = options_.preference;
    if (auto it = std::find(pref.begin(), pref.end(), p.name()); it != pref.end()) return int(it - pref.begin());
    return int(pref.size());
}

std::vector<KernelRef> Router::candidates(const bitnet_shape& shape) const {
    std::vector<std::pair<int, KernelRef>> found;
    for (const auto& p : registry_.plugins()) {
        for (const bitnet_kernel_desc* k : p->kernels()) {
            if (kernel_accepts(*k, p->instance(), shape)) found.push_back({rank(*p, shape.op), {p.get(), k}});
        }
    }
    std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<KernelRef> out;
    for (auto& f : found) out.push_back(f.second);
    return out;
}

const std::vector<KernelRef>& Router::order(const bitnet_shape& shape) {
    const std::string key = signature_string(shape);
    std::lock_guard lock(mu_);
    auto it = table_.find(key);
    if (it == table_.end()) {
        auto cands = candidates(shape);
        if (cands.empty()) throw DispatchError(fmt::format("no loaded plugin has a kernel for {}", key));
        // oneDNN-style verbose line: one per routing decision, on stderr regardless of log level.
        if (verbose("dispatch"))
            std::fprintf(stderr, "bitnet_verbose,dispatch,%s,%s,static-order\n", key.c_str(), cands.front().label().c_str());
        it = table_.emplace(key, std::move(cands)).first;
    }
    return it->second;
}

KernelRef Router::route(const bitnet_shape& shape) { return order(shape).front(); }

void Router::set_order(const bitnet_shape& shape, std::vector<KernelRef> order) {
    if (order.empty()) throw DispatchError("set_order: empty kernel list for " + signature_string(shape));
    std::lock_guard lock(mu_);
    table_[signature_string(shape)] = std::move(order);
}

} // namespace bitnet
