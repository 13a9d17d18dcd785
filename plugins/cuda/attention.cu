// Causal attention over the f16 KV cache in device memory, split over the keys (flash-decoding's
// split-K) and reproducing the scalar reference's rounding points:
//   1. scores: one thread per (query row, key), Σ f16(q)·k summed in key-dimension order, × scale
//      (the products are exact in f32, so each score is bit-identical to the scalar's);
//   2. row statistics: max, Σ exp(s - max) in double, inv = (float)(1/Σ);
//   3. per split of 256 keys: p = exp(s - max)·inv (rounded to f16 for a one-token batch, as
//      ggml's decode path does), Σ p·v per dimension;
//   4. the splits' partial sums are added (skipped when one split covers every key).
// The exponential is exp() in double rounded to f32, the correctly rounded expf glibc's
// approximates to 0.502 ulp; so probabilities agree with the scalar ones before the f16 rounding
// that amplifies any difference, and only the f32 summation order of step 3/4 differs.
// Query rows are (token, head); tokens of a batch see keys 0 .. n_past + t. While a graph is
// captured n_past is read from device memory and the grids cover max_keys. ATTENTION_SEQS (ABI
// 1.3) runs the same kernels with each token's position and cache slot read from device arrays.
#include "cuda_common.cuh"
#include "cuda_plugin.hpp"

namespace bitnet::cuda {
namespace {

constexpr int kScoreThreads = 128;
constexpr int kSplitKeys = 256;
constexpr int kMaxHeadDim = 256;

struct Geometry {
    int n_heads, group, head_dim, kv_stride, cap; // cap: score columns per row (>= every n_keys)
    float scale;
};

// Where token t's keys are: ATTENTION_SEQS rows (pos != nullptr) or one sequence at n_past.
struct Keys {
    const int32_t* pos;  // per token: its position (sees keys 0..pos)
    const int32_t* slot; // per token: its sequence's cache slot
    int64_t slot_stride; // halves
    int n_slots, max_keys;
    const int32_t* dyn;  // one sequence: n_past in device memory while capturing, else null
    int n_past;

    // Keys token t sees (0 for a row out of range: it gets zeros), and its slot's offset.
    __device__ int count(int t, int64_t& offset) const {
        offset = 0;
        if (pos == nullptr) return effective_n_past(dyn, n_past) + t + 1;
        const int p = pos[t], s = slot[t];
        if (s < 0 || s >= n_slots || p < 0 || p >= max_keys) return 0;
        offset = s * slot_stride;
        return p + 1;
    }
    // Probabilities are rounded to f16 for a sequence's one-token step (the scalar reference's rule).
    __device__ bool rounds(int t, int m) const {
        if (pos == nullptr) return m == 1;
        for (int u = 0; u < m; ++u)
            if (u != t && slot[u] == slot[t]) return false;
        return true;
    }
};

// Σ qs[d]·k[d] in dimension order with f32 rounding at every step: the scalar reference's score,
// bit for bit (the products of f16-rounded q and f16 k are exact in f32).
template <bool kVec>
__device__ __forceinline__ float key_dot(const float* qs, const uint16_t* __restrict__ kr, int D) {
    float dot = 0.0f;
    if constexpr (kVec) {
        for (int d = 0; d < D; d += 8) {
            const uint4 raw = __ldg(reinterpret_cast<const uint4*>(kr + d));
            const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                dot = __fadd_rn(dot, __fmul_rn(qs[d + 2 * j], half_bits_to_float(uint16_t(words[j] & 0xffffu))));
                dot = __fadd_rn(dot, __fmul_rn(qs[d + 2 * j + 1], half_bits_to_float(uint16_t(words[j] >> 16))));
            }
        }
    } else {
        for (int d = 0; d < D; ++d) dot = __fadd_rn(dot, __fmul_rn(qs[d], half_bits_to_float(kr[d])));
    }
    return dot;
}

template <bool kVec>
__global__ void __launch_bounds__(kScoreThreads)
scores_kernel(const float* __restrict__ q, int ldq, const uint16_t* __restrict__ kc, Geometry g, Keys keys,
              float* __restrict__ scores) {
    griddep_enter();
    __shared__ float qs[kMaxHeadDim];
    const int r = blockIdx.y, t = r / g.n_heads, h = r % g.n_heads, D = g.head_dim;
    const float* qr = q + static_cast<size_t>(t) * ldq + static_cast<size_t>(h) * D;
    for (int d = threadIdx.x; d < D; d += kScoreThreads) qs[d] = half_bits_to_float(float_to_half_bits(qr[d]));
    __syncthreads();
    int64_t slot_offset;
    const int n_keys = keys.count(t, slot_offset);
    const int pos = blockIdx.x * kScoreThreads + threadIdx.x;
    if (pos >= n_keys) return;
    const uint16_t* kr = kc + slot_offset + static_cast<size_t>(pos) * g.kv_stride + static_cast<size_t>(h / g.group) * D;
    const float dot = key_dot<kVec>(qs, kr, D);
    scores[static_cast<size_t>(r) * g.cap + pos] = __fmul_rn(dot, g.scale);
}

// One block per query row: {max, (float)(1 / Σ exp)} into stats[2r..2r+1].
__global__ void __launch_bounds__(256)
stats_kernel(const float* __restrict__ scores, Geometry g, Keys keys, float* __restrict__ stats) {
    griddep_enter();
    __shared__ float fmx[8];
    __shared__ double dsum[8];
    const int r = blockIdx.x, t = r / g.n_heads;
    int64_t slot_offset;
    const int n_keys = keys.count(t, slot_offset);
    const float* s = scores + static_cast<size_t>(r) * g.cap;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < n_keys; i += 256) mx = fmaxf(mx, s[i]);
    mx = warp_max(mx);
    if (threadIdx.x % 32 == 0) fmx[threadIdx.x / 32] = mx;
    __syncthreads();
    mx = fmx[0];
    for (int w = 1; w < 8; ++w) mx = fmaxf(mx, fmx[w]);
    double sum = 0.0;
    for (int i = threadIdx.x; i < n_keys; i += 256)
        sum += static_cast<double>(static_cast<float>(exp(static_cast<double>(__fsub_rn(s[i], mx)))));
    sum = warp_sum(sum);
    if (threadIdx.x % 32 == 0) dsum[threadIdx.x / 32] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0;
        for (int w = 0; w < 8; ++w) total += dsum[w];
        stats[2 * r] = mx;
        stats[2 * r + 1] = static_cast<float>(1.0 / total);
    }
}

