// Small AVX2 helpers for the kernel TUs (only those are compiled with -mavx2 -mfma -mf16c).
#pragma once

// GCC 12 (PR 105593): intrinsics that pass _mm*_undefined_*() are reported as (maybe-)uninitialized
// after inlining; the diagnostic state must be set before <immintrin.h> is first read.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "expf_libm.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace bitnet::avx2 {

inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

inline float hsum_f32(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float half_to_float(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// Lanes [0, left) of 8 as a maskload/maskstore mask.
inline __m256i tail_mask8(int64_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left < 8 ? left : 8)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The vector vocabulary the ISA-generic kernels of x86-common (norm, rope, attention, quantize)
// are written in; the avx512 plugin has the same names over 16 lanes.
struct Simd {
    using V = __m256;
    using I = __m256i;
    using D = __m256d;
    static constexpr int W = 8;

    static V zero() { return _mm256_setzero_ps(); }
    static V set1(float v) { return _mm256_set1_ps(v); }
    static V loadu(const float* p) { return _mm256_loadu_ps(p); }
    static V load_tail(const float* p, int64_t left) { return _mm256_maskload_ps(p, tail_mask8(left)); }
    static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
    static void store_tail(float* p, V v, int64_t left) { _mm256_maskstore_ps(p, tail_mask8(left), v); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static V div(V a, V b) { return _mm256_div_ps(a, b); }
    static V max(V a, V b) { return _mm256_max_ps(a, b); }
    static V min(V a, V b) { return _mm256_min_ps(a, b); }
    static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V abs(V v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
    static V round(V v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static V trunc(V v) { return _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
    static float hsum(V v) { return hsum_f32(v); }
    static float hmax(V v) {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
    }
    // 2^n for integer-valued n in [-126, 127], built in the exponent field.
    static V pow2i(V n) {
        const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
        return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
    }
    // Lanes where a > b, as a select mask usable by blend().
    static V gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static V blend(V mask, V if_false, V if_true) { return _mm256_blendv_ps(if_false, if_true, mask); }
    // Bit i set when lane i (< left) of a equals b.
    static uint32_t eq_bits(V a, V b, int64_t left) {
        const uint32_t bits = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)));
        return left >= W ? bits : bits & ((1u << left) - 1);
    }

    // F16 <-> F32 (IEEE half, round to nearest even as formats::f32_to_fp16).
    static V load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
    static V round_f16(V v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }
    // std::exp(float) of each lane, bit for bit (glibc's FMA build; x86-common/expf_libm.hpp).
    static V expf_libm(V x) { return x86::expf_libm::exp8(x); }
    // W halves given as W/8 groups of 8, lane order group 0 first.
    static V cvt_ph_groups(const __m128i* g) { return _mm256_cvtph_ps(g[0]); }

    // Double-precision accumulation of f32 values (lanes widened exactly).
    static D dzero() { return _mm256_setzero_pd(); }
    static void add_d(D& lo, D& hi, V v) {
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    static double hsum_d(D v) {
        __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
        return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
    }

    // int32 lanes.
    static I izero() { return _mm256_setzero_si256(); }
    static I cvt_i32(V v) { return _mm256_cvtps_epi32(v); } // MXCSR rounding: nearest even
    static I clamp(I v, int lo, int hi) {
        return _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(hi)), _mm256_set1_epi32(lo));
    }
    static I iadd(I a, I b) { return _mm256_add_epi32(a, b); }
    static int32_t ihsum(I v) { return hsum_i32(v); }
    // Lanes [0, left) to int8 (values already in range).
    static void store_i8(int8_t* p, I v, int64_t left) {
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        const __m128i b = _mm_packs_epi16(w, w);
        if (left >= W) _mm_storel_epi64(reinterpret_cast<__m128i*>(p), b);
        else {
            alignas(16) int8_t tmp[16];
            _mm_store_si128(reinterpret_cast<__m128i*>(tmp), b);
            std::memcpy(p, tmp, static_cast<size_t>(left));
        }
    }
};

} // namespace bitnet::avx2
