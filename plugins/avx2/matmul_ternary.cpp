// Ternary BitLinear matmuls with AVX2. Stored codes are t+1 in {0,1,2}: vpmaddubsw takes them as
// the unsigned operand against the signed activations, and Σ t·q = Σ code·q − Σ q. Products of one
// block are summed in int16 (at most 10 pairs of |3·128·2|, far from saturation) and widened once
// per block with vpmaddwd. The float epilogue repeats the scalar reference's operations in order.
//
// I2_S and TQ2_0 2-bit fields are in the activations' order after one shift per 32-byte group, so
// every activation load is a plain contiguous 32-byte load.
#include "avx2.hpp"
#include "simd.hpp"

#include "tiling.hpp"
#include "tq_matmul_impl.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace bitnet::avx2 {
namespace {

using x86::Plugin;

constexpr int kRows = 2, kTokens = 4;
constexpr int64_t kRowAlign = 16;

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m256i widen(__m256i s16) { return _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); }

// Σ q over `len` int8 (len a multiple of 32).
inline int32_t sum_q(const int8_t* q, int64_t len) {
    __m256i acc = _mm256_setzero_si256();
    for (int64_t i = 0; i < len; i += 32)
        acc = _mm256_add_epi32(acc, widen(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load32(q + i))));
    return hsum_i32(acc);
}

// Four 2-bit groups of a 32-byte run: group g is the field at bit shift[g] of every byte.
inline void split4(const uint8_t* p, const int (&shift)[4], __m256i (&c)[4]) {
    const __m256i v = load32(p), m3 = _mm256_set1_epi8(3);
    for (int g = 0; g < 4; ++g) c[g] = _mm256_and_si256(_mm256_srli_epi16(v, shift[g]), m3);
}

// Σ over 128 consecutive activations of codes c[g] (elements 32g..32g+31) as int16 pairs.
inline __m256i dot128(const __m256i (&c)[4], const int8_t* x) {
    __m256i s = _mm256_maddubs_epi16(c[0], load32(x));
    for (int g = 1; g < 4; ++g) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[g], load32(x + 32 * g)));
    return s;
}

// ---- I2_S -------------------------------------------------------------------------------------

template <int R, int T>
void i2s_tile(const uint8_t* w, size_t rb, int64_t nblk, const int8_t* const* x, int32_t out[][kTokens]) {
    constexpr int kShift[4] = {6, 4, 2, 0}; // byte j: weights j, j+32, j+64, j+96
    __m256i acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_si256();
    for (int64_t b = 0; b < nblk; ++b) {
        __m256i c[R][4];
        for (int r = 0; r < R; ++r) split4(w + r * rb + b * 32, kShift, c[r]);
        for (int t = 0; t < T; ++t)
            for (int r = 0; r < R; ++r) acc[r][t] = _mm256_add_epi32(acc[r][t], widen(dot128(c[r], x[t] + b * 128)));
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = hsum_i32(acc[r][t]);
}

// Decode, M = 1: the weights stream from DRAM once, kGemvRows rows side by side so the loads of
// several rows are in flight at once and the block's 128 activations are loaded once for all of
// them (with the GEMM's two rows the loop waits on each row's load). The rows ahead are prefetched
// as one span in address order, about 12 KiB on (x86::SpanPrefetch, x86::groups_ahead; pf = 0:
// none), as the avx512 kernel does. Against one line per row every other block one group ahead,
// alternated call by call in `bitnet bench --pin matmul=avx2 -p 0 -n 128 -r 2` (a temporary
// switch), us per call t1 / t2: ffn_gate/up 173 -> 161 / 113 -> 106, q/o 64.8 -> 60.0 /
// 43.4 -> 41.4, k/v 16.3 -> 14.9 / 12.2 -> 13.2, ffn_down 159 -> 167 / 108 -> 111: 3-4 % less
// per token in all.
constexpr int kGemvRows = 8;

template <int R>
void i2s_gemv_tile(const uint8_t* w, size_t rb, int64_t nblk, const int8_t* x, int32_t out[], size_t pf) {
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_si256();
    x86::SpanPrefetch ahead(w + pf, pf != 0 ? R * rb : 0, nblk);
    for (int64_t b = 0; b < nblk; ++b) {
        ahead.step();
        const int8_t* xb = x + b * 128;
        const __m256i x0 = load32(xb), x1 = load32(xb + 32), x2 = load32(xb + 64), x3 = load32(xb + 96);
        for (int r = 0; r < R; ++r) {
            const __m256i v = load32(w + r * rb + b * 32); // byte j: weights j, j+32, j+64, j+96
            __m256i s = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 6), m3), x0);
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m3), x1));
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 2), m3), x2));
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(v, m3), x3));
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(s, ones));
        }
    }
    for (int r = 0; r < R; ++r) out[r] = hsum_i32(acc[r]);
}

