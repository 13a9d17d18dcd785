#include "tokenizer/byte_level.hpp"

#include "tokenizer/utf8.hpp"

#include <cstdint>

namespace bitnet::tokenizer::byte_level {

namespace {

struct Tables {
    std::array<char32_t, 256> to_cp{};
    std::array<std::string, 256> to_str;
    // Inverse of to_cp; the alphabet ends at U+0143, so a flat table covers it.
    static constexpr char32_t kEnd = 0x144;
    std::array<int16_t, kEnd> to_byte;

    Tables() {
        // Printable Latin-1 bytes stand for themselves; the rest (controls, space, soft hyphen...)
        // are moved, in byte order, to U+0100 and up. This is the table GPT-2 defined.
        auto printable = [](int b) {
            return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        };
        to_byte.fill(-1);
        char32_t next = 0x100;
        for (int b = 0; b < 256; ++b) {
            to_cp[b] = printable(b) ? static_cast<char32_t>(b) : next++;
            utf8::append(to_str[b], to_cp[b]);
            to_byte[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

} // namespace

const std::string& byte_string(unsigned char b) { return tables().to_str[b]; }

std::string encode(std::string_view bytes) {
    const Tables& t = tables();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) out += t.to_str[static_cast<unsigned char>(c)];
    return out;
}

std::string decode(std::string_view text) {
    const Tables& t = tables();
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        const size_t len = utf8::valid_len(text, i);
        if (len == 0) {  // not UTF-8 at all: pass the byte through untouched
            out.push_back(text[i++]);
            continue;
        }
        const char32_t cp = utf8::decode_at(text, i, len);
        if (cp < Tables::kEnd && t.to_byte[cp] >= 0)
            out.push_back(static_cast<char>(t.to_byte[cp]));
        else
            out.append(text.substr(i, len));
        i += len;
    }
    return out;
}

} // namespace bitnet::tokenizer::byte_level
