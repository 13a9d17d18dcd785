// Element-wise ops: the gated FFN activation and the residual add. Each output element depends on
// the same-index inputs only, so outputs may alias inputs.
#include "scalar.hpp"

#include <cmath>
#include <cstdint>

namespace bitnet::scalar {

bitnet_status run_ffn_act_f32(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "ffn_act_f32__scalar";
    return run_op<bitnet_ffn_act_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_ffn_act_args, ld),
        [&](const Plugin& p, const bitnet_ffn_act_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0) return invalid(p, what, "m and n must be positive");
            if (a.gate == nullptr || a.up == nullptr || a.y == nullptr)
                return invalid(p, what, "gate, up or y is NULL");
            if (a.ld < a.n) return invalid(p, what, "ld < n");
            if (a.kind != BITNET_FFN_RELU2 && a.kind != BITNET_FFN_SILU)
                return invalid(p, what, "unknown ffn kind");

            for (int64_t m = 0; m < a.m; ++m) {
                const int64_t row = m * a.ld;
                for (int64_t i = row; i < row + a.n; ++i) {
                    const float g = a.gate[i], u = a.up[i];
                    float act;
                    if (a.kind == BITNET_FFN_RELU2) {
                        // ggml_relu then ggml_sqr: two separate f32 results.
                        const float r = g > 0.0f ? g : 0.0f;
                        act = r * r;
                    } else {
                        act = g / (1.0f + std::exp(-g)); // ggml_silu_f32
                    }
                    a.y[i] = act * u;
                }
            }
            return BITNET_OK;
        });
}

bitnet_status run_add_f32(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "add_f32__scalar";
    return run_op<bitnet_add_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_add_args, ldy),
        [&](const Plugin& p, const bitnet_add_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0) return invalid(p, what, "m and n must be positive");
            if (a.x == nullptr || a.y == nullptr) return invalid(p, what, "x or y is NULL");
            if (a.ldx < a.n || a.ldy < a.n) return invalid(p, what, "ldx or ldy < n");
            for (int64_t m = 0; m < a.m; ++m) {
                const float* x = a.x + m * static_cast<int64_t>(a.ldx);
                float* y = a.y + m * static_cast<int64_t>(a.ldy);
                for (int32_t i = 0; i < a.n; ++i) y[i] += x[i];
            }
            return BITNET_OK;
        });
}

} // namespace bitnet::scalar
