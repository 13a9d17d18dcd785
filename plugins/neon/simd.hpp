// Small ASIMD helpers for the neon kernel TUs (baseline armv8-a: nothing here needs dotprod).
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace bitnet::neon {

// An f16 stored at an arbitrary (unaligned) address, widened exactly as formats::fp16_to_f32 does
// (FCVT is exact, subnormals included, with the default FPCR).
inline float half_to_float(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

} // namespace bitnet::neon
