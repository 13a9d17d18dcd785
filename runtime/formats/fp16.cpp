// IEEE binary16 and bfloat16 <-> binary32 by bit manipulation, so the results do not depend on
// the compiler's _Float16 support or the FPU's rounding mode.
#include "formats/formats.hpp"

#include <bit>

namespace bitnet::formats {

float fp16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        // Subnormal (or zero): man * 2^-24 is exact in f32.
        const float mag = static_cast<float>(man) * 0x1p-24f;
        return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(mag));
    }
    if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t f32_to_fp16(float f) {
    const uint32_t u = std::bit_cast<uint32_t>(f);
    const auto sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) {
        // Keep the top payload bits and force the quiet bit so the result stays a NaN.
        return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    }
    // 65520 is the midpoint between the largest half (65504) and 2^16; ties-to-even goes up.
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
    if (abs < 0x38800000u) {
        // Result is a half subnormal: value / 2^-24 = mantissa * 2^(exp - 126).
        const uint32_t exp = abs >> 23;
        const uint32_t shift = 126u - exp;
        if (shift > 24) return sign; // below 2^-25: rounds to zero
        const uint32_t man = (abs & 0x7fffffu) | (exp != 0 ? 0x800000u : 0u);
        uint32_t h = man >> shift;
        const uint32_t rem = man & ((1u << shift) - 1u);
        const uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (h & 1u))) ++h; // may carry into the smallest normal
        return static_cast<uint16_t>(sign | h);
    }
    uint32_t h = (abs - (112u << 23)) >> 13;
    const uint32_t rem = abs & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h; // a carry bumps the exponent correctly
    return static_cast<uint16_t>(sign | h);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
    const uint32_t u = std::bit_cast<uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        // Truncation could clear every payload bit and turn a NaN into infinity.
        return static_cast<uint16_t>((u >> 16) | 0x40u);
    }
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

} // namespace bitnet::formats
