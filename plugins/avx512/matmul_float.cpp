// Float-weight matmuls (the lm_head: F16, Q8_0, Q6_K) with F32 activations. Each tile decodes a
// 256-element slice of its rows into an L1 buffer of exact f32 weights (the same values the scalar
// reference's dequantizer produces), then every token of the tile FMAs against it: the decode is
// paid once per row slice, not once per token. Sums run in 16 lanes, so results differ from the
// scalar index-order sum by rounding only.
#include "avx512.hpp"
#include "simd.hpp"

#include "f16_gemv_impl.hpp"
#include "float_matmul_impl.hpp"
#include "q8k_impl.hpp"
#include "tiling.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace bitnet::avx512 {
namespace {

using x86::Plugin;

constexpr int kRows = 4, kTokens = 4, kSlice = 256;
constexpr int64_t kRowAlign = 16;

// Decoders: elements [k0, k0 + len) of a row, 16 at a time, as sink(i, values) for elements
// k0 + i .. k0 + i + 15 (len <= kSlice; lanes past len are zero). k0 is a multiple of kSlice,
// hence of every block length. The same decoder feeds the L1 buffer of the gemm tile and the
// registers of the gemv.
struct F16 {
    static constexpr size_t (*row_bytes)(int64_t) = &x86::f16_row_bytes;
    template <class Sink>
    static void decode(const uint8_t* row, int64_t k0, int64_t len, Sink&& sink) {
        const auto* h = reinterpret_cast<const uint16_t*>(row) + k0;
        for (int64_t i = 0; i < len; i += 16)
            sink(i, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail_mask(len - i), h + i)));
    }
};

struct Q8_0 {
    static constexpr size_t (*row_bytes)(int64_t) = &x86::q8_0_row_bytes;
    template <class Sink>
    static void decode(const uint8_t* row, int64_t k0, int64_t len, Sink&& sink) {
        for (int64_t b = 0; b < len / 32; ++b) {
            const uint8_t* blk = row + (k0 / 32 + b) * 34;
            const __m512 d = _mm512_set1_ps(half_to_float(blk));
            for (int h = 0; h < 2; ++h) {
                const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2 + 16 * h));
                sink(b * 32 + h * 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
            }
        }
    }
};

// Q6_K: see formats/kquants.cpp; within a 128-half, element 32k + l takes a nibble of ql[l] or
// ql[l+32] and bits 2k..2k+1 of qh[l]; scale j covers elements 16j..16j+15. Value = (d*sc)*q.
struct Q6_K {
    static constexpr size_t (*row_bytes)(int64_t) = &x86::q6_k_row_bytes;
    template <class Sink>
    static void decode(const uint8_t* row, int64_t k0, int64_t, Sink&& sink) {
        const uint8_t* blk = row + (k0 / 256) * 210;
        // The 16 sub-block scales d·sc at once (exact products, as the scalar d * sc), picked
        // per group by a lane permute instead of a scalar convert, multiply and broadcast each.
        const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192));
        const __m512 ds = _mm512_mul_ps(_mm512_set1_ps(half_to_float(blk + 208)),
                                        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)));
        const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = blk + 64 * half;
            const uint8_t* qhp = blk + 128 + 32 * half;
            const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
            const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qhp));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int k = 0; k < 4; ++k) {
                const __m256i s = _mm256_sub_epi8(q[k], off);
                for (int g = 0; g < 2; ++g) {
                    const __m128i b = g == 0 ? _mm256_castsi256_si128(s) : _mm256_extracti128_si256(s, 1);
                    const __m512 dsj = _mm512_permutexvar_ps(_mm512_set1_epi32(8 * half + 2 * k + g), ds);
                    const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
                    sink(128 * half + 32 * k + 16 * g, _mm512_mul_ps(dsj, f));
                }
            }
        }
    }
};

