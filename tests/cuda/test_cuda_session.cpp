// The whole model on the GPU: a device-mode Session (every buffer in the cuda plugin's device
// memory, decode steps replayed as CUDA graphs) against the CPU session on the oracle models, and
// the reference engines' logits on cuda (tools/oracle-check's comparison). Skips, saying why, when
// the cuda plugin is not built or refuses to load (no driver, no GPU).
#include "oracle_compare.hpp"

#include "core/thread_pool.hpp"
#include "model/logits.hpp"
#include "model/model.hpp"
#include "modelgen/modelgen.hpp"
#include "plugin/plugin_registry.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace fs = std::filesystem;

namespace {

// Why cuda cannot run here, or empty.
std::string cuda_unavailable(const bitnet::PluginRegistry& reg) {
    if (reg.find("cuda") != nullptr) return {};
    for (const auto& r : reg.records())
        if (r.name == "cuda") return "cuda plugin not loaded: " + r.reason;
    return "cuda plugin not built (no CUDA compiler, or BITNET_WITH_CUDA=OFF)";
}

struct Fixture {
    bitnet::ThreadPool pool{2};
    bitnet::PluginRegistry reg{&pool};
    Fixture() { reg.discover({{bitnet::testing::build_plugin_dir(), "build"}}); }
};

const char* kModels[] = {"b158-small-i2_s.gguf", "bitnet-small-tq2_0.gguf", "p2-bitnet-tiny-tq1_0.gguf"};

// Rows of logits, cuda against cpu: the largest difference seen, and a failure where the argmax
// differs by more than the float-order tolerance.
struct LogitComparer {
    int32_t n_vocab;
    double worst = 0;
    void operator()(const std::vector<float>& cpu, const std::vector<float>& gpu, const std::string& where) {
        ASSERT_EQ(cpu.size(), gpu.size()) << where;
        for (size_t row = 0; row < cpu.size() / n_vocab; ++row) {
            const float* ra = cpu.data() + row * n_vocab;
            const float* rb = gpu.data() + row * n_vocab;
            for (int32_t i = 0; i < n_vocab; ++i) worst = std::max(worst, std::fabs(double(ra[i]) - rb[i]));
            // Argmax must agree unless the CPU's top two are within the float-order tolerance.
            const int32_t ia = bitnet::model::argmax(ra, n_vocab), ib = bitnet::model::argmax(rb, n_vocab);
            if (ia != ib && std::fabs(ra[ia] - ra[ib]) > 0.06)
                ADD_FAILURE() << where << " row " << row << ": argmax " << ib << " on cuda, " << ia << " on cpu";
        }
    }
};

// A small model with GQA 8:2 in the given formats, written to dir/model.gguf.
fs::path generated_model(const fs::path& dir, const char* weights, const char* head, uint64_t seed) {
    namespace mg = bitnet::modelgen;
    mg::ModelSpec spec;
    spec.hidden = 512;
    spec.ffn = 768;
    spec.layers = 2;
    spec.heads = 8;
    spec.kv_heads = 2;
    spec.ctx = 512;
    mg::GenOptions o;
    o.weights = mg::parse_weight_type(weights);
    o.head = mg::parse_head_type(head);
    o.seed = seed;
    const fs::path path = dir / "model.gguf";
    mg::generate_model(spec, o, path);
    return path;
}

// Device session against the CPU (scalar) session on one model file: a 40-token prefill with every
// row's logits (batched GEMV/GEMM, tiled attention), 12 greedy decode steps (step 1 eager, step 2
// recorded, the rest replayed graphs), then a 4-token step three times (batched decode).
void expect_device_matches_cpu(Fixture& f, const fs::path& path, const std::string& label) {
    auto model = bitnet::model::Model::load(path);
    bitnet::Router cpu_router(f.reg, {{{"all", "scalar"}}, {}});
    bitnet::Router gpu_router(f.reg, {});
    bitnet::model::SessionOptions so;
    so.n_ctx = 256;
    so.n_batch = 64;
    so.device = "cpu";
    bitnet::model::Session cpu(*model, cpu_router, so);
    so.device = "cuda";
    bitnet::model::Session gpu(*model, gpu_router, so);
    ASSERT_EQ(gpu.device(), "cuda");
    ASSERT_EQ(cpu.device(), "cpu");

    const int32_t n_vocab = model->hparams().n_vocab;
    LogitComparer compare{n_vocab};
    std::vector<int32_t> prompt(40);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 128000) % n_vocab);
    std::vector<float> la, lb;
    cpu.decode(prompt, true, la);
    gpu.decode(prompt, true, lb);
    compare(la, lb, "prefill");
    // Greedy from the CPU's choices, so both see the same tokens.
    int32_t next = bitnet::model::argmax(la.data() + (prompt.size() - 1) * n_vocab, n_vocab);
    for (int step = 0; step < 12; ++step) {
        cpu.decode({&next, 1}, false, la);
        gpu.decode({&next, 1}, false, lb);
        compare(la, lb, "decode step " + std::to_string(step));
        next = bitnet::model::argmax(la.data(), n_vocab);
    }
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<int32_t> four = {next, (next + 1) % n_vocab, (next + 2) % n_vocab, (next + 3) % n_vocab};
        cpu.decode(four, false, la);
        gpu.decode(four, false, lb);
        compare(la, lb, "4-token step " + std::to_string(rep));
    }
    EXPECT_EQ(gpu.n_past(), cpu.n_past());
    std::printf("[cuda session] %s: max |logit cuda - cpu| %.5f over prefill, 12 decode steps, 3 four-token steps\n",
                label.c_str(), compare.worst);
    // The README's sensitivity note: float-order differences stay well inside 0.06 per logit.
    EXPECT_LT(compare.worst, 0.06);
}

