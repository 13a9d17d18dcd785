#include "toy_vocab.hpp"

#include "tokenizer/pretokenizer.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace bitnet::tokenizer {
namespace {

using test::byte_ids;
using test::toy_vocab;
using V = std::vector<int32_t>;

class ToyTokenizer : public ::testing::Test {
protected:
    Tokenizer tok{toy_vocab()};
};

TEST_F(ToyTokenizer, MergesByRank) {
    EXPECT_EQ(tok.encode("hello", false), V({test::kHello}));
    EXPECT_EQ(tok.encode("hell", false), V({test::kHell}));
    // "he" then "l", "p": no merge makes "hel".
    EXPECT_EQ(tok.encode("help", false), V({test::kHe, 'l', 'p'}));
    EXPECT_EQ(tok.encode("", false), V{});
}

TEST_F(ToyTokenizer, BosOnlyWhenAsked) {
    EXPECT_EQ(tok.encode("hello", true), V({test::kBos, test::kHello}));
    EXPECT_EQ(tok.encode("", true), V({test::kBos}));
    EXPECT_TRUE(tok.add_bos());
    EXPECT_EQ(tok.bos(), test::kBos);
}

TEST_F(ToyTokenizer, SpecialTokensParsedWhenOn) {
    EXPECT_EQ(tok.encode("hello<|eot_id|>hello", false, true), V({test::kHello, test::kEotId, test::kHello}));
    EXPECT_EQ(tok.encode("<|begin_of_text|>", false, true), V({test::kBos}));
    // Longest match: "<|eot_id|>" rather than its prefix "<|eot" followed by "_id|>".
    EXPECT_EQ(tok.encode("<|eot_id|>", false, true), V({test::kEotId}));
    V short_then_rest{test::kEotShort};
    for (int32_t id : tok.encode("_id", false)) short_then_rest.push_back(id);
    EXPECT_EQ(tok.encode("<|eot_id", false, true), short_then_rest);
}

TEST_F(ToyTokenizer, SpecialTokensAreTextWhenOff) {
    const std::string s = "<|eot_id|>";
    EXPECT_EQ(tok.encode(s, false, false), byte_ids(s));
    EXPECT_EQ(tok.decode(tok.encode(s, false, false)), s);
}

TEST_F(ToyTokenizer, UserDefinedTokensAlwaysMatched) {
    EXPECT_EQ(tok.encode("<my tok>", false, false), V({test::kUserTok}));
    EXPECT_EQ(tok.encode("<my tok>", false, true), V({test::kUserTok}));
    EXPECT_EQ(tok.decode({test::kUserTok}), "<my tok>");
}

TEST_F(ToyTokenizer, DecodeControlOnlyWhenSpecial) {
    const V ids{test::kBos, test::kHello, test::kEotId};
    EXPECT_EQ(tok.decode(ids), "hello");
    EXPECT_EQ(tok.decode(ids, true), "<|begin_of_text|>hello<|eot_id|>");
    EXPECT_EQ(tok.token_bytes(' '), " ");
    EXPECT_EQ(tok.token_bytes('\n'), "\n");
    EXPECT_EQ(tok.token_text(' '), "\xC4\xA0");  // 'Ġ'
    EXPECT_THROW(tok.token_bytes(-1), TokenizerError);
    EXPECT_THROW(tok.token_bytes(test::kToySize), TokenizerError);
}

TEST_F(ToyTokenizer, RoundTripsArbitraryBytes) {
    using namespace std::string_literals;
    const std::string samples[] = {
        "hello world\n\n  tabs\there",
        "na\xC3\xAFve caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80!",
        // The literal's own length (std::string_literals), so the embedded NUL is kept.
        "\xFF\xFE\x80 broken \xE6\x97 utf8\0nul"s,
    };
    for (const std::string& s : samples) EXPECT_EQ(tok.decode(tok.encode(s, false)), s);
}

TEST_F(ToyTokenizer, ConcurrentEncodeOnSharedTokenizer) {
    // encode() is const and keeps no shared scratch state, so one tokenizer serves many threads.
    const std::string text = "hello hell help <|eot_id|> caf\xC3\xA9\n";
    const V want = tok.encode(text, true);
    std::vector<int> ok(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) ok[t] += tok.encode(text, true) == want;
        });
    for (auto& th : threads) th.join();
    for (int n : ok) EXPECT_EQ(n, 200);
}

