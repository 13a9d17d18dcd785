// Ternary BitLinear matmuls with AVX-512 VNNI. Stored codes are t+1 in {0,1,2}, which is exactly
// what vpdpbusd wants as its unsigned operand: Σ t·q = Σ code·q − Σ q, so the weights are never
// sign-converted. The integer dots are exact; the float epilogue repeats the scalar reference's
// operations in the same order (bit-exact outputs).
//
// Decoding stays in registers and lands the codes in the order the activations already have, so
// no activation shuffles are needed for I2_S and TQ2_0: a 32-byte group of 2-bit fields is
// broadcast to both halves of a zmm and shifted by a different amount per half (vpsrlvw), giving
// 64 consecutive weights per shift pair.
#include "avx512.hpp"
#include "simd.hpp"

#include "tiling.hpp"
#include "tq_matmul_impl.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace bitnet::avx512 {
namespace {

using x86::Plugin;

constexpr int kRows = 4;       // rows per micro-kernel tile
constexpr int kTokens = 4;     // tokens per micro-kernel tile
constexpr int64_t kRowAlign = 16;

// Shift counts per 16-bit lane: low 256 bits by `lo`, high 256 bits by `hi`.
inline __m512i split_shift(int lo, int hi) {
    return _mm512_mask_set1_epi16(_mm512_set1_epi16(static_cast<short>(lo)), 0xffff0000u, static_cast<short>(hi));
}

// 32 bytes of 2-bit fields -> 64 codes: field at bit `lo` of each byte, then field at bit `hi`.
inline __m512i codes64(const uint8_t* p, __m512i shifts) {
    const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_and_si512(_mm512_srlv_epi16(v, shifts), _mm512_set1_epi8(3));
}

// ---- I2_S -------------------------------------------------------------------------------------

// Byte j of a 128-block holds weights j, j+32, j+64, j+96 at bits 6, 4, 2, 0. The 32 bytes are
// broadcast to both halves of a zmm and fields are masked in place instead of shifted down: a code
// at bit s enters vpdpbusd as code << s (at most 128, still a valid u8), so each int32 lane sums
// exact multiples of 2^s and one arithmetic shift per lane in the epilogue removes the scale.
// Masking costs one op per 64 codes where shift-and-mask costs two.
inline __m512i half_bytes(uint8_t lo, uint8_t hi) {
    return _mm512_mask_set1_epi8(_mm512_set1_epi8(static_cast<char>(lo)), 0xffffffff00000000ull, static_cast<char>(hi));
}
inline __m512i half_dwords(int lo, int hi) { return _mm512_mask_set1_epi32(_mm512_set1_epi32(lo), 0xff00, hi); }
inline __m512i bcast32(const uint8_t* p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Lanes hold at most blocks * 2 * 4 * 128 * 128 before the scale is removed; callers keep a call
// within kMaxBlocks so that stays below 2^31.
constexpr int64_t kMaxBlocks = 4096;

// Decode, M = 1: the weights stream from DRAM once, kGemvRows rows side by side (rows left over
// go one at a time). One accumulator per row: the second code register is shifted up by 4 bits
// so fields 2|0 sit at bits 6|4 like the first's (the GEMM tile's trick), and both carry the
// per-half scale 64|16 and add into one register.
//
// Prefetch: the rows of a group are one contiguous span (R x rb bytes); the prefetches walk the
// span about x86::kSpanPrefetchBytes ahead (whole groups: the next one at K = 6912, the one after at
// K = 2560) in address order, a few lines per block, spread over the loop rather than issued in a
// burst per tile. Measured inside `bitnet bench -t N -p 0 -n 128 -r 2`, variants alternated call
// by call (a temporary switch in this kernel), us per call on 2B-4T:
//  - address order against the loop's (one line per row every other block), both the next
//    group: t2 ffn_gate/up 124 / 126 -> 110 / 115, ffn_down 127 / 133 -> 107 / 112, q/o
//    45 / 47 -> 44 / 44; t1 down 145 / 143 -> 129 / 130, the others the same;
//  - ~12 KiB ahead against the next group (differs at K = 2560 only): t1 ffn_gate/up
//    136 / 140 -> 130 / 130, q/o 51 / 50 -> 48 / 49; t2 the same;
//  - no software prefetch: 15-90 % slower. prefetcht0 beat t1/t2/nta, and spreading beat a
//    per-tile burst 64 rows ahead (x86::kWeightPrefetchRows) on the AMD EPYC this was tuned on.
//
// 8 rows beat 16 in every decode matmul of 2B-4T at 1 and 2 threads (the same harness, both
// prefetching the next group in the loop's order; us per call 16 -> 8 rows):
//   t1: ffn_gate/up 137 -> 125, ffn_down 156 -> 134, q/o 51.4 -> 46.4, k/v 13.2 -> 11.8
//   t2: ffn_gate/up 116-125 -> 111-117, ffn_down 119-123 -> 110-119, q/o 44-46 -> 41-43
// 12 rows sat between the two.
constexpr int kGemvRows = 8;

template <int R>
void i2s_gemv_tile(const uint8_t* w, size_t rb, int64_t nblk, const int8_t* x, int32_t out[], size_t pf) {
    const __m512i m = half_bytes(0xc0, 0x30);
    __m512i acc[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
    x86::SpanPrefetch ahead(w + pf, pf != 0 ? R * rb : 0, nblk);
    for (int64_t b = 0; b < nblk; ++b) {
        ahead.step();
        const __m512i x0 = _mm512_loadu_si512(x + b * 128), x1 = _mm512_loadu_si512(x + b * 128 + 64);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m512i v = bcast32(w + r * rb + b * 32);
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_and_si512(v, m), x0);
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_and_si512(_mm512_slli_epi16(v, 4), m), x1);
        }
    }
    const __m512i sh = half_dwords(6, 4);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) out[r] = hsum_i32(_mm512_srav_epi32(acc[r], sh));
}

