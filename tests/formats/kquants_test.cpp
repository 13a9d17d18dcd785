#include "formats/formats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace bf = bitnet::formats;
using bf::GgmlType;

namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

std::vector<float> round_trip(GgmlType t, const std::vector<float>& x, int64_t row_len, int64_t nrows) {
    std::vector<uint8_t> bytes(bf::tensor_bytes(t, row_len, nrows).value());
    bf::quantize_float(t, x.data(), row_len, nrows, bytes.data());
    std::vector<float> y(x.size());
    for (int64_t r = 0; r < nrows; ++r) bf::dequantize_row(t, bytes.data(), r, row_len, y.data() + r * row_len);
    return y;
}

// Largest |x| in the `block`-element block containing element i.
float block_amax(const std::vector<float>& x, size_t i, size_t block) {
    const size_t b = i / block * block;
    float m = 0;
    for (size_t j = b; j < b + block; ++j) m = std::max(m, std::fabs(x[j]));
    return m;
}

} // namespace

TEST(PlainFloats, RoundTrip) {
    for (int64_t row_len : {1, 7, 33}) {
        const auto x = random_floats(static_cast<size_t>(row_len * 3), 5);
        EXPECT_EQ(round_trip(GgmlType::F32, x, row_len, 3), x);
        const auto h = round_trip(GgmlType::F16, x, row_len, 3);
        const auto b = round_trip(GgmlType::BF16, x, row_len, 3);
        for (size_t i = 0; i < x.size(); ++i) {
            EXPECT_EQ(h[i], bf::fp16_to_f32(bf::f32_to_fp16(x[i])));
            EXPECT_EQ(b[i], bf::bf16_to_f32(bf::f32_to_bf16(x[i])));
        }
    }
}

TEST(Q8_0, HandChecked) {
    // amax 127 makes d exactly 1, so every code equals its input.
    std::vector<float> x(32);
    for (int j = 0; j < 31; ++j) x[j] = static_cast<float>(4 * j - 64);
    x[31] = 127.0f;
    std::vector<uint8_t> bytes(34);
    bf::quantize_float(GgmlType::Q8_0, x.data(), 32, 1, bytes.data());
    EXPECT_EQ(bytes[0] | (bytes[1] << 8), 0x3c00);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(static_cast<int8_t>(bytes[2 + j]), static_cast<int>(x[j])) << j;
    // Decoding uses the stored half scale: q * fp16(d).
    bytes[0] = 0x00;
    bytes[1] = 0x38; // d = 0.5
    float y[32];
    bf::dequantize_row(GgmlType::Q8_0, bytes.data(), 0, 32, y);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], x[j] * 0.5f);
}

TEST(Q8_0, RoundTrip) {
    for (int64_t row_len : {32, 96, 160}) {
        const auto x = random_floats(static_cast<size_t>(row_len * 3), 17);
        const auto y = round_trip(GgmlType::Q8_0, x, row_len, 3);
        for (size_t i = 0; i < x.size(); ++i)
            ASSERT_NEAR(y[i], x[i], block_amax(x, i, 32) / 127.0f) << i;
    }
}

TEST(Q6_K, HandCheckedDecode) {
    std::vector<uint8_t> blk(210, 0);
    uint8_t* ql = blk.data();
    uint8_t* qh = blk.data() + 128;
    auto* sc = reinterpret_cast<int8_t*>(blk.data() + 192);
    for (int j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(j - 8);
    blk[208] = 0x00;
    blk[209] = 0x38; // d = 0.5
    ql[0] = 0x21;    // element 0 low nibble 1, element 64 low nibble 2
    ql[32] = 0x43;   // element 32 low nibble 3, element 96 low nibble 4
    qh[0] = 0b11'10'01'00; // high bits: element 0 -> 0, 32 -> 1, 64 -> 2, 96 -> 3
    ql[64 + 17] = 0x0f; // second half, element 128 + 17: q6 = 15
    qh[32 + 17] = 0x03; //   ... with high bits 3: q6 = 63
    float y[256];
    bf::dequantize_row(GgmlType::Q6_K, blk.data(), 0, 256, y);
    auto expect = [](int scale, int q6) { return 0.5f * static_cast<float>(scale) * static_cast<float>(q6 - 32); };
    EXPECT_EQ(y[0], expect(-8, 1));
    EXPECT_EQ(y[32], expect(-6, 3 + 16));
    EXPECT_EQ(y[64], expect(-4, 2 + 32));
    EXPECT_EQ(y[96], expect(-2, 4 + 48));
    EXPECT_EQ(y[145], expect(1, 63));
    EXPECT_EQ(y[1], expect(-8, 0));
    EXPECT_EQ(y[16], expect(-7, 0)); // scale j covers elements 16j..16j+15
    EXPECT_EQ(y[255], expect(7, 0));
}

TEST(Q6_K, RoundTrip) {
    for (int64_t row_len : {256, 768}) {
        auto x = random_floats(static_cast<size_t>(row_len * 2), 23);
        for (size_t i = 0; i < 16; ++i) x[i] = 0.0f; // an all-zero group inside a live block
        const auto y = round_trip(GgmlType::Q6_K, x, row_len, 2);
        for (size_t i = 0; i < x.size(); ++i)
            ASSERT_NEAR(y[i], x[i], block_amax(x, i, 16) / 31.0f + block_amax(x, i, 256) / 127.0f) << i;
        for (size_t i = 0; i < 16; ++i) EXPECT_EQ(y[i], 0.0f);
    }
    std::vector<float> zeros(256, 0.0f);
    EXPECT_EQ(round_trip(GgmlType::Q6_K, zeros, 256, 1), zeros);
}

TEST(Codecs, UnsupportedTypesThrow) {
    float f[32] = {};
    uint8_t b[64] = {};
    EXPECT_THROW(bf::dequantize_row(GgmlType::Q4_0, b, 0, 32, f), std::invalid_argument);
    EXPECT_THROW(bf::quantize_float(GgmlType::TQ2_0, f, 256, 1, b), std::invalid_argument);
    EXPECT_THROW(bf::dequantize_row(GgmlType::Q8_0, b, 0, 31, f), std::invalid_argument);
}
