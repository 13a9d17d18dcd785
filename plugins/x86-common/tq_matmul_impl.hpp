// The TQ2_0 matmul loop of the x86 plugins (TQ1_0 reaches it repacked, tq1_repack_impl.hpp), whose
// vpdpbusd / vpmaddubsw take the stored codes (t + 1, unsigned) and take Σq off per 256-block: each thread keeps those block sums for a
// chunk of tokens in a stack table. The plugin supplies sum_q(q, len), its Σ of len int8, and
// tile.template operator()<R, T>(w, xs, bs, da, sumf) over MR-row x NT-token tiles (NT = 4).
#pragma once

#include "tiling.hpp"
#include "x86_plugin.hpp"

#include <algorithm>
#include <cstdint>

namespace bitnet::x86 {

constexpr int64_t kTqTable = 4096; // int32 block sums per chunk: one token's blocks up to K = 1M

// Decode (T = 1) tiles prefetch the rows ahead themselves, spread over their block loop: the
// span about kSpanPrefetchBytes on, in address order. In `bitnet bench -p 0 -n 128 -r 2` on the
// 2B-4T TQ2_0 file, alternated call by call (a temporary switch), us per call, two runs:
//  - avx512, against a line per row per block two groups ahead: t2 ffn_gate/up 139 / 133 ->
//    125 / 117, ffn_down 134 / 131 -> 122 / 122, q/o 51 / 50 -> 45 / 44; t1 gate/up 164 / 157 ->
//    137 / 129, down 152 / 147 -> 158 / 150, q/o 63 / 61 -> 52 / 50;
//  - avx2, against a burst of the next group before each group: t2 gate/up 175 / 160 ->
//    154 / 149, down 249 / 234 -> 154 / 151, q/o 68 / 66 -> 62 / 64; t1 gate/up 274 / 282 ->
//    263 / 268, down 423 / 437 -> 260 / 266.
template <int R, int T>
SpanPrefetch tq_gemv_prefetch(const uint8_t* w, size_t rb, int64_t nb) {
    const size_t group = static_cast<size_t>(R) * rb;
    return SpanPrefetch(w + static_cast<size_t>(groups_ahead(group)) * group, T == 1 ? group : 0, nb);
}

// GR: rows a decode (M = 1) step streams side by side (the plugin's tile must take R = GR, T = 1,
// and prefetch with tq_gemv_prefetch).
template <int MR, int NT, int GR, class SumQ, class Tile>
bitnet_status tq_matmul_loop(const Plugin& p, const bitnet_matmul_args& a, int64_t row_align, SumQ&& sum_q,
                             Tile&& tile) {
    static_assert(NT == 4, "dispatch_tile covers 1..4 tokens");
    const int64_t K = a.k, nb = K / 256;
    const size_t rb = tq2_row_bytes(K);
    const auto* W = static_cast<const uint8_t*>(a.w->data);
    const bitnet_qact& xq = *a.x_q;
    if (nb > kTqTable) return invalid(p, "matmul_tq2_0", "k above 1048576");
    const int64_t chunk = std::clamp<int64_t>(kTqTable / nb, 1, 64);
    if (a.m == 1 && GR > MR) {
        // Decode: GR rows in flight (more loads outstanding, and GR independent per-block
        // reductions for the out-of-order core to overlap).
        parallel_ranges(p, a.n, row_align, [&](int64_t n0, int64_t n1) {
            int32_t sums[kTqTable];
            for (int64_t b = 0; b < nb; ++b) sums[b] = sum_q(xq.data + b * 256, 256);
            const int8_t* xs[NT] = {xq.data};
            const int32_t* bs[NT] = {sums};
            const float* da[NT] = {xq.scales};
            walk_row_groups<GR>(n0, n1, [&]<int R>(int64_t n) {
                float sumf[GR][NT];
                tile.template operator()<R, 1>(W + n * rb, rb, nb, xs, bs, da, sumf);
                for (int r = 0; r < R; ++r) a.y[n + r] = sumf[r][0] * a.w->scale;
            });
        });
        return BITNET_OK;
    }
    parallel_ranges(p, a.n, row_align, [&](int64_t n0, int64_t n1) {
        int32_t sums[kTqTable];
        int64_t c0 = 0;
        walk_tiles<MR, NT>(
            n0, n1, a.m, chunk,
            [&](int64_t t0, int64_t tc) {
                c0 = t0;
                for (int64_t t = 0; t < tc; ++t)
                    for (int64_t b = 0; b < nb; ++b) sums[t * nb + b] = sum_q(xq.data + (t0 + t) * xq.row_stride + b * 256, 256);
            },
            [&](int64_t n, int rows, int64_t t0, int tokens) {
                // Decode streams the weights cold: prefetch ahead as the I2_S kernels do.
                if (a.m <= NT && t0 == 0) prefetch(W + (n + kWeightPrefetchRows) * rb, static_cast<size_t>(rows) * rb);
                const int8_t* xs[NT];
                const int32_t* bs[NT];
                const float* da[NT];
                for (int t = 0; t < tokens; ++t) {
                    xs[t] = xq.data + (t0 + t) * xq.row_stride;
                    bs[t] = sums + (t0 + t - c0) * nb;
                    da[t] = xq.scales + (t0 + t) * nb;
                }
                float sumf[MR][NT];
                dispatch_tile<MR>(rows, tokens, [&]<int R, int T>() {
                    tile.template operator()<R, T>(W + n * rb, rb, nb, xs, bs, da, sumf);
                });
                for (int t = 0; t < tokens; ++t)
                    for (int r = 0; r < rows; ++r) a.y[(t0 + t) * a.ldy + n + r] = sumf[r][t] * a.w->scale;
            });
    });
    return BITNET_OK;
}

} // namespace bitnet::x86
