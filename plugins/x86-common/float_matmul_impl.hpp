// The float-head matmul loop (F16, Q8_0 and the f32 Q6_K fallback), the same for every ISA; each
// plugin supplies its micro-kernels. M = 1 streams the rows once, in groups of GR:
// gemv.template operator()<R>(w, y) for R = GR, then 1 for the tail. More tokens walk MR-row x
// NT-token tiles (NT = 4, dispatch_tile's limit) in chunks of 64 tokens:
// tile.template operator()<R, T>(w, xs, out), out[r][t] unscaled.
#pragma once

#include "tiling.hpp"
#include "x86_plugin.hpp"

#include <cstdint>

namespace bitnet::x86 {

template <int GR, int MR, int NT, class Gemv, class Tile>
void float_matmul_loop(const Plugin& p, const bitnet_matmul_args& a, size_t rb, int64_t row_align, Gemv&& gemv,
                       Tile&& tile) {
    static_assert(NT == 4, "dispatch_tile covers 1..4 tokens");
    const auto* W = static_cast<const uint8_t*>(a.w->data);
    if (a.m == 1) {
        parallel_ranges(p, a.n, row_align, [&](int64_t n0, int64_t n1) {
            int64_t n = n0;
            for (; n + GR <= n1; n += GR) gemv.template operator()<GR>(W + n * rb, a.y + n);
            for (; n < n1; ++n) gemv.template operator()<1>(W + n * rb, a.y + n);
        });
        return;
    }
    parallel_ranges(p, a.n, row_align, [&](int64_t n0, int64_t n1) {
        walk_tiles<MR, NT>(
            n0, n1, a.m, 64, [](int64_t, int64_t) {},
            [&](int64_t n, int rows, int64_t t0, int tokens) {
                const float* xs[NT];
                for (int t = 0; t < tokens; ++t) xs[t] = a.x_f32 + (t0 + t) * a.ldx;
                float out[MR][NT];
                dispatch_tile<MR>(rows, tokens, [&]<int R, int T>() { tile.template operator()<R, T>(W + n * rb, xs, out); });
                for (int t = 0; t < tokens; ++t)
                    for (int r = 0; r < rows; ++r) a.y[(t0 + t) * a.ldy + n + r] = out[r][t] * a.w->scale;
            });
    });
}

} // namespace bitnet::x86
