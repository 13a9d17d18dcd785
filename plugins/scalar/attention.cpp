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
    return nullptr;
}

float round_to_f16(float v) { return formats::fp16_to_f32(formats::f32_to_fp16(v)); }

// Output row `out` (head_dim values) of one query head over keys 0 .. n_keys-1; k and v point at
// the head's values of position 0, positions kv_stride halves apart.
void attend(const bitnet_attention_args& a, const float* qsrc, const uint16_t* kc, const uint16_t* vc,
            int64_t n_keys, bool round_probs, std::vector<float>& q, std::vector<float>& probs,
            std::vector<float>& acc, float* out) {
    const int64_t D = a.head_dim;
    for (int64_t d = 0; d < D; ++d) q[d] = round_to_f16(qsrc[d]);
    if (probs.size() < static_cast<size_t>(n_keys)) probs.resize(static_cast<size_t>(n_keys));
    float max_score = -INFINITY;
    for (int64_t pos = 0; pos < n_keys; ++pos) {
        const uint16_t* k = kc + pos * a.kv_stride;
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
        const uint16_t* v = vc + pos * a.kv_stride;
        for (int64_t d = 0; d < D; ++d) acc[d] += probs[pos] * formats::fp16_to_f32(v[d]);
    }
    std::copy(acc.begin(), acc.end(), out);
}

// Every (token, head) of the call, one item per task range; key_range(t) gives the token's key
// count and cache slot offset in halves.
template <class KeyRange>
bitnet_status attend_all(const Plugin& p, const bitnet_attention_args& a, KeyRange&& key_range,
                         const std::vector<char>& round_row) {
    const int64_t D = a.head_dim;
    const int32_t group = a.n_heads / a.n_kv_heads;
    const int64_t head_offset = sdk::kv_head_offset(a, a.head_dim);
    const int64_t items = static_cast<int64_t>(a.m) * a.n_heads;
    return parallel_ranges(p, items, [&](int64_t i0, int64_t i1) {
        std::vector<float> q(static_cast<size_t>(D)), acc(static_cast<size_t>(D)), probs;
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t t = item / a.n_heads, h = item % a.n_heads, kvh = h / group;
            const auto [n_keys, slot_offset] = key_range(t);
            attend(a, a.q + t * a.ldq + h * D, a.k_cache + slot_offset + kvh * head_offset,
                   a.v_cache + slot_offset + kvh * head_offset,
                   n_keys, round_row[size_t(t)] != 0, q, probs, acc, a.out + t * a.ldo + h * D);
        }
    });
}

} // namespace

bitnet_status run_attention_f16kv(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "attention_f16kv__scalar";
    return run_op<bitnet_attention_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_attention_args, ldo),
        [&](const Plugin& p, const bitnet_attention_args& a) -> bitnet_status {
            if (const char* why = attention_args_error(a)) return invalid(p, what, why);
            if (const char* why = sdk::kv_layout_error(a.n_kv_heads, a.head_dim, a.kv_stride,
                                                       sdk::kv_head_offset(a, a.head_dim), int64_t(a.n_past) + a.m))
                return invalid(p, what, why);
            // A one-token batch rounds its probabilities to f16 (ggml's decode path).
            const std::vector<char> round_row(static_cast<size_t>(a.m), a.m == 1 ? 1 : 0);
            // Causal: token t sees positions 0 .. n_past+t.
            return attend_all(p, a, [&](int64_t t) { return std::pair<int64_t, int64_t>{a.n_past + t + 1, 0}; },
                              round_row);
        });
}

bitnet_status run_attention_seqs_f16kv(void* plugin, const void* args, void*) noexcept {
    static constexpr const char* what = "attention_seqs_f16kv__scalar";
    return run_op<bitnet_attention_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_attention_args, max_keys),
        [&](const Plugin& p, const bitnet_attention_args& a) -> bitnet_status {
            if (const char* why = attention_args_error(a)) return invalid(p, what, why);
            const int64_t head_offset = sdk::kv_head_offset(a, a.head_dim);
            if (const char* why = sdk::kv_layout_error(a.n_kv_heads, a.head_dim, a.kv_stride, head_offset, a.max_keys))
                return invalid(p, what, why);
            if (const char* why = sdk::seq_rows_error(a.m, a.row_pos, a.row_slot, a.slot_stride, a.n_slots, a.max_keys,
                                                      head_offset == a.head_dim ? int64_t(a.max_keys) * a.kv_stride
                                                                                : a.n_kv_heads * head_offset))
                return invalid(p, what, why);
            // A row alone in its slot is that sequence's one-token step: rounded as in ATTENTION.
            std::vector<char> round_row(static_cast<size_t>(a.m), 1);
            for (int64_t t = 0; t < a.m; ++t)
                for (int64_t u = 0; u < a.m; ++u)
                    if (u != t && a.row_slot[u] == a.row_slot[t]) round_row[size_t(t)] = 0;
            return attend_all(p, a, [&](int64_t t) {
                return std::pair<int64_t, int64_t>{int64_t(a.row_pos[t]) + 1, a.row_slot[t] * a.slot_stride};
            }, round_row);
        });
}

} // namespace bitnet::scalar
