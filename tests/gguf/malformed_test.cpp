// A malformed-file corpus built from one small valid file: every truncation through the tensor
// infos, and one corruption per field. Each must be refused with GgufError, never a crash (this
// suite also runs under ASan + UBSan).
#include "gguf/gguf.hpp"
#include "gguf_test_util.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <random>

namespace gg = bitnet::gguf;
namespace bf = bitnet::formats;
using gg::test::peek;
using gg::test::poke;

namespace {

class GgufMalformed : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = bitnet::testing::make_temp_dir("gguf-bad");
        gg::Writer w;
        w.set_u32("general.alignment", 32);
        w.set_str("key.aaa", "hello");
        w.set_i32_array("key.bbb", {1, 2, 3, 4});
        w.set_str_array("key.ccc", {"x", "yy"});
        w.set_bool("key.ddd", true);
        gg::Value inner;
        inner.type = gg::ValueType::ARRAY;
        inner.v = gg::Array{gg::ValueType::INT16, {}};
        gg::Value outer;
        outer.type = gg::ValueType::ARRAY;
        outer.v = gg::Array{gg::ValueType::ARRAY, {inner}};
        w.set("key.eee", outer);
        w.add_tensor("t.a", {8, 2}, bf::GgmlType::F32, std::vector<uint8_t>(64, 1));
        w.add_tensor("t.b", {64}, bf::GgmlType::Q8_0, std::vector<uint8_t>(68, 2));
        w.add_tensor("t.c", {256, 1}, bf::GgmlType::TQ2_0, std::vector<uint8_t>(66, 3));
        w.write(dir_ / "good.gguf");
        good_ = gg::test::read_bytes(dir_ / "good.gguf");
        layout_ = gg::test::map_layout(good_);
        data_ = (layout_.infos_end + 31) / 32 * 32;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // Writes `bytes` and expects the reader to refuse them with a message naming the file.
    void expect_refused(const std::vector<uint8_t>& bytes, const std::string& what) {
        const auto path = dir_ / "bad.gguf";
        gg::test::write_bytes(path, bytes);
        // Mapped or read into memory (--no-mmap), the same validation refuses it.
        for (const auto load : {gg::File::Load::map, gg::File::Load::read}) {
            const char* how = load == gg::File::Load::map ? " (mapped)" : " (read)";
            try {
                gg::File::open(path, load);
                ADD_FAILURE() << what << how << ": accepted";
            } catch (const gg::GgufError& e) {
                EXPECT_NE(std::string(e.what()).find("bad.gguf"), std::string::npos) << what << how << ": " << e.what();
            } catch (const std::exception& e) {
                ADD_FAILURE() << what << how << ": threw a non-GgufError: " << e.what();
            }
        }
    }

    void expect_refused(const std::string& what, const std::function<void(std::vector<uint8_t>&)>& mutate) {
        auto bytes = good_;
        mutate(bytes);
        expect_refused(bytes, what);
    }

    std::filesystem::path dir_;
    std::vector<uint8_t> good_;
    gg::test::Layout layout_;
    size_t data_ = 0;
};

} // namespace

TEST_F(GgufMalformed, BaseFileIsValid) {
    const auto f = gg::File::open(dir_ / "good.gguf");
    EXPECT_EQ(f->tensors().size(), 3u);
    EXPECT_EQ(f->metadata().size(), 6u);
    ASSERT_EQ(layout_.kvs.size(), 6u);
    ASSERT_EQ(layout_.tensors.size(), 3u);
    EXPECT_EQ(f->tensor("t.c").offset, 160u);
}

TEST_F(GgufMalformed, EveryTruncationThroughTheTensorInfos) {
    for (size_t len = 0; len <= data_; ++len)
        expect_refused(std::vector<uint8_t>(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(len)),
                       "truncated to " + std::to_string(len));
    // Inside each tensor's data (not the trailing padding, which no tensor claims).
    for (size_t off : {data_ + 1, data_ + 63, data_ + 64 + 10, data_ + 160, data_ + 160 + 65})
        expect_refused(std::vector<uint8_t>(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(off)),
                       "truncated in data to " + std::to_string(off));
}

