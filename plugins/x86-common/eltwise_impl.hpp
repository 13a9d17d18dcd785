// Row-wise ops over an ISA's Simd vocabulary (the plugin's simd.hpp): RMSNorm, the gated FFN
// activation and the residual add. All three are a few microseconds per row, so rows are split
// over the pool only when there are enough of them to pay for waking it.
//
// Numerics against plugins/scalar: add and relu² are bit-exact (the same single f32 operations).
// RMSNorm sums the f32 squares in double lanes instead of one running double, which can move the
// f32 mean by an ulp at most. SiLU uses the polynomial exp below (~2 ulp) instead of expf.
#pragma once

#include "x86_plugin.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace bitnet::x86 {

// Rows below this run on the calling thread.
inline constexpr int64_t kInlineRows = 4;

template <class Fn>
void for_rows(const Plugin& p, int64_t m, Fn&& fn) {
    if (m < kInlineRows) fn(int64_t{0}, m);
    else parallel_ranges(p, m, 1, fn);
}

template <class S>
struct Eltwise {
    using V = typename S::V;

    // Cephes' expf: exp(x) = 2^n · e^r with |r| <= ln2/2, r split in two so n·ln2 is exact.
    // Inputs are clamped so 2^n stays a normal number (exp saturates at e^±88, not at inf/0).
    static V exp(V x) {
        x = S::min(S::max(x, S::set1(-87.0f)), S::set1(88.0f));
        const V n = S::round(S::mul(x, S::set1(1.44269504088896341f)));
        V r = S::sub(x, S::mul(n, S::set1(0.693359375f)));
        r = S::sub(r, S::mul(n, S::set1(-2.12194440e-4f)));
        V p = S::set1(1.9875691500e-4f);
        p = S::fmadd(p, r, S::set1(1.3981999507e-3f));
        p = S::fmadd(p, r, S::set1(8.3334519073e-3f));
        p = S::fmadd(p, r, S::set1(4.1665795894e-2f));
        p = S::fmadd(p, r, S::set1(1.6666665459e-1f));
        p = S::fmadd(p, r, S::set1(5.0000001201e-1f));
        p = S::fmadd(p, S::mul(r, r), S::add(r, S::set1(1.0f)));
        return S::mul(p, S::pow2i(n));
    }

    // Applies f(i, left) to [0, n) in vectors; left < W only on the last call.
    template <class F>
    static void each(int64_t n, F&& f) {
        int64_t i = 0;
        for (; i + S::W <= n; i += S::W) f(i, int64_t{S::W});
        if (i < n) f(i, n - i);
    }
    static V ld(const float* p, int64_t left) { return left >= S::W ? S::loadu(p) : S::load_tail(p, left); }
    static void st(float* p, V v, int64_t left) {
        if (left >= S::W) S::storeu(p, v);
        else S::store_tail(p, v, left);
    }

    static bitnet_status rmsnorm(void* plugin, const void* args, const char* what) noexcept {
        return run_op<bitnet_rmsnorm_args>(
            plugin, args, what, X86_SIZE_UPTO(bitnet_rmsnorm_args, ldy),
            [&](const Plugin& p, const bitnet_rmsnorm_args& a) -> bitnet_status {
                if (a.m <= 0 || a.n <= 0) return invalid(p, what, "m and n must be positive");
                if (a.x == nullptr || a.y == nullptr) return invalid(p, what, "x or y is NULL");
                if (a.ldx < a.n || a.ldy < a.n) return invalid(p, what, "ldx or ldy < n");
                if (!(a.eps >= 0.0f)) return invalid(p, what, "eps must be >= 0");
                for_rows(p, a.m, [&](int64_t m0, int64_t m1) {
                    for (int64_t m = m0; m < m1; ++m) row_rmsnorm(a, a.x + m * a.ldx, a.y + m * a.ldy);
                });
                return BITNET_OK;
            });
    }

    static void row_rmsnorm(const bitnet_rmsnorm_args& a, const float* x, float* y) {
        // Two pairs of double accumulators: the adds are the loop's latency chain.
        typename S::D d0 = S::dzero(), d1 = S::dzero(), d2 = S::dzero(), d3 = S::dzero();
        int64_t i = 0;
        for (; i + 2 * S::W <= a.n; i += 2 * S::W) {
            const V v0 = S::loadu(x + i), v1 = S::loadu(x + i + S::W);
            S::add_d(d0, d1, S::mul(v0, v0));
            S::add_d(d2, d3, S::mul(v1, v1));
        }
        for (; i < a.n; i += S::W) {
            const V v = ld(x + i, a.n - i); // zeros past n add nothing
            S::add_d(d0, d1, S::mul(v, v));
        }
        const double sum = S::hsum_d(d0) + S::hsum_d(d1) + S::hsum_d(d2) + S::hsum_d(d3);
        const float mean = static_cast<float>(sum / a.n);
        const V scale = S::set1(1.0f / std::sqrt(mean + a.eps));
        // Element-wise after the sum, so y may alias x.
        each(a.n, [&](int64_t j, int64_t left) {
            V v = S::mul(ld(x + j, left), scale);
            if (a.weight != nullptr) v = S::mul(v, ld(a.weight + j, left));
            st(y + j, v, left);
        });
    }

