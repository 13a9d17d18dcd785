// Small AVX-512 helpers for the kernel TUs (only those are compiled with -mavx512*). The
// reductions avoid GCC 12's _mm512_reduce_* whose _mm256_undefined_* operands trip
// -Wmaybe-uninitialized; they stay within zmm shuffles.
#pragma once

// GCC 12 (PR 105593): AVX-512 intrinsics pass _mm*_undefined_*() as the pass-through operand and
// the inliner then reports it as (maybe-)uninitialized. The state is location-based, so it must be
// set before <immintrin.h> is first read; this header is every kernel TU's first SIMD include.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "expf_libm.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace bitnet::avx512 {

inline int32_t hsum_i32(__m512i v) {
    v = _mm512_add_epi32(v, _mm512_shuffle_i32x4(v, v, 0x4e));
    v = _mm512_add_epi32(v, _mm512_shuffle_i32x4(v, v, 0xb1));
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));
    v = _mm512_add_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB));
    return _mm_cvtsi128_si32(_mm512_castsi512_si128(v));
}

// Σ of len int8 (len a multiple of 64): the offset the ternary kernels take off their code dots.
inline int32_t sum_q(const int8_t* q, int64_t len) {
    __m512i acc = _mm512_setzero_si512();
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t i = 0; i < len; i += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(q + i));
    return hsum_i32(acc);
}

inline float hsum_f32(__m512 v) {
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e));
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xb1));
    v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4e));
    v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xb1));
    return _mm512_cvtss_f32(v);
}

inline float hmax_f32(__m512 v) {
    v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e));
    v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, 0xb1));
    v = _mm512_max_ps(v, _mm512_permute_ps(v, 0x4e));
    v = _mm512_max_ps(v, _mm512_permute_ps(v, 0xb1));
    return _mm512_cvtss_f32(v);
}

inline float half_to_float(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// Lanes [0, left) of 16 (all when left >= 16).
inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1);
}

// The vector vocabulary the ISA-generic kernels of x86-common (norm, rope, attention, quantize)
// are written in; the avx2 plugin has the same names over 8 lanes.
struct Simd {
    using V = __m512;
    using I = __m512i;
    using D = __m512d;
    static constexpr int W = 16;

    static V zero() { return _mm512_setzero_ps(); }
    static V set1(float v) { return _mm512_set1_ps(v); }
    static V loadu(const float* p) { return _mm512_loadu_ps(p); }
    static V load_tail(const float* p, int64_t left) { return _mm512_maskz_loadu_ps(tail_mask(left), p); }
    static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
    static void store_tail(float* p, V v, int64_t left) { _mm512_mask_storeu_ps(p, tail_mask(left), v); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static V div(V a, V b) { return _mm512_div_ps(a, b); }
    static V max(V a, V b) { return _mm512_max_ps(a, b); }
    static V min(V a, V b) { return _mm512_min_ps(a, b); }
    static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V abs(V v) { return _mm512_abs_ps(v); }
    static V round(V v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static V trunc(V v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
    static float hsum(V v) { return hsum_f32(v); }
    static float hmax(V v) { return hmax_f32(v); }
    static V pow2i(V n) {
        const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
        return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
    }
    // A select mask as a vector (all-ones lanes), so the generic code has one mask type per ISA.
    static V gt(V a, V b) {
        return _mm512_castsi512_ps(_mm512_movm_epi32(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)));
    }
    static V blend(V mask, V if_false, V if_true) {
        return _mm512_mask_blend_ps(_mm512_movepi32_mask(_mm512_castps_si512(mask)), if_false, if_true);
    }
    static uint32_t eq_bits(V a, V b, int64_t left) {
        return _mm512_mask_cmp_ps_mask(tail_mask(left), a, b, _CMP_EQ_OQ);
    }

    static V load_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
    static V round_f16(V v) { return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }
    // std::exp(float) of each lane, bit for bit (glibc's FMA build; x86-common/expf_libm.hpp).
    static V expf_libm(V x) { return x86::expf_libm::exp16(x); }
    static V cvt_ph_groups(const __m128i* g) { return _mm512_cvtph_ps(_mm256_set_m128i(g[1], g[0])); }

    static D dzero() { return _mm512_setzero_pd(); }
    static void add_d(D& lo, D& hi, V v) {
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    static double hsum_d(D v) {
        __m256d s = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
        __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
        return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
    }

    static I izero() { return _mm512_setzero_si512(); }
    static I cvt_i32(V v) { return _mm512_cvtps_epi32(v); }
    static I clamp(I v, int lo, int hi) {
        return _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(hi)), _mm512_set1_epi32(lo));
    }
    static I iadd(I a, I b) { return _mm512_add_epi32(a, b); }
    static int32_t ihsum(I v) { return hsum_i32(v); }
    static void store_i8(int8_t* p, I v, int64_t left) { _mm_mask_storeu_epi8(p, tail_mask(left), _mm512_cvtepi32_epi8(v)); }
};

} // namespace bitnet::avx512
