// I2_S prefill GEMM with output rows in vector lanes. The 4x5 tile of matmul_ternary.cpp keeps
// one accumulator per (row, token) whose 16 lanes must be summed at the end (a horizontal sum and
// a shift per accumulator: a fifth of the work at K = 2560) and decodes each weight register for
// only 5 tokens. Here lane i of an accumulator is row n + i: a zmm of weight codes holds 4
// consecutive k of 16 rows, the activation operand is one 4-byte group of one token broadcast from
// memory (vpdpbusd's {1to16} form, no register and no shuffle), and each code register feeds 24
// tokens. The epilogue is one vector conversion per 16 outputs.
//
// Two reorderings make that possible, both into the workspace:
// - the 16 rows' codes are transposed once per row group (S: dword c of every row side by side),
//   and reused by every token of the chunk;
// - the activations are copied so that the same 4 bytes of consecutive tokens sit 64 bytes apart:
//   each broadcast is then the tile's base pointer plus a constant (t * 64), for all 24 tokens.
//
// The integer dots are exact and the epilogue is the scalar reference's (float(dot − Σq) / xs ·
// ws), so outputs are bit-identical to it.
#include "avx512.hpp"
#include "simd.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

namespace bitnet::avx512 {
namespace {

using x86::Plugin;

constexpr int kLaneRows = 16;         // rows per accumulator (one per int32 lane)
constexpr int kPanelTokens = 24;      // accumulators: 24 + codes + mask stay in the 32 zmm
constexpr int kBlockGroups = 4;       // row groups transposed together, then swept by every token tile
constexpr int64_t kMaxK = int64_t{1} << 22; // |lane| ≤ 2·128·K < 2^31

// Workspace: the reordered activations, Σq per token, then one S per part of the host's split.
struct PanelLayout {
    size_t x_off, qsum_off, s_off, s_bytes, total;
};

constexpr size_t round64(size_t v) { return (v + 63) / 64 * 64; }

PanelLayout panel_layout(int64_t m, int64_t k, int32_t parts) {
    PanelLayout l{};
    const int64_t tiles = (m + kPanelTokens - 1) / kPanelTokens;
    l.x_off = 0;
    l.qsum_off = round64(static_cast<size_t>(tiles * kPanelTokens * k));
    l.s_off = round64(l.qsum_off + static_cast<size_t>(m) * 4);
    l.s_bytes = static_cast<size_t>(k) * 4 * kBlockGroups; // 16 rows x k/4 bytes per group
    l.total = l.s_off + static_cast<size_t>(parts) * l.s_bytes;
    return l;
}

int32_t parts_of(const Plugin& p) { return p.host != nullptr && p.host->n_threads > 1 ? p.host->n_threads : 1; }

// Activations of token tile `tile`: for each 64-byte column block cb of K, 24 token slots of 64
// bytes. Byte j of token t's column block cb is at tile_base + (cb * 24 + t) * 64 + j.
inline uint8_t* x_tile(uint8_t* xr, int64_t tile, int64_t k) { return xr + tile * kPanelTokens * k; }

void reorder_token(const int8_t* src, int64_t k, uint8_t* tile_base, int t) {
    for (int64_t cb = 0; cb < k / 64; ++cb)
        _mm512_store_si512(tile_base + (cb * kPanelTokens + t) * 64, _mm512_loadu_si512(src + cb * 64));
}

int32_t sum_q(const int8_t* q, int64_t len) {
    __m512i acc = _mm512_setzero_si512();
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t i = 0; i < len; i += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(q + i));
    return hsum_i32(acc);
}

// S[c] = dword c (bytes 4c..4c+3) of rows n .. n+rows-1, zero lanes past `rows`: a 16x16 dword
// transpose per 64 bytes of the rows (unpack 32, unpack 64, two 128-bit lane shuffles). A gather
// per S[c] measured twice as slow, and at M = 64 the transpose is already a tenth of the work.
void transpose_rows(const uint8_t* w, size_t rb, int rows, int64_t k, __m512i* s) {
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
inline __m512i dpbusd_bcast(__m512i acc, __m512i code, const uint8_t* p) {
    asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(code), "m"(*reinterpret_cast<const int32_t*>(p)));
    return acc;
}

// acc[t] (lane i = row i) = Σ_k code(row i, k) · q(token t, k) over all of K.
// Byte b of I2_S block j holds weights 128j + b, +32, +64, +96 at bits 6, 4, 2, 0, so field f of
// dword c (block c / 8, bytes 4(c % 8) ..) pairs with activation bytes 128(c/8) + 4(c%8) + 32f,
// which in the reordered tile are column block 2(c/8) + f/2, byte 4(c%8) + 32(f%2).
template <int T>
[[gnu::noinline]] void panel(const __m512i* s, const uint8_t* xt, int64_t k, __m512i* out) {
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

template <int T = kPanelTokens>
void dispatch_panel(int tokens, const __m512i* s, const uint8_t* xt, int64_t k, __m512i* out) {
    if constexpr (T > 1)
        if (tokens < T) return dispatch_panel<T - 1>(tokens, s, xt, k, out);
    panel<T>(s, xt, k, out);
}

bitnet_status i2s_panel_matmul(const Plugin& p, const bitnet_matmul_args& a, void* workspace) {
    const int64_t M = a.m, K = a.k, N = a.n;
    const int32_t parts = parts_of(p);
    const PanelLayout l = panel_layout(M, K, parts);
    auto* ws = static_cast<uint8_t*>(workspace);
    uint8_t* xr = ws + l.x_off;
    auto* qsum = reinterpret_cast<int32_t*>(ws + l.qsum_off);
    const bitnet_qact& xq = *a.x_q;

    auto reorder = [&](int32_t ith, int32_t nth) noexcept {
        const sdk::Range r = sdk::split(M, ith, nth);
        for (int64_t m = r.begin; m < r.end; ++m) {
            const int8_t* src = xq.data + m * xq.row_stride;
            reorder_token(src, K, x_tile(xr, m / kPanelTokens, K), static_cast<int>(m % kPanelTokens));
            qsum[m] = xq.row_sums != nullptr ? xq.row_sums[m] : sum_q(src, K);
        }
    };
    sdk::parallel_for(p.host, reorder);

    const auto* W = static_cast<const uint8_t*>(a.w->data);
    const size_t rb = static_cast<size_t>(K / 4);
    const float wscale = a.w->scale;
    std::atomic<bool> overrun{false};
    auto compute = [&](int32_t ith, int32_t nth) noexcept {
        if (ith >= parts) {
            overrun.store(true);
            return;
        }
        auto* s = reinterpret_cast<__m512i*>(ws + l.s_off + static_cast<size_t>(ith) * l.s_bytes);
        const int64_t group_cols = K / 16; // zmm per transposed group
        alignas(64) __m512i acc[kPanelTokens];
        const sdk::Range r = sdk::split(N, ith, nth, kLaneRows);
        // A block of up to 4 row groups is transposed once (each weight is read once per call),
        // then every token tile runs over the block's groups back to back, so the tile's
        // activations are read from L2 once per block rather than once per group.
        for (int64_t nb = r.begin; nb < r.end; nb += kBlockGroups * kLaneRows) {
            const int64_t ne = std::min(r.end, nb + kBlockGroups * kLaneRows);
            for (int64_t n = nb; n < ne; n += kLaneRows)
                transpose_rows(W + n * rb, rb, static_cast<int>(std::min<int64_t>(kLaneRows, ne - n)), K,
                               s + (n - nb) / kLaneRows * group_cols);
            // The next block's rows toward L2 while this one computes, a slice before each panel
            // call: 64 short streams are more than the hardware prefetcher follows, and a burst
            // of hundreds of prefetches stalls on the miss queue.
            const char* pf = reinterpret_cast<const char*>(W + ne * rb);
            const char* const pf_end = reinterpret_cast<const char*>(W + std::min(r.end, ne + kBlockGroups * kLaneRows) * rb);
            const int64_t calls = (M + kPanelTokens - 1) / kPanelTokens * ((ne - nb + kLaneRows - 1) / kLaneRows);
            const int64_t pf_step = ((pf_end - pf) / calls + 63) / 64 * 64;
            for (int64_t t0 = 0; t0 < M; t0 += kPanelTokens) {
                const int tokens = static_cast<int>(std::min<int64_t>(kPanelTokens, M - t0));
                const uint8_t* xt = x_tile(xr, t0 / kPanelTokens, K);
                for (int64_t n = nb; n < ne; n += kLaneRows) {
                    const char* const slice_end = std::min(pf + pf_step, pf_end);
                    for (; pf < slice_end; pf += 64) _mm_prefetch(pf, _MM_HINT_T1);
                    dispatch_panel(tokens, s + (n - nb) / kLaneRows * group_cols, xt, K, acc);
                    const __mmask16 live = tail_mask(ne - n);
                    for (int t = 0; t < tokens; ++t) {
                        const int64_t m = t0 + t;
                        const __m512i d = _mm512_sub_epi32(acc[t], _mm512_set1_epi32(qsum[m]));
                        const __m512 unscaled = _mm512_div_ps(_mm512_cvtepi32_ps(d), _mm512_set1_ps(xq.scales[m]));
                        _mm512_mask_storeu_ps(a.y + m * a.ldy + n, live, _mm512_mul_ps(unscaled, _mm512_set1_ps(wscale)));
                    }
                }
            }
        }
    };
    sdk::parallel_for(p.host, compute);
    return overrun.load() ? x86::invalid(p, "matmul_i2s_i8row_panel16x24__avx512vnni", "host split work into more parts than n_threads")
                          : BITNET_OK;
}

} // namespace

size_t workspace_matmul_i2s_i8row_panel(void* plugin, const bitnet_shape* shape) noexcept {
    const Plugin* p = x86::as_plugin(plugin);
    if (p == nullptr || shape == nullptr || shape->m <= 0 || shape->k <= 0) return 0;
    return panel_layout(shape->m, shape->k, parts_of(*p)).total;
}

bitnet_status run_matmul_i2s_i8row_panel(void* plugin, const void* args, void* workspace) noexcept {
    constexpr const char* what = "matmul_i2s_i8row_panel16x24__avx512vnni";
    return x86::run_matmul(plugin, args, what, BITNET_ACT_I8_ROW, 128, &x86::i2s_row_bytes,
                           [&](const Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
                               if (a.k > kMaxK) return x86::invalid(p, what, "k above 2^22 (int32 lanes could overflow)");
                               if (workspace == nullptr) return x86::invalid(p, what, "workspace is NULL (see workspace_size)");
                               if (reinterpret_cast<uintptr_t>(workspace) % 64 != 0)
                                   return x86::invalid(p, what, "workspace is not 64-byte aligned");
                               return i2s_panel_matmul(p, a, workspace);
                           });
}

} // namespace bitnet::avx512
