// Splits text into the pieces BPE runs on, with a PCRE2 regex (UTF + UCP, JIT when available).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bitnet::tokenizer {

// The pre-tokenizer regexes we know by name.
inline constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class PreTokenizer {
public:
    explicit PreTokenizer(std::string_view pattern);  // throws TokenizerError on a bad pattern
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // Appends every match and every gap between matches to `out`, in order (HF "Isolated"
    // splitting), so the pieces always concatenate back to `text`. Invalid UTF-8 never fails:
    // the bytes no alternative can match come out as gap pieces.
    void split_into(std::string_view text, std::vector<std::string_view>& out) const;

    const std::string& pattern() const { return pattern_; }
    bool jit() const { return jit_; }

private:
    std::string pattern_;
    void* code_ = nullptr;  // pcre2_code_8*, kept opaque so callers need no PCRE2 headers
    bool jit_ = false;
};

} // namespace bitnet::tokenizer
