// The cuda plugin's entry point: descriptor, probe, instance lifetime and the kernel table.
#include "cuda_plugin.hpp"

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <iterator>
#include <new>
#include <string>

namespace bitnet::cuda {
namespace {

// Bump whenever any kernel's code or numerics change: build_id keys the host's tuning cache.
#define CUDA_PLUGIN_VERSION "1.0.0"
#define CUDA_KERNEL_REVISION "3"
#define CUDA_STR2(x) #x
#define CUDA_STR(x) CUDA_STR2(x)
constexpr const char* kBuildId =
    "cuda-" CUDA_PLUGIN_VERSION "-r" CUDA_KERNEL_REVISION "-cudart" CUDA_STR(CUDART_VERSION);

using PackFn = decltype(bitnet_kernel_desc::pack_weights);
using ReleaseFn = decltype(bitnet_kernel_desc::release_packed);
constexpr ReleaseFn release_for(PackFn pack) { return pack != nullptr ? &release_packed : nullptr; }

// ABI 1.5: the ternary matmuls compute parts, prologues and accumulation, NORM_QUANTIZE the FFN
// activation, RoPE the cache store; attention and kv_store read the interleaved cache only (no
// KV_HEAD_STRIDE).
constexpr uint32_t kFusedCallFlags = BITNET_KERNEL_FLAG_MATMUL_PARTS | BITNET_KERNEL_FLAG_MATMUL_PROLOGUE |
                                     BITNET_KERNEL_FLAG_MATMUL_ACCUMULATE | BITNET_KERNEL_FLAG_NORM_FFN_ACT |
                                     BITNET_KERNEL_FLAG_ROPE_KV_STORE;
constexpr uint32_t flags_for(bitnet_op op, bitnet_weight_format wf) {
    const bool ternary = wf == BITNET_WF_I2_S || wf == BITNET_WF_TQ2_0 || wf == BITNET_WF_TQ1_0;
    return (op == BITNET_OP_MATMUL && ternary ? BITNET_KERNEL_FLAG_MATMUL_PARTS | BITNET_KERNEL_FLAG_MATMUL_PROLOGUE |
                                                    BITNET_KERNEL_FLAG_MATMUL_ACCUMULATE
                                              : 0u) |
           (op == BITNET_OP_NORM_QUANTIZE ? BITNET_KERNEL_FLAG_NORM_FFN_ACT : 0u) |
           (op == BITNET_OP_ROPE ? BITNET_KERNEL_FLAG_ROPE_KV_STORE : 0u);
}

const bitnet_kernel_desc kKernels[] = {
#define CUDA_KERNEL(name, op, wf, act, k_mult, run, pack)                                            \
    bitnet_kernel_desc{sizeof(bitnet_kernel_desc), name, op, wf, act, 1, 0, k_mult, 1, nullptr, pack, \
                       release_for(pack), nullptr, run, flags_for(op, wf)},
#include "cuda_kernels.inc"
#undef CUDA_KERNEL
};

bool env_is(const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v != nullptr && std::strcmp(v, value) == 0;
}

int32_t probe(char* reason, size_t reason_len) {
    // cudaGetDeviceCount only reads driver state. With the runtime linked statically it returns
    // an error code (never aborts) when libcuda.so is missing or too old, or no GPU is visible.
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "no usable CUDA driver or device (%s: %s)", cudaGetErrorName(err),
                      cudaGetErrorString(err));
        sdk::write_reason(reason, reason_len, buf);
        return 0;
    }
    if (count == 0) {
        sdk::write_reason(reason, reason_len, "no CUDA device visible");
        return 0;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess || prop.major < 8) {
        sdk::write_reason(reason, reason_len, "CUDA device 0 is older than compute capability 8.0 (Ampere)");
        return 0;
    }
    sdk::write_reason(reason, reason_len, "");
    return 1;
}

