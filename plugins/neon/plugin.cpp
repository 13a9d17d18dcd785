// Entry point of the neon plugin (AArch64 ASIMD + dotprod): descriptor, instance lifetime and the
// kernel table. Compiled as plain armv8-a: probe() runs here before anything is known about the CPU,
// and the kernel table is constant-initialized, so loading the plugin executes no sdot.
#include "cpu_probe.hpp"
#include "neon.hpp"

#include <new>
#include <string>

namespace bitnet::neon {
namespace {

#define NEON_STR2(x) #x
#define NEON_STR(x) NEON_STR2(x)
// Bump NEON_KERNEL_REVISION whenever a kernel's code or numerics change (build_id keys tuning).
#define NEON_VERSION "1.0.0"
#define NEON_KERNEL_REVISION "1"
#if defined(__clang__)
#define NEON_COMPILER "clang-" NEON_STR(__clang_major__) "." NEON_STR(__clang_minor__)
#elif defined(__GNUC__)
#define NEON_COMPILER "gcc-" NEON_STR(__GNUC__) "." NEON_STR(__GNUC_MINOR__) "." NEON_STR(__GNUC_PATCHLEVEL__)
#else
#define NEON_COMPILER "unknown-compiler"
#endif

const bitnet_kernel_desc kKernels[] = {
#define NEON_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run)                    \
    bitnet_kernel_desc{sizeof(bitnet_kernel_desc), name, op, wf, act, m_min, m_max, k_mult, \
                       n_mult, nullptr, nullptr, nullptr, nullptr, run, 0},
#include "neon_kernels.inc"
#undef NEON_KERNEL
};

int32_t probe(char* reason, size_t reason_len) { return probe_neondot(reason, reason_len); }

bitnet_status create(const bitnet_host_api* host, void** out) {
    if (out == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    if (!BITNET_HAS_MEMBER(host, bitnet_host_api, n_threads)) return BITNET_ERR_INVALID_ARGUMENT;
    if (BITNET_ABI_MAJOR(host->abi_version) != BITNET_PLUGIN_ABI_VERSION_MAJOR) {
        sdk::log(host, BITNET_LOG_ERROR, "neon: host ABI major differs from the plugin's");
        return BITNET_ERR_UNSUPPORTED;
    }
    // A host may skip probe(); an instance whose first ternary kernel raises SIGILL is worse than
    // a refusal here.
    char why[128];
    if (probe_neondot(why, sizeof why) == 0) {
        sdk::log(host, BITNET_LOG_ERROR, std::string("neon: ") + why);
        return BITNET_ERR_UNSUPPORTED;
    }
    return sdk::guard(host, "neon create", [&]() -> bitnet_status {
        auto* p = new Plugin;
        p->host = host;
        const int32_t nt = host->n_threads > 0 ? host->n_threads : 1;
        p->description = "AArch64 NEON + dotprod, work split " + std::to_string(nt) + " ways";
        *out = p;
        return BITNET_OK;
    });
}

void destroy(void* handle) { delete x86::as_plugin(handle); }

const bitnet_kernel_desc* get_kernels(void* handle, size_t* count) {
    if (count != nullptr) *count = 0;
    if (x86::as_plugin(handle) == nullptr || count == nullptr) return nullptr;
    *count = sizeof(kKernels) / sizeof(kKernels[0]);
    return kKernels;
}

const bitnet_device_iface* get_device_iface(void*) { return nullptr; } // CPU plugin: host pointers

const char* describe_device(void* handle) {
    const Plugin* p = x86::as_plugin(handle);
    return p != nullptr ? p->description.c_str() : "neon";
}

const bitnet_plugin_descriptor kDescriptor = {
    sizeof(bitnet_plugin_descriptor),
    BITNET_PLUGIN_ABI_VERSION,
    "neon",
    NEON_VERSION,
    "neon-" NEON_VERSION "-r" NEON_KERNEL_REVISION "-" NEON_COMPILER,
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
} // namespace bitnet::neon

extern "C" BITNET_PLUGIN_EXPORT const bitnet_plugin_descriptor* bitnet_plugin_entry(void) {
    return &bitnet::neon::kDescriptor;
}
