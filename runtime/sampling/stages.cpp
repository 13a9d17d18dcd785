// The individual sampler stages. Semantics follow llama.cpp's samplers of the same names, so a
// given config behaves as users of that engine expect.
#include "sampling/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace bitnet::sampling {
namespace {

class RepetitionPenalty final : public Stage {
public:
    RepetitionPenalty(int32_t last_n, float penalty) : last_n_(std::max(0, last_n)), penalty_(penalty) {}
    std::string_view name() const override { return "repetition_penalty"; }
    void apply(Candidates& c) override {
        if (penalty_ == 1.0f || history_.empty()) return;
        std::vector<int32_t> ids(history_.begin(), history_.end());
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());  // once per distinct token
        for (int32_t id : ids) {
            // Fast path: candidates fresh from assign() sit at their own index.
            TokenData* t = nullptr;
            if (id >= 0 && static_cast<size_t>(id) < c.data.size() && c.data[id].id == id) {
                t = &c.data[id];
            } else {
                auto it = std::find_if(c.data.begin(), c.data.end(), [id](const TokenData& d) { return d.id == id; });
                if (it != c.data.end()) t = &*it;
            }
            if (t == nullptr) continue;
            t->logit = t->logit <= 0.0f ? t->logit * penalty_ : t->logit / penalty_;
        }
        c.sorted = false;
    }
    void accept(int32_t token) override {
        if (last_n_ == 0) return;
        history_.push_back(token);
        while (history_.size() > static_cast<size_t>(last_n_)) history_.pop_front();
    }
    void reset() override { history_.clear(); }

private:
    int32_t last_n_;
    float penalty_;
    std::deque<int32_t> history_;
};

class TopK final : public Stage {
public:
    explicit TopK(int32_t k) : k_(k) {}
    std::string_view name() const override { return "top_k"; }
    void apply(Candidates& c) override {
        if (k_ <= 0 || static_cast<size_t>(k_) >= c.data.size()) return;
        c.sort_top(static_cast<size_t>(k_));
        c.data.resize(static_cast<size_t>(k_));
        c.sorted = true;
    }

private:
    int32_t k_;
};

class TopP final : public Stage {
public:
    TopP(float p, size_t min_keep) : p_(p), min_keep_(std::max<size_t>(1, min_keep)) {}
    std::string_view name() const override { return "top_p"; }
    void apply(Candidates& c) override {
        if (p_ >= 1.0f || c.data.size() <= 1) return;
        c.sort_top();
        c.softmax();
        double cum = 0.0;
        size_t keep = c.data.size();
        for (size_t i = 0; i < c.data.size(); ++i) {
            cum += c.data[i].p;
            if (cum >= p_ && i + 1 >= min_keep_) {
                keep = i + 1;
                break;
            }
        }
        c.data.resize(keep);
    }

private:
    float p_;
    size_t min_keep_;
};

class MinP final : public Stage {
public:
    MinP(float p, size_t min_keep) : p_(p), min_keep_(std::max<size_t>(1, min_keep)) {}
    std::string_view name() const override { return "min_p"; }
    void apply(Candidates& c) override {
        if (p_ <= 0.0f || c.data.size() <= 1) return;
        // prob_i >= p * prob_max  <=>  logit_i >= logit_max + log(p): no softmax needed.
        float max_logit = c.data[0].logit;
        for (const TokenData& t : c.data) max_logit = std::max(max_logit, t.logit);
        const float threshold = max_logit + std::log(p_);
        const size_t kept = static_cast<size_t>(std::count_if(
            c.data.begin(), c.data.end(), [&](const TokenData& t) { return t.logit >= threshold; }));
        if (kept >= min_keep_) {
            // stable_partition keeps the current (possibly sorted) order of what survives.
            auto end = std::stable_partition(c.data.begin(), c.data.end(),
                                             [&](const TokenData& t) { return t.logit >= threshold; });
            c.data.erase(end, c.data.end());
        } else {
            c.sort_top(min_keep_);
            c.data.resize(std::min(min_keep_, c.data.size()));
            c.sorted = true;
        }
    }

private:
    float p_;
    size_t min_keep_;
};

class Temperature final : public Stage {
public:
    explicit Temperature(float t) : t_(t) {}
    std::string_view name() const override { return "temperature"; }
    void apply(Candidates& c) override {
        if (c.data.empty()) return;
        if (t_ <= 0.0f) {
            // Zero temperature is a point mass on the best candidate.
            c.sort_top(1);
            c.data.resize(1);
            c.sorted = true;
            return;
        }
        for (TokenData& t : c.data) t.logit /= t_;
    }

private:
    float t_;
};

class Greedy final : public Stage {
public:
    std::string_view name() const override { return "greedy"; }
    void apply(Candidates& c) override {
        if (c.data.empty()) return;
        size_t best = 0;
        for (size_t i = 1; i < c.data.size(); ++i) {
            const TokenData& a = c.data[i];
            const TokenData& b = c.data[best];
            if (a.logit > b.logit || (a.logit == b.logit && a.id < b.id)) best = i;
        }
        c.selected = static_cast<int32_t>(best);
    }
};

class Dist final : public Stage {
public:
    explicit Dist(int64_t seed)
        : seed_(seed >= 0 ? static_cast<uint64_t>(seed) : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()),
          rng_(seed_) {}
    std::string_view name() const override { return "dist"; }
    void apply(Candidates& c) override {
        if (c.data.empty()) return;
        c.softmax();
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
        double cum = 0.0;
        c.selected = static_cast<int32_t>(c.data.size() - 1);  // rounding left a sliver past the end
        for (size_t i = 0; i < c.data.size(); ++i) {
            cum += c.data[i].p;
            if (u < cum) {
                c.selected = static_cast<int32_t>(i);
                break;
            }
        }
    }
    void reset() override { rng_.seed(seed_); }

private:
    uint64_t seed_;
    std::mt19937_64 rng_;
};

} // namespace

std::unique_ptr<Stage> repetition_penalty(int32_t last_n, float penalty) {
    if (!(penalty > 0.0f)) throw std::invalid_argument("repetition penalty must be > 0");
    return std::make_unique<RepetitionPenalty>(last_n, penalty);
}
std::unique_ptr<Stage> top_k(int32_t k) { return std::make_unique<TopK>(k); }
std::unique_ptr<Stage> top_p(float p, size_t min_keep) { return std::make_unique<TopP>(p, min_keep); }
std::unique_ptr<Stage> min_p(float p, size_t min_keep) { return std::make_unique<MinP>(p, min_keep); }
std::unique_ptr<Stage> temperature(float t) { return std::make_unique<Temperature>(t); }
std::unique_ptr<Stage> greedy() { return std::make_unique<Greedy>(); }
std::unique_ptr<Stage> dist(int64_t seed) { return std::make_unique<Dist>(seed); }

} // namespace bitnet::sampling
