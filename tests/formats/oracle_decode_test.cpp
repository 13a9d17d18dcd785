// Decoding the reference files made by other engines (skipped when the oracle folder is absent).
#include "formats/formats.hpp"
#include "gguf/gguf.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace bf = bitnet::formats;
namespace gg = bitnet::gguf;
using bf::GgmlType;

namespace {
std::unique_ptr<gg::File> open_oracle(const char* name) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir || !std::filesystem::exists(*dir / name)) return nullptr;
    return gg::File::open(*dir / name);
}
} // namespace

TEST(OracleDecode, Tq1AndTq2FilesHoldIdenticalWeights) {
    const auto tq1 = open_oracle("p2-bitnet-tiny-tq1_0.gguf");
    const auto tq2 = open_oracle("p2-bitnet-tiny-tq2_0.gguf");
    if (!tq1 || !tq2) GTEST_SKIP() << "oracle p2-bitnet-tiny-tq{1,2}_0.gguf not found (set BITNET_ORACLE_DIR)";
    int compared = 0;
    for (const gg::TensorInfo& a : tq1->tensors()) {
        if (a.type != GgmlType::TQ1_0) continue;
        const gg::TensorInfo& b = tq2->tensor(a.name);
        ASSERT_EQ(b.type, GgmlType::TQ2_0) << a.name;
        ASSERT_EQ(a.dims, b.dims) << a.name;
        const int64_t k = a.row_len(), nblk = k / 256;
        std::vector<int8_t> ca(static_cast<size_t>(k)), cb(ca.size());
        std::vector<float> sa(static_cast<size_t>(nblk)), sb(sa.size()), fa(ca.size()), fb(ca.size());
        for (int64_t r = 0; r < a.n_rows(); ++r) {
            bf::ternary_row_codes(a.type, a.data, r, k, ca.data(), sa.data());
            bf::ternary_row_codes(b.type, b.data, r, k, cb.data(), sb.data());
            ASSERT_EQ(ca, cb) << a.name << " row " << r;
            ASSERT_EQ(sa, sb) << a.name << " row " << r;
            for (int8_t c : ca) ASSERT_TRUE(c >= -1 && c <= 1) << a.name;
            bf::dequantize_row(a.type, a.data, r, k, fa.data());
            bf::dequantize_row(b.type, b.data, r, k, fb.data());
            ASSERT_EQ(std::memcmp(fa.data(), fb.data(), fa.size() * 4), 0) << a.name << " row " << r;
        }
        // README-p2: one fp16 scale per tensor, shared by every block.
        bf::ternary_row_codes(a.type, a.data, 0, k, ca.data(), sa.data());
        const float s0 = sa[0];
        EXPECT_GT(s0, 0.0f) << a.name;
        for (int64_t r = 0; r < a.n_rows(); ++r) {
            bf::ternary_row_codes(a.type, a.data, r, k, ca.data(), sa.data());
            for (float s : sa) ASSERT_EQ(s, s0) << a.name;
        }
        ++compared;
    }
    EXPECT_EQ(compared, 14);
}

TEST(OracleDecode, I2sTensorsAreTernaryWithPositiveScale) {
    const auto f = open_oracle("b158-small-i2_s.gguf");
    if (!f) GTEST_SKIP() << "oracle b158-small-i2_s.gguf not found (set BITNET_ORACLE_DIR)";
    int checked = 0;
    for (const gg::TensorInfo& t : f->tensors()) {
        if (t.type != GgmlType::I2_S) continue;
        const float scale = bf::i2s_scale(t.data, t.n_elements());
        EXPECT_TRUE(std::isfinite(scale) && scale > 0.0f) << t.name << " scale " << scale;
        const int64_t k = t.row_len();
        std::vector<int8_t> codes(static_cast<size_t>(k));
        std::vector<float> f32(codes.size());
        int64_t counts[3] = {0, 0, 0};
        for (int64_t r = 0; r < t.n_rows(); ++r) {
            bf::ternary_row_codes(t.type, t.data, r, k, codes.data(), nullptr);
            bf::dequantize_row(t.type, t.data, r, k, f32.data());
            for (int64_t i = 0; i < k; ++i) {
                ASSERT_TRUE(codes[i] >= -1 && codes[i] <= 1) << t.name << " row " << r << " col " << i;
                ASSERT_EQ(f32[i], static_cast<float>(codes[i]));
                ++counts[codes[i] + 1];
            }
        }
        // Weights were drawn uniformly from {-1, 0, 1}: each value must be well represented.
        for (int64_t c : counts) EXPECT_GT(c, t.n_elements() / 5) << t.name;
        ++checked;
    }
    EXPECT_EQ(checked, 28);
}
