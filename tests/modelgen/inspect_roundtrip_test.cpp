// `bitnet inspect --json` reproduces every key and tensor of a generated file.
#include "gguf/gguf.hpp"
#include "modelgen_test_util.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace bitnet::modelgen {
namespace {

using testutil::TempDir;

std::string run(const std::string& cmd, int& status) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return out;
    char buf[65536];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    status = ::pclose(p);
    return out;
}

void expect_same(const gguf::Value& v, const nlohmann::json& j, const std::string& key) {
    using gguf::ValueType;
    switch (v.type) {
    case ValueType::ARRAY: {
        const gguf::Array& a = v.as_array();
        if (j.is_object()) {
            EXPECT_EQ(j.at("count").get<size_t>(), a.items.size()) << key;
            EXPECT_EQ(j.at("type").get<std::string>(), gguf::value_type_name(a.elem_type)) << key;
            EXPECT_GT(a.items.size(), 16u) << key << ": short arrays are printed in full";
            return;
        }
        ASSERT_TRUE(j.is_array()) << key;
        ASSERT_EQ(j.size(), a.items.size()) << key;
        for (size_t i = 0; i < a.items.size(); ++i) expect_same(a.items[i], j[i], key);
        return;
    }
    case ValueType::STRING: EXPECT_EQ(j.get<std::string>(), v.as_string()) << key; return;
    case ValueType::BOOL: EXPECT_EQ(j.get<bool>(), v.as_bool()) << key; return;
    case ValueType::FLOAT32: EXPECT_EQ(j.get<float>(), static_cast<float>(v.as_float())) << key; return;
    case ValueType::FLOAT64: EXPECT_EQ(j.get<double>(), v.as_float()) << key; return;
    default: EXPECT_EQ(j.get<int64_t>(), v.as_int()) << key; return;
    }
}

TEST(InspectRoundTrip, JsonHasEveryKeyAndTensor) {
#ifndef BITNET_CLI_PATH
    GTEST_SKIP() << "the bitnet CLI is not part of this build";
#else
    TempDir dir("modelgen-inspect");
    for (Arch arch : {Arch::BitnetB158, Arch::Bitnet}) {
        GenOptions o;
        o.arch = arch;
        o.weights = arch == Arch::Bitnet ? formats::GgmlType::TQ1_0 : formats::GgmlType::I2_S;
        const auto path = dir.path() / "m.gguf";
        generate_model(testutil::tiny(), o, path);
        int status = -1;
        const std::string out = run(std::string("'") + BITNET_CLI_PATH + "' inspect --json '" + path.string() + "'", status);
        ASSERT_EQ(status, 0) << out;
        const nlohmann::json j = nlohmann::json::parse(out);
        const auto f = gguf::File::open(path);
        EXPECT_EQ(j.at("version").get<uint32_t>(), f->version());
        const auto& meta = j.at("metadata");
        EXPECT_EQ(meta.size(), f->metadata().size());
        for (const auto& [key, value] : f->metadata()) {
            ASSERT_TRUE(meta.contains(key)) << key;
            expect_same(value, meta.at(key), key);
        }
        std::vector<std::string> order;
        for (const auto& kv : f->metadata()) order.push_back(kv.first);
        EXPECT_EQ(j.at("metadata_order").get<std::vector<std::string>>(), order);
        const auto& tensors = j.at("tensors");
        ASSERT_EQ(tensors.size(), f->tensors().size());
        for (size_t i = 0; i < tensors.size(); ++i) {
            const gguf::TensorInfo& t = f->tensors()[i];
            EXPECT_EQ(tensors[i].at("name").get<std::string>(), t.name);
            EXPECT_EQ(tensors[i].at("type").get<std::string>(),
                      formats::type_info(static_cast<uint32_t>(t.type))->name);
            EXPECT_EQ(tensors[i].at("dims").get<std::vector<int64_t>>(), t.dims);
            EXPECT_EQ(tensors[i].at("offset").get<uint64_t>(), t.offset);
            EXPECT_EQ(tensors[i].at("bytes").get<size_t>(), t.size);
        }
    }
    int status = -1;
    run(std::string("'") + BITNET_CLI_PATH + "' inspect --json '" + (dir.path() / "missing.gguf").string() + "' 2>/dev/null", status);
    EXPECT_NE(status, 0);
#endif
}

TEST(InspectRoundTrip, GenModelCliWritesTheFile) {
#ifndef BITNET_CLI_PATH
    GTEST_SKIP() << "the bitnet CLI is not part of this build";
#else
    TempDir dir("modelgen-cli");
    const auto path = dir.path() / "cli.gguf";
    int status = -1;
    const std::string out = run(std::string("'") + BITNET_CLI_PATH + "' gen-model --shape tiny --weights tq2_0 --head q8_0 --arch bitnet --seed 7 --layers 1 --out '" +
                                    path.string() + "'",
                                status);
    ASSERT_EQ(status, 0) << out;
    EXPECT_NE(out.find("tiny"), std::string::npos) << out;
    const auto f = gguf::File::open(path);
    EXPECT_EQ(f->get("bitnet.block_count").as_int(), 1);
    EXPECT_EQ(f->tensor("blk.0.ffn_up.weight").type, formats::GgmlType::TQ2_0);
    EXPECT_EQ(f->tensor("token_embd.weight").type, formats::GgmlType::Q8_0);
    const std::string err = run(std::string("'") + BITNET_CLI_PATH + "' gen-model --shape tiny --heads 3 --out '" +
                                    (dir.path() / "bad.gguf").string() + "' 2>&1",
                                status);
    EXPECT_NE(status, 0);
    EXPECT_NE(err.find("does not divide"), std::string::npos) << err;
#endif
}

} // namespace
} // namespace bitnet::modelgen
