// The AVX-VNNI rows-in-lanes prefill GEMMs (x86-common/rows_in_lanes_impl.hpp): 8 rows per ymm.
// I2_S: 12 tokens per tile (12 accumulators, the codes, a mask and the broadcast fill the 16 ymm).
// TQ2_0: 6 tokens (an int and a float accumulator each). Compiled with -mavxvnni: the kernels'
// `supports` keeps them off CPUs without AVX-VNNI (the avx2 plugin's own probe asks for AVX2
// only), and run() refuses there too.
#include "avx2.hpp"
#include "simd.hpp"

#include "cpu_probe.hpp"
#include "rows_in_lanes_impl.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace bitnet::avx2 {
namespace {

constexpr int kPanelTokens = 12;

struct PanelIsa : x86::I2sRowsFormat<PanelIsa> {
    using V = __m256i;
    static constexpr int kRows = 8, kTokens = kPanelTokens;
    static constexpr const char* kName = "matmul_i2s_i8row_panel8x12__avxvnni";
    // S[c] = dword c (bytes 4c..4c+3) of rows 0..rows-1, zero lanes past `rows`: an 8x8 dword
    // transpose per 32 bytes of the rows.
    static void transpose_rows(const uint8_t* w, size_t rb, int rows, int64_t k, __m256i* s) {
        const int64_t cols = k / 16; // a multiple of 8
        for (int64_t c0 = 0; c0 < cols; c0 += 8) {
            __m256i r[8], t[8];
    #pragma GCC unroll 8
            for (int i = 0; i < 8; ++i)
                r[i] = i < rows ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i * rb + c0 * 4)) : _mm256_setzero_si256();
    #pragma GCC unroll 4
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
                t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
            }
            // r[4g + c]: 128-bit lane L holds rows 4g..4g+3 of column 4L + c.
    #pragma GCC unroll 2
            for (int i = 0; i < 8; i += 4) {
                r[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
                r[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
                r[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
                r[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
            }
    #pragma GCC unroll 4
            for (int c = 0; c < 4; ++c) {
                s[c0 + c] = _mm256_permute2x128_si256(r[c], r[4 + c], 0x20);
                s[c0 + 4 + c] = _mm256_permute2x128_si256(r[c], r[4 + c], 0x31);
            }
        }
    }

    static __m256i bcast(const uint8_t* p) {
        int32_t v;
        std::memcpy(&v, p, 4);
        return _mm256_set1_epi32(v);
    }

    // acc[t] (lane i = row i) = Σ_k code(row i, k) · q(token t, k); the field/offset map is the
    // avx512 panel's (avx512/matmul_panel.cpp), with 12 token slots per column block.
    template <int T>
    [[gnu::noinline]] static void panel(const __m256i* s, const uint8_t* xt, int64_t k, const int32_t*, const float*,
                                        __m256i* out) {
        const __m256i three = _mm256_set1_epi8(3);
        __m256i acc[T];
    #pragma GCC unroll 12
        for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_si256();
        constexpr int64_t kPair = 2 * kPanelTokens * 64;
        for (int64_t blk = 0; blk < k / 128; ++blk) {
            const uint8_t* xb = xt + blk * kPair;
            for (int j = 0; j < 8; ++j, xb += 4) {
                const __m256i raw = _mm256_load_si256(s + blk * 8 + j);
    #pragma GCC unroll 4
                for (int f = 0; f < 4; ++f) {
                    const __m256i code = _mm256_and_si256(_mm256_srli_epi16(raw, 6 - 2 * f), three);
                    const uint8_t* xf = xb + (f / 2) * kPanelTokens * 64 + (f % 2) * 32;
    #pragma GCC unroll 12
                    for (int t = 0; t < T; ++t) acc[t] = _mm256_dpbusd_avx_epi32(acc[t], code, bcast(xf + t * 64));
                }
            }
        }
    #pragma GCC unroll 12
        for (int t = 0; t < T; ++t) _mm256_store_si256(out + t, acc[t]);
    }

    static void store_rows(float* y, int rows, V acc, const int32_t* ints, const float* xscales, float wscale) {
        const int32_t qsum = ints[0];
        const float xscale = xscales[0];
        const __m256i d = _mm256_sub_epi32(acc, _mm256_set1_epi32(qsum));
        const __m256 unscaled = _mm256_div_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(xscale));
        store_floats(y, rows, _mm256_mul_ps(unscaled, _mm256_set1_ps(wscale)));
    }
    // y[0..rows) = the first `rows` lanes of v.
    static void store_floats(float* y, int rows, __m256 v) {
        if (rows == kRows) {
            _mm256_storeu_ps(y, v);
        } else {
            const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            _mm256_maskstore_ps(y, live, v);
        }
    }
    static int32_t sum_q(const int8_t* q, int64_t len) {
        __m256i acc = _mm256_setzero_si256();
        const __m256i ones = _mm256_set1_epi8(1);
        for (int64_t i = 0; i < len; i += 32)
            acc = _mm256_dpbusd_avx_epi32(acc, ones, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + i)));
        __m128i v = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
        v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
        return _mm_cvtsi128_si32(v);
    }
};

