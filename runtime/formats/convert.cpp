// Row-level dispatch between the public (type, tensor, row) API and the per-format codecs.
#include "internal.hpp"

#include <stdexcept>
#include <string>

namespace bitnet::formats {

using namespace detail;

namespace {
[[noreturn]] void unsupported(const char* what, GgmlType type) {
    const TypeInfo* t = type_info(static_cast<uint32_t>(type));
    throw std::invalid_argument(std::string(what) + ": no codec for type " +
                                (t != nullptr ? std::string(t->name) : std::to_string(static_cast<uint32_t>(type))));
}
} // namespace

void dequantize_row(GgmlType type, const void* tensor, int64_t row, int64_t row_len, float* dst) {
    const std::optional<size_t> rb = row_bytes(type, row_len);
    if (!rb) throw std::invalid_argument("dequantize_row: row length does not fit the type");
    const uint8_t* p = static_cast<const uint8_t*>(tensor) + static_cast<size_t>(row) * *rb;
    switch (type) {
    case GgmlType::F32: std::memcpy(dst, p, static_cast<size_t>(row_len) * 4); return;
    case GgmlType::F16:
        for (int64_t i = 0; i < row_len; ++i) dst[i] = fp16_to_f32(load_u16(p + 2 * i));
        return;
    case GgmlType::BF16:
        for (int64_t i = 0; i < row_len; ++i) dst[i] = bf16_to_f32(load_u16(p + 2 * i));
        return;
    case GgmlType::Q8_0: q8_0_dequant(p, row_len, dst); return;
    case GgmlType::Q6_K: q6_k_dequant(p, row_len, dst); return;
    case GgmlType::TQ1_0: tq1_dequant(p, row_len, dst); return;
    case GgmlType::TQ2_0: tq2_dequant(p, row_len, dst); return;
    case GgmlType::I2_S: {
        // Decode through int8 codes a block at a time; the output is the bare code.
        int8_t codes[kI2sBlock];
        for (int64_t b = 0; b < row_len / kI2sBlock; ++b) {
            i2s_codes(p + b * 32, kI2sBlock, codes);
            for (int64_t i = 0; i < kI2sBlock; ++i) dst[b * kI2sBlock + i] = codes[i];
        }
        return;
    }
    default: unsupported("dequantize_row", type);
    }
}

void quantize_float(GgmlType type, const float* src, int64_t row_len, int64_t nrows, void* dst) {
    const std::optional<size_t> total = tensor_bytes(type, row_len, nrows);
    if (!total) throw std::invalid_argument("quantize_float: row length does not fit the type");
    auto* out = static_cast<uint8_t*>(dst);
    const int64_t n = row_len * nrows;
    switch (type) {
    case GgmlType::F32: std::memcpy(out, src, *total); return;
    case GgmlType::F16:
        for (int64_t i = 0; i < n; ++i) store_u16(out + 2 * i, f32_to_fp16(src[i]));
        return;
    case GgmlType::BF16:
        for (int64_t i = 0; i < n; ++i) store_u16(out + 2 * i, f32_to_bf16(src[i]));
        return;
    // Blocks never straddle rows (row_len is a multiple of the block), so the whole tensor can be
    // encoded as one long row.
    case GgmlType::Q8_0: q8_0_quant(src, n, out); return;
    case GgmlType::Q6_K: q6_k_quant(src, n, out); return;
    default: unsupported("quantize_float", type);
    }
}

} // namespace bitnet::formats
