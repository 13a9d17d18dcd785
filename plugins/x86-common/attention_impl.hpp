// Causal attention over the f16 KV cache, over an ISA's Simd vocabulary, bit-exact with
// plugins/scalar/attention.cpp (ggml's non-flash path):
//  - scores: W keys at a time, one key per lane. Each lane accumulates q[d]·k[d] for d = 0, 1, ...
//    with a multiply and an add, the scalar loop's exact order, so scores match to the bit (a dot
//    vectorized over d would reorder the sum, and with probabilities rounded to f16 on decode a
//    last-bit change of a score can move a probability by an f16 ulp). Keys arrive as rows, so
//    8x8 blocks of halves are transposed with SSE2 unpacks before vcvtph2ps.
//  - softmax: libm expf per score and a running double sum, as the scalar code.
//  - probs·V: W dimensions at a time, positions in order: again the scalar order per output.
// Work items are (token, head) pairs: decode (M = 1) splits the heads over the threads, prefill
// splits (token, head). Scores live on the stack; a context longer than kChunk keys recomputes
// them per pass (max, sum, output) instead of allocating.
#pragma once

#include "x86_plugin.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace bitnet::x86 {

template <class S>
struct Attention {
    using V = typename S::V;
    static constexpr int W = S::W;
    static constexpr int32_t kMaxHeadDim = 256;
    static constexpr int64_t kChunk = 4096; // keys whose scores fit the stack buffer (16 KiB)
    static constexpr int kAcc = 8;          // output vectors held in registers during probs·V

    // 8 rows of 8 halves -> 8 columns of 8 halves (column d holds element d of every row).
    static void transpose8x8(const __m128i r[8], __m128i t[8]) {
        __m128i a[8], b[8];
        for (int i = 0; i < 4; ++i) {
            a[2 * i] = _mm_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
            a[2 * i + 1] = _mm_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 2; ++i) {
            b[4 * i + 0] = _mm_unpacklo_epi32(a[4 * i + 0], a[4 * i + 2]);
            b[4 * i + 1] = _mm_unpackhi_epi32(a[4 * i + 0], a[4 * i + 2]);
            b[4 * i + 2] = _mm_unpacklo_epi32(a[4 * i + 1], a[4 * i + 3]);
            b[4 * i + 3] = _mm_unpackhi_epi32(a[4 * i + 1], a[4 * i + 3]);
        }
        for (int i = 0; i < 4; ++i) {
            t[2 * i] = _mm_unpacklo_epi64(b[i], b[i + 4]);
            t[2 * i + 1] = _mm_unpackhi_epi64(b[i], b[i + 4]);
        }
    }

