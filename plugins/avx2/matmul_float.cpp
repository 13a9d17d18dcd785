// Float-weight matmuls (the lm_head: F16, Q8_0, Q6_K) with F32 activations, AVX2 + FMA. Each
// tile decodes a 256-element slice of its rows into an L1 buffer of exact f32 weights (the values
// the scalar reference's dequantizer produces), then every token of the tile FMAs against it, so
// the decode is paid once per row slice. Sums run in 8 lanes: results differ from the scalar
// index-order sum by rounding only.
#include "avx2.hpp"
#include "simd.hpp"

#include "f16_gemv_impl.hpp"
#include "float_matmul_impl.hpp"
#include "q8k_impl.hpp"
#include "tiling.hpp"

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace bitnet::avx2 {
namespace {

using x86::Plugin;

constexpr int kRows = 2, kTokens = 4, kSlice = 256;
constexpr int64_t kRowAlign = 16;

// Decoders: elements [k0, k0 + len) of a row, 8 at a time, as sink(i, values) for elements
// k0 + i .. k0 + i + 7 (lanes past len are zero). k0 is a multiple of kSlice, hence of every block
// length. The same decoder feeds the L1 buffer of the gemm tile and the registers of the gemv.
struct F16 {
    static constexpr size_t (*row_bytes)(int64_t) = &x86::f16_row_bytes;
    template <class Sink>
    static void decode(const uint8_t* row, int64_t k0, int64_t len, Sink&& sink) {
        const auto* h = reinterpret_cast<const uint16_t*>(row) + k0;
        int64_t i = 0;
        for (; i + 8 <= len; i += 8) sink(i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
        if (i < len) {
            alignas(16) uint16_t tail[8] = {};
            for (int64_t j = i; j < len; ++j) tail[j - i] = h[j];
            sink(i, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tail))));
        }
    }
};

struct Q8_0 {
    static constexpr size_t (*row_bytes)(int64_t) = &x86::q8_0_row_bytes;
    template <class Sink>
    static void decode(const uint8_t* row, int64_t k0, int64_t len, Sink&& sink) {
        for (int64_t b = 0; b < len / 32; ++b) {
            const uint8_t* blk = row + (k0 / 32 + b) * 34;
            const __m256 d = _mm256_set1_ps(half_to_float(blk));
            for (int g = 0; g < 4; ++g) {
                const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + 8 * g));
                sink(b * 32 + 8 * g, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
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
        const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);
        const float d = half_to_float(blk + 208);
        const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = blk + 64 * half;
            const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
            const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * half));
            const __m256i lo[4] = {l0, l1, _mm256_srli_epi16(l0, 4), _mm256_srli_epi16(l1, 4)};
            for (int k = 0; k < 4; ++k) {
                const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3), 4);
                const __m256i q = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(lo[k], m4), hi), off);
                alignas(32) int8_t bytes[32];
                _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), q);
                for (int g = 0; g < 4; ++g) {
                    const float ds = d * static_cast<float>(sc[8 * half + 2 * k + g / 2]);
                    const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + 8 * g))));
                    sink(128 * half + 32 * k + 8 * g, _mm256_mul_ps(_mm256_set1_ps(ds), f));
                }
            }
        }
    }
};

