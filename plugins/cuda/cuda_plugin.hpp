// Internals shared by the cuda plugin's sources (host C++ and .cu alike): the instance, the one
// stream every kernel and copy is ordered on, the registry of device allocations that lets run()
// refuse host pointers, grow-only scratch, and the state of a graph capture.
#pragma once

#include <bitnet/plugin.h>
#include <bitnet/plugin.hpp>

#include "arena.hpp"

#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace bitnet::cuda {

struct Plugin {
    static constexpr uint32_t kMagic = 0xc0da5eedu;
    uint32_t magic = kMagic;
    const bitnet_host_api* host = nullptr;
    int device = 0;
    int sm_count = 0;
    cudaStream_t stream = nullptr;
    bool pdl = false; // launch with programmatic dependent launch (cuda_common.cuh)
    bool fused_attention = false; // one-kernel attention for caches that fit (attention.cu)
    bool early_weights = true;    // decode GEMVs load weights before waiting on their predecessor
    bool staged_head = true;      // float GEMVs stage rows in shared memory (matmul_float.cu)
    bool norm_gemv = true;        // a decode GEMV runs its prologue itself (matmul_ternary.cu)
    // The kernel table this instance offers: the static list, with the ABI 1.5 flags (matmul parts,
    // FFN activation in NORM_QUANTIZE) unless BITNET_CUDA_FUSED_CALLS=0.
    std::vector<bitnet_kernel_desc> kernels;
    std::string description;

    // base -> bytes of every live allocation made through the device iface or pack_weights. A
    // kernel handed a pointer outside them (a CPU session or the tuner routing here with host
    // buffers) refuses with INVALID_ARGUMENT instead of faulting and poisoning the context.
    std::mutex mu;
    std::map<uintptr_t, size_t> allocs;
    // Where device_alloc carves memory from (guarded by mu); cudaMalloc when not ready().
    Arena arena;

    // One grow-only scratch buffer (attention's scores and partial sums). Outgrown buffers are
    // kept until destroy: a captured graph may still point at them.
    void* scratch = nullptr;
    size_t scratch_bytes = 0;
    std::vector<void*> retired;

    // Set between bitnet_cuda_graph_begin and _end: kernels whose arguments change per step read
    // n_past from this device int instead of their args, and size their grids for max_keys.
    const int32_t* dyn_n_past = nullptr;
    int32_t dyn_max_keys = 0;

    // A CPU session or the tuner may offer host buffers on every call: say so once.
    std::atomic<bool> warned_host_pointers{false};
};

inline Plugin* as_plugin(void* handle) noexcept { return sdk::as_instance<Plugin>(handle); }

#define CUDA_SIZE_UPTO(type, member) BITNET_SIZE_UPTO(type, member)

// Logs `what: why` through the host and returns `status`.
bitnet_status fail(const Plugin& p, const char* what, const std::string& why,
                   bitnet_status status = BITNET_ERR_INVALID_ARGUMENT) noexcept;
// INVALID_ARGUMENT for buffers outside this plugin's device memory, logged once per instance.
inline bitnet_status not_on_device(Plugin& p, const char* what, const char* why) noexcept {
    if (p.warned_host_pointers.exchange(true)) return BITNET_ERR_INVALID_ARGUMENT;
    try {
        return fail(p, what, std::string(why) + " (said once; later refusals are silent)");
    } catch (...) {
        return BITNET_ERR_INVALID_ARGUMENT;
    }
}
// BITNET_OK, or BITNET_ERR_DEVICE after logging the CUDA error (launch or earlier async error).
bitnet_status check(const Plugin& p, const char* what, cudaError_t err) noexcept;
inline bitnet_status check_launch(const Plugin& p, const char* what) noexcept {
    return check(p, what, cudaGetLastError());
}

// Device memory, registered for on_device().
bitnet_status device_alloc(Plugin& p, size_t bytes, void** out) noexcept;
void device_free(Plugin& p, void* ptr) noexcept;
// Returns memory to the arena or cudaFree; the caller holds p.mu and has unregistered it.
void release_device_memory(Plugin& p, void* ptr) noexcept;
// True when [ptr, ptr+bytes) lies inside one registered allocation.
bool on_device(Plugin& p, const void* ptr, size_t bytes) noexcept;
// At least `bytes` of scratch (grow-only; safe during capture, see Plugin::retired).
bitnet_status scratch(Plugin& p, size_t bytes, void** out) noexcept;

// The SDK's run() shell (plugin.hpp) bound to this plugin's instance type.
template <class Args, class Body>
bitnet_status run_op(void* handle, const void* args, const char* what, size_t min_size, Body&& body) noexcept {
    return sdk::run_op<Args, Plugin>(handle, args, what, min_size, std::forward<Body>(body));
}

// Device layout of ternary weights (pack.cpp writes it, matmul_ternary.cu reads it): row n is K/16
// uint32 words; bits 8b+2j of word w hold code+1 (0,1,2) of k = 16w + 4j + b, so
// (word >> 2j) & 0x03030303 is four consecutive codes, dp4a-ready against the int8 activations.
// TQ formats follow with N x K/256 f32 block scales (fp16 d widened) at ternary_scales_offset.
inline size_t ternary_codes_bytes(int64_t n, int64_t k) { return static_cast<size_t>(n * k / 4); }
inline size_t ternary_scales_offset(int64_t n, int64_t k) { return (ternary_codes_bytes(n, k) + 255) / 256 * 256; }

// The run functions, declared from the kernel list.
#define CUDA_KERNEL(name, op, wf, act, k_mult, run, pack) \
    bitnet_status run(void* plugin, const void* args, void* workspace) noexcept;
#include "cuda_kernels.inc"
#undef CUDA_KERNEL

// The rules of a KV_STORE (seqs: KV_STORE_SEQS) call's args for this plugin (interleaved cache,
// device memory, a cache that holds the positions written): BITNET_OK, or the refusal, logged.
bitnet_status check_kv_store_args(Plugin& p, const bitnet_kv_store_args& a, bool seqs, const char* what) noexcept;

// Weight packing (pack.cpp): ternary formats are re-laid out, float heads copied as they are.
bitnet_status pack_ternary(void* plugin, const bitnet_shape* shape, const void* data, size_t size, void** packed,
                           size_t* packed_bytes) noexcept;
bitnet_status pack_copy(void* plugin, const bitnet_shape* shape, const void* data, size_t size, void** packed,
                        size_t* packed_bytes) noexcept;
void release_packed(void* plugin, void* packed) noexcept;

// Device iface and extensions (device.cpp, graph.cpp).
const bitnet_device_iface* device_iface();
void* get_proc_address(void* plugin, const char* name);

} // namespace bitnet::cuda
