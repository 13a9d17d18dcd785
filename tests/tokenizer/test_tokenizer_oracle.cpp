// Checks against the reference tokenizations in the oracle folder (skipped when it is absent).
#include "tokenizer/tokenizer.hpp"

#include "gguf/gguf.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace bitnet::tokenizer {
namespace {

struct Vector {
    std::string text;
    std::vector<int32_t> ids;
};

std::vector<Vector> load_vectors(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::vector<Vector> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        out.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>()});
    }
    return out;
}

std::string join(const std::vector<int32_t>& ids) {
    std::ostringstream s;
    for (size_t i = 0; i < ids.size(); ++i) s << (i ? " " : "") << ids[i];
    return s.str();
}

// Every vector, exactly; failures listed together so one run shows them all.
void check_all_vectors(const Tokenizer& tok, const std::filesystem::path& dir) {
    const auto vectors = load_vectors(dir / "llama3-tokenizer-vectors.jsonl");
    ASSERT_EQ(vectors.size(), 225u);
    int bad = 0;
    for (size_t i = 0; i < vectors.size(); ++i) {
        const Vector& v = vectors[i];
        const auto ids = tok.encode(v.text, false, true);
        if (ids != v.ids) {
            ++bad;
            ADD_FAILURE() << "line " << i + 1 << " text=" << nlohmann::json(v.text).dump() << "\n  want " << join(v.ids)
                          << "\n  got  " << join(ids);
        }
        // Round trip; control tokens are only text with special=true.
        EXPECT_EQ(tok.decode(ids, true), v.text) << "line " << i + 1;
    }
    EXPECT_EQ(bad, 0) << "of " << vectors.size();
}

class OracleTokenizer : public ::testing::Test {
protected:
    void SetUp() override {
        auto d = bitnet::testing::oracle_dir();
        if (!d) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
        dir = *d;
    }
    // Loaded once per file for the whole suite: building a 128k vocabulary is the slow part.
    const Tokenizer& from_gguf(const std::string& name) {
        return cached(name, [&] {
            auto f = gguf::File::open(dir / name);
            return Tokenizer(vocab_from_gguf(*f));
        });
    }
    const Tokenizer& from_json() {
        return cached("json", [&] { return Tokenizer(vocab_from_tokenizer_json(dir / "llama3-tokenizer.json")); });
    }
    template <class Fn> static const Tokenizer& cached(const std::string& key, Fn&& load) {
        static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
        auto& slot = cache[key];
        if (!slot) slot = std::make_unique<Tokenizer>(load());
        return *slot;
    }
    std::filesystem::path dir;
};

TEST_F(OracleTokenizer, VectorsFromTokenizerJson) {
    const Tokenizer& tok = from_json();
    EXPECT_EQ(tok.n_vocab(), 128256);
    EXPECT_EQ(tok.pre_tokenizer(), "llama3");
    EXPECT_EQ(tok.bos(), 128000);
    check_all_vectors(tok, dir);
}

TEST_F(OracleTokenizer, VectorsFromMicrosoftLayoutGgufWithoutPreKey) {
    auto f = gguf::File::open(dir / "b158-small-i2_s.gguf");
    VocabData v = vocab_from_gguf(*f);
    EXPECT_TRUE(v.pre.empty()) << "this file is meant to lack tokenizer.ggml.pre";
    Tokenizer tok(std::move(v));
    EXPECT_EQ(tok.pre_tokenizer(), "llama3");
    EXPECT_EQ(tok.bos(), 128000);
    EXPECT_EQ(tok.eos(), 128001);
    EXPECT_TRUE(tok.is_eog(128001));
    EXPECT_TRUE(tok.is_eog(128009));  // <|eot_id|>, though the file names no eot
    EXPECT_FALSE(tok.is_eog(128000));
    check_all_vectors(tok, dir);
}

TEST_F(OracleTokenizer, VectorsFromUpstreamGguf) {
    const Tokenizer& tok = from_gguf("bitnet-small-tq2_0.gguf");
    EXPECT_EQ(tok.pre_tokenizer(), "llama3");
    check_all_vectors(tok, dir);
}

TEST_F(OracleTokenizer, TruncatedVocabularySentence) {
    const Tokenizer& tok = from_gguf("p2-bitnet-tiny-tq2_0.gguf");
    EXPECT_EQ(tok.n_vocab(), 3000);
    const std::string text = "A quiet morning in the harbour, before the boats go out.";
    const std::vector<int32_t> want{32, 934, 72, 295, 296, 269, 1251, 304, 279, 305, 277,
                                    65, 414, 11, 1603, 279, 712, 1900, 733, 704, 13};
    EXPECT_EQ(tok.encode(text, false, false), want);
    std::vector<int32_t> with_bos{2990};
    with_bos.insert(with_bos.end(), want.begin(), want.end());
    EXPECT_EQ(tok.encode(text, tok.add_bos(), false), with_bos);
    EXPECT_EQ(tok.decode(want), text);
    EXPECT_TRUE(tok.is_eog(2991));
    EXPECT_TRUE(tok.is_eog(2999));
    EXPECT_FALSE(tok.is_eog(2996));
    EXPECT_TRUE(tok.is_control(2996));
    EXPECT_EQ(tok.token_bytes(2996, true), "<|reserved_special_token_4|>");
    EXPECT_EQ(tok.token_bytes(245), "\x97");  // a lone byte, as README-p2 says
}

TEST_F(OracleTokenizer, SpecialParsingAndStreaming) {
    const Tokenizer& tok = from_json();
    const auto on = tok.encode("<|eot_id|>", false, true);
    const auto off = tok.encode("<|eot_id|>", false, false);
    EXPECT_EQ(on, std::vector<int32_t>{128009});
    EXPECT_GT(off.size(), 1u);
    EXPECT_EQ(tok.decode(off), "<|eot_id|>");
    EXPECT_EQ(tok.decode(on), "");

    // A CJK character and an emoji that Llama 3 splits across byte tokens.
    const std::string text = "\xF0\x9F\xA6\x99\xE9\xBE\x98 ok";
    const auto ids = tok.encode(text, false);
    bool split_seen = false;
    StreamDecoder sd(tok);
    std::string all;
    for (int32_t id : ids) {
        const std::string piece = sd.push(id);
        if (piece.empty()) split_seen = true;
        all += piece;
    }
    all += sd.flush();
    EXPECT_TRUE(split_seen) << "expected a token ending mid-character: " << join(ids);
    EXPECT_EQ(all, text);
}

TEST_F(OracleTokenizer, EncodesKilobytesInMilliseconds) {
    const Tokenizer& tok = from_json();
    std::string text;
    for (const Vector& v : load_vectors(dir / "llama3-tokenizer-vectors.jsonl")) text += v.text + "\n";
    while (text.size() < 8192) text += text;
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text, false);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    RecordProperty("encode_ms", std::to_string(ms));
    std::printf("encoded %zu bytes into %zu tokens in %.2f ms\n", text.size(), ids.size(), ms);
    EXPECT_EQ(tok.decode(ids, true), text);
    // Generous, so that unoptimised builds pass; a quadratic merge would blow far past it.
    EXPECT_LT(ms, 500.0);
}

} // namespace
} // namespace bitnet::tokenizer
