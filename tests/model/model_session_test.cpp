// Session behaviour that does not need reference data: batching invariance, KV-cache decode
// equals a batched pass, context overflow and bad ids are clean errors, bad files are refused.
#include "model/model.hpp"

#include "core/thread_pool.hpp"
#include "plugin/plugin_registry.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace fs = std::filesystem;

namespace {

class SessionTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto dir = bitnet::testing::oracle_dir();
        if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR); CI always has it";
        path_ = *dir / "p2-bitnet-tiny-tq2_0.gguf";
        reg_.discover({{bitnet::testing::build_plugin_dir(), "build"}});
        ASSERT_NE(reg_.find("scalar"), nullptr);
        model_ = bitnet::model::Model::load(path_);
    }
    fs::path path_;
    bitnet::ThreadPool pool_{2};
    bitnet::PluginRegistry reg_{&pool_};
    bitnet::Router router_{reg_, {{{"all", "scalar"}}, {}}};
    std::unique_ptr<bitnet::model::Model> model_;
};

TEST_F(SessionTest, IncrementalDecodeMatchesOneBatch) {
    const std::vector<int32_t> ids = {2990, 32, 934, 72, 295, 296, 269, 1251, 304, 279};
    bitnet::model::Session batched(*model_, router_, {64, 0, 512});
    std::vector<float> all, step;
    batched.decode(ids, true, all);
    // Same tokens in uneven chunks (1, 3, then one at a time) through the KV cache.
    bitnet::model::Session inc(*model_, router_, {64, 0, 3});
    const int32_t V = model_->hparams().n_vocab;
    size_t done = 0;
    for (size_t chunk : {size_t(1), size_t(3), size_t(1), size_t(1), size_t(1), size_t(1), size_t(1), size_t(1)}) {
        inc.decode(std::span<const int32_t>(ids.data() + done, chunk), false, step);
        done += chunk;
        const float* ref = all.data() + (done - 1) * V;
        double worst = 0;
        for (int32_t v = 0; v < V; ++v) worst = std::max(worst, double(std::fabs(step[v] - ref[v])));
        // 1-token passes round attention probabilities to f16 (as bitnet.cpp does); that 1-ulp
        // change now and then flips an int8 activation rounding, which moves these flat random
        // logits by up to ~0.03 (oracle README §4). A real cache or position bug moves them by
        // the order of the logit spread (~0.3).
        EXPECT_LT(worst, 0.06) << "after " << done << " tokens";
    }
    EXPECT_EQ(inc.n_past(), int32_t(ids.size()));
}

// Several sequences advanced in one forward pass give each sequence exactly the logits it gets
// decoding alone (scalar: every row and every segment's attention is computed independently).
TEST_F(SessionTest, ParallelDecodeMatchesEachSequenceAlone) {
    const std::vector<std::vector<int32_t>> prompts = {{2990, 32, 934, 72, 295}, {296, 269, 1251, 304, 279, 11, 12, 13, 14}, {7, 8}};
    const int32_t V = model_->hparams().n_vocab;
    bitnet::model::SessionOptions po;
    po.n_ctx = 64;
    po.n_batch = 16;
    po.n_seq = 3;
    bitnet::model::Session par(*model_, router_, po);
    ASSERT_EQ(par.n_seq(), 3);
    std::vector<float> logits;
    std::vector<int32_t> next(3);
    for (int32_t s = 0; s < 3; ++s) {
        par.decode(s, prompts[size_t(s)], false, logits);
        next[size_t(s)] = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    // Four steps; the sequences are listed in a different order each time.
    const std::vector<std::vector<int32_t>> orders = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}, {2, 1, 0}};
    std::vector<std::vector<int32_t>> fed(3);
    std::vector<std::vector<std::vector<float>>> got(3);
    for (const auto& order : orders) {
        std::vector<int32_t> toks;
        for (int32_t s : order) toks.push_back(next[size_t(s)]);
        par.decode_parallel(order, toks, logits);
        ASSERT_EQ(logits.size(), order.size() * size_t(V));
        for (size_t i = 0; i < order.size(); ++i) {
            const int32_t s = order[i];
            fed[size_t(s)].push_back(toks[i]);
            got[size_t(s)].emplace_back(logits.begin() + i * V, logits.begin() + (i + 1) * V);
            next[size_t(s)] = int32_t(std::max_element(got[size_t(s)].back().begin(), got[size_t(s)].back().end()) -
                                      got[size_t(s)].back().begin());
        }
    }
    for (int32_t s = 0; s < 3; ++s) {
        EXPECT_EQ(par.n_past(s), int32_t(prompts[size_t(s)].size() + orders.size()));
        bitnet::model::Session alone(*model_, router_, {64, 0, 16});
        alone.decode(prompts[size_t(s)], false, logits);
        for (size_t step = 0; step < fed[size_t(s)].size(); ++step) {
            alone.decode({&fed[size_t(s)][step], 1}, false, logits);
            EXPECT_EQ(logits, got[size_t(s)][step]) << "sequence " << s << " step " << step;
        }
    }
}

