// Causal attention over the f16 KV cache, over an ISA's Simd vocabulary, bit-exact with
// plugins/scalar/attention.cpp (ggml's non-flash path):
//  - scores: W keys at a time, one key per lane. Each lane accumulates q[d]·k[d] for d = 0, 1, ...
//    with a multiply and an add, the scalar loop's exact order, so scores match to the bit (a dot
//    vectorized over d would reorder the sum, and with probabilities rounded to f16 on decode a
//    last-bit change of a score can move a probability by an f16 ulp). Keys arrive as rows, so
//    blocks of halves are transposed (16x16 with zmm unpacks, else 8x8 with SSE2) before vcvtph2ps.
//  - softmax: expf W scores at a time with libm's exact algorithm (expf_libm.hpp) and a running
//    double sum in key order, as the scalar code.
//  - probs·V: W dimensions at a time, positions in order: again the scalar order per output; a
//    group's heads share each converted value vector.
// Work items are (token, group of query heads sharing a KV head), so a block of keys is
// transposed once per group, not per head; a context past kChunk keys goes one head per item.
// Scores live on the stack; a context longer than kChunk keys recomputes them per pass (max, sum,
// output) instead of allocating.
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
    static constexpr int kAccRegs = W == 16 ? 16 : 8; // accumulators of probs·V over a head group
    static constexpr int kGroup = 4;        // query heads per prefill item (2B-4T: 4 per KV head)

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

    // scores[j] = (Σ_d q[d]·k_{p0+j}[d]) · scale for j < cnt.
    static void scores(const float* q, const uint16_t* kbase, int64_t stride, int64_t D, int64_t p0,
                       int64_t cnt, float scale, float* out) {
        const float* const qs[1] = {q};
        float* const outs[1] = {out};
        scores_heads<1>(qs, kbase + p0 * stride, stride, D, cnt, scale, outs);
    }

    // out[g][j] = (Σ_d q[g][d]·k_j[d]) · scale for j < cnt and G query heads that share the keys:
    // each block of keys is loaded and transposed once for all of them. Lanes past the last key
    // read that key again and are not stored.
    // Calls f(e, k) for e = 0 .. 15 in order, k holding dimension d + e of the 16 keys `rows` as
    // floats (AVX-512: W = 16). Rows i and i + 8 share a zmm (256 bits each), so one 8x8 transpose
    // of 16-bit elements per 128-bit lane (three unpack stages) leaves register e with dimensions
    // e (lanes 0, 2) and 8 + e (lanes 1, 3) of all 16 keys; a qword permute puts each dimension's
    // 16 halves in one 256-bit half. 72 instructions per 16 keys x 16 dimensions, where two SSE
    // 8x8 transposes per 8 dimensions took 160.
    template <class F>
    static void key_columns16(const uint16_t* const rows[16], int64_t d, F&& f) {
        __m512i r[8], t[8];
        for (int i = 0; i < 8; ++i)
            r[i] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i] + d))),
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i + 8] + d)), 1);
        for (int i = 0; i < 4; ++i) {
            t[2 * i] = _mm512_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 2; ++i) {
            r[4 * i + 0] = _mm512_unpacklo_epi32(t[4 * i + 0], t[4 * i + 2]);
            r[4 * i + 1] = _mm512_unpackhi_epi32(t[4 * i + 0], t[4 * i + 2]);
            r[4 * i + 2] = _mm512_unpacklo_epi32(t[4 * i + 1], t[4 * i + 3]);
            r[4 * i + 3] = _mm512_unpackhi_epi32(t[4 * i + 1], t[4 * i + 3]);
        }
        const __m512i lanes = _mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7);
        for (int i = 0; i < 4; ++i) {
            // Dimension order after the stages: unpack64 of pairs (i, i + 4) gives 2i and 2i + 1.
            t[2 * i] = _mm512_permutexvar_epi64(lanes, _mm512_unpacklo_epi64(r[i], r[i + 4]));
            t[2 * i + 1] = _mm512_permutexvar_epi64(lanes, _mm512_unpackhi_epi64(r[i], r[i + 4]));
        }
        for (int e = 0; e < 8; ++e) f(e, _mm512_cvtph_ps(_mm512_castsi512_si256(t[e])));
        for (int e = 0; e < 8; ++e) f(8 + e, _mm512_cvtph_ps(_mm512_extracti64x4_epi64(t[e], 1)));
    }

    // out[g][j] = (Σ_d q[g][d]·k_j[d]) · scale for j < cnt and G query heads that share the keys:
    // each block of keys is loaded and transposed once for all of them. Lanes past the last key
    // read that key again and are not stored.
    template <int G>
    static void scores_heads(const float* const q[G], const uint16_t* kbase, int64_t stride, int64_t D,
                             int64_t cnt, float scale, float* const out[G]) {
        for (int64_t j0 = 0; j0 < cnt; j0 += W) {
            const uint16_t* rows[W];
            for (int l = 0; l < W; ++l) rows[l] = kbase + std::min<int64_t>(j0 + l, cnt - 1) * stride;
            // The block after next: a decode step finds the layer's cache in DRAM (the weights
            // streamed since pushed it out), in rows kv_stride apart that the hardware prefetcher
            // follows too late. Past the last key these are harmless hints.
            for (int l = 0; l < W; ++l)
                for (int64_t e = 0; e < D; e += 32) _mm_prefetch(reinterpret_cast<const char*>(rows[l] + kPrefetchKeys * stride + e), _MM_HINT_T0);
            V acc[G];
            for (int g = 0; g < G; ++g) acc[g] = S::zero();
            if constexpr (W == 16) {
                for (int64_t d = 0; d < D; d += 16)
                    key_columns16(rows, d, [&](int e, V k) {
                        for (int g = 0; g < G; ++g) acc[g] = S::add(acc[g], S::mul(S::set1(q[g][d + e]), k));
                    });
            } else {
                for (int64_t d = 0; d < D; d += 8) {
                    __m128i cols[W / 8][8];
                    for (int b = 0; b < W / 8; ++b) {
                        __m128i r[8];
                        for (int l = 0; l < 8; ++l) r[l] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[8 * b + l] + d));
                        transpose8x8(r, cols[b]);
                    }
                    for (int e = 0; e < 8; ++e) {
                        __m128i grp[W / 8];
                        for (int b = 0; b < W / 8; ++b) grp[b] = cols[b][e];
                        const V k = S::cvt_ph_groups(grp);
                        for (int g = 0; g < G; ++g) acc[g] = S::add(acc[g], S::mul(S::set1(q[g][d + e]), k));
                    }
                }
            }
            const int64_t left = std::min<int64_t>(W, cnt - j0);
            for (int g = 0; g < G; ++g) {
                const V s = S::mul(acc[g], S::set1(scale));
                if (left == W) S::storeu(out[g] + j0, s);
                else S::store_tail(out[g] + j0, s, left);
            }
        }
    }

    // out_g[0..D) = Σ_{j<cnt} p_g[j] · v_j for G heads sharing the values, positions in order per
    // output (the reference's order): a value vector is converted from f16 once for all G heads.
    // fresh: the sums start at zero; else they go on from what out_g holds (a context past kChunk
    // keys, one chunk at a time).
    // Keys go in blocks of kVBlock, and every pass over the dimensions takes a block before the
    // next block is read: a value row is 2 to 4 cache lines, and passes over all keys each read
    // a part of every row after the previous pass had pushed the row out of L1 and L2 (a fifth
    // of the decode attention at 4096 keys was those loads). The accumulators wait in `out`.
    static constexpr int64_t kVBlock = 64;
    static constexpr int64_t kPrefetchKeys = 96; // how far ahead (in keys) rows of K and V are requested
    template <int G>
    static void accumulate_v_heads(const float* const p[G], const uint16_t* vbase, int64_t stride, int64_t D,
                                   int64_t cnt, float* const out[G], bool fresh = true) {
        constexpr int NV = std::max(1, kAccRegs / G);
        for (int64_t j0 = 0; j0 < cnt; j0 += kVBlock) {
            const int64_t j1 = std::min(cnt, j0 + kVBlock);
            const bool zero = fresh && j0 == 0;
            int64_t d0 = 0;
            for (; d0 + NV * W <= D; d0 += NV * W) accumulate_v_pass<G, NV>(p, vbase, stride, D, d0, j0, j1, out, zero);
            for (; d0 < D; d0 += W) accumulate_v_pass<G, 1>(p, vbase, stride, D, d0, j0, j1, out, zero);
        }
    }
    // Keys j0 .. j1 of accumulate_v_heads over dimensions d0 .. d0 + NV·W (NV a constant, so the
    // accumulators stay in registers), starting from zero or from out.
    template <int G, int NV>
    static void accumulate_v_pass(const float* const p[G], const uint16_t* vbase, int64_t stride, int64_t D,
                                  int64_t d0, int64_t j0, int64_t j1, float* const out[G], bool zero) {
        V r[G][NV];
        for (int g = 0; g < G; ++g)
            for (int i = 0; i < NV; ++i) r[g][i] = zero ? S::zero() : S::loadu(out[g] + d0 + i * W);
        for (int64_t j = j0; j < j1; ++j) {
            const uint16_t* v = vbase + j * stride + d0;
            if (d0 == 0) // the first pass over a block brings its rows in, as scores_heads does
                for (int64_t e = 0; e < D; e += 32) _mm_prefetch(reinterpret_cast<const char*>(v + kPrefetchKeys * stride + e), _MM_HINT_T0);
            V vv[NV];
            for (int i = 0; i < NV; ++i) vv[i] = S::load_f16(v + i * W);
            for (int g = 0; g < G; ++g) {
                const V pj = S::set1(p[g][j]);
                for (int i = 0; i < NV; ++i) r[g][i] = S::add(r[g][i], S::mul(pj, vv[i]));
            }
        }
        for (int g = 0; g < G; ++g)
            for (int i = 0; i < NV; ++i) S::storeu(out[g] + d0 + i * W, r[g][i]);
    }

    // buf[j] = expf(buf[j] - max) for j < n, W at a time (S::expf_libm: std::exp's bits).
    static void exp_minus(float* buf, int64_t n, float max) {
        const V vmax = S::set1(max);
        for (int64_t j = 0; j < n; j += W) {
            const int64_t left = std::min<int64_t>(W, n - j);
            const V e = S::expf_libm(S::sub(left == W ? S::loadu(buf + j) : S::load_tail(buf + j, left), vmax));
            if (left == W) S::storeu(buf + j, e);
            else S::store_tail(buf + j, e, left);
        }
    }

    // max(buf[0..n)) W at a time. The reference's running std::max picks the same value: a max is
    // a max in any order (a NaN score, which std::max(running, NaN) skips, is skipped here too: vmaxps
    // returns its second operand, the running max, when the first is NaN; and whether a zero max is
    // +0 or -0 changes no score - max).
    static float max_of(const float* buf, int64_t n) {
        V m = S::set1(-INFINITY);
        int64_t j = 0;
        for (; j + W <= n; j += W) m = S::max(S::loadu(buf + j), m);
        float r = S::hmax(m);
        for (; j < n; ++j) r = std::max(r, buf[j]);
        return r;
    }

    // bufs[g][0..n_keys) for G heads: scores in, the reference's probabilities out: max, expf, a
    // double sum in key order, times (float)(1 / sum), rounded to f16 on decode. The G heads' sums
    // advance together: each is still one chain in key order, but G independent chains keep the
    // adder busy where one chain waited out every add's latency (a fifth of a head group's time
    // at 4096 keys went to that wait, and most of another fifth to a scalar max loop).
    template <int G>
    static void softmax_heads(const bitnet_attention_args& a, float* const bufs[G], int64_t n_keys) {
        float mx[G];
        double sum[G];
        for (int g = 0; g < G; ++g) {
            mx[g] = max_of(bufs[g], n_keys);
            sum[g] = 0.0;
        }
        // expf W keys at a time (expf_libm.hpp: glibc's bit for bit), then the double adds in key
        // order, in a loop of their own: a loop that also called libm sent the running sums through
        // the stack on every key (a call clobbers every xmm register).
        for (int64_t j0 = 0; j0 < n_keys; j0 += W) {
            const int64_t left = std::min<int64_t>(W, n_keys - j0);
            for (int g = 0; g < G; ++g) exp_minus(bufs[g] + j0, left, mx[g]);
            for (int64_t j = j0; j < j0 + left; ++j)
                for (int g = 0; g < G; ++g) sum[g] += bufs[g][j];
        }
        for (int g = 0; g < G; ++g) normalize(a, bufs[g], n_keys, static_cast<float>(1.0 / sum[g]));
    }

    // buf[0..n) *= inv_sum, rounded to f16 on decode (as the reference).
    static void normalize(const bitnet_attention_args& a, float* buf, int64_t n, float inv_sum) {
        const V vinv = S::set1(inv_sum);
        for (int64_t j = 0; j < n; j += W) {
            const int64_t left = std::min<int64_t>(W, n - j);
            V pv = S::mul(left == W ? S::loadu(buf + j) : S::load_tail(buf + j, left), vinv);
            if (a.m == 1) pv = S::round_f16(pv);
            if (left == W) S::storeu(buf + j, pv);
            else S::store_tail(buf + j, pv, left);
        }
    }

    // Position 0 of query head h's KV head (either cache layout: sdk::kv_head_offset).
    static const uint16_t* k_head(const bitnet_attention_args& a, int64_t h) {
        return a.k_cache + h / (a.n_heads / a.n_kv_heads) * sdk::kv_head_offset(a, a.head_dim);
    }
    static const uint16_t* v_head(const bitnet_attention_args& a, int64_t h) {
        return a.v_cache + h / (a.n_heads / a.n_kv_heads) * sdk::kv_head_offset(a, a.head_dim);
    }
    // q row of (t, h) rounded to f16, as the reference multiplies it.
    static void load_q(const bitnet_attention_args& a, int64_t t, int64_t h, float* q) {
        const float* qsrc = a.q + t * a.ldq + h * a.head_dim;
        for (int64_t d = 0; d < a.head_dim; d += W) S::storeu(q + d, S::round_f16(S::loadu(qsrc + d)));
    }

    // Item: token t and the query heads h0 .. h0+G-1, which share one KV head; its keys
    // fit one chunk (the caller checks).
    template <int G>
    static void item_heads(const bitnet_attention_args& a, int64_t t, int64_t h0) {
        const int64_t n_keys = a.n_past + t + 1;
        alignas(64) float q[G][kMaxHeadDim];
        alignas(64) float buf[G][kChunk];
        const float* qs[G];
        float* outs[G];
        for (int g = 0; g < G; ++g) {
            load_q(a, t, h0 + g, q[g]);
            qs[g] = q[g];
            outs[g] = buf[g];
        }
        scores_heads<G>(qs, k_head(a, h0), a.kv_stride, a.head_dim, n_keys, a.scale, outs);
        softmax_heads<G>(a, outs, n_keys);
        float* rows[G];
        for (int g = 0; g < G; ++g) rows[g] = a.out + t * a.ldo + (h0 + g) * a.head_dim;
        accumulate_v_heads<G>(outs, v_head(a, h0), a.kv_stride, a.head_dim, n_keys, rows);
    }

    // One (token, head). A context longer than kChunk keys recomputes the scores per pass (max,
    // sum, output) instead of allocating.
    static void item(const bitnet_attention_args& a, int64_t t, int64_t h) {
        const int64_t D = a.head_dim;
        const int64_t n_keys = a.n_past + t + 1; // causal: positions 0 .. n_past+t
        const uint16_t* kb = k_head(a, h);
        alignas(64) float q[kMaxHeadDim];
        alignas(64) float buf[kChunk];
        load_q(a, t, h, q);
        if (n_keys <= kChunk) {
            scores(q, kb, a.kv_stride, D, 0, n_keys, a.scale, buf);
            float* const bufs[1] = {buf};
            softmax_heads<1>(a, bufs, n_keys);
            const float* const probs[1] = {buf};
            float* const out[1] = {a.out + t * a.ldo + h * D};
            accumulate_v_heads<1>(probs, v_head(a, h), a.kv_stride, D, n_keys, out);
            return;
        }
        float max_score = -INFINITY;
        for (int64_t p0 = 0; p0 < n_keys; p0 += kChunk) {
            const int64_t cnt = std::min(kChunk, n_keys - p0);
            scores(q, kb, a.kv_stride, D, p0, cnt, a.scale, buf);
            max_score = std::max(max_score, max_of(buf, cnt));
        }
        double sum = 0.0;
        for (int64_t p0 = 0; p0 < n_keys; p0 += kChunk) {
            const int64_t cnt = std::min(kChunk, n_keys - p0);
            scores(q, kb, a.kv_stride, D, p0, cnt, a.scale, buf);
            exp_minus(buf, cnt, max_score);
            for (int64_t j = 0; j < cnt; ++j) sum += buf[j];
        }
        const float inv_sum = static_cast<float>(1.0 / sum);
        const float* const probs[1] = {buf};
        float* const out[1] = {a.out + t * a.ldo + h * D};
        for (int64_t p0 = 0; p0 < n_keys; p0 += kChunk) {
            const int64_t cnt = std::min(kChunk, n_keys - p0);
            scores(q, kb, a.kv_stride, D, p0, cnt, a.scale, buf);
            exp_minus(buf, cnt, max_score);
            normalize(a, buf, cnt, inv_sum);
            accumulate_v_heads<1>(probs, v_head(a, h) + p0 * a.kv_stride, a.kv_stride, D, cnt, out, p0 == 0);
        }
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
        return sdk::kv_layout_error(a.n_kv_heads, a.head_dim, a.kv_stride, sdk::kv_head_offset(a, a.head_dim),
                                    int64_t(a.n_past) + a.m);
    }

    static bitnet_status run(void* plugin, const void* args, const char* what) noexcept {
        return run_op<bitnet_attention_args>(
            plugin, args, what, X86_SIZE_UPTO(bitnet_attention_args, ldo),
            [&](const Plugin& p, const bitnet_attention_args& a) -> bitnet_status {
                if (const char* why = args_error(a)) return invalid(p, what, why);
                // Whole vectors per head keep every load in bounds; other sizes go to the host's
                // next kernel (scalar).
                if (a.head_dim % W != 0 || a.head_dim > kMaxHeadDim) return BITNET_ERR_UNSUPPORTED;
                // Items are (token, up to kGroup query heads of one KV head), so each key block is
                // transposed once per group. Decode too, though 2B-4T then has 5 items for 2
                // threads: bitnet bench -t 2 -n 64 --profile, attention per token 0.60/0.61 ms with
                // one head per item, 0.50/0.56 with 2, 0.46/0.49 with 4.
                const int32_t group = a.n_heads / a.n_kv_heads;
                const int32_t per_item = group % kGroup == 0 ? kGroup : group % 2 == 0 ? 2 : 1;
                if (per_item > 1 && a.n_past + a.m <= kChunk) {
                    const int64_t per_token = a.n_heads / per_item;
                    parallel_ranges(p, a.m * per_token, 1, [&](int64_t i0, int64_t i1) {
                        for (int64_t i = i0; i < i1; ++i) {
                            const int64_t t = i / per_token, h0 = i % per_token * per_item;
                            if (per_item == kGroup) item_heads<kGroup>(a, t, h0);
                            else item_heads<2>(a, t, h0);
                        }
                    });
                    return BITNET_OK;
                }
                const int64_t items = static_cast<int64_t>(a.m) * a.n_heads;
                parallel_ranges(p, items, 1, [&](int64_t i0, int64_t i1) {
                    for (int64_t i = i0; i < i1; ++i) item(a, i / a.n_heads, i % a.n_heads);
                });
                return BITNET_OK;
            });
    }
};

} // namespace bitnet::x86
