// Causal attention over the f16 KV cache, as ggml's non-flash path computes it:
//   score = (Σ f16(q)·k in f32) · scale   (ggml_mul_mat with f16 K rounds q to f16)
//   softmax: subtract the max, expf, sum in double, multiply by (float)(1/sum) (ggml_soft_max)
//   out = Σ p·v in f32, with p rounded to f16 for a single-token batch (ggml_vec_dot_f16 on the
//   decode path) and kept in f32 otherwise (llamafile's tinyBLAS on the batched path).
#include "scalar.hpp"

#include "formats/formats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace bitnet::scalar {
namespace {

const char* attention_args_error(const bitnet_attention_args& a) {
    if (a.m <= 0 || a.n_past < 0) return "m must be positive and n_past >= 0";
    if (a.n_heads <= 0 || a.n_kv_heads <= 0 || a.head_dim <= 0)
        return "n_heads, n_kv_heads and head_dim must be positive";
    if (a.n_heads % a.n_kv_heads != 0) return "n_heads is not a multiple of n_kv_heads";
    if (a.q == nullptr || a.k_cache == nullptr || a.v_cache == nullptr || a.out == nullptr)
        return "q, k_cache, v_cache or out is NULL";
    const int64_t width = static_cast<int64_t>(a.n_heads) * a.head_dim;
    if (a.ldq < width || a.ldo < width) return "ldq or ldo < n_heads * head_dim";
    if (a.kv_stride < static_cast<int64_t>(a.n_kv_heads) * a.head_dim) return "kv_stride < n_kv_heads * head_dim";
    return nullptr;
}

float round_to_f16(float v) { return formats::fp16_to_f32(formats::f32_to_fp16(v)); }

} // namespace

bitnet_status run_attention_f16kv(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "attention_f16kv__scalar";
    return run_op<bitnet_attention_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_attention_args, ldo),
        [&](const Plugin& p, const bitnet_attention_args& a) -> bitnet_status {
            if (const char* why = attention_args_error(a)) return invalid(p, what, why);
            const int64_t D = a.head_dim;
            const int32_t group = a.n_heads / a.n_kv_heads;
            const bool round_probs = a.m == 1;

            // One item per (token, head): each output row is written by one task only.
            const int64_t items = static_cast<int64_t>(a.m) * a.n_heads;
            return parallel_ranges(p, items, [&](int64_t i0, int64_t i1) {
                std::vector<float> q(static_cast<size_t>(D)), acc(static_cast<size_t>(D));
                std::vector<float> probs(static_cast<size_t>(a.n_past) + a.m);
                for (int64_t item = i0; item < i1; ++item) {
                    const int64_t t = item / a.n_heads, h = item % a.n_heads;
                    const int64_t kvh = h / group;
                    const int64_t n_keys = a.n_past + t + 1; // causal: positions 0 .. n_past+t
                    const float* qsrc = a.q + t * a.ldq + h * D;
                    for (int64_t d = 0; d < D; ++d) q[d] = round_to_f16(qsrc[d]);

                    float max_score = -INFINITY;
                    for (int64_t pos = 0; pos < n_keys; ++pos) {
                        const uint16_t* k = a.k_cache + pos * a.kv_stride + kvh * D;
                        float dot = 0.0f;
                        for (int64_t d = 0; d < D; ++d) dot += q[d] * formats::fp16_to_f32(k[d]);
                        probs[pos] = dot * a.scale;
                        max_score = std::max(max_score, probs[pos]);
                    }
                    double sum = 0.0;
                    for (int64_t pos = 0; pos < n_keys; ++pos) {
                        probs[pos] = std::exp(probs[pos] - max_score);
                        sum += probs[pos];
                    }
                    const float inv_sum = static_cast<float>(1.0 / sum);
                    for (int64_t pos = 0; pos < n_keys; ++pos) {
                        probs[pos] *= inv_sum;
                        if (round_probs) probs[pos] = round_to_f16(probs[pos]);
                    }

                    std::fill(acc.begin(), acc.end(), 0.0f);
                    for (int64_t pos = 0; pos < n_keys; ++pos) {
                        const uint16_t* v = a.v_cache + pos * a.kv_stride + kvh * D;
                        for (int64_t d = 0; d < D; ++d) acc[d] += probs[pos] * formats::fp16_to_f32(v[d]);
                    }
                    std::copy(acc.begin(), acc.end(), a.out + t * a.ldo + h * D);
                }
            });
        });
}

} // namespace bitnet::scalar
