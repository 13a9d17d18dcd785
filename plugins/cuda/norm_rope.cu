// RMSNorm and RoPE, with the scalar reference's float operations in its order (products are not
// contracted into FMAs; __fmul_rn/__fsub_rn say so where nvcc otherwise would): RMSNorm differs
// only in the order of its double sum, RoPE only in the last bits of cosf/sinf.
#include "cuda_common.cuh"
#include "cuda_plugin.hpp"

#include <algorithm>
#include <cmath>

namespace bitnet::cuda {
namespace {

constexpr int kNormThreads = 256;

// One block per row: mean = (float)(Σ (double)(x·x) / n), y = x · (1/sqrtf(mean + eps)) [· w].
__global__ void __launch_bounds__(kNormThreads)
rmsnorm(const float* x, int ldx, const float* __restrict__ weight, float eps, float* y, int ldy, int n) {
    griddep_enter();
    __shared__ double sm[kNormThreads / 32];
    const float* xr = x + static_cast<size_t>(blockIdx.x) * ldx;
    float* yr = y + static_cast<size_t>(blockIdx.x) * ldy;
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += kNormThreads) s += static_cast<double>(__fmul_rn(xr[i], xr[i]));
    s = warp_sum(s);
    if (threadIdx.x % 32 == 0) sm[threadIdx.x / 32] = s;
    __syncthreads();
    double total = 0.0;
    for (int w = 0; w < kNormThreads / 32; ++w) total += sm[w];
    const float mean = static_cast<float>(total / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    // Each element is read and written by one thread after the sum: y may alias x.
    for (int i = threadIdx.x; i < n; i += kNormThreads) {
        const float v = __fmul_rn(xr[i], scale);
        yr[i] = weight != nullptr ? __fmul_rn(v, weight[i]) : v;
    }
}

// The register-resident form of rmsnorm for rows up to kRowThreads * R: x and the weight are
// loaded once, all at once; y may alias x (every element is read and written by one thread, the
// writes after the reduction's barrier).
template <int R>
__global__ void __launch_bounds__(kRowThreads)
rmsnorm_regs(const float* x, int ldx, const float* __restrict__ weight, float eps, float* y, int ldy, int n) {
    griddep_enter();
    const float* xr = x + static_cast<size_t>(blockIdx.x) * ldx;
    float* yr = y + static_cast<size_t>(blockIdx.x) * ldy;
    float v[R], w[R];
    double s = 0.0;
#pragma unroll
    for (int j = 0; j < R; ++j) {
        const int i = threadIdx.x + j * kRowThreads;
        v[j] = i < n ? xr[i] : 0.0f;
        w[j] = weight != nullptr && i < n ? weight[i] : 1.0f;
    }
#pragma unroll
    for (int j = 0; j < R; ++j) s += static_cast<double>(__fmul_rn(v[j], v[j]));
    const double total = block_allreduce(s, 0.0, [](double a, double b) { return a + b; });
    const float scale = 1.0f / sqrtf(static_cast<float>(total / n) + eps);
#pragma unroll
    for (int j = 0; j < R; ++j) {
        const int i = threadIdx.x + j * kRowThreads;
        if (i >= n) break;
        const float o = __fmul_rn(v[j], scale);
        yr[i] = weight != nullptr ? __fmul_rn(o, w[j]) : o;
    }
}

// Rotates one head in place, thread i taking pair i; with `kh`, also stores the rotated values as
// F16 there (the head's cache row). theta_i = pos · theta_scale^i built by repeated f32
// multiplication, as ggml (and the scalar plugin) do.
__device__ __forceinline__ void rope_head(float* xh, float pos, int n_rot, int neox, float theta_scale,
                                          float freq_scale, uint16_t* kh) {
    const int half = n_rot / 2;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float theta_base = pos;
        for (int j = 0; j < i; ++j) theta_base = __fmul_rn(theta_base, theta_scale);
        const float theta = __fmul_rn(freq_scale, theta_base);
        const float c = cosf(theta), s = sinf(theta);
        const int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        const float x0 = xh[i0], x1 = xh[i1];
        const float r0 = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
        const float r1 = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
        xh[i0] = r0;
        xh[i1] = r1;
        if (kh != nullptr) {
            kh[i0] = float_to_half_bits(r0);
            kh[i1] = float_to_half_bits(r1);
        }
    }
}

// grid (token, head).
__global__ void rope(float* x, int ldx, const int32_t* __restrict__ positions, int head_dim, int n_rot, int neox,
                     float theta_scale, float freq_scale) {
    griddep_enter();
    float* xh = x + static_cast<size_t>(blockIdx.x) * ldx + static_cast<size_t>(blockIdx.y) * head_dim;
    rope_head(xh, static_cast<float>(positions[blockIdx.x]), n_rot, neox, theta_scale, freq_scale, nullptr);
}

// RoPE and (ABI 1.5) the step's K and V into the F16 cache in one launch: grid (token,
// n_heads + n_kv_heads). A block of a rotated head at or past first_k_head also stores that K head
// (its rotated pairs straight from registers, dims past n_rot as they are); the last n_kv_heads
// blocks store V. Positions: pos0 (or n_past from the device while a graph is captured) + token,
// or each row's position and slot (row_pos/row_slot, rows out of range skipped), as the KV_STORE
// kernels place them (interleaved cache).
__global__ void rope_store(float* x, int ldx, const int32_t* __restrict__ positions, int head_dim, int n_rot, int neox,
                           float theta_scale, float freq_scale, int n_heads, int first_k_head,
                           const float* __restrict__ v, int ldv, uint16_t* __restrict__ kc, uint16_t* __restrict__ vc,
                           int kv_stride, const int32_t* dyn_pos0, int pos0, const int32_t* __restrict__ row_pos,
                           const int32_t* __restrict__ row_slot, int64_t slot_stride, int n_slots, int max_keys) {
    griddep_enter();
    const int t = blockIdx.x, h = blockIdx.y;
    bool store = true;
    int64_t at; // halves to this token's position in the cache
    if (row_pos != nullptr) {
        const int p = row_pos[t], s = row_slot[t];
        store = s >= 0 && s < n_slots && p >= 0 && p < max_keys;
        at = int64_t(s) * slot_stride + int64_t(p) * kv_stride;
    } else {
        at = int64_t(effective_n_past(dyn_pos0, pos0) + t) * kv_stride;
    }
    if (h >= n_heads) {
        if (!store) return;
        const int kvh = h - n_heads;
        const float* vr = v + static_cast<size_t>(t) * ldv + static_cast<size_t>(kvh) * head_dim;
        for (int i = threadIdx.x; i < head_dim; i += blockDim.x)
            vc[at + int64_t(kvh) * head_dim + i] = float_to_half_bits(vr[i]);
        return;
    }
    float* xh = x + static_cast<size_t>(t) * ldx + static_cast<size_t>(h) * head_dim;
    uint16_t* kh = h >= first_k_head && store ? kc + at + int64_t(h - first_k_head) * head_dim : nullptr;
    rope_head(xh, static_cast<float>(positions[t]), n_rot, neox, theta_scale, freq_scale, kh);
    if (kh != nullptr)
        for (int i = n_rot + threadIdx.x; i < head_dim; i += blockDim.x) kh[i] = float_to_half_bits(xh[i]);
}

} // namespace

