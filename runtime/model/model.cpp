#include "model/model.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace bitnet::model {

std::unique_ptr<Model> Model::load(const std::filesystem::path& path, gguf::File::Load how) {
    std::unique_ptr<Model> m(new Model());
    m->file_ = gguf::File::open(path, how);
    m->hp_ = read_hparams(*m->file_);
    m->weights_ = std::make_unique<Weights>(*m->file_, m->hp_);
    m->tokenizer_ = std::make_unique<tokenizer::Tokenizer>(tokenizer::vocab_from_gguf(*m->file_));
    for (const auto& w : m->tokenizer_->warnings()) logger().warn("{}: {}", path.string(), w);
    if (m->tokenizer_->n_vocab() != m->hp_.n_vocab) {
        // A vocabulary shorter than the embedding is legal (padding rows); longer is not.
        if (m->tokenizer_->n_vocab() > m->hp_.n_vocab)
            throw gguf::GgufError(fmt::format("{}: tokenizer has {} tokens but token_embd has {} rows", path.string(),
                                              m->tokenizer_->n_vocab(), m->hp_.n_vocab));
    }
    return m;
}

void Model::embed(int32_t token, float* out) const {
    const auto* t = weights_->token_embd;
    formats::dequantize_row(t->type, t->data, token, hp_.n_embd, out);
}

int32_t choose_n_ctx(const HParams& hp, int32_t requested, int64_t kv_budget_bytes) {
    int32_t n = requested > 0 ? requested : hp.n_ctx_train;
    if (kv_budget_bytes > 0) {
        const int64_t per_pos = int64_t(KvCache::bytes_for(hp.n_layer, 1, hp.n_head_kv * hp.head_dim));
        const int64_t fit = kv_budget_bytes / std::max<int64_t>(per_pos, 1);
        if (fit < n) {
            if (requested > 0)
                throw ContextFullError(fmt::format("context length {} needs {} MiB of KV cache, over the {} MiB budget",
                                                   requested, per_pos * requested >> 20, kv_budget_bytes >> 20));
            n = static_cast<int32_t>(std::max<int64_t>(fit, 16));
        }
    }
    return n;
}

} // namespace bitnet::model
