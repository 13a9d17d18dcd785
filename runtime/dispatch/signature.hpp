// A kernel signature: what a routing decision is made for (op, weight format, activation type,
// M, N, K, attention geometry), with a stable text form used in logs, reports and caches.
#pragma once

#include <bitnet/plugin.h>

#include <array>
#include <cstddef>
#include <string>

namespace bitnet {

// The fields of a bitnet_shape that make a signature, as a hashable value: routing tables key on
// it so the per-call lookup neither formats nor allocates.
struct ShapeKey {
    std::array<int32_t, 9> v{};
    explicit ShapeKey(const bitnet_shape& s)
        : v{int32_t(s.op), int32_t(s.weight_format), int32_t(s.act_type), s.m, s.n, s.k, s.n_heads, s.n_kv_heads,
            s.head_dim} {}
    bool operator==(const ShapeKey&) const = default;
};
struct ShapeKeyHash {
    size_t operator()(const ShapeKey& k) const noexcept;
};

// Builders so call sites never forget struct_size.
bitnet_shape make_shape(bitnet_op op, bitnet_weight_format wf, bitnet_act_type act, int32_t m, int32_t n,
                        int32_t k);
bitnet_shape make_attention_shape(int32_t m, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim);

std::string_view op_name(bitnet_op op);            // "matmul", "quantize", ...
std::string_view act_type_name(bitnet_act_type a); // "f32", "i8row", "i8b256"
// e.g. "matmul wf=i2_s act=i8row m=1 n=2560 k=2560"
std::string signature_string(const bitnet_shape& s);

// True when the kernel's static limits and optional supports() accept the shape.
bool kernel_accepts(const bitnet_kernel_desc& k, void* plugin_instance, const bitnet_shape& s);

} // namespace bitnet