TEST_F(ToyTokenizer, EndOfGeneration) {
    EXPECT_TRUE(tok.is_eog(test::kEos));
    EXPECT_TRUE(tok.is_eog(test::kEotId));
    EXPECT_FALSE(tok.is_eog(test::kBos));
    EXPECT_FALSE(tok.is_eog(test::kHello));
    EXPECT_FALSE(tok.is_eog(-5));
    // Found by name even when the file only names one of them.
    VocabData v = toy_vocab();
    v.eos.reset();
    v.eot.reset();
    Tokenizer t2(std::move(v));
    EXPECT_TRUE(t2.is_eog(test::kEos));
    EXPECT_TRUE(t2.is_eog(test::kEotId));
}

TEST_F(ToyTokenizer, Lookups) {
    EXPECT_EQ(tok.n_vocab(), test::kToySize);
    EXPECT_EQ(tok.token_id("hello"), test::kHello);
    EXPECT_EQ(tok.token_id("<|eot_id|>"), test::kEotId);
    EXPECT_EQ(tok.token_id("nope"), std::nullopt);
    EXPECT_TRUE(tok.is_control(test::kBos));
    EXPECT_FALSE(tok.is_control(test::kUserTok));
    EXPECT_EQ(tok.token_type(test::kUserTok), TokenType::UserDefined);
}

TEST_F(ToyTokenizer, ChatTemplate) {
    const std::vector<Tokenizer::Message> msgs{{"system", "Be brief."}, {"user", "Hi!"}};
    EXPECT_EQ(tok.apply_chat_template(msgs),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(tok.apply_chat_template(msgs, false),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>");
    // The rendered text tokenizes with the headers as single tokens.
    const V ids = tok.encode(tok.apply_chat_template({{"user", "hello"}}), false, true);
    V expect{test::kBos, test::kStartHeader};
    for (int32_t id : tok.encode("user", false)) expect.push_back(id);
    expect.push_back(test::kEndHeader);
    for (int32_t id : tok.encode("\n\nhello", false)) expect.push_back(id);
    expect.insert(expect.end(), {test::kEotId, test::kStartHeader});
    for (int32_t id : tok.encode("assistant", false)) expect.push_back(id);
    expect.push_back(test::kEndHeader);
    for (int32_t id : tok.encode("\n\n", false)) expect.push_back(id);
    EXPECT_EQ(ids, expect);
}

TEST(TokenizerPreChoice, FollowsNameAndVocabulary) {
    VocabData v = toy_vocab();
    EXPECT_EQ(Tokenizer(v).pre_tokenizer(), "llama3");
    EXPECT_TRUE(Tokenizer(v).warnings().empty());

    v.pre = "";  // Microsoft's BitNet GGUF: no key, but a Llama 3 vocabulary
    EXPECT_EQ(Tokenizer(v).pre_tokenizer(), "llama3");
    EXPECT_TRUE(Tokenizer(v).warnings().empty());

    v.pre = "gpt2";
    EXPECT_EQ(Tokenizer(v).pre_tokenizer(), "gpt2");

    v.pre = "something-new";
    Tokenizer unknown(v);
    EXPECT_EQ(unknown.pre_tokenizer(), "llama3");
    ASSERT_EQ(unknown.warnings().size(), 1u);
    EXPECT_NE(unknown.warnings()[0].find("something-new"), std::string::npos);

    VocabData plain = toy_vocab();
    plain.pre = "";
    plain.tokens[test::kBos] = "<s>";  // no Llama 3 marker left
    plain.bos.reset();
    Tokenizer t(plain);
    EXPECT_EQ(t.pre_tokenizer(), "gpt2");
    EXPECT_FALSE(t.warnings().empty());
}

TEST(TokenizerPreChoice, RegexSplitsLikeLlama3) {
    PreTokenizer pre(kLlama3Regex);
    std::vector<std::string_view> pieces;
    pre.split_into("I'm  fine,\n\n12345 caf\xC3\xA9!!", pieces);
    const std::vector<std::string_view> expect{"I", "'m", " ", " fine", ",\n\n", "123", "45", " caf\xC3\xA9", "!!"};
    EXPECT_EQ(pieces, expect);
    // Invalid UTF-8 does not stop the split, and nothing is lost.
    const std::string bad = "ab\xFF\xC3 cd";
    pieces.clear();
    pre.split_into(bad, pieces);
    std::string joined;
    for (auto p : pieces) joined += p;
    EXPECT_EQ(joined, bad);
}

} // namespace
} // namespace bitnet::tokenizer
