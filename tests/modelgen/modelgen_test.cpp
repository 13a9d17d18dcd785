// Generated files: structure, weight statistics, determinism, fidelity to the oracle layouts.
#include "gguf/gguf.hpp"
#include "modelgen_test_util.hpp"

#include <cmath>
#include <cstdlib>
#include <map>

namespace bitnet::modelgen {
namespace {

using formats::GgmlType;
using testutil::TempDir;

struct Expected {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
};

// Written independently of the generator's planner, from the oracle dumps.
std::vector<Expected> expected_tensors(const ModelSpec& s, const GenOptions& o, int64_t vocab) {
    const int64_t kv = s.hidden / s.heads * s.kv_heads;
    std::map<std::string, Expected> per_block = {
        {"attn_norm", {"", {s.hidden}, GgmlType::F32}},
        {"attn_q", {"", {s.hidden, s.hidden}, o.weights}},
        {"attn_k", {"", {s.hidden, kv}, o.weights}},
        {"attn_v", {"", {s.hidden, kv}, o.weights}},
        {"attn_output", {"", {s.hidden, s.hidden}, o.weights}},
        {"attn_sub_norm", {"", {s.hidden}, GgmlType::F32}},
        {"ffn_norm", {"", {s.hidden}, GgmlType::F32}},
        {"ffn_gate", {"", {s.hidden, s.ffn}, o.weights}},
        {"ffn_up", {"", {s.hidden, s.ffn}, o.weights}},
        {"ffn_down", {"", {s.ffn, s.hidden}, o.weights}},
        {"ffn_sub_norm", {"", {s.ffn}, GgmlType::F32}},
    };
    const std::vector<std::string> b158_order = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                                 "attn_sub_norm", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
                                                 "ffn_sub_norm"};
    std::vector<std::string> order;
    for (const auto& [k, v] : per_block) order.push_back(k);  // std::map: sorted by name
    if (o.arch == Arch::BitnetB158) order = b158_order;
    const Expected embd{"token_embd.weight", {s.hidden, vocab}, o.head};
    const Expected out_norm{"output_norm.weight", {s.hidden}, GgmlType::F32};
    std::vector<Expected> out;
    if (o.arch == Arch::BitnetB158) out = {embd, out_norm};
    else out = {out_norm, embd};
    for (int64_t l = 0; l < s.layers; ++l)
        for (const std::string& k : order) {
            Expected e = per_block[k];
            e.name = "blk." + std::to_string(l) + "." + k + ".weight";
            out.push_back(e);
        }
    return out;
}

void check_structure(const gguf::File& f, const ModelSpec& s, const GenOptions& o) {
    const int64_t vocab = static_cast<int64_t>(f.get("tokenizer.ggml.tokens").as_array().items.size());
    const std::string a(arch_name(o.arch));
    EXPECT_EQ(f.get("general.architecture").as_string(), a);
    EXPECT_EQ(f.get(a + ".vocab_size").as_int(), vocab);
    EXPECT_EQ(f.get(a + ".embedding_length").as_int(), s.hidden);
    EXPECT_EQ(f.get(a + ".feed_forward_length").as_int(), s.ffn);
    EXPECT_EQ(f.get(a + ".block_count").as_int(), s.layers);
    EXPECT_EQ(f.get(a + ".attention.head_count").as_int(), s.heads);
    EXPECT_EQ(f.get(a + ".attention.head_count_kv").as_int(), s.kv_heads);
    EXPECT_EQ(f.get(a + ".rope.dimension_count").as_int(), s.hidden / s.heads);
    EXPECT_EQ(f.get(a + ".context_length").as_int(), s.ctx);
    EXPECT_FLOAT_EQ(static_cast<float>(f.get(a + ".rope.freq_base").as_float()), 500000.0f);
    EXPECT_FLOAT_EQ(static_cast<float>(f.get(a + ".attention.layer_norm_rms_epsilon").as_float()), 1e-5f);
    const int64_t ftype = o.weights == GgmlType::I2_S ? 40 : o.weights == GgmlType::TQ1_0 ? 36 : 37;
    EXPECT_EQ(f.get("general.file_type").as_int(), ftype);
    EXPECT_EQ(f.get("general.quantization_version").as_int(), 2);
    EXPECT_EQ(f.get("tokenizer.ggml.token_type").as_array().items.size(), static_cast<size_t>(vocab));
    EXPECT_EQ(f.find("tokenizer.ggml.pre") != nullptr, o.arch == Arch::Bitnet);
    EXPECT_EQ(f.find("tokenizer.ggml.scores") != nullptr, o.arch == Arch::BitnetB158);
    EXPECT_EQ(f.find("output.weight"), nullptr) << "the head is tied";

    const auto want = expected_tensors(s, o, vocab);
    ASSERT_EQ(f.tensors().size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        const gguf::TensorInfo& t = f.tensors()[i];
        EXPECT_EQ(t.name, want[i].name);
        EXPECT_EQ(t.dims, want[i].dims) << t.name;
        EXPECT_EQ(t.type, want[i].type) << t.name;
        const int64_t rows = t.dims.size() > 1 ? t.dims[1] : 1;
        EXPECT_EQ(t.size, *formats::tensor_bytes(t.type, t.dims[0], rows)) << t.name;
    }
}

// Every ternary tensor decodes to {-1,0,1} x one scale in the documented range, codes evenly
// spread; norms and embedding have the documented distributions.
void check_weights(const gguf::File& f) {
    for (const gguf::TensorInfo& t : f.tensors()) {
        const int64_t k = t.row_len(), rows = t.n_rows();
        const bool ternary = t.type == GgmlType::I2_S || t.type == GgmlType::TQ1_0 || t.type == GgmlType::TQ2_0;
        if (ternary) {
            std::vector<int8_t> codes(static_cast<size_t>(k));
            std::vector<float> bs(static_cast<size_t>((k + 255) / 256));
            int64_t count[3] = {0, 0, 0};
            float scale = t.type == GgmlType::I2_S ? formats::i2s_scale(t.data, k * rows) : -1.0f;
            for (int64_t r = 0; r < rows; ++r) {
                formats::ternary_row_codes(t.type, t.data, r, k, codes.data(), bs.data());
                for (int8_t c : codes) {
                    ASSERT_TRUE(c >= -1 && c <= 1) << t.name;
                    ++count[c + 1];
                }
                if (t.type != GgmlType::I2_S)
                    for (float d : bs) {
                        if (scale < 0) scale = d;
                        ASSERT_EQ(d, scale) << t.name << ": one scale per tensor";
                    }
            }
            const double nominal = 1.0 / std::sqrt(0.667 * static_cast<double>(k));
            EXPECT_GE(scale, nominal * 0.8 * 0.999) << t.name;
            EXPECT_LE(scale, nominal * 1.25 * 1.001) << t.name;
            EXPECT_EQ(scale, formats::fp16_to_f32(formats::f32_to_fp16(scale))) << t.name << ": fp16-exact";
            const double n = static_cast<double>(k * rows);
            for (int64_t c : count) EXPECT_NEAR(static_cast<double>(c) / n, 1.0 / 3.0, 0.02) << t.name;
        } else {
            std::vector<float> row(static_cast<size_t>(k));
            double sum = 0, sum2 = 0;
            for (int64_t r = 0; r < rows; ++r) {
                formats::dequantize_row(t.type, t.data, r, k, row.data());
                for (float x : row) sum += x, sum2 += static_cast<double>(x) * x;
            }
            const double n = static_cast<double>(k * rows);
            const double mean = sum / n, sd = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
            const bool embd = t.name == "token_embd.weight";
            EXPECT_NEAR(mean, embd ? 0.0 : 1.0, embd ? 0.002 : 0.03) << t.name;
            EXPECT_NEAR(sd, embd ? 0.02 : 0.1, embd ? 0.002 : 0.02) << t.name;
        }
    }
}

bool same_value(const gguf::Value& a, const gguf::Value& b) {
    if (a.type != b.type) return false;
    switch (a.type) {
    case gguf::ValueType::ARRAY: break;
    case gguf::ValueType::STRING: return a.as_string() == b.as_string();
    case gguf::ValueType::BOOL: return a.as_bool() == b.as_bool();
    case gguf::ValueType::FLOAT32:
    case gguf::ValueType::FLOAT64: return a.as_float() == b.as_float();
    case gguf::ValueType::UINT64: return a.as_uint() == b.as_uint();
    default: return a.as_int() == b.as_int();
    }
    const gguf::Array &x = a.as_array(), &y = b.as_array();
    if (x.elem_type != y.elem_type || x.items.size() != y.items.size()) return false;
    for (size_t i = 0; i < x.items.size(); ++i)
        if (!same_value(x.items[i], y.items[i])) return false;
    return true;
}

struct Combo {
    Arch arch;
    GgmlType weights, head;
};

class FormatTest : public ::testing::TestWithParam<Combo> {};

TEST_P(FormatTest, TinyHasEveryKeyAndTensor) {
    TempDir dir("modelgen-fmt");
    GenOptions o;
    o.arch = GetParam().arch;
    o.weights = GetParam().weights;
    o.head = GetParam().head;
    const ModelSpec s = testutil::tiny();
    const auto path = dir.path() / "m.gguf";
    const GenSummary sum = generate_model(s, o, path);
    const auto f = gguf::File::open(path);
    EXPECT_EQ(sum.file_bytes, f->file_size());
    EXPECT_EQ(sum.n_tensors, f->tensors().size());
    check_structure(*f, s, o);
    check_weights(*f);
}

INSTANTIATE_TEST_SUITE_P(
    AllFormats, FormatTest,
    ::testing::Values(Combo{Arch::BitnetB158, GgmlType::I2_S, GgmlType::F16},
                      Combo{Arch::BitnetB158, GgmlType::TQ1_0, GgmlType::Q8_0},
                      Combo{Arch::BitnetB158, GgmlType::TQ2_0, GgmlType::Q6_K},
                      Combo{Arch::Bitnet, GgmlType::I2_S, GgmlType::Q6_K},
                      Combo{Arch::Bitnet, GgmlType::TQ1_0, GgmlType::F16},
                      Combo{Arch::Bitnet, GgmlType::TQ2_0, GgmlType::Q8_0}));

TEST(ModelGen, SmallMatchesOracleKeysAndTensors) {
    const auto oracle = bitnet::testing::oracle_dir();
    if (!oracle) GTEST_SKIP() << "oracle folder not found";
    TempDir dir("modelgen-oracle");
    GenOptions o;
    o.tokenizer_json = *oracle / "llama3-tokenizer.json";
    const auto path = dir.path() / "small.gguf";
    generate_model(shape_preset("small"), o, path);
    const auto mine = gguf::File::open(path);
    const auto ref = gguf::File::open(*oracle / "b158-small-i2_s.gguf");
    std::vector<std::string> my_keys, ref_keys;
    for (const auto& kv : mine->metadata()) my_keys.push_back(kv.first);
    for (const auto& kv : ref->metadata()) ref_keys.push_back(kv.first);
    EXPECT_EQ(my_keys, ref_keys);
    for (const auto& [key, value] : ref->metadata()) {
        const gguf::Value* v = mine->find(key);
        ASSERT_NE(v, nullptr) << key;
        EXPECT_EQ(v->type, value.type) << key;
        // With the same tokenizer.json everything but the name is the same, vocabulary included.
        if (key != "general.name") {
            EXPECT_TRUE(same_value(*v, value)) << key;
        }
    }
    ASSERT_EQ(mine->tensors().size(), ref->tensors().size());
    for (size_t i = 0; i < ref->tensors().size(); ++i) {
        EXPECT_EQ(mine->tensors()[i].name, ref->tensors()[i].name);
        EXPECT_EQ(mine->tensors()[i].dims, ref->tensors()[i].dims);
        EXPECT_EQ(mine->tensors()[i].type, ref->tensors()[i].type);
        EXPECT_EQ(mine->tensors()[i].offset, ref->tensors()[i].offset);
    }
}

TEST(ModelGen, BitnetArchMatchesP2OracleKeysAndTensors) {
    const auto oracle = bitnet::testing::oracle_dir();
    if (!oracle) GTEST_SKIP() << "oracle folder not found";
    TempDir dir("modelgen-p2");
    GenOptions o;
    o.arch = Arch::Bitnet;
    o.weights = GgmlType::TQ2_0;
    ModelSpec s = testutil::tiny();
    s.vocab = 3000;  // the p2 file's truncated vocabulary size
    const auto path = dir.path() / "p2.gguf";
    generate_model(s, o, path);
    const auto mine = gguf::File::open(path);
    const auto ref = gguf::File::open(*oracle / "p2-bitnet-tiny-tq2_0.gguf");
    ASSERT_EQ(mine->metadata().size(), ref->metadata().size());
    for (size_t i = 0; i < ref->metadata().size(); ++i) {
        EXPECT_EQ(mine->metadata()[i].first, ref->metadata()[i].first);
        EXPECT_EQ(mine->metadata()[i].second.type, ref->metadata()[i].second.type) << ref->metadata()[i].first;
    }
    ASSERT_EQ(mine->tensors().size(), ref->tensors().size());
    for (size_t i = 0; i < ref->tensors().size(); ++i) {
        EXPECT_EQ(mine->tensors()[i].name, ref->tensors()[i].name);
        EXPECT_EQ(mine->tensors()[i].dims, ref->tensors()[i].dims);
        EXPECT_EQ(mine->tensors()[i].type, ref->tensors()[i].type);
        EXPECT_EQ(mine->tensors()[i].offset, ref->tensors()[i].offset);
    }
}

TEST(ModelGen, DeterministicInSeedNotThreads) {
    TempDir dir("modelgen-det");
    GenOptions o;
    o.threads = 1;
    generate_model(testutil::tiny(), o, dir.path() / "a.gguf");
    o.threads = 4;
    generate_model(testutil::tiny(), o, dir.path() / "b.gguf");
    o.seed = 43;
    generate_model(testutil::tiny(), o, dir.path() / "c.gguf");
    const auto a = testutil::read_bytes(dir.path() / "a.gguf");
    EXPECT_EQ(a, testutil::read_bytes(dir.path() / "b.gguf"));
    const auto c = testutil::read_bytes(dir.path() / "c.gguf");
    ASSERT_EQ(a.size(), c.size());
    EXPECT_NE(a, c);
    // Nothing left behind by the temp-file-and-rename write.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 3);
}

TEST(ModelGen, VocabPaddingGivesRequestedRows) {
    TempDir dir("modelgen-pad");
    ModelSpec s = testutil::tiny();
    s.vocab = 2000;
    generate_model(s, GenOptions{}, dir.path() / "m.gguf");
    const auto f = gguf::File::open(dir.path() / "m.gguf");
    EXPECT_EQ(f->tensor("token_embd.weight").dims[1], 2000);
    EXPECT_EQ(f->get("bitnet-b1.58.vocab_size").as_int(), 2000);
}

void expect_error(const ModelSpec& s, const GenOptions& o, const std::string& fragment) {
    TempDir dir("modelgen-bad");
    try {
        generate_model(s, o, dir.path() / "m.gguf");
        ADD_FAILURE() << "expected an error containing '" << fragment << "'";
    } catch (const ModelGenError& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "m.gguf"));
}

