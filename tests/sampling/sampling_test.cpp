// Sampler stages and the configured chain: exact cut-offs on hand-made distributions, penalty
// arithmetic, reproducibility, and empirical frequencies against softmax.
#include "sampling/sampling.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace bitnet::sampling {
namespace {

std::vector<int32_t> ids_of(const Candidates& c) {
    std::vector<int32_t> ids;
    for (const TokenData& t : c.data) ids.push_back(t.id);
    return ids;
}

// Logits whose softmax is exactly `probs` (up to float rounding).
std::vector<float> logits_for(const std::vector<double>& probs) {
    std::vector<float> out;
    for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
    return out;
}

SamplingConfig plain(float temp, int64_t seed = 1234) {
    SamplingConfig c;
    c.temperature = temp;
    c.top_k = 0;
    c.top_p = 1.0f;
    c.min_p = 0.0f;
    c.repeat_penalty = 1.0f;
    c.seed = seed;
    return c;
}

TEST(Sampling, GreedyPicksArgmaxFirstOnTies) {
    Chain chain = make_chain(plain(0.0f));
    EXPECT_EQ(chain.sample(std::vector<float>{0.1f, 2.0f, -1.0f, 1.9f}), 1);
    EXPECT_EQ(chain.sample(std::vector<float>{0.5f, 3.0f, 3.0f, 1.0f}), 1);
    EXPECT_THROW(chain.sample(std::vector<float>{}), std::invalid_argument);
}

TEST(Sampling, TopKOneEqualsGreedy) {
    SamplingConfig cfg = plain(1.5f);
    cfg.top_k = 1;
    Chain chain = make_chain(cfg);
    Chain greedy_chain = make_chain(plain(0.0f));
    std::mt19937 gen(7);
    std::normal_distribution<float> nd;
    for (int round = 0; round < 20; ++round) {
        std::vector<float> logits(5000);
        for (float& x : logits) x = nd(gen);
        EXPECT_EQ(chain.sample(logits), greedy_chain.sample(logits));
    }
}

TEST(Sampling, TopKKeepsTheKHighestSorted) {
    Candidates c;
    c.assign(std::vector<float>{0.0f, 5.0f, 1.0f, 4.0f, 4.0f, -2.0f});
    top_k(3)->apply(c);
    EXPECT_EQ(ids_of(c), (std::vector<int32_t>{1, 3, 4}));
    EXPECT_TRUE(c.sorted);
}

TEST(Sampling, SeededRunsRepeat) {
    SamplingConfig cfg = plain(1.0f, 99);
    cfg.top_k = 50;
    cfg.top_p = 0.9f;
    cfg.min_p = 0.01f;
    std::vector<float> logits(128256);
    std::mt19937 gen(3);
    std::normal_distribution<float> nd;
    for (float& x : logits) x = nd(gen);
    auto run = [&](Chain& chain) {
        std::vector<int32_t> out;
        for (int i = 0; i < 50; ++i) {
            out.push_back(chain.sample(logits));
            chain.accept(out.back());
        }
        return out;
    };
    Chain a = make_chain(cfg), b = make_chain(cfg);
    const auto ra = run(a);
    EXPECT_EQ(ra, run(b));
    a.reset();
    EXPECT_EQ(run(a), ra) << "reset restarts the seeded stream";
    cfg.seed = 100;
    Chain c = make_chain(cfg);
    EXPECT_NE(run(c), ra);
}

TEST(Sampling, TopPCutsAtCumulativeMass) {
    const std::vector<double> probs = {0.05, 0.4, 0.1, 0.3, 0.15};  // sorted: 1,3,4,2,0
    auto keep = [&](float p) {
        Candidates c;
        c.assign(logits_for(probs));
        top_p(p)->apply(c);
        return ids_of(c);
    };
    EXPECT_EQ(keep(0.35f), (std::vector<int32_t>{1}));
    EXPECT_EQ(keep(0.69f), (std::vector<int32_t>{1, 3}));
    EXPECT_EQ(keep(0.71f), (std::vector<int32_t>{1, 3, 4}));
    EXPECT_EQ(keep(0.86f), (std::vector<int32_t>{1, 3, 4, 2}));
    EXPECT_EQ(keep(1.0f).size(), 5u);
    Candidates c;
    c.assign(logits_for(probs));
    top_p(0.1f, 3)->apply(c);
    EXPECT_EQ(ids_of(c), (std::vector<int32_t>{1, 3, 4})) << "min_keep";
}

TEST(Sampling, MinPKeepsRelativeToTheBest) {
    const std::vector<double> probs = {0.05, 0.4, 0.1, 0.3, 0.15};
    auto keep = [&](float p) {
        Candidates c;
        c.assign(logits_for(probs));
        min_p(p)->apply(c);
        auto ids = ids_of(c);
        std::sort(ids.begin(), ids.end());
        return ids;
    };
    EXPECT_EQ(keep(0.5f), (std::vector<int32_t>{1, 3}));       // >= 0.2
    EXPECT_EQ(keep(0.3f), (std::vector<int32_t>{1, 3, 4}));    // >= 0.12
    EXPECT_EQ(keep(0.2f), (std::vector<int32_t>{1, 2, 3, 4})); // >= 0.08
    EXPECT_EQ(keep(0.0f).size(), 5u);
    EXPECT_EQ(keep(1.0f), (std::vector<int32_t>{1}));
}

TEST(Sampling, RepetitionPenaltyMath) {
    auto stage = repetition_penalty(3, 2.0f);
    for (int32_t t : {0, 1, 1, 4}) stage->accept(t);  // window keeps 1, 1, 4
    Candidates c;
    c.assign(std::vector<float>{3.0f, 3.0f, 3.0f, -3.0f, -3.0f});
    stage->apply(c);
    EXPECT_FLOAT_EQ(c.data[0].logit, 3.0f) << "fell out of the window";
    EXPECT_FLOAT_EQ(c.data[1].logit, 1.5f) << "positive: divided once, even if repeated";
    EXPECT_FLOAT_EQ(c.data[2].logit, 3.0f);
    EXPECT_FLOAT_EQ(c.data[3].logit, -3.0f);
    EXPECT_FLOAT_EQ(c.data[4].logit, -6.0f) << "negative: multiplied";
    stage->reset();
    c.assign(std::vector<float>{3.0f, 3.0f});
    stage->apply(c);
    EXPECT_FLOAT_EQ(c.data[1].logit, 3.0f);

    // In the chain: greedy avoids the penalised token.
    SamplingConfig cfg = plain(0.0f);
    cfg.repeat_penalty = 1.5f;
    cfg.repeat_last_n = 8;
    Chain chain = make_chain(cfg);
    const std::vector<float> logits = {1.0f, 1.2f, 0.9f};
    EXPECT_EQ(chain.sample(logits), 1);
    chain.accept(1);
    EXPECT_EQ(chain.sample(logits), 0);  // 1.2 / 1.5 = 0.8 < 1.0
}

TEST(Sampling, TemperatureFrequenciesMatchSoftmax) {
    const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, 1.5f};
    for (float temp : {0.5f, 1.0f, 2.0f}) {
        Chain chain = make_chain(plain(temp, 42));
        std::vector<int> counts(logits.size(), 0);
        const int draws = 200000;
        for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(chain.sample(logits))];
        double z = 0;
        for (float l : logits) z += std::exp(l / temp);
        for (size_t i = 0; i < logits.size(); ++i) {
            const double p = std::exp(logits[i] / temp) / z;
            const double f = static_cast<double>(counts[i]) / draws;
            EXPECT_NEAR(f, p, std::max(0.003, 0.03 * p)) << "temp " << temp << " token " << i;
        }
    }
}

TEST(Sampling, ChainFromConfigHasLlamaCppOrder) {
    SamplingConfig cfg;
    cfg.repeat_penalty = 1.1f;
    const Chain chain = make_chain(cfg);
    std::vector<std::string_view> names;
    for (const auto& s : chain.stages()) names.push_back(s->name());
    EXPECT_EQ(names, (std::vector<std::string_view>{"repetition_penalty", "top_k", "top_p", "min_p", "temperature",
                                                     "dist"}));
    cfg.temperature = 0.0f;
    EXPECT_EQ(make_chain(cfg).stages().back()->name(), "greedy");
}

TEST(Sampling, DefaultConfigOnFullVocabularyIsFast) {
    std::vector<float> logits(128256);
    std::mt19937 gen(5);
    std::normal_distribution<float> nd;
    for (float& x : logits) x = nd(gen);
    SamplingConfig cfg;
    cfg.seed = 1;
    Chain chain = make_chain(cfg);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) {
        const int32_t id = chain.sample(logits);
        ASSERT_GE(id, 0);
        ASSERT_LT(id, 128256);
        chain.accept(id);
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 100;
    EXPECT_LT(ms, 20.0) << "per sample (debug build)";
}

} // namespace
} // namespace bitnet::sampling
