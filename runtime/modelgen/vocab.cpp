// Choosing the vocabulary a generated model carries and fitting it to the requested size.
#include "modelgen/internal.hpp"

#include <fmt/format.h>

namespace bitnet::modelgen::detail {

GenVocab load_vocab(const ModelSpec& spec, const GenOptions& opts) {
    GenVocab out;
    if (opts.tokenizer_json.empty()) {
        out.data = builtin_vocab();
    } else {
        try {
            out.data = tokenizer::vocab_from_tokenizer_json(opts.tokenizer_json);
        } catch (const tokenizer::TokenizerError& e) {
            throw ModelGenError(fmt::format("--tokenizer {}: {}", opts.tokenizer_json.string(), e.what()));
        }
        if (out.data.types.size() != out.data.tokens.size())
            out.data.types.assign(out.data.tokens.size(), tokenizer::TokenType::Normal);
    }
    auto& v = out.data;
    out.llama3 = v.tokens.size() >= 128256 && v.tokens[128000] == "<|begin_of_text|>";

    const auto have = static_cast<int64_t>(v.tokens.size());
    if (spec.vocab != 0 && spec.vocab < have)
        throw ModelGenError(fmt::format("--vocab {} is smaller than the vocabulary's {} tokens "
                                        "(truncating would orphan merges; use --vocab 0 or more)",
                                        spec.vocab, have));
    // Padding rows are unused tokens: they give the embedding the requested shape (e.g. the
    // 2B-4T's 128256 rows with the small built-in vocabulary) without being reachable by BPE.
    for (int64_t id = have; id < spec.vocab; ++id) {
        v.tokens.push_back(fmt::format("<|pad_{}|>", id));
        v.types.push_back(tokenizer::TokenType::Unused);
    }
    if (!v.bos || !v.eos)
        throw ModelGenError("the vocabulary has no BOS/EOS token (<|begin_of_text|>, <|end_of_text|>)");
    return out;
}

} // namespace bitnet::modelgen::detail