    // scores[j] = (Σ_d q[d]·k_{p0+j}[d]) · scale for j < cnt. Lanes past the last key read that
    // key again and are not stored.
    static void scores(const float* q, const uint16_t* kbase, int64_t stride, int64_t D, int64_t p0,
                       int64_t cnt, float scale, float* out) {
        for (int64_t j0 = 0; j0 < cnt; j0 += W) {
            const uint16_t* rows[W];
            for (int l = 0; l < W; ++l) rows[l] = kbase + (p0 + std::min<int64_t>(j0 + l, cnt - 1)) * stride;
            V acc = S::zero();
            for (int64_t d = 0; d < D; d += 8) { // D is a multiple of W, hence of 8
                __m128i cols[W / 8][8];
                for (int g = 0; g < W / 8; ++g) {
                    __m128i r[8];
                    for (int l = 0; l < 8; ++l) r[l] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[8 * g + l] + d));
                    transpose8x8(r, cols[g]);
                }
                for (int e = 0; e < 8; ++e) {
                    __m128i grp[W / 8];
                    for (int g = 0; g < W / 8; ++g) grp[g] = cols[g][e];
                    acc = S::add(acc, S::mul(S::set1(q[d + e]), S::cvt_ph_groups(grp)));
                }
            }
            const int64_t left = std::min<int64_t>(W, cnt - j0);
            const V s = S::mul(acc, S::set1(scale));
            if (left == W) S::storeu(out + j0, s);
            else S::store_tail(out + j0, s, left);
        }
    }

    // acc[0..D) += Σ_{j<cnt} p[j] · v_{p0+j}, positions in order; NV vectors per pass.
    template <int NV>
    static void accumulate_v(const float* p, const uint16_t* vbase, int64_t stride, int64_t D, int64_t p0,
                             int64_t cnt, float* acc) {
        for (int64_t d0 = 0; d0 < D; d0 += NV * W) {
            const int nv = static_cast<int>(std::min<int64_t>(NV, (D - d0) / W));
            V r[NV];
            for (int i = 0; i < nv; ++i) r[i] = S::loadu(acc + d0 + i * W);
            for (int64_t j = 0; j < cnt; ++j) {
                const uint16_t* v = vbase + (p0 + j) * stride + d0;
                const V pj = S::set1(p[j]);
                for (int i = 0; i < nv; ++i) r[i] = S::add(r[i], S::mul(pj, S::load_f16(v + i * W)));
            }
            for (int i = 0; i < nv; ++i) S::storeu(acc + d0 + i * W, r[i]);
        }
    }

    static void item(const bitnet_attention_args& a, int64_t t, int64_t h) {
        const int64_t D = a.head_dim;
        const int64_t kvh = h / (a.n_heads / a.n_kv_heads);
        const int64_t n_keys = a.n_past + t + 1; // causal: positions 0 .. n_past+t
        const uint16_t* kb = a.k_cache + kvh * D;
        const uint16_t* vb = a.v_cache + kvh * D;
        const bool round_probs = a.m == 1;

        alignas(64) float q[kMaxHeadDim], acc[kMaxHeadDim];
        alignas(64) float buf[kChunk];
        const float* qsrc = a.q + t * a.ldq + h * D;
        for (int64_t d = 0; d < D; d += W) { // D is a multiple of W (checked in run)
            S::storeu(q + d, S::round_f16(S::loadu(qsrc + d)));
            S::storeu(acc + d, S::zero());
        }
        const bool one_chunk = n_keys <= kChunk;

        float max_score = -INFINITY;
        for (int64_t p0 = 0; p0 < n_keys; p0 += kChunk) {
            const int64_t cnt = std::min(kChunk, n_keys - p0);
            scores(q, kb, a.kv_stride, D, p0, cnt, a.scale, buf);
            for (int64_t j = 0; j < cnt; ++j) max_score = std::max(max_score, buf[j]);
        }
        double sum = 0.0;
        for (int64_t p0 = 0; p0 < n_keys; p0 += kChunk) {
            const int64_t cnt = std::min(kChunk, n_keys - p0);
            if (!one_chunk) scores(q, kb, a.kv_stride, D, p0, cnt, a.scale, buf);
            for (int64_t j = 0; j < cnt; ++j) {
                buf[j] = std::exp(buf[j] - max_score);
                sum += buf[j];
            }
        }
        const float inv_sum = static_cast<float>(1.0 / sum);
        for (int64_t p0 = 0; p0 < n_keys; p0 += kChunk) {
            const int64_t cnt = std::min(kChunk, n_keys - p0);
            if (!one_chunk) {
                scores(q, kb, a.kv_stride, D, p0, cnt, a.scale, buf);
                for (int64_t j = 0; j < cnt; ++j) buf[j] = std::exp(buf[j] - max_score);
            }
            for (int64_t j = 0; j < cnt; j += W) {
                const int64_t left = std::min<int64_t>(W, cnt - j);
                V pv = S::mul(left == W ? S::loadu(buf + j) : S::load_tail(buf + j, left), S::set1(inv_sum));
                if (round_probs) pv = S::round_f16(pv);
                if (left == W) S::storeu(buf + j, pv);
                else S::store_tail(buf + j, pv, left);
            }
            accumulate_v<kAcc>(buf, vb, a.kv_stride, D, p0, cnt, acc);
        }
        float* out = a.out + t * a.ldo + h * D;
        for (int64_t d = 0; d < D; d += W) S::storeu(out + d, S::loadu(acc + d));
    }

    static const char* args_error(const bitnet_attention_args& a) {
        if (a.m <= 0 || a.n_past < 0) return "m must be positive and n_past >= 0";
        if (a.n_heads <= 0 || a.n_kv_heads <= 0 || a.head_dim <= 0)
            return "n_heads, n_kv_heads and head_dim must be positive";
        if (a.n_heads % a.n_kv_heads != 0) return "n_heads is not a multiple of n_kv_heads";
        if (a.q == nullptr || a.k_cache == nullptr || a.v_cache == nullptr || a.out == nullptr)
            return "q, k_cache, v_cache or out is NULL";
        const int64_t width = static_cast<int64_t>(a.n_heads) * a.head_dim;
        if (a.ldq < width || a.ldo < width) return "ldq or ldo < n_heads * head_dim";
        if (a.kv_stride < static_cast<int64_t>(a.n_kv_heads) * a.head_dim) return "kv_stride < n_kv_heads * head_dim";
        return nullptr;
    }

    static bitnet_status run(void* plugin, const void* args, const char* what) noexcept {
        return run_op<bitnet_attention_args>(
            plugin, args, what, X86_SIZE_UPTO(bitnet_attention_args, ldo),
            [&](const Plugin& p, const bitnet_attention_args& a) -> bitnet_status {
                if (const char* why = args_error(a)) return invalid(p, what, why);
                // Whole vectors per head keep every load in bounds; other sizes go to the host's
                // next kernel (scalar).
                if (a.head_dim % W != 0 || a.head_dim > kMaxHeadDim) return BITNET_ERR_UNSUPPORTED;
                const int64_t items = static_cast<int64_t>(a.m) * a.n_heads;
                parallel_ranges(p, items, 1, [&](int64_t i0, int64_t i1) {
                    for (int64_t i = i0; i < i1; ++i) item(a, i / a.n_heads, i % a.n_heads);
                });
                return BITNET_OK;
            });
    }
};

} // namespace bitnet::x86
