#include "model/hparams.hpp"

#include "gguf/gguf.hpp"

#include <fmt/format.h>

namespace bitnet::model {

namespace {

int32_t get_i32(const gguf::File& f, const std::string& key, int64_t lo, int64_t hi) {
    const int64_t v = f.get(key).as_int();
    if (v < lo || v > hi)
        throw gguf::GgufError(fmt::format("{}: key {} = {} is out of range [{}, {}]", f.path().string(), key, v, lo, hi));
    return static_cast<int32_t>(v);
}

} // namespace

HParams read_hparams(const gguf::File& f) {
    HParams h;
    h.arch_name = f.get("general.architecture").as_string();
    if (h.arch_name == "bitnet-b1.58" || h.arch_name == "bitnet-25") {
        h.arch = Arch::BitnetB158;
        h.ffn_kind = BITNET_FFN_RELU2;
    } else if (h.arch_name == "bitnet") {
        h.arch = Arch::Bitnet;
        h.ffn_kind = BITNET_FFN_SILU;
    } else {
        throw gguf::GgufError(fmt::format("{}: unsupported architecture '{}' (supported: bitnet-b1.58, bitnet-25, bitnet)",
                                          f.path().string(), h.arch_name));
    }
    const std::string a = h.arch_name + ".";
    constexpr int64_t kMaxDim = 1 << 20;
    h.n_embd = get_i32(f, a + "embedding_length", 1, kMaxDim);
    h.n_ff = get_i32(f, a + "feed_forward_length", 1, kMaxDim);
    h.n_layer = get_i32(f, a + "block_count", 1, 4096);
    h.n_head = get_i32(f, a + "attention.head_count", 1, 4096);
    h.n_head_kv = f.find(a + "attention.head_count_kv") ? get_i32(f, a + "attention.head_count_kv", 1, 4096) : h.n_head;
    h.n_ctx_train = f.find(a + "context_length") ? get_i32(f, a + "context_length", 1, 1 << 24) : 4096;
    if (h.n_embd % h.n_head != 0)
        throw gguf::GgufError(fmt::format("{}: embedding_length {} is not a multiple of head_count {}", f.path().string(), h.n_embd, h.n_head));
    if (h.n_head % h.n_head_kv != 0)
        throw gguf::GgufError(fmt::format("{}: head_count {} is not a multiple of head_count_kv {}", f.path().string(), h.n_head, h.n_head_kv));
    h.head_dim = h.n_embd / h.n_head;
    h.n_rot = f.find(a + "rope.dimension_count") ? get_i32(f, a + "rope.dimension_count", 2, h.head_dim) : h.head_dim;
    if (h.n_rot % 2 != 0)
        throw gguf::GgufError(fmt::format("{}: rope.dimension_count {} is odd", f.path().string(), h.n_rot));
    if (const auto* v = f.find(a + "attention.layer_norm_rms_epsilon")) h.rms_eps = static_cast<float>(v->as_float());
    if (const auto* v = f.find(a + "rope.freq_base")) h.rope_freq_base = static_cast<float>(v->as_float());
    if (const auto* v = f.find(a + "rope.scaling.type"); v && v->as_string() == "linear") {
        if (const auto* fct = f.find(a + "rope.scaling.factor"); fct && fct->as_float() > 0)
            h.rope_freq_scale = static_cast<float>(1.0 / fct->as_float());
    }
    if (!(h.rms_eps > 0.0f && h.rms_eps < 1.0f))
        throw gguf::GgufError(fmt::format("{}: layer_norm_rms_epsilon {} is not in (0, 1)", f.path().string(), h.rms_eps));
    if (!(h.rope_freq_base > 0.0f))
        throw gguf::GgufError(fmt::format("{}: rope.freq_base must be positive", f.path().string()));
    // The vocabulary size comes from the embedding (the key is optional and sometimes absent).
    const auto& embd = f.tensor("token_embd.weight");
    if (embd.dims.size() != 2 || embd.dims[0] != h.n_embd)
        throw gguf::GgufError(fmt::format("{}: token_embd.weight must be [{} x vocab]", f.path().string(), h.n_embd));
    if (embd.dims[1] > (int64_t(1) << 24))
        throw gguf::GgufError(fmt::format("{}: token_embd.weight has an absurd vocabulary of {}", f.path().string(), embd.dims[1]));
    h.n_vocab = static_cast<int32_t>(embd.dims[1]);
    return h;
}

} // namespace bitnet::model
