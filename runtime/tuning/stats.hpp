// Robust statistics for benchmark samples: one slow run (a page fault, a context switch) must not
// move the figure a routing decision rests on.
#pragma once

#include <span>

namespace bitnet::tuning {

// Median of `v`; 0 for an empty span. Reorders `v`.
double median_inplace(std::span<double> v);
// Median of `v` (copied; `v` untouched).
double median(std::span<const double> v);
// Median absolute deviation from the median; 0 for fewer than two samples.
double mad(std::span<const double> v);

} // namespace bitnet::tuning