using Panel = x86::RowsInLanes<PanelIsa>;

// TQ2_0 as avx512/matmul_panel.cpp does it (its comment has the layout), 8 rows and 6 tokens.
constexpr int kTq2Tokens = 6;

struct Tq2PanelIsa : x86::Tq2RowsFormat<PanelIsa> {
    using V = __m256i;
    static constexpr int kRows = 8, kTokens = kTq2Tokens;
    static constexpr const char* kName = "matmul_tq2_0_i8b256_panel8x6__avxvnni";
    // Per block: the 64 code bytes of the 8 rows as 16 vectors of dwords, then the rows' d.
    static void transpose_rows(const uint8_t* w, size_t rb, int rows, int64_t k, V* s) {
        for (int64_t b = 0; b < k / 256; ++b) {
            PanelIsa::transpose_rows(w + b * 66, rb, rows, 256, s + b * 17);
            alignas(32) float d[8] = {};
            for (int r = 0; r < rows; ++r) d[r] = half_to_float(w + r * rb + b * 66 + 64);
            s[b * 17 + 16] = _mm256_castps_si256(_mm256_load_ps(d));
        }
    }
    template <int T>
    [[gnu::noinline]] static void panel(const V* s, const uint8_t* xt, int64_t k, const int32_t* bs,
                                        const float* da, V* out) {
        const int64_t nb = k / 256;
        const __m256i three = _mm256_set1_epi8(3);
        __m256 sumf[T];
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) sumf[t] = _mm256_setzero_ps();
        constexpr int64_t kColumn = kTq2Tokens * 64;
        for (int64_t b = 0; b < nb; ++b) {
            __m256i acc[T];
#pragma GCC unroll 6
            for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_si256();
            const V* sb = s + b * 17;
            for (int c = 0; c < 16; ++c) {
                const __m256i raw = _mm256_load_si256(sb + c);
                const uint8_t* xc = xt + (4 * b + 2 * (c / 8)) * kColumn + 4 * (c % 8);
#pragma GCC unroll 4
                for (int l = 0; l < 4; ++l) {
                    const __m256i code = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * l), three);
                    const uint8_t* xf = xc + (l / 2) * kColumn + (l % 2) * 32;
#pragma GCC unroll 6
                    for (int t = 0; t < T; ++t) acc[t] = _mm256_dpbusd_avx_epi32(acc[t], code, PanelIsa::bcast(xf + t * 64));
                }
            }
            const __m256 dw = _mm256_castsi256_ps(_mm256_load_si256(sb + 16));
#pragma GCC unroll 6
            for (int t = 0; t < T; ++t) {
                const __m256i sumi = _mm256_sub_epi32(acc[t], _mm256_set1_epi32(bs[t * nb + b]));
                const __m256 d = _mm256_mul_ps(_mm256_set1_ps(da[t * nb + b]), dw);
                sumf[t] = _mm256_add_ps(sumf[t], _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), d));
            }
        }
#pragma GCC unroll 6
        for (int t = 0; t < T; ++t) _mm256_store_si256(out + t, _mm256_castps_si256(sumf[t]));
    }
    static void store_rows(float* y, int rows, V acc, const int32_t*, const float*, float wscale) {
        PanelIsa::store_floats(y, rows, _mm256_mul_ps(_mm256_castsi256_ps(acc), _mm256_set1_ps(wscale)));
    }
};

using Tq2Panel = x86::RowsInLanes<Tq2PanelIsa>;

} // namespace

int32_t supports_matmul_tq2_0_i8b256_panel(void*, const bitnet_shape*) noexcept { return x86::cpu_has_avx_vnni() ? 1 : 0; }

size_t workspace_matmul_tq2_0_i8b256_panel(void* plugin, const bitnet_shape* shape) noexcept {
    return Tq2Panel::workspace_size(plugin, shape);
}

bitnet_status run_matmul_tq2_0_i8b256_panel(void* plugin, const void* args, void* workspace) noexcept {
    if (!x86::cpu_has_avx_vnni()) return BITNET_ERR_UNSUPPORTED;
    return Tq2Panel::run(plugin, args, workspace);
}

int32_t supports_matmul_i2s_i8row_panel(void*, const bitnet_shape*) noexcept { return x86::cpu_has_avx_vnni() ? 1 : 0; }

size_t workspace_matmul_i2s_i8row_panel(void* plugin, const bitnet_shape* shape) noexcept {
    return Panel::workspace_size(plugin, shape);
}

bitnet_status run_matmul_i2s_i8row_panel(void* plugin, const void* args, void* workspace) noexcept {
    if (!x86::cpu_has_avx_vnni()) return BITNET_ERR_UNSUPPORTED;
    return Panel::run(plugin, args, workspace);
}

} // namespace bitnet::avx2
