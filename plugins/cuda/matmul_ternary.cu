// Ternary BitLinear on the GPU: Y[M,N] = X[M,K] · W[N,K]ᵀ with int8 activations and the 2-bit
// device layout of cuda_plugin.hpp. A warp owns R output rows and a tile of up to MT tokens, so
// each 2-bit weight word is loaded once for all the tile's tokens (GEMV over M <= 16 reads the
// weights exactly once) and each activation load serves R rows.
//
// Codes are stored +1 (0, 1, 2): dp4a gives Σ(c+1)·q, and Σq (another dp4a with 0x01010101,
// shared by the R rows) is subtracted; the integer dot stays exact, so I2_S is bit-identical to
// the scalar reference: y = (float)dot / s · w_scale. TQ formats sum per-32-weight partials in
// f32 times (d_w · d_a) of their 256-block, which differs from ggml only in summation order.
#include "cuda_common.cuh"
#include "cuda_plugin.hpp"

#include <type_traits>

namespace bitnet::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// Σ (c+1)·q over 16 weights (one word) against 16 activation bytes; sx += Σ q.
__device__ __forceinline__ int dot16(uint32_t w, const int4& a, int acc) {
    acc = __dp4a(static_cast<int>(w & 0x03030303u), a.x, acc);
    acc = __dp4a(static_cast<int>((w >> 2) & 0x03030303u), a.y, acc);
    acc = __dp4a(static_cast<int>((w >> 4) & 0x03030303u), a.z, acc);
    return __dp4a(static_cast<int>((w >> 6) & 0x03030303u), a.w, acc);
}
__device__ __forceinline__ int sum16(const int4& a, int acc) {
    constexpr int kOnes = 0x01010101;
    return __dp4a(kOnes, a.w, __dp4a(kOnes, a.z, __dp4a(kOnes, a.y, __dp4a(kOnes, a.x, acc))));
}

template <int R, int MT, bool kBlockScales>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
ternary_gemv(const uint32_t* __restrict__ w, const float* __restrict__ wscales, const int8_t* __restrict__ x,
             size_t ldq, const float* __restrict__ xs, int m, int n, int k, float w_scale, float* __restrict__ y,
             int ldy) {
    const int lane = threadIdx.x % 32;
    const int row0 = (blockIdx.x * kWarpsPerBlock + threadIdx.x / 32) * R;
    const int t0 = blockIdx.y * MT;
    const int mt = min(MT, m - t0);
    if (row0 >= n) return;
    const int pairs = k / 32, nb = (k + 255) / 256;
    const uint2* wr[R];
#pragma unroll
    for (int r = 0; r < R; ++r)
        wr[r] = reinterpret_cast<const uint2*>(w + static_cast<size_t>(min(row0 + r, n - 1)) * (k / 16));

    using Acc = std::conditional_t<kBlockScales, float, int>;
    Acc acc[R][MT];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < MT; ++t) acc[r][t] = 0;

    for (int p = lane; p < pairs; p += 32) {
        uint2 wv[R];
        float wb[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            wv[r] = __ldg(wr[r] + p);
            if constexpr (kBlockScales) wb[r] = __ldg(wscales + static_cast<size_t>(min(row0 + r, n - 1)) * nb + p / 8);
        }
#pragma unroll
        for (int t = 0; t < MT; ++t) {
            if (t >= mt) break;
            const int4* xp = reinterpret_cast<const int4*>(x + static_cast<size_t>(t0 + t) * ldq) + 2 * p;
            const int4 a = __ldg(xp), b = __ldg(xp + 1);
            const int sx = sum16(b, sum16(a, 0));
            float da = 0.0f;
            if constexpr (kBlockScales) da = __ldg(xs + static_cast<size_t>(t0 + t) * nb + p / 8);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const int d = dot16(wv[r].y, b, dot16(wv[r].x, a, 0)) - sx;
                if constexpr (kBlockScales) acc[r][t] += static_cast<float>(d) * (da * wb[r]);
                else acc[r][t] += d;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < MT; ++t) {
            if (t >= mt) break;
            const Acc s = warp_sum(acc[r][t]);
            if (lane == 0 && row0 + r < n) {
                float* out = y + static_cast<size_t>(t0 + t) * ldy + row0 + r;
                if constexpr (kBlockScales) *out = s * w_scale;
                else *out = static_cast<float>(s) / __ldg(xs + t0 + t) * w_scale;
            }
        }
}

