// Element-wise ops: the gated FFN activation and the residual add. Each output element depends on
// the same-index inputs only, so outputs may alias inputs.
#include "scalar.hpp"

#include "formats/formats.hpp"

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

namespace {
// Row t of K and V into the cache at position offset `dst` halves (f32 -> f16, round to nearest
// even); a head-major cache takes it a head (head_dim values) at a time.
void store_row(const bitnet_kv_store_args& a, int64_t t, int64_t dst) {
    const int64_t src = t * a.ld, hs = sdk::kv_head_stride(a);
    const int32_t piece = hs != 0 ? a.head_dim : a.width;
    for (int32_t i = 0; i < a.width; ++i) {
        const int64_t at = dst + (i / piece) * hs + i % piece;
        a.k_cache[at] = formats::f32_to_fp16(a.k[src + i]);
        a.v_cache[at] = formats::f32_to_fp16(a.v[src + i]);
    }
}

// keys: positions per slot the layout must hold apart (head-major only).
const char* kv_store_args_error(const bitnet_kv_store_args& a, int64_t keys) {
    if (a.m <= 0 || a.width <= 0) return "m and width must be positive";
    if (a.k == nullptr || a.v == nullptr || a.k_cache == nullptr || a.v_cache == nullptr)
        return "k, v or a cache pointer is NULL";
    return sdk::kv_store_layout_error(a, keys);
}
} // namespace

bitnet_status run_kv_store_f16(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "kv_store_f16__scalar";
    return run_op<bitnet_kv_store_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_kv_store_args, kv_stride),
        [&](const Plugin& p, const bitnet_kv_store_args& a) -> bitnet_status {
            if (a.pos0 < 0) return invalid(p, what, "pos0 must be >= 0");
            if (const char* why = kv_store_args_error(a, int64_t(a.pos0) + a.m)) return invalid(p, what, why);
            for (int64_t t = 0; t < a.m; ++t) store_row(a, t, (a.pos0 + t) * static_cast<int64_t>(a.kv_stride));
            return BITNET_OK;
        });
}

bitnet_status run_kv_store_seqs_f16(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "kv_store_seqs_f16__scalar";
    return run_op<bitnet_kv_store_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_kv_store_args, max_keys),
        [&](const Plugin& p, const bitnet_kv_store_args& a) -> bitnet_status {
            if (const char* why = kv_store_args_error(a, a.max_keys)) return invalid(p, what, why);
            const int64_t hs = sdk::kv_head_stride(a);
            if (const char* why = sdk::seq_rows_error(a.m, a.row_pos, a.row_slot, a.slot_stride, a.n_slots, a.max_keys,
                                                      hs == 0 ? int64_t(a.max_keys) * a.kv_stride
                                                              : int64_t(a.width / a.head_dim) * hs))
                return invalid(p, what, why);
            for (int64_t t = 0; t < a.m; ++t)
                store_row(a, t, a.row_slot[t] * a.slot_stride + int64_t(a.row_pos[t]) * a.kv_stride);
            return BITNET_OK;
        });
}

} // namespace bitnet::scalar