bitnet_status run_rmsnorm(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "rmsnorm_f32__cuda";
    return run_op<bitnet_rmsnorm_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_rmsnorm_args, ldy),
        [&](Plugin& p, const bitnet_rmsnorm_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0 || a.x == nullptr || a.y == nullptr || a.ldx < a.n || a.ldy < a.n || !(a.eps >= 0.0f))
                return fail(p, what, "bad m, n, x, y, ldx, ldy or eps");
            if (!on_device(p, a.x, ((size_t(a.m) - 1) * a.ldx + a.n) * 4) ||
                !on_device(p, a.y, ((size_t(a.m) - 1) * a.ldy + a.n) * 4) ||
                (a.weight != nullptr && !on_device(p, a.weight, size_t(a.n) * 4)))
                return not_on_device(p, what, "x, y or weight is not device memory of this plugin");
            const bool in_registers = dispatch_row_regs(a.n, [&](auto regs) {
                launch_kernel(p.pdl, rmsnorm_regs<decltype(regs)::value>, a.m, kRowThreads, 0, p.stream, a.x, a.ldx, a.weight, a.eps, a.y, a.ldy,
                              a.n);
            });
            if (!in_registers)
                launch_kernel(p.pdl, rmsnorm, a.m, kNormThreads, 0, p.stream, a.x, a.ldx, a.weight, a.eps, a.y, a.ldy, a.n);
            return check_launch(p, what);
        });
}

