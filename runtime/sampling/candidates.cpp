#include "sampling/sampling.hpp"

#include <algorithm>
#include <cmath>

namespace bitnet::sampling {

namespace {
bool higher(const TokenData& a, const TokenData& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}
} // namespace

void Candidates::assign(std::span<const float> logits) {
    data.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) data[i] = TokenData{static_cast<int32_t>(i), logits[i], 0.0f};
    sorted = false;
    selected = -1;
}

void Candidates::sort_top(size_t k) {
    if (sorted) return;
    if (k == 0 || k >= data.size()) {
        std::sort(data.begin(), data.end(), higher);
        sorted = true;
        return;
    }
    // partial_sort is O(n log k): for a 128k vocabulary and k = 40 far cheaper than a full sort.
    std::partial_sort(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(k), data.end(), higher);
}

void Candidates::softmax() {
    if (data.empty()) return;
    float max_logit = data[0].logit;
    for (const TokenData& t : data) max_logit = std::max(max_logit, t.logit);
    double sum = 0.0;
    for (const TokenData& t : data) sum += std::exp(static_cast<double>(t.logit) - max_logit);
    for (TokenData& t : data) t.p = static_cast<float>(std::exp(static_cast<double>(t.logit) - max_logit) / sum);
}

} // namespace bitnet::sampling
