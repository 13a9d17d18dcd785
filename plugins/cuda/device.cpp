// Device memory for the host (bitnet_device_iface) and for the plugin itself. Every copy and the
// synchronize go through the instance's stream, so they are ordered with the kernels the host
// has issued without any device-wide synchronization.
#include "cuda_plugin.hpp"

namespace bitnet::cuda {

bitnet_status device_alloc(Plugin& p, size_t bytes, void** out) noexcept {
    if (out == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    void* ptr = nullptr;
    std::lock_guard lock(p.mu);
    // Both the arena and cudaMalloc return 256-byte aligned memory, as the iface promises.
    if (p.arena.ready()) ptr = p.arena.alloc(bytes);
    if (ptr == nullptr) {
        if (bitnet_status st = check(p, "cuda alloc", cudaMalloc(&ptr, bytes == 0 ? 1 : bytes)); st != BITNET_OK)
            return st;
    }
    try {
        p.allocs[reinterpret_cast<uintptr_t>(ptr)] = bytes == 0 ? 1 : bytes;
    } catch (...) {
        release_device_memory(p, ptr);
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    *out = ptr;
    return BITNET_OK;
}

void release_device_memory(Plugin& p, void* ptr) noexcept {
    // Reusing an arena range is safe without a wait: every kernel and copy is ordered on p.stream.
    // cudaFree waits for work using the memory; the host frees only after its last use anyway.
    if (!p.arena.free(ptr)) cudaFree(ptr);
}

void device_free(Plugin& p, void* ptr) noexcept {
    if (ptr == nullptr) return;
    std::lock_guard lock(p.mu);
    p.allocs.erase(reinterpret_cast<uintptr_t>(ptr));
    release_device_memory(p, ptr);
}

bool on_device(Plugin& p, const void* ptr, size_t bytes) noexcept {
    if (ptr == nullptr) return false;
    const auto at = reinterpret_cast<uintptr_t>(ptr);
    std::lock_guard lock(p.mu);
    auto it = p.allocs.upper_bound(at);
    if (it == p.allocs.begin()) return false;
    --it;
    return at + bytes <= it->first + it->second;
}

bitnet_status scratch(Plugin& p, size_t bytes, void** out) noexcept {
    if (bytes > p.scratch_bytes) {
        void* ptr = nullptr;
        // Legal inside a relaxed-mode capture; the old buffer may be referenced by captured nodes.
        if (bitnet_status st = check(p, "cuda scratch", cudaMalloc(&ptr, bytes)); st != BITNET_OK) return st;
        try {
            if (p.scratch != nullptr) p.retired.push_back(p.scratch);
        } catch (...) {
            cudaFree(ptr);
            return BITNET_ERR_OUT_OF_MEMORY;
        }
        p.scratch = ptr;
        p.scratch_bytes = bytes;
    }
    *out = p.scratch;
    return BITNET_OK;
}

namespace {

bitnet_status iface_alloc(void* plugin, size_t bytes, void** ptr) {
    Plugin* p = as_plugin(plugin);
    return p ? device_alloc(*p, bytes, ptr) : BITNET_ERR_INVALID_ARGUMENT;
}

void iface_free(void* plugin, void* ptr) {
    if (Plugin* p = as_plugin(plugin)) device_free(*p, ptr);
}

bitnet_status copy(void* plugin, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, bool wait) {
    Plugin* p = as_plugin(plugin);
    if (p == nullptr || (bytes > 0 && (dst == nullptr || src == nullptr))) return BITNET_ERR_INVALID_ARGUMENT;
    if (bytes == 0) return BITNET_OK;
    if (bitnet_status st = check(*p, "cuda copy", cudaMemcpyAsync(dst, src, bytes, kind, p->stream)); st != BITNET_OK)
        return st;
    // The host reads (or reuses) its buffer as soon as the call returns.
    return wait ? check(*p, "cuda copy", cudaStreamSynchronize(p->stream)) : BITNET_OK;
}

bitnet_status to_device(void* plugin, void* dst, const void* src, size_t bytes) {
    // From pageable memory cudaMemcpyAsync stages the source before returning, but pinned or
    // registered memory would be read later: wait, so the caller may reuse `src` at once.
    return copy(plugin, dst, src, bytes, cudaMemcpyHostToDevice, true);
}
bitnet_status to_host(void* plugin, void* dst, const void* src, size_t bytes) {
    return copy(plugin, dst, src, bytes, cudaMemcpyDeviceToHost, true);
}
bitnet_status on_dev(void* plugin, void* dst, const void* src, size_t bytes) {
    return copy(plugin, dst, src, bytes, cudaMemcpyDeviceToDevice, false);
}

bitnet_status synchronize(void* plugin) {
    Plugin* p = as_plugin(plugin);
    return p ? check(*p, "cuda synchronize", cudaStreamSynchronize(p->stream)) : BITNET_ERR_INVALID_ARGUMENT;
}

bitnet_status memory_info(void* plugin, size_t* free_bytes, size_t* total_bytes) {
    Plugin* p = as_plugin(plugin);
    if (p == nullptr || free_bytes == nullptr || total_bytes == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    return check(*p, "cuda memory_info", cudaMemGetInfo(free_bytes, total_bytes));
}

const bitnet_device_iface kIface = {
    sizeof(bitnet_device_iface), iface_alloc, iface_free, to_device, to_host, on_dev, synchronize, memory_info,
};

} // namespace

const bitnet_device_iface* device_iface() { return &kIface; }

} // namespace bitnet::cuda
