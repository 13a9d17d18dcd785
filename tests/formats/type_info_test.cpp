#include "formats/formats.hpp"

#include <gtest/gtest.h>

namespace bf = bitnet::formats;
using bf::GgmlType;

TEST(TypeInfo, KnownTypes) {
    struct Row { GgmlType t; const char* name; int64_t be; size_t bb; bitnet_weight_format wf; };
    const Row rows[] = {
        {GgmlType::F32, "f32", 1, 4, BITNET_WF_F32},       {GgmlType::F16, "f16", 1, 2, BITNET_WF_F16},
        {GgmlType::BF16, "bf16", 1, 2, BITNET_WF_BF16},    {GgmlType::Q8_0, "q8_0", 32, 34, BITNET_WF_Q8_0},
        {GgmlType::Q6_K, "q6_k", 256, 210, BITNET_WF_Q6_K}, {GgmlType::TQ1_0, "tq1_0", 256, 54, BITNET_WF_TQ1_0},
        {GgmlType::TQ2_0, "tq2_0", 256, 66, BITNET_WF_TQ2_0}, {GgmlType::I2_S, "i2_s", 128, 32, BITNET_WF_I2_S},
        {GgmlType::Q4_0, "q4_0", 32, 18, BITNET_WF_NONE},  {GgmlType::Q4_1, "q4_1", 32, 20, BITNET_WF_NONE},
        {GgmlType::Q5_0, "q5_0", 32, 22, BITNET_WF_NONE},  {GgmlType::Q5_1, "q5_1", 32, 24, BITNET_WF_NONE},
        {GgmlType::Q8_1, "q8_1", 32, 36, BITNET_WF_NONE},  {GgmlType::Q2_K, "q2_k", 256, 84, BITNET_WF_NONE},
        {GgmlType::Q3_K, "q3_k", 256, 110, BITNET_WF_NONE}, {GgmlType::Q4_K, "q4_k", 256, 144, BITNET_WF_NONE},
        {GgmlType::Q5_K, "q5_k", 256, 176, BITNET_WF_NONE}, {GgmlType::Q8_K, "q8_k", 256, 292, BITNET_WF_NONE},
        {GgmlType::I8, "i8", 1, 1, BITNET_WF_NONE},        {GgmlType::I16, "i16", 1, 2, BITNET_WF_NONE},
        {GgmlType::I32, "i32", 1, 4, BITNET_WF_NONE},      {GgmlType::I64, "i64", 1, 8, BITNET_WF_NONE},
        {GgmlType::F64, "f64", 1, 8, BITNET_WF_NONE},
    };
    for (const Row& r : rows) {
        const bf::TypeInfo* t = bf::type_info(static_cast<uint32_t>(r.t));
        ASSERT_NE(t, nullptr) << r.name;
        EXPECT_EQ(t->type, r.t);
        EXPECT_EQ(t->name, r.name);
        EXPECT_EQ(t->block_elems, r.be) << r.name;
        EXPECT_EQ(t->block_bytes, r.bb) << r.name;
        EXPECT_EQ(t->wf, r.wf) << r.name;
    }
    EXPECT_EQ(bf::type_info(99u), nullptr);
    EXPECT_EQ(bf::type_info(16u), nullptr); // IQ2_XXS: a real ggml id we do not size
}

TEST(TypeInfo, WeightFormats) {
    for (int i = 1; i < BITNET_WF_COUNT_; ++i) {
        const auto wf = static_cast<bitnet_weight_format>(i);
        const bf::TypeInfo* t = bf::type_info(wf);
        ASSERT_NE(t, nullptr) << i;
        EXPECT_EQ(t->wf, wf);
        EXPECT_EQ(bf::weight_format_name(wf), t->name);
        EXPECT_EQ(bf::parse_weight_format(t->name), wf);
    }
    EXPECT_EQ(bf::type_info(BITNET_WF_NONE), nullptr);
    EXPECT_EQ(bf::weight_format_name(BITNET_WF_NONE), "none");
    EXPECT_EQ(bf::parse_weight_format("none"), BITNET_WF_NONE);
    EXPECT_EQ(bf::parse_weight_format("q4_0"), std::nullopt); // known type, but no kernel format
    EXPECT_EQ(bf::parse_weight_format("I2_S"), std::nullopt);
}

TEST(TypeInfo, Sizes) {
    EXPECT_EQ(bf::row_bytes(GgmlType::F16, 7), 14u);
    EXPECT_EQ(bf::row_bytes(GgmlType::Q8_0, 96), 3u * 34);
    EXPECT_EQ(bf::row_bytes(GgmlType::Q8_0, 33), std::nullopt);
    EXPECT_EQ(bf::row_bytes(GgmlType::Q6_K, 768), 3u * 210);
    EXPECT_EQ(bf::row_bytes(GgmlType::TQ1_0, 256), 54u);
    EXPECT_EQ(bf::row_bytes(GgmlType::TQ2_0, 128), std::nullopt);
    EXPECT_EQ(bf::row_bytes(GgmlType::I2_S, 384), 96u);
    EXPECT_EQ(bf::row_bytes(GgmlType::I2_S, 64), std::nullopt);
    EXPECT_EQ(bf::row_bytes(GgmlType::F32, 0), std::nullopt);
    EXPECT_EQ(bf::row_bytes(static_cast<GgmlType>(99), 32), std::nullopt);
    EXPECT_EQ(bf::tensor_bytes(GgmlType::I2_S, 128, 2), 64u + 32);
    EXPECT_EQ(bf::tensor_bytes(GgmlType::TQ2_0, 512, 3), 6u * 66);
    EXPECT_EQ(bf::tensor_bytes(GgmlType::F32, 3, -1), std::nullopt);
    EXPECT_EQ(bf::tensor_bytes(GgmlType::F64, int64_t{1} << 40, int64_t{1} << 30), std::nullopt); // overflow
}
