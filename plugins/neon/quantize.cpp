// Activation quantizers, bit-exact with formats::quantize_act_row_*: the same float operations
// (one multiply, round-to-nearest-even by FCVTNS where the reference uses nearbyintf / lrintf in
// the default rounding mode, saturating narrowing in place of the clamp), vectorized over the row.
// Maxima use FMAXNM, which like the reference's comparisons passes over NaNs.
#include "neon.hpp"
#include "simd.hpp"

#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace bitnet::neon {
namespace {

float max_abs(const float* x, int64_t n) {
    float32x4_t mx = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) mx = vmaxnmq_f32(mx, vabsq_f32(vld1q_f32(x + i)));
    float r = vmaxnmvq_f32(mx);
    for (; i < n; ++i) r = std::fmax(r, std::fabs(x[i]));
    return r;
}

// Index of the first |x[i]| == amax (amax is one of them).
int64_t first_abs_equal(const float* x, int64_t n, float amax) {
    const float32x4_t want = vdupq_n_f32(amax);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(x + i)), want)) != 0) break;
    while (std::fabs(x[i]) != amax) ++i;
    return i;
}

// 16 values: q = sat8(round_half_even(x * s)); adds Σq to sum.
inline void scale_round16(const float* x, float32x4_t s, int8_t* q, int32x4_t& sum) {
    int32x4_t v[4];
    for (int j = 0; j < 4; ++j) v[j] = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 4 * j), s));
    const int16x8_t lo = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
    const int16x8_t hi = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
    const int8x16_t b = vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
    vst1q_s8(q, b);
    // Σ of the saturated values, i.e. of what was stored.
    sum = vpadalq_s16(sum, vpaddlq_s8(b));
}

// q[0..n) = sat8(round(x * s)); returns Σq. The tail goes through a zero-padded copy (zeros
// quantize to 0 and add nothing), so no byte past q[n) is written.
int32_t scale_round(const float* x, int64_t n, float s, int8_t* q) {
    const float32x4_t sv = vdupq_n_f32(s);
    int32x4_t sum = vdupq_n_s32(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) scale_round16(x + i, sv, q + i, sum);
    if (i < n) {
        alignas(16) float xt[16] = {};
        alignas(16) int8_t qt[16];
        std::memcpy(xt, x + i, static_cast<size_t>(n - i) * sizeof(float));
        scale_round16(xt, sv, qt, sum);
        std::memcpy(q + i, qt, static_cast<size_t>(n - i));
    }
    return vaddvq_s32(sum);
}

// bitnet.cpp: s = (float)(127 / max(1e-5, max|x| in double)); |x| of a float is exact in double.
int32_t row_i8(const float* x, int64_t k, int8_t* q, float* scales) {
    const double amax = std::max(0.00001, static_cast<double>(max_abs(x, k)));
    const auto s = static_cast<float>(127.0 / amax);
    scales[0] = s;
    return scale_round(x, k, s, q);
}

// llama.cpp's Q8_K: per block, m = the first value of largest |x|, iscale = -127/m, d = 1/iscale.
int32_t row_b256(const float* x, int64_t k, int8_t* q, float* d_out) {
    int32_t total = 0;
    for (int64_t b0 = 0, blk = 0; b0 < k; b0 += 256, ++blk) {
        const int64_t n = std::min<int64_t>(256, k - b0);
        const float* xb = x + b0;
        const float amax = max_abs(xb, n);
        if (amax == 0.0f) {
            std::fill_n(q + b0, n, int8_t{0});
            d_out[blk] = 0.0f;
            continue;
        }
        const float m = xb[first_abs_equal(xb, n, amax)];
        const float iscale = -127.0f / m;
        total += scale_round(xb, n, iscale, q + b0);
        d_out[blk] = 1.0f / iscale;
    }
    return total;
}

using RowFn = int32_t (*)(const float*, int64_t, int8_t*, float*);

bitnet_status quantize(void* plugin, const void* args, const char* what, RowFn fn, int64_t block) noexcept {
    return x86::run_op<bitnet_quantize_args>(
        plugin, args, what, X86_SIZE_UPTO(bitnet_quantize_args, out),
        [&](const Plugin& p, const bitnet_quantize_args& a) -> bitnet_status {
            if (a.m <= 0 || a.k <= 0) return x86::invalid(p, what, "m and k must be positive");
            if (a.x == nullptr) return x86::invalid(p, what, "x is NULL");
            if (a.ldx < a.k) return x86::invalid(p, what, "ldx < k");
            if (a.out == nullptr || a.out->data == nullptr || a.out->scales == nullptr)
                return x86::invalid(p, what, "out, its data or its scales are NULL");
            if (a.out->row_stride < static_cast<size_t>(a.k)) return x86::invalid(p, what, "row_stride < k");
            const int64_t per_row = (a.k + block - 1) / block;
            auto rows = [&](int64_t m0, int64_t m1) {
                for (int64_t m = m0; m < m1; ++m) {
                    const int32_t sum = fn(a.x + m * a.ldx, a.k, a.out->data + m * a.out->row_stride,
                                           a.out->scales + m * per_row);
                    if (a.out->row_sums != nullptr) a.out->row_sums[m] = sum;
                }
            };
            // A row takes microseconds: waking the pool for a decode step would cost more.
            if (a.m < 4) rows(0, a.m);
            else x86::parallel_ranges(p, a.m, 1, rows);
            return BITNET_OK;
        });
}

} // namespace

bitnet_status run_quantize_i8row(void* plugin, const void* args, void*) noexcept {
    return quantize(plugin, args, "quantize_i8row__neon", &row_i8, INT32_MAX);
}

bitnet_status run_quantize_i8b256(void* plugin, const void* args, void*) noexcept {
    return quantize(plugin, args, "quantize_i8b256__neon", &row_b256, 256);
}

} // namespace bitnet::neon
