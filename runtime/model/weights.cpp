#include "model/weights.hpp"

#include "gguf/gguf.hpp"
#include "plugin/plugin_loader.hpp"

#include <fmt/format.h>

namespace bitnet::model {

namespace {

using gguf::GgufError;

const gguf::TensorInfo& need(const gguf::File& f, const std::string& name, std::initializer_list<int64_t> dims) {
    const auto& t = f.tensor(name);
    std::vector<int64_t> want(dims);
    if (t.dims != want) {
        std::string got, exp;
        for (auto d : t.dims) got += (got.empty() ? "" : " x ") + std::to_string(d);
        for (auto d : want) exp += (exp.empty() ? "" : " x ") + std::to_string(d);
        throw GgufError(fmt::format("{}: tensor {} has shape [{}], expected [{}]", f.path().string(), name, got, exp));
    }
    return t;
}

// A copy in `owned`: every token reads the norms, and a read of a file page next to a weight
// that was repacked and whose pages were dropped (File::release_pages) maps the neighbouring
// pages back (fault-around, large folios): ~45 MiB of the 2B-4T TQ1_0 file came back that way.
const float* norm(const gguf::File& f, const std::string& name, int64_t n, std::vector<std::vector<float>>& owned) {
    const auto& t = need(f, name, {n});
    if (t.type != formats::GgmlType::F32)
        throw GgufError(fmt::format("{}: norm tensor {} must be F32", f.path().string(), name));
    const auto* p = reinterpret_cast<const float*>(t.data);
    owned.emplace_back(p, p + n);
    return owned.back().data();
}

bitnet_act_type act_for(bitnet_weight_format wf) {
    switch (wf) {
    case BITNET_WF_I2_S: return BITNET_ACT_I8_ROW;
    case BITNET_WF_TQ1_0:
    case BITNET_WF_TQ2_0: return BITNET_ACT_I8_B256;
    default: return BITNET_ACT_F32;
    }
}

LinearWeight linear(const gguf::File& f, const std::string& name, int64_t n, int64_t k, bool ternary) {
    const auto& t = need(f, name, {k, n});
    const auto* info = formats::type_info(static_cast<uint32_t>(t.type));
    if (info == nullptr || info->wf == BITNET_WF_NONE)
        throw GgufError(fmt::format("{}: tensor {} has a type no kernel can use", f.path().string(), name));
    const bool is_ternary = info->wf == BITNET_WF_I2_S || info->wf == BITNET_WF_TQ1_0 || info->wf == BITNET_WF_TQ2_0;
    if (ternary && !is_ternary && info->wf != BITNET_WF_F16 && info->wf != BITNET_WF_F32 && info->wf != BITNET_WF_BF16)
        throw GgufError(fmt::format("{}: linear tensor {} has unsupported type {}", f.path().string(), name, info->name));
    LinearWeight w;
    w.name = name;
    w.type = t.type;
    w.wf = info->wf;
    w.act = act_for(info->wf);
    w.n = static_cast<int32_t>(n);
    w.k = static_cast<int32_t>(k);
    w.data = t.data;
    w.size = t.size;
    if (w.wf == BITNET_WF_I2_S) {
        w.scale = formats::i2s_scale(t.data, n * k);
        if (!(w.scale > 0.0f) || !std::isfinite(w.scale))
            throw GgufError(fmt::format("{}: I2_S tensor {} has a bad scale {}", f.path().string(), name, w.scale));
    }
    // llama.cpp's `bitnet` arch may carry a per-tensor F32[1] multiplier.
    const std::string scale_name = name.substr(0, name.size() - std::string(".weight").size()) + ".scale";
    if (const auto* s = f.find_tensor(scale_name)) {
        if (s->type != formats::GgmlType::F32 || s->n_elements() != 1)
            throw GgufError(fmt::format("{}: tensor {} must be one F32 value", f.path().string(), scale_name));
        w.scale *= *reinterpret_cast<const float*>(s->data);
    }
    return w;
}

} // namespace

Weights::Weights(const gguf::File& f, const HParams& hp) {
    const int64_t d = hp.n_embd, dq = int64_t(hp.n_head) * hp.head_dim, dkv = int64_t(hp.n_head_kv) * hp.head_dim;
    token_embd = &need(f, "token_embd.weight", {d, hp.n_vocab});
    if (formats::type_info(static_cast<uint32_t>(token_embd->type)) == nullptr)
        throw GgufError(fmt::format("{}: token_embd.weight has an unknown type", f.path().string()));
    output_norm = norm(f, "output_norm.weight", d, norms_);
    if (f.find_tensor("output.weight")) {
        head = linear(f, "output.weight", hp.n_vocab, d, false);
        tied_head = false;
    } else {
        head = linear(f, "token_embd.weight", hp.n_vocab, d, false);
        tied_head = true;
    }
    layers.resize(hp.n_layer);
    for (int i = 0; i < hp.n_layer; ++i) {
        const std::string p = fmt::format("blk.{}.", i);
        auto& L = layers[i];
        L.attn_norm = norm(f, p + "attn_norm.weight", d, norms_);
        L.attn_sub_norm = norm(f, p + "attn_sub_norm.weight", dq, norms_);
        L.ffn_norm = norm(f, p + "ffn_norm.weight", d, norms_);
        L.ffn_sub_norm = norm(f, p + "ffn_sub_norm.weight", hp.n_ff, norms_);
        L.wq = linear(f, p + "attn_q.weight", dq, d, true);
        L.wk = linear(f, p + "attn_k.weight", dkv, d, true);
        L.wv = linear(f, p + "attn_v.weight", dkv, d, true);
        L.wo = linear(f, p + "attn_output.weight", d, dq, true);
        L.w_gate = linear(f, p + "ffn_gate.weight", hp.n_ff, d, true);
        L.w_up = linear(f, p + "ffn_up.weight", hp.n_ff, d, true);
        L.w_down = linear(f, p + "ffn_down.weight", d, hp.n_ff, true);
    }
}

Weights::~Weights() {
    for (LinearWeight* w : linears()) {
        for (auto& [k, p] : w->packed)
            if (p.kernel && p.kernel->release_packed && p.ptr) p.kernel->release_packed(p.plugin->instance(), p.ptr);
        w->packed.clear();
    }
}

std::vector<LinearWeight*> Weights::linears() {
    std::vector<LinearWeight*> out;
    for (auto& L : layers)
        for (LinearWeight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) out.push_back(w);
    out.push_back(&head);
    return out;
}

size_t Weights::bytes_per_token() const {
    auto read = [](const LinearWeight& w) { return w.decode_bytes != 0 ? w.decode_bytes : w.size; };
    size_t total = read(head);
    for (const auto& L : layers)
        for (const LinearWeight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) total += read(*w);
    return total;
}

size_t Weights::packed_bytes() const {
    size_t total = 0;
    auto add = [&](const LinearWeight& w) { for (const auto& [k, p] : w.packed) total += p.bytes; };
    add(head);
    for (const auto& L : layers)
        for (const LinearWeight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) add(*w);
    return total;
}

} // namespace bitnet::model
