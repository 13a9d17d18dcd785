// ggml's 8-bit and 6-bit block formats. Decoders follow ggml's dequantize_row_* operation for
// operation (same float products in the same order) so results are bit-identical.
#include "internal.hpp"

#include <algorithm>
#include <cmath>

namespace bitnet::formats::detail {

void q8_0_dequant(const uint8_t* row, int64_t row_len, float* dst) {
    for (int64_t b = 0; b < row_len / kQK8_0; ++b) {
        const uint8_t* blk = row + b * kQ8_0Bytes;
        const float d = fp16_to_f32(load_u16(blk));
        const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
        for (int j = 0; j < kQK8_0; ++j) dst[b * kQK8_0 + j] = static_cast<float>(qs[j]) * d;
    }
}

void q8_0_quant(const float* src, int64_t row_len, uint8_t* row) {
    // ggml's quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d) (half away from zero).
    for (int64_t b = 0; b < row_len / kQK8_0; ++b) {
        const float* x = src + b * kQK8_0;
        uint8_t* blk = row + b * kQ8_0Bytes;
        float amax = 0.0f;
        for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(blk, f32_to_fp16(d));
        for (int j = 0; j < kQK8_0; ++j)
            blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::roundf(x[j] * id)));
    }
}

// block_q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], f16 d. Each 128-element
// half uses ql[64], qh[32], scales[8]; within a half, element 32k + l (k = 0..3, l = 0..31) takes
// the low nibble of ql[l] (k=0), ql[l+32] (k=1), the high nibble of ql[l] (k=2), ql[l+32] (k=3),
// bits 2k..2k+1 of qh[l], and scale l/16 + 2k. That makes scale j cover elements 16j..16j+15.
void q6_k_dequant(const uint8_t* row, int64_t row_len, float* dst) {
    for (int64_t b = 0; b < row_len / kQK_K; ++b) {
        const uint8_t* ql = row + b * kQ6KBytes;
        const uint8_t* qh = ql + 128;
        const auto* sc = reinterpret_cast<const int8_t*>(ql + 192);
        const float d = fp16_to_f32(load_u16(ql + 208));
        float* y = dst + b * kQK_K;
        for (int half = 0; half < 2; ++half) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                // (d * scale) first, then * q: ggml's evaluation order.
                y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
                y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
                y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
                y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

void q6_k_quant(const float* src, int64_t row_len, uint8_t* row) {
    // Plain round-to-nearest: per 16-element group a scale amax/31 (codes in [-31, 31]), the
    // group scales themselves quantized to int8 against the block's d = max(scale)/127. Not
    // ggml's error-minimising search, but a valid encoding that ggml decodes identically.
    for (int64_t b = 0; b < row_len / kQK_K; ++b) {
        const float* x = src + b * kQK_K;
        uint8_t* blk = row + b * kQ6KBytes;
        std::fill_n(blk, kQ6KBytes, uint8_t{0});
        float group_scale[16];
        float smax = 0.0f;
        for (int j = 0; j < 16; ++j) {
            float amax = 0.0f;
            for (int i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(x[16 * j + i]));
            group_scale[j] = amax / 31.0f;
            smax = std::max(smax, group_scale[j]);
        }
        const uint16_t dh = f32_to_fp16(smax / 127.0f);
        const float d = fp16_to_f32(dh);
        store_u16(blk + 208, dh);
        auto* sc = reinterpret_cast<int8_t*>(blk + 192);
        for (int j = 0; j < 16; ++j) {
            const long s = d > 0.0f ? std::lrintf(group_scale[j] / d) : 0;
            sc[j] = static_cast<int8_t>(std::clamp<long>(s, -128, 127));
        }
        for (int e = 0; e < kQK_K; ++e) {
            const float step = d * static_cast<float>(sc[e / 16]);
            const long q = step != 0.0f ? std::clamp<long>(std::lrintf(x[e] / step), -32, 31) : 0;
            const auto u = static_cast<uint8_t>(q + 32);
            const int half = e / 128, k = (e % 128) / 32, l = e % 32;
            uint8_t* ql = blk + half * 64 + (k & 1) * 32 + l;
            *ql = static_cast<uint8_t>(*ql | ((u & 0xF) << (k >= 2 ? 4 : 0)));
            uint8_t* qh = blk + 128 + half * 32 + l;
            *qh = static_cast<uint8_t>(*qh | ((u >> 4) << (2 * k)));
        }
    }
}

} // namespace bitnet::formats::detail