TEST_F(SessionTest, ParallelDecodeRefusesBadRequestsAndChangesNothing) {
    bitnet::model::SessionOptions po;
    po.n_ctx = 8;
    po.n_seq = 2;
    bitnet::model::Session s(*model_, router_, po);
    std::vector<float> logits;
    const std::vector<int32_t> two = {5, 6};
    EXPECT_THROW(s.decode_parallel(std::vector<int32_t>{0, 0}, two, logits), std::invalid_argument);
    EXPECT_THROW(s.decode_parallel(std::vector<int32_t>{0, 2}, two, logits), std::invalid_argument);
    EXPECT_THROW(s.decode_parallel(std::vector<int32_t>{0}, two, logits), std::invalid_argument);
    EXPECT_THROW(s.decode_parallel(std::vector<int32_t>{0, 1}, std::vector<int32_t>{5, -1}, logits), std::invalid_argument);
    EXPECT_THROW(s.decode(2, two, false, logits), std::invalid_argument);
    EXPECT_EQ(s.n_past(0), 0);
    EXPECT_EQ(s.n_past(1), 0);
    // Sequence 1 full: the parallel step refuses before touching sequence 0.
    s.decode(1, std::vector<int32_t>(8, 3), false, logits);
    EXPECT_THROW(s.decode_parallel(std::vector<int32_t>{0, 1}, two, logits), bitnet::model::ContextFullError);
    EXPECT_EQ(s.n_past(0), 0);
    s.reset(1);
    s.decode_parallel(std::vector<int32_t>{0, 1}, two, logits);
    EXPECT_EQ(s.n_past(0), 1);
    EXPECT_EQ(s.n_past(1), 1);
}

TEST_F(SessionTest, ContextOverflowIsAnErrorAndKeepsTheCache) {
    bitnet::model::Session s(*model_, router_, {8, 0, 8});
    std::vector<float> logits;
    s.decode(std::vector<int32_t>{2990, 32, 934}, false, logits);
    EXPECT_THROW(s.decode(std::vector<int32_t>(6, 32), false, logits), bitnet::model::ContextFullError);
    EXPECT_EQ(s.n_past(), 3);
    s.decode(std::vector<int32_t>(5, 32), false, logits); // exactly fills the context
    EXPECT_EQ(s.n_past(), 8);
}

TEST_F(SessionTest, OutOfVocabularyIdIsAnError) {
    bitnet::model::Session s(*model_, router_, {16, 0, 8});
    std::vector<float> logits;
    EXPECT_THROW(s.decode(std::vector<int32_t>{2990, 3000}, false, logits), std::invalid_argument);
    EXPECT_THROW(s.decode(std::vector<int32_t>{-1}, false, logits), std::invalid_argument);
    EXPECT_EQ(s.n_past(), 0);
}

TEST(ModelLoad, TruncatedFileIsAClearError) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR); CI always has it";
    const fs::path src = *dir / "p2-bitnet-tiny-tq2_0.gguf";
    const fs::path tmp = bitnet::testing::make_temp_dir("model") / "truncated.gguf";
    fs::copy_file(src, tmp);
    fs::resize_file(tmp, fs::file_size(src) / 2);
    try {
        bitnet::model::Model::load(tmp);
        ADD_FAILURE() << "truncated model loaded";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("truncated.gguf"), std::string::npos) << e.what();
    }
    fs::remove_all(tmp.parent_path());
}

// The build tree's plugins, loaded on a 2-thread pool.
struct BuildPlugins {
    bitnet::ThreadPool pool{2};
    bitnet::PluginRegistry reg{&pool};
    BuildPlugins() { reg.discover({{bitnet::testing::build_plugin_dir(), "build"}}); }
};

} // namespace