template <class Fmt, int R, int T>
void float_tile(const uint8_t* w, size_t rb, int64_t K, const float* const* x, float out[][kTokens]) {
    alignas(64) float buf[R][kSlice];
    __m512 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < K; k0 += kSlice) {
        const int64_t len = std::min<int64_t>(kSlice, K - k0);
        for (int r = 0; r < R; ++r)
            Fmt::decode(w + r * rb, k0, len, [&](int64_t i, __m512 v) { _mm512_store_ps(buf[r] + i, v); });
        for (int64_t i = 0; i < len; i += 16) {
            const __mmask16 mask = tail_mask(len - i);
            __m512 wv[R];
            for (int r = 0; r < R; ++r) wv[r] = _mm512_load_ps(buf[r] + i);
            for (int t = 0; t < T; ++t) {
                const __m512 xv = _mm512_maskz_loadu_ps(mask, x[t] + k0 + i);
                for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = hsum_f32(acc[r][t]);
}

// M = 1 (Q8_0 and Q6_K rows too long for their int8 paths; F16 has its own gemv below): the
// weights are read once and nothing is reused, so the decoded values go straight into the FMAs
// (the gemm tile's L1 round trip would be pure overhead) and the kernel's only job is to keep the
// memory system busy. kGemvRows rows stream side by side with two accumulators each (independent
// FMA chains), and the same slice of the next group of rows is prefetched while
// this one is summed: one row is only a few KiB, too short for the hardware prefetcher to ramp up
// on its own.
constexpr int kGemvRows = 4;

template <class Fmt, int R>
void gemv_rows(const uint8_t* w, size_t rb, int64_t K, const float* x, float* y, float scale) {
    __m512 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < K; k0 += kSlice) {
        const int64_t len = std::min<int64_t>(kSlice, K - k0);
        const size_t off = Fmt::row_bytes(k0), bytes = Fmt::row_bytes(len);
        for (int r = 0; r < R; ++r) x86::prefetch(w + (R + r) * rb + off, bytes);
        for (int r = 0; r < R; ++r)
            Fmt::decode(w + r * rb, k0, len, [&](int64_t i, __m512 v) {
                // Only an F16 row's last slice can end inside a vector.
                const __m512 xv = len - i >= 16 ? _mm512_loadu_ps(x + k0 + i)
                                                : _mm512_maskz_loadu_ps(tail_mask(len - i), x + k0 + i);
                acc[r][(i >> 4) & 1] = _mm512_fmadd_ps(v, xv, acc[r][(i >> 4) & 1]);
            });
    }
    for (int r = 0; r < R; ++r) y[r] = hsum_f32(_mm512_add_ps(acc[r][0], acc[r][1])) * scale;
}


template <class Fmt>
bitnet_status float_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    const size_t rb = Fmt::row_bytes(a.k);
    constexpr bool f16 = std::is_same_v<Fmt, F16>;
    x86::float_matmul_loop<f16 ? x86::kF16GemvRows : kGemvRows, kRows, kTokens>(
        p, a, rb, kRowAlign,
        [&]<int R>(const uint8_t* w, float* y) {
            if constexpr (f16) x86::gemv_f16<R>(w, rb, a.k, a.x_f32, y, a.w->scale);
            else gemv_rows<Fmt, R>(w, rb, a.k, a.x_f32, y, a.w->scale);
        },
        [&]<int R, int T>(const uint8_t* w, const float* const* xs, float out[][kTokens]) {
            float_tile<Fmt, R, T>(w, rb, a.k, xs, out);
        });
    return BITNET_OK;
}

// Q6_K x Q8_K, the pairing llama.cpp uses for its Q6_K head: each token's f32 row is quantized to
// int8 per 256-block (q8k_impl.hpp) and the dot products are exact integer sums per block, scaled
// once by d_w·d_x. The f32 path above spends ~5 vector ops per 16 weights on widening, converting
// and scaling and cannot keep up with DRAM; here a 64-weight vector costs vpmaddubsw + vpdpwssd
// (the sub-block scales ride in the second's int16 operand). Codes stay unsigned (0..63) for
// vpmaddubsw and the offset of 32 is taken off once per block through the activations' 16-sums.
// Results differ from the f32 reference by the activations' int8 rounding (|Δx| <= d_x/2), as
// llama.cpp's do; the conformance test bounds exactly that.
struct Q6KBlock {
    __m512i q[4];   // codes 0..63 of elements 64v .. 64v+63
    __m512i sc[4];  // per int16 lane i of vector v: the scale of sub-block 4v + i/8
    __m256i coef;   // -32·sc, for the offset through the 16-sums
    float d;
};

