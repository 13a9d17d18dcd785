// RMSNorm as ggml computes it: squares are formed in f32 and summed in double, the mean is
// rounded to f32 once (after the division, as ggml's `const float mean = sum/ne00`), and the
// weight is applied by a separate f32 multiplication (ggml_mul after ggml_rms_norm).
#include "scalar.hpp"

#include <cmath>
#include <cstdint>

namespace bitnet::scalar {

bitnet_status run_rmsnorm_f32(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "rmsnorm_f32__scalar";
    return run_op<bitnet_rmsnorm_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_rmsnorm_args, ldy),
        [&](const Plugin& p, const bitnet_rmsnorm_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0) return invalid(p, what, "m and n must be positive");
            if (a.x == nullptr || a.y == nullptr) return invalid(p, what, "x or y is NULL");
            if (a.ldx < a.n || a.ldy < a.n) return invalid(p, what, "ldx or ldy < n");
            if (!(a.eps >= 0.0f)) return invalid(p, what, "eps must be >= 0");

            for (int64_t m = 0; m < a.m; ++m) {
                const float* x = a.x + m * static_cast<int64_t>(a.ldx);
                float* y = a.y + m * static_cast<int64_t>(a.ldy);
                double sum = 0.0;
                for (int32_t i = 0; i < a.n; ++i) sum += static_cast<double>(x[i] * x[i]);
                const float mean = static_cast<float>(sum / a.n);
                const float scale = 1.0f / std::sqrt(mean + a.eps);
                // Element-wise after the sum, so y may alias x.
                for (int32_t i = 0; i < a.n; ++i) {
                    const float v = x[i] * scale;
                    y[i] = a.weight != nullptr ? v * a.weight[i] : v;
                }
            }
            return BITNET_OK;
        });
}

} // namespace bitnet::scalar
