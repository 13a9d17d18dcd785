// Element-wise ops: the gated FFN activation, the residual add and the KV-cache store. Every
// output element depends on the same-index inputs only, so outputs may alias inputs; relu², add
// and the f16 store are bit-exact with the scalar reference, SiLU differs by expf's last bits.
#include "cuda_common.cuh"
#include "cuda_plugin.hpp"

namespace bitnet::cuda {
namespace {

constexpr int kThreads = 256;

static_assert(BITNET_FFN_RELU2 == 0, "ffn_gate_up's kind numbering");

__global__ void ffn_act(int kind, const float* gate, const float* up, float* y, int ld, int n) {
    griddep_enter();
    const int i = blockIdx.x * kThreads + threadIdx.x;
    if (i >= n) return;
    const size_t at = static_cast<size_t>(blockIdx.y) * ld + i;
    y[at] = ffn_gate_up(kind, gate[at], up[at]);
}

__global__ void add(const float* x, int ldx, float* y, int ldy, int n) {
    griddep_enter();
    const int i = blockIdx.x * kThreads + threadIdx.x;
    if (i >= n) return;
    y[static_cast<size_t>(blockIdx.y) * ldy + i] += x[static_cast<size_t>(blockIdx.y) * ldx + i];
}

__global__ void kv_store(const float* __restrict__ k, const float* __restrict__ v, int ld, uint16_t* __restrict__ kc,
                         uint16_t* __restrict__ vc, int kv_stride, int width, const int32_t* dyn_pos0, int pos0) {
    griddep_enter();
    const int i = blockIdx.x * kThreads + threadIdx.x;
    if (i >= width) return;
    const int t = blockIdx.y;
    const size_t dst = static_cast<size_t>(effective_n_past(dyn_pos0, pos0) + t) * kv_stride + i;
    const size_t src = static_cast<size_t>(t) * ld + i;
    kc[dst] = float_to_half_bits(k[src]);
    vc[dst] = float_to_half_bits(v[src]);
}

// KV_STORE_SEQS: row t at position pos[t] of slot slot[t]; rows out of range are skipped.
__global__ void kv_store_seqs(const float* __restrict__ k, const float* __restrict__ v, int ld, uint16_t* __restrict__ kc,
                              uint16_t* __restrict__ vc, int kv_stride, int width, const int32_t* __restrict__ pos,
                              const int32_t* __restrict__ slot, int64_t slot_stride, int n_slots, int max_keys) {
    griddep_enter();
    const int i = blockIdx.x * kThreads + threadIdx.x;
    const int t = blockIdx.y;
    const int p = pos[t], s = slot[t];
    if (i >= width || s < 0 || s >= n_slots || p < 0 || p >= max_keys) return;
    const size_t dst = static_cast<size_t>(s) * slot_stride + static_cast<size_t>(p) * kv_stride + i;
    const size_t src = static_cast<size_t>(t) * ld + i;
    kc[dst] = float_to_half_bits(k[src]);
    vc[dst] = float_to_half_bits(v[src]);
}

size_t span_bytes(int m, int ld, int n, size_t elem) { return ((size_t(m) - 1) * ld + n) * elem; }

} // namespace

bitnet_status run_ffn_act(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "ffn_act_f32__cuda";
    return run_op<bitnet_ffn_act_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_ffn_act_args, ld),
        [&](Plugin& p, const bitnet_ffn_act_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0 || a.gate == nullptr || a.up == nullptr || a.y == nullptr || a.ld < a.n ||
                (a.kind != BITNET_FFN_RELU2 && a.kind != BITNET_FFN_SILU))
                return fail(p, what, "bad m, n, pointers, ld or kind");
            const size_t bytes = span_bytes(a.m, a.ld, a.n, 4);
            if (!on_device(p, a.gate, bytes) || !on_device(p, a.up, bytes) || !on_device(p, a.y, bytes))
                return not_on_device(p, what, "gate, up or y is not device memory of this plugin");
            launch_kernel(p.pdl, ffn_act, dim3(ceil_div(a.n, kThreads), a.m), kThreads, 0, p.stream, int(a.kind), a.gate, a.up, a.y, a.ld,
                                                                                  a.n);
            return check_launch(p, what);
        });
}

