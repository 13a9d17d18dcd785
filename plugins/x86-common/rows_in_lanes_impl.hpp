// Prefill GEMM of ternary weights with output rows in vector lanes, ISA- and format-free: avx512
// (I2_S 16 rows x 24 tokens, TQ2_0 16 x 12) and avx2 with AVX-VNNI (I2_S 8 x 12) supply the
// vector parts. Written for I2_S first; TQ2_0 adds a scale per row and 256-block.
//
// The tile GEMMs keep one accumulator per (row, token) whose lanes must be summed at the end (a
// horizontal sum per accumulator: a fifth of the work at K = 2560) and decode each weight
// register for a few tokens only. Here lane i of an accumulator is row n + i: a vector of weight
// codes holds 4 consecutive k of kRows rows, the activation operand is one 4-byte group of one
// token broadcast from memory, and each code register feeds kTokens tokens. The epilogue is one
// vector conversion per kRows outputs.
//
// Two reorderings make that possible, both into the workspace:
// - the rows' codes are transposed once per call (S: dword c of kRows rows side by side), a block
//   of kBlockGroups row groups at a time, then every token tile runs over the block;
// - the activations are copied so that the same 4 bytes of consecutive tokens sit 64 bytes apart:
//   each broadcast is then the tile's base pointer plus a constant (t * 64), for every token.
//
// The integer dots are exact and the epilogue is the scalar reference's (float(dot − Σq) / xs ·
// ws), so outputs are bit-identical to it.
//
// Isa (one ISA's kernel for one weight format) provides: V (the code vector), kRows, kTokens,
// kName, and from a format half (I2sRowsFormat, Tq2RowsFormat below) kActType, kKMultiple, kMaxK,
//   row_bytes(k)                               bytes of one weight row,
//   s_vectors(k)                               V's of one transposed row group,
//   token_ints(k)                              int32 of per-token data (I2_S: Σq; TQ2_0: Σq per block),
//   prep_token(q, k, ints)                     fills them from the token's int8 row;
// and itself
//   transpose_rows(w, rb, rows, k, V* s)       the row group (zero lanes past `rows`),
//   panel<T>(s, xt, k, ints, scales, V* acc)   acc[t] of tokens t0.. (ints/scales of token t0 on,
//                                              token_ints(k) / scales-per-token apart),
//   store_rows(y, rows, acc, ints, scales, ws) the epilogue of one token's kRows outputs.
#pragma once

#include "x86_plugin.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

namespace bitnet::x86 {

// The weight-format half of a kernel (ISA-free): what a row is and what each token needs. SumQ is
// the ISA's Σ of int8 (sum_q(q, len), len a multiple of 64).
template <class SumQ>
struct I2sRowsFormat {
    static constexpr bitnet_act_type kActType = BITNET_ACT_I8_ROW;
    static constexpr int32_t kKMultiple = 128;
    static constexpr int64_t kMaxK = int64_t{1} << 22; // |lane| <= 2*128*K < 2^31
    static size_t row_bytes(int64_t k) { return i2s_row_bytes(k); }
    static int64_t s_vectors(int64_t k) { return k / 16; }
    static int64_t token_ints(int64_t) { return 1; }
    static void prep_token(const int8_t* q, int64_t k, int32_t* ints) { ints[0] = SumQ::sum_q(q, k); }
};

// TQ2_0 (and TQ1_0 decoded to it): per 256-block the row group's 16 code vectors, then one vector
// of the rows' block scales; per token Σq of each block.
template <class SumQ>
struct Tq2RowsFormat {
    static constexpr bitnet_act_type kActType = BITNET_ACT_I8_B256;
    static constexpr int32_t kKMultiple = 256;
    static constexpr int64_t kMaxK = int64_t{1} << 30; // lanes are per block: |sumi| <= 256*2*128
    static size_t row_bytes(int64_t k) { return tq2_row_bytes(k); }
    static int64_t s_vectors(int64_t k) { return k / 256 * 17; }
    static int64_t token_ints(int64_t k) { return k / 256; }
    static void prep_token(const int8_t* q, int64_t k, int32_t* ints) {
        for (int64_t b = 0; b < k / 256; ++b) ints[b] = SumQ::sum_q(q + b * 256, 256);
    }
};

template <class Isa>
struct RowsInLanes {
    using V = typename Isa::V;
    static constexpr int kRows = Isa::kRows;
    static constexpr int kTokens = Isa::kTokens;
    static constexpr int kBlockGroups = 4;               // row groups transposed together