// grid (split, row), head_dim threads: Σ p·v over the split's keys. Writes `out` directly when
// `partial` is null (a single split), else partial[(split * rows + r) * D + d].
__global__ void pv_kernel(const float* __restrict__ scores, const float* __restrict__ stats,
                          const uint16_t* __restrict__ vc, Geometry g, Keys keys, float* __restrict__ partial,
                          float* __restrict__ out, int ldo) {
    griddep_enter();
    __shared__ float ps[kSplitKeys];
    const int split = blockIdx.x, r = blockIdx.y, rows = gridDim.y, t = r / g.n_heads, h = r % g.n_heads;
    const int D = g.head_dim, d = threadIdx.x;
    int64_t slot_offset;
    const int n_keys = keys.count(t, slot_offset);
    const bool round_probs = keys.rounds(t, rows / g.n_heads);
    const int k0 = split * kSplitKeys, k1 = min(n_keys, k0 + kSplitKeys);
    const float mx = stats[2 * r], inv = stats[2 * r + 1];
    const float* s = scores + static_cast<size_t>(r) * g.cap;
    for (int i = k0 + threadIdx.x; i < k1; i += blockDim.x) {
        float p = __fmul_rn(static_cast<float>(exp(static_cast<double>(__fsub_rn(s[i], mx)))), inv);
        if (round_probs) p = half_bits_to_float(float_to_half_bits(p));
        ps[i - k0] = p;
    }
    __syncthreads();
    const uint16_t* vr = vc + slot_offset + static_cast<size_t>(h / g.group) * D + d;
    float acc = 0.0f;
    for (int i = k0; i < k1; ++i) acc = fmaf(ps[i - k0], half_bits_to_float(vr[static_cast<size_t>(i) * g.kv_stride]), acc);
    if (partial == nullptr) out[static_cast<size_t>(t) * ldo + static_cast<size_t>(h) * D + d] = acc;
    else partial[(static_cast<size_t>(split) * rows + r) * D + d] = acc; // 0 for splits past n_keys
}

__global__ void combine_kernel(const float* __restrict__ partial, int splits, Geometry g, float* __restrict__ out,
                               int ldo) {
    griddep_enter();
    const int r = blockIdx.x, rows = gridDim.x, t = r / g.n_heads, h = r % g.n_heads, D = g.head_dim, d = threadIdx.x;
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s) acc += partial[(static_cast<size_t>(s) * rows + r) * D + d];
    out[static_cast<size_t>(t) * ldo + static_cast<size_t>(h) * D + d] = acc;
}

// The whole attention of one query row (token, head) in one block, for caches of up to
// kFusedMaxKeys positions: scores, max and Σ exp (same rounding points as the kernels above),
// probabilities in shared memory, then Σ p·v with the keys cut into one contiguous chunk per
// group of head_dim threads (the chunks' sums added in order). One launch instead of three: a
// decode step runs this once per layer.
constexpr int kFusedThreads = 512;
constexpr int kFusedMaxKeys = 8192; // probabilities in shared memory: 32 KB

