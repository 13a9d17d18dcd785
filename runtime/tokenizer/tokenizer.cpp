#include "tokenizer/tokenizer.hpp"

#include "tokenizer/bpe.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/pretokenizer.hpp"
#include "tokenizer/special_tokens.hpp"

#include <algorithm>
#include <utility>

namespace bitnet::tokenizer {

namespace {

bool is_llama3_name(std::string_view pre) {
    return pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3";
}

struct PreChoice {
    std::string name;
    std::string regex;
};

// Decides the pre-tokenizer. Microsoft's BitNet GGUF has no tokenizer.ggml.pre although its
// vocabulary is Llama 3's; the model was trained with the Llama 3 split, so that is what a
// Llama 3 vocabulary gets whenever the file does not say otherwise.
PreChoice choose_pre(const VocabData& v, bool llama3_vocab, std::vector<std::string>& warnings) {
    if (!v.pre_regex.empty()) {
        if (v.pre_regex == kLlama3Regex) return {"llama3", v.pre_regex};
        if (v.pre_regex == kGpt2Regex) return {"gpt2", v.pre_regex};
        return {"custom", v.pre_regex};
    }
    if (is_llama3_name(v.pre)) return {"llama3", std::string(kLlama3Regex)};
    if (v.pre == "gpt2") return {"gpt2", std::string(kGpt2Regex)};
    if (v.pre.empty()) {
        if (llama3_vocab) return {"llama3", std::string(kLlama3Regex)};
        warnings.push_back("no pre-tokenizer named and the vocabulary is not Llama 3's: using the GPT-2 regex");
        return {"gpt2", std::string(kGpt2Regex)};
    }
    warnings.push_back("unknown pre-tokenizer '" + v.pre + "': using the Llama 3 regex");
    return {"llama3", std::string(kLlama3Regex)};
}

// "<0x41>" -> 0x41 (SentencePiece-style byte tokens).
std::string byte_token_bytes(const std::string& text) {
    if (text.size() == 6 && text.starts_with("<0x") && text.back() == '>') {
        try {
            return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
        } catch (const std::exception&) {
        }
    }
    return byte_level::decode(text);
}

} // namespace

struct Tokenizer::Impl {
    std::vector<std::string> tokens;
    std::vector<TokenType> types;
    std::vector<std::string> bytes;  // decoded once, so decoding is a copy
    TextIndex index;
    std::optional<BpeModel> bpe;
    std::optional<PreTokenizer> pre;
    std::string pre_name;
    bool ignore_merges = false;
    SpecialMatcher specials;
    std::optional<int32_t> bos, eos, eot, pad;
    bool add_bos = true;
    std::vector<int32_t> eog;  // sorted
    std::vector<std::string> warnings;

    void check_id(std::optional<int32_t> id, const char* what) const {
        if (id && (*id < 0 || *id >= static_cast<int32_t>(tokens.size())))
            throw TokenizerError(std::string(what) + " token id " + std::to_string(*id) +
                                 " is outside the vocabulary (size " + std::to_string(tokens.size()) + ")");
    }

    void encode_text(std::string_view text, std::vector<int32_t>& out) const {
        std::vector<std::string_view> pieces;
        pre->split_into(text, pieces);
        std::string scratch;
        for (std::string_view piece : pieces) {
            if (ignore_merges) {
                scratch = byte_level::encode(piece);
                if (auto it = index.find(scratch); it != index.end() && types[it->second] == TokenType::Normal) {
                    out.push_back(it->second);
                    continue;
                }
            }
            bpe->encode_piece(piece, out);
        }
    }
};

Tokenizer::Tokenizer(VocabData v) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    if (v.tokens.empty()) throw TokenizerError("vocabulary has no tokens");
    if (v.tokens.size() > static_cast<size_t>(INT32_MAX)) throw TokenizerError("vocabulary too large");
    if (v.types.empty()) v.types.assign(v.tokens.size(), TokenType::Normal);
    if (v.types.size() != v.tokens.size())
        throw TokenizerError("vocabulary has " + std::to_string(v.tokens.size()) + " tokens but " +
                             std::to_string(v.types.size()) + " token types");
    m.tokens = std::move(v.tokens);
    m.types = std::move(v.types);
    m.bos = v.bos, m.eos = v.eos, m.eot = v.eot, m.pad = v.pad;
    m.add_bos = v.add_bos;
    m.check_id(m.bos, "BOS");
    m.check_id(m.eos, "EOS");
    m.check_id(m.eot, "EOT");
    m.check_id(m.pad, "padding");