// A plugin that repacks at load (avx512 runs TQ1_0 as TQ2_0): the decode and prefill kernels name
// one pack function and share one packed copy per weight; bytes_per_token counts what the decode
// reads (the packed rows); the file's pages of a packed weight are given back; and the logits
// equal those of the scalar kernels on the file's bytes (the repack is lossless and the kernels
// exact).
TEST(PackedWeights, SharedAcrossKernelsCountedAndEqualToTheFilesBytes) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR); CI always has it";
    BuildPlugins build;
    bitnet::PluginRegistry& reg = build.reg;
    ASSERT_NE(reg.find("scalar"), nullptr);
    if (reg.find("avx512") == nullptr) {
        std::string why = "plugin 'avx512' is not loaded here";
        for (const auto& r : reg.records())
            if (r.name == "avx512") why += ": " + r.reason;
        GTEST_SKIP() << why;
    }
    const auto model = bitnet::model::Model::load(*dir / "p2-bitnet-tiny-tq1_0.gguf");
    const std::vector<int32_t> ids = {2990, 32, 934, 72, 295, 296, 269, 1251, 304, 279};
    std::vector<float> want, got, step;
    {
        bitnet::Router scalar(reg, {{{"all", "scalar"}}, {}});
        bitnet::model::Session s(*model, scalar, {64, 0, 16});
        s.decode(ids, true, want);
    }
    bitnet::Router fast(reg, {{{"all", "avx512"}}, {}});
    bitnet::model::Session s(*model, fast, {64, 0, 16});
    auto& weights = model->weights();
    size_t ternary_read = 0;
    for (bitnet::model::LinearWeight* w : weights.linears()) {
        if (w->wf != BITNET_WF_TQ1_0) continue;
        ASSERT_EQ(w->packed.size(), 1u) << w->name << ": the 4x4 (M = 1) and panel (M = 16) kernels share a copy";
        const size_t tq2_bytes = size_t(w->n) * (w->k / 256) * 66;
        EXPECT_EQ(w->packed.begin()->second.bytes, tq2_bytes) << w->name;
        EXPECT_EQ(w->decode_bytes, tq2_bytes) << w->name;
        ternary_read += tq2_bytes;
    }
    EXPECT_GT(ternary_read, 0u);
    EXPECT_EQ(weights.bytes_per_token(), ternary_read + weights.head.size);
    EXPECT_EQ(weights.packed_bytes(), ternary_read);
    s.decode(ids, true, got);
    ASSERT_EQ(got.size(), want.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - want[i])));
    // Integer dots are exact; what remains is float order in the head, norms and attention.
    EXPECT_LT(worst, 1e-3);
}

namespace {
// Runs a prompt, two single-token steps and one step of two sequences in one call (the _SEQS ops
// where the router has them); every logit, in order.
std::vector<float> run_steps(bitnet::model::Model& model, bitnet::Router& router, bool& head_major) {
    bitnet::model::Session s(model, router, {64, 0, 16, 2});
    head_major = s.kv_head_major();
    const std::vector<int32_t> ids = {2990, 32, 934, 72, 295, 296, 269, 1251, 304, 279};
    std::vector<float> all, step;
    s.decode(0, ids, true, step);
    all.insert(all.end(), step.begin(), step.end());
    s.decode(1, std::span<const int32_t>(ids.data(), 4), false, step);
    all.insert(all.end(), step.begin(), step.end());
    for (int32_t t : {42, 7}) {
        s.decode(0, std::span<const int32_t>(&t, 1), false, step);
        all.insert(all.end(), step.begin(), step.end());
    }
    const std::vector<int32_t> seqs = {0, 1}, toks = {11, 12};
    s.decode_parallel(seqs, toks, step);
    all.insert(all.end(), step.begin(), step.end());
    return all;
}
} // namespace

// The CPU cache is head-major when every CPU kernel that touches it reads kv_head_stride (a GPU
// plugin loaded beside them does not matter), and the layout changes where values live, never
// what is computed: the logits equal the interleaved cache's bit for bit (same kernels, same
// order of operations).
TEST(KvLayout, HeadMajorCacheGivesTheInterleavedCachesLogits) {
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR); CI always has it";
    BuildPlugins build;
    bitnet::PluginRegistry& reg = build.reg;
    ASSERT_NE(reg.find("scalar"), nullptr);
    bool all_flagged = true;
    for (const auto& p : reg.plugins())
        for (const bitnet_kernel_desc* k : p->kernels())
            if (p->device_kind() == BITNET_DEVICE_CPU && bitnet::kv_cache_op(k->op) && !bitnet::reads_kv_head_stride(*k))
                all_flagged = false;
    const auto model = bitnet::model::Model::load(*dir / "p2-bitnet-tiny-tq2_0.gguf");
    std::vector<std::string> plugins = {"scalar"};
    if (reg.find("avx512") != nullptr) plugins.push_back("avx512");
    if (reg.find("avx2") != nullptr) plugins.push_back("avx2");
    for (const std::string& plugin : plugins) {
        SCOPED_TRACE(plugin);
        bitnet::Router router(reg, {{{"all", plugin}}, {}});
        bool head_major = false, interleaved_head_major = true;
        ASSERT_EQ(::unsetenv("BITNET_KV_LAYOUT"), 0);
        const std::vector<float> got = run_steps(*model, router, head_major);
        EXPECT_EQ(head_major, all_flagged);
        ASSERT_EQ(::setenv("BITNET_KV_LAYOUT", "interleaved", 1), 0);
        const std::vector<float> want = run_steps(*model, router, interleaved_head_major);
        ASSERT_EQ(::unsetenv("BITNET_KV_LAYOUT"), 0);
        EXPECT_FALSE(interleaved_head_major);
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << "logits differ";
    }
}
