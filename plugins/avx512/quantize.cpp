// Activation quantizers, bit-exact with formats::quantize_act_row_*: the same float operations
// (one multiply, round-to-nearest-even via the default MXCSR mode, saturating narrowing in place of
// the clamp), vectorized over the row.
#include "avx512.hpp"
#include "simd.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace bitnet::avx512 {
namespace {

using x86::Plugin;

inline __m512 abs_ps(__m512 v) { return _mm512_abs_ps(v); }

float max_abs(const float* x, int64_t n) {
    __m512 mx = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) mx = _mm512_max_ps(mx, abs_ps(_mm512_maskz_loadu_ps(tail_mask(n - i), x + i)));
    return hmax_f32(mx);
}

// q = sat8(round(x * s)); returns Σq.
int32_t scale_round(const float* x, int64_t n, __m512 s, int8_t* q) {
    __m512i sum = _mm512_setzero_si512();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), s));
        v = _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-128));
        sum = _mm512_add_epi32(sum, v);
        _mm_mask_storeu_epi8(q + i, m, _mm512_cvtepi32_epi8(v));
    }
    return hsum_i32(sum);
}

// bitnet.cpp: s = (float)(127 / max(1e-5, max|x| in double)); |x| of a float is exact in double.
int32_t row_i8(const float* x, int64_t k, int8_t* q, float* scales) {
    const double amax = std::max(0.00001, static_cast<double>(max_abs(x, k)));
    const auto s = static_cast<float>(127.0 / amax);
    scales[0] = s;
    return scale_round(x, k, _mm512_set1_ps(s), q);
}

// llama.cpp's Q8_K: per block, m = the first value of largest |x|, iscale = -127/m.
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
        float m = 0.0f;
        for (int64_t i = 0; i < n; i += 16) {
            const __mmask16 hit = _mm512_mask_cmp_ps_mask(tail_mask(n - i), abs_ps(_mm512_maskz_loadu_ps(tail_mask(n - i), xb + i)),
                                                          _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit != 0) {
                m = xb[i + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.0f / m;
        total += scale_round(xb, n, _mm512_set1_ps(iscale), q + b0);
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
            // One row is a few microseconds: waking the pool would cost more than it saves.
            if (a.m < 4) rows(0, a.m);
            else x86::parallel_ranges(p, a.m, 1, rows);
            return BITNET_OK;
        });
}

} // namespace

bitnet_status run_quantize_i8row(void* plugin, const void* args, void*) noexcept {
    return quantize(plugin, args, "quantize_i8row__avx512bw", &row_i8, INT32_MAX);
}

bitnet_status run_quantize_i8b256(void* plugin, const void* args, void*) noexcept {
    return quantize(plugin, args, "quantize_i8b256__avx512bw", &row_b256, 256);
}

} // namespace bitnet::avx512
