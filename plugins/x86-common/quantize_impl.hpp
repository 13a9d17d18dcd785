// Activation quantizers over an ISA's Simd vocabulary (the plugin's simd.hpp), bit-exact with
// formats::quantize_act_row_*: the same float operations (one multiply, round-to-nearest-even via
// the default MXCSR mode, a clamp before narrowing), vectorized over the row. A max is
// order-independent, so only the choice of the signed maximum of I8_B256 needs care: the first
// lane equal to max|x| in index order is the scalar loop's strict-> winner.
#pragma once

#include "x86_plugin.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace bitnet::x86 {

template <class S>
struct Quantize {
    using V = typename S::V;
    using I = typename S::I;

    static float max_abs(const float* x, int64_t n) {
        V mx = S::zero();
        int64_t i = 0;
        for (; i + S::W <= n; i += S::W) mx = S::max(mx, S::abs(S::loadu(x + i)));
        if (i < n) mx = S::max(mx, S::abs(S::load_tail(x + i, n - i)));
        return S::hmax(mx);
    }

    // q = clamp(round(x * s), lo, 127); returns Σq.
    static int32_t scale_round(const float* x, int64_t n, float s, int lo, int8_t* q) {
        const V sv = S::set1(s);
        I sum = S::izero();
        for (int64_t i = 0; i < n; i += S::W) {
            const int64_t left = n - i;
            const V v = left >= S::W ? S::loadu(x + i) : S::load_tail(x + i, left);
            const I r = S::clamp(S::cvt_i32(S::mul(v, sv)), lo, 127);
            sum = S::iadd(sum, r); // masked-off lanes loaded 0 and add nothing
            S::store_i8(q + i, r, left);
        }
        return S::ihsum(sum);
    }

    // bitnet.cpp: s = (float)(127 / max(1e-5, max|x| in double)); |x| of a float is exact in double.
    static int32_t row_i8(const float* x, int64_t k, int8_t* q, float* scales) {
        const double amax = std::max(0.00001, static_cast<double>(max_abs(x, k)));
        const auto s = static_cast<float>(127.0 / amax);
        scales[0] = s;
        return scale_round(x, k, s, -128, q);
    }

    // llama.cpp's Q8_K: per block, m = the first value of largest |x|, iscale = -127/m; only the
    // upper clamp exists there (|iscale·x| <= 127 keeps the lower one inactive).
    static int32_t row_b256(const float* x, int64_t k, int8_t* q, float* d_out) {
        int32_t total = 0;
        for (int64_t b0 = 0, blk = 0; b0 < k; b0 += 256, ++blk) {
            const int64_t n = std::min<int64_t>(256, k - b0);
            const float* xb = x + b0;
            const float amax = max_abs(xb, n);
            if (amax == 0.0f) {
                std::fill_n(q + b0, n, int8_t{0});
                d_out[blk] = 0.0f;
                continue;
            }
            float m = 0.0f;
            for (int64_t i = 0; i < n; i += S::W) {
                const int64_t left = n - i;
                const V v = left >= S::W ? S::loadu(xb + i) : S::load_tail(xb + i, left);
                if (const uint32_t hit = S::eq_bits(S::abs(v), S::set1(amax), left); hit != 0) {
                    m = xb[i + __builtin_ctz(hit)];
                    break;
                }
            }
            const float iscale = -127.0f / m;
            total += scale_round(xb, n, iscale, INT32_MIN, q + b0);
            d_out[blk] = 1.0f / iscale;
        }
        return total;
    }

    // llama.cpp's Q8_0 activations (quantize_row_q8_0_ref, formats' Q8_0 encoder bit for bit), k a
    // multiple of 32: per block d = max|x| / 127, q = roundf(x · (1/d)), d stored as fp16. roundf
    // rounds ties away from zero, which no MXCSR mode does: with t = trunc(v), v - t is exact and
    // trunc(2(v - t)) is the ±1 (or 0) that roundf adds. d_out gets the fp16 d as a float (the value
    // the reference multiplies), sums the blocks' Σq.
    static void row_q8_0(const float* x, int64_t k, int8_t* q, float* d_out, int32_t* sums) {
        static_assert(32 % S::W == 0);
        for (int64_t b = 0; b < k / 32; ++b) {
            const float* xb = x + 32 * b;
            const float d = max_abs(xb, 32) / 127.0f;
            const V id = S::set1(d != 0.0f ? 1.0f / d : 0.0f);
            I sum = S::izero();
            for (int i = 0; i < 32; i += S::W) {
                const V v = S::mul(S::loadu(xb + i), id);
                const V t = S::trunc(v);
                const V f = S::sub(v, t);
                const I r = S::cvt_i32(S::add(t, S::trunc(S::add(f, f))));
                sum = S::iadd(sum, r);
                S::store_i8(q + 32 * b + i, r, S::W);
            }
            sums[b] = S::ihsum(sum);
            d_out[b] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        }
    }

    using RowFn = int32_t (*)(const float*, int64_t, int8_t*, float*);

    static bitnet_status run(void* plugin, const void* args, const char* what, RowFn fn, int64_t block) noexcept {
        return run_op<bitnet_quantize_args>(
            plugin, args, what, X86_SIZE_UPTO(bitnet_quantize_args, out),
            [&](const Plugin& p, const bitnet_quantize_args& a) -> bitnet_status {
                if (a.m <= 0 || a.k <= 0) return invalid(p, what, "m and k must be positive");
                if (a.x == nullptr) return invalid(p, what, "x is NULL");
                if (a.ldx < a.k) return invalid(p, what, "ldx < k");
                if (a.out == nullptr || a.out->data == nullptr || a.out->scales == nullptr)
                    return invalid(p, what, "out, its data or its scales are NULL");
                if (a.out->row_stride < static_cast<size_t>(a.k)) return invalid(p, what, "row_stride < k");
                const int64_t per_row = (a.k + block - 1) / block;
                auto rows = [&](int64_t m0, int64_t m1) {
                    for (int64_t m = m0; m < m1; ++m) {
                        const int32_t sum = fn(a.x + m * a.ldx, a.k, a.out->data + m * a.out->row_stride,
                                               a.out->scales + m * per_row);
                        if (a.out->row_sums != nullptr) a.out->row_sums[m] = sum;
                    }
                };
                // One row is a few microseconds: waking the pool would cost more than it saves.
                if (a.m < 4) rows(0, a.m);
                else parallel_ranges(p, a.m, 1, rows);
                return BITNET_OK;
            });
    }

    static bitnet_status i8row(void* plugin, const void* args, const char* what) noexcept {
        return run(plugin, args, what, &row_i8, INT32_MAX);
    }
    static bitnet_status i8b256(void* plugin, const void* args, const char* what) noexcept {
        return run(plugin, args, what, &row_b256, 256);
    }
};

} // namespace bitnet::x86