inline void unpack_q6k(const uint8_t* blk, Q6KBlock& o) {
    const __m512i m0f = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    // qh is broadcast to both 256-bit halves; 16-bit shifts put bits 2k..2k+1 of each byte at
    // bits 4..5 of the same byte (k = 0/1 in the low/high half for the low nibbles, 2/3 for the
    // high ones), and the 0x30 mask drops what crossed over from the neighbouring byte.
    const __m512i sh_lo = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i sh_hi = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    for (int h = 0; h < 2; ++h) {
        const __m512i ql = _mm512_loadu_si512(blk + 64 * h);
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h)));
        const __m512i lo = _mm512_and_si512(ql, m0f);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(ql, 4), m0f);
        // lo | (shifted qh & 0x30)
        o.q[2 * h] = _mm512_ternarylogic_epi32(lo, _mm512_sllv_epi16(qh, sh_lo), m30, 0xf8);
        o.q[2 * h + 1] = _mm512_ternarylogic_epi32(hi, _mm512_srlv_epi16(qh, sh_hi), m30, 0xf8);
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)));
    const __m512i sc = _mm512_zextsi256_si512(sc16);
    const __m512i sub = _mm512_srli_epi16(
        _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                         15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3);
    for (int v = 0; v < 4; ++v)
        o.sc[v] = _mm512_permutexvar_epi16(_mm512_add_epi16(sub, _mm512_set1_epi16(static_cast<int16_t>(4 * v))), sc);
    o.coef = _mm256_mullo_epi16(sc16, _mm256_set1_epi16(-32));
    o.d = half_to_float(blk + 208);
}

// R rows x T tokens over nb blocks. Overflow: a vpmaddubsw pair is at most 2·63·127, a lane of one
// block gathers 8 of them times |sc| <= 128 plus a 2·4096·2032 offset term: < 2^25.
template <int R, int T>
void q6k_q8k_tile(const uint8_t* w, size_t rb, int64_t nb, const x86::Q8KRow* xs, bool prefetch,
                  float out[][kTokens]) {
    __m512 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    x86::SpanPrefetch ahead(w + R * rb, prefetch ? R * rb : 0, nb); // decode: the next group
    for (int64_t b = 0; b < nb; ++b) {
        ahead.step();
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = w + r * rb + b * 210;
            Q6KBlock u;
            unpack_q6k(blk, u);
            for (int t = 0; t < T; ++t) {
                const int8_t* xq = xs[t].q + 256 * b;
                const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[t].bsum + 16 * b));
                __m512i s = _mm512_zextsi256_si512(_mm256_madd_epi16(u.coef, bs));
                for (int v = 0; v < 4; ++v)
                    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(u.q[v], _mm512_loadu_si512(xq + 64 * v)), u.sc[v]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(u.d * xs[t].d[b]), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = hsum_f32(acc[r][t]);
}

// Decode streams 8 rows side by side. Cold 2B-4T head, one thread, kernel bench: 10.7-10.9 ms
// with 4 rows, 8.6-8.9 ms with 16 (.../head/m1/t1/cold). Inside the model, variants alternated
// call by call (a temporary switch; `bitnet bench --pin matmul=avx512 -t N -p 0 -n 128 -r 2`):
// 8 rows against 16, t1 9.75 -> 9.35 ms, t2 6.98 -> 6.50 ms; then the next group prefetched in
// address order (x86::SpanPrefetch) against each row's blocks 64 rows ahead, t1 8.9 -> 8.1 and
// 8.4 -> 7.7 ms, t2 7.8 -> 6.5, 7.2 -> 5.9 and 5.4 -> 4.3 ms.
constexpr int kGemvRowsQ6_K = 8;

bitnet_status q6k_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    auto tile = [&]<int R, int T>(const uint8_t* w, size_t rb, int64_t nb, const x86::Q8KRow* xs, bool prefetch,
                                  float out[][kTokens]) { q6k_q8k_tile<R, T>(w, rb, nb, xs, prefetch, out); };
    if (x86::q8_act_matmul<x86::Q8KRecord, Simd, kGemvRowsQ6_K, kRows, kTokens>(p, a, Q6_K::row_bytes(a.k),
                                                                                 kRowAlign, tile))
        return BITNET_OK;
    return float_matmul<Q6_K>(p, a); // a row too long for one token's record on the stack
}

