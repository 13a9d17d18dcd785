// Ternary BitLinear matmuls with the dot-product extension (sdot: four int8 products summed into
// each int32 lane). The integer dots are exact; the float epilogues repeat the scalar reference's
// operations in the same order, so outputs are bit-exact with it for every format here.
//
// Every format stores t+1 in {0,1,2}. Decoding keeps codes in the order the activations already
// have (2-bit fields of 16 consecutive bytes are 16 consecutive weights in all three layouts), so
// activations are loaded straight from the row, never shuffled.
#include "neon.hpp"
#include "simd.hpp"

#include "tiling.hpp"

#include <arm_neon.h>

#include <algorithm>
#include <cstdint>

namespace bitnet::neon {
namespace {

constexpr int kRows = 4;          // weight rows per micro-kernel tile
constexpr int kTokens = 4;        // tokens per micro-kernel tile
constexpr int kChunk = 64;        // tokens whose Σq a thread keeps on its stack
constexpr int64_t kRowAlign = 16; // rows per thread come in multiples of this

// The 2-bit field at bit `Shift` of each byte: codes 0..2 (3 only in malformed data).
template <int Shift>
inline int8x16_t field2(uint8x16_t v) {
    if constexpr (Shift == 0) return vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(3)));
    else return vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, Shift), vdupq_n_u8(3)));
}

// Σ q over `len` int8 (len a multiple of 16).
inline int32_t sum_q(const int8_t* q, int64_t len) {
    int32x4_t acc = vdupq_n_s32(0);
    const int8x16_t ones = vdupq_n_s8(1);
    for (int64_t i = 0; i < len; i += 16) acc = vdotq_s32(acc, ones, vld1q_s8(q + i));
    return vaddvq_s32(acc);
}

// acc[r][t] += codes[r] · x[t] for 16 lanes of R rows and T tokens at element offset `at`.
template <int R, int T>
inline void dot16(int32x4_t acc[R][kTokens], const int8x16_t* codes, const int8_t* const* x, int64_t at) {
    for (int t = 0; t < T; ++t) {
        const int8x16_t xv = vld1q_s8(x[t] + at);
        for (int r = 0; r < R; ++r) acc[r][t] = vdotq_s32(acc[r][t], codes[r], xv);
    }
}

template <int R, int T>
inline void zero(int32x4_t acc[R][kTokens]) {
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_s32(0);
}

// ---- I2_S -------------------------------------------------------------------------------------

// One bit field of a 128-block: byte j's field at `Shift` is weight 32g + j, g = (6 - Shift) / 2.
template <int Shift, int R, int T>
inline void i2s_field(int32x4_t acc[R][kTokens], const uint8x16_t (*raw)[2], const int8_t* const* x, int64_t at) {
    constexpr int g = (6 - Shift) / 2;
    for (int part = 0; part < 2; ++part) { // bytes 0..15, then 16..31
        int8x16_t c[R];
        for (int r = 0; r < R; ++r) c[r] = field2<Shift>(raw[r][part]);
        dot16<R, T>(acc, c, x, at + 32 * g + 16 * part);
    }
}

// Σ code·q (codes 0..2, not yet offset) of R rows with T tokens.
template <int R, int T>
void i2s_tile(const uint8_t* w, size_t rb, int64_t nblk, const int8_t* const* x, int32_t out[][kTokens]) {
    int32x4_t acc[R][kTokens];
    zero<R, T>(acc);
    for (int64_t b = 0; b < nblk; ++b) {
        uint8x16_t raw[R][2];
        for (int r = 0; r < R; ++r) {
            raw[r][0] = vld1q_u8(w + r * rb + b * 32);
            raw[r][1] = vld1q_u8(w + r * rb + b * 32 + 16);
        }
        i2s_field<6, R, T>(acc, raw, x, b * 128);
        i2s_field<4, R, T>(acc, raw, x, b * 128);
        i2s_field<2, R, T>(acc, raw, x, b * 128);
        i2s_field<0, R, T>(acc, raw, x, b * 128);
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = vaddvq_s32(acc[r][t]);
}

// bitnet.cpp's form: Σ t·q = Σ code·q − Σ q, with Σ q from the quantizer's row sums when it gave
// them (so the weights are never offset), then y = (float)((float)dot / s) · w_scale.
bitnet_status i2s_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    const int64_t K = a.k, nblk = K / 128;
    const size_t rb = static_cast<size_t>(K / 4);
    const auto* W = static_cast<const uint8_t*>(a.w->data);
    const bitnet_qact& xq = *a.x_q;
    x86::parallel_ranges(p, a.n, kRowAlign, [&](int64_t n0, int64_t n1) {
        int32_t qsum[kChunk];
        int64_t c0 = 0;
        x86::walk_tiles<kRows, kTokens>(
            n0, n1, a.m, kChunk,
            [&](int64_t t0, int64_t tc) {
                c0 = t0;
                for (int64_t t = 0; t < tc; ++t)
                    qsum[t] = xq.row_sums != nullptr ? xq.row_sums[t0 + t]
                                                     : sum_q(xq.data + (t0 + t) * xq.row_stride, K);
            },
            [&](int64_t n, int rows, int64_t t0, int tokens) {
                const int8_t* xs[kTokens];
                for (int t = 0; t < tokens; ++t) xs[t] = xq.data + (t0 + t) * xq.row_stride;
                int32_t dots[kRows][kTokens];
                x86::dispatch_tile<kRows>(rows, tokens, [&]<int R, int T>() {
                    i2s_tile<R, T>(W + n * rb, rb, nblk, xs, dots);
                });
                for (int t = 0; t < tokens; ++t) {
                    const int64_t m = t0 + t;
                    for (int r = 0; r < rows; ++r) {
                        const int32_t dot = dots[r][t] - qsum[m - c0];
                        const float unscaled = static_cast<float>(dot) / xq.scales[m];
                        a.y[m * a.ldy + n + r] = unscaled * a.w->scale;
                    }
                }
            });
    });
    return BITNET_OK;
}

