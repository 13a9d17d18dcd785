// Ternary weight formats: Microsoft's x86 I2_S and ggml's TQ1_0 / TQ2_0.
//
// Every format stores code+1 (0, 1, 2 for -1, 0, +1). Decoders compute code = stored - 1 without
// checking, as the reference kernels do, so a stray 3 in I2_S/TQ2_0 decodes to +2 exactly as
// bitnet.cpp and ggml would treat it.
#include "internal.hpp"

#include <algorithm>
#include <stdexcept>

namespace bitnet::formats {
namespace detail {
namespace {

constexpr size_t kTq1Qs = 48;  // 5 trits per byte
constexpr size_t kTq1Qh = 4;   // 4 trits per byte
constexpr uint8_t kPow3[6] = {1, 3, 9, 27, 81, 243};

// ggml's TQ1_0 stores a base-3 number q (most significant trit first) as ceil(q * 256 / 243), a
// fixed-point fraction of 3^5, so trit n is the integer part of 3 * frac(byte * 3^n / 256).
inline int8_t tq1_trit(uint8_t byte, int n) {
    const auto shifted = static_cast<uint8_t>(byte * kPow3[n]);
    return static_cast<int8_t>(((static_cast<uint16_t>(shifted) * 3u) >> 8) - 1);
}

inline uint8_t tq1_pack(uint32_t q) { return static_cast<uint8_t>((q * 256u + 242u) / 243u); }

inline uint8_t stored(int8_t code) { return static_cast<uint8_t>(std::clamp<int>(code, -1, 1) + 1); }

} // namespace

void i2s_codes(const uint8_t* row, int64_t row_len, int8_t* codes) {
    for (int64_t b = 0; b < row_len / kI2sBlock; ++b) {
        const uint8_t* blk = row + b * 32;
        int8_t* out = codes + b * kI2sBlock;
        for (int j = 0; j < 32; ++j) {
            const uint8_t v = blk[j];
            out[j] = static_cast<int8_t>(((v >> 6) & 3) - 1);
            out[j + 32] = static_cast<int8_t>(((v >> 4) & 3) - 1);
            out[j + 64] = static_cast<int8_t>(((v >> 2) & 3) - 1);
            out[j + 96] = static_cast<int8_t>((v & 3) - 1);
        }
    }
}

void tq2_codes(const uint8_t* row, int64_t row_len, int8_t* codes, float* block_scales) {
    for (int64_t b = 0; b < row_len / kQK_K; ++b) {
        const uint8_t* blk = row + b * kTq2Bytes;
        int8_t* out = codes + b * kQK_K;
        // Bytes 0..31 hold elements 0..127, bytes 32..63 elements 128..255; within a half, the
        // bit pair l of byte m is element 32*l + m.
        for (int half = 0; half < 2; ++half)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m)
                    out[half * 128 + l * 32 + m] =
                        static_cast<int8_t>(((blk[half * 32 + m] >> (2 * l)) & 3) - 1);
        if (block_scales != nullptr) block_scales[b] = fp16_to_f32(load_u16(blk + 64));
    }
}

void tq1_codes(const uint8_t* row, int64_t row_len, int8_t* codes, float* block_scales) {
    for (int64_t b = 0; b < row_len / kQK_K; ++b) {
        const uint8_t* qs = row + b * kTq1Bytes;
        const uint8_t* qh = qs + kTq1Qs;
        int8_t* out = codes + b * kQK_K;
        // qs[0..31]: trit n of byte m is element 32n + m (elements 0..159);
        // qs[32..47]: element 160 + 16n + m; qh[j]: trit n is element 240 + 4n + j.
        for (int n = 0; n < 5; ++n)
            for (int m = 0; m < 32; ++m) out[n * 32 + m] = tq1_trit(qs[m], n);
        for (int n = 0; n < 5; ++n)
            for (int m = 0; m < 16; ++m) out[160 + n * 16 + m] = tq1_trit(qs[32 + m], n);
        for (int n = 0; n < 4; ++n)
            for (int j = 0; j < 4; ++j) out[240 + n * 4 + j] = tq1_trit(qh[j], n);
        if (block_scales != nullptr) block_scales[b] = fp16_to_f32(load_u16(qh + kTq1Qh));
    }
}

namespace {
template <void (*Codes)(const uint8_t*, int64_t, int8_t*, float*)>
void tq_dequant(const uint8_t* row, int64_t row_len, float* dst) {
    int8_t codes[kQK_K];
    float d = 0.0f;
    const size_t bytes = Codes == &tq1_codes ? kTq1Bytes : kTq2Bytes;
    for (int64_t b = 0; b < row_len / kQK_K; ++b) {
        Codes(row + b * bytes, kQK_K, codes, &d);
        // ggml computes (float)(q - 1) * d; the product of a small integer and d is exact.
        for (int64_t i = 0; i < kQK_K; ++i) dst[b * kQK_K + i] = static_cast<float>(codes[i]) * d;
    }
}
} // namespace

void tq1_dequant(const uint8_t* row, int64_t row_len, float* dst) { tq_dequant<&tq1_codes>(row, row_len, dst); }
void tq2_dequant(const uint8_t* row, int64_t row_len, float* dst) { tq_dequant<&tq2_codes>(row, row_len, dst); }

namespace {

void tq2_encode_block(const int8_t* c, uint16_t d, uint8_t* blk) {
    for (int half = 0; half < 2; ++half)
        for (int m = 0; m < 32; ++m) {
            uint8_t v = 0;
            for (int l = 0; l < 4; ++l)
                v = static_cast<uint8_t>(v | (stored(c[half * 128 + l * 32 + m]) << (2 * l)));
            blk[half * 32 + m] = v;
        }
    store_u16(blk + 64, d);
}

void tq1_encode_block(const int8_t* c, uint16_t d, uint8_t* blk) {
    uint8_t* qs = blk;
    uint8_t* qh = blk + kTq1Qs;
    for (int m = 0; m < 32; ++m) {
        uint32_t q = 0;
        for (int n = 0; n < 5; ++n) q = q * 3 + stored(c[n * 32 + m]);
        qs[m] = tq1_pack(q);
    }
    for (int m = 0; m < 16; ++m) {
        uint32_t q = 0;
        for (int n = 0; n < 5; ++n) q = q * 3 + stored(c[160 + n * 16 + m]);
        qs[32 + m] = tq1_pack(q);
    }
    for (int j = 0; j < 4; ++j) {
        uint32_t q = 0;
        for (int n = 0; n < 4; ++n) q = q * 3 + stored(c[240 + n * 4 + j]);
        qh[j] = tq1_pack(q * 3); // the unused fifth trit is the least significant one
    }
    store_u16(qh + kTq1Qh, d);
}

} // namespace
} // namespace detail