    const auto n = static_cast<int32_t>(m.tokens.size());
    m.index.reserve(m.tokens.size());
    m.bytes.reserve(m.tokens.size());
    for (int32_t id = 0; id < n; ++id) {
        const std::string& t = m.tokens[id];
        if (!t.empty()) m.index.try_emplace(t, id);  // first id wins on duplicate text
        switch (m.types[id]) {
            case TokenType::Control:
                m.bytes.emplace_back();  // only shown on request, see token_bytes
                m.specials.add(t, id, false);
                break;
            case TokenType::UserDefined:
                m.bytes.push_back(t);  // added by hand, stored as plain text
                m.specials.add(t, id, true);
                break;
            case TokenType::Byte: m.bytes.push_back(byte_token_bytes(t)); break;
            default: m.bytes.push_back(byte_level::decode(t)); break;
        }
    }
    m.specials.finish();

    const bool llama3_vocab = m.index.contains(std::string_view("<|begin_of_text|>"));
    PreChoice pc = choose_pre(v, llama3_vocab, m.warnings);
    m.pre.emplace(pc.regex);
    m.pre_name = std::move(pc.name);
    m.ignore_merges = v.ignore_merges.value_or(m.pre_name == "llama3");

    m.bpe.emplace(m.index, v.merges);
    if (m.bpe->n_skipped() != 0)
        m.warnings.push_back(std::to_string(m.bpe->n_skipped()) + " merges refer to tokens not in the vocabulary; skipped");

    for (auto id : {m.eos, m.eot})
        if (id) m.eog.push_back(*id);
    // Llama 3 ends turns with <|eot_id|> while its eos is <|end_of_text|> (or the reverse in
    // instruct configs); either must stop generation.
    for (std::string_view t : {"<|end_of_text|>", "<|eot_id|>", "<|eom_id|>"})
        if (auto it = m.index.find(t); it != m.index.end()) m.eog.push_back(it->second);
    std::sort(m.eog.begin(), m.eog.end());
    m.eog.erase(std::unique(m.eog.begin(), m.eog.end()), m.eog.end());
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    const Impl& m = *impl_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_bos && m.bos) out.push_back(*m.bos);
    size_t seg = 0;  // start of the text not yet encoded
    if (!m.specials.empty()) {
        for (size_t pos = 0; pos < text.size();) {
            if (m.specials.may_start(static_cast<unsigned char>(text[pos]))) {
                const auto hit = m.specials.match_at(text, pos, parse_special);
                if (hit.len != 0) {
                    m.encode_text(text.substr(seg, pos - seg), out);
                    out.push_back(hit.id);
                    pos += hit.len;
                    seg = pos;
                    continue;
                }
            }
            ++pos;
        }
    }
    m.encode_text(text.substr(seg), out);
    return out;
}

std::string Tokenizer::token_bytes(int32_t id, bool special) const {
    const Impl& m = *impl_;
    m.check_id(id, "decoded");
    if (m.types[id] == TokenType::Control) return special ? m.tokens[id] : std::string();
    return m.bytes[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool special) const {
    std::string out;
    for (int32_t id : ids) out += token_bytes(id, special);
    return out;
}

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->tokens.size()); }
std::optional<int32_t> Tokenizer::bos() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos() const { return impl_->eos; }
std::optional<int32_t> Tokenizer::eot() const { return impl_->eot; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }

bool Tokenizer::is_eog(int32_t id) const {
    return std::binary_search(impl_->eog.begin(), impl_->eog.end(), id);
}

bool Tokenizer::is_control(int32_t id) const {
    return id >= 0 && id < n_vocab() && impl_->types[id] == TokenType::Control;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token_text) const {
    if (auto it = impl_->index.find(token_text); it != impl_->index.end()) return it->second;
    return std::nullopt;
}

TokenType Tokenizer::token_type(int32_t id) const {
    impl_->check_id(id, "queried");
    return impl_->types[id];
}

const std::string& Tokenizer::token_text(int32_t id) const {
    impl_->check_id(id, "queried");
    return impl_->tokens[id];
}

const std::string& Tokenizer::pre_tokenizer() const { return impl_->pre_name; }
const std::vector<std::string>& Tokenizer::warnings() const { return impl_->warnings; }

} // namespace bitnet::tokenizer
