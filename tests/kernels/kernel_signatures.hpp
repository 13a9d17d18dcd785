// THE list of kernel shapes, shared by the conformance test (tests/kernels/test_conformance.cpp)
// and the benchmark (bench/kernel_bench.cpp), so what is measured is what is tested.
//
// A matmul signature is N x K (outputs x reduction) and the token counts M it is run with. The
// 2B-4T shapes are the real model's; the odd shapes probe the edges of tiling (N not a multiple
// of the row tile, K an odd number of blocks, M not a multiple of the token tile).
#pragma once

#include <bitnet/plugin.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace bitnet::signatures {

enum class Role {
    ternary,  // a BitLinear weight: I2_S, TQ2_0, TQ1_0
    head,     // the float lm_head: F16, Q8_0, Q6_K
    any,      // odd shapes: every format whose block divides K
};

struct Matmul {
    std::string_view name;
    int32_t n, k;
    Role role;
    bool model;               // a 2B-4T shape (tests cap its N and use M = 1 only)
    std::vector<int32_t> ms;  // token counts
};

inline const std::vector<Matmul>& matmuls() {
    static const std::vector<Matmul> list = {
        // microsoft/bitnet-b1.58-2B-4T, per layer and the tied head.
        {"attn_q", 2560, 2560, Role::ternary, true, {1, 4, 17, 64}},
        {"attn_kv", 640, 2560, Role::ternary, true, {1, 4, 17, 64}},
        {"attn_o", 2560, 2560, Role::ternary, true, {1, 4, 17, 64}},
        {"ffn_gate_up", 6912, 2560, Role::ternary, true, {1, 4, 17, 64}},
        {"ffn_down", 2560, 6912, Role::ternary, true, {1, 4, 17, 64}},
        {"head", 128256, 2560, Role::head, true, {1, 4, 17, 64}},
        // Odd shapes.
        {"odd_n1_k384", 1, 384, Role::any, false, {1, 3, 17}},
        {"odd_n3_k640", 3, 640, Role::any, false, {1, 3, 17}},
        {"odd_n17_k768", 17, 768, Role::any, false, {1, 3, 17, 70, 150}}, // 70, 150: past 65- and 144-token passes
        // K beyond 4096 I2_S blocks: kernels that split K to keep int32 lanes exact.
        {"odd_n9_k524416", 9, 524416, Role::ternary, false, {1, 3, 17}},
        {"odd_n33_k256", 33, 256, Role::any, false, {1, 3, 17}},
        {"odd_n33_k1280", 33, 1280, Role::any, false, {1, 3, 17}},
        {"odd_n17_k100", 17, 100, Role::any, false, {1, 3, 17}},
        // An odd number of 32-blocks (kernels that take Q8_0 blocks in pairs), and a single block.
        {"odd_n19_k480", 19, 480, Role::any, false, {1, 3, 17}},
        {"odd_n5_k32", 5, 32, Role::any, false, {1, 3}},
    };
    return list;
}

// Block length along K of a weight format (1 for plain floats).
inline int32_t k_block(bitnet_weight_format wf) {
    switch (wf) {
    case BITNET_WF_I2_S: return 128;
    case BITNET_WF_TQ1_0:
    case BITNET_WF_TQ2_0:
    case BITNET_WF_Q6_K: return 256;
    case BITNET_WF_Q8_0: return 32;
    default: return 1;
    }
}

inline bool is_ternary(bitnet_weight_format wf) {
    return wf == BITNET_WF_I2_S || wf == BITNET_WF_TQ1_0 || wf == BITNET_WF_TQ2_0;
}

// Whether signature `s` applies to a kernel of weight format `wf`.
inline bool applies(const Matmul& s, bitnet_weight_format wf) {
    if (s.k % k_block(wf) != 0) return false;
    switch (s.role) {
    case Role::ternary: return is_ternary(wf);
    case Role::head: return !is_ternary(wf) && wf != BITNET_WF_F32 && wf != BITNET_WF_BF16;
    case Role::any: return true;
    }
    return false;
}

// Row widths the activation quantizers run with: the model's K values and odd tails.
struct Rows {
    int32_t k;
    std::vector<int32_t> ms;
};
inline const std::vector<Rows>& quantize_rows() {
    static const std::vector<Rows> list = {
        {2560, {1, 4, 17, 64}}, {6912, {1, 4}}, {100, {1, 3}}, {257, {1, 3}}, {768, {1, 17}},
    };
    return list;
}

// Row widths of the row-wise ops (RMSNorm, FFN activation, residual add): the model's hidden and
// FFN widths and odd tails, each with these token counts.
inline const std::vector<int32_t>& row_widths() {
    static const std::vector<int32_t> list = {2560, 6912, 257, 1000};
    return list;
}
inline const std::vector<int32_t>& row_ms() {
    static const std::vector<int32_t> list = {1, 3, 17};
    return list;
}

// Head layouts of RoPE and attention: 2B-4T's (20 query heads over 5 KV heads of 128) and small
// odd ones (head_dim 64, a single KV head).
struct Heads {
    std::string_view name;
    int32_t n_heads, n_kv_heads, head_dim;
};
inline const std::vector<Heads>& heads() {
    static const std::vector<Heads> list = {
        {"h20kv5d128", 20, 5, 128}, {"h5kv5d128", 5, 5, 128}, {"h4kv1d64", 4, 1, 64}, {"h1kv1d64", 1, 1, 64},
    };
    return list;
}
// Tokens already in the KV cache when attention runs (0: the first batch of a sequence).
// Long contexts, for M <= 3 only (the scalar reference is slow there): 1029 keys end mid-block
// (the x86 kernels take keys 16 or 8 at a time, values 64 at a time); 4100 is past the 4096
// scores an x86 attention item keeps at once.
inline const std::vector<int32_t>& long_attention_n_past() {
    static const std::vector<int32_t> list = {1029, 4100};
    return list;
}

inline const std::vector<int32_t>& attention_n_past() {
    static const std::vector<int32_t> list = {0, 1, 37, 300};
    return list;
}

// Contexts the attention benchmark decodes at (one token over n_past + 1 keys), on the model's
// 2B-4T head layout (heads().front()): a short and a long chat.
inline const std::vector<int32_t>& attention_bench_n_past() {
    static const std::vector<int32_t> list = {511, 4095};
    return list;
}

// The conformance test's cap on N for the model shapes (full sizes are the benchmark's).
inline constexpr int32_t kTestMaxN = 256;

} // namespace bitnet::signatures