using namespace detail;

float i2s_scale(const void* tensor, int64_t n) {
    return load_f32(static_cast<const uint8_t*>(tensor) + n / 4);
}

void ternary_row_codes(GgmlType type, const void* tensor, int64_t row, int64_t row_len,
                       int8_t* codes, float* block_scales) {
    const std::optional<size_t> rb = row_bytes(type, row_len);
    if (!rb) throw std::invalid_argument("ternary_row_codes: row length does not fit the type");
    const uint8_t* p = static_cast<const uint8_t*>(tensor) + static_cast<size_t>(row) * *rb;
    switch (type) {
    case GgmlType::I2_S:
        i2s_codes(p, row_len, codes);
        if (block_scales != nullptr) std::fill_n(block_scales, (row_len + kQK_K - 1) / kQK_K, 1.0f);
        return;
    case GgmlType::TQ1_0: tq1_codes(p, row_len, codes, block_scales); return;
    case GgmlType::TQ2_0: tq2_codes(p, row_len, codes, block_scales); return;
    default: throw std::invalid_argument("ternary_row_codes: not a ternary type");
    }
}

void quantize_ternary(GgmlType type, const int8_t* codes, float scale, int64_t row_len,
                      int64_t nrows, void* dst) {
    const std::optional<size_t> total = tensor_bytes(type, row_len, nrows);
    if (!total) throw std::invalid_argument("quantize_ternary: row length does not fit the type");
    auto* out = static_cast<uint8_t*>(dst);
    const int64_t n = row_len * nrows;
    switch (type) {
    case GgmlType::I2_S: {
        std::fill_n(out, *total, uint8_t{0});
        for (int64_t b = 0; b < n / kI2sBlock; ++b) {
            const int8_t* c = codes + b * kI2sBlock;
            for (int j = 0; j < 32; ++j)
                out[b * 32 + j] = static_cast<uint8_t>((stored(c[j]) << 6) | (stored(c[j + 32]) << 4) |
                                                       (stored(c[j + 64]) << 2) | stored(c[j + 96]));
        }
        store_f32(out + n / 4, scale);
        return;
    }
    case GgmlType::TQ1_0:
    case GgmlType::TQ2_0: {
        const uint16_t d = f32_to_fp16(scale);
        const bool tq1 = type == GgmlType::TQ1_0;
        for (int64_t b = 0; b < n / kQK_K; ++b) {
            if (tq1) tq1_encode_block(codes + b * kQK_K, d, out + b * kTq1Bytes);
            else tq2_encode_block(codes + b * kQK_K, d, out + b * kTq2Bytes);
        }
        return;
    }
    default: throw std::invalid_argument("quantize_ternary: not a ternary type");
    }
}

} // namespace bitnet::formats
