// Internals shared by the scalar plugin's source files: the instance, argument checking, and the
// one way work is split over the host's threads.
#pragma once

#include <bitnet/plugin.h>
#include <bitnet/plugin.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace bitnet::scalar {

// The opaque handle behind `void* plugin` and the run() shell: the SDK's (plugin.hpp).
using Plugin = sdk::TaggedInstance<0x5ca1a700u>;

inline Plugin* as_plugin(void* handle) noexcept { return sdk::as_instance<Plugin>(handle); }

#define SCALAR_SIZE_UPTO(type, member) BITNET_SIZE_UPTO(type, member)

using sdk::invalid;

// sdk::run_op bound to this plugin's instance type.
template <class Args, class Body>
bitnet_status run_op(void* handle, const void* args, const char* what, size_t min_size, Body&& body) noexcept {
    return sdk::run_op<Args, Plugin>(handle, args, what, min_size, std::forward<Body>(body));
}

// Splits [0, n) over the host's threads; body(begin, end) handles one part. Each item's result is
// computed by exactly one task in a fixed order, so outputs never depend on the thread count.
// Exceptions stop at the task boundary (the host's pool is C) and come back as a status.
template <class Body>
bitnet_status parallel_ranges(const Plugin& p, int64_t n, Body&& body) {
    std::atomic<int> status{BITNET_OK};
    auto task = [&](int32_t ith, int32_t nth) noexcept {
        try {
            const sdk::Range r = sdk::split(n, ith, nth);
            if (r.begin < r.end) body(r.begin, r.end);
        } catch (const std::bad_alloc&) {
            status.store(BITNET_ERR_OUT_OF_MEMORY);
        } catch (...) {
            status.store(BITNET_ERR_INTERNAL);
        }
    };
    sdk::parallel_for(p.host, task);
    return static_cast<bitnet_status>(status.load());
}

// Checks shared by every matmul kernel; returns why the call is refused, or nullptr.
// `k_multiple` is the weight format's block length along K.
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

// The run functions, declared from the kernel list.
#define SCALAR_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run) \
    bitnet_status run(void* plugin, const void* args, void* workspace) noexcept;
#include "scalar_kernels.inc"
#undef SCALAR_KERNEL

} // namespace bitnet::scalar