// ---- TQ2_0 / TQ1_0 ----------------------------------------------------------------------------
// Q8_K activations carry no per-block Σq, so these kernels subtract 1 from the codes instead of
// offsetting the dot: one vector op per 16 weights, shared by the tile's tokens.

inline int8x16_t minus1(int8x16_t c) { return vsubq_s8(c, vdupq_n_s8(1)); }

// The scalar reference's epilogue for one 256-block: sumf += (float)sumi * (d_act * d_w).
template <int R, int T>
inline void tq_block_epilogue(const int32x4_t acc[R][kTokens], const float* const* da, const float* dw,
                              int64_t b, float sumf[][kTokens]) {
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) {
            const int32_t sumi = vaddvq_s32(acc[r][t]);
            const float d = da[t][b] * dw[r];
            sumf[r][t] += static_cast<float>(sumi) * d;
        }
}

// TQ2_0 block (66 bytes): within half h (32 bytes), bit pair l of byte m is element 128h + 32l + m;
// f16 d at 64.
template <int Shift, int R, int T>
inline void tq2_field(int32x4_t acc[R][kTokens], const uint8x16_t (*raw)[2], const int8_t* const* x, int64_t at) {
    for (int part = 0; part < 2; ++part) { // bytes m = 0..15, then 16..31
        int8x16_t c[R];
        for (int r = 0; r < R; ++r) c[r] = minus1(field2<Shift>(raw[r][part]));
        dot16<R, T>(acc, c, x, at + 16 * Shift + 16 * part); // 32l with l = Shift / 2
    }
}

template <int R, int T>
void tq2_tile(const uint8_t* w, size_t rb, int64_t nb, const int8_t* const* x, const float* const* da,
              float sumf[][kTokens]) {
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) sumf[r][t] = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
        int32x4_t acc[R][kTokens];
        zero<R, T>(acc);
        for (int h = 0; h < 2; ++h) {
            uint8x16_t raw[R][2];
            for (int r = 0; r < R; ++r) {
                raw[r][0] = vld1q_u8(w + r * rb + b * 66 + 32 * h);
                raw[r][1] = vld1q_u8(w + r * rb + b * 66 + 32 * h + 16);
            }
            const int64_t at = b * 256 + 128 * h;
            tq2_field<0, R, T>(acc, raw, x, at);
            tq2_field<2, R, T>(acc, raw, x, at);
            tq2_field<4, R, T>(acc, raw, x, at);
            tq2_field<6, R, T>(acc, raw, x, at);
        }
        float dw[R];
        for (int r = 0; r < R; ++r) dw[r] = half_to_float(w + r * rb + b * 66 + 64);
        tq_block_epilogue<R, T>(acc, da, dw, b, sumf);
    }
}

// TQ1_0 trits: trit n of byte v is floor(3 * ((v * 3^n) mod 256) / 256). vmulq_u8 wraps mod 256,
// and floor(3s/256) = (s + (s >> 1)) >> 7 for a byte s (3s/256 and (3s-1)/256 straddle no
// integer), which uhadd computes without leaving 8 bits.
inline int8x16_t tq1_trit(uint8x16_t v, uint8x16_t pow3) {
    const uint8x16_t s = vmulq_u8(v, pow3);
    return minus1(vreinterpretq_s8_u8(vshrq_n_u8(vhaddq_u8(s, vshrq_n_u8(s, 1)), 6)));
}

