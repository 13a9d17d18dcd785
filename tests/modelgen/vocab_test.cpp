// The vocabulary inside generated files tokenizes like its source.
#include "gguf/gguf.hpp"
#include "modelgen_test_util.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::modelgen {
namespace {

using testutil::TempDir;

const std::vector<std::string> kTexts = {
    "The capital of France is Paris. The capital of Germany is",
    "A quiet morning in the harbour, before the boats go out.",
    "I'm sure they've got 12345 reasons; don't you?\n\n  indented\tcode()",
    "naïve café — 日本語 🙂 <|eot_id|>",
};

TEST(ModelGenVocab, TokenizerJsonRoundTrips) {
    const auto oracle = bitnet::testing::oracle_dir();
    if (!oracle) GTEST_SKIP() << "oracle folder not found";
    TempDir dir("modelgen-tok");
    for (Arch arch : {Arch::BitnetB158, Arch::Bitnet}) {
        GenOptions o;
        o.arch = arch;
        o.tokenizer_json = *oracle / "llama3-tokenizer.json";
        const auto path = dir.path() / "m.gguf";
        generate_model(testutil::tiny(), o, path);
        const auto f = gguf::File::open(path);
        tokenizer::VocabData from_file = tokenizer::vocab_from_gguf(*f);
        tokenizer::VocabData from_json = tokenizer::vocab_from_tokenizer_json(o.tokenizer_json);
        EXPECT_EQ(from_file.tokens, from_json.tokens);
        EXPECT_EQ(from_file.merges, from_json.merges);
        EXPECT_EQ(from_file.types, from_json.types);
        EXPECT_EQ(from_file.bos, 128000);
        EXPECT_EQ(from_file.eos, 128001);
        EXPECT_EQ(f->tensor("token_embd.weight").dims[1], 128256);
        const tokenizer::Tokenizer a(std::move(from_file)), b(std::move(from_json));
        for (const std::string& t : kTexts) EXPECT_EQ(a.encode(t, true), b.encode(t, true)) << t;
        EXPECT_EQ(a.encode("The capital of France is", false), (std::vector<int32_t>{791, 6864, 315, 9822, 374}));
    }
}

TEST(ModelGenVocab, BuiltinVocabularyMakesWordTokens) {
    TempDir dir("modelgen-builtin");
    const auto path = dir.path() / "m.gguf";
    generate_model(testutil::tiny(), GenOptions{}, path);
    const auto f = gguf::File::open(path);
    const tokenizer::Tokenizer tok(tokenizer::vocab_from_gguf(*f));
    const int32_t n = tok.n_vocab();
    EXPECT_GT(n, 256 + 300);
    EXPECT_EQ(tok.token_text(0), "!");  // GPT-2 byte order, as Llama 3
    ASSERT_TRUE(tok.bos() && tok.eos());
    // Microsoft's layout has no eot_token_id key; <|eot_id|> is recognised by its text.
    const auto eot = tok.token_id("<|eot_id|>");
    ASSERT_TRUE(eot.has_value());
    EXPECT_EQ(tok.token_text(*tok.bos()), "<|begin_of_text|>");
    EXPECT_EQ(tok.token_text(*tok.eos()), "<|end_of_text|>");
    EXPECT_TRUE(tok.is_control(*eot));
    EXPECT_TRUE(tok.is_eog(*eot));
    EXPECT_TRUE(tok.warnings().empty()) << tok.warnings().front();
    for (const std::string& t : kTexts) {
        const auto ids = tok.encode(t, false);
        EXPECT_EQ(tok.decode(ids), t.substr(0, t.find("<|eot_id|>"))) << t;
    }
    const std::string sentence = kTexts[0];
    const auto ids = tok.encode(sentence, false);
    EXPECT_LT(ids.size(), sentence.size() / 3) << "common words are single tokens";
    EXPECT_EQ(tok.encode(" the", false).size(), 1u);
    const auto with_bos = tok.encode("hello", true);
    EXPECT_EQ(with_bos.front(), *tok.bos());
}

} // namespace
} // namespace bitnet::modelgen
