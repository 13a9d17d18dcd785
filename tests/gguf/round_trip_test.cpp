// Writer -> reader round trips of every value type and tensor type.
#include "gguf/gguf.hpp"
#include "gguf_test_util.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace gg = bitnet::gguf;
namespace bf = bitnet::formats;
using bf::GgmlType;
using gg::ValueType;

namespace {

gg::Value val(ValueType t, decltype(gg::Value::v) v) {
    gg::Value out;
    out.type = t;
    out.v = std::move(v);
    return out;
}

gg::Value arr(ValueType elem, std::vector<gg::Value> items) {
    return val(ValueType::ARRAY, gg::Array{elem, std::move(items)});
}

class GgufRoundTrip : public ::testing::Test {
protected:
    void SetUp() override { dir_ = bitnet::testing::make_temp_dir("gguf-rt"); }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

} // namespace

TEST_F(GgufRoundTrip, EveryValueType) {
    const int64_t i64min = std::numeric_limits<int64_t>::min();
    const uint64_t u64max = std::numeric_limits<uint64_t>::max();
    gg::Writer w;
    w.set("u8", val(ValueType::UINT8, uint64_t{255}));
    w.set("i8", val(ValueType::INT8, int64_t{-128}));
    w.set("u16", val(ValueType::UINT16, uint64_t{65535}));
    w.set("i16", val(ValueType::INT16, int64_t{-32768}));
    w.set_u32("u32", 4000000000u);
    w.set_i32("i32", -2000000000);
    w.set("u64", val(ValueType::UINT64, u64max));
    w.set("i64", val(ValueType::INT64, i64min));
    w.set_f32("f32", 0.1f);
    w.set("f64", val(ValueType::FLOAT64, 0.1));
    w.set_bool("bool.t", true);
    w.set_bool("bool.f", false);
    w.set_str("str", std::string("h\0llo \xe2\x82\xac", 9));
    w.set_str("str.empty", "");
    w.set_str_array("arr.str", {"a", "", "ccc"});
    w.set_f32_array("arr.f32", {1.5f, -0.0f, std::numeric_limits<float>::infinity()});
    w.set_i32_array("arr.i32", {});
    w.set("arr.u8", arr(ValueType::UINT8, {val(ValueType::UINT8, uint64_t{1}), val(ValueType::UINT8, uint64_t{2})}));
    w.set("arr.bool", arr(ValueType::BOOL, {val(ValueType::BOOL, true), val(ValueType::BOOL, false)}));
    w.set("arr.i64", arr(ValueType::INT64, {val(ValueType::INT64, i64min)}));
    w.set("arr.f64", arr(ValueType::FLOAT64, {val(ValueType::FLOAT64, 1e300)}));
    w.set("arr.nested",
          arr(ValueType::ARRAY, {arr(ValueType::INT16, {val(ValueType::INT16, int64_t{-7})}),
                                 arr(ValueType::STRING, {}),
                                 arr(ValueType::ARRAY, {arr(ValueType::UINT16, {val(ValueType::UINT16, uint64_t{9})})})}));
    w.set_u32("replaced", 1);
    w.set_str("replaced", "now a string"); // replaces in place, keeps position
    const auto path = dir_ / "values.gguf";
    w.write(path);

    const auto f = gg::File::open(path);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_TRUE(f->tensors().empty());
    const auto& md = f->metadata();
    ASSERT_EQ(md.size(), 23u);
    EXPECT_EQ(md.front().first, "u8");
    EXPECT_EQ(md.back().first, "replaced");
    EXPECT_EQ(f->get("replaced").as_string(), "now a string");
    EXPECT_EQ(f->get("u8").as_uint(), 255u);
    EXPECT_EQ(f->get("u8").type, ValueType::UINT8);
    EXPECT_EQ(f->get("i8").as_int(), -128);
    EXPECT_EQ(f->get("u16").as_int(), 65535);
    EXPECT_EQ(f->get("i16").as_int(), -32768);
    EXPECT_EQ(f->get("u32").as_uint(), 4000000000u);
    EXPECT_EQ(f->get("i32").as_int(), -2000000000);
    EXPECT_EQ(f->get("u64").as_uint(), u64max);
    EXPECT_THROW(f->get("u64").as_int(), gg::GgufError); // does not fit
    EXPECT_EQ(f->get("i64").as_int(), i64min);
    EXPECT_THROW(f->get("i64").as_uint(), gg::GgufError);
    EXPECT_EQ(f->get("f32").as_float(), static_cast<double>(0.1f));
    EXPECT_EQ(f->get("f32").type, ValueType::FLOAT32);
    EXPECT_EQ(f->get("f64").as_float(), 0.1);
    EXPECT_TRUE(f->get("bool.t").as_bool());
    EXPECT_FALSE(f->get("bool.f").as_bool());
    EXPECT_EQ(f->get("str").as_string(), std::string("h\0llo \xe2\x82\xac", 9));
    EXPECT_EQ(f->get("str.empty").as_string(), "");
    EXPECT_THROW(f->get("str").as_int(), gg::GgufError);
    EXPECT_THROW(f->get("u8").as_string(), gg::GgufError);
    EXPECT_THROW(f->get("u8").as_bool(), gg::GgufError);
    EXPECT_THROW(f->get("str").as_array(), gg::GgufError);

    const auto& s = f->get("arr.str").as_array();
    EXPECT_EQ(s.elem_type, ValueType::STRING);
    ASSERT_EQ(s.items.size(), 3u);
    EXPECT_EQ(s.items[2].as_string(), "ccc");
    const auto& fl = f->get("arr.f32").as_array().items;
    ASSERT_EQ(fl.size(), 3u);
    EXPECT_EQ(fl[0].as_float(), 1.5);
    EXPECT_TRUE(std::signbit(fl[1].as_float()));
    EXPECT_TRUE(std::isinf(fl[2].as_float()));
    EXPECT_EQ(f->get("arr.i32").as_array().elem_type, ValueType::INT32); // empty keeps its type
    EXPECT_TRUE(f->get("arr.i32").as_array().items.empty());
    EXPECT_EQ(f->get("arr.u8").as_array().items[1].as_uint(), 2u);
    EXPECT_FALSE(f->get("arr.bool").as_array().items[1].as_bool());
    EXPECT_EQ(f->get("arr.i64").as_array().items[0].as_int(), i64min);
    EXPECT_EQ(f->get("arr.f64").as_array().items[0].as_float(), 1e300);
    const auto& nested = f->get("arr.nested").as_array();
    EXPECT_EQ(nested.elem_type, ValueType::ARRAY);
    ASSERT_EQ(nested.items.size(), 3u);
    EXPECT_EQ(nested.items[0].as_array().items[0].as_int(), -7);
    EXPECT_EQ(nested.items[1].as_array().elem_type, ValueType::STRING);
    EXPECT_EQ(nested.items[2].as_array().items[0].as_array().items[0].as_uint(), 9u);
}

TEST_F(GgufRoundTrip, EveryTensorType) {
    struct Case { const char* name; GgmlType type; std::vector<int64_t> dims; };
    const std::vector<Case> cases = {
        {"f32", GgmlType::F32, {3}},           {"f16", GgmlType::F16, {5, 3}},
        {"bf16", GgmlType::BF16, {7, 1, 2}},   {"q8_0", GgmlType::Q8_0, {96, 3}},
        {"q6_k", GgmlType::Q6_K, {256, 2}},    {"tq1_0", GgmlType::TQ1_0, {768, 3}},
        {"tq2_0", GgmlType::TQ2_0, {256, 5}},  {"i2_s", GgmlType::I2_S, {384, 3}},
        {"q4_0", GgmlType::Q4_0, {64, 2}},     {"q4_k", GgmlType::Q4_K, {256, 1, 1, 2}},
        {"q8_k", GgmlType::Q8_K, {256}},       {"i8", GgmlType::I8, {33}},
        {"i64", GgmlType::I64, {2, 2}},        {"f64", GgmlType::F64, {1}},
    };
    gg::Writer w;
    w.set_str("general.architecture", "test");
    std::vector<std::vector<uint8_t>> payloads;
    uint8_t fill = 1;
    for (const Case& c : cases) {
        int64_t rows = 1;
        for (size_t i = 1; i < c.dims.size(); ++i) rows *= c.dims[i];
        std::vector<uint8_t> bytes(bf::tensor_bytes(c.type, c.dims[0], rows).value());
        for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(fill + i * 31);
        ++fill;
        payloads.push_back(bytes);
        w.add_tensor(c.name, c.dims, c.type, std::move(bytes));
    }
    const auto path = dir_ / "tensors.gguf";
    w.write(path);

    const auto f = gg::File::open(path);
    ASSERT_EQ(f->tensors().size(), cases.size());
    const auto raw = gg::test::read_bytes(path);
    for (size_t i = 0; i < cases.size(); ++i) {
        const gg::TensorInfo& t = f->tensors()[i];
        SCOPED_TRACE(cases[i].name);
        EXPECT_EQ(t.name, cases[i].name);
        EXPECT_EQ(t.type, cases[i].type);
        EXPECT_EQ(t.dims, cases[i].dims);
        EXPECT_EQ(t.size, payloads[i].size());
        EXPECT_EQ(t.offset % 32, 0u);
        ASSERT_EQ(std::vector<uint8_t>(t.data, t.data + t.size), payloads[i]);
        // Zero-copy: tensors sit in one mapping, at their offsets from the data section.
        EXPECT_EQ(t.data - f->tensors()[0].data, static_cast<std::ptrdiff_t>(t.offset));
    }
    EXPECT_EQ(f->file_size(), raw.size());
    EXPECT_EQ(f->file_size() % 32, 0u); // padded after the last tensor too
    EXPECT_EQ(f->tensor("q6_k").n_rows(), 2);
    EXPECT_EQ(f->tensor("q4_k").n_rows(), 2);
    EXPECT_EQ(f->tensor("q4_k").n_elements(), 512);
}

TEST_F(GgufRoundTrip, CustomAlignmentAndV2) {
    gg::Writer w;
    w.set("general.alignment", val(ValueType::UINT32, uint64_t{64}));
    w.add_tensor("a", {3}, GgmlType::F32, std::vector<uint8_t>(12, 1));
    w.add_tensor("b", {3}, GgmlType::F32, std::vector<uint8_t>(12, 2));
    const auto path = dir_ / "align.gguf";
    w.write(path);
    {
        const auto f = gg::File::open(path);
        EXPECT_EQ(f->alignment(), 64u);
        EXPECT_EQ(f->tensor("b").offset, 64u);
        EXPECT_EQ(f->tensor("b").data[0], 2);
    }
    // A v2 file has the same layout with version 2.
    auto bytes = gg::test::read_bytes(path);
    gg::test::poke<uint32_t>(bytes, 4, 2);
    gg::test::write_bytes(path, bytes);
    EXPECT_EQ(gg::File::open(path)->version(), 2u);
}

TEST_F(GgufRoundTrip, WriterRejectsBadInput) {
    gg::Writer w;
    EXPECT_THROW(w.add_tensor("x", {33}, GgmlType::Q8_0, std::vector<uint8_t>(34)), gg::GgufError);
    EXPECT_THROW(w.add_tensor("x", {32}, GgmlType::Q8_0, std::vector<uint8_t>(33)), gg::GgufError);
    EXPECT_THROW(w.add_tensor("x", {}, GgmlType::F32, {}), gg::GgufError);
    EXPECT_THROW(w.add_tensor("x", {1, 1, 1, 1, 1}, GgmlType::F32, std::vector<uint8_t>(4)), gg::GgufError);
    EXPECT_THROW(w.add_tensor("x", {0}, GgmlType::F32, {}), gg::GgufError);
    w.add_tensor("x", {1}, GgmlType::F32, std::vector<uint8_t>(4));
    EXPECT_THROW(w.add_tensor("x", {1}, GgmlType::F32, std::vector<uint8_t>(4)), gg::GgufError);

    gg::Writer bad_value;
    bad_value.set("k", val(ValueType::UINT8, uint64_t{256}));
    EXPECT_THROW(bad_value.write(dir_ / "bad.gguf"), gg::GgufError);
    gg::Writer bad_array;
    bad_array.set("k", arr(ValueType::UINT8, {val(ValueType::STRING, std::string("x"))}));
    EXPECT_THROW(bad_array.write(dir_ / "bad.gguf"), gg::GgufError);
    gg::Writer bad_align;
    bad_align.set_u32("general.alignment", 48);
    EXPECT_THROW(bad_align.write(dir_ / "bad.gguf"), gg::GgufError);
    EXPECT_THROW(w.write(dir_ / "no-such-dir" / "x.gguf"), gg::GgufError);
}

// A repacked weight's file pages are given back (File::release_pages): a mapped file drops the whole
// pages inside the range and reads the same bytes afterwards; an anonymous copy (--no-mmap) and a
// range outside the file drop nothing.
TEST_F(GgufRoundTrip, ReleasedPagesReadBackUnchanged) {
    const size_t n = 1 << 16; // 256 KiB of F32
    std::vector<uint8_t> bytes(n * 4);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7);
    gg::Writer w;
    w.add_tensor("big", {static_cast<int64_t>(n)}, GgmlType::F32, bytes);
    const auto path = dir_ / "release.gguf";
    w.write(path);
    for (const auto load : {gg::File::Load::map, gg::File::Load::read}) {
        const auto f = gg::File::open(path, load);
        const auto& t = f->tensor("big");
        ASSERT_EQ(std::memcmp(t.data, bytes.data(), bytes.size()), 0);
        const size_t dropped = f->release_pages(t.data, t.size);
        if (load == gg::File::Load::map) {
            EXPECT_GE(dropped, t.size - 2 * 4096);
            EXPECT_LE(dropped, t.size);
        } else {
            EXPECT_EQ(dropped, 0u);
        }
        EXPECT_EQ(std::memcmp(t.data, bytes.data(), bytes.size()), 0);
        EXPECT_EQ(f->release_pages(t.data + t.size, 4096 * 4), 0u);
        EXPECT_EQ(f->release_pages(bytes.data(), bytes.size()), 0u);
    }
}