    // Workspace: the reordered activations, the per-token ints, then one S block per part.
    struct Layout {
        size_t ints_off, s_off, s_bytes, total;
    };
    static constexpr size_t round64(size_t v) { return (v + 63) / 64 * 64; }
    static Layout layout(int64_t m, int64_t k, int32_t parts) {
        Layout l{};
        const int64_t tiles = (m + kTokens - 1) / kTokens;
        l.ints_off = round64(static_cast<size_t>(tiles * kTokens * k));
        l.s_off = round64(l.ints_off + static_cast<size_t>(m * Isa::token_ints(k)) * 4);
        l.s_bytes = static_cast<size_t>(Isa::s_vectors(k)) * sizeof(V) * kBlockGroups;
        l.total = l.s_off + static_cast<size_t>(parts) * l.s_bytes;
        return l;
    }
    static int32_t parts_of(const Plugin& p) {
        return p.host != nullptr && p.host->n_threads > 1 ? p.host->n_threads : 1;
    }

    // Activations of token tile `tile`: for each 64-byte column block cb of K, kTokens slots of 64
    // bytes. Byte j of token t's column block cb is at tile_base + (cb * kTokens + t) * 64 + j.
    static uint8_t* x_tile(uint8_t* xr, int64_t tile, int64_t k) { return xr + tile * kTokens * k; }

    template <int T = kTokens>
    static void dispatch_panel(int tokens, const V* s, const uint8_t* xt, int64_t k, const int32_t* ints,
                               const float* scales, V* acc) {
        if constexpr (T > 1)
            if (tokens < T) return dispatch_panel<T - 1>(tokens, s, xt, k, ints, scales, acc);
        Isa::template panel<T>(s, xt, k, ints, scales, acc);
    }

    static size_t workspace_size(void* plugin, const bitnet_shape* shape) noexcept {
        const Plugin* p = as_plugin(plugin);
        if (p == nullptr || shape == nullptr || shape->m <= 0 || shape->k <= 0) return 0;
        return layout(shape->m, shape->k, parts_of(*p)).total;
    }

    static bitnet_status run(void* plugin, const void* args, void* workspace) noexcept {
        return run_matmul(plugin, args, Isa::kName, Isa::kActType, Isa::kKMultiple, &Isa::row_bytes,
                          [&](const Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
                              if (a.k > Isa::kMaxK) return invalid(p, Isa::kName, "k too large for the kernel's int32 lanes");
                              if (workspace == nullptr) return invalid(p, Isa::kName, "workspace is NULL (see workspace_size)");
                              if (reinterpret_cast<uintptr_t>(workspace) % 64 != 0)
                                  return invalid(p, Isa::kName, "workspace is not 64-byte aligned");
                              return matmul(p, a, static_cast<uint8_t*>(workspace));
                          });
    }