// Prefill: R rows x T tokens of accumulators. Both code registers of a block carry the same
// per-half scale (64 | 16): the second is the first's byte pattern shifted up by 4 bits, which
// brings fields 2|0 to bits 6|4 (bits crossing into the next byte land under the mask's zeros).
// Out of line so the register allocation of the tile loop does not depend on its caller's.
template <int R, int T>
[[gnu::noinline]] void i2s_tile(const uint8_t* w, size_t rb, int64_t nblk, const int8_t* const* x, int32_t* out, int ldo) {
    const __m512i m = half_bytes(0xc0, 0x30);
    // Every loop over the tile is unrolled: an accumulator indexed by a loop variable anywhere
    // keeps GCC from promoting the array to registers, and it then stores the whole tile to the
    // stack on every block.
    __m512i acc[R][T];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_si512();
    for (int64_t b = 0; b < nblk; ++b) {
        __m512i c[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) c[r] = _mm512_and_si512(bcast32(w + r * rb + b * 32), m);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            const __m512i xv = _mm512_loadu_si512(x[t] + b * 128);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], c[r], xv);
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) c[r] = _mm512_and_si512(_mm512_slli_epi16(bcast32(w + r * rb + b * 32), 4), m);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
            const __m512i xv = _mm512_loadu_si512(x[t] + b * 128 + 64);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], c[r], xv);
        }
    }
    // The tile leaves registers in one go before the reductions: reducing straight from the
    // accumulators makes GCC spill part of the tile inside the block loop.
    alignas(64) int32_t lanes[R * T][16];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) _mm512_store_si512(lanes[r * T + t], acc[r][t]);
    asm volatile("" ::: "memory");
    const __m512i s = half_dwords(6, 4);
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r * ldo + t] = hsum_i32(_mm512_srav_epi32(_mm512_load_si512(lanes[r * T + t]), s));
}

// 4 x 5 keeps the 20 accumulators, 4 code registers and an activation register in the 32 zmm
// without spills under GCC 12 (4 x 6 spilled, 3 x 8 reads the activations 33% more per MAC).
constexpr int kGemmRows = 4, kGemmTokens = 5;
constexpr int kChunk = 65; // tokens whose Σq is kept per chunk: whole 5-token tiles

// Calls f.template operator()<R, T>() with R in {kGemmRows, 1}, T in 1..kGemmTokens.
template <int R, int T = kGemmTokens, class F>
inline void dispatch_tokens(int tokens, F&& f) {
    if constexpr (T > 1)
        if (tokens < T) return dispatch_tokens<R, T - 1>(tokens, f);
    f.template operator()<R, T>();
}
template <class F>
inline void dispatch_gemm(int rows, int tokens, F&& f) {
    if (rows == kGemmRows) dispatch_tokens<kGemmRows>(tokens, f);
    else dispatch_tokens<1>(tokens, f);
}

