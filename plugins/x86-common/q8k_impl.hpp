// Int8 activations of the float-head kernels that multiply integers, quantized the way llama.cpp
// does for the head's weight format, and the matmul loop they share:
//  - Q6_K heads take Q8_K (quantize_row_q8_K_ref): the I8_B256 quantizer (quantize_impl.hpp, bit
//    for bit formats::quantize_act_row_b256) plus the 16-element sums the Q6_K offset of 32 needs;
//  - Q8_0 heads take Q8_0 (quantize_row_q8_0_ref, formats' Q8_0 encoder): int8 per 32-block with
//    an fp16 scale, plus each block's Σq (the avx512 kernel's unsigned-weight bias).
// Quantizing costs K elements per token, noise next to the head's weights.
#pragma once

#include "quantize_impl.hpp"
#include "tiling.hpp"

#include <cstddef>
#include <cstdint>

namespace bitnet::x86 {

// One token's Q8_K record in a caller's buffer: q[K] (64-aligned), bsum[K/16], d[K/256].
struct Q8KRow {
    const int8_t* q;
    const int16_t* bsum;
    const float* d;
};

inline size_t q8k_record_bytes(int64_t k) {
    const size_t raw = static_cast<size_t>(k) + static_cast<size_t>(k) / 16 * 2 + static_cast<size_t>(k) / 256 * 4;
    return (raw + 63) / 64 * 64;
}

inline Q8KRow q8k_view(const uint8_t* rec, int64_t k) {
    return {reinterpret_cast<const int8_t*>(rec), reinterpret_cast<const int16_t*>(rec + k),
            reinterpret_cast<const float*>(rec + k + k / 16 * 2)};
}

// k is a multiple of 256. rec is 64-aligned, q8k_record_bytes(k) long. S: the ISA's Simd.
template <class S>
void q8k_quantize(const float* x, int64_t k, uint8_t* rec) {
    auto* q = reinterpret_cast<int8_t*>(rec);
    auto* bsum = reinterpret_cast<int16_t*>(rec + k);
    auto* d = reinterpret_cast<float*>(rec + k + k / 16 * 2);
    Quantize<S>::row_b256(x, k, q, d);
    for (int64_t j = 0; j < k / 16; ++j) {
        int32_t s = 0;
        for (int i = 0; i < 16; ++i) s += q[16 * j + i];
        bsum[j] = static_cast<int16_t>(s);
    }
}

// One token's Q8_0 record: q[K] (64-aligned), d[K/32] (the fp16 scales as floats), sum[K/32] (Σq).
struct Q8_0Row {
    const int8_t* q;
    const float* d;
    const int32_t* sum;
};

inline size_t q8_0_record_bytes(int64_t k) {
    const size_t raw = static_cast<size_t>(k) + static_cast<size_t>(k) / 32 * 8;
    return (raw + 63) / 64 * 64;
}

// The record formats the loop below takes: block length along K, bytes per token, the view the
// tile reads and the quantizer over an ISA's Simd S (k a multiple of kBlock, rec 64-aligned).
struct Q8KRecord {
    using Row = Q8KRow;
    static constexpr int64_t kBlock = 256;
    static size_t bytes(int64_t k) { return q8k_record_bytes(k); }
    static Row view(const uint8_t* rec, int64_t k) { return q8k_view(rec, k); }
    template <class S>
    static void quantize(const float* x, int64_t k, uint8_t* rec) { q8k_quantize<S>(x, k, rec); }
};

struct Q8_0Record {
    using Row = Q8_0Row;
    static constexpr int64_t kBlock = 32;
    static size_t bytes(int64_t k) { return q8_0_record_bytes(k); }
    static Row view(const uint8_t* rec, int64_t k) {
        return {reinterpret_cast<const int8_t*>(rec), reinterpret_cast<const float*>(rec + k),
                reinterpret_cast<const int32_t*>(rec + k + k / 32 * 4)};
    }
    template <class S>
    static void quantize(const float* x, int64_t k, uint8_t* rec) {
        Quantize<S>::row_q8_0(x, k, reinterpret_cast<int8_t*>(rec), reinterpret_cast<float*>(rec + k),
                              reinterpret_cast<int32_t*>(rec + k + k / 32 * 4));
    }
};

// The int8-activation matmul loop, the same for every ISA and record: each thread quantizes the
// tokens it needs into a stack buffer (nothing allocated, nothing shared) and runs
// tile.template operator()<R, T>(w, rb, blocks, xs, prefetch, out) (blocks = K / Rec::kBlock).
// Decode (M = 1) streams the head once in groups of GR rows, T = 1, and asks for prefetch: how
// many rows are in flight is what sets the bandwidth there (see the callers' GR). More tokens walk
// MR-row x NT-token tiles (NT = 4, dispatch_tile's limit) and re-read each row's blocks from L1 per
// token tile. Returns false, doing nothing, when one token's record does not fit the buffer (K over
// ~43k for Q8_K, ~39k for Q8_0): the caller keeps its f32 path.
constexpr size_t kQ8KBuf = 48 * 1024;
constexpr int64_t kQ8KMaxTokens = 64;

template <class Rec, class S, int GR, int MR, int NT, class Tile>
bool q8_act_matmul(const Plugin& p, const bitnet_matmul_args& a, size_t rb, int64_t row_align, Tile&& tile) {
    static_assert(NT == 4, "dispatch_tile covers 1..4 tokens");
    const int64_t K = a.k, nb = K / Rec::kBlock;
    const size_t rec = Rec::bytes(K);
    if (rec > kQ8KBuf) return false;
    const auto* W = static_cast<const uint8_t*>(a.w->data);
    if (a.m == 1) {
        parallel_ranges(p, a.n, row_align, [&](int64_t n0, int64_t n1) {
            alignas(64) uint8_t buf[kQ8KBuf];
            Rec::template quantize<S>(a.x_f32, K, buf);
            const typename Rec::Row xs[1] = {Rec::view(buf, K)};
            walk_row_groups<GR>(n0, n1, [&]<int R>(int64_t n) {
                float out[GR][NT];
                tile.template operator()<R, 1>(W + n * rb, rb, nb, xs, true, out);
                for (int r = 0; r < R; ++r) a.y[n + r] = out[r][0] * a.w->scale;
            });
        });
        return true;
    }
    const int64_t chunk = std::min<int64_t>(static_cast<int64_t>(kQ8KBuf / rec), kQ8KMaxTokens);
    parallel_ranges(p, a.n, row_align, [&](int64_t n0, int64_t n1) {
        alignas(64) uint8_t buf[kQ8KBuf];
        int64_t c0 = 0;
        walk_tiles<MR, NT>(
            n0, n1, a.m, chunk,
            [&](int64_t t0, int64_t tc) {
                c0 = t0;
                for (int64_t t = 0; t < tc; ++t)
                    Rec::template quantize<S>(a.x_f32 + (t0 + t) * a.ldx, K, buf + t * rec);
            },
            [&](int64_t n, int rows, int64_t t0, int tokens) {
                typename Rec::Row xs[NT];
                for (int t = 0; t < tokens; ++t) xs[t] = Rec::view(buf + (t0 - c0 + t) * rec, K);
                float out[MR][NT];
                dispatch_tile<MR>(rows, tokens, [&]<int R, int T>() {
                    tile.template operator()<R, T>(W + n * rb, rb, nb, xs, false, out);
                });
                for (int t = 0; t < tokens; ++t)
                    for (int r = 0; r < rows; ++r) a.y[(t0 + t) * a.ldy + n + r] = out[r][t] * a.w->scale;
            });
    });
    return true;
}

} // namespace bitnet::x86
