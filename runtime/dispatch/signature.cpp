#include "dispatch/signature.hpp"

#include "formats/formats.hpp"

#include <fmt/format.h>

namespace bitnet {

bitnet_shape make_shape(bitnet_op op, bitnet_weight_format wf, bitnet_act_type act, int32_t m, int32_t n,
                        int32_t k) {
    bitnet_shape s{};
    s.struct_size = sizeof(bitnet_shape);
    s.op = op;
    s.weight_format = wf;
    s.act_type = act;
    s.m = m;
    s.n = n;
    s.k = k;
    return s;
}

bitnet_shape make_attention_shape(int32_t m, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim) {
    bitnet_shape s = make_shape(BITNET_OP_ATTENTION, BITNET_WF_NONE, BITNET_ACT_F32, m, n_heads * head_dim, 0);
    s.n_heads = n_heads;
    s.n_kv_heads = n_kv_heads;
    s.head_dim = head_dim;
    return s;
}

std::string_view op_name(bitnet_op op) {
    switch (op) {
    case BITNET_OP_MATMUL: return "matmul";
    case BITNET_OP_QUANTIZE_ACT: return "quantize";
    case BITNET_OP_RMSNORM: return "rmsnorm";
    case BITNET_OP_ROPE: return "rope";
    case BITNET_OP_ATTENTION: return "attention";
    case BITNET_OP_FFN_ACT: return "ffn_act";
    case BITNET_OP_ADD: return "add";
    case BITNET_OP_KV_STORE: return "kv_store";
    case BITNET_OP_NORM_QUANTIZE: return "norm_quantize";
    case BITNET_OP_ATTENTION_SEQS: return "attention_seqs";
    case BITNET_OP_KV_STORE_SEQS: return "kv_store_seqs";
    default: return "unknown";
    }
}

std::string_view act_type_name(bitnet_act_type a) {
    switch (a) {
    case BITNET_ACT_F32: return "f32";
    case BITNET_ACT_I8_ROW: return "i8row";
    case BITNET_ACT_I8_B256: return "i8b256";
    default: return "none";
    }
}

std::string signature_string(const bitnet_shape& s) {
    if (s.op == BITNET_OP_ATTENTION)
        return fmt::format("attention m={} heads={} kv_heads={} head_dim={}", s.m, s.n_heads, s.n_kv_heads, s.head_dim);
    return fmt::format("{} wf={} act={} m={} n={} k={}", op_name(s.op), formats::weight_format_name(s.weight_format),
                       act_type_name(s.act_type), s.m, s.n, s.k);
}

size_t ShapeKeyHash::operator()(const ShapeKey& key) const noexcept {
    // FNV-1a over the fields: cheap and good enough for the few dozen signatures a model has.
    uint64_t h = 1469598103934665603ull;
    for (int32_t x : key.v) {
        h ^= static_cast<uint32_t>(x);
        h *= 1099511628211ull;
    }
    return static_cast<size_t>(h);
}

bool kernel_accepts(const bitnet_kernel_desc& k, void* plugin, const bitnet_shape& s) {
    if (k.op != s.op) return false;
    if (k.weight_format != s.weight_format) return false;
    if (k.act_type != BITNET_ACT_NONE && k.act_type != s.act_type) return false;
    if (k.m_min > 0 && s.m < k.m_min) return false;
    if (k.m_max > 0 && s.m > k.m_max) return false;
    // Matmul limits apply to K and N; other ops have their width in n.
    const int32_t kdim = s.op == BITNET_OP_MATMUL ? s.k : s.n;
    if (k.k_multiple > 1 && kdim % k.k_multiple != 0) return false;
    if (s.op == BITNET_OP_MATMUL && k.n_multiple > 1 && s.n % k.n_multiple != 0) return false;
    if (k.supports != nullptr && k.supports(plugin, &s) != 1) return false;
    return true;
}

} // namespace bitnet
