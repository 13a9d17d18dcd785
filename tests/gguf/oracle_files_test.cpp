// Every reference GGUF made by other engines must open and show the documented contents.
#include "gguf/gguf.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

namespace gg = bitnet::gguf;
namespace bf = bitnet::formats;
using bf::GgmlType;

namespace {
std::map<GgmlType, int> type_counts(const gg::File& f) {
    std::map<GgmlType, int> m;
    for (const auto& t : f.tensors()) ++m[t.type];
    return m;
}
} // namespace

TEST(OracleFiles, EveryGgufOpens) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    int opened = 0;
    for (const auto& e : std::filesystem::directory_iterator(*dir)) {
        if (e.path().extension() != ".gguf") continue;
        SCOPED_TRACE(e.path().filename().string());
        std::unique_ptr<gg::File> f;
        ASSERT_NO_THROW(f = gg::File::open(e.path()));
        EXPECT_EQ(f->version(), 3u);
        EXPECT_EQ(f->alignment(), 32u);
        for (const auto& t : f->tensors()) {
            EXPECT_EQ(t.offset % f->alignment(), 0u) << t.name;
            EXPECT_EQ(t.size, bf::tensor_bytes(t.type, t.row_len(), t.n_rows()).value());
            EXPECT_EQ(f->find_tensor(t.name), &t);
        }
        EXPECT_GT(f->get("tokenizer.ggml.tokens").as_array().items.size(), 0u);
        ++opened;
    }
    EXPECT_GE(opened, 4);
}

// --no-mmap: the file read into (huge-page) memory shows the same keys, tensors and bytes.
TEST(OracleFiles, ReadIntoMemoryMatchesTheMapping) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    int compared = 0;
    for (const auto& e : std::filesystem::directory_iterator(*dir)) {
        if (e.path().extension() != ".gguf") continue;
        SCOPED_TRACE(e.path().filename().string());
        const auto mapped = gg::File::open(e.path(), gg::File::Load::map);
        const auto read = gg::File::open(e.path(), gg::File::Load::read);
        EXPECT_EQ(read->file_size(), mapped->file_size());
        EXPECT_EQ(read->metadata().size(), mapped->metadata().size());
        ASSERT_EQ(read->tensors().size(), mapped->tensors().size());
        for (size_t i = 0; i < read->tensors().size(); ++i) {
            const auto& a = read->tensors()[i];
            const auto& b = mapped->tensors()[i];
            ASSERT_EQ(a.name, b.name);
            ASSERT_EQ(a.size, b.size);
            EXPECT_NE(a.data, b.data) << a.name << ": not a copy";
            EXPECT_EQ(0, std::memcmp(a.data, b.data, a.size)) << a.name;
        }
        ++compared;
    }
    EXPECT_GE(compared, 4);
}

TEST(OracleFiles, MicrosoftLayoutI2s) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    const auto f = gg::File::open(*dir / "b158-small-i2_s.gguf");
    EXPECT_EQ(f->tensors().size(), 46u);
    const auto counts = type_counts(*f);
    EXPECT_EQ(counts.at(GgmlType::I2_S), 28);
    EXPECT_EQ(counts.at(GgmlType::F16), 1);
    EXPECT_EQ(counts.at(GgmlType::F32), 17);
    EXPECT_EQ(f->get("general.architecture").as_string(), "bitnet-b1.58");
    EXPECT_EQ(f->find("tokenizer.ggml.pre"), nullptr); // documented quirk of this layout
    EXPECT_EQ(f->get("general.file_type").as_int(), 40);
    EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_array().items.size(), 128256u);
    EXPECT_EQ(f->get("tokenizer.ggml.bos_token_id").as_uint(), 128000u);
    const auto& q = f->tensor("blk.0.attn_q.weight");
    EXPECT_EQ(q.type, GgmlType::I2_S);
    EXPECT_EQ(q.dims, (std::vector<int64_t>{256, 256}));
    EXPECT_EQ(q.size, 256u * 256 / 4 + 32);
    EXPECT_EQ(f->tensor("token_embd.weight").dims, (std::vector<int64_t>{256, 128256}));
    EXPECT_THROW(f->tensor("output.weight"), gg::GgufError);
    EXPECT_THROW(f->get("no.such.key"), gg::GgufError);
}

TEST(OracleFiles, UpstreamTinyTq) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    for (auto [name, type, file_type] : {std::tuple{"p2-bitnet-tiny-tq1_0.gguf", GgmlType::TQ1_0, 36},
                                         std::tuple{"p2-bitnet-tiny-tq2_0.gguf", GgmlType::TQ2_0, 37}}) {
        SCOPED_TRACE(name);
        const auto f = gg::File::open(*dir / name);
        EXPECT_EQ(f->tensors().size(), 24u);
        EXPECT_EQ(f->metadata().size(), 27u);
        const auto counts = type_counts(*f);
        EXPECT_EQ(counts.size(), 3u);
        EXPECT_EQ(counts.at(GgmlType::F16), 1);
        EXPECT_EQ(counts.at(GgmlType::F32), 9);
        EXPECT_EQ(counts.at(type), 14);
        EXPECT_EQ(f->get("general.file_type").as_int(), file_type);
        EXPECT_EQ(f->get("general.name").as_string(), "bitnet-b1.58-p2-synthetic-oracle");
        EXPECT_EQ(f->get("tokenizer.ggml.pre").as_string(), "llama-bpe");
        EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_array().items.size(), 3000u);
        EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_array().elem_type, gg::ValueType::STRING);
    }
}

TEST(OracleFiles, UpstreamSmallTq2) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    const auto f = gg::File::open(*dir / "bitnet-small-tq2_0.gguf");
    const auto counts = type_counts(*f);
    EXPECT_EQ(counts.at(GgmlType::TQ2_0), 28);
    EXPECT_EQ(counts.at(GgmlType::F16), 1);
    EXPECT_EQ(f->get("general.architecture").as_string(), "bitnet");
}
