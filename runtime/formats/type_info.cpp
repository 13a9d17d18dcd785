// The table of known GGML types and the size arithmetic the GGUF reader trusts.
#include "formats/formats.hpp"

#include <array>

namespace bitnet::formats {
namespace {

constexpr std::array<TypeInfo, 23> kTypes{{
    {GgmlType::F32, "f32", 1, 4, BITNET_WF_F32},
    {GgmlType::F16, "f16", 1, 2, BITNET_WF_F16},
    {GgmlType::Q4_0, "q4_0", 32, 18, BITNET_WF_NONE},
    {GgmlType::Q4_1, "q4_1", 32, 20, BITNET_WF_NONE},
    {GgmlType::Q5_0, "q5_0", 32, 22, BITNET_WF_NONE},
    {GgmlType::Q5_1, "q5_1", 32, 24, BITNET_WF_NONE},
    {GgmlType::Q8_0, "q8_0", 32, 34, BITNET_WF_Q8_0},
    {GgmlType::Q8_1, "q8_1", 32, 36, BITNET_WF_NONE},
    {GgmlType::Q2_K, "q2_k", 256, 84, BITNET_WF_NONE},
    {GgmlType::Q3_K, "q3_k", 256, 110, BITNET_WF_NONE},
    {GgmlType::Q4_K, "q4_k", 256, 144, BITNET_WF_NONE},
    {GgmlType::Q5_K, "q5_k", 256, 176, BITNET_WF_NONE},
    {GgmlType::Q6_K, "q6_k", 256, 210, BITNET_WF_Q6_K},
    {GgmlType::Q8_K, "q8_k", 256, 292, BITNET_WF_NONE},
    {GgmlType::I8, "i8", 1, 1, BITNET_WF_NONE},
    {GgmlType::I16, "i16", 1, 2, BITNET_WF_NONE},
    {GgmlType::I32, "i32", 1, 4, BITNET_WF_NONE},
    {GgmlType::I64, "i64", 1, 8, BITNET_WF_NONE},
    {GgmlType::F64, "f64", 1, 8, BITNET_WF_NONE},
    {GgmlType::BF16, "bf16", 1, 2, BITNET_WF_BF16},
    {GgmlType::TQ1_0, "tq1_0", 256, 54, BITNET_WF_TQ1_0},
    {GgmlType::TQ2_0, "tq2_0", 256, 66, BITNET_WF_TQ2_0},
    // I2_S's per-row cost is 2 bits per weight; the 32-byte scale trailer is added per tensor.
    {GgmlType::I2_S, "i2_s", 128, 32, BITNET_WF_I2_S},
}};

} // namespace

const TypeInfo* type_info(uint32_t ggml_type) {
    for (const TypeInfo& t : kTypes)
        if (static_cast<uint32_t>(t.type) == ggml_type) return &t;
    return nullptr;
}

const TypeInfo* type_info(bitnet_weight_format wf) {
    if (wf == BITNET_WF_NONE) return nullptr;
    for (const TypeInfo& t : kTypes)
        if (t.wf == wf) return &t;
    return nullptr;
}

std::string_view weight_format_name(bitnet_weight_format wf) {
    const TypeInfo* t = type_info(wf);
    return t != nullptr ? t->name : std::string_view("none");
}

std::optional<bitnet_weight_format> parse_weight_format(std::string_view name) {
    if (name == "none") return BITNET_WF_NONE;
    for (const TypeInfo& t : kTypes)
        if (t.wf != BITNET_WF_NONE && t.name == name) return t.wf;
    return std::nullopt;
}

std::optional<size_t> row_bytes(GgmlType type, int64_t row_len) {
    const TypeInfo* t = type_info(static_cast<uint32_t>(type));
    if (t == nullptr || row_len <= 0 || row_len % t->block_elems != 0) return std::nullopt;
    size_t out = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(row_len / t->block_elems), t->block_bytes, &out))
        return std::nullopt;
    return out;
}

std::optional<size_t> tensor_bytes(GgmlType type, int64_t row_len, int64_t nrows) {
    if (nrows < 0) return std::nullopt;
    const std::optional<size_t> row = row_bytes(type, row_len);
    if (!row) return std::nullopt;
    size_t out = 0;
    if (__builtin_mul_overflow(*row, static_cast<uint64_t>(nrows), &out)) return std::nullopt;
    if (type == GgmlType::I2_S && __builtin_add_overflow(out, size_t{32}, &out)) return std::nullopt;
    return out;
}

} // namespace bitnet::formats
