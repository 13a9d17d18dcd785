// Rotary position embedding in place, as ggml's rope (no YaRN: ext_factor 0, attn_factor 1).
// The angle of pair i is freq_scale · (pos · theta_scale^i), the power built by repeated f32
// multiplication: ggml does exactly that, and a closed-form powf would differ in the last bits.
#include "scalar.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace bitnet::scalar {

bitnet_status run_rope_f32(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "rope_f32__scalar";
    return run_op<bitnet_rope_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_rope_args, ldx),
        [&](const Plugin& p, const bitnet_rope_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n_heads <= 0 || a.head_dim <= 0)
                return invalid(p, what, "m, n_heads and head_dim must be positive");
            if (a.n_rot <= 0 || a.n_rot % 2 != 0 || a.n_rot > a.head_dim)
                return invalid(p, what, "n_rot must be even and in (0, head_dim]");
            if (a.x == nullptr || a.positions == nullptr) return invalid(p, what, "x or positions is NULL");
            if (static_cast<int64_t>(a.ldx) < static_cast<int64_t>(a.n_heads) * a.head_dim)
                return invalid(p, what, "ldx < n_heads * head_dim");

            const int32_t half = a.n_rot / 2;
            const float theta_scale = std::pow(a.freq_base, -2.0f / static_cast<float>(a.n_rot));
            std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
            for (int64_t t = 0; t < a.m; ++t) {
                // One table per token serves every head.
                float theta_base = static_cast<float>(a.positions[t]);
                for (int32_t i = 0; i < half; ++i) {
                    const float theta = a.freq_scale * theta_base;
                    cos_t[i] = std::cos(theta);
                    sin_t[i] = std::sin(theta);
                    theta_base *= theta_scale;
                }
                for (int32_t h = 0; h < a.n_heads; ++h) {
                    float* x = a.x + t * static_cast<int64_t>(a.ldx) + static_cast<int64_t>(h) * a.head_dim;
                    for (int32_t i = 0; i < half; ++i) {
                        // NEOX rotates (i, i + n_rot/2); GPT-J style rotates neighbours.
                        const int32_t i0 = a.neox ? i : 2 * i;
                        const int32_t i1 = a.neox ? i + half : 2 * i + 1;
                        const float x0 = x[i0], x1 = x[i1];
                        x[i0] = x0 * cos_t[i] - x1 * sin_t[i];
                        x[i1] = x0 * sin_t[i] + x1 * cos_t[i];
                    }
                }
            }
            return BITNET_OK;
        });
}

} // namespace bitnet::scalar
