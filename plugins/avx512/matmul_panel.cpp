// The avx512 rows-in-lanes prefill GEMMs (x86-common/rows_in_lanes_impl.hpp): 16 rows per zmm,
// the activation broadcast folded into vpdpbusd's memory operand. I2_S: 24 tokens per tile (24
// accumulators + codes + mask stay in the 32 zmm). TQ2_0: 12 tokens (an int and a float
// accumulator per token: each 256-block folds in with its row and token scales).
#include "avx512.hpp"
#include "simd.hpp"

#include "rows_in_lanes_impl.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace bitnet::avx512 {
namespace {

constexpr int kPanelTokens = 24;

struct PanelIsa : x86::I2sRowsFormat<PanelIsa> {
    using V = __m512i;
    static constexpr int kRows = 16, kTokens = kPanelTokens;
    static constexpr const char* kName = "matmul_i2s_i8row_panel16x24__avx512vnni";
    // S[c] = dword c (bytes 4c..4c+3) of rows n .. n+rows-1, zero lanes past `rows`: a 16x16 dword
    // transpose per 64 bytes of the rows (unpack 32, unpack 64, two 128-bit lane shuffles); a gather
    // per S[c] measured twice as slow. Skipping the transpose altogether saved ~2% of the gate/up
    // GEMM at M = 128 (bitnet bench --profile).
    static void transpose_rows(const uint8_t* w, size_t rb, int rows, int64_t k, __m512i* s) {
        const int64_t cols = k / 16; // dwords per row; a multiple of 8
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            const __mmask16 m = tail_mask(cols - c0);
            __m512i r[16], t[16];
    #pragma GCC unroll 16
            for (int i = 0; i < 16; ++i)
                r[i] = i < rows ? _mm512_maskz_loadu_epi32(m, w + i * rb + c0 * 4) : _mm512_setzero_si512();
    #pragma GCC unroll 8
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
            }
            // r[4g + c]: 128-bit lane L holds rows 4g..4g+3 of column 4L + c.
    #pragma GCC unroll 4
            for (int i = 0; i < 16; i += 4) {
                r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
                r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
                r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
                r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
            }
    #pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) {
                const int a = (i / 4) * 8 + i % 4;
                t[a] = _mm512_shuffle_i32x4(r[a], r[a + 4], 0x88);
                t[a + 4] = _mm512_shuffle_i32x4(r[a], r[a + 4], 0xdd);
            }
    #pragma GCC unroll 8
            for (int i = 0; i < 8; ++i) {
                r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
                r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
            }
            const int64_t live = std::min<int64_t>(16, cols - c0);
    #pragma GCC unroll 16
            for (int i = 0; i < 16; ++i)
                if (i < live) _mm512_store_si512(s + c0 + i, r[i]);
        }
    }

    // acc += code · broadcast(4 bytes at p), the broadcast folded into vpdpbusd's memory operand
    // ({1to16}): GCC 12 emits a separate vpbroadcastd for the intrinsic form, one more instruction
    // per multiply.
    static __m512i dpbusd_bcast(__m512i acc, __m512i code, const uint8_t* p) {
        asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(code), "m"(*reinterpret_cast<const int32_t*>(p)));
        return acc;
    }

    // acc[t] (lane i = row i) = Σ_k code(row i, k) · q(token t, k) over all of K.
    // Byte b of I2_S block j holds weights 128j + b, +32, +64, +96 at bits 6, 4, 2, 0, so field f of
    // dword c (block c / 8, bytes 4(c % 8) ..) pairs with activation bytes 128(c/8) + 4(c%8) + 32f,
    // which in the reordered tile are column block 2(c/8) + f/2, byte 4(c%8) + 32(f%2).
    template <int T>
    [[gnu::noinline]] static void panel(const __m512i* s, const uint8_t* xt, int64_t k, const int32_t*, const float*,
                                        __m512i* out) {
        const __m512i three = _mm512_set1_epi8(3);
        __m512i acc[T];
    #pragma GCC unroll 24
        for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_si512();
        constexpr int64_t kPair = 2 * kPanelTokens * 64; // bytes of two column blocks (one I2_S block)
        for (int64_t blk = 0; blk < k / 128; ++blk) {
            const uint8_t* xb = xt + blk * kPair;
            for (int j = 0; j < 8; ++j, xb += 4) {
                const __m512i raw = _mm512_load_si512(s + blk * 8 + j);
                const __m512i code[4] = {
                    _mm512_and_si512(_mm512_srli_epi16(raw, 6), three), _mm512_and_si512(_mm512_srli_epi16(raw, 4), three),
                    _mm512_and_si512(_mm512_srli_epi16(raw, 2), three), _mm512_and_si512(raw, three)};
    #pragma GCC unroll 4
                for (int f = 0; f < 4; ++f) {
                    const uint8_t* xf = xb + (f / 2) * kPanelTokens * 64 + (f % 2) * 32;
    #pragma GCC unroll 24
                    for (int t = 0; t < T; ++t) acc[t] = dpbusd_bcast(acc[t], code[f], xf + t * 64);
                }
            }
        }
    #pragma GCC unroll 24
        for (int t = 0; t < T; ++t) _mm512_store_si512(out + t, acc[t]);
    }

    static void store_rows(float* y, int rows, V acc, const int32_t* ints, const float* xscales, float wscale) {
        const int32_t qsum = ints[0];
        const float xscale = xscales[0];
        const __m512i d = _mm512_sub_epi32(acc, _mm512_set1_epi32(qsum));
        const __m512 unscaled = _mm512_div_ps(_mm512_cvtepi32_ps(d), _mm512_set1_ps(xscale));
        _mm512_mask_storeu_ps(y, tail_mask(rows), _mm512_mul_ps(unscaled, _mm512_set1_ps(wscale)));
    }
    static int32_t sum_q(const int8_t* q, int64_t len) { return avx512::sum_q(q, len); }
};

