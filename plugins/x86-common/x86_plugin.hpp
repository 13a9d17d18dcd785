// The shell every x86 plugin shares: the instance, argument checks, and the split of work over the
// host's threads. Kernel families include it; the plugin's entry TU (plugin_main.inc) defines the
// descriptor. Header-only so each plugin compiles it with its own flags.
#pragma once

#include <bitnet/plugin.h>
#include <bitnet/plugin.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace bitnet::x86 {

// The instance and the run() shell: the SDK's (plugin.hpp).
using Plugin = sdk::TaggedInstance<0x86a11ce5u>;

inline Plugin* as_plugin(void* handle) noexcept { return sdk::as_instance<Plugin>(handle); }

#define X86_SIZE_UPTO(type, member) BITNET_SIZE_UPTO(type, member)

using sdk::invalid;

// sdk::run_op bound to this plugin's instance type.
template <class Args, class Body>
bitnet_status run_op(void* handle, const void* args, const char* what, size_t min_size, Body&& body) noexcept {
    return sdk::run_op<Args, Plugin>(handle, args, what, min_size, std::forward<Body>(body));
}

// Splits [0, n) over the host's threads in chunks of `align` items (whole register tiles per
// thread, so no thread's rows share a cache line of y with another's more than necessary).
// body(begin, end) must not throw: kernels do no allocation and no checks inside the split.
template <class Body>
void parallel_ranges(const Plugin& p, int64_t n, int64_t align, Body&& body) {
    auto task = [&](int32_t ith, int32_t nth) noexcept {
        const sdk::Range r = sdk::split(n, ith, nth, align);
        if (r.begin < r.end) body(r.begin, r.end);
    };
    sdk::parallel_for(p.host, task);
}

inline const char* matmul_args_error(const bitnet_matmul_args& a, int32_t k_multiple,
                                     bitnet_act_type act) noexcept {
    if (a.m <= 0 || a.n <= 0 || a.k <= 0) return "m, n and k must be positive";
    if (a.k % k_multiple != 0) return "k is not a multiple of the weight format's block";
    if (a.act_type != act) return "act_type does not match the kernel";
    if (a.w == nullptr || a.w->data == nullptr) return "weights are NULL";
    if (a.y == nullptr) return "y is NULL";
    if (a.ldy < a.n) return "ldy < n";
    if (act == BITNET_ACT_F32) {
        if (a.x_f32 == nullptr) return "x_f32 is NULL";
        if (a.ldx < a.k) return "ldx < k";
    } else {
        if (a.x_q == nullptr || a.x_q->data == nullptr || a.x_q->scales == nullptr)
            return "x_q, its data or its scales are NULL";
        if (a.x_q->row_stride < static_cast<size_t>(a.k)) return "x_q->row_stride < k";
    }
    return nullptr;
}

// The common front of every matmul run(): checks, the weight size for N rows of `row_bytes`, then
// fn(plugin, args), which returns the status.
template <class Fn>
bitnet_status run_matmul(void* plugin, const void* args, const char* what, bitnet_act_type act,
                         int32_t k_multiple, size_t (*row_bytes)(int64_t k), Fn&& fn) noexcept {
    return run_op<bitnet_matmul_args>(
        plugin, args, what, X86_SIZE_UPTO(bitnet_matmul_args, ldy),
        [&](const Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
            if (const char* why = matmul_args_error(a, k_multiple, act)) return invalid(p, what, why);
            if (a.w->size / row_bytes(a.k) < static_cast<uint64_t>(a.n))
                return invalid(p, what, "w->size too small for n x k");
            return fn(p, a);
        });
}

// Bytes per weight row, per format.
inline size_t i2s_row_bytes(int64_t k) { return static_cast<size_t>(k / 4); }
inline size_t tq2_row_bytes(int64_t k) { return static_cast<size_t>(k / 256 * 66); }
inline size_t tq1_row_bytes(int64_t k) { return static_cast<size_t>(k / 256 * 54); }
inline size_t f16_row_bytes(int64_t k) { return static_cast<size_t>(k * 2); }
inline size_t q8_0_row_bytes(int64_t k) { return static_cast<size_t>(k / 32 * 34); }
inline size_t q6_k_row_bytes(int64_t k) { return static_cast<size_t>(k / 256 * 210); }

} // namespace bitnet::x86
