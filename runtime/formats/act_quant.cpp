// Reference activation quantizers; kernels must reproduce these bit for bit (plugin.h documents
// the numerics, which are bitnet.cpp's and llama.cpp's). Both rely on the default rounding mode
// (round half to even) of nearbyintf / lrintf.
#include "formats/formats.hpp"

#include <algorithm>
#include <cmath>

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

} // namespace bitnet::formats