using Panel = x86::RowsInLanes<PanelIsa>;

// TQ2_0: 66-byte blocks of 256 (64 code bytes, then f16 d). Per row group and block the 64 code
// bytes of 16 rows are transposed as I2_S's are (16 vectors), followed by the 16 rows' d as floats.
// Bit pair l of code byte 32h + m is element 128h + 32l + m; with codes stored as t + 1 the block's
// Σ (t+1)·q minus Σ q is the reference's sumi, and each lane then does the reference's
// sumf += (float)sumi * (d_act * d_w) in block order (multiply, then add), so outputs are
// bit-identical to the scalar kernel.
constexpr int kTq2Tokens = 12;

struct Tq2PanelIsa : x86::Tq2RowsFormat<PanelIsa> {
    using V = __m512i;
    static constexpr int kRows = 16, kTokens = kTq2Tokens;
    static constexpr const char* kName = "matmul_tq2_0_i8b256_panel16x12__avx512vnni";
    static void transpose_rows(const uint8_t* w, size_t rb, int rows, int64_t k, V* s) {
        for (int64_t b = 0; b < k / 256; ++b) {
            PanelIsa::transpose_rows(w + b * 66, rb, rows, 256, s + b * 17);
            alignas(64) float d[16] = {};
            for (int r = 0; r < rows; ++r) d[r] = half_to_float(w + r * rb + b * 66 + 64);
            s[b * 17 + 16] = _mm512_castps_si512(_mm512_load_ps(d));
        }
    }
    template <int T>
    [[gnu::noinline]] static void panel(const V* s, const uint8_t* xt, int64_t k, const int32_t* bs,
                                        const float* da, V* out) {
        const int64_t nb = k / 256;
        const __m512i three = _mm512_set1_epi8(3);
        __m512 sumf[T];
#pragma GCC unroll 12
        for (int t = 0; t < T; ++t) sumf[t] = _mm512_setzero_ps();
        constexpr int64_t kColumn = kTq2Tokens * 64; // bytes of one reordered column block
        for (int64_t b = 0; b < nb; ++b) {
            __m512i acc[T];
#pragma GCC unroll 12
            for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_si512();
            const V* sb = s + b * 17;
            for (int c = 0; c < 16; ++c) { // dword c: half c / 8, bytes 4 (c % 8) ..
                const __m512i raw = _mm512_load_si512(sb + c);
                const uint8_t* xc = xt + (4 * b + 2 * (c / 8)) * kColumn + 4 * (c % 8);
#pragma GCC unroll 4
                for (int l = 0; l < 4; ++l) {
                    const __m512i code = _mm512_and_si512(_mm512_srli_epi16(raw, 2 * l), three);
                    const uint8_t* xf = xc + (l / 2) * kColumn + (l % 2) * 32;
#pragma GCC unroll 12
                    for (int t = 0; t < T; ++t) acc[t] = PanelIsa::dpbusd_bcast(acc[t], code, xf + t * 64);
                }
            }
            const __m512 dw = _mm512_castsi512_ps(_mm512_load_si512(sb + 16));
#pragma GCC unroll 12
            for (int t = 0; t < T; ++t) {
                const __m512i sumi = _mm512_sub_epi32(acc[t], _mm512_set1_epi32(bs[t * nb + b]));
                const __m512 d = _mm512_mul_ps(_mm512_set1_ps(da[t * nb + b]), dw);
                sumf[t] = _mm512_add_ps(sumf[t], _mm512_mul_ps(_mm512_cvtepi32_ps(sumi), d));
            }
        }
#pragma GCC unroll 12
        for (int t = 0; t < T; ++t) _mm512_store_si512(out + t, _mm512_castps_si512(sumf[t]));
    }
    static void store_rows(float* y, int rows, V acc, const int32_t*, const float*, float wscale) {
        _mm512_mask_storeu_ps(y, tail_mask(rows), _mm512_mul_ps(_mm512_castsi512_ps(acc), _mm512_set1_ps(wscale)));
    }
};

using Tq2Panel = x86::RowsInLanes<Tq2PanelIsa>;


} // namespace

size_t workspace_matmul_tq2_0_i8b256_panel(void* plugin, const bitnet_shape* shape) noexcept {
    return Tq2Panel::workspace_size(plugin, shape);
}

bitnet_status run_matmul_tq2_0_i8b256_panel(void* plugin, const void* args, void* workspace) noexcept {
    return Tq2Panel::run(plugin, args, workspace);
}

size_t workspace_matmul_i2s_i8row_panel(void* plugin, const bitnet_shape* shape) noexcept {
    return Panel::workspace_size(plugin, shape);
}

bitnet_status run_matmul_i2s_i8row_panel(void* plugin, const void* args, void* workspace) noexcept {
    return Panel::run(plugin, args, workspace);
}

} // namespace bitnet::avx512