std::string param_name(std::string n) {
    for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

class DeviceSession : public ::testing::TestWithParam<const char*> {};

TEST_P(DeviceSession, MatchesCpuSessionPrefillAndGraphDecode) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    const fs::path path = *dir / GetParam();
    if (!fs::exists(path)) GTEST_SKIP() << path << " not in the oracle folder";
    Fixture f;
    if (std::string why = cuda_unavailable(f.reg); !why.empty()) GTEST_SKIP() << why;
    expect_device_matches_cpu(f, path, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Oracle, DeviceSession, ::testing::ValuesIn(kModels),
                         [](const auto& info) { return param_name(info.param); });

// Generated models cover every weight x head format pairing on shapes the oracle files lack
// (odd vocabulary, GQA 8:2), without needing the oracle folder.
struct GenCase {
    const char* weights;
    const char* head;
};

class GeneratedDeviceSession : public ::testing::TestWithParam<GenCase> {};

TEST_P(GeneratedDeviceSession, MatchesCpuSession) {
    Fixture f;
    if (std::string why = cuda_unavailable(f.reg); !why.empty()) GTEST_SKIP() << why;
    const fs::path dir = bitnet::testing::make_temp_dir("cuda-session");
    const fs::path path = generated_model(dir, GetParam().weights, GetParam().head, 7);
    expect_device_matches_cpu(f, path, std::string(GetParam().weights) + "+" + GetParam().head);
    fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Formats, GeneratedDeviceSession,
                         ::testing::Values(GenCase{"i2_s", "q6_k"}, GenCase{"i2_s", "f16"}, GenCase{"tq2_0", "q8_0"},
                                           GenCase{"tq1_0", "q6_k"}),
                         [](const auto& info) { return param_name(std::string(info.param.weights) + "_" + info.param.head);
 });

// Several sequences on the device (ABI 1.3's ATTENTION_SEQS / KV_STORE_SEQS, one graph for any set
// of sequences): each sequence prefilled with its own prompt, then steps that advance all of them
// together (eager, recorded, replayed), then a subset in another order (a second graph shape).
TEST(DeviceParallelSequences, MatchCpuSession) {
    Fixture f;
    if (std::string why = cuda_unavailable(f.reg); !why.empty()) GTEST_SKIP() << why;
    const fs::path dir = bitnet::testing::make_temp_dir("cuda-parallel");
    const fs::path path = generated_model(dir, "i2_s", "q6_k", 11);
    auto model = bitnet::model::Model::load(path);
    bitnet::Router cpu_router(f.reg, {{{"all", "scalar"}}, {}});
    bitnet::Router gpu_router(f.reg, {});
    bitnet::model::SessionOptions so;
    so.n_ctx = 128;
    so.n_batch = 16;
    so.n_seq = 5;
    so.device = "cpu";
    bitnet::model::Session cpu(*model, cpu_router, so);
    so.device = "cuda";
    bitnet::model::Session gpu(*model, gpu_router, so);
    ASSERT_EQ(gpu.device(), "cuda");

    const int32_t n_vocab = model->hparams().n_vocab;
    LogitComparer compare{n_vocab};
    std::vector<float> la, lb;
    std::vector<int32_t> next(5);
    for (int32_t s = 0; s < 5; ++s) {
        // Prompts of different lengths, so the sequences sit at different positions.
        std::vector<int32_t> prompt(size_t(3 + 4 * s));
        for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 131 * s + 5) % n_vocab);
        cpu.decode(s, prompt, false, la);
        gpu.decode(s, prompt, false, lb);
        compare(la, lb, "prefill of sequence " + std::to_string(s));
        next[size_t(s)] = bitnet::model::argmax(la.data(), n_vocab);
    }
    auto steps = [&](const std::vector<int32_t>& seqs, int n, const std::string& what) {
        for (int step = 0; step < n; ++step) {
            std::vector<int32_t> tokens;
            for (int32_t s : seqs) tokens.push_back(next[size_t(s)]);
            cpu.decode_parallel(seqs, tokens, la);
            gpu.decode_parallel(seqs, tokens, lb);
            compare(la, lb, what + " step " + std::to_string(step));
            for (size_t i = 0; i < seqs.size(); ++i)
                next[size_t(seqs[i])] = bitnet::model::argmax(la.data() + i * n_vocab, n_vocab);
        }
    };
    steps({0, 1, 2, 3, 4}, 6, "all five");
    steps({3, 1}, 4, "sequences 3 and 1");
    for (int32_t s = 0; s < 5; ++s) EXPECT_EQ(gpu.n_past(s), cpu.n_past(s)) << "sequence " << s;
    std::printf("[cuda session] 5 parallel sequences: max |logit cuda - cpu| %.5f\n", compare.worst);
    EXPECT_LT(compare.worst, 0.06);
    fs::remove_all(dir);
}

