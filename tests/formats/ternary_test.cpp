#include "formats/formats.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace bf = bitnet::formats;
using bf::GgmlType;

namespace {

std::vector<int8_t> random_codes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int8_t> c(n);
    for (auto& v : c) v = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
    return c;
}

std::vector<uint8_t> encode(GgmlType t, const std::vector<int8_t>& codes, float scale, int64_t row_len,
                            int64_t nrows) {
    std::vector<uint8_t> out(bf::tensor_bytes(t, row_len, nrows).value(), 0xEE);
    bf::quantize_ternary(t, codes.data(), scale, row_len, nrows, out.data());
    return out;
}

} // namespace

TEST(I2S, HandCheckedLayout) {
    // Two rows of 128. Row 0: w[0] = +1, w[32] = -1, w[97] = +1, others 0. Row 1: w[5] = -1.
    std::vector<int8_t> codes(256, 0);
    codes[0] = 1;
    codes[32] = -1;
    codes[97] = 1;
    codes[128 + 5] = -1;
    const auto bytes = encode(GgmlType::I2_S, codes, 0.75f, 128, 2);
    ASSERT_EQ(bytes.size(), 64u + 32u);
    // Byte j holds w[j], w[j+32], w[j+64], w[j+96] in bits 7:6, 5:4, 3:2, 1:0 as code+1.
    EXPECT_EQ(bytes[0], 0b10'00'01'01);
    EXPECT_EQ(bytes[1], 0b01'01'01'10);
    for (int j = 2; j < 32; ++j) EXPECT_EQ(bytes[j], 0x55) << j;
    EXPECT_EQ(bytes[32 + 5], 0b00'01'01'01);
    EXPECT_EQ(bytes[32 + 6], 0x55);
    float scale;
    std::memcpy(&scale, bytes.data() + 64, 4);
    EXPECT_EQ(scale, 0.75f);
    for (size_t i = 68; i < bytes.size(); ++i) EXPECT_EQ(bytes[i], 0) << "padding byte " << i;
    EXPECT_EQ(bf::i2s_scale(bytes.data(), 256), 0.75f);

    int8_t row[128];
    float scales[1] = {0};
    bf::ternary_row_codes(GgmlType::I2_S, bytes.data(), 1, 128, row, scales);
    EXPECT_EQ(scales[0], 1.0f);
    for (int i = 0; i < 128; ++i) EXPECT_EQ(row[i], i == 5 ? -1 : 0) << i;
    float f[128];
    bf::dequantize_row(GgmlType::I2_S, bytes.data(), 0, 128, f);
    EXPECT_EQ(f[0], 1.0f); // no per-tensor scale applied
    EXPECT_EQ(f[32], -1.0f);
    EXPECT_EQ(f[97], 1.0f);
    EXPECT_EQ(f[1], 0.0f);
}

TEST(TQ2_0, HandCheckedLayout) {
    std::vector<int8_t> codes(256, 0);
    codes[0] = 1;     // byte 0, bits 1:0
    codes[32] = -1;   // byte 0, bits 3:2
    codes[127] = 1;   // byte 31, bits 7:6
    codes[128] = -1;  // byte 32, bits 1:0
    const auto bytes = encode(GgmlType::TQ2_0, codes, 0.5f, 256, 1);
    ASSERT_EQ(bytes.size(), 66u);
    EXPECT_EQ(bytes[0], 0b01'01'00'10);
    EXPECT_EQ(bytes[31], 0b10'01'01'01);
    EXPECT_EQ(bytes[32], 0b01'01'01'00);
    EXPECT_EQ(bytes[64] | (bytes[65] << 8), 0x3800); // fp16(0.5)
}

TEST(TQ1_0, HandCheckedLayout) {
    // All zeros: five stored 1s make q = 121, stored as ceil(121 * 256 / 243) = 128; the qh
    // bytes hold four trits shifted up by one: q = 40 * 3 = 120 -> 127.
    const auto zeros = encode(GgmlType::TQ1_0, std::vector<int8_t>(256, 0), 1.0f, 256, 1);
    ASSERT_EQ(zeros.size(), 54u);
    for (int i = 0; i < 48; ++i) EXPECT_EQ(zeros[i], 128) << i;
    for (int i = 48; i < 52; ++i) EXPECT_EQ(zeros[i], 127) << i;
    EXPECT_EQ(zeros[52] | (zeros[53] << 8), 0x3c00);

    // Element 0 is the most significant trit of byte 0: +1 -> q = 2*81 + 40 = 202 -> 213.
    std::vector<int8_t> codes(256, 0);
    codes[0] = 1;
    const auto one = encode(GgmlType::TQ1_0, codes, 1.0f, 256, 1);
    EXPECT_EQ(one[0], (202 * 256 + 242) / 243);
}

TEST(TQ1_0, EveryFiveTritCombinationDecodes) {
    // Walk all 243 digit patterns through each of the three byte groups (qs[0..31], qs[32..47], qh).
    for (int q = 0; q < 243; ++q) {
        int digits[5];
        for (int n = 4, v = q; n >= 0; --n, v /= 3) digits[n] = v % 3 - 1;
        std::vector<int8_t> codes(256, 0);
        for (int n = 0; n < 5; ++n) {
            codes[n * 32 + 7] = static_cast<int8_t>(digits[n]);        // byte 7
            codes[160 + n * 16 + 3] = static_cast<int8_t>(digits[n]);  // byte 35
        }
        for (int n = 0; n < 4; ++n) codes[240 + n * 4 + 2] = static_cast<int8_t>(digits[n]); // qh[2]
        const auto bytes = encode(GgmlType::TQ1_0, codes, 1.0f, 256, 1);
        int8_t back[256];
        bf::ternary_row_codes(GgmlType::TQ1_0, bytes.data(), 0, 256, back, nullptr);
        ASSERT_EQ(std::memcmp(back, codes.data(), 256), 0) << "pattern " << q;
    }
}

TEST(Ternary, RoundTripAllTypes) {
    struct Case { GgmlType t; int64_t row_len; };
    const Case cases[] = {
        {GgmlType::I2_S, 128}, {GgmlType::I2_S, 384}, {GgmlType::I2_S, 640},
        {GgmlType::TQ1_0, 256}, {GgmlType::TQ1_0, 768}, {GgmlType::TQ1_0, 1280},
        {GgmlType::TQ2_0, 256}, {GgmlType::TQ2_0, 768}, {GgmlType::TQ2_0, 1280},
    };
    const float scale = 0.0123f;
    const float scale16 = bf::fp16_to_f32(bf::f32_to_fp16(scale));
    for (const Case& c : cases) {
        for (int64_t nrows : {1, 3}) {
            const auto codes = random_codes(static_cast<size_t>(c.row_len * nrows), 11 + nrows);
            const auto bytes = encode(c.t, codes, scale, c.row_len, nrows);
            const int64_t nblk = (c.row_len + 255) / 256;
            std::vector<int8_t> back(static_cast<size_t>(c.row_len));
            std::vector<float> scales(static_cast<size_t>(nblk), -1.0f), f(static_cast<size_t>(c.row_len));
            for (int64_t r = 0; r < nrows; ++r) {
                bf::ternary_row_codes(c.t, bytes.data(), r, c.row_len, back.data(), scales.data());
                ASSERT_EQ(std::memcmp(back.data(), codes.data() + r * c.row_len, back.size()), 0)
                    << "type " << static_cast<int>(c.t) << " row_len " << c.row_len << " row " << r;
                const float expect_scale = c.t == GgmlType::I2_S ? 1.0f : scale16;
                for (float s : scales) EXPECT_EQ(s, expect_scale);
                bf::dequantize_row(c.t, bytes.data(), r, c.row_len, f.data());
                for (int64_t i = 0; i < c.row_len; ++i)
                    ASSERT_EQ(f[i], static_cast<float>(back[i]) * expect_scale) << i;
            }
            if (c.t == GgmlType::I2_S) {
                EXPECT_EQ(bf::i2s_scale(bytes.data(), c.row_len * nrows), scale);
            }
        }
    }
}

TEST(Ternary, Tq1AndTq2AgreeOnSameCodes) {
    const auto codes = random_codes(4 * 512, 99);
    const auto a = encode(GgmlType::TQ1_0, codes, 0.25f, 512, 4);
    const auto b = encode(GgmlType::TQ2_0, codes, 0.25f, 512, 4);
    std::vector<float> fa(512), fb(512);
    for (int r = 0; r < 4; ++r) {
        bf::dequantize_row(GgmlType::TQ1_0, a.data(), r, 512, fa.data());
        bf::dequantize_row(GgmlType::TQ2_0, b.data(), r, 512, fb.data());
        EXPECT_EQ(fa, fb) << r;
    }
}

TEST(Ternary, RejectsBadArguments) {
    int8_t codes[256] = {};
    uint8_t buf[128];
    EXPECT_THROW(bf::quantize_ternary(GgmlType::TQ2_0, codes, 1.0f, 128, 1, buf), std::invalid_argument);
    EXPECT_THROW(bf::quantize_ternary(GgmlType::Q8_0, codes, 1.0f, 32, 1, buf), std::invalid_argument);
    EXPECT_THROW(bf::ternary_row_codes(GgmlType::F16, buf, 0, 16, codes, nullptr), std::invalid_argument);
}
