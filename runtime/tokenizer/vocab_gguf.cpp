#include "tokenizer/tokenizer.hpp"

#include "gguf/gguf.hpp"

namespace bitnet::tokenizer {

namespace {

// GGUF accessor errors become TokenizerError naming the file and key, so callers catch one type.
class Reader {
public:
    explicit Reader(const gguf::File& f) : f_(f) {}

    [[noreturn]] void fail(std::string_view key, const std::string& what) const {
        throw TokenizerError(f_.path().string() + ": " + std::string(key) + ": " + what);
    }

    const gguf::Value& required(std::string_view key) const {
        const gguf::Value* v = f_.find(key);
        if (v == nullptr) fail(key, "missing (not a GGUF with an embedded tokenizer?)");
        return *v;
    }

    template <class Fn> auto convert(std::string_view key, Fn&& fn) const {
        try {
            return fn();
        } catch (const gguf::GgufError& e) {
            fail(key, e.what());
        }
    }

    std::vector<std::string> strings(std::string_view key) const {
        const gguf::Value& v = required(key);
        return convert(key, [&] {
            const gguf::Array& a = v.as_array();
            if (a.elem_type != gguf::ValueType::STRING)
                fail(key, "expected an array of strings, found an array of " +
                              std::string(gguf::value_type_name(a.elem_type)));
            std::vector<std::string> out;
            out.reserve(a.items.size());
            for (const gguf::Value& item : a.items) out.push_back(item.as_string());
            return out;
        });
    }

    std::optional<int32_t> opt_id(std::string_view key) const {
        const gguf::Value* v = f_.find(key);
        if (v == nullptr) return std::nullopt;
        const int64_t id = convert(key, [&] { return v->as_int(); });
        // Some converters write -1 (as a signed or wrapped value) for "no such token".
        if (id < 0 || id > INT32_MAX) return std::nullopt;
        return static_cast<int32_t>(id);
    }

    std::optional<std::string> opt_string(std::string_view key) const {
        const gguf::Value* v = f_.find(key);
        if (v == nullptr) return std::nullopt;
        return convert(key, [&] { return v->as_string(); });
    }

private:
    const gguf::File& f_;
};

TokenType to_type(int64_t t) {
    return t >= 1 && t <= 6 ? static_cast<TokenType>(t) : TokenType::Normal;
}

} // namespace

VocabData vocab_from_gguf(const gguf::File& file) {
    const Reader r(file);
    VocabData v;
    const std::string model = r.convert("tokenizer.ggml.model", [&] {
        return r.required("tokenizer.ggml.model").as_string();
    });
    if (model != "gpt2")
        r.fail("tokenizer.ggml.model", "'" + model + "' is not supported (only 'gpt2' byte-level BPE)");

    v.tokens = r.strings("tokenizer.ggml.tokens");
    v.merges = r.strings("tokenizer.ggml.merges");
    if (const gguf::Value* tt = file.find("tokenizer.ggml.token_type")) {
        v.types = r.convert("tokenizer.ggml.token_type", [&] {
            std::vector<TokenType> types;
            const gguf::Array& a = tt->as_array();
            types.reserve(a.items.size());
            for (const gguf::Value& item : a.items) types.push_back(to_type(item.as_int()));
            return types;
        });
        if (v.types.size() != v.tokens.size())
            r.fail("tokenizer.ggml.token_type", std::to_string(v.types.size()) + " entries for " +
                                                    std::to_string(v.tokens.size()) + " tokens");
    }
    v.pre = r.opt_string("tokenizer.ggml.pre").value_or("");
    v.bos = r.opt_id("tokenizer.ggml.bos_token_id");
    v.eos = r.opt_id("tokenizer.ggml.eos_token_id");
    v.eot = r.opt_id("tokenizer.ggml.eot_token_id");
    v.pad = r.opt_id("tokenizer.ggml.padding_token_id");
    if (const gguf::Value* ab = file.find("tokenizer.ggml.add_bos_token"))
        v.add_bos = r.convert("tokenizer.ggml.add_bos_token", [&] { return ab->as_bool(); });
    v.chat_template = r.opt_string("tokenizer.chat_template").value_or("");
    return v;
}

} // namespace bitnet::tokenizer
