#include "tokenizer/utf8.hpp"

namespace bitnet::tokenizer::utf8 {

namespace {

// The accepted range of the second byte depends on the lead byte (Unicode 15, table 3-7);
// this is what rules out overlongs, surrogates and code points above U+10FFFF.
struct LeadInfo {
    uint8_t len;      // total sequence length, 0 = not a lead byte
    uint8_t lo, hi;   // accepted range of the second byte
};

LeadInfo lead_info(uint8_t b) {
    if (b < 0x80) return {1, 0, 0};
    if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
    if (b == 0xE0) return {3, 0xA0, 0xBF};
    if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {3, 0x80, 0xBF};
    if (b == 0xED) return {3, 0x80, 0x9F};
    if (b == 0xF0) return {4, 0x90, 0xBF};
    if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
    if (b == 0xF4) return {4, 0x80, 0x8F};
    return {0, 0, 0};
}

// Number of bytes from s[i] that agree with a well-formed sequence (up to its full length).
size_t matching_prefix(std::string_view s, size_t i, const LeadInfo& li) {
    if (li.len == 0) return 0;
    size_t n = 1;
    while (n < li.len && i + n < s.size()) {
        const auto b = static_cast<uint8_t>(s[i + n]);
        const bool ok = n == 1 ? (b >= li.lo && b <= li.hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok) break;
        ++n;
    }
    return n;
}

} // namespace

void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

size_t valid_len(std::string_view s, size_t i) {
    const LeadInfo li = lead_info(static_cast<uint8_t>(s[i]));
    return matching_prefix(s, i, li) == li.len ? li.len : 0;
}

size_t maximal_subpart(std::string_view s, size_t i) {
    const LeadInfo li = lead_info(static_cast<uint8_t>(s[i]));
    const size_t n = matching_prefix(s, i, li);
    return n == 0 ? 1 : n;
}

char32_t decode_at(std::string_view s, size_t i, size_t len) {
    static constexpr uint8_t kLeadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    char32_t cp = static_cast<uint8_t>(s[i]) & kLeadMask[len];
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
    return cp;
}

size_t sanitize(std::string_view s, std::string& out, bool keep_incomplete_tail) {
    out.reserve(out.size() + s.size());
    size_t i = 0;
    while (i < s.size()) {
        if (const size_t len = valid_len(s, i); len != 0) {
            out.append(s.substr(i, len));
            i += len;
            continue;
        }
        const size_t part = maximal_subpart(s, i);
        if (keep_incomplete_tail && i + part == s.size() && lead_info(static_cast<uint8_t>(s[i])).len > part)
            return part;
        append(out, U'\uFFFD');
        i += part;
    }
    return 0;
}

} // namespace bitnet::tokenizer::utf8
