// Ternary BitLinear matmuls: Y[m][n] = dequant(X[m]) · W[n]. The integer dot products are exact,
// so only the few float operations after them decide the result, and they follow the reference
// engines operation for operation (bitnet.cpp for I2_S, llama.cpp's ggml for TQ1_0/TQ2_0).
#include "scalar.hpp"

#include "formats/formats.hpp"

#include <cstdint>
#include <vector>

namespace bitnet::scalar {
namespace {

using formats::GgmlType;

// Bytes the weights of N rows of K must span. I2_S keeps its scale outside the row data (the host
// passes it as w->scale), so only the packed codes count.
bool weights_large_enough(GgmlType type, const bitnet_matmul_args& a) {
    const auto n = static_cast<uint64_t>(a.n), k = static_cast<uint64_t>(a.k);
    uint64_t need = 0;
    if (type == GgmlType::I2_S) {
        need = n * k / 4;
    } else {
        const auto row = formats::row_bytes(type, a.k);
        if (!row) return false;
        need = n * static_cast<uint64_t>(*row);
    }
    return a.w->size >= need;
}

// bitnet.cpp: y = (float)((float)Σ t·q / s) · w_scale with s = 127/max|x| of the token.
bitnet_status matmul_i2s(const Plugin& p, const bitnet_matmul_args& a) {
    const int64_t K = a.k;
    const bitnet_qact& x = *a.x_q;
    return parallel_ranges(p, a.n, [&](int64_t n0, int64_t n1) {
        std::vector<int8_t> codes(static_cast<size_t>(K));
        for (int64_t n = n0; n < n1; ++n) {
            // Decoding each row once serves all M tokens.
            formats::ternary_row_codes(GgmlType::I2_S, a.w->data, n, K, codes.data(), nullptr);
            for (int64_t m = 0; m < a.m; ++m) {
                const int8_t* q = x.data + static_cast<size_t>(m) * x.row_stride;
                int64_t dot = 0;
                for (int64_t i = 0; i < K; ++i) dot += int64_t{codes[i]} * q[i];
                const float unscaled = static_cast<float>(dot) / x.scales[m];
                a.y[m * static_cast<int64_t>(a.ldy) + n] = unscaled * a.w->scale;
            }
        }
    });
}

// ggml's vec_dot_tq*_q8_K: per 256-block, sumf += (float)Σ q_w·q_a · (d_a · fp16(d_w)), blocks in
// order; the optional per-tensor `.scale` multiplies the finished sum.
bitnet_status matmul_tq(const Plugin& p, const bitnet_matmul_args& a, GgmlType type) {
    const int64_t K = a.k, nb = K / 256;
    const bitnet_qact& x = *a.x_q;
    return parallel_ranges(p, a.n, [&](int64_t n0, int64_t n1) {
        std::vector<int8_t> codes(static_cast<size_t>(K));
        std::vector<float> dw(static_cast<size_t>(nb));
        for (int64_t n = n0; n < n1; ++n) {
            formats::ternary_row_codes(type, a.w->data, n, K, codes.data(), dw.data());
            for (int64_t m = 0; m < a.m; ++m) {
                const int8_t* q = x.data + static_cast<size_t>(m) * x.row_stride;
                const float* da = x.scales + m * nb;
                float sumf = 0.0f;
                for (int64_t b = 0; b < nb; ++b) {
                    int32_t sumi = 0;
                    for (int64_t i = b * 256; i < (b + 1) * 256; ++i) sumi += int32_t{codes[i]} * q[i];
                    const float d = da[b] * dw[b];
                    sumf += static_cast<float>(sumi) * d;
                }
                a.y[m * static_cast<int64_t>(a.ldy) + n] = sumf * a.w->scale;
            }
        }
    });
}

template <class Fn>
bitnet_status run_ternary(void* plugin, const void* args, const char* what, GgmlType type,
                          bitnet_act_type act, int32_t k_multiple, Fn&& fn) noexcept {
    return run_op<bitnet_matmul_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_matmul_args, ldy),
        [&](const Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
            if (const char* why = matmul_args_error(a, k_multiple, act)) return invalid(p, what, why);
            if (!weights_large_enough(type, a)) return invalid(p, what, "w->size too small for n x k");
            return fn(p, a);
        });
}

} // namespace

bitnet_status run_matmul_i2s_i8row(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_i2s_i8row__scalar", GgmlType::I2_S, BITNET_ACT_I8_ROW,
                       128, [](const Plugin& p, const bitnet_matmul_args& a) { return matmul_i2s(p, a); });
}

bitnet_status run_matmul_tq2_0_i8b256(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_tq2_0_i8b256__scalar", GgmlType::TQ2_0,
                       BITNET_ACT_I8_B256, 256, [](const Plugin& p, const bitnet_matmul_args& a) {
                           return matmul_tq(p, a, GgmlType::TQ2_0);
                       });
}

bitnet_status run_matmul_tq1_0_i8b256(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_tq1_0_i8b256__scalar", GgmlType::TQ1_0,
                       BITNET_ACT_I8_B256, 256, [](const Plugin& p, const bitnet_matmul_args& a) {
                           return matmul_tq(p, a, GgmlType::TQ1_0);
                       });
}

} // namespace bitnet::scalar