// Q8_0 x Q8_0, llama.cpp's pairing for its Q8_0 head: each token's f32 row is quantized to Q8_0
// (int8 per 32-block, fp16 scale; q8k_impl.hpp) and each block's dot product is an exact integer
// sum, scaled by d_w·d_x. The f32 path spends 4 vector ops per 16 weights widening, converting and
// scaling; here 64 weights (two blocks, one per 256-bit half) cost one vpdpbusd. vpdpbusd takes
// unsigned bytes, so the weights go in as w + 128 (a sign-bit flip) and 128·Σx of each block, the
// record's sums, is taken off up front: it seeds the first lane of the block's half. Lanes then
// hold partial sums of one block each and are scaled per lane, so no horizontal sum per block is
// needed. Results differ from the f32 reference by the activations' int8 rounding, as llama.cpp's
// do; the conformance test bounds exactly that. Overflow: a lane sums 4 products of at most
// 255·127, the bias at most 128·32·127.
template <int R, int T>
void q8_0_q8_tile(const uint8_t* w, size_t rb, int64_t nb, const x86::Q8_0Row* xs, bool prefetch,
                  float out[][kTokens]) {
    // Lanes 0..7 read element 0 of a pair, lanes 8..15 element 1.
    const __m512i sel = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(1), 1);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    x86::SpanPrefetch ahead(w + R * rb, prefetch ? R * rb : 0, (nb + 1) / 2); // decode: the next group
    for (int64_t b = 0; b < nb; b += 2) {
        ahead.step();
        // An odd block count ends with one block in the low half: its high half multiplies zeros.
        const bool two = b + 1 < nb;
        const __mmask16 lanes = two ? 0xffff : 0x00ff;
        __m512i xq[T], bias[T];
        __m512 dx[T];
        for (int t = 0; t < T; ++t) {
            const int8_t* q = xs[t].q + 32 * b;
            xq[t] = two ? _mm512_loadu_si512(q)
                        : _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
            const __m512i sums = _mm512_maskz_loadu_epi32(two ? 0x3 : 0x1, xs[t].sum + b);
            const __m512i neg = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), sums), 7);
            bias[t] = _mm512_maskz_permutexvar_epi32(0x0101, sel, neg); // -128·Σx in lanes 0 and 8
            dx[t] = _mm512_maskz_permutexvar_ps(lanes, sel, _mm512_maskz_loadu_ps(two ? 0x3 : 0x1, xs[t].d + b));
        }
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = w + r * rb + b * 34;
            __m512i wq = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)));
            uint16_t h0, h1 = 0;
            std::memcpy(&h0, blk, 2);
            if (two) {
                wq = _mm512_inserti64x4(wq, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 36)), 1);
                std::memcpy(&h1, blk + 34, 2);
            }
            wq = _mm512_xor_si512(wq, flip);
            const __m512 dw = _mm512_permutexvar_ps(
                sel, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128(h0 | static_cast<int>(h1) << 16))));
            for (int t = 0; t < T; ++t) {
                const __m512i s = _mm512_dpbusd_epi32(bias[t], wq, xq[t]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, dx[t]), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = hsum_f32(acc[r][t]);
}

// Decode streams 8 rows side by side (prefetching the next 8): rows in flight set the bandwidth.
// Cold 2B-4T head, one thread, kernel bench: 4 rows 15.4-15.5 ms, 8 rows 13.0-13.3, 16 rows
// 12.6-13.3; prefetching 64 rows ahead instead of the next group 12.9-14.2; one block per 256-bit
// vpdpbusd instead of a pair per 512-bit one no different (12.1-14.6). Inside the model, 16 and 8
// rows alternated call by call (a temporary switch; `bitnet bench --pin matmul=avx512 -t N -p 0
// -n 128 -r 2`, Q8_0 head file), 8 won: t1 14.3 -> 12.3 ms, t2 10.1 -> 9.4 ms; prefetching the
// next group in address order (x86::SpanPrefetch) rather than row by row: t1 11.8 -> 11.3 ms,
// t2 6.6 -> 5.8 ms.
constexpr int kGemvRowsQ8_0 = 8;

bitnet_status q8_0_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    auto tile = [&]<int R, int T>(const uint8_t* w, size_t rb, int64_t nb, const x86::Q8_0Row* xs, bool prefetch,
                                  float out[][kTokens]) { q8_0_q8_tile<R, T>(w, rb, nb, xs, prefetch, out); };
    if (x86::q8_act_matmul<x86::Q8_0Record, Simd, kGemvRowsQ8_0, kRows, kTokens>(p, a, Q8_0::row_bytes(a.k),
                                                                                   kRowAlign, tile))
        return BITNET_OK;
    return float_matmul<Q8_0>(p, a); // a row too long for one token's record on the stack
}

} // namespace

bitnet_status run_matmul_f16_f32(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_f16_f32_4x4__avx512f", BITNET_ACT_F32, 1,
                           F16::row_bytes, &float_matmul<F16>);
}
bitnet_status run_matmul_q8_0_f32(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_q8_0_f32q8_0_4x4__avx512vnni", BITNET_ACT_F32, 32,
                           Q8_0::row_bytes, &q8_0_matmul);
}
bitnet_status run_matmul_q6_k_f32(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_q6_k_f32q8k_4x4__avx512vnni", BITNET_ACT_F32, 256,
                           Q6_K::row_bytes, &q6k_matmul);
}

} // namespace bitnet::avx512
