#include "toy_vocab.hpp"

#include "tokenizer/utf8.hpp"

#include <gtest/gtest.h>

namespace bitnet::tokenizer {
namespace {

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8::valid_len(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

class StreamDecoderTest : public ::testing::Test {
protected:
    Tokenizer tok{test::toy_vocab()};
};

TEST_F(StreamDecoderTest, HoldsBackSplitCharacters) {
    StreamDecoder sd(tok);
    // U+1F600 (4 bytes) and U+00E9 (2 bytes), one byte token at a time.
    EXPECT_EQ(sd.push('a'), "a");
    EXPECT_EQ(sd.push(0xF0), "");
    EXPECT_EQ(sd.push(0x9F), "");
    EXPECT_EQ(sd.push(0x98), "");
    EXPECT_EQ(sd.push(0x80), "\xF0\x9F\x98\x80");
    EXPECT_EQ(sd.push(0xC3), "");
    EXPECT_EQ(sd.push(0xA9), "\xC3\xA9");
    EXPECT_EQ(sd.push(test::kHello), "hello");
    EXPECT_EQ(sd.flush(), "");
}

TEST_F(StreamDecoderTest, ReplacesBytesThatCanNeverBeValid) {
    StreamDecoder sd(tok);
    EXPECT_EQ(sd.push(0xFF), "\xEF\xBF\xBD");
    EXPECT_EQ(sd.push(0xE6), "");
    // 'a' cannot continue the sequence begun by 0xE6.
    EXPECT_EQ(sd.push('a'), "\xEF\xBF\xBD" "a");
    EXPECT_EQ(sd.push(0x80), "\xEF\xBF\xBD");  // lone continuation byte
    // 0xE0 0x80 would be an overlong form: rejected at the second byte.
    EXPECT_EQ(sd.push(0xE0), "");
    EXPECT_EQ(sd.push(0x80), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(StreamDecoderTest, FlushReplacesUnfinishedTail) {
    StreamDecoder sd(tok);
    EXPECT_EQ(sd.push('x'), "x");
    EXPECT_EQ(sd.push(0xF0), "");
    EXPECT_EQ(sd.push(0x9F), "");
    EXPECT_EQ(sd.flush(), "\xEF\xBF\xBD");  // one U+FFFD per maximal subpart
    EXPECT_EQ(sd.flush(), "");
    EXPECT_EQ(sd.push('y'), "y");
}

TEST_F(StreamDecoderTest, ControlTokensFollowSpecialFlag) {
    StreamDecoder quiet(tok);
    EXPECT_EQ(quiet.push(test::kEotId), "");
    StreamDecoder loud(tok, true);
    EXPECT_EQ(loud.push(test::kEotId), "<|eot_id|>");
}

TEST_F(StreamDecoderTest, NeverEmitsBrokenUtf8) {
    const std::string text = "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80\xF0\x9F\x91\x8D!";
    StreamDecoder sd(tok);
    std::string all;
    for (int32_t id : tok.encode(text, false)) {
        const std::string piece = sd.push(id);
        EXPECT_TRUE(is_valid_utf8(piece)) << "after id " << id;
        all += piece;
    }
    all += sd.flush();
    EXPECT_EQ(all, text);
}

} // namespace
} // namespace bitnet::tokenizer
