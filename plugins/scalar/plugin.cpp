// The scalar plugin's entry point: descriptor, instance lifetime and the kernel table. The plugin
// is the numerical reference every other backend is tested against, so it runs everywhere
// (probe always succeeds) and has no packing, workspace or device memory.
#include "scalar.hpp"

#include <new>
#include <string>

namespace bitnet::scalar {
namespace {

#define SCALAR_STR2(x) #x
#define SCALAR_STR(x) SCALAR_STR2(x)

// Bump SCALAR_KERNEL_REVISION whenever any kernel's code or numerics change: build_id keys the host's
// tuning cache, and it must not depend on when the file was compiled.
#define SCALAR_VERSION "1.0.0"
#define SCALAR_KERNEL_REVISION "3"
#if defined(__clang__)
#define SCALAR_COMPILER "clang-" SCALAR_STR(__clang_major__) "." SCALAR_STR(__clang_minor__) "." SCALAR_STR(__clang_patchlevel__)
#elif defined(__GNUC__)
#define SCALAR_COMPILER "gcc-" SCALAR_STR(__GNUC__) "." SCALAR_STR(__GNUC_MINOR__) "." SCALAR_STR(__GNUC_PATCHLEVEL__)
#else
#define SCALAR_COMPILER "unknown-compiler"
#endif
constexpr const char* kBuildId = "scalar-" SCALAR_VERSION "-r" SCALAR_KERNEL_REVISION "-" SCALAR_COMPILER;

// A matmul call's ABI 1.5 members (parts, prologue, accumulate) by their definitions: this
// plugin's own NORM_QUANTIZE, single-weight run and ADD in turn.
template <sdk::RunFn Single, bitnet_act_type Act>
bitnet_status run_by_steps(void* plugin, const void* args, void* workspace) noexcept {
    const auto* a = static_cast<const bitnet_matmul_args*>(args);
    if (a == nullptr || a->struct_size < SCALAR_SIZE_UPTO(bitnet_matmul_args, ldy) ||
        (sdk::matmul_parts(*a) == 0 && sdk::matmul_prologue(*a) == nullptr && !sdk::matmul_accumulates(*a)))
        return Single(plugin, args, workspace);
    constexpr sdk::RunFn norm_quantize = Act == BITNET_ACT_I8_ROW    ? &run_norm_quantize_i8row
                                         : Act == BITNET_ACT_I8_B256 ? &run_norm_quantize_i8b256
                                                                     : nullptr;
    return sdk::matmul_by_steps(plugin, *a, Single, norm_quantize, &run_add_f32, workspace);
}

// A ROPE call's cache store (ABI 1.5): this plugin's RoPE, then its store.
bitnet_status run_rope_and_store(void* plugin, const void* args, void* workspace) noexcept {
    const auto* a = static_cast<const bitnet_rope_args*>(args);
    if (a == nullptr || a->struct_size < SCALAR_SIZE_UPTO(bitnet_rope_args, ldx) || sdk::rope_kv_store(*a) == nullptr)
        return run_rope_f32(plugin, args, workspace);
    return sdk::rope_then_store(plugin, *a, &run_rope_f32, &run_kv_store_f16, &run_kv_store_seqs_f16);
}

// Every kernel of this plugin that touches the KV cache reads kv_head_stride (other ops ignore the
// flag); every matmul computes parts, prologues and accumulation, NORM_QUANTIZE applies the FFN
// activation and RoPE stores the cache (ABI 1.5).
constexpr uint32_t flags_for(bitnet_op op) {
    return BITNET_KERNEL_FLAG_KV_HEAD_STRIDE |
           (op == BITNET_OP_MATMUL ? BITNET_KERNEL_FLAG_MATMUL_PARTS | BITNET_KERNEL_FLAG_MATMUL_PROLOGUE |
                                         BITNET_KERNEL_FLAG_MATMUL_ACCUMULATE
                                   : 0u) |
           (op == BITNET_OP_NORM_QUANTIZE ? BITNET_KERNEL_FLAG_NORM_FFN_ACT : 0u) |
           (op == BITNET_OP_ROPE ? BITNET_KERNEL_FLAG_ROPE_KV_STORE : 0u);
}

// The run function a kernel's table entry names: matmuls and RoPE through their ABI 1.5 shells.
constexpr sdk::RunFn table_run(bitnet_op op, sdk::RunFn run, sdk::RunFn matmul_shell) {
    return op == BITNET_OP_MATMUL ? matmul_shell : op == BITNET_OP_ROPE ? &run_rope_and_store : run;
}

const bitnet_kernel_desc kKernels[] = {
#define SCALAR_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run)                                 \
    bitnet_kernel_desc{sizeof(bitnet_kernel_desc), name, op, wf, act, m_min, m_max, k_mult, n_mult,        \
                       nullptr, nullptr, nullptr, nullptr, table_run(op, run, &run_by_steps<run, act>), \
                       flags_for(op)},
#include "scalar_kernels.inc"
#undef SCALAR_KERNEL
};

int32_t probe(char* reason, size_t reason_len) {
    // Plain C++ with no ISA requirement: usable on every machine the host runs on.
    sdk::write_reason(reason, reason_len, "");
    return 1;
}

bitnet_status create(const bitnet_host_api* host, void** out) {
    if (out == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    // Every host_api member exists since ABI 1.0, so a 1.x host's struct has them all.
    if (!BITNET_HAS_MEMBER(host, bitnet_host_api, n_threads)) return BITNET_ERR_INVALID_ARGUMENT;
    if (BITNET_ABI_MAJOR(host->abi_version) != BITNET_PLUGIN_ABI_VERSION_MAJOR) {
        sdk::log(host, BITNET_LOG_ERROR, "scalar: host ABI major differs from the plugin's");
        return BITNET_ERR_UNSUPPORTED;
    }
    return sdk::guard(host, "scalar create", [&]() -> bitnet_status {
        auto* p = new Plugin;
        p->host = host;
        const int32_t nt = host->n_threads > 0 ? host->n_threads : 1;
        p->description = "portable C++ reference (scalar), work split " + std::to_string(nt) + " ways";
        *out = p;
        return BITNET_OK;
    });
}

void destroy(void* handle) {
    delete as_plugin(handle);
}

const bitnet_kernel_desc* get_kernels(void* handle, size_t* count) {
    if (count != nullptr) *count = 0;
    if (as_plugin(handle) == nullptr || count == nullptr) return nullptr;
    *count = sizeof(kKernels) / sizeof(kKernels[0]);
    return kKernels;
}

const bitnet_device_iface* get_device_iface(void*) {
    return nullptr; // CPU plugin: kernels take host pointers.
}

const char* describe_device(void* handle) {
    const Plugin* p = as_plugin(handle);
    return p != nullptr ? p->description.c_str() : "scalar";
}

const bitnet_plugin_descriptor kDescriptor = {
    sizeof(bitnet_plugin_descriptor),
    BITNET_PLUGIN_ABI_VERSION,
    "scalar",
    SCALAR_VERSION,
    kBuildId,
    BITNET_DEVICE_CPU,
    probe,
    create,
    destroy,
    get_kernels,
    get_device_iface,
    describe_device,
    nullptr, // get_proc_address: no extensions
};

} // namespace
} // namespace bitnet::scalar

extern "C" BITNET_PLUGIN_EXPORT const bitnet_plugin_descriptor* bitnet_plugin_entry(void) {
    return &bitnet::scalar::kDescriptor;
}