TEST_F(GgufMalformed, HeaderFields) {
    expect_refused("magic", [](auto& b) { b[0] = 'X'; });
    for (uint32_t v : {0u, 1u, 4u, 0xffffffffu, 0x03000000u})
        expect_refused("version " + std::to_string(v), [v](auto& b) { poke<uint32_t>(b, 4, v); });
    for (uint64_t n : {uint64_t{4}, uint64_t{1} << 40, ~uint64_t{0}}) {
        expect_refused("tensor count " + std::to_string(n), [n](auto& b) { poke<uint64_t>(b, 8, n); });
        expect_refused("kv count " + std::to_string(n), [n](auto& b) { poke<uint64_t>(b, 16, n + 3); });
    }
}

TEST_F(GgufMalformed, MetadataFields) {
    const auto& kv = layout_.kvs;
    for (uint64_t n : {uint64_t{1} << 60, ~uint64_t{0}, uint64_t{good_.size()}}) {
        expect_refused("key length", [&](auto& b) { poke<uint64_t>(b, kv[1].key_len, n); });
        expect_refused("string value length", [&](auto& b) { poke<uint64_t>(b, kv[1].value, n); });
        expect_refused("array count", [&](auto& b) { poke<uint64_t>(b, kv[2].array_count, n); });
        expect_refused("string array count", [&](auto& b) { poke<uint64_t>(b, kv[3].array_count, n); });
        expect_refused("string in array length", [&](auto& b) { poke<uint64_t>(b, kv[3].array_count + 8, n); });
        expect_refused("nested array count", [&](auto& b) { poke<uint64_t>(b, kv[5].array_count, n); });
    }
    expect_refused("value type 99", [&](auto& b) { poke<uint32_t>(b, kv[1].type, 99); });
    expect_refused("value type 13", [&](auto& b) { poke<uint32_t>(b, kv[1].type, 13); });
    expect_refused("array element type 99", [&](auto& b) { poke<uint32_t>(b, kv[2].value, 99); });
    expect_refused("nested element type 99", [&](auto& b) { poke<uint32_t>(b, kv[5].value + 12, 99); });
    expect_refused("bool value 2", [&](auto& b) { b[kv[4].value] = 2; });
}

TEST_F(GgufMalformed, DuplicateKeyAndTensor) {
    expect_refused("duplicate key", [&](auto& b) {
        std::memcpy(&b[layout_.kvs[2].key], &b[layout_.kvs[1].key], 7); // key.bbb -> key.aaa
    });
    expect_refused("duplicate tensor", [&](auto& b) {
        std::memcpy(&b[layout_.tensors[1].name], &b[layout_.tensors[0].name], 3); // t.b -> t.a
    });
}

TEST_F(GgufMalformed, Alignment) {
    const size_t at = layout_.kvs[0].value;
    ASSERT_EQ(peek<uint32_t>(good_, at), 32u);
    for (uint32_t a : {0u, 3u, 48u, 0x80000000u})
        expect_refused("alignment " + std::to_string(a), [&](auto& b) { poke<uint32_t>(b, at, a); });
    // 64 is a valid alignment, but the offset 160 of t.c is not a multiple of it.
    expect_refused("alignment 64", [&](auto& b) { poke<uint32_t>(b, at, 64); });
    expect_refused("alignment as string type", [&](auto& b) { poke<uint32_t>(b, layout_.kvs[0].type, 6); });
}