TEST(ModelGen, BadSpecsGiveClearErrors) {
    GenOptions o;
    ModelSpec s = testutil::tiny();
    s.heads = 3;
    expect_error(s, o, "--heads 3 does not divide --hidden 256");
    s = testutil::tiny();
    s.kv_heads = 3;
    expect_error(s, o, "--kv-heads 3 does not divide --heads 4");
    s = testutil::tiny();
    s.ffn = 700;
    expect_error(s, o, "--ffn 700 is not a multiple of 128");
    s = testutil::tiny();
    s.ffn = 640;  // fine for I2_S (5 x 128), not for TQ (256)
    o.weights = GgmlType::TQ2_0;
    expect_error(s, o, "--ffn 640 is not a multiple of 256");
    s = testutil::tiny();
    s.hidden = 384;
    s.heads = 6;
    s.kv_heads = 1;
    o.weights = GgmlType::I2_S;
    o.head = GgmlType::Q6_K;
    expect_error(s, o, "q6_k head");
    o = GenOptions{};
    s = testutil::tiny();
    s.layers = 0;
    expect_error(s, o, "--layers must be positive");
    s = testutil::tiny();
    s.vocab = 10;
    expect_error(s, o, "--vocab 10 is smaller");
    s = testutil::tiny();
    o.tokenizer_json = "/nonexistent/tokenizer.json";
    expect_error(s, o, "--tokenizer /nonexistent/tokenizer.json");
    EXPECT_THROW(shape_preset("huge"), ModelGenError);
    EXPECT_THROW(parse_weight_type("q4_0"), ModelGenError);
    EXPECT_THROW(parse_head_type("i2_s"), ModelGenError);
    EXPECT_THROW(parse_arch("llama"), ModelGenError);
}