template <class Fmt, int R, int T>
void float_tile(const uint8_t* w, size_t rb, int64_t K, const float* const* x, float out[][kTokens]) {
    alignas(32) float buf[R][kSlice];
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < K; k0 += kSlice) {
        const int64_t len = std::min<int64_t>(kSlice, K - k0);
        for (int r = 0; r < R; ++r)
            Fmt::decode(w + r * rb, k0, len, [&](int64_t i, __m256 v) { _mm256_store_ps(buf[r] + i, v); });
        for (int64_t i = 0; i < len; i += 8) {
            __m256 wv[R];
            for (int r = 0; r < R; ++r) wv[r] = _mm256_load_ps(buf[r] + i);
            for (int t = 0; t < T; ++t) {
                // Only an F16 row's last slice can end inside a vector; the masked load stops there.
                const __m256 xv = len - i >= 8 ? _mm256_loadu_ps(x[t] + k0 + i)
                                               : _mm256_maskload_ps(x[t] + k0 + i, tail_mask8(len - i));
                for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = hsum_f32(acc[r][t]);
}

// M = 1 (Q8_0 and Q6_K rows too long for their int8 paths; F16 has its own gemv below): the
// weights are read once and nothing is reused, so the decoded values go straight into
// the FMAs (the gemm tile's L1 round trip would be pure overhead) and the kernel's only job is to
// keep the memory system busy. kGemvRows rows stream side by side with two accumulators each
// (independent FMA chains), and the same slice of the next group of rows is prefetched while
// this one is summed: one row is only a few KiB, too short for the hardware prefetcher to ramp up
// on its own.
constexpr int kGemvRows = 4;

template <class Fmt, int R>
void gemv_rows(const uint8_t* w, size_t rb, int64_t K, const float* x, float* y, float scale) {
    __m256 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < K; k0 += kSlice) {
        const int64_t len = std::min<int64_t>(kSlice, K - k0);
        const size_t off = Fmt::row_bytes(k0), bytes = Fmt::row_bytes(len);
        for (int r = 0; r < R; ++r) x86::prefetch(w + (R + r) * rb + off, bytes);
        for (int r = 0; r < R; ++r)
            Fmt::decode(w + r * rb, k0, len, [&](int64_t i, __m256 v) {
                // Only an F16 row's last slice can end inside a vector; the masked load stops there.
                const __m256 xv = len - i >= 8 ? _mm256_loadu_ps(x + k0 + i)
                                               : _mm256_maskload_ps(x + k0 + i, tail_mask8(len - i));
                acc[r][(i >> 3) & 1] = _mm256_fmadd_ps(v, xv, acc[r][(i >> 3) & 1]);
            });
    }
    for (int r = 0; r < R; ++r) y[r] = hsum_f32(_mm256_add_ps(acc[r][0], acc[r][1])) * scale;
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

// Q6_K x Q8_K, llama.cpp's pairing for its Q6_K head (see the avx512 plugin and q8k_impl.hpp):
// each token's f32 row is quantized to int8 per 256-block, 32 weights cost vpmaddubsw + vpmaddwd
// (the sub-block scales ride in the second's int16 operand) + vpaddd, and each block's exact
// integer sum is scaled once by d_w·d_x. Codes stay unsigned (0..63); the offset of 32 comes off
// once per block through the activations' 16-sums. Overflow: a vpmaddubsw pair is at most
// 2·63·127, a block's lane gathers 8 of them times |sc| <= 128 plus the offset term: < 2^26.
template <int R, int T>
void q6k_q8k_tile(const uint8_t* w, size_t rb, int64_t nb, const x86::Q8KRow* xs, bool prefetch, float out[][kTokens]) {
    const __m256i m0f = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    x86::SpanPrefetch ahead(w + R * rb, prefetch ? R * rb : 0, nb); // decode: the next group
    for (int64_t b = 0; b < nb; ++b) {
        ahead.step();
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = w + r * rb + b * 210;
            const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);
            const __m256i coef = _mm256_mullo_epi16(
                _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc))), _mm256_set1_epi16(-32));
            __m256i s[T];
            for (int t = 0; t < T; ++t)
                s[t] = _mm256_madd_epi16(coef, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[t].bsum + 16 * b)));
            for (int h = 0; h < 2; ++h) {
                const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * h));
                const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * h + 32));
                const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h));
                // Elements 32v.. of the half: a nibble of ql0/ql1 and bits 2v'..2v'+1 of qh moved to
                // bits 4..5 (16-bit shifts; the 0x30 mask drops what crossed from a neighbour byte).
                for (int v = 0; v < 4; ++v) {
                    const __m256i lo = v == 0 ? _mm256_and_si256(ql0, m0f)
                                       : v == 1 ? _mm256_and_si256(ql1, m0f)
                                       : v == 2 ? _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m0f)
                                                : _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m0f);
                    const __m256i hi = v == 0 ? _mm256_slli_epi16(qh, 4)
                                       : v == 1 ? _mm256_slli_epi16(qh, 2)
                                       : v == 2 ? qh
                                                : _mm256_srli_epi16(qh, 2);
                    const __m256i q = _mm256_or_si256(lo, _mm256_and_si256(hi, m30));
                    const int j = 8 * h + 2 * v; // sub-blocks j (bytes 0..15) and j + 1 (16..31)
                    const __m256i scv = _mm256_setr_m128i(_mm_set1_epi16(sc[j]), _mm_set1_epi16(sc[j + 1]));
                    for (int t = 0; t < T; ++t) {
                        const __m256i xv =
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[t].q + 256 * b + 128 * h + 32 * v));
                        s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), scv));
                    }
                }
            }
            const float d = half_to_float(blk + 208);
            for (int t = 0; t < T; ++t)
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_set1_ps(d * xs[t].d[b]), acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = hsum_f32(acc[r][t]);
}

