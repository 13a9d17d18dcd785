#include "formats/formats.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

namespace bf = bitnet::formats;

namespace {
uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
float from_bits(uint32_t u) { return std::bit_cast<float>(u); }
} // namespace

TEST(Fp16, KnownValues) {
    EXPECT_EQ(bf::f32_to_fp16(1.0f), 0x3c00);
    EXPECT_EQ(bf::f32_to_fp16(-2.0f), 0xc000);
    EXPECT_EQ(bf::f32_to_fp16(0.0f), 0x0000);
    EXPECT_EQ(bf::f32_to_fp16(-0.0f), 0x8000);
    EXPECT_EQ(bf::f32_to_fp16(65504.0f), 0x7bff);
    EXPECT_EQ(bf::f32_to_fp16(0x1p-14f), 0x0400); // smallest normal
    EXPECT_EQ(bf::fp16_to_f32(0x3555), 0x1.554p-2f);
    EXPECT_EQ(bf::fp16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(bits(bf::fp16_to_f32(0x8000)), 0x80000000u);
}

TEST(Fp16, RoundingAndOverflow) {
    // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to the even one.
    EXPECT_EQ(bf::f32_to_fp16(1.0f + 0x1p-11f), 0x3c00);
    EXPECT_EQ(bf::f32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);
    EXPECT_EQ(bf::f32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    EXPECT_EQ(bf::f32_to_fp16(65519.0f), 0x7bff);
    EXPECT_EQ(bf::f32_to_fp16(65520.0f), 0x7c00); // tie between 65504 and 2^16 rounds to inf
    EXPECT_EQ(bf::f32_to_fp16(1e10f), 0x7c00);
    EXPECT_EQ(bf::f32_to_fp16(-1e10f), 0xfc00);
}

TEST(Fp16, InfNan) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(bf::f32_to_fp16(inf), 0x7c00);
    EXPECT_EQ(bf::f32_to_fp16(-inf), 0xfc00);
    EXPECT_EQ(bf::fp16_to_f32(0x7c00), inf);
    EXPECT_EQ(bf::fp16_to_f32(0xfc00), -inf);
    EXPECT_TRUE(std::isnan(bf::fp16_to_f32(0x7e00)));
    EXPECT_TRUE(std::isnan(bf::fp16_to_f32(0x7c01)));
    // A NaN whose payload lives only in the low bits must not turn into infinity.
    const uint16_t h = bf::f32_to_fp16(from_bits(0x7f800001u));
    EXPECT_EQ(h & 0x7c00, 0x7c00);
    EXPECT_NE(h & 0x03ff, 0);
    EXPECT_EQ(bf::f32_to_fp16(-std::numeric_limits<float>::quiet_NaN()) & 0x8000, 0x8000);
}

TEST(Fp16, Subnormals) {
    EXPECT_EQ(bf::fp16_to_f32(0x0001), 0x1p-24f);
    EXPECT_EQ(bf::fp16_to_f32(0x03ff), 1023 * 0x1p-24f);
    EXPECT_EQ(bf::fp16_to_f32(0x8001), -0x1p-24f);
    EXPECT_EQ(bf::f32_to_fp16(0x1p-24f), 0x0001);
    EXPECT_EQ(bf::f32_to_fp16(0x1p-25f), 0x0000);          // tie with 0 -> even (0)
    EXPECT_EQ(bf::f32_to_fp16(0x1.8p-25f), 0x0001);
    EXPECT_EQ(bf::f32_to_fp16(3 * 0x1p-25f), 0x0002);      // 1.5 units: tie -> even (2)
    EXPECT_EQ(bf::f32_to_fp16(5 * 0x1p-25f), 0x0002);      // 2.5 units: tie -> even (2)
    EXPECT_EQ(bf::f32_to_fp16(1e-30f), 0x0000);
    EXPECT_EQ(bf::f32_to_fp16(-1e-30f), 0x8000);
    EXPECT_EQ(bf::f32_to_fp16(from_bits(1)), 0x0000);     // f32 subnormal
    EXPECT_EQ(bf::f32_to_fp16(0x1p-14f - 0x1p-30f), 0x0400); // rounds up into the normals
}

TEST(Fp16, EveryHalfRoundTrips) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = bf::fp16_to_f32(static_cast<uint16_t>(h));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(bf::fp16_to_f32(bf::f32_to_fp16(f)))) << h;
            continue;
        }
        ASSERT_EQ(bf::f32_to_fp16(f), h) << std::hex << h;
    }
}

#if defined(__FLT16_MANT_DIG__)
// The compiler's own conversion is an independent reference for round-to-nearest-even.
TEST(Fp16, MatchesCompilerFloat16) {
    std::mt19937 rng(7);
    for (int i = 0; i < 2000000; ++i) {
        // Concentrate on the exponents a half can represent, plus a few beyond.
        uint32_t u = rng();
        u = (u & 0x807fffffu) | ((100u + (u >> 23) % 48u) << 23);
        const float f = from_bits(u);
        const _Float16 ref = static_cast<_Float16>(f);
        ASSERT_EQ(bf::f32_to_fp16(f), std::bit_cast<uint16_t>(ref)) << std::hexfloat << f;
    }
}
#endif

TEST(Bf16, Conversions) {
    EXPECT_EQ(bf::f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(bf::bf16_to_f32(0x3f80), 1.0f);
    EXPECT_EQ(bf::bf16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(bf::f32_to_bf16(from_bits(0x3f808000u)), 0x3f80); // tie -> even
    EXPECT_EQ(bf::f32_to_bf16(from_bits(0x3f818000u)), 0x3f82); // tie -> even (up)
    EXPECT_EQ(bf::f32_to_bf16(from_bits(0x3f808001u)), 0x3f81);
    EXPECT_EQ(bf::f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
    EXPECT_EQ(bf::f32_to_bf16(from_bits(0x7f7fffffu)), 0x7f80); // max float rounds to inf
    EXPECT_TRUE(std::isnan(bf::bf16_to_f32(bf::f32_to_bf16(from_bits(0x7f800001u)))));
    EXPECT_EQ(bf::f32_to_bf16(from_bits(0x00000001u)), 0x0000); // subnormal rounds to 0
    EXPECT_EQ(bf::f32_to_bf16(from_bits(0x00018000u)), 0x0002); // subnormal tie -> even
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = bf::bf16_to_f32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        ASSERT_EQ(bf::f32_to_bf16(f), h) << std::hex << h;
    }
}
