// Small reductions over a row of logits, shared by eval, perplexity, bench and the oracle check.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace bitnet::model {

// log Σ exp(x_i), max-subtracted and summed in double (as the reference files compute it).
inline double log_sum_exp(const float* x, size_t n) {
    const float mx = *std::max_element(x, x + n);
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - double(mx));
    return double(mx) + std::log(s);
}

// Index of the first maximum.
inline int32_t argmax(const float* x, size_t n) { return int32_t(std::max_element(x, x + n) - x); }

} // namespace bitnet::model
