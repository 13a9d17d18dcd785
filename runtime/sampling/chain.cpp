#include "sampling/sampling.hpp"

#include <stdexcept>

namespace bitnet::sampling {

void Chain::apply(Candidates& c) {
    for (auto& s : stages_) s->apply(c);
}

void Chain::accept(int32_t token) {
    for (auto& s : stages_) s->accept(token);
}

void Chain::reset() {
    for (auto& s : stages_) s->reset();
}

int32_t Chain::sample(std::span<const float> logits) {
    if (logits.empty()) throw std::invalid_argument("sample: empty logits");
    scratch_.assign(logits);
    apply(scratch_);
    if (scratch_.selected < 0 || static_cast<size_t>(scratch_.selected) >= scratch_.data.size())
        throw std::logic_error("sample: the chain has no stage that picks a token");
    return scratch_.data[static_cast<size_t>(scratch_.selected)].id;
}

Chain make_chain(const SamplingConfig& cfg) {
    Chain chain;
    if (cfg.repeat_penalty != 1.0f && cfg.repeat_last_n != 0)
        chain.add(repetition_penalty(cfg.repeat_last_n, cfg.repeat_penalty));
    if (cfg.temperature <= 0.0f) {
        chain.add(greedy());
        return chain;
    }
    if (cfg.top_k > 0) chain.add(top_k(cfg.top_k));
    if (cfg.top_p < 1.0f) chain.add(top_p(cfg.top_p));
    if (cfg.min_p > 0.0f) chain.add(min_p(cfg.min_p));
    chain.add(temperature(cfg.temperature));
    chain.add(dist(cfg.seed));
    return chain;
}

} // namespace bitnet::sampling