bitnet_status i2s_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    const int64_t K = a.k, nblk = K / 128;
    const size_t rb = static_cast<size_t>(K / 4);
    const auto* W = static_cast<const uint8_t*>(a.w->data);
    const bitnet_qact& xq = *a.x_q;
    if (a.m == 1) {
        const int32_t qs = xq.row_sums != nullptr ? xq.row_sums[0] : sum_q(xq.data, K);
        x86::parallel_ranges(p, a.n, kRowAlign, [&](int64_t n0, int64_t n1) {
            x86::walk_gemv_rows<kGemvRows>(W, rb, n0, n1, [&]<int R>(int64_t n, size_t pf) {
                int32_t dots[R];
                i2s_gemv_tile<R>(W + n * rb, rb, nblk, xq.data, dots, pf);
                for (int r = 0; r < R; ++r) {
                    const float unscaled = static_cast<float>(dots[r] - qs) / xq.scales[0];
                    a.y[n + r] = unscaled * a.w->scale;
                }
            }, x86::groups_ahead(kGemvRows * rb));
        });
        return BITNET_OK;
    }
    x86::parallel_ranges(p, a.n, kRowAlign, [&](int64_t n0, int64_t n1) {
        int32_t qsum[64];
        x86::walk_tiles<kRows, kTokens>(
            n0, n1, a.m, 64,
            [&](int64_t t0, int64_t tc) {
                for (int64_t t = 0; t < tc; ++t)
                    qsum[t] = xq.row_sums != nullptr ? xq.row_sums[t0 + t] : sum_q(xq.data + (t0 + t) * xq.row_stride, K);
            },
            [&](int64_t n, int rows, int64_t t0, int tokens) {
                const int64_t c0 = t0 - t0 % 64;
                // Rows far ahead, once per tile, when decoding (see kWeightPrefetchRows); a GEMM
                // reuses each tile over many tokens and the prefetches would only evict its data.
                if (a.m <= kTokens && t0 == c0) x86::prefetch(W + (n + x86::kWeightPrefetchRows) * rb, static_cast<size_t>(rows) * rb);
                const int8_t* xs[kTokens];
                for (int t = 0; t < tokens; ++t) xs[t] = xq.data + (t0 + t) * xq.row_stride;
                int32_t dots[kRows][kTokens];
                x86::dispatch_tile<kRows>(rows, tokens, [&]<int R, int T>() { i2s_tile<R, T>(W + n * rb, rb, nblk, xs, dots); });
                for (int t = 0; t < tokens; ++t) {
                    const int64_t m = t0 + t;
                    for (int r = 0; r < rows; ++r) {
                        const float unscaled = static_cast<float>(dots[r][t] - qsum[m - c0]) / xq.scales[m];
                        a.y[m * a.ldy + n + r] = unscaled * a.w->scale;
                    }
                }
            });
    });
    return BITNET_OK;
}

// ---- TQ2_0 / TQ1_0 ----------------------------------------------------------------------------

// Rows a TQ decode step streams side by side (tq_matmul_loop).
constexpr int kTqGemvRows = 8;

// The scalar reference's per-block step: sumf += (float)sumi * (d_act * d_w).
template <int R, int T>
inline void tq_block_epilogue(__m256i s16[R][T], const int32_t* const* bs, const float* const* da,
                              const float* dw, int64_t b, float sumf[][kTokens]) {
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) {
            const int32_t sumi = hsum_i32(widen(s16[r][t])) - bs[t][b];
            const float d = da[t][b] * dw[r];
            sumf[r][t] += static_cast<float>(sumi) * d;
        }
}

template <int R, int T>
void tq2_tile(const uint8_t* w, size_t rb, int64_t nb, const int8_t* const* x, const int32_t* const* bs,
              const float* const* da, float sumf[][kTokens]) {
    constexpr int kShift[4] = {0, 2, 4, 6}; // bit pair l of byte m: element 32l + m of the half
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) sumf[r][t] = 0.0f;
    x86::SpanPrefetch ahead = x86::tq_gemv_prefetch<R, T>(w, rb, nb);
    for (int64_t b = 0; b < nb; ++b) {
        ahead.step();
        __m256i s16[R][T];
        for (int h = 0; h < 2; ++h) {
            __m256i c[R][4];
            for (int r = 0; r < R; ++r) split4(w + r * rb + b * 66 + 32 * h, kShift, c[r]);
            for (int t = 0; t < T; ++t)
                for (int r = 0; r < R; ++r) {
                    const __m256i d = dot128(c[r], x[t] + b * 256 + 128 * h);
                    s16[r][t] = h == 0 ? d : _mm256_add_epi16(s16[r][t], d);
                }
        }
        float dw[R];
        for (int r = 0; r < R; ++r) dw[r] = half_to_float(w + r * rb + b * 66 + 64);
        tq_block_epilogue<R, T>(s16, bs, da, dw, b, sumf);
    }
}

// TQ2_0 only: TQ1_0 runs here after pack_weights made it TQ2_0 (tq1_repack.cpp).
bitnet_status tq2_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    return x86::tq_matmul_loop<kRows, kTokens, kTqGemvRows>(
        p, a, kRowAlign, &sum_q,
        [&]<int R, int T>(const uint8_t* w, size_t rb, int64_t nb, const int8_t* const* xs, const int32_t* const* bs,
                          const float* const* da, float sumf[][kTokens]) { tq2_tile<R, T>(w, rb, nb, xs, bs, da, sumf); });
}

} // namespace

bitnet_status run_matmul_i2s_i8row(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_i2s_i8row__avx2", BITNET_ACT_I8_ROW, 128, &x86::i2s_row_bytes, &i2s_matmul);
}
bitnet_status run_matmul_tq2_0_i8b256(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_tq2_0_i8b256__avx2", BITNET_ACT_I8_B256, 256, &x86::tq2_row_bytes,
                           &tq2_matmul);
}

} // namespace bitnet::avx2