// Decode streams 8 rows side by side: cold 2B-4T head, one thread, 17.1-18.1 ms with 2 rows,
// 12.9-13.5 ms with 8, 13.3-14.5 with 16 (bench/kernel_bench.cpp .../head/m1/t1/cold). The next
// group prefetched in address order (x86::SpanPrefetch) rather than each row's blocks 64 rows
// ahead, alternated call by call inside `bitnet bench --pin matmul=avx2 -p 0 -n 128 -r 2` (a
// temporary switch): t1 10.9 -> 10.3 ms, t2 7.2 -> 6.6 ms. (The Q8_0 head: within 1-3 %.)
constexpr int kGemvRowsQ6_K = 8;

bitnet_status q6k_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    auto tile = [&]<int R, int T>(const uint8_t* w, size_t rb, int64_t nb, const x86::Q8KRow* xs, bool prefetch,
                                  float out[][kTokens]) { q6k_q8k_tile<R, T>(w, rb, nb, xs, prefetch, out); };
    if (x86::q8_act_matmul<x86::Q8KRecord, Simd, kGemvRowsQ6_K, kRows, kTokens>(p, a, Q6_K::row_bytes(a.k),
                                                                                 kRowAlign, tile))
        return BITNET_OK;
    return float_matmul<Q6_K>(p, a); // a row too long for one token's record on the stack
}

// Q8_0 x Q8_0, llama.cpp's pairing for its Q8_0 head (see the avx512 plugin and q8k_impl.hpp):
// each token's f32 row is quantized to Q8_0 and a block's 32 weights cost vpsignb x2 (|w| and
// x·sign(w), llama.cpp's trick for an unsigned x signed vpmaddubsw) + vpmaddubsw + vpmaddwd; the
// block's lanes are scaled by d_w·d_x as they are, summed across lanes only at the end. Overflow:
// a vpmaddubsw pair is at most 2·128·127 < 2^15.
template <int R, int T>
void q8_0_q8_tile(const uint8_t* w, size_t rb, int64_t nb, const x86::Q8_0Row* xs, bool prefetch, float out[][kTokens]) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    x86::SpanPrefetch ahead(w + R * rb, prefetch ? R * rb : 0, nb); // decode: the next group
    for (int64_t b = 0; b < nb; ++b) {
        ahead.step();
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = w + r * rb + b * 34;
            const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
            const __m256i aw = _mm256_sign_epi8(wq, wq);
            const float dw = half_to_float(blk);
            for (int t = 0; t < T; ++t) {
                const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[t].q + 32 * b));
                const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xq, wq)), ones);
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * xs[t].d[b]), acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = hsum_f32(acc[r][t]);
}

// Decode streams 8 rows side by side (prefetching the next 8): rows in flight set the bandwidth.
// Cold 2B-4T head, one thread: 2 rows 18.2 ms, 4 rows 13.9, 8 rows 11.7-13.2, 16 rows 12.0-13.3.
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
    return x86::run_matmul(plugin, args, "matmul_f16_f32_2x4__avx2", BITNET_ACT_F32, 1, F16::row_bytes, &float_matmul<F16>);
}
bitnet_status run_matmul_q8_0_f32(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_q8_0_f32q8_0_2x4__avx2", BITNET_ACT_F32, 32, Q8_0::row_bytes, &q8_0_matmul);
}
bitnet_status run_matmul_q6_k_f32(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_q6_k_f32q8k_2x4__avx2", BITNET_ACT_F32, 256, Q6_K::row_bytes, &q6k_matmul);
}

} // namespace bitnet::avx2
