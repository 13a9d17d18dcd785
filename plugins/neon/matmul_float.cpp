// Float-weight matmuls (the lm_head: F16, Q8_0, Q6_K) with F32 activations, plain ASIMD. Each
// tile decodes a 256-element slice of its rows into an L1 buffer of exact f32 weights (the values
// formats::dequantize_row produces: F16 widening and the block products are exact or done in the
// same order), then every token of the tile accumulates against it in fp32 lanes; no fp16
// arithmetic is used. Sums run in 4 lanes, so results differ from the scalar index-order sum by
// rounding only.
#include "neon.hpp"
#include "simd.hpp"

#include "float_matmul_impl.hpp"
#include "tiling.hpp"

#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace bitnet::neon {
namespace {

constexpr int kRows = 4, kTokens = 4, kSlice = 256;
constexpr int64_t kRowAlign = 16;

// Decoders: elements [k0, k0 + len) of a row into dst (len <= kSlice), zero-padded to a multiple
// of 4. k0 is a multiple of kSlice, hence of every block length.
struct F16 {
    static constexpr size_t (*row_bytes)(int64_t) = &x86::f16_row_bytes;
    static void decode(const uint8_t* row, int64_t k0, int64_t len, float* dst) {
        const auto* h = reinterpret_cast<const uint16_t*>(row) + k0; // file data: 2-byte aligned
        int64_t i = 0;
        for (; i + 4 <= len; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))));
        if (i < len) {
            uint16_t tail[4] = {0, 0, 0, 0};
            std::memcpy(tail, h + i, static_cast<size_t>(len - i) * 2);
            vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(tail))));
        }
    }
};

// 16 int8 -> 4 x 4 f32, each times d (ggml's (float)q * d, exact as the scalar decoder's).
inline void store_scaled_i8x16(int8x16_t q, float d, float* dst) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    vst1q_f32(dst + 0, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(dst + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
    vst1q_f32(dst + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(dst + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
}

struct Q8_0 {
    static constexpr size_t (*row_bytes)(int64_t) = &x86::q8_0_row_bytes;
    static void decode(const uint8_t* row, int64_t k0, int64_t len, float* dst) {
        for (int64_t b = 0; b < len / 32; ++b) {
            const uint8_t* blk = row + (k0 / 32 + b) * 34;
            const float d = half_to_float(blk);
            const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
            store_scaled_i8x16(vld1q_s8(qs), d, dst + b * 32);
            store_scaled_i8x16(vld1q_s8(qs + 16), d, dst + b * 32 + 16);
        }
    }
};

// Q6_K (formats/kquants.cpp): within a 128-half, element 32k + l takes the low (k = 0, 1) or high
// (k = 2, 3) nibble of ql[l] (k even) or ql[l + 32] (k odd), bits 2k..2k+1 of qh[l] on top, minus
// 32; scale index l/16 + 2k. Value = (d * scale) * q, the scalar decoder's order.
struct Q6_K {
    static constexpr size_t (*row_bytes)(int64_t) = &x86::q6_k_row_bytes;
    static void decode(const uint8_t* row, int64_t k0, int64_t, float* dst) {
        const uint8_t* blk = row + (k0 / 256) * 210;
        const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);
        const float d = half_to_float(blk + 208);
        const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(3);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = blk + 64 * half;
            const uint8_t* qh = blk + 128 + 32 * half;
            for (int g = 0; g < 2; ++g) { // l = 16g .. 16g + 15
                const uint8x16_t l0 = vld1q_u8(ql + 16 * g), l1 = vld1q_u8(ql + 32 + 16 * g);
                const uint8x16_t h = vld1q_u8(qh + 16 * g);
                const uint8x16_t q[4] = {
                    vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(h, m3), 4)),
                    vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 2), m3), 4)),
                    vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 4), m3), 4)),
                    vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(h, 6), 4)),
                };
                for (int k = 0; k < 4; ++k) {
                    const int8x16_t s = vsubq_s8(vreinterpretq_s8_u8(q[k]), vdupq_n_s8(32));
                    const float ds = d * static_cast<float>(sc[8 * half + g + 2 * k]);
                    store_scaled_i8x16(s, ds, dst + 128 * half + 32 * k + 16 * g);
                }
            }
        }
    }
};

template <class Fmt, int R, int T>
void float_tile(const uint8_t* w, size_t rb, int64_t K, const float* const* x, float out[][kTokens]) {
    alignas(16) float buf[R][kSlice];
    float32x4_t acc[R][kTokens];
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0.0f);
    auto step = [&](const float* const* xv_at, int64_t i) {
        float32x4_t wv[R];
        for (int r = 0; r < R; ++r) wv[r] = vld1q_f32(buf[r] + i);
        for (int t = 0; t < T; ++t) {
            const float32x4_t xv = vld1q_f32(xv_at[t]);
            for (int r = 0; r < R; ++r) acc[r][t] = vfmaq_f32(acc[r][t], wv[r], xv);
        }
    };
    for (int64_t k0 = 0; k0 < K; k0 += kSlice) {
        const int64_t len = std::min<int64_t>(kSlice, K - k0), full = len & ~int64_t{3};
        for (int r = 0; r < R; ++r) Fmt::decode(w + r * rb, k0, len, buf[r]);
        const float* xp[kTokens];
        for (int64_t i = 0; i < full; i += 4) {
            for (int t = 0; t < T; ++t) xp[t] = x[t] + k0 + i;
            step(xp, i);
        }
        if (full < len) {
            // A row's last < 4 activations may end the caller's buffer: copy them, zero-padded
            // (the padded weights are zeros too).
            alignas(16) float tail[kTokens][4] = {};
            for (int t = 0; t < T; ++t) {
                std::memcpy(tail[t], x[t] + k0 + full, static_cast<size_t>(len - full) * sizeof(float));
                xp[t] = tail[t];
            }
            step(xp, full);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = vaddvq_f32(acc[r][t]);
}

template <class Fmt>
bitnet_status float_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    const size_t rb = Fmt::row_bytes(a.k);
    // One token is a tile of one column: the same kernel decodes and sums.
    x86::float_matmul_loop<kRows, kRows, kTokens>(
        p, a, rb, kRowAlign,
        [&]<int R>(const uint8_t* w, float* y) {
            float out[kRows][kTokens];
            float_tile<Fmt, R, 1>(w, rb, a.k, &a.x_f32, out);
            for (int r = 0; r < R; ++r) y[r] = out[r][0] * a.w->scale;
        },
        [&]<int R, int T>(const uint8_t* w, const float* const* xs, float out[][kTokens]) {
            float_tile<Fmt, R, T>(w, rb, a.k, xs, out);
        });
    return BITNET_OK;
}

} // namespace

bitnet_status run_matmul_f16_f32(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_f16_f32_4x4__neon", BITNET_ACT_F32, 1, F16::row_bytes,
                           &float_matmul<F16>);
}
bitnet_status run_matmul_q8_0_f32(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_q8_0_f32_4x4__neon", BITNET_ACT_F32, 32, Q8_0::row_bytes,
                           &float_matmul<Q8_0>);
}
bitnet_status run_matmul_q6_k_f32(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_q6_k_f32_4x4__neon", BITNET_ACT_F32, 256, Q6_K::row_bytes,
                           &float_matmul<Q6_K>);
}

} // namespace bitnet::neon