bitnet_status run_add(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "add_f32__cuda";
    return run_op<bitnet_add_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_add_args, ldy),
        [&](Plugin& p, const bitnet_add_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0 || a.x == nullptr || a.y == nullptr || a.ldx < a.n || a.ldy < a.n)
                return fail(p, what, "bad m, n, x, y, ldx or ldy");
            if (!on_device(p, a.x, span_bytes(a.m, a.ldx, a.n, 4)) || !on_device(p, a.y, span_bytes(a.m, a.ldy, a.n, 4)))
                return not_on_device(p, what, "x or y is not device memory of this plugin");
            launch_kernel(p.pdl, add, dim3(ceil_div(a.n, kThreads), a.m), kThreads, 0, p.stream, a.x, a.ldx, a.y, a.ldy, a.n);
            return check_launch(p, what);
        });
}

bitnet_status check_kv_store_args(Plugin& p, const bitnet_kv_store_args& a, bool seqs, const char* what) noexcept {
    if (a.m <= 0 || a.width <= 0 || a.k == nullptr || a.v == nullptr || a.k_cache == nullptr || a.v_cache == nullptr ||
        a.ld < a.width || a.kv_stride < a.width)
        return fail(p, what, "bad m, width, pointers, ld or kv_stride");
    if (sdk::kv_head_stride(a) != 0) return fail(p, what, "the cache must be interleaved (kv_head_stride 0)");
    size_t cache = 0;
    if (seqs) {
        if (a.struct_size < CUDA_SIZE_UPTO(bitnet_kv_store_args, max_keys) || a.n_slots <= 0 || a.max_keys <= 0 ||
            a.slot_stride < int64_t(a.max_keys) * a.kv_stride)
            return fail(p, what, "bad n_slots, max_keys or slot_stride");
        cache = size_t(a.n_slots - 1) * size_t(a.slot_stride) * 2 + span_bytes(a.max_keys, a.kv_stride, a.width, 2);
        if (!on_device(p, a.row_pos, size_t(a.m) * 4) || !on_device(p, a.row_slot, size_t(a.m) * 4))
            return not_on_device(p, what, "the row arrays are not device memory of this plugin");
    } else {
        if (a.pos0 < 0) return fail(p, what, "bad pos0");
        // While a graph is captured pos0 comes from the device; the cache must then hold max_keys rows.
        cache = span_bytes(p.dyn_n_past != nullptr ? p.dyn_max_keys : a.pos0 + a.m, a.kv_stride, a.width, 2);
    }
    if (!on_device(p, a.k, span_bytes(a.m, a.ld, a.width, 4)) || !on_device(p, a.v, span_bytes(a.m, a.ld, a.width, 4)) ||
        !on_device(p, a.k_cache, cache) || !on_device(p, a.v_cache, cache))
        return not_on_device(p, what, "k, v or the cache is not device memory of this plugin (or too small)");
    return BITNET_OK;
}

bitnet_status run_kv_store(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "kv_store_f16__cuda";
    return run_op<bitnet_kv_store_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_kv_store_args, kv_stride),
        [&](Plugin& p, const bitnet_kv_store_args& a) -> bitnet_status {
            if (bitnet_status st = check_kv_store_args(p, a, false, what); st != BITNET_OK) return st;
            launch_kernel(p.pdl, kv_store, dim3(ceil_div(a.width, kThreads), a.m), kThreads, 0, p.stream, a.k, a.v, a.ld,
                          a.k_cache, a.v_cache, a.kv_stride, a.width, p.dyn_n_past, a.pos0);
            return check_launch(p, what);
        });
}

bitnet_status run_kv_store_seqs(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "kv_store_seqs_f16__cuda";
    return run_op<bitnet_kv_store_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_kv_store_args, max_keys),
        [&](Plugin& p, const bitnet_kv_store_args& a) -> bitnet_status {
            if (bitnet_status st = check_kv_store_args(p, a, true, what); st != BITNET_OK) return st;
            launch_kernel(p.pdl, kv_store_seqs, dim3(ceil_div(a.width, kThreads), a.m), kThreads, 0, p.stream, a.k, a.v,
                          a.ld, a.k_cache, a.v_cache, a.kv_stride, a.width, a.row_pos, a.row_slot, a.slot_stride,
                          a.n_slots, a.max_keys);
            return check_launch(p, what);
        });
}

} // namespace bitnet::cuda