    static bitnet_status ffn_act(void* plugin, const void* args, const char* what) noexcept {
        return run_op<bitnet_ffn_act_args>(
            plugin, args, what, X86_SIZE_UPTO(bitnet_ffn_act_args, ld),
            [&](const Plugin& p, const bitnet_ffn_act_args& a) -> bitnet_status {
                if (a.m <= 0 || a.n <= 0) return invalid(p, what, "m and n must be positive");
                if (a.gate == nullptr || a.up == nullptr || a.y == nullptr)
                    return invalid(p, what, "gate, up or y is NULL");
                if (a.ld < a.n) return invalid(p, what, "ld < n");
                if (a.kind != BITNET_FFN_RELU2 && a.kind != BITNET_FFN_SILU)
                    return invalid(p, what, "unknown ffn kind");
                const bool relu2 = a.kind == BITNET_FFN_RELU2;
                for_rows(p, a.m, [&](int64_t m0, int64_t m1) {
                    for (int64_t m = m0; m < m1; ++m) {
                        const int64_t row = m * a.ld;
                        each(a.n, [&](int64_t j, int64_t left) {
                            const V g = ld(a.gate + row + j, left), u = ld(a.up + row + j, left);
                            V act;
                            if (relu2) {
                                // maxps returns its second operand for NaN or ±0, as the scalar `g > 0 ? g : 0`.
                                const V r = S::max(g, S::zero());
                                act = S::mul(r, r);
                            } else {
                                act = S::div(g, S::add(S::set1(1.0f), exp(S::sub(S::zero(), g))));
                            }
                            st(a.y + row + j, S::mul(act, u), left);
                        });
                    }
                });
                return BITNET_OK;
            });
    }

    // f32 K/V rows into the f16 cache. vcvtps2ph rounds to nearest even and quiets NaNs keeping
    // the top payload bits: bit for bit formats::f32_to_fp16, the scalar reference's conversion.
    static bitnet_status kv_store(void* plugin, const void* args, const char* what) noexcept {
        return run_op<bitnet_kv_store_args>(
            plugin, args, what, X86_SIZE_UPTO(bitnet_kv_store_args, kv_stride),
            [&](const Plugin& p, const bitnet_kv_store_args& a) -> bitnet_status {
                if (a.m <= 0 || a.width <= 0 || a.pos0 < 0) return invalid(p, what, "m and width must be positive, pos0 >= 0");
                if (a.k == nullptr || a.v == nullptr || a.k_cache == nullptr || a.v_cache == nullptr)
                    return invalid(p, what, "k, v or a cache pointer is NULL");
                if (const char* why = sdk::kv_store_layout_error(a, int64_t(a.pos0) + a.m)) return invalid(p, what, why);
                // A head-major cache takes a row a head at a time.
                const int64_t hs = sdk::kv_head_stride(a);
                const int32_t piece = hs != 0 ? a.head_dim : a.width;
                for_rows(p, a.m, [&](int64_t m0, int64_t m1) {
                    for (int64_t t = m0; t < m1; ++t) {
                        const int64_t dst = (a.pos0 + t) * static_cast<int64_t>(a.kv_stride);
                        for (int32_t i = 0; i < a.width; i += piece) {
                            const int64_t at = dst + i / piece * hs;
                            to_half(a.k + t * a.ld + i, a.k_cache + at, piece);
                            to_half(a.v + t * a.ld + i, a.v_cache + at, piece);
                        }
                    }
                });
                return BITNET_OK;
            });
    }

    static void to_half(const float* src, uint16_t* dst, int64_t n) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
        if (i == n) return;
        alignas(32) float tail[8] = {};
        alignas(16) uint16_t out[8];
        std::copy(src + i, src + n, tail);
        _mm_store_si128(reinterpret_cast<__m128i*>(out), _mm256_cvtps_ph(_mm256_load_ps(tail), _MM_FROUND_TO_NEAREST_INT));
        std::copy(out, out + (n - i), dst + i);
    }

    static bitnet_status add(void* plugin, const void* args, const char* what) noexcept {
        return run_op<bitnet_add_args>(
            plugin, args, what, X86_SIZE_UPTO(bitnet_add_args, ldy),
            [&](const Plugin& p, const bitnet_add_args& a) -> bitnet_status {
                if (a.m <= 0 || a.n <= 0) return invalid(p, what, "m and n must be positive");
                if (a.x == nullptr || a.y == nullptr) return invalid(p, what, "x or y is NULL");
                if (a.ldx < a.n || a.ldy < a.n) return invalid(p, what, "ldx or ldy < n");
                for_rows(p, a.m, [&](int64_t m0, int64_t m1) {
                    for (int64_t m = m0; m < m1; ++m) {
                        const float* x = a.x + m * a.ldx;
                        float* y = a.y + m * a.ldy;
                        each(a.n, [&](int64_t j, int64_t left) { st(y + j, S::add(ld(y + j, left), ld(x + j, left)), left); });
                    }
                });
                return BITNET_OK;
            });
    }
};

} // namespace bitnet::x86