TEST(ModelGen, PresetsAreThePublishedShapes) {
    const ModelSpec m = shape_preset("2b-4t");
    EXPECT_EQ(m.hidden, 2560);
    EXPECT_EQ(m.ffn, 6912);
    EXPECT_EQ(m.layers, 30);
    EXPECT_EQ(m.heads, 20);
    EXPECT_EQ(m.kv_heads, 5);
    EXPECT_EQ(m.vocab, 128256);
    EXPECT_EQ(m.ctx, 4096);
    EXPECT_EQ(m.head_dim(), 128);
    EXPECT_NO_THROW(validate(m, GenOptions{}));
    EXPECT_EQ(shape_preset("7b").ffn, 11008);
    EXPECT_EQ(shape_preset("13b").hidden, 5120);
    EXPECT_EQ(shape_preset("3b").hidden, 3200);
    EXPECT_EQ(shape_preset("small").kv_heads, 2);
}

TEST(ModelGen, DefaultModelIsCachedAndRepaired) {
    TempDir dir("modelgen-cache");
    const char* old = std::getenv("XDG_CACHE_HOME");
    const std::string saved = old ? old : "";
    ::setenv("XDG_CACHE_HOME", dir.path().c_str(), 1);
    const auto p = ensure_default_model();
    EXPECT_TRUE(std::filesystem::exists(p));
    EXPECT_EQ(p.string().rfind(dir.path().string(), 0), 0u) << p;
    const auto first = testutil::read_bytes(p);
    const auto mtime = std::filesystem::last_write_time(p);
    EXPECT_EQ(ensure_default_model(), p);
    EXPECT_EQ(std::filesystem::last_write_time(p), mtime) << "reused, not regenerated";
    {
        std::ofstream(p, std::ios::binary | std::ios::trunc) << "not a gguf";
    }
    EXPECT_EQ(ensure_default_model(), p);
    EXPECT_EQ(testutil::read_bytes(p), first) << "a corrupt cache file is regenerated identically";
    const auto f = gguf::File::open(p);
    EXPECT_EQ(f->get("general.architecture").as_string(), "bitnet-b1.58");
    EXPECT_EQ(f->tensor("blk.0.attn_q.weight").type, GgmlType::I2_S);
    if (old) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
    else ::unsetenv("XDG_CACHE_HOME");
}

} // namespace
} // namespace bitnet::modelgen