size_t fused_smem_bytes(int cap, int head_dim) {
    return (size_t(kMaxHeadDim) + size_t(cap) + size_t(kFusedThreads / head_dim) * head_dim) * sizeof(float);
}

template <bool kVec>
__global__ void __launch_bounds__(kFusedThreads)
fused_kernel(const float* __restrict__ q, int ldq, const uint16_t* __restrict__ kc, const uint16_t* __restrict__ vc,
             Geometry g, Keys keys, float* __restrict__ out, int ldo) {
    griddep_enter();
    extern __shared__ float smem[];
    float* qs = smem;                  // [kMaxHeadDim]
    float* ps = smem + kMaxHeadDim;    // [cap] scores, then exp, then probabilities
    float* part = ps + g.cap;          // [groups][head_dim]
    const int r = blockIdx.x, t = r / g.n_heads, h = r % g.n_heads, D = g.head_dim, tid = threadIdx.x;
    const float* qr = q + static_cast<size_t>(t) * ldq + static_cast<size_t>(h) * D;
    for (int d = tid; d < D; d += kFusedThreads) qs[d] = half_bits_to_float(float_to_half_bits(qr[d]));
    __syncthreads();
    int64_t slot_offset;
    const int n_keys = keys.count(t, slot_offset);
    const bool round_probs = keys.rounds(t, gridDim.x / g.n_heads);
    const size_t head_offset = static_cast<size_t>(slot_offset) + static_cast<size_t>(h / g.group) * D;

    float mx = -INFINITY;
    for (int pos = tid; pos < n_keys; pos += kFusedThreads) {
        const float s = __fmul_rn(key_dot<kVec>(qs, kc + head_offset + static_cast<size_t>(pos) * g.kv_stride, D), g.scale);
        ps[pos] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_allreduce(mx, -INFINITY, [](float a, float b) { return fmaxf(a, b); });
    double sum = 0.0;
    for (int pos = tid; pos < n_keys; pos += kFusedThreads) {
        const float e = static_cast<float>(exp(static_cast<double>(__fsub_rn(ps[pos], mx))));
        ps[pos] = e;
        sum += static_cast<double>(e);
    }
    sum = block_allreduce(sum, 0.0, [](double a, double b) { return a + b; });
    const float inv = static_cast<float>(1.0 / sum);
    for (int pos = tid; pos < n_keys; pos += kFusedThreads) {
        float p = __fmul_rn(ps[pos], inv);
        if (round_probs) p = half_bits_to_float(float_to_half_bits(p));
        ps[pos] = p;
    }
    __syncthreads();

    const int groups = kFusedThreads / D, gi = tid / D, d = tid % D;
    if (gi < groups) {
        const int chunk = (n_keys + groups - 1) / groups, k0 = min(n_keys, gi * chunk), k1 = min(n_keys, k0 + chunk);
        const uint16_t* vr = vc + head_offset + d;
        float acc = 0.0f;
        for (int i = k0; i < k1; ++i) acc = fmaf(ps[i], half_bits_to_float(vr[static_cast<size_t>(i) * g.kv_stride]), acc);
        part[gi * D + d] = acc;
    }
    __syncthreads();
    if (tid < D) {
        float o = 0.0f;
        for (int i = 0; i < groups; ++i) o += part[i * D + tid];
        out[static_cast<size_t>(t) * ldo + static_cast<size_t>(h) * D + tid] = o;
    }
}

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

// Both ops: checks, scratch, and the three (or four) launches. `seqs`: ATTENTION_SEQS.
bitnet_status attend(Plugin& p, const bitnet_attention_args& a, bool seqs, const char* what) {
    if (a.m <= 0 || a.n_past < 0 || a.n_heads <= 0 || a.n_kv_heads <= 0 || a.head_dim <= 0 ||
        a.head_dim > kMaxHeadDim || a.n_heads % a.n_kv_heads != 0)
        return fail(p, what, "bad m, n_past or head layout (head_dim <= 256)");
    const int64_t width = int64_t(a.n_heads) * a.head_dim;
    if (a.q == nullptr || a.k_cache == nullptr || a.v_cache == nullptr || a.out == nullptr || a.ldq < width ||
        a.ldo < width || a.kv_stride < int64_t(a.n_kv_heads) * a.head_dim)
        return fail(p, what, "bad pointers, ldq, ldo or kv_stride");
    if (seqs && (a.n_slots <= 0 || a.max_keys <= 0 || a.slot_stride < int64_t(a.max_keys) * a.kv_stride))
        return fail(p, what, "n_slots and max_keys must be positive, slot_stride >= max_keys * kv_stride");
    const bool dynamic = !seqs && p.dyn_n_past != nullptr;
    // Score columns: every key any row of this call (or of any step of the graph) sees.
    const int cap = seqs ? a.max_keys : dynamic ? p.dyn_max_keys : a.n_past + a.m;
    const size_t cache_bytes = ((seqs ? size_t(a.n_slots - 1) * size_t(a.slot_stride) : 0) +
                                (size_t(cap) - 1) * a.kv_stride + size_t(a.n_kv_heads) * a.head_dim) * 2;
    if (!on_device(p, a.q, ((size_t(a.m) - 1) * a.ldq + width) * 4) ||
        !on_device(p, a.out, ((size_t(a.m) - 1) * a.ldo + width) * 4) || !on_device(p, a.k_cache, cache_bytes) ||
        !on_device(p, a.v_cache, cache_bytes) ||
        (seqs && (!on_device(p, a.row_pos, size_t(a.m) * 4) || !on_device(p, a.row_slot, size_t(a.m) * 4))))
        return not_on_device(p, what, "q, out, the cache or the row arrays are not device memory of this plugin (or too small)");

    const int rows = a.m * a.n_heads;
    const Geometry g{a.n_heads, a.n_heads / a.n_kv_heads, a.head_dim, a.kv_stride, cap, a.scale};
    const Keys keys = seqs ? Keys{a.row_pos, a.row_slot, a.slot_stride, a.n_slots, a.max_keys, nullptr, 0}
                           : Keys{nullptr, nullptr, 0, 0, 0, p.dyn_n_past, a.n_past};
    const bool vec = a.head_dim % 8 == 0 && a.kv_stride % 8 == 0 && (!seqs || a.slot_stride % 8 == 0) &&
                     reinterpret_cast<uintptr_t>(a.k_cache) % 16 == 0;
    if (cap <= kFusedMaxKeys && p.fused_attention) {
        const size_t smem = fused_smem_bytes(cap, a.head_dim);
        if (vec) launch_kernel(p.pdl, fused_kernel<true>, rows, kFusedThreads, smem, p.stream, a.q, a.ldq, a.k_cache, a.v_cache, g, keys, a.out, a.ldo);
        else launch_kernel(p.pdl, fused_kernel<false>, rows, kFusedThreads, smem, p.stream, a.q, a.ldq, a.k_cache, a.v_cache, g, keys, a.out, a.ldo);
        return check_launch(p, what);
    }
    const int splits = static_cast<int>(ceil_div(cap, kSplitKeys));
    const size_t scores_bytes = align256(size_t(rows) * cap * 4), stats_bytes = align256(size_t(rows) * 8);
    const size_t partial_bytes = splits > 1 ? size_t(splits) * rows * a.head_dim * 4 : 0;
    void* ws = nullptr;
    if (bitnet_status st = scratch(p, scores_bytes + stats_bytes + partial_bytes, &ws); st != BITNET_OK) return st;
    auto* scores = static_cast<float*>(ws);
    auto* stats = reinterpret_cast<float*>(static_cast<uint8_t*>(ws) + scores_bytes);
    auto* partial =
        splits > 1 ? reinterpret_cast<float*>(static_cast<uint8_t*>(ws) + scores_bytes + stats_bytes) : nullptr;

    const dim3 sgrid(ceil_div(cap, kScoreThreads), rows);
    if (vec) launch_kernel(p.pdl, scores_kernel<true>, sgrid, kScoreThreads, 0, p.stream, a.q, a.ldq, a.k_cache, g, keys, scores);
    else launch_kernel(p.pdl, scores_kernel<false>, sgrid, kScoreThreads, 0, p.stream, a.q, a.ldq, a.k_cache, g, keys, scores);
    launch_kernel(p.pdl, stats_kernel, rows, 256, 0, p.stream, scores, g, keys, stats);
    launch_kernel(p.pdl, pv_kernel, dim3(splits, rows), a.head_dim, 0, p.stream, scores, stats, a.v_cache, g, keys,
                  partial, a.out, a.ldo);
    if (splits > 1) launch_kernel(p.pdl, combine_kernel, rows, a.head_dim, 0, p.stream, partial, splits, g, a.out, a.ldo);
    return check_launch(p, what);
}

} // namespace

bitnet_status run_attention(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "attention_f16kv_splitk__cuda";
    return run_op<bitnet_attention_args>(plugin, args, what, CUDA_SIZE_UPTO(bitnet_attention_args, ldo),
                                         [&](Plugin& p, const bitnet_attention_args& a) { return attend(p, a, false, what); });
}

bitnet_status run_attention_seqs(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "attention_seqs_f16kv_splitk__cuda";
    return run_op<bitnet_attention_args>(plugin, args, what, CUDA_SIZE_UPTO(bitnet_attention_args, max_keys),
                                         [&](Plugin& p, const bitnet_attention_args& a) { return attend(p, a, true, what); });
}

} // namespace bitnet::cuda