TEST_F(GgufMalformed, TensorInfoFields) {
    const auto& t = layout_.tensors;
    expect_refused("tensor name length", [&](auto& b) { poke<uint64_t>(b, t[1].name_len, uint64_t{1} << 62); });
    expect_refused("n_dims 0", [&](auto& b) { poke<uint32_t>(b, t[0].n_dims, 0); });
    expect_refused("n_dims 5", [&](auto& b) { poke<uint32_t>(b, t[0].n_dims, 5); });
    expect_refused("n_dims huge", [&](auto& b) { poke<uint32_t>(b, t[2].n_dims, 0xffffffffu); });
    expect_refused("dim 0", [&](auto& b) { poke<uint64_t>(b, t[0].dims + 8, 0); });
    expect_refused("dim negative", [&](auto& b) { poke<int64_t>(b, t[0].dims, -8); });
    expect_refused("dim enormous", [&](auto& b) { poke<uint64_t>(b, t[0].dims, uint64_t{1} << 41); });
    expect_refused("dims product overflows", [&](auto& b) {
        poke<uint64_t>(b, t[0].dims, uint64_t{1} << 32);
        poke<uint64_t>(b, t[0].dims + 8, uint64_t{1} << 33);
    });
    expect_refused("tensor type 99", [&](auto& b) { poke<uint32_t>(b, t[1].type, 99); });
    expect_refused("tensor type 16 (unsized)", [&](auto& b) { poke<uint32_t>(b, t[1].type, 16); });
    expect_refused("row not a block multiple", [&](auto& b) { poke<uint64_t>(b, t[1].dims, 48); });
    expect_refused("offset misaligned", [&](auto& b) { poke<uint64_t>(b, t[1].offset, 65); });
    expect_refused("offset past EOF", [&](auto& b) { poke<uint64_t>(b, t[2].offset, uint64_t{1} << 40); });
    expect_refused("offset overflows", [&](auto& b) { poke<uint64_t>(b, t[2].offset, ~uint64_t{31}); });
    expect_refused("tensor grows past EOF", [&](auto& b) { poke<uint64_t>(b, t[2].dims + 8, 2); });
    expect_refused("overlap (same offset)", [&](auto& b) { poke<uint64_t>(b, t[2].offset, 64); });
    expect_refused("overlap (inside)", [&](auto& b) { poke<uint64_t>(b, t[1].offset, 32); });
}

TEST_F(GgufMalformed, ArraysNestedTooDeep) {
    gg::Value v;
    v.type = gg::ValueType::ARRAY;
    v.v = gg::Array{gg::ValueType::UINT8, {}};
    for (int i = 0; i < 20; ++i) {
        gg::Value outer;
        outer.type = gg::ValueType::ARRAY;
        outer.v = gg::Array{gg::ValueType::ARRAY, {v}};
        v = outer;
    }
    gg::Writer w;
    w.set("deep", v);
    w.write(dir_ / "deep.gguf");
    expect_refused(gg::test::read_bytes(dir_ / "deep.gguf"), "20-deep nested arrays");
}

TEST_F(GgufMalformed, RandomByteFlipsNeverCrash) {
    std::mt19937 rng(1234);
    int refused = 0, accepted = 0;
    const auto path = dir_ / "fuzz.gguf";
    for (int i = 0; i < 1500; ++i) {
        auto bytes = good_;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) bytes[rng() % data_] = static_cast<uint8_t>(rng());
        gg::test::write_bytes(path, bytes);
        try {
            const auto f = gg::File::open(path);
            for (const auto& t : f->tensors()) ASSERT_LE(t.offset + t.size, f->file_size());
            ++accepted;
        } catch (const gg::GgufError&) {
            ++refused;
        }
    }
    EXPECT_GT(refused, 0);
    EXPECT_EQ(refused + accepted, 1500);
}

TEST_F(GgufMalformed, NotAFile) {
    EXPECT_THROW(gg::File::open(dir_ / "missing.gguf"), gg::GgufError);
    EXPECT_THROW(gg::File::open(dir_), gg::GgufError);
}