    static bitnet_status matmul(const Plugin& p, const bitnet_matmul_args& a, uint8_t* ws) {
        const int64_t M = a.m, K = a.k, N = a.n;
        const int32_t parts = parts_of(p);
        const Layout l = layout(M, K, parts);
        uint8_t* xr = ws;
        auto* ints = reinterpret_cast<int32_t*>(ws + l.ints_off);
        const int64_t per_token = Isa::token_ints(K);
        const int64_t scales_per_token = Isa::kActType == BITNET_ACT_I8_B256 ? K / 256 : 1;
        const bitnet_qact& xq = *a.x_q;

        auto reorder = [&](int32_t ith, int32_t nth) noexcept {
            const sdk::Range r = sdk::split(M, ith, nth);
            for (int64_t m = r.begin; m < r.end; ++m) {
                const int8_t* src = xq.data + m * xq.row_stride;
                uint8_t* base = x_tile(xr, m / kTokens, K) + (m % kTokens) * 64;
                for (int64_t cb = 0; cb < K / 64; ++cb) std::memcpy(base + cb * kTokens * 64, src + cb * 64, 64);
                if (Isa::kActType == BITNET_ACT_I8_ROW && xq.row_sums != nullptr) ints[m] = xq.row_sums[m];
                else Isa::prep_token(src, K, ints + m * per_token);
            }
        };
        sdk::parallel_for(p.host, reorder);

        const auto* W = static_cast<const uint8_t*>(a.w->data);
        const size_t rb = Isa::row_bytes(K);
        std::atomic<bool> overrun{false};
        auto compute = [&](int32_t ith, int32_t nth) noexcept {
            if (ith >= parts) { // the workspace holds one S block per n_threads part
                overrun.store(true);
                return;
            }
            V* s = reinterpret_cast<V*>(ws + l.s_off + static_cast<size_t>(ith) * l.s_bytes);
            const int64_t group_cols = Isa::s_vectors(K); // vectors per transposed group
            alignas(64) V acc[kTokens];
            const sdk::Range r = sdk::split(N, ith, nth, kRows);
            for (int64_t nb = r.begin; nb < r.end; nb += kBlockGroups * kRows) {
                const int64_t ne = std::min(r.end, nb + kBlockGroups * kRows);
                for (int64_t n = nb; n < ne; n += kRows)
                    Isa::transpose_rows(W + n * rb, rb, static_cast<int>(std::min<int64_t>(kRows, ne - n)), K,
                                        s + (n - nb) / kRows * group_cols);
                // The next block's rows toward L2 while this one computes, a slice before each
                // panel call: the block's rows are more short streams than the hardware
                // prefetcher follows, and a burst of hundreds of prefetches stalls on the miss
                // queue (perf showed it).
                const char* pf = reinterpret_cast<const char*>(W + ne * rb);
                const char* const pf_end =
                    reinterpret_cast<const char*>(W + std::min(r.end, ne + kBlockGroups * kRows) * rb);
                const int64_t calls = (M + kTokens - 1) / kTokens * ((ne - nb + kRows - 1) / kRows);
                const int64_t pf_step = ((pf_end - pf) / calls + 63) / 64 * 64;
                for (int64_t t0 = 0; t0 < M; t0 += kTokens) {
                    const int tokens = static_cast<int>(std::min<int64_t>(kTokens, M - t0));
                    const uint8_t* xt = x_tile(xr, t0 / kTokens, K);
                    for (int64_t n = nb; n < ne; n += kRows) {
                        const char* const slice_end = std::min(pf + pf_step, pf_end);
                        for (; pf < slice_end; pf += 64) _mm_prefetch(pf, _MM_HINT_T1);
                        dispatch_panel(tokens, s + (n - nb) / kRows * group_cols, xt, K, ints + t0 * per_token,
                                       xq.scales + t0 * scales_per_token, acc);
                        const int rows = static_cast<int>(std::min<int64_t>(kRows, ne - n));
                        for (int t = 0; t < tokens; ++t) {
                            const int64_t m = t0 + t;
                            Isa::store_rows(a.y + m * a.ldy + n, rows, acc[t], ints + m * per_token,
                                            xq.scales + m * scales_per_token, a.w->scale);
                        }
                    }
                }
            }
        };
        sdk::parallel_for(p.host, compute);
        return overrun.load() ? invalid(p, Isa::kName, "host split work into more parts than n_threads") : BITNET_OK;
    }
};

} // namespace bitnet::x86
