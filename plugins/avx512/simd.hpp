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

} // namespace bitnet::avx512
