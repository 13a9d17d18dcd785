// Token sampling: a chain of stages that narrow and reshape a candidate list built from the
// logits, then one final stage that picks a token, with llama.cpp's semantics for each stage.
#pragma once

#include "config/config.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <span>
#include <string_view>
#include <vector>

namespace bitnet::sampling {

struct TokenData {
    int32_t id;
    float logit;
    float p;  // filled by softmax(); meaningless before
};

// The candidates a stage works on. `sorted` means descending by logit (ties: lower id first).
struct Candidates {
    std::vector<TokenData> data;
    bool sorted = false;
    int32_t selected = -1;  // index into data, set by the final (picking) stage

    // Rebuilds from a full logit row: id i gets logits[i]; keeps the allocation.
    void assign(std::span<const float> logits);
    // Sorts descending (only the first `k` entries when 0 < k < size; the rest stay after them
    // in no particular order, and `sorted` stays false unless k covers everything).
    void sort_top(size_t k = 0);
    // p = softmax(logit) over the current candidates (max-subtracted, computed in double).
    void softmax();
};

class Stage {
public:
    virtual ~Stage() = default;
    virtual std::string_view name() const = 0;
    virtual void apply(Candidates& c) = 0;
    virtual void accept(int32_t /*token*/) {}
    virtual void reset() {}
};

// Stages (factory functions; each returns a ready stage).
// Repetition penalty over the last `last_n` accepted tokens: a positive logit is divided by
// `penalty`, a negative one multiplied (llama.cpp). penalty 1 or last_n 0 = no-op.
std::unique_ptr<Stage> repetition_penalty(int32_t last_n, float penalty);
std::unique_ptr<Stage> top_k(int32_t k);                   // k <= 0: no-op; keeps k highest
std::unique_ptr<Stage> top_p(float p, size_t min_keep = 1); // smallest prefix with mass >= p; p>=1: no-op
std::unique_ptr<Stage> min_p(float p, size_t min_keep = 1); // keeps prob >= p * max prob; p<=0: no-op
std::unique_ptr<Stage> temperature(float t);                // logits /= t (t > 0)
std::unique_ptr<Stage> greedy();                            // picks the highest logit, lowest id on ties
// Draws from softmax(candidates) with std::mt19937_64; seed < 0 = std::random_device.
std::unique_ptr<Stage> dist(int64_t seed);

class Chain {
public:
    void add(std::unique_ptr<Stage> stage) { stages_.push_back(std::move(stage)); }
    // Runs every stage over `c`; the last one must pick (set c.selected).
    void apply(Candidates& c);
    void accept(int32_t token);
    void reset();
    // assign + apply; returns the chosen token id. Throws std::invalid_argument on empty logits
    // and std::logic_error when no stage picked.
    int32_t sample(std::span<const float> logits);
    const std::vector<std::unique_ptr<Stage>>& stages() const { return stages_; }

private:
    std::vector<std::unique_ptr<Stage>> stages_;
    Candidates scratch_;
};

// The chain a SamplingConfig describes: repetition penalty, top-k, top-p, min-p, temperature,
// then a seeded draw; temperature <= 0 = repetition penalty then greedy.
Chain make_chain(const SamplingConfig& cfg);

} // namespace bitnet::sampling
