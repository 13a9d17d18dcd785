// Weight/activation storage formats: block layouts, sizes, conversions and reference
// (de)quantizers. Shared by the host (embedding rows, gen-model) and the scalar plugin, so it
// depends on nothing but the plugin ABI header. Every function is exact about the bit layouts in
// ../shared/MODEL.md and ggml's ggml-quants.c.
#pragma once

#include <bitnet/plugin.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace bitnet::formats {

// GGML tensor type ids as stored in GGUF files. I2_S is 36 in Microsoft's fork (upstream ggml
// has TQ1_0 = 34, TQ2_0 = 35 and uses 36 for nothing we read), so the id alone is enough here.
enum class GgmlType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, I2_S = 36,
};

struct TypeInfo {
    GgmlType type;
    std::string_view name;        // "f16", "tq2_0", "i2_s", ...
    int64_t block_elems;          // elements per block (1 for plain types)
    size_t block_bytes;           // bytes per block
    bitnet_weight_format wf;      // BITNET_WF_NONE when no kernel consumes it
};

// nullptr for ids we do not know (the GGUF reader turns that into an error naming the tensor).
const TypeInfo* type_info(uint32_t ggml_type);
const TypeInfo* type_info(bitnet_weight_format wf);
std::string_view weight_format_name(bitnet_weight_format wf); // "i2_s", "f16", ... ; "none"
std::optional<bitnet_weight_format> parse_weight_format(std::string_view name);

// Bytes a tensor of `nrows` rows of `row_len` elements occupies in the file. nullopt when the
// row length is not a multiple of the block or the product overflows. I2_S: nrows*row_len/4
// packed bytes + 32 (one f32 scale padded to 32 bytes); row_len must be a multiple of 128.
std::optional<size_t> tensor_bytes(GgmlType type, int64_t row_len, int64_t nrows);
// Bytes of one row (not defined for I2_S's trailing scale, which belongs to the tensor).
std::optional<size_t> row_bytes(GgmlType type, int64_t row_len);

// IEEE half / bfloat16 conversions (round to nearest even).
float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

// Per-tensor scale of an I2_S tensor (the f32 after the packed bytes). `n` = element count.
float i2s_scale(const void* tensor, int64_t n);

// Decode row `row` (row_len elements) of a tensor of type `type` whose bytes start at `tensor`
// into f32. For ternary types the result is code * block scale; I2_S rows are *not* multiplied by
// the per-tensor scale (callers apply i2s_scale), so the output is exactly {-1,0,1}.
void dequantize_row(GgmlType type, const void* tensor, int64_t row, int64_t row_len, float* dst);

// Ternary codes {-1,0,+1} of row `row` of a ternary tensor (I2_S, TQ1_0, TQ2_0) into int8, and
// the row's per-256-block scales (TQ: fp16 d of each block; I2_S: 1.0 per block) into `block_scales`
// (ceil(row_len/256) floats; may be null).
void ternary_row_codes(GgmlType type, const void* tensor, int64_t row, int64_t row_len,
                       int8_t* codes, float* block_scales);

// dequantize_row / ternary_row_codes / quantize_* throw std::invalid_argument when the type has
// no codec here (dequantize: F32, F16, BF16, Q8_0, Q6_K, TQ1_0, TQ2_0, I2_S) or row_len is not a
// multiple of its block; they never read or write outside the sizes tensor_bytes/row_bytes give.

// Encoders used by gen-model and tests. Inputs are full tensors (nrows x row_len), outputs are
// `tensor_bytes(...)` bytes.
//  - ternary: codes in {-1,0,1}; I2_S stores `scale` once; TQ types store `scale` as every block's d.
void quantize_ternary(GgmlType type, const int8_t* codes, float scale, int64_t row_len,
                      int64_t nrows, void* dst);
//  - float: F32, F16, BF16, Q8_0, Q6_K (round-to-nearest reference quantizers).
void quantize_float(GgmlType type, const float* src, int64_t row_len, int64_t nrows, void* dst);

// Reference activation quantization (the numerics bitnet_act_type documents). `q` receives k
// int8; returns nothing; scales written as documented: I8_ROW one float, I8_B256 ceil(k/256).
void quantize_act_row_i8(const float* x, int64_t k, int8_t* q, float* scale_out);
void quantize_act_row_b256(const float* x, int64_t k, int8_t* q, float* d_out);

// Float-weight kernels that quantize their f32 activations before multiplying say so in their name
// (docs/plugin-abi.md), and are checked against the reference run on the values they multiply:
//  - "_f32q8k_": llama.cpp's Q8_K, int8 per 256-block (quantize_act_row_b256);
//  - "_f32q8_0_": llama.cpp's Q8_0, int8 per 32-block with an fp16 scale (quantize_float's Q8_0;
//    k a multiple of 32).
enum class ActRounding { none, q8_k, q8_0 };
ActRounding act_rounding_of_kernel(std::string_view kernel_name);
// Replaces x[0..k) by d·q of the rounding's quantizer (nothing for none).
void round_activations(ActRounding r, float* x, int64_t k);

} // namespace bitnet::formats
