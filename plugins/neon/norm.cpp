// RMSNorm with ggml's numerics (see the scalar plugin's norm.cpp): squares formed in f32, summed in
// double, mean rounded to f32 once, y = x * (1/sqrtf(mean + eps)), then the weight by a separate
// f32 multiplication. The double sum runs in 4 lanes instead of index order: its last bits may
// differ, which moves the f32 mean (by one ulp) only when the sum sits next to an f32 rounding
// boundary. Everything after the sum is the reference's element-wise operations; y may alias x.
#include "neon.hpp"

#include <arm_neon.h>

#include <cmath>
#include <cstdint>

namespace bitnet::neon {
namespace {

double sum_squares(const float* x, int64_t n) {
    float64x2_t a0 = vdupq_n_f64(0.0), a1 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const float32x4_t sq = vmulq_f32(v, v);
        a0 = vaddq_f64(a0, vcvt_f64_f32(vget_low_f32(sq)));
        a1 = vaddq_f64(a1, vcvt_high_f64_f32(sq));
    }
    double sum = vaddvq_f64(vaddq_f64(a0, a1));
    for (; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    return sum;
}

void norm_row(const float* x, const float* weight, int32_t n, float eps, float* y) {
    const float mean = static_cast<float>(sum_squares(x, n) / n);
    const float scale = 1.0f / std::sqrt(mean + eps);
    const float32x4_t sv = vdupq_n_f32(scale);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_f32(vld1q_f32(x + i), sv);
        if (weight != nullptr) v = vmulq_f32(v, vld1q_f32(weight + i));
        vst1q_f32(y + i, v);
    }
    for (; i < n; ++i) {
        const float v = x[i] * scale;
        y[i] = weight != nullptr ? v * weight[i] : v;
    }
}

} // namespace

bitnet_status run_rmsnorm_f32(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "rmsnorm_f32__neon";
    return x86::run_op<bitnet_rmsnorm_args>(
        plugin, args, what, X86_SIZE_UPTO(bitnet_rmsnorm_args, ldy),
        [&](const Plugin& p, const bitnet_rmsnorm_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0) return x86::invalid(p, what, "m and n must be positive");
            if (a.x == nullptr || a.y == nullptr) return x86::invalid(p, what, "x or y is NULL");
            if (a.ldx < a.n || a.ldy < a.n) return x86::invalid(p, what, "ldx or ldy < n");
            if (!(a.eps >= 0.0f)) return x86::invalid(p, what, "eps must be >= 0");
            auto rows = [&](int64_t m0, int64_t m1) {
                for (int64_t m = m0; m < m1; ++m) norm_row(a.x + m * a.ldx, a.weight, a.n, a.eps, a.y + m * a.ldy);
            };
            // Decode normalizes one row: not worth waking the pool.
            if (a.m < 4) rows(0, a.m);
            else x86::parallel_ranges(p, a.m, 1, rows);
            return BITNET_OK;
        });
}

} // namespace bitnet::neon
