// A small byte-level vocabulary for tests that need no reference data: token id b is byte b,
// then a few merges spelling "hello", then special tokens.
#pragma once

#include "tokenizer/byte_level.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::tokenizer::test {

enum ToyId : int32_t {
    kHe = 256, kLl, kHell, kHello,
    kBos, kEos, kEotId, kStartHeader, kEndHeader, kEotShort, kUserTok,
    kToySize
};

inline VocabData toy_vocab() {
    VocabData v;
    for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_level::byte_string(static_cast<unsigned char>(b)));
    v.types.assign(256, TokenType::Normal);
    auto add = [&](std::string text, TokenType type) {
        v.tokens.push_back(std::move(text));
        v.types.push_back(type);
    };
    add("he", TokenType::Normal);
    add("ll", TokenType::Normal);
    add("hell", TokenType::Normal);
    add("hello", TokenType::Normal);
    add("<|begin_of_text|>", TokenType::Control);
    add("<|end_of_text|>", TokenType::Control);
    add("<|eot_id|>", TokenType::Control);
    add("<|start_header_id|>", TokenType::Control);
    add("<|end_header_id|>", TokenType::Control);
    add("<|eot", TokenType::Control);  // a prefix of <|eot_id|>: longest match must win
    add("<my tok>", TokenType::UserDefined);
    v.merges = {"h e", "l l", "he ll", "hell o"};
    v.pre = "llama-bpe";
    v.bos = kBos;
    v.eos = kEos;
    v.eot = kEotId;
    return v;
}

// The ids of text when no merge applies: one token per byte.
inline std::vector<int32_t> byte_ids(std::string_view s) {
    std::vector<int32_t> ids;
    for (char c : s) ids.push_back(static_cast<unsigned char>(c));
    return ids;
}

} // namespace bitnet::tokenizer::test
