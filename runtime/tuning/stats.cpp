#include "tuning/stats.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bitnet::tuning {

double median_inplace(std::span<double> v) {
    if (v.empty()) return 0.0;
    const size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + mid, v.end());
    const double hi = v[mid];
    if (v.size() % 2) return hi;
    const double lo = *std::max_element(v.begin(), v.begin() + mid);
    return 0.5 * (lo + hi);
}

double median(std::span<const double> v) {
    std::vector<double> c(v.begin(), v.end());
    return median_inplace(c);
}

double mad(std::span<const double> v) {
    if (v.size() < 2) return 0.0;
    const double m = median(v);
    std::vector<double> d;
    d.reserve(v.size());
    for (double x : v) d.push_back(std::fabs(x - m));
    return median_inplace(d);
}

} // namespace bitnet::tuning
