// Activations of the Q6_K head kernels, quantized the way llama.cpp's quantize_row_q8_K_ref does
// for its Q6_K x Q8_K dot product: the I8_B256 quantizer (quantize_impl.hpp, bit for bit
// formats::quantize_act_row_b256) plus the 16-element sums the Q6_K offset of 32 needs. Its cost
// (K elements per token) is noise next to the head's weights.
#pragma once

#include "quantize_impl.hpp"

#include <cstddef>
#include <cstdint>

namespace bitnet::x86 {

// One token's record in a caller's buffer: q[K] (64-aligned), bsum[K/16], d[K/256].
struct Q8KRow {
    const int8_t* q;
    const int16_t* bsum;
    const float* d;
};

inline size_t q8k_record_bytes(int64_t k) {
    const size_t raw = static_cast<size_t>(k) + static_cast<size_t>(k) / 16 * 2 + static_cast<size_t>(k) / 256 * 4;
    return (raw + 63) / 64 * 64;
}

inline Q8KRow q8k_view(const uint8_t* rec, int64_t k) {
    return {reinterpret_cast<const int8_t*>(rec), reinterpret_cast<const int16_t*>(rec + k),
            reinterpret_cast<const float*>(rec + k + k / 16 * 2)};
}

// k is a multiple of 256. rec is 64-aligned, q8k_record_bytes(k) long. S: the ISA's Simd.
template <class S>
void q8k_quantize(const float* x, int64_t k, uint8_t* rec) {
    auto* q = reinterpret_cast<int8_t*>(rec);
    auto* bsum = reinterpret_cast<int16_t*>(rec + k);
    auto* d = reinterpret_cast<float*>(rec + k + k / 16 * 2);
    Quantize<S>::row_b256(x, k, q, d);
    for (int64_t j = 0; j < k / 16; ++j) {
        int32_t s = 0;
        for (int i = 0; i < 16; ++i) s += q[16 * j + i];
        bsum[j] = static_cast<int16_t>(s);
    }
}

} // namespace bitnet::x86
