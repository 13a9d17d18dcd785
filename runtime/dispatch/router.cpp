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
        if (p->device_kind() != options_.device) continue;
        for (const bitnet_kernel_desc* k : p->kernels()) {
            if (kernel_accepts(*k, p->instance(), shape)) found.push_back({rank(*p, shape.op), {p.get(), k}});
        }
    }
    std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<KernelRef> out;
    for (auto& f : found) out.push_back(f.second);
    return out;
}

namespace {
// oneDNN-style verbose line: one per routing decision, on stderr regardless of log level.
void announce(const bitnet_shape& shape, const std::vector<KernelRef>& order, std::string_view why) {
    if (!verbose("dispatch")) return;
    std::string fallback;
    for (size_t i = 1; i < order.size(); ++i) {
        if (i > 1) fallback += '>';
        fallback += order[i].label();
    }
    std::fprintf(stderr, "bitnet_verbose,dispatch,%s,%s,%.*s,%s\n", signature_string(shape).c_str(),
                 order.front().label().c_str(), int(why.size()), why.data(), fallback.c_str());
}
} // namespace

const std::vector<KernelRef>& Router::order(const bitnet_shape& shape) {
    const ShapeKey key(shape);
    std::lock_guard lock(mu_);
    auto it = table_.find(key);
    if (it == table_.end()) {
        std::optional<std::vector<KernelRef>> resolved;
        if (resolver_) resolved = resolver_(shape);
        const bool from_resolver = resolved && !resolved->empty();
        auto cands = from_resolver ? std::move(*resolved) : candidates(shape);
        if (cands.empty())
            throw DispatchError(fmt::format("no loaded plugin has a kernel for {}", signature_string(shape)));
        announce(shape, cands, from_resolver ? "autotune-bucket" : "static-order");
        it = table_.emplace(key, std::move(cands)).first;
    }
    return it->second;
}

void Router::set_resolver(RouteResolver resolver) {
    std::lock_guard lock(mu_);
    resolver_ = std::move(resolver);
}

KernelRef Router::route(const bitnet_shape& shape) { return order(shape).front(); }

void Router::set_order(const bitnet_shape& shape, std::vector<KernelRef> order, std::string_view why) {
    if (order.empty()) throw DispatchError("set_order: empty kernel list for " + signature_string(shape));
    announce(shape, order, why);
    std::lock_guard lock(mu_);
    table_[ShapeKey(shape)] = std::move(order);
}

} // namespace bitnet