bitnet_status create(const bitnet_host_api* host, void** out) {
    if (out == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    if (!BITNET_HAS_MEMBER(host, bitnet_host_api, n_threads)) return BITNET_ERR_INVALID_ARGUMENT;
    if (BITNET_ABI_MAJOR(host->abi_version) != BITNET_PLUGIN_ABI_VERSION_MAJOR) return BITNET_ERR_UNSUPPORTED;
    return sdk::guard(host, "cuda create", [&]() -> bitnet_status {
        auto* p = new Plugin;
        p->host = host;
        cudaDeviceProp prop{};
        cudaError_t err = cudaSetDevice(p->device);
        if (err == cudaSuccess) err = cudaGetDeviceProperties(&prop, p->device);
        // Non-blocking: the legacy default stream's implicit syncs would break graph capture.
        if (err == cudaSuccess) err = cudaStreamCreateWithFlags(&p->stream, cudaStreamNonBlocking);
        if (err != cudaSuccess) {
            sdk::log(host, BITNET_LOG_ERROR, std::string("cuda create: ") + cudaGetErrorString(err));
            delete p;
            return BITNET_ERR_DEVICE;
        }
        p->sm_count = prop.multiProcessorCount;
        // BITNET_CUDA_PDL=0 turns programmatic dependent launch off (A/B timing, or a driver that
        // mishandles it); it needs sm_90.
        const char* pdl_env = std::getenv("BITNET_CUDA_PDL");
        p->pdl = prop.major >= 9 && !(pdl_env != nullptr && std::strcmp(pdl_env, "0") == 0);
        // BITNET_CUDA_FUSED_ATTENTION=1: the one-kernel attention for caches that fit. Opt-in
        // until a GPU run has checked and timed it (written without a GPU; gpu-check.sh A/Bs it).
        p->fused_attention = env_is("BITNET_CUDA_FUSED_ATTENTION", "1");
        // BITNET_CUDA_EARLY_WEIGHTS=0: decode GEMVs wait for their predecessor before loading any
        // weight (A/B of the early loads, matmul_ternary.cu; written without a GPU).
        p->early_weights = !env_is("BITNET_CUDA_EARLY_WEIGHTS", "0");
        // BITNET_CUDA_STAGED_HEAD=0: float GEMVs (the head) read rows in place (A/B; written
        // without a GPU).
        p->staged_head = !env_is("BITNET_CUDA_STAGED_HEAD", "0");
        // BITNET_CUDA_NORM_GEMV=0: a call with a prologue runs NORM_QUANTIZE, then the GEMV (two
        // launches, as before ABI 1.5) instead of the one-launch ternary_gemv_norm.
        p->norm_gemv = !env_is("BITNET_CUDA_NORM_GEMV", "0");
        // BITNET_CUDA_FUSED_CALLS=0: no ABI 1.5 flags, so the host makes a call per weight and per
        // norm (A/B of 9 against 17 launches per layer).
        p->kernels.assign(std::begin(kKernels), std::end(kKernels));
        if (env_is("BITNET_CUDA_FUSED_CALLS", "0"))
            for (auto& k : p->kernels) k.flags &= ~kFusedCallFlags;
        char buf[320];
        std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %d SMs, %.1f GiB)", prop.name, prop.major, prop.minor,
                      prop.multiProcessorCount, double(prop.totalGlobalMem) / double(1u << 30));
        p->description = buf;
        // BITNET_CUDA_ARENA=0: one cudaMalloc per allocation (A/B of VRAM use, or a driver whose
        // virtual memory calls misbehave).
        const char* arena_env = std::getenv("BITNET_CUDA_ARENA");
        if (!(arena_env != nullptr && std::strcmp(arena_env, "0") == 0)) {
            std::string why;
            if (!p->arena.init(p->device, prop.totalGlobalMem, why))
                sdk::log(host, BITNET_LOG_INFO, "cuda: one cudaMalloc per allocation (" + why + ")");
        }
        *out = p;
        return BITNET_OK;
    });
}

void destroy(void* handle) {
    Plugin* p = as_plugin(handle);
    if (p == nullptr) return;
    cudaStreamSynchronize(p->stream);
    for (void* r : p->retired) cudaFree(r);
    if (p->scratch != nullptr) cudaFree(p->scratch);
    // Whatever the host did not free (it should have) goes with the instance.
    for (const auto& [base, bytes] : p->allocs) release_device_memory(*p, reinterpret_cast<void*>(base));
    cudaStreamDestroy(p->stream);
    delete p;
}

const bitnet_kernel_desc* get_kernels(void* handle, size_t* count) {
    if (count != nullptr) *count = 0;
    const Plugin* p = as_plugin(handle);
    if (p == nullptr || count == nullptr) return nullptr;
    *count = p->kernels.size();
    return p->kernels.data();
}

const bitnet_device_iface* get_iface(void* handle) { return as_plugin(handle) ? device_iface() : nullptr; }

const char* describe_device(void* handle) {
    const Plugin* p = as_plugin(handle);
    return p != nullptr ? p->description.c_str() : "cuda";
}

const bitnet_plugin_descriptor kDescriptor = {
    sizeof(bitnet_plugin_descriptor),
    BITNET_PLUGIN_ABI_VERSION,
    "cuda",
    CUDA_PLUGIN_VERSION,
    kBuildId,
    BITNET_DEVICE_GPU,
    probe,
    create,
    destroy,
    get_kernels,
    get_iface,
    describe_device,
    get_proc_address,
};

} // namespace

bitnet_status fail(const Plugin& p, const char* what, const std::string& why, bitnet_status status) noexcept {
    try {
        sdk::log(p.host, BITNET_LOG_ERROR, std::string(what) + ": " + why);
    } catch (...) {
        // The status alone still tells the host what happened.
    }
    return status;
}

bitnet_status check(const Plugin& p, const char* what, cudaError_t err) noexcept {
    if (err == cudaSuccess) return BITNET_OK;
    return fail(p, what, std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err),
                err == cudaErrorMemoryAllocation ? BITNET_ERR_OUT_OF_MEMORY : BITNET_ERR_DEVICE);
}

} // namespace bitnet::cuda

extern "C" BITNET_PLUGIN_EXPORT const bitnet_plugin_descriptor* bitnet_plugin_entry(void) {
    return &bitnet::cuda::kDescriptor;
}
