// Float matmuls (the lm_head and any non-ternary linear): each weight row is decoded to f32 once
// and dotted with every token's f32 activations, accumulating in f32 in index order. That order is
// the reference; SIMD plugins sum in lanes and are compared to it with a tolerance.
#include "scalar.hpp"

#include "formats/formats.hpp"

#include <cstdint>
#include <vector>

namespace bitnet::scalar {
namespace {

using formats::GgmlType;

bitnet_status matmul_float(void* plugin, const void* args, const char* what, GgmlType type,
                           int32_t k_multiple) noexcept {
    return run_op<bitnet_matmul_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_matmul_args, ldy),
        [&](const Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
            if (const char* why = matmul_args_error(a, k_multiple, BITNET_ACT_F32))
                return invalid(p, what, why);
            const auto row = formats::row_bytes(type, a.k);
            if (!row || a.w->size / *row < static_cast<uint64_t>(a.n))
                return invalid(p, what, "w->size too small for n x k");

            const int64_t K = a.k;
            return parallel_ranges(p, a.n, [&](int64_t n0, int64_t n1) {
                std::vector<float> wrow(static_cast<size_t>(K));
                for (int64_t n = n0; n < n1; ++n) {
                    formats::dequantize_row(type, a.w->data, n, K, wrow.data());
                    for (int64_t m = 0; m < a.m; ++m) {
                        const float* x = a.x_f32 + m * static_cast<int64_t>(a.ldx);
                        float acc = 0.0f;
                        for (int64_t i = 0; i < K; ++i) acc += x[i] * wrow[i];
                        a.y[m * static_cast<int64_t>(a.ldy) + n] = acc * a.w->scale;
                    }
                }
            });
        });
}

} // namespace

bitnet_status run_matmul_f32_f32(void* plugin, const void* args, void*) noexcept {
    return matmul_float(plugin, args, "matmul_f32_f32__scalar", GgmlType::F32, 1);
}
bitnet_status run_matmul_f16_f32(void* plugin, const void* args, void*) noexcept {
    return matmul_float(plugin, args, "matmul_f16_f32__scalar", GgmlType::F16, 1);
}
bitnet_status run_matmul_bf16_f32(void* plugin, const void* args, void*) noexcept {
    return matmul_float(plugin, args, "matmul_bf16_f32__scalar", GgmlType::BF16, 1);
}
bitnet_status run_matmul_q8_0_f32(void* plugin, const void* args, void*) noexcept {
    return matmul_float(plugin, args, "matmul_q8_0_f32__scalar", GgmlType::Q8_0, 32);
}
bitnet_status run_matmul_q6_k_f32(void* plugin, const void* args, void*) noexcept {
    return matmul_float(plugin, args, "matmul_q6_k_f32__scalar", GgmlType::Q6_K, 256);
}

} // namespace bitnet::scalar
