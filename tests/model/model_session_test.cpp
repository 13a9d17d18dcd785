// Session behaviour that does not need reference data: batching invariance, KV-cache decode
// equals a batched pass, context overflow and bad ids are clean errors, bad files are refused.
#include "model/model.hpp"

#include "core/thread_pool.hpp"
#include "plugin/plugin_registry.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <cmath>
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

} // namespace
