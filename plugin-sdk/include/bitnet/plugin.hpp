// bitnet/plugin.hpp — header-only C++ conveniences for plugin authors. Optional: the ABI is
// plugin.h alone. Nothing here is exported; it only helps keep C++ exceptions on the plugin's
// side of the boundary and split work over the host's thread pool.
#pragma once

#include <bitnet/plugin.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace bitnet::sdk {

// Logs through the host callback; silently drops the message when there is no host.
inline void log(const bitnet_host_api* host, bitnet_log_level level, const std::string& msg) noexcept {
    if (host != nullptr && host->log != nullptr) host->log(host->host_ctx, level, msg.c_str());
}

// Runs `body` and converts every escaping exception into a status (and a log line), so that an
// ABI entry point written as `return guard(host, "what", [&]{ ...; return BITNET_OK; });` can
// never throw across the boundary.
template <class F>
bitnet_status guard(const bitnet_host_api* host, const char* what, F&& body) noexcept {
    try {
        return std::forward<F>(body)();
    } catch (const std::bad_alloc&) {
        log(host, BITNET_LOG_ERROR, std::string(what) + ": out of memory");
        return BITNET_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        log(host, BITNET_LOG_ERROR, std::string(what) + ": " + e.what());
        return BITNET_ERR_INTERNAL;
    } catch (...) {
        log(host, BITNET_LOG_ERROR, std::string(what) + ": unknown exception");
        return BITNET_ERR_INTERNAL;
    }
}

// Half-open range [begin, end) of part `ith` of `nth` over `n` items, in chunks of `align` items
// (so SIMD kernels can keep whole tiles per thread).
struct Range { int64_t begin, end; };
inline Range split(int64_t n, int32_t ith, int32_t nth, int64_t align = 1) noexcept {
    if (nth <= 1) return {0, n};
    const int64_t chunks = (n + align - 1) / align;
    const int64_t per = chunks / nth, extra = chunks % nth;
    const int64_t c0 = ith * per + (ith < extra ? ith : extra);
    const int64_t c1 = c0 + per + (ith < extra ? 1 : 0);
    const int64_t b = c0 * align, e = c1 * align;
    return {b < n ? b : n, e < n ? e : n};
}

// Calls fn(ith, nth) on the host pool (or inline when the host has none).
template <class F>
void parallel_for(const bitnet_host_api* host, F& fn) {
    if (host == nullptr || host->parallel_for == nullptr || host->n_threads <= 1) {
        fn(0, 1);
        return;
    }
    host->parallel_for(
        host->host_ctx,
        [](void* user, int32_t ith, int32_t nth) { (*static_cast<F*>(user))(ith, nth); },
        &fn);
}

// Bytes a writer's struct must have for `member` (compare with its struct_size).
#define BITNET_SIZE_UPTO(type, member) (offsetof(type, member) + sizeof(((type*)0)->member))

// A plugin instance tagged with a per-plugin magic number, so run() can refuse a handle that is not
// its own (a host mixing up instances of two plugins) instead of reading garbage.
template <uint32_t Magic>
struct TaggedInstance {
    static constexpr uint32_t kMagic = Magic;
    uint32_t magic = kMagic;
    const bitnet_host_api* host = nullptr;
    std::string description;
};

// The instance behind `handle`, or null when the handle is null or not an `Instance`.
template <class Instance>
Instance* as_instance(void* handle) noexcept {
    auto* p = static_cast<Instance*>(handle);
    return (p != nullptr && p->magic == Instance::kMagic) ? p : nullptr;
}

// Logs why an argument was refused and returns BITNET_ERR_INVALID_ARGUMENT.
template <class Instance>
bitnet_status invalid(const Instance& p, const char* what, const char* why) noexcept {
    try {
        log(p.host, BITNET_LOG_ERROR, std::string(what) + ": " + why);
    } catch (...) {
        // The status alone still tells the host what happened.
    }
    return BITNET_ERR_INVALID_ARGUMENT;
}