template <int R, int MT, bool kBlockScales>
void launch(const bitnet_matmul_args& a, const uint32_t* w, const float* ws, cudaStream_t stream) {
    const dim3 grid(ceil_div(a.n, kWarpsPerBlock * R), ceil_div(a.m, MT));
    ternary_gemv<R, MT, kBlockScales><<<grid, kWarpsPerBlock * 32, 0, stream>>>(
        w, ws, a.x_q->data, a.x_q->row_stride, a.x_q->scales, a.m, a.n, a.k, a.w->scale, a.y, a.ldy);
}

bitnet_status run_ternary(void* plugin, const void* args, const char* what, bitnet_act_type act, int32_t block) {
    return run_op<bitnet_matmul_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_matmul_args, ldy),
        [&](Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0 || a.k <= 0 || a.k % block != 0) return fail(p, what, "bad m, n or k");
            if (a.act_type != act || a.x_q == nullptr || a.w == nullptr || a.y == nullptr || a.ldy < a.n)
                return fail(p, what, "bad act_type, x_q, w, y or ldy");
            if (a.w->packed == nullptr) return fail(p, what, "weights were not packed (pack_weights)");
            const bitnet_qact& q = *a.x_q;
            // int4 activation loads need 16-byte aligned rows.
            if (q.row_stride % 16 != 0 || reinterpret_cast<uintptr_t>(q.data) % 16 != 0)
                return fail(p, what, "x_q rows must be 16-byte aligned");
            const size_t nscales = act == BITNET_ACT_I8_ROW ? size_t(a.m) : size_t(a.m) * ((a.k + 255) / 256);
            if (!on_device(p, q.data, q.row_stride * (a.m - 1) + a.k) || !on_device(p, q.scales, nscales * 4) ||
                !on_device(p, a.y, (size_t(a.m) - 1) * a.ldy * 4 + size_t(a.n) * 4) || !on_device(p, a.w->packed, 1))
                return not_on_device(p, what, "x_q, y or the packed weights are not device memory of this plugin");
            const auto* w = static_cast<const uint32_t*>(a.w->packed);
            const bool scaled = act == BITNET_ACT_I8_B256;
            const auto* ws = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a.w->packed) +
                                                            ternary_scales_offset(a.n, a.k));
            // Rows per warp grow with the token tile so each activation load serves more rows.
            if (scaled) {
                if (a.m == 1) launch<1, 1, true>(a, w, ws, p.stream);
                else if (a.m <= 4) launch<2, 4, true>(a, w, ws, p.stream);
                else if (a.m <= 8) launch<4, 8, true>(a, w, ws, p.stream);
                else launch<4, 16, true>(a, w, ws, p.stream);
            } else {
                if (a.m == 1) launch<1, 1, false>(a, w, nullptr, p.stream);
                else if (a.m <= 4) launch<2, 4, false>(a, w, nullptr, p.stream);
                else if (a.m <= 8) launch<4, 8, false>(a, w, nullptr, p.stream);
                else launch<4, 16, false>(a, w, nullptr, p.stream);
            }
            return check_launch(p, what);
        });
}

} // namespace

bitnet_status run_matmul_i2s(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_i2s_i8row_gemv16__cuda", BITNET_ACT_I8_ROW, 128);
}
bitnet_status run_matmul_tq2_0(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_tq2_0_i8b256_gemv16__cuda", BITNET_ACT_I8_B256, 256);
}
bitnet_status run_matmul_tq1_0(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_tq1_0_i8b256_gemv16__cuda", BITNET_ACT_I8_B256, 256);
}

} // namespace bitnet::cuda
