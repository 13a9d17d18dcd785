#include "formats/formats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace bf = bitnet::formats;

TEST(ActI8Row, HandChecked) {
    // max 127/64 makes s exactly 64, so the ties are exact: 62.5 -> 62 (half away from zero would
    // give 63), 63.5 -> 64, 0.5 -> 0.
    const float x[] = {1.984375f, 0.9765625f, -0.9765625f, 0.9921875f, 0.5f, 0.0f, 0.0078125f, -1.984375f};
    int8_t q[8];
    float s = 0;
    bf::quantize_act_row_i8(x, 8, q, &s);
    EXPECT_EQ(s, 64.0f);
    const int8_t want[] = {127, 62, -62, 64, 32, 0, 0, -127};
    for (int i = 0; i < 8; ++i) EXPECT_EQ(q[i], want[i]) << i;

    const float y[] = {0.5f, 1.25f}; // s = 127/1.25 = 101.6; 0.5*101.6 = 50.8 -> 51
    bf::quantize_act_row_i8(y, 2, q, &s);
    EXPECT_EQ(s, static_cast<float>(127.0 / 1.25));
    EXPECT_EQ(q[0], 51);
    EXPECT_EQ(q[1], 127);
}

TEST(ActI8Row, ZeroAndTinyRows) {
    const float zeros[4] = {};
    int8_t q[4] = {1, 1, 1, 1};
    float s = 0;
    bf::quantize_act_row_i8(zeros, 4, q, &s);
    EXPECT_EQ(s, static_cast<float>(127.0 / 0.00001)); // the 1e-5 floor
    for (int8_t v : q) EXPECT_EQ(v, 0);
    // Below the floor values are not stretched to +-127: 1e-6 * 1.27e7 = 12.7 -> 13.
    const float tiny[2] = {1e-6f, -1e-6f};
    bf::quantize_act_row_i8(tiny, 2, q, &s);
    EXPECT_EQ(q[0], 13);
    EXPECT_EQ(q[1], -13);
}

TEST(ActI8Row, StaysInRangeAndMapsMaxTo127) {
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    std::vector<float> x(2560);
    std::vector<int8_t> q(x.size());
    for (int rep = 0; rep < 50; ++rep) {
        size_t imax = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            x[i] = dist(rng);
            if (std::fabs(x[i]) > std::fabs(x[imax])) imax = i;
        }
        float s = 0;
        bf::quantize_act_row_i8(x.data(), static_cast<int64_t>(x.size()), q.data(), &s);
        EXPECT_EQ(std::abs(q[imax]), 127);
        for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(q[i], std::nearbyintf(x[i] * s)) << i;
    }
}

TEST(ActB256, HandChecked) {
    // Largest |x| is 4, first at index 1 (-4): iscale = -127/-4 = 31.75.
    const float x[] = {2.0f, -4.0f, 4.0f, 1.0f, -2.0f};
    int8_t q[5];
    float d = 0;
    bf::quantize_act_row_b256(x, 5, q, &d);
    const int8_t want[] = {64, -127, 127, 32, -64}; // 63.5 -> 64 (even), 31.75 -> 32
    for (int i = 0; i < 5; ++i) EXPECT_EQ(q[i], want[i]) << i;
    EXPECT_EQ(d, 1.0f / 31.75f);

    // With the positive maximum first the sign flips: iscale = -31.75, d negative.
    const float y[] = {4.0f, -4.0f, 1.0f};
    bf::quantize_act_row_b256(y, 3, q, &d);
    EXPECT_EQ(q[0], -127);
    EXPECT_EQ(q[1], 127);
    EXPECT_EQ(q[2], -32);
    EXPECT_EQ(d, 1.0f / -31.75f);

    // m = -127/64 gives iscale = 64 exactly: 62.5 -> 62 (half to even), 0.5 -> 0.
    const float z[] = {0.9765625f, -1.984375f, 0.0078125f, 1.984375f};
    bf::quantize_act_row_b256(z, 4, q, &d);
    EXPECT_EQ(q[0], 62);
    EXPECT_EQ(q[1], -127);
    EXPECT_EQ(q[2], 0);
    EXPECT_EQ(q[3], 127);
    EXPECT_EQ(d, 1.0f / 64.0f);
}

TEST(ActB256, BlocksZeroBlockAndPartialTail) {
    // 600 values: block 0 live, block 1 all zero, block 2 a 88-element tail with its own max.
    std::vector<float> x(600, 0.0f);
    for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 17) - 8.0f; // max |x| 8, first -8
    x[512] = 0.5f;
    x[599] = -1.0f;
    std::vector<int8_t> q(600, 99);
    float d[3] = {-1, -1, -1};
    bf::quantize_act_row_b256(x.data(), 600, q.data(), d);
    EXPECT_EQ(d[0], 1.0f / (127.0f / 8.0f));
    EXPECT_EQ(q[0], -127); // x = -8 = m
    EXPECT_EQ(q[16], 127);
    EXPECT_EQ(d[1], 0.0f);
    for (int i = 256; i < 512; ++i) ASSERT_EQ(q[i], 0) << i;
    EXPECT_EQ(d[2], 1.0f / 127.0f); // m = -1 -> iscale = 127
    EXPECT_EQ(q[599], -127);
    EXPECT_EQ(q[512], 64);          // 63.5 -> 64
    EXPECT_EQ(q[513], 0);
}
