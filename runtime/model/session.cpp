// The transformer forward pass (bitnet.cpp's graph for bitnet-b1.58; llama.cpp's for `bitnet`,
// which differs only in the FFN activation): see ../shared/oracle/README.md §4.
#include "model/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace bitnet::model {

Session::Session(Model& model, Router& router, SessionOptions options)
    : model_(model), ops_(router), opt_(options),
      cache_(model.hparams().n_layer, choose_n_ctx(model.hparams(), options.n_ctx, options.kv_budget_bytes),
             model.hparams().n_head_kv * model.hparams().head_dim) {
    const auto& hp = model_.hparams();
    opt_.n_batch = std::max(1, std::min(opt_.n_batch, cache_.n_ctx()));
    const size_t B = static_cast<size_t>(opt_.n_batch);
    const size_t dq = size_t(hp.n_head) * hp.head_dim, dkv = size_t(hp.n_head_kv) * hp.head_dim;
    x_.resize(B * hp.n_embd);
    h_.resize(B * std::max<size_t>(hp.n_embd, dq));
    q_.resize(B * dq);
    k_.resize(B * dkv);
    v_.resize(B * dkv);
    attn_.resize(B * dq);
    gate_.resize(B * hp.n_ff);
    up_.resize(B * hp.n_ff);
    tmp_.resize(B * std::max<size_t>(hp.n_embd, hp.n_ff));
    pos_.resize(B);
    qa_.resize(opt_.n_batch, std::max({hp.n_embd, int32_t(dq), hp.n_ff}));
    // Pack every weight for the kernels that decode (M=1) and prefill (M=n_batch) will use, so
    // the first token pays no packing cost.
    for (LinearWeight* w : model_.weights().linears()) ops_.prepare(*w, {1, opt_.n_batch});
}

void Session::decode(std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits) {
    const auto& hp = model_.hparams();
    if (tokens.empty()) throw std::invalid_argument("decode: no tokens");
    if (int64_t(n_past_) + int64_t(tokens.size()) > cache_.n_ctx())
        throw ContextFullError(fmt::format("{} tokens do not fit: {} of the context's {} positions are used",
                                           tokens.size(), n_past_, cache_.n_ctx()));
    for (int32_t t : tokens)
        if (t < 0 || t >= hp.n_vocab)
            throw std::invalid_argument(fmt::format("token id {} is outside the vocabulary [0, {})", t, hp.n_vocab));
    logits.resize((all_logits ? tokens.size() : 1) * size_t(hp.n_vocab));
    for (size_t start = 0; start < tokens.size(); start += opt_.n_batch) {
        const int32_t m = static_cast<int32_t>(std::min<size_t>(opt_.n_batch, tokens.size() - start));
        const bool last = start + m == tokens.size();
        float* out = all_logits ? logits.data() + start * hp.n_vocab : (last ? logits.data() : nullptr);
        forward_batch(tokens.data() + start, m, all_logits, out);
    }
}

void Session::forward_batch(const int32_t* tokens, int32_t m, bool all_logits, float* logits) {
    const auto& hp = model_.hparams();
    auto& W = model_.weights();
    const int32_t d = hp.n_embd, dq = hp.n_head * hp.head_dim, dkv = hp.n_head_kv * hp.head_dim, ff = hp.n_ff;
    for (int32_t t = 0; t < m; ++t) {
        model_.embed(tokens[t], x_.data() + size_t(t) * d);
        pos_[t] = n_past_ + t;
    }
    for (int32_t il = 0; il < hp.n_layer; ++il) {
        auto& L = W.layers[il];
        // Attention block.
        ops_.rmsnorm(m, d, x_.data(), d, L.attn_norm, hp.rms_eps, h_.data(), d);
        ops_.quantize(L.wq.act, m, d, h_.data(), d, qa_);
        ops_.matmul(L.wq, m, &qa_, h_.data(), d, q_.data(), dq);
        if (L.wk.act != L.wq.act) ops_.quantize(L.wk.act, m, d, h_.data(), d, qa_);
        ops_.matmul(L.wk, m, &qa_, h_.data(), d, k_.data(), dkv);
        if (L.wv.act != L.wk.act) ops_.quantize(L.wv.act, m, d, h_.data(), d, qa_);
        ops_.matmul(L.wv, m, &qa_, h_.data(), d, v_.data(), dkv);
        ops_.rope(m, hp.n_head, hp.head_dim, hp.n_rot, hp.rope_freq_base, hp.rope_freq_scale, pos_.data(), q_.data(), dq);
        ops_.rope(m, hp.n_head_kv, hp.head_dim, hp.n_rot, hp.rope_freq_base, hp.rope_freq_scale, pos_.data(), k_.data(), dkv);
        ops_.kv_store(m, n_past_, dkv, k_.data(), v_.data(), dkv, cache_.k(il), cache_.v(il), cache_.width());
        bitnet_attention_args a{};
        a.m = m;
        a.n_past = n_past_;
        a.n_heads = hp.n_head;
        a.n_kv_heads = hp.n_head_kv;
        a.head_dim = hp.head_dim;
        a.scale = 1.0f / std::sqrt(float(hp.head_dim));
        a.q = q_.data();
        a.ldq = dq;
        a.k_cache = cache_.k(il);
        a.v_cache = cache_.v(il);
        a.kv_stride = cache_.width();
        a.out = attn_.data();
        a.ldo = dq;
        ops_.attention(a);
        ops_.rmsnorm(m, dq, attn_.data(), dq, L.attn_sub_norm, hp.rms_eps, attn_.data(), dq);
        ops_.quantize(L.wo.act, m, dq, attn_.data(), dq, qa_);
        ops_.matmul(L.wo, m, &qa_, attn_.data(), dq, tmp_.data(), d);
        ops_.add(m, d, tmp_.data(), d, x_.data(), d);
        // FFN block.
        ops_.rmsnorm(m, d, x_.data(), d, L.ffn_norm, hp.rms_eps, h_.data(), d);
        ops_.quantize(L.w_gate.act, m, d, h_.data(), d, qa_);
        ops_.matmul(L.w_gate, m, &qa_, h_.data(), d, gate_.data(), ff);
        if (L.w_up.act != L.w_gate.act) ops_.quantize(L.w_up.act, m, d, h_.data(), d, qa_);
        ops_.matmul(L.w_up, m, &qa_, h_.data(), d, up_.data(), ff);
        ops_.ffn_act(hp.ffn_kind, m, ff, gate_.data(), up_.data(), gate_.data(), ff);
        ops_.rmsnorm(m, ff, gate_.data(), ff, L.ffn_sub_norm, hp.rms_eps, gate_.data(), ff);
        ops_.quantize(L.w_down.act, m, ff, gate_.data(), ff, qa_);
        ops_.matmul(L.w_down, m, &qa_, gate_.data(), ff, tmp_.data(), d);
        ops_.add(m, d, tmp_.data(), d, x_.data(), d);
    }
    n_past_ += m;
    if (logits == nullptr) return;
    // Only the rows whose logits are wanted go through the final norm and the (large) head.
    const int32_t first = all_logits ? 0 : m - 1, rows = m - first;
    ops_.rmsnorm(rows, d, x_.data() + size_t(first) * d, d, W.output_norm, hp.rms_eps, h_.data(), d);
    ops_.matmul(W.head, rows, nullptr, h_.data(), d, logits, hp.n_vocab);
}

} // namespace bitnet::model
