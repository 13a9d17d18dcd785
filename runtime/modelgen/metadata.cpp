// Metadata keys, mirroring the files the reference engines were validated on: Microsoft's
// converter for `bitnet-b1.58` (oracle b158-small-i2_s.gguf, whose key list and order this
// copies) and llama.cpp's generator for `bitnet` (oracle p2-bitnet-tiny-tq2_0.gguf).
#include "gguf/gguf.hpp"
#include "modelgen/internal.hpp"

namespace bitnet::modelgen::detail {
namespace {

using formats::GgmlType;

// The converter behind Microsoft's 2B-4T GGUF writes this template (literal backslash-n inside
// the Jinja string).
constexpr const char* kB158ChatTemplate =
    "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nBITNETAssistant: ' + eos_token }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";

// llama_ftype values: MOSTLY_TQ1_0 = 36, MOSTLY_TQ2_0 = 37 (upstream), MOSTLY_I2_S = 40 (fork).
uint32_t file_type(GgmlType weights) {
    switch (weights) {
    case GgmlType::TQ1_0: return 36;
    case GgmlType::TQ2_0: return 37;
    default: return 40;
    }
}

std::vector<int32_t> token_types(const tokenizer::VocabData& v) {
    std::vector<int32_t> out;
    out.reserve(v.types.size());
    for (tokenizer::TokenType t : v.types) out.push_back(static_cast<int32_t>(t));
    return out;
}

// Microsoft's converter scores ordinary tokens 0 and special ones -1000.
std::vector<float> token_scores(const tokenizer::VocabData& v) {
    std::vector<float> out;
    out.reserve(v.types.size());
    for (tokenizer::TokenType t : v.types)
        out.push_back(t == tokenizer::TokenType::Normal || t == tokenizer::TokenType::Byte ? 0.0f : -1000.0f);
    return out;
}

uint32_t u32(int64_t v) { return static_cast<uint32_t>(v); }

} // namespace

void write_metadata(gguf::Writer& w, const ModelSpec& s, const GenOptions& opts, const GenVocab& vocab) {
    const tokenizer::VocabData& v = vocab.data;
    const std::string a(arch_name(opts.arch));
    const std::string name = !opts.model_name.empty() ? opts.model_name
                                                      : "bitnet-b1.58-" + s.name + "-synthetic";
    const auto n_vocab = static_cast<int64_t>(v.tokens.size());
    w.set_str("general.architecture", a);
    w.set_str("general.name", name);

    if (opts.arch == Arch::BitnetB158) {
        // Deliberately no tokenizer.ggml.pre: Microsoft's published file has none, and engines
        // must cope (see oracle README §3 and §7).
        w.set_u32(a + ".vocab_size", u32(n_vocab));
        w.set_u32(a + ".context_length", u32(s.ctx));
        w.set_u32(a + ".embedding_length", u32(s.hidden));
        w.set_u32(a + ".block_count", u32(s.layers));
        w.set_u32(a + ".feed_forward_length", u32(s.ffn));
        w.set_u32(a + ".rope.dimension_count", u32(s.head_dim()));
        w.set_u32(a + ".attention.head_count", u32(s.heads));
        w.set_u32(a + ".attention.head_count_kv", u32(s.kv_heads));
        w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
        w.set_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
        w.set_f32(a + ".rope.freq_base", s.rope_theta);
        w.set_u32("general.file_type", file_type(opts.weights));
        w.set_str("tokenizer.ggml.model", "gpt2");
        w.set_str_array("tokenizer.ggml.tokens", v.tokens);
        w.set_f32_array("tokenizer.ggml.scores", token_scores(v));
        w.set_i32_array("tokenizer.ggml.token_type", token_types(v));
        w.set_str_array("tokenizer.ggml.merges", v.merges);
        w.set_u32("tokenizer.ggml.bos_token_id", u32(*v.bos));
        w.set_u32("tokenizer.ggml.eos_token_id", u32(*v.eos));
        w.set_str("tokenizer.chat_template", kB158ChatTemplate);
        w.set_u32("general.quantization_version", 2);
        return;
    }

    w.set_u32(a + ".context_length", u32(s.ctx));
    w.set_u32(a + ".embedding_length", u32(s.hidden));
    w.set_u32(a + ".block_count", u32(s.layers));
    w.set_u32(a + ".feed_forward_length", u32(s.ffn));
    w.set_u32(a + ".attention.head_count", u32(s.heads));
    w.set_u32(a + ".attention.head_count_kv", u32(s.kv_heads));
    w.set_f32(a + ".rope.freq_base", s.rope_theta);
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
    w.set_u32(a + ".rope.dimension_count", u32(s.head_dim()));
    w.set_u32(a + ".vocab_size", u32(n_vocab));
    // The generator's extra keys: llama.cpp ignores them (its bitnet graph is SiLU regardless).
    w.set_str(a + ".rope.scaling.type", "linear");
    w.set_f32(a + ".rope.scaling.factor", 1.0f);
    w.set_str(a + ".hidden_activation", "relu2");
    w.set_str("tokenizer.ggml.model", "gpt2");
    // The built-in vocabulary is meant for the Llama 3 pre-tokenizer too.
    w.set_str("tokenizer.ggml.pre", vocab.llama3 || v.pre.empty() ? "llama-bpe" : v.pre);
    w.set_str_array("tokenizer.ggml.tokens", v.tokens);
    w.set_i32_array("tokenizer.ggml.token_type", token_types(v));
    w.set_str_array("tokenizer.ggml.merges", v.merges);
    w.set_u32("tokenizer.ggml.bos_token_id", u32(*v.bos));
    w.set_u32("tokenizer.ggml.eos_token_id", u32(*v.eos));
    if (v.eot) w.set_u32("tokenizer.ggml.eot_token_id", u32(*v.eot));
    w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
    w.set_bool("tokenizer.ggml.add_eos_token", false);
    w.set_u32("general.quantization_version", 2);
    w.set_u32("general.file_type", file_type(opts.weights));
}

} // namespace bitnet::modelgen::detail
