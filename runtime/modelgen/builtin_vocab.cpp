// The built-in vocabulary: small, always available, and rich enough that English text becomes
// word-sized tokens rather than single bytes, so the default model exercises real BPE paths.
#include "modelgen/internal.hpp"
#include "tokenizer/byte_level.hpp"

#include <string_view>
#include <unordered_set>

namespace bitnet::modelgen::detail {
namespace {

// Common English words, most frequent first: earlier words get lower merge ranks.
constexpr std::string_view kWords[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "she", "other", "its",
    "may", "these", "what", "them", "than", "some", "him", "time", "into", "only", "do", "could",
    "new", "about", "two", "first", "then", "also", "any", "like", "our", "my", "out", "up",
    "said", "what", "people", "year", "years", "way", "many", "how", "over", "such", "after",
    "made", "world", "most", "make", "before", "day", "good", "well", "through", "back", "where",
    "much", "should", "because", "each", "just", "those", "work", "very", "life", "being", "still",
    "under", "never", "same", "last", "might", "great", "own", "while", "long", "here", "both",
    "between", "city", "country", "state", "water", "house", "school", "number", "part", "place",
    "small", "large", "old", "high", "hand", "home", "name", "right", "left", "morning", "night",
    "capital", "France", "Paris", "Germany", "Berlin", "The", "A", "It", "In", "This", "He", "She",
    "They", "We", "I", "model", "language", "token", "text", "quick", "brown", "fox", "jumps",
    "lazy", "dog", "hello", "world", "question", "answer", "story", "once", "upon", "king",
    "queen", "little", "boat", "boats", "harbour", "quiet", "go", "went", "see", "saw", "say",
    "know", "think", "come", "take", "want", "look", "use", "find", "give", "tell", "ask", "ing",
    "ed", "ly", "tion", "er", "es", "ation", "ment", "ness",
};

// GPT-2 byte order: printable Latin-1 first (33..126, 161..172, 174..255), then the rest. The
// Llama 3 vocabulary starts with the 256 bytes in this order, so ids of single bytes match it.
std::vector<unsigned char> gpt2_byte_order() {
    std::vector<unsigned char> order;
    auto in_printable = [](int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174); };
    for (int b = 0; b < 256; ++b)
        if (in_printable(b)) order.push_back(static_cast<unsigned char>(b));
    for (int b = 0; b < 256; ++b)
        if (!in_printable(b)) order.push_back(static_cast<unsigned char>(b));
    return order;
}

} // namespace

tokenizer::VocabData builtin_vocab() {
    using tokenizer::TokenType;
    tokenizer::VocabData v;
    std::unordered_set<std::string> known;
    auto add_token = [&](std::string text, TokenType type) {
        if (!known.insert(text).second) return;
        v.tokens.push_back(std::move(text));
        v.types.push_back(type);
    };
    for (unsigned char b : gpt2_byte_order()) add_token(tokenizer::byte_level::byte_string(b), TokenType::Normal);

    // Each word is built left to right ("Ġ t" -> "Ġt", "Ġt h" -> "Ġth", ...), so every merge's
    // parts are tokens already and every word (with and without its leading space) is one token.
    std::unordered_set<std::string> merges;
    auto add_word = [&](std::string_view raw) {
        const std::string word = tokenizer::byte_level::encode(raw);
        // Split into code points (the Ġ of a leading space is two UTF-8 bytes).
        std::vector<std::string> symbols;
        for (size_t i = 0; i < word.size();) {
            const auto c = static_cast<unsigned char>(word[i]);
            const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            symbols.push_back(word.substr(i, len));
            i += len;
        }
        std::string cur = symbols.empty() ? std::string() : symbols[0];
        for (size_t i = 1; i < symbols.size(); ++i) {
            std::string merge = cur + " " + symbols[i];
            cur += symbols[i];
            if (merges.insert(merge).second) v.merges.push_back(std::move(merge));
            add_token(cur, TokenType::Normal);
        }
    };
    for (std::string_view w : kWords) {
        std::string spaced(1, ' ');
        spaced.append(w);
        add_word(spaced);
    }
    for (std::string_view w : kWords) add_word(w);

    v.bos = static_cast<int32_t>(v.tokens.size());
    add_token("<|begin_of_text|>", TokenType::Control);
    v.eos = static_cast<int32_t>(v.tokens.size());
    add_token("<|end_of_text|>", TokenType::Control);
    v.eot = static_cast<int32_t>(v.tokens.size());
    add_token("<|eot_id|>", TokenType::Control);
    v.add_bos = true;
    v.pre = "llama-bpe";
    return v;
}

} // namespace bitnet::modelgen::detail