// The common shell of a kernel's run(): resolves the handle, checks the argument struct's size,
// and keeps exceptions inside the plugin. `body(const Instance&, const Args&)` returns a status.
template <class Args, class Instance, class Body>
bitnet_status run_op(void* handle, const void* args, const char* what, size_t min_size, Body&& body) noexcept {
    Instance* p = as_instance<Instance>(handle);
    if (p == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    return guard(p->host, what, [&]() -> bitnet_status {
        const auto* a = static_cast<const Args*>(args);
        if (a == nullptr) return invalid(*p, what, "args is NULL");
        if (a->struct_size < min_size) return invalid(*p, what, "struct_size too small");
        return body(*p, *a);
    });
}

using RunFn = bitnet_status (*)(void* instance, const void* args, void* workspace) noexcept;

// The extra weights of a matmul call (ABI 1.5), 0 for a writer that predates them.
inline int32_t matmul_parts(const bitnet_matmul_args& a) noexcept {
    return a.struct_size >= BITNET_SIZE_UPTO(bitnet_matmul_args, parts) ? a.n_parts : 0;
}

// A matmul call's prologue and accumulate (ABI 1.5): NULL / false for a writer that predates them.
inline const bitnet_norm_quantize_args* matmul_prologue(const bitnet_matmul_args& a) noexcept {
    return a.struct_size >= BITNET_SIZE_UPTO(bitnet_matmul_args, prologue) ? a.prologue : nullptr;
}
inline bool matmul_accumulates(const bitnet_matmul_args& a) noexcept {
    return a.struct_size >= BITNET_SIZE_UPTO(bitnet_matmul_args, accumulate) && a.accumulate != 0;
}

// Why a prologue cannot serve call `a` (the rules of bitnet_matmul_args.prologue), or NULL.
inline const char* matmul_prologue_error(const bitnet_matmul_args& a, const bitnet_norm_quantize_args& pro) noexcept {
    if (pro.residual != nullptr) return "a prologue takes no residual";
    if (pro.act_type != a.act_type || a.act_type == BITNET_ACT_F32) return "the prologue quantizes to another act type";
    if (pro.out == nullptr || a.x_q == nullptr || pro.out->data != a.x_q->data || pro.out->scales != a.x_q->scales)
        return "the prologue's out is not what x_q names";
    if (pro.m != a.m || pro.n != a.k) return "the prologue's rows are not X's";
    return nullptr;
}

// BITNET_KERNEL_FLAG_MATMUL_PARTS, _PROLOGUE and _ACCUMULATE by their definitions: the prologue
// through `norm_quantize`, then the call's own weight and each part through `single` (a run
// function that reads none of the 1.5 members), each product added into its y through `add` when
// the call accumulates (via a host-memory temporary: for plugins whose kernels take host pointers
// and where a call costs no launch, such as the reference). NULL functions: UNSUPPORTED when needed.
inline bitnet_status matmul_by_steps(void* instance, const bitnet_matmul_args& a, RunFn single, RunFn norm_quantize,
                                     RunFn add, void* workspace) noexcept {
    const int32_t n_parts = matmul_parts(a);
    if (n_parts < 0 || n_parts > BITNET_MATMUL_MAX_PARTS) return BITNET_ERR_INVALID_ARGUMENT;
    if (const bitnet_norm_quantize_args* pro = matmul_prologue(a); pro != nullptr) {
        if (norm_quantize == nullptr) return BITNET_ERR_UNSUPPORTED;
        if (matmul_prologue_error(a, *pro) != nullptr) return BITNET_ERR_INVALID_ARGUMENT;
        if (bitnet_status st = norm_quantize(instance, pro, nullptr); st != BITNET_OK) return st;
    }
    const bool acc = matmul_accumulates(a);
    if (acc && add == nullptr) return BITNET_ERR_UNSUPPORTED;
    try {
        std::vector<float> tmp;
        for (int32_t i = 0; i <= n_parts; ++i) {
            bitnet_matmul_args one = a;
            one.n_parts = 0;
            one.prologue = nullptr;
            one.accumulate = 0;
            if (i > 0) {
                one.w = a.parts[i - 1].w;
                one.n = a.parts[i - 1].n;
                one.y = a.parts[i - 1].y;
                one.ldy = a.parts[i - 1].ldy;
            }
            if (!acc) {
                if (bitnet_status st = single(instance, &one, workspace); st != BITNET_OK) return st;
                continue;
            }
            if (one.m <= 0 || one.n <= 0 || one.y == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
            float* const y = one.y;
            const int32_t ldy = one.ldy;
            tmp.assign(size_t(one.m) * size_t(one.n), 0.0f);
            one.y = tmp.data();
            one.ldy = one.n;
            if (bitnet_status st = single(instance, &one, workspace); st != BITNET_OK) return st;
            const bitnet_add_args sum{sizeof sum, one.m, one.n, tmp.data(), one.n, y, ldy};
            if (bitnet_status st = add(instance, &sum, nullptr); st != BITNET_OK) return st;
        }
    } catch (const std::bad_alloc&) {
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    return BITNET_OK;
}

// A ROPE call's cache store (ABI 1.5), NULL for a writer that predates it.
inline const bitnet_kv_store_args* rope_kv_store(const bitnet_rope_args& a) noexcept {
    return a.struct_size >= BITNET_SIZE_UPTO(bitnet_rope_args, kv_store_op) ? a.kv_store : nullptr;
}

// BITNET_KERNEL_FLAG_ROPE_KV_STORE by its definition: `rope` (a run function that reads no
// kv_store), then the store through `store` or `store_seqs` as kv_store_op says.
inline bitnet_status rope_then_store(void* instance, const bitnet_rope_args& a, RunFn rope, RunFn store,
                                     RunFn store_seqs) noexcept {
    bitnet_rope_args plain = a;
    plain.kv_store = nullptr;
    if (bitnet_status st = rope(instance, &plain, nullptr); st != BITNET_OK) return st;
    const bitnet_kv_store_args* kv = rope_kv_store(a);
    if (kv == nullptr) return BITNET_OK;
    const RunFn run = a.kv_store_op == BITNET_OP_KV_STORE ? store : a.kv_store_op == BITNET_OP_KV_STORE_SEQS ? store_seqs : nullptr;
    if (run == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    return run(instance, kv, nullptr);
}

// A NORM_QUANTIZE call's `up` (ABI 1.5), NULL for a writer that predates it.
inline const float* norm_quantize_up(const bitnet_norm_quantize_args& a) noexcept {
    return a.struct_size >= BITNET_SIZE_UPTO(bitnet_norm_quantize_args, ffn_kind) ? a.up : nullptr;
}

// BITNET_OP_NORM_QUANTIZE as its definition says: the plugin's own FFN_ACT (when a.up is set,
// ABI 1.5) or ADD (when a.residual is set), RMSNORM and QUANTIZE_ACT run functions, in turn. For
// plugins that have no fused kernel for a case, or define the op by its parts (the reference).
// Returns the first failure; UNSUPPORTED for an `up` when ffn_act is NULL.
inline bitnet_status norm_quantize_by_parts(void* instance, const bitnet_norm_quantize_args& a, RunFn add, RunFn rmsnorm,
                                            RunFn quantize, RunFn ffn_act = nullptr) noexcept {
    if (const float* up = norm_quantize_up(a); up != nullptr) {
        if (ffn_act == nullptr) return BITNET_ERR_UNSUPPORTED;
        if (a.residual != nullptr || a.ld_up != a.ldx) return BITNET_ERR_INVALID_ARGUMENT;
        const bitnet_ffn_act_args act{sizeof act, a.ffn_kind, a.m, a.n, a.x, up, a.x, a.ldx};
        if (bitnet_status st = ffn_act(instance, &act, nullptr); st != BITNET_OK) return st;
    }
    if (a.residual != nullptr) {
        const bitnet_add_args add_args{sizeof add_args, a.m, a.n, a.residual, a.ld_residual, a.x, a.ldx};
        if (bitnet_status st = add(instance, &add_args, nullptr); st != BITNET_OK) return st;
    }
    const bitnet_rmsnorm_args norm{sizeof norm, a.m, a.n, a.x, a.ldx, a.weight, a.eps, a.y, a.ldy};
    if (bitnet_status st = rmsnorm(instance, &norm, nullptr); st != BITNET_OK) return st;
    const bitnet_quantize_args q{sizeof q, a.m, a.n, a.y, a.ldy, a.out};
    return quantize(instance, &q, nullptr);
}

// The rules ATTENTION_SEQS and KV_STORE_SEQS (ABI 1.3) put on their per-row arrays, for a plugin
// that can read them (host memory): null when every row is in range, else why not.
// slot_halves_min: halves one slot holds (max_keys * kv_stride, or n_kv_heads * kv_head_stride for
// a head-major cache).
inline const char* seq_rows_error(int32_t m, const int32_t* row_pos, const int32_t* row_slot, int64_t slot_stride,
                                  int32_t n_slots, int32_t max_keys, int64_t slot_halves_min) noexcept {
    if (row_pos == nullptr || row_slot == nullptr) return "row_pos or row_slot is NULL";
    if (n_slots <= 0 || max_keys <= 0) return "n_slots and max_keys must be positive";
    if (slot_stride < slot_halves_min) return "slot_stride is smaller than a slot's positions";
    for (int32_t t = 0; t < m; ++t)
        if (row_slot[t] < 0 || row_slot[t] >= n_slots || row_pos[t] < 0 || row_pos[t] >= max_keys)
            return "a row's slot or position is out of range";
    return nullptr;
}

// An ATTENTION or KV_STORE call's kv_head_stride (ABI 1.4), or 0 for a writer that predates it:
// non-zero means a head-major cache.
template <class Args>
inline int64_t kv_head_stride(const Args& a) noexcept {
    return a.struct_size >= BITNET_SIZE_UPTO(Args, kv_head_stride) ? a.kv_head_stride : 0;
}

// Halves between the KV heads of a position in the cache such a call names: kv_head_stride(), or
// head_dim when that is 0 (a position's heads side by side).
template <class Args>
inline int64_t kv_head_offset(const Args& a, int32_t head_dim) noexcept {
    const int64_t s = kv_head_stride(a);
    return s != 0 ? s : head_dim;
}

// The cache layout rules of bitnet_attention_args for `keys` positions per slot (n_past + m, or
// max_keys for the _SEQS ops): null when they hold, else why not. head_offset: kv_head_offset().
inline const char* kv_layout_error(int32_t n_kv_heads, int32_t head_dim, int32_t kv_stride, int64_t head_offset,
                                   int64_t keys) noexcept {
    if (head_offset == head_dim) {
        if (kv_stride < int64_t(n_kv_heads) * head_dim) return "kv_stride < n_kv_heads * head_dim";
        return nullptr;
    }
    if (kv_stride < head_dim) return "kv_stride < head_dim";
    if (head_offset < keys * kv_stride) return "kv_head_stride < positions * kv_stride (heads overlap)";
    return nullptr;
}

// The cache layout rules of bitnet_kv_store_args (ld and the layout, not the pointers) for `keys`
// positions per slot: null when they hold, else why not.
inline const char* kv_store_layout_error(const bitnet_kv_store_args& a, int64_t keys) noexcept {
    if (a.ld < a.width) return "ld < width";
    const int64_t hs = kv_head_stride(a);
    if (hs == 0) return a.kv_stride < a.width ? "kv_stride < width" : nullptr;
    if (a.head_dim <= 0 || a.width % a.head_dim != 0) return "width is not a multiple of a positive head_dim";
    return kv_layout_error(a.width / a.head_dim, a.head_dim, a.kv_stride, hs, keys);
}

// Copies a reason into a probe's output buffer (always NUL-terminated when len > 0).
inline void write_reason(char* out, size_t len, const char* reason) noexcept {
    if (out == nullptr || len == 0) return;
    std::snprintf(out, len, "%s", reason);
}

} // namespace bitnet::sdk
