// Llama-3 style byte-level BPE tokenizer: built from GGUF metadata (tokenizer.ggml.*) or from a
// Hugging Face tokenizer.json; pre-tokenizer regex through PCRE2 (UTF + JIT).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::gguf { class File; }

namespace bitnet::tokenizer {

class TokenizerError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// Everything needed to build a tokenizer, independent of where it came from.
struct VocabData {
    std::vector<std::string> tokens;        // GPT-2 byte-level strings (e.g. "Ġthe")
    std::vector<TokenType> types;           // same length as tokens (Normal when unknown)
    std::vector<std::string> merges;        // "a b" in rank order
    std::string pre;                        // pre-tokenizer name ("llama-bpe", "gpt2", ""=unknown)
    std::optional<int32_t> bos, eos, eot, pad;
    bool add_bos = true;
    std::string chat_template;              // Jinja text from the file, informational
    // Explicit pre-tokenizer regex (tokenizer.json carries one); beats `pre` when not empty.
    std::string pre_regex;
    // HF "ignore_merges": a piece that is a whole vocabulary entry becomes that token without
    // merging. nullopt: on exactly when the Llama 3 pre-tokenizer is in use (tiktoken behaviour).
    std::optional<bool> ignore_merges;
};

VocabData vocab_from_gguf(const gguf::File& file);                    // throws TokenizerError
VocabData vocab_from_tokenizer_json(const std::filesystem::path& p);  // throws TokenizerError

class Tokenizer {
public:
    explicit Tokenizer(VocabData vocab);   // throws TokenizerError on inconsistent data
    ~Tokenizer();
    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;

    // Text -> ids. Special-token text (e.g. "<|eot_id|>") is matched as that token when
    // parse_special is true, as HF tokenizers do. BOS is prepended only when add_bos is true.
    // UserDefined (non-special added) tokens are matched either way, as in HF and llama.cpp.
    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = true) const;
    // The bytes of one token (byte-level decoded; control tokens give their text when
    // `special` is true, else nothing).
    std::string token_bytes(int32_t id, bool special = false) const;
    std::string decode(const std::vector<int32_t>& ids, bool special = false) const;

    int32_t n_vocab() const;
    std::optional<int32_t> bos() const;
    std::optional<int32_t> eos() const;
    std::optional<int32_t> eot() const;
    bool add_bos() const;
    bool is_eog(int32_t id) const;     // eos, eot, or (Llama 3) <|end_of_text|>/<|eot_id|>
    bool is_control(int32_t id) const;
    std::optional<int32_t> token_id(std::string_view token_text) const;
    TokenType token_type(int32_t id) const;  // throws TokenizerError when out of range
    const std::string& token_text(int32_t id) const;  // as stored (byte-level); throws likewise

    // Which pre-tokenizer regex is in use: "llama3", "gpt2" or "custom".
    const std::string& pre_tokenizer() const;
    // Things worth logging found while building (unknown pre-tokenizer name, skipped merges...).
    const std::vector<std::string>& warnings() const;

    // Llama 3 chat template: <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>...
    // ending with an open assistant header.
    struct Message { std::string role, content; };
    std::string apply_chat_template(const std::vector<Message>& messages, bool add_assistant = true) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Streaming detokenizer: feed ids, get only complete UTF-8 (never a broken sequence); flush()
// at the end returns what is left (invalid bytes as U+FFFD).
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tok, bool special = false) : tok_(&tok), special_(special) {}
    std::string push(int32_t id);
    std::string flush();
private:
    const Tokenizer* tok_;
    bool special_;
    std::string pending_;
};

} // namespace bitnet::tokenizer