inline float i2s_out(int32_t dot, int32_t qsum, float xscale, float wscale) {
    const float unscaled = static_cast<float>(dot - qsum) / xscale;
    return unscaled * wscale;
}

bitnet_status i2s_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    const int64_t K = a.k, nblk = K / 128;
    const size_t rb = static_cast<size_t>(K / 4);
    const auto* W = static_cast<const uint8_t*>(a.w->data);
    const bitnet_qact& xq = *a.x_q;
    auto qsum_of = [&](int64_t m) {
        return xq.row_sums != nullptr ? xq.row_sums[m] : sum_q(xq.data + m * xq.row_stride, K);
    };
    if (a.m == 1) {
        const int32_t qs = qsum_of(0);
        const int64_t ahead = x86::groups_ahead(kGemvRows * rb);
        x86::parallel_ranges(p, a.n, kRowAlign, [&](int64_t n0, int64_t n1) {
            x86::walk_gemv_rows<kGemvRows>(W, rb, n0, n1, [&]<int R>(int64_t n, size_t pf) {
                int32_t dots[R] = {};
                for (int64_t b0 = 0; b0 < nblk; b0 += kMaxBlocks) {
                    int32_t part[R];
                    const int64_t nb = std::min(kMaxBlocks, nblk - b0);
                    i2s_gemv_tile<R>(W + n * rb + b0 * 32, rb, nb, xq.data + b0 * 128, part, pf);
                    for (int r = 0; r < R; ++r) dots[r] += part[r];
                }
                for (int r = 0; r < R; ++r) a.y[n + r] = i2s_out(dots[r], qs, xq.scales[0], a.w->scale);
            }, ahead);
        });
        return BITNET_OK;
    }
    x86::parallel_ranges(p, a.n, kRowAlign, [&](int64_t n0, int64_t n1) {
        int32_t qsum[kChunk];
        auto tile = [&](int64_t n, int rows, int64_t t0, int tokens, int64_t c0) {
            int32_t dots[kGemmRows][kGemmTokens] = {};
            for (int64_t b0 = 0; b0 < nblk; b0 += kMaxBlocks) {
                const int64_t nb = std::min(kMaxBlocks, nblk - b0);
                const int8_t* xs[kGemmTokens];
                for (int t = 0; t < tokens; ++t) xs[t] = xq.data + (t0 + t) * xq.row_stride + b0 * 128;
                int32_t part[kGemmRows][kGemmTokens];
                dispatch_gemm(rows, tokens, [&]<int R, int T>() {
                    i2s_tile<R, T>(W + n * rb + b0 * 32, rb, nb, xs, &part[0][0], kGemmTokens);
                });
                for (int r = 0; r < rows; ++r)
                    for (int t = 0; t < tokens; ++t) dots[r][t] += part[r][t];
            }
            for (int t = 0; t < tokens; ++t) {
                const int64_t m = t0 + t;
                for (int r = 0; r < rows; ++r)
                    a.y[m * a.ldy + n + r] = i2s_out(dots[r][t], qsum[m - c0], xq.scales[m], a.w->scale);
            }
        };
        for (int64_t c0 = 0; c0 < a.m; c0 += kChunk) {
            const int64_t cc = std::min<int64_t>(kChunk, a.m - c0);
            for (int64_t t = 0; t < cc; ++t) qsum[t] = qsum_of(c0 + t);
            for (int64_t n = n0; n < n1;) {
                const int rows = n + kGemmRows <= n1 ? kGemmRows : 1;
                // A few tokens still stream the weights once per call, as decode does; a larger
                // GEMM reuses each tile over many tokens and the prefetches would evict its data.
                if (a.m <= 4 && c0 == 0) x86::prefetch(W + (n + x86::kWeightPrefetchRows) * rb, static_cast<size_t>(rows) * rb);
                for (int64_t t0 = c0; t0 < c0 + cc; t0 += kGemmTokens)
                    tile(n, rows, t0, static_cast<int>(std::min<int64_t>(kGemmTokens, c0 + cc - t0)), c0);
                n += rows;
            }
        }
    });
    return BITNET_OK;
}

