// Rotary position embedding over an ISA's Simd vocabulary, bit-exact with plugins/scalar/rope.cpp:
// the per-token cos/sin table is built the same way (angles by repeated f32 multiplication,
// libm cosf/sinf), and the rotation is the same two products and one add/sub per output, only
// done W pairs at a time. The table lives on the stack and is rebuilt per token, so nothing is
// kept across calls; at 2B-4T's 64 pairs it costs about as much as rotating 20 heads.
#pragma once

#include "eltwise_impl.hpp"

#include <cmath>
#include <cstdint>

namespace bitnet::x86 {

template <class S>
struct Rope {
    using V = typename S::V;
    using E = Eltwise<S>;
    static constexpr int32_t kMaxHalf = 512; // n_rot up to 1024

    static void token(const bitnet_rope_args& a, int64_t t, float theta_scale) {
        const int32_t half = a.n_rot / 2;
        alignas(64) float cos_t[kMaxHalf], sin_t[kMaxHalf];
        float theta_base = static_cast<float>(a.positions[t]);
        for (int32_t i = 0; i < half; ++i) {
            const float theta = a.freq_scale * theta_base;
            cos_t[i] = std::cos(theta);
            sin_t[i] = std::sin(theta);
            theta_base *= theta_scale;
        }
        for (int32_t h = 0; h < a.n_heads; ++h) {
            float* x = a.x + t * a.ldx + static_cast<int64_t>(h) * a.head_dim;
            if (a.neox) {
                E::each(half, [&](int64_t i, int64_t left) {
                    const V x0 = E::ld(x + i, left), x1 = E::ld(x + half + i, left);
                    const V c = E::ld(cos_t + i, left), s = E::ld(sin_t + i, left);
                    E::st(x + i, S::sub(S::mul(x0, c), S::mul(x1, s)), left);
                    E::st(x + half + i, S::add(S::mul(x0, s), S::mul(x1, c)), left);
                });
            } else {
                // GPT-J pairs are neighbours; no model this runtime loads uses them, so they stay
                // scalar rather than paying for a deinterleaving shuffle.
                for (int32_t i = 0; i < half; ++i) {
                    const float x0 = x[2 * i], x1 = x[2 * i + 1];
                    x[2 * i] = x0 * cos_t[i] - x1 * sin_t[i];
                    x[2 * i + 1] = x0 * sin_t[i] + x1 * cos_t[i];
                }
            }
        }
    }

    static bitnet_status run(void* plugin, const void* args, const char* what) noexcept {
        return run_op<bitnet_rope_args>(
            plugin, args, what, X86_SIZE_UPTO(bitnet_rope_args, ldx),
            [&](const Plugin& p, const bitnet_rope_args& a) -> bitnet_status {
                if (a.m <= 0 || a.n_heads <= 0 || a.head_dim <= 0)
                    return invalid(p, what, "m, n_heads and head_dim must be positive");
                if (a.n_rot <= 0 || a.n_rot % 2 != 0 || a.n_rot > a.head_dim)
                    return invalid(p, what, "n_rot must be even and in (0, head_dim]");
                if (a.n_rot / 2 > kMaxHalf) return BITNET_ERR_UNSUPPORTED; // the host falls back
                if (a.x == nullptr || a.positions == nullptr) return invalid(p, what, "x or positions is NULL");
                if (static_cast<int64_t>(a.ldx) < static_cast<int64_t>(a.n_heads) * a.head_dim)
                    return invalid(p, what, "ldx < n_heads * head_dim");
                const float theta_scale = std::pow(a.freq_base, -2.0f / static_cast<float>(a.n_rot));
                for_rows(p, a.m, [&](int64_t t0, int64_t t1) {
                    for (int64_t t = t0; t < t1; ++t) token(a, t, theta_scale);
                });
                return BITNET_OK;
            });
    }
};

} // namespace bitnet::x86
