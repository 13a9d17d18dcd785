// The F16 head's decode GEMV (M = 1), shared by the avx2 and avx512 plugins (AVX2 + F16C + FMA
// code; each plugin picks R by its register count). The head is hundreds of MB streamed once per
// token, so the kernel's only job is to keep enough of DRAM's bandwidth in flight: R rows advance
// together one cache line (32 halves) at a time, each line of activations loaded once for all R,
// and the same line of the next group of R rows is prefetched (one prefetch per line streamed;
// a row is only 5 KiB, too short for the hardware prefetcher to ramp up on its own).
//
// Measured on the cold 2B-4T head (128256 x 2560, 657 MB), one thread, Zen 5 VM, every variant
// called in turn in one process: the per-256-slice decoder gemv it replaces (activations reloaded
// per row, masked loads) took 35-41 ms (avx512) and 63-65 ms (avx2); this one 23-24 ms with
// R = 16 (avx512) and 23-24 ms with R = 8 (avx2), ~28 GB/s of the ~29 GB/s a plain read gets.
// Kept out: 512-bit converts and FMAs (25.5-28 ms at R = 8 or 16), prefetching 32 or 64 rows
// ahead or into L2 only (no better), R = 32 on avx512 (spills, 47 ms), no prefetch (~35 ms).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bitnet::x86 {

namespace f16_gemv_detail {

// acc[r][0..1] += row r's 32 halves at h + r * ld times x[0..32).
template <int R>
inline void line(const uint16_t* h, int64_t ld, const float* x, __m256 (&acc)[R][2]) {
    for (int j = 0; j < 4; ++j) {
        const __m256 xv = _mm256_loadu_ps(x + 8 * j);
        for (int r = 0; r < R; ++r) {
            const auto* p = reinterpret_cast<const __m128i*>(h + r * ld + 8 * j);
            acc[r][j & 1] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(p)), xv, acc[r][j & 1]);
        }
    }
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

} // namespace f16_gemv_detail

// y[r] = scale * Σ_k w[r][k] x[k] for r < R; w: R rows of K halves, rb bytes apart.
template <int R>
void gemv_f16(const uint8_t* w, size_t rb, int64_t K, const float* x, float* y, float scale) {
    const auto* h = reinterpret_cast<const uint16_t*>(w);
    const auto ld = static_cast<int64_t>(rb / 2);
    __m256 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= K; i += 32) {
        for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(h + (R + r) * ld + i), _MM_HINT_T0);
        f16_gemv_detail::line<R>(h + i, ld, x + i, acc);
    }
    if (i < K) {
        // The last K % 32 elements, zero-padded to a line (zero halves add nothing).
        alignas(32) uint16_t ht[R][32] = {};
        alignas(32) float xt[32] = {};
        const auto left = static_cast<size_t>(K - i);
        for (int r = 0; r < R; ++r) std::memcpy(ht[r], h + r * ld + i, 2 * left);
        std::memcpy(xt, x + i, 4 * left);
        f16_gemv_detail::line<R>(ht[0], 32, xt, acc);
    }
    for (int r = 0; r < R; ++r) y[r] = f16_gemv_detail::hsum(_mm256_add_ps(acc[r][0], acc[r][1])) * scale;
}

} // namespace bitnet::x86
