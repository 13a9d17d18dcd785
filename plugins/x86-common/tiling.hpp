// Loop structure shared by the x86 matmul kernels, ISA-free: a thread owns a contiguous run of
// output rows (weights are read once, in file order, by one thread); inside it, tokens go in chunks
// whose per-token data (Σq, block sums) fits a stack table, and each tile of MR rows x up to NT
// tokens is computed by a register-blocked micro-kernel. The MR rows' weights (a few KiB) stay in
// L1 while every token tile of the chunk reuses them, so prefill streams each weight once per
// chunk of tokens.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace bitnet::x86 {

// Calls f.template operator()<R, T>() for the runtime tile (rows in {MR, 1}, tokens in 1..4):
// micro-kernels are instantiated for each shape so their accumulators live in registers.
template <int MR, class F>
inline void dispatch_tile(int rows, int tokens, F&& f) {
    auto by_tokens = [&]<int R>() {
        switch (tokens) {
        case 1: f.template operator()<R, 1>(); break;
        case 2: f.template operator()<R, 2>(); break;
        case 3: f.template operator()<R, 3>(); break;
        default: f.template operator()<R, 4>(); break;
        }
    };
    if (rows == MR) by_tokens.template operator()<MR>();
    else by_tokens.template operator()<1>();
}

// Walks rows [n0, n1) of a thread and tokens [0, m) as described above. chunk(t0, tc) prepares
// per-token data for tokens [t0, t0+tc); tile(n, rows, t0, tokens) computes one tile.
template <int MR, int NT, class Chunk, class Tile>
inline void walk_tiles(int64_t n0, int64_t n1, int64_t m, int64_t chunk_tokens, Chunk&& chunk,
                       Tile&& tile) {
    for (int64_t c0 = 0; c0 < m; c0 += chunk_tokens) {
        const int64_t cc = std::min(chunk_tokens, m - c0);
        chunk(c0, cc);
        for (int64_t n = n0; n < n1;) {
            const int rows = n + MR <= n1 ? MR : 1;
            for (int64_t t = c0; t < c0 + cc; t += NT)
                tile(n, rows, t, static_cast<int>(std::min<int64_t>(NT, c0 + cc - t)));
            n += rows;
        }
    }
}

// Decode (M = 1): rows [n0, n1) in groups of GR side by side, then one at a time;
// group.template operator()<R>(n) computes rows n .. n+R-1 (R is GR or 1).
template <int GR, class Group>
inline void walk_row_groups(int64_t n0, int64_t n1, Group&& group) {
    int64_t n = n0;
    for (; n + GR <= n1; n += GR) group.template operator()<GR>(n);
    for (; n < n1; ++n) group.template operator()<1>(n);
}

// Prefetches [p, p + bytes) into L1, a line at a time. Addresses past the tensor are harmless
// (prefetches never fault), so callers need not clip the last rows.
inline void prefetch(const void* p, size_t bytes) {
    const auto* c = static_cast<const char*>(p);
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 3);
}

// Decode over rows [n0, n1) of a weight matrix with `rb` bytes per row, as walk_row_groups, for
// micro-kernels that prefetch a group ahead while computing one: group(n, pf) gets the distance
// in bytes to prefetch at (`ahead` groups of GR rows on), or 0 when the next group is not all in
// the range. The range's first `ahead` groups are requested up front. The host cuts a matmul into
// several parts per thread, and each part would otherwise start on DRAM latency and end fetching
// rows another part reads.
template <int GR, class Group>
inline void walk_gemv_rows(const void* w, size_t rb, int64_t n0, int64_t n1, Group&& group, int64_t ahead = 1) {
    prefetch(static_cast<const char*>(w) + n0 * rb, static_cast<size_t>(std::min<int64_t>(GR * ahead, n1 - n0)) * rb);
    walk_row_groups<GR>(n0, n1, [&]<int R>(int64_t n) {
        group.template operator()<R>(n, n + R + GR <= n1 ? static_cast<size_t>(GR * ahead) * rb : size_t{0});
    });
}

// Requests [p, p + bytes) into L1 in address order, a few lines per step() so that `steps` calls
// cover it. Decode tiles read R rows side by side, one block of each in turn, but the R rows are
// one contiguous span: asking for the span ahead in address order rather than in the order the
// tile reads it measured 10-19 % faster on 2 threads (the I2_S and Q6_K kernels' notes).
// bytes = 0: nothing.
class SpanPrefetch {
public:
    SpanPrefetch(const void* p, size_t bytes, int64_t steps)
        : next_(static_cast<const char*>(p)), end_(next_ + bytes),
          per_step_((static_cast<int64_t>(bytes) + 64 * steps - 1) / (64 * std::max<int64_t>(steps, 1))) {}
    void step() {
        for (int64_t i = 0; i < per_step_ && next_ < end_; ++i, next_ += 64) __builtin_prefetch(next_, 0, 3);
    }

private:
    const char* next_;
    const char* end_;
    int64_t per_step_;
};

// How many groups of `group_bytes` ahead a decode GEMV prefetches: about kSpanPrefetchBytes,
// at least the next group. ~12 KiB beat the next group alone for the 5 KiB groups of the I2_S
// kernels at K = 2560 (avx512/matmul_ternary.cpp).
inline constexpr size_t kSpanPrefetchBytes = 12 * 1024;
inline int64_t groups_ahead(size_t group_bytes) {
    return std::max<int64_t>(1, static_cast<int64_t>((kSpanPrefetchBytes + group_bytes / 2) / std::max<size_t>(group_bytes, 1)));
}

// How far ahead (in weight rows) the ternary GEMM tiles prefetch when a call has only a few
// tokens (M <= 4), which still streams the weights once as decode does: a tile is done in tens
// of nanoseconds, faster than the hardware prefetcher ramps up on the short per-row streams. 64
// rows (~40 KiB at K=2560) measured best of 16/32/64/128 on the cold I2_S GEMV benchmark of the
// time (bench/kernel_bench.cpp, .../m1/t1/cold); the M = 1 kernels now use SpanPrefetch.
inline constexpr int64_t kWeightPrefetchRows = 64;


} // namespace bitnet::x86
