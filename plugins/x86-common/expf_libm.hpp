// expf as glibc computes it on x86-64 CPUs with FMA (__expf_fma, the ARM optimized-routines
// algorithm: x·32/ln2 split into k + r, 2^(k/32) from a 32-entry table, a cubic in r, all in
// double), vectorized: bit-identical to std::exp(float) there. Checked over every negative float
// (2^31 values, -inf and NaN included) and the overflow edge against glibc 2.36; the attention
// kernels need that to stay bit-exact with the scalar reference, which calls std::exp. On a CPU
// without FMA glibc takes its SSE2 variant, which can differ in the last bit (the conformance
// tolerance then covers it).
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>

namespace bitnet::x86::expf_libm {

// 2^(i/32) as doubles, minus i << 47 (the exponent bits the caller adds back as k << 47).
alignas(64) inline constexpr uint64_t kTable[32] = {
    0x3ff0000000000000ull, 0x3fefd9b0d3158574ull, 0x3fefb5586cf9890full, 0x3fef9301d0125b51ull,
    0x3fef72b83c7d517bull, 0x3fef54873168b9aaull, 0x3fef387a6e756238ull, 0x3fef1e9df51fdee1ull,
    0x3fef06fe0a31b715ull, 0x3feef1a7373aa9cbull, 0x3feedea64c123422ull, 0x3feece086061892dull,
    0x3feebfdad5362a27ull, 0x3feeb42b569d4f82ull, 0x3feeab07dd485429ull, 0x3feea47eb03a5585ull,
    0x3feea09e667f3bcdull, 0x3fee9f75e8ec5f74ull, 0x3feea11473eb0187ull, 0x3feea589994cce13ull,
    0x3feeace5422aa0dbull, 0x3feeb737b0cdc5e5ull, 0x3feec49182a3f090ull, 0x3feed503b23e255dull,
    0x3feee89f995ad3adull, 0x3feeff76f2fb5e47ull, 0x3fef199bdd85529cull, 0x3fef3720dcef9069ull,
    0x3fef5818dcfba487ull, 0x3fef7c97337b9b5full, 0x3fefa4afa2a490daull, 0x3fefd0765b6e4540ull,
};
inline constexpr double kInvLn2N = 0x1.71547652b82fep+0 * 32, kShift = 0x1.8p+52;
inline constexpr double kC0 = 0x1.c6af84b912394p-5 / 32 / 32 / 32, kC1 = 0x1.ebfce50fac4f3p-3 / 32 / 32,
                        kC2 = 0x1.62e42ff0c52d6p-1 / 32;
// Below this expf is +0 (underflow), above the other one +inf.
inline constexpr float kUnderflow = -0x1.9fe368p6f, kOverflow = 0x1.62e42ep6f;

#if defined(__AVX512F__)
// AVX-512: 16 floats. The fused multiply-adds are where glibc's FMA build fuses them (both uses
// of x·32/ln2 included: an unfused r = z - kd differs from glibc for one float).
inline __m512d core8(__m512d xd, const __m512i tab[4]) {
    const __m512d inv = _mm512_set1_pd(kInvLn2N), shift = _mm512_set1_pd(kShift);
    __m512d kd = _mm512_fmadd_pd(inv, xd, shift);
    const __m512i ki = _mm512_castpd_si512(kd);
    kd = _mm512_sub_pd(kd, shift);
    const __m512d r = _mm512_fmsub_pd(inv, xd, kd);
    const __m512i lo = _mm512_permutex2var_epi64(tab[0], ki, tab[1]), hi = _mm512_permutex2var_epi64(tab[2], ki, tab[3]);
    const __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(ki, _mm512_set1_epi64(16)), lo, hi);
    const __m512d s = _mm512_castsi512_pd(_mm512_add_epi64(t, _mm512_slli_epi64(ki, 47)));
    const __m512d z = _mm512_fmadd_pd(_mm512_set1_pd(kC0), r, _mm512_set1_pd(kC1));
    const __m512d r2 = _mm512_mul_pd(r, r);
    __m512d y = _mm512_fmadd_pd(_mm512_set1_pd(kC2), r, _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(z, r2, y);
    return _mm512_mul_pd(y, s);
}
inline __m512 exp16(__m512 x) {
    const __m512i tab[4] = {_mm512_load_si512(kTable), _mm512_load_si512(kTable + 8), _mm512_load_si512(kTable + 16),
                            _mm512_load_si512(kTable + 24)};
    const __m256 a = _mm512_cvtpd_ps(core8(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), tab));
    const __m256 b = _mm512_cvtpd_ps(core8(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))), tab));
    __m512 y = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(a)), _mm256_castps_pd(b), 1));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(kUnderflow), _CMP_LT_OQ), _mm512_setzero_ps());
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(kOverflow), _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
    return _mm512_mask_add_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x, x); // NaN in, NaN out (x + x)
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
// AVX2 + FMA: 8 floats, the same steps four doubles at a time.
inline __m256d core4(__m256d xd) {
    const __m256d inv = _mm256_set1_pd(kInvLn2N), shift = _mm256_set1_pd(kShift);
    __m256d kd = _mm256_fmadd_pd(inv, xd, shift);
    const __m256i ki = _mm256_castpd_si256(kd);
    kd = _mm256_sub_pd(kd, shift);
    const __m256d r = _mm256_fmsub_pd(inv, xd, kd);
    const __m256i t = _mm256_i64gather_epi64(reinterpret_cast<const long long*>(kTable),
                                             _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8);
    const __m256d s = _mm256_castsi256_pd(_mm256_add_epi64(t, _mm256_slli_epi64(ki, 47)));
    const __m256d z = _mm256_fmadd_pd(_mm256_set1_pd(kC0), r, _mm256_set1_pd(kC1));
    const __m256d r2 = _mm256_mul_pd(r, r);
    __m256d y = _mm256_fmadd_pd(_mm256_set1_pd(kC2), r, _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(z, r2, y);
    return _mm256_mul_pd(y, s);
}
inline __m256 exp8(__m256 x) {
    const __m128 a = _mm256_cvtpd_ps(core4(_mm256_cvtps_pd(_mm256_castps256_ps128(x))));
    const __m128 b = _mm256_cvtpd_ps(core4(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))));
    __m256 y = _mm256_insertf128_ps(_mm256_castps128_ps256(a), b, 1);
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(kUnderflow), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(kOverflow), _CMP_GT_OQ));
    return _mm256_blendv_ps(y, _mm256_add_ps(x, x), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
#endif

} // namespace bitnet::x86::expf_libm