class CudaOracle : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaOracle, LogitsAndGreedyMatchReferenceEngine) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    Fixture f;
    if (std::string why = cuda_unavailable(f.reg); !why.empty()) GTEST_SKIP() << why;
    // A staged GPU run (tools/gpu-stage.sh) carries only the oracle files small enough to travel.
    if (!fs::exists(*dir / GetParam())) GTEST_SKIP() << GetParam() << " not in the oracle folder " << *dir;
    // Every op pinned to cuda: the session's auto device mode puts the whole model on the GPU.
    bitnet::Router router(f.reg, {{{"all", "cuda"}}, {}});
    const auto r = bitnet::oracle::compare(*dir / GetParam(), router);
    std::printf("[oracle] %s on cuda: top-1 %d/%d, max|dlogit| %.5f (at %s), max|dlse| %.5f, greedy %d/%d\n",
                r.ref_file.c_str(), r.top1_match, r.positions, r.max_abs_logit, r.worst_where.c_str(), r.max_abs_lse,
                r.greedy_matched, r.greedy_compared);
    EXPECT_GT(r.positions, 200);
    for (const auto& failure : r.failures) ADD_FAILURE() << failure;
}

INSTANTIATE_TEST_SUITE_P(Oracle, CudaOracle,
                         ::testing::Values("b158-small-i2_s.ref.json", "bitnet-small-tq2_0.ref.json",
                                           "p2-bitnet-tiny-tq1_0.ref.json", "p2-bitnet-tiny-tq2_0.ref.json"),
                         [](const auto& info) {
                             std::string n = info.param;
                             n = n.substr(0, n.find(".ref.json"));
                             for (char& c : n)
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             return n;
                         });

} // namespace