// ---- TQ2_0 / TQ1_0 ----------------------------------------------------------------------------

// Rows a TQ decode step streams side by side (tq_matmul_loop).
constexpr int kTqGemvRows = 8;

// Per-block accumulators and their fold into the row sums. Decode (T = 1) keeps one float vector
// per row and folds each 256-block in with a conversion and an FMA, as llama.cpp's x86 TQ2_0 dot
// does; Σq enters as -bs in lane 0 of the block's accumulator, and the horizontal sum runs once
// per row instead of once per block (it was most of a decode step's instructions). More tokens
// keep the scalar reference's order, sumf += (float)sumi * (d_act * d_w) per block.
template <int R, int T>
struct TqBlockSums {
    __m512 facc[R];
    TqBlockSums() {
        if constexpr (T == 1)
            for (int r = 0; r < R; ++r) facc[r] = _mm512_setzero_ps();
    }
    static void start(__m512i acc[R][T], const int32_t* const* bs, int64_t b) {
        for (int r = 0; r < R; ++r)
            for (int t = 0; t < T; ++t)
                acc[r][t] = T == 1 ? _mm512_maskz_set1_epi32(1, -bs[0][b]) : _mm512_setzero_si512();
    }
    void fold(__m512i acc[R][T], const int32_t* const* bs, const float* const* da, const float* dw, int64_t b,
              float sumf[][kTokens]) {
        if constexpr (T == 1) {
            for (int r = 0; r < R; ++r)
                facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][0]), _mm512_set1_ps(da[0][b] * dw[r]), facc[r]);
        } else {
            for (int r = 0; r < R; ++r)
                for (int t = 0; t < T; ++t) {
                    const int32_t sumi = hsum_i32(acc[r][t]) - bs[t][b];
                    const float d = da[t][b] * dw[r];
                    sumf[r][t] += static_cast<float>(sumi) * d;
                }
        }
    }
    void finish(float sumf[][kTokens]) const {
        if constexpr (T == 1)
            for (int r = 0; r < R; ++r) sumf[r][0] = hsum_f32(facc[r]);
    }
};


// TQ2_0 block: 32 bytes per 128 elements, bit pair l of byte m is element 32l + m; f16 d at 64.
template <int R, int T>
void tq2_tile(const uint8_t* w, size_t rb, int64_t nb, const int8_t* const* x, const int32_t* const* bs,
              const float* const* da, float sumf[][kTokens]) {
    const __m512i sh01 = split_shift(0, 2), sh23 = split_shift(4, 6);
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) sumf[r][t] = 0.0f;
    TqBlockSums<R, T> sums;
    x86::SpanPrefetch ahead = x86::tq_gemv_prefetch<R, T>(w, rb, nb);
    for (int64_t b = 0; b < nb; ++b) {
        __m512i acc[R][T];
        sums.start(acc, bs, b);
        ahead.step();
        for (int h = 0; h < 2; ++h) {
            __m512i c0[R], c1[R];
            for (int r = 0; r < R; ++r) {
                const uint8_t* p = w + r * rb + b * 66 + h * 32;
                c0[r] = codes64(p, sh01);
                c1[r] = codes64(p, sh23);
            }
            for (int t = 0; t < T; ++t) {
                const int8_t* xb = x[t] + b * 256 + h * 128;
                const __m512i x0 = _mm512_loadu_si512(xb), x1 = _mm512_loadu_si512(xb + 64);
                for (int r = 0; r < R; ++r) {
                    acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], c0[r], x0);
                    acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], c1[r], x1);
                }
            }
        }
        float dw[R];
        for (int r = 0; r < R; ++r) dw[r] = half_to_float(w + r * rb + b * 66 + 64);
        sums.fold(acc, bs, da, dw, b, sumf);
    }
    sums.finish(sumf);
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
    return x86::run_matmul(plugin, args, "matmul_i2s_i8row__avx512vnni", BITNET_ACT_I8_ROW, 128,
                           &x86::i2s_row_bytes, &i2s_matmul);
}

bitnet_status run_matmul_tq2_0_i8b256(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_tq2_0_i8b256__avx512vnni", BITNET_ACT_I8_B256, 256,
                           &x86::tq2_row_bytes, &tq2_matmul);
}

} // namespace bitnet::avx512
