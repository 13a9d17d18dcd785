#include "tokenizer/tokenizer.hpp"

#include "tokenizer/pretokenizer.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace bitnet::tokenizer {

namespace {

using nlohmann::json;

json read_json(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw TokenizerError(p.string() + ": cannot open");
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw TokenizerError(p.string() + ": invalid JSON: " + e.what());
    }
}

// Literal split patterns become a regex that matches exactly that text.
std::string quote_literal(const std::string& s) {
    std::string out = "\\Q";
    for (size_t i = 0; i < s.size(); ++i) {
        if (s.compare(i, 2, "\\E") == 0) {  // \E would end the quoting early
            out += "\\E\\\\E\\Q";
            ++i;
        } else {
            out += s[i];
        }
    }
    return out + "\\E";
}

// The regex of the first splitting step, looking inside Sequence; "" when there is none.
std::string find_pre_regex(const json& pt) {
    if (!pt.is_object()) return {};
    const std::string type = pt.value("type", "");
    if (type == "Sequence" && pt.contains("pretokenizers")) {
        for (const json& sub : pt.at("pretokenizers"))
            if (std::string r = find_pre_regex(sub); !r.empty()) return r;
        return {};
    }
    if (type == "Split" && pt.contains("pattern")) {
        const json& pat = pt.at("pattern");
        if (pat.contains("Regex")) return pat.at("Regex").get<std::string>();
        if (pat.contains("String")) return quote_literal(pat.at("String").get<std::string>());
    }
    if (type == "ByteLevel" && pt.value("use_regex", true)) return std::string(kGpt2Regex);
    return {};
}

std::string merge_text(const json& m) {
    if (m.is_string()) return m.get<std::string>();
    if (m.is_array() && m.size() == 2) return m[0].get<std::string>() + ' ' + m[1].get<std::string>();
    throw TokenizerError("merge entry " + m.dump() + " is neither \"a b\" nor [\"a\", \"b\"]");
}

// tokenizer_config.json names special tokens either as a string or as {"content": ...}.
std::optional<std::string> token_name(const json& cfg, const char* key) {
    if (!cfg.contains(key)) return std::nullopt;
    const json& t = cfg.at(key);
    if (t.is_string()) return t.get<std::string>();
    if (t.is_object() && t.contains("content")) return t.at("content").get<std::string>();
    return std::nullopt;
}

void fill(VocabData& v, const json& j) {
    const json& model = j.at("model");
    if (const std::string type = model.value("type", "BPE"); type != "BPE")
        throw TokenizerError("model type '" + type + "' is not supported (only BPE)");
    const json& vocab = model.at("vocab");
    if (!vocab.is_object()) throw TokenizerError("model.vocab is not an object");

    // Ids may come from the vocab or only from added_tokens; size the table for both.
    int64_t max_id = -1;
    for (const auto& [text, id] : vocab.items()) max_id = std::max<int64_t>(max_id, id.get<int64_t>());
    const json added = j.value("added_tokens", json::array());
    for (const json& t : added) max_id = std::max<int64_t>(max_id, t.at("id").get<int64_t>());
    if (max_id < 0) throw TokenizerError("model.vocab is empty");
    if (max_id >= INT32_MAX) throw TokenizerError("token id " + std::to_string(max_id) + " is too large");

    v.tokens.assign(static_cast<size_t>(max_id) + 1, std::string());
    v.types.assign(v.tokens.size(), TokenType::Unused);  // holes stay Unused with no text
    auto put = [&](int64_t id, std::string text, TokenType type) {
        if (id < 0) throw TokenizerError("negative token id for '" + text + "'");
        v.tokens[id] = std::move(text);
        v.types[id] = type;
    };
    for (const auto& [text, id] : vocab.items()) put(id.get<int64_t>(), text, TokenType::Normal);
    for (const json& t : added)
        put(t.at("id").get<int64_t>(), t.at("content").get<std::string>(),
            t.value("special", false) ? TokenType::Control : TokenType::UserDefined);

    const json& merges = model.at("merges");
    v.merges.reserve(merges.size());
    for (const json& m : merges) v.merges.push_back(merge_text(m));
    if (model.contains("ignore_merges")) v.ignore_merges = model.at("ignore_merges").get<bool>();
    if (j.contains("pre_tokenizer")) v.pre_regex = find_pre_regex(j.at("pre_tokenizer"));
    if (v.pre_regex == kLlama3Regex) v.pre = "llama-bpe";
}

std::optional<int32_t> find_id(const VocabData& v, std::string_view text) {
    for (size_t i = 0; i < v.tokens.size(); ++i)
        if (v.tokens[i] == text) return static_cast<int32_t>(i);
    return std::nullopt;
}

// tokenizer.json does not say which token is BOS/EOS; tokenizer_config.json beside it does, and
// without it the Llama 3 names are the best guess.
void fill_specials(VocabData& v, const std::filesystem::path& json_path) {
    std::optional<std::string> bos = "<|begin_of_text|>", eos = "<|end_of_text|>";
    const auto cfg_path = json_path.parent_path() / "tokenizer_config.json";
    std::error_code ec;
    bool add_bos_known = false;
    if (std::filesystem::is_regular_file(cfg_path, ec)) {
        const json cfg = read_json(cfg_path);
        try {
            if (auto b = token_name(cfg, "bos_token")) bos = b;
            if (auto e = token_name(cfg, "eos_token")) eos = e;
            if (cfg.contains("add_bos_token") && cfg.at("add_bos_token").is_boolean()) {
                v.add_bos = cfg.at("add_bos_token").get<bool>();
                add_bos_known = true;
            }
            if (cfg.contains("chat_template") && cfg.at("chat_template").is_string())
                v.chat_template = cfg.at("chat_template").get<std::string>();
        } catch (const json::exception& e) {
            throw TokenizerError(cfg_path.string() + ": " + e.what());
        }
    }
    v.bos = bos ? find_id(v, *bos) : std::nullopt;
    v.eos = eos ? find_id(v, *eos) : std::nullopt;
    v.eot = find_id(v, "<|eot_id|>");
    if (!add_bos_known) v.add_bos = v.bos.has_value();
}

} // namespace

VocabData vocab_from_tokenizer_json(const std::filesystem::path& p) {
    const json j = read_json(p);
    VocabData v;
    try {
        fill(v, j);
    } catch (const json::exception& e) {
        throw TokenizerError(p.string() + ": unexpected tokenizer.json layout: " + e.what());
    } catch (const TokenizerError& e) {
        throw TokenizerError(p.string() + ": " + e.what());
    }
    fill_specials(v, p);
    return v;
}

} // namespace bitnet::tokenizer
