#include "toy_vocab.hpp"

#include "gguf/gguf.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace bitnet::tokenizer {
namespace {

// Runs fn, expecting a TokenizerError whose message contains every one of `parts`.
template <class Fn> void expect_error(Fn&& fn, std::initializer_list<std::string_view> parts) {
    try {
        fn();
        ADD_FAILURE() << "no TokenizerError thrown";
    } catch (const TokenizerError& e) {
        const std::string msg = e.what();
        for (std::string_view p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg;
    }
}

class VocabFiles : public ::testing::Test {
protected:
    void SetUp() override { dir = bitnet::testing::make_temp_dir("tok"); }
    void TearDown() override { std::filesystem::remove_all(dir); }

    std::filesystem::path write(const std::string& name, const std::string& text) {
        const auto p = dir / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }

    // A GGUF with the toy vocabulary's tokenizer keys, minus `skip`, plus model name `model`.
    std::filesystem::path write_gguf(std::string_view skip, const std::string& model = "gpt2") {
        const VocabData v = test::toy_vocab();
        gguf::Writer w;
        w.set_str("general.architecture", "bitnet-b1.58");
        if (skip != "tokenizer.ggml.model") w.set_str("tokenizer.ggml.model", model);
        if (skip != "tokenizer.ggml.tokens") w.set_str_array("tokenizer.ggml.tokens", v.tokens);
        std::vector<int32_t> types;
        for (TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
        if (skip != "tokenizer.ggml.token_type") w.set_i32_array("tokenizer.ggml.token_type", types);
        if (skip != "tokenizer.ggml.merges") w.set_str_array("tokenizer.ggml.merges", v.merges);
        w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*v.bos));
        w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(*v.eos));
        w.set_bool("tokenizer.ggml.add_bos_token", false);
        const auto p = dir / "toy.gguf";
        w.write(p);
        return p;
    }

    std::filesystem::path dir;
};

TEST_F(VocabFiles, GgufRoundTrip) {
    auto f = gguf::File::open(write_gguf(""));
    Tokenizer tok(vocab_from_gguf(*f));
    EXPECT_EQ(tok.n_vocab(), test::kToySize);
    EXPECT_EQ(tok.bos(), test::kBos);
    EXPECT_FALSE(tok.add_bos());
    EXPECT_EQ(tok.pre_tokenizer(), "llama3");  // no pre key, Llama 3 marker present
    EXPECT_EQ(tok.encode("hello<|eot_id|>", true), (std::vector<int32_t>{test::kBos, test::kHello, test::kEotId}));
    EXPECT_TRUE(tok.is_control(test::kEotId));
}

TEST_F(VocabFiles, GgufMissingKeys) {
    for (std::string_view key : {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.merges"}) {
        auto f = gguf::File::open(write_gguf(key));
        expect_error([&] { (void)vocab_from_gguf(*f); }, {key, "missing", "toy.gguf"});
    }
    // token_type is optional: everything is then Normal.
    auto f = gguf::File::open(write_gguf("tokenizer.ggml.token_type"));
    EXPECT_EQ(vocab_from_gguf(*f).types.size(), 0u);
}

TEST_F(VocabFiles, GgufWrongModel) {
    auto f = gguf::File::open(write_gguf("", "llama"));
    expect_error([&] { (void)vocab_from_gguf(*f); }, {"tokenizer.ggml.model", "'llama'", "gpt2"});
}

TEST_F(VocabFiles, JsonErrors) {
    expect_error([&] { (void)vocab_from_tokenizer_json(dir / "absent.json"); }, {"absent.json", "cannot open"});
    const auto bad = write("bad.json", "{\"model\": {\"vocab\": {\"a\": 0,}");
    expect_error([&] { (void)vocab_from_tokenizer_json(bad); }, {"bad.json", "invalid JSON"});
    const auto no_model = write("nomodel.json", "{\"added_tokens\": []}");
    expect_error([&] { (void)vocab_from_tokenizer_json(no_model); }, {"nomodel.json", "model"});
    const auto wordpiece = write("wp.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
    expect_error([&] { (void)vocab_from_tokenizer_json(wordpiece); }, {"WordPiece", "only BPE"});
    const auto bad_merge = write("merge.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [5]}})");
    expect_error([&] { (void)vocab_from_tokenizer_json(bad_merge); }, {"merge.json", "merge entry 5"});
}

TEST_F(VocabFiles, JsonMinimal) {
    // Merges in both spellings, a special added token, a Split regex.
    const auto p = write("tokenizer.json", R"({
      "added_tokens": [{"id": 4, "content": "<|begin_of_text|>", "special": true},
                       {"id": 5, "content": "<x>", "special": false}],
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
          {"type": "Split", "pattern": {"Regex": " ?\\p{L}+|\\s+"}, "behavior": "Isolated"},
          {"type": "ByteLevel", "use_regex": false}]},
      "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "abab": 3},
                "merges": ["a b", ["ab", "ab"]]}})");
    VocabData v = vocab_from_tokenizer_json(p);
    EXPECT_EQ(v.merges, (std::vector<std::string>{"a b", "ab ab"}));
    EXPECT_EQ(v.pre_regex, " ?\\p{L}+|\\s+");
    EXPECT_EQ(v.types[4], TokenType::Control);
    EXPECT_EQ(v.types[5], TokenType::UserDefined);
    EXPECT_EQ(v.bos, 4);
    EXPECT_TRUE(v.add_bos);
    Tokenizer tok(std::move(v));
    EXPECT_EQ(tok.pre_tokenizer(), "custom");
    EXPECT_EQ(tok.encode("abab<x>", true), (std::vector<int32_t>{4, 3, 5}));
    // This vocabulary lacks most bytes: encoding one of them is a clear error, not garbage.
    expect_error([&] { (void)tok.encode("c", false); }, {"0x63", "no token"});
}

TEST(VocabData, InconsistentDataRejected) {
    expect_error([] { Tokenizer t(VocabData{}); }, {"no tokens"});
    VocabData v = test::toy_vocab();
    v.types.pop_back();
    expect_error([&] { Tokenizer t(v); }, {"token types"});
    v = test::toy_vocab();
    v.bos = 100000;
    expect_error([&] { Tokenizer t(v); }, {"BOS", "100000", "outside"});
    v = test::toy_vocab();
    v.merges.push_back("nospace");
    expect_error([&] { Tokenizer t(v); }, {"merge 4", "nospace"});
    v = test::toy_vocab();
    v.pre_regex = "(unclosed";
    expect_error([&] { Tokenizer t(v); }, {"regex", "compile"});
}

} // namespace
} // namespace bitnet::tokenizer