// TQ1_0 block (54 bytes): qs[0..31] trit n -> element 32n + m; qs[32..47] trit n -> 160 + 16n + m;
// qh[0..3] trit n -> 240 + 4n + j; f16 d at 52. qh is broadcast to four lanes groups and raised
// to 3^n per group, so one vector covers elements 240..255 in order.
template <int R, int T>
void tq1_tile(const uint8_t* w, size_t rb, int64_t nb, const int8_t* const* x, const float* const* da,
              float sumf[][kTokens]) {
    static constexpr uint8_t kQhPow[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const uint8x16_t qh_pow = vld1q_u8(kQhPow);
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) sumf[r][t] = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
        int32x4_t acc[R][kTokens];
        zero<R, T>(acc);
        const int64_t at = b * 256;
        uint8_t pow3 = 1;
        for (int n = 0; n < 5; ++n, pow3 = static_cast<uint8_t>(pow3 * 3)) {
            const uint8x16_t pw = vdupq_n_u8(pow3);
            int8x16_t c[R];
            for (int part = 0; part < 3; ++part) {
                for (int r = 0; r < R; ++r) c[r] = tq1_trit(vld1q_u8(w + r * rb + b * 54 + 16 * part), pw);
                dot16<R, T>(acc, c, x, at + (part < 2 ? 32 * n + 16 * part : 160 + 16 * n));
            }
        }
        int8x16_t c[R];
        for (int r = 0; r < R; ++r)
            c[r] = tq1_trit(vreinterpretq_u8_u32(vdupq_n_u32(load_u32(w + r * rb + b * 54 + 48))), qh_pow);
        dot16<R, T>(acc, c, x, at + 240);
        float dw[R];
        for (int r = 0; r < R; ++r) dw[r] = half_to_float(w + r * rb + b * 54 + 52);
        tq_block_epilogue<R, T>(acc, da, dw, b, sumf);
    }
}

template <bool Tq1>
bitnet_status tq_matmul(const Plugin& p, const bitnet_matmul_args& a) {
    const int64_t K = a.k, nb = K / 256;
    const size_t rb = static_cast<size_t>(nb * (Tq1 ? 54 : 66));
    const auto* W = static_cast<const uint8_t*>(a.w->data);
    const bitnet_qact& xq = *a.x_q;
    x86::parallel_ranges(p, a.n, kRowAlign, [&](int64_t n0, int64_t n1) {
        x86::walk_tiles<kRows, kTokens>(
            n0, n1, a.m, kChunk, [](int64_t, int64_t) {},
            [&](int64_t n, int rows, int64_t t0, int tokens) {
                const int8_t* xs[kTokens];
                const float* da[kTokens];
                for (int t = 0; t < tokens; ++t) {
                    xs[t] = xq.data + (t0 + t) * xq.row_stride;
                    da[t] = xq.scales + (t0 + t) * nb;
                }
                float sumf[kRows][kTokens];
                x86::dispatch_tile<kRows>(rows, tokens, [&]<int R, int T>() {
                    if constexpr (Tq1) tq1_tile<R, T>(W + n * rb, rb, nb, xs, da, sumf);
                    else tq2_tile<R, T>(W + n * rb, rb, nb, xs, da, sumf);
                });
                for (int t = 0; t < tokens; ++t)
                    for (int r = 0; r < rows; ++r) a.y[(t0 + t) * a.ldy + n + r] = sumf[r][t] * a.w->scale;
            });
    });
    return BITNET_OK;
}

} // namespace

bitnet_status run_matmul_i2s_i8row(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_i2s_i8row__neondot", BITNET_ACT_I8_ROW, 128,
                           &x86::i2s_row_bytes, &i2s_matmul);
}

bitnet_status run_matmul_tq2_0_i8b256(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_tq2_0_i8b256__neondot", BITNET_ACT_I8_B256, 256,
                           &x86::tq2_row_bytes, &tq_matmul<false>);
}

bitnet_status run_matmul_tq1_0_i8b256(void* plugin, const void* args, void*) noexcept {
    return x86::run_matmul(plugin, args, "matmul_tq1_0_i8b256__neondot", BITNET_ACT_I8_B256, 256,
                           &x86::tq1_row_bytes, &tq_matmul<true>);
}

} // namespace bitnet::neon
