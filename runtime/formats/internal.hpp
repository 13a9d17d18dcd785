// Per-format codecs behind the dispatching functions of formats.hpp. Private to bitnet_formats:
// callers have already checked that row_len is a multiple of the block size.
#pragma once

#include "formats/formats.hpp"

#include <cstring>

namespace bitnet::formats::detail {

inline constexpr int64_t kQK_K = 256;    // super-block of the K and TQ types
inline constexpr int64_t kQK8_0 = 32;
inline constexpr int64_t kI2sBlock = 128;
inline constexpr size_t kTq1Bytes = 54;  // qs[48] qh[4] d
inline constexpr size_t kTq2Bytes = 66;  // qs[64] d
inline constexpr size_t kQ8_0Bytes = 34; // d qs[32]
inline constexpr size_t kQ6KBytes = 210; // ql[128] qh[64] scales[16] d

// Unaligned little-endian loads/stores: GGUF data is only 32-byte aligned per tensor and blocks
// of 54/66/210 bytes leave fields at odd addresses.
inline uint16_t load_u16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline float load_f32(const uint8_t* p) { float v; std::memcpy(&v, p, 4); return v; }
inline void store_f32(uint8_t* p, float v) { std::memcpy(p, &v, 4); }

// Ternary formats. `row` points at the first byte of the row (for I2_S: of its packed codes).
void i2s_codes(const uint8_t* row, int64_t row_len, int8_t* codes);
void tq1_codes(const uint8_t* row, int64_t row_len, int8_t* codes, float* block_scales);
void tq2_codes(const uint8_t* row, int64_t row_len, int8_t* codes, float* block_scales);
void tq1_dequant(const uint8_t* row, int64_t row_len, float* dst);
void tq2_dequant(const uint8_t* row, int64_t row_len, float* dst);

// K/8-bit formats.
void q8_0_dequant(const uint8_t* row, int64_t row_len, float* dst);
void q8_0_quant(const float* src, int64_t row_len, uint8_t* row);
void q6_k_dequant(const uint8_t* row, int64_t row_len, float* dst);
void q6_k_quant(const float* src, int64_t row_len, uint8_t* row);

} // namespace bitnet::formats::detail