bitnet_status run_rope(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "rope_f32__cuda";
    return run_op<bitnet_rope_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_rope_args, ldx),
        [&](Plugin& p, const bitnet_rope_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n_heads <= 0 || a.head_dim <= 0 || a.n_rot <= 0 || a.n_rot % 2 != 0 ||
                a.n_rot > a.head_dim || a.x == nullptr || a.positions == nullptr ||
                int64_t(a.ldx) < int64_t(a.n_heads) * a.head_dim)
                return fail(p, what, "bad shape, n_rot, x, positions or ldx");
            if (!on_device(p, a.x, ((size_t(a.m) - 1) * a.ldx + size_t(a.n_heads) * a.head_dim) * 4) ||
                !on_device(p, a.positions, size_t(a.m) * 4))
                return not_on_device(p, what, "x or positions is not device memory of this plugin");
            // The same single-precision powf the scalar reference evaluates.
            const float theta_scale = std::pow(a.freq_base, -2.0f / static_cast<float>(a.n_rot));
            const int threads = std::min(128, a.n_rot / 2);
            const bitnet_kv_store_args* kv = sdk::rope_kv_store(a);
            if (kv != nullptr) {
                const bool seqs = a.kv_store_op == BITNET_OP_KV_STORE_SEQS;
                if (!seqs && a.kv_store_op != BITNET_OP_KV_STORE) return fail(p, what, "bad kv_store_op");
                if (bitnet_status st = check_kv_store_args(p, *kv, seqs, what); st != BITNET_OK) return st;
                // One launch when the K rows are x's last heads at its stride (the host's Q|K|V
                // rows); otherwise RoPE, then the store kernel.
                const ptrdiff_t k_off = kv->k - a.x;
                const int n_kv = kv->width / a.head_dim;
                const bool k_in_x = kv->ld == a.ldx && kv->width % a.head_dim == 0 && k_off >= 0 &&
                                    k_off % a.head_dim == 0 && k_off / a.head_dim + n_kv == a.n_heads;
                if (k_in_x) {
                    launch_kernel(p.pdl, rope_store, dim3(a.m, a.n_heads + n_kv), threads, 0, p.stream, a.x, a.ldx,
                                  a.positions, a.head_dim, a.n_rot, a.neox, theta_scale, a.freq_scale, a.n_heads,
                                  int(k_off / a.head_dim), kv->v, kv->ld, kv->k_cache, kv->v_cache, kv->kv_stride,
                                  seqs ? nullptr : p.dyn_n_past, kv->pos0, seqs ? kv->row_pos : nullptr,
                                  seqs ? kv->row_slot : nullptr, seqs ? kv->slot_stride : int64_t(0),
                                  seqs ? kv->n_slots : 0, seqs ? kv->max_keys : 0);
                    return check_launch(p, what);
                }
                launch_kernel(p.pdl, rope, dim3(a.m, a.n_heads), threads, 0, p.stream, a.x, a.ldx, a.positions,
                              a.head_dim, a.n_rot, a.neox, theta_scale, a.freq_scale);
                if (bitnet_status st = check_launch(p, what); st != BITNET_OK) return st;
                return seqs ? run_kv_store_seqs(plugin, kv, nullptr) : run_kv_store(plugin, kv, nullptr);
            }
            launch_kernel(p.pdl, rope, dim3(a.m, a.n_heads), threads, 0, p.stream, a.x, a.ldx, a.positions, a.head_dim, a.n_rot, a.neox,
                                                                 theta_scale, a.freq_scale);
            return check_launch(p, what);
        });
}

} // namespace bitnet::cuda
