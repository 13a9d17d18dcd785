// The F16 head's decode GEMV (M = 1), shared by the avx2 and avx512 plugins (AVX2 + F16C + FMA
// code). The head is hundreds of MB streamed once per token, so the kernel's only job is to keep
// DRAM busy. Each row (5 KiB at K = 2560) is read on its own, front to back, with four
// independent FMA chains and a software prefetch kSpanPrefetchBytes ahead: one linear stream per
// thread, which the memory system serves better than many rows side by side.
//
// History, cold 2B-4T head (128256 x 2560, 657 MB), Zen 5 VM: the per-256-slice decoder gemv (35-41
// ms avx512, 63-65 ms avx2, one thread) gave way to R rows advancing together a cache line at a
// time, each line of activations loaded once for all R (23-24 ms, R = 16 / 8; 512-bit converts,
// R = 32 and other prefetch distances no better). That in turn lost to this one row at a time,
// alternated call by call inside `bitnet bench --pin matmul=avx512|avx2 -p 0 -n 96 -r 2` (a
// temporary switch), ms per call, two runs each, R rows -> one row:
//   avx512 t1 21.4 -> 19.1, 25.4 -> 23.4; t2 15.2 -> 13.4, 20.7 -> 16.7
//   avx2   t1 23.7 -> 20.2, 29.5 -> 25.3; t2 20.9 -> 17.3, 17.8 -> 16.1
// Prefetching 6, 8, 12 or 16 KiB ahead: the same within the noise. Two rows at a time: slower.
#pragma once

#include "tiling.hpp"

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bitnet::x86 {

namespace f16_gemv_detail {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// acc[j] += halves h[8j .. 8j+8) times x[8j .. 8j+8), j < 4: one 64-byte line of the row.
inline void line(const uint16_t* h, const float* x, __m256 (&acc)[4]) {
    for (int j = 0; j < 4; ++j) {
        const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 8 * j)));
        acc[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + 8 * j), acc[j]);
    }
}

// Σ_k h[k] x[k] over one row of K halves.
inline float dot_row(const uint16_t* h, int64_t K, const float* x) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= K; i += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(h + i) + kSpanPrefetchBytes, _MM_HINT_T0);
        line(h + i, x + i, acc);
    }
    if (i < K) {
        // The last K % 32 elements, zero-padded to a line (zero halves add nothing).
        alignas(32) uint16_t ht[32] = {};
        alignas(32) float xt[32] = {};
        const auto left = static_cast<size_t>(K - i);
        std::memcpy(ht, h + i, 2 * left);
        std::memcpy(xt, x + i, 4 * left);
        line(ht, xt, acc);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

} // namespace f16_gemv_detail

// Rows one gemv_f16 call covers (each is streamed on its own; 256-bit converts and FMAs measured
// faster than 512-bit ones on avx512 too).
inline constexpr int kF16GemvRows = 8;

// y[r] = scale * Σ_k w[r][k] x[k] for r < R; w: R rows of K halves, rb bytes apart.
template <int R>
void gemv_f16(const uint8_t* w, size_t rb, int64_t K, const float* x, float* y, float scale) {
    for (int r = 0; r < R; ++r)
        y[r] = f16_gemv_detail::dot_row(reinterpret_cast<const uint16_t*>(w + r * rb), K, x) * scale;
}

} // namespace bitnet::x86
