// Reference activation quantizers; kernels must reproduce these bit for bit (plugin.h documents
// the numerics, which are bitnet.cpp's and llama.cpp's). Both rely on the default rounding mode
// (round half to even) of nearbyintf / lrintf.
#include "formats/formats.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bitnet::formats {

void quantize_act_row_i8(const float* x, int64_t k, int8_t* q, float* scale_out) {
    // bitnet.cpp takes the max in double with a 1e-5 floor, then rounds 127/max once to float.
    double amax = 0.00001;
    for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    const auto s = static_cast<float>(127.0 / amax);
    for (int64_t i = 0; i < k; ++i) {
        const float v = std::nearbyintf(x[i] * s);
        q[i] = static_cast<int8_t>(std::clamp(v, -128.0f, 127.0f));
    }
    *scale_out = s;
}

void quantize_act_row_b256(const float* x, int64_t k, int8_t* q, float* d_out) {
    // llama.cpp's quantize_row_q8_K_ref, with a shorter last block when k % 256 != 0.
    for (int64_t b0 = 0, blk = 0; b0 < k; b0 += 256, ++blk) {
        const int64_t n = std::min<int64_t>(256, k - b0);
        float amax = 0.0f, m = 0.0f;
        for (int64_t i = 0; i < n; ++i) {
            const float ax = std::fabs(x[b0 + i]);
            if (ax > amax) { amax = ax; m = x[b0 + i]; } // strict: the first of equal maxima wins
        }
        if (amax == 0.0f) {
            std::fill_n(q + b0, n, int8_t{0});
            d_out[blk] = 0.0f;
            continue;
        }
        const float iscale = -127.0f / m;
        for (int64_t i = 0; i < n; ++i)
            q[b0 + i] = static_cast<int8_t>(std::min<long>(127, std::lrintf(iscale * x[b0 + i])));
        d_out[blk] = 1.0f / iscale;
    }
}

ActRounding act_rounding_of_kernel(std::string_view kernel_name) {
    if (kernel_name.find("_f32q8k_") != std::string_view::npos) return ActRounding::q8_k;
    if (kernel_name.find("_f32q8_0_") != std::string_view::npos) return ActRounding::q8_0;
    return ActRounding::none;
}

void round_activations(ActRounding r, float* x, int64_t k) {
    switch (r) {
    case ActRounding::none: return;
    case ActRounding::q8_k: {
        std::vector<int8_t> q(static_cast<size_t>(k));
        std::vector<float> d(static_cast<size_t>((k + 255) / 256));
        quantize_act_row_b256(x, k, q.data(), d.data());
        for (int64_t i = 0; i < k; ++i) x[i] = static_cast<float>(q[i]) * d[i / 256];
        return;
    }
    case ActRounding::q8_0: {
        // The Q8_0 block encoder and decoder: exactly llama.cpp's quantize_row_q8_0_ref values.
        std::vector<uint8_t> blocks(tensor_bytes(GgmlType::Q8_0, k, 1).value_or(0)); // k % 32 != 0: throws below
        quantize_float(GgmlType::Q8_0, x, k, 1, blocks.data());
        dequantize_row(GgmlType::Q8_0, blocks.data(), 0, k, x);
        return;
    }
    }
}

} // namespace bitnet::formats
