// UTF-8 helpers shared by the byte-level mapping and the streaming decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bitnet::tokenizer::utf8 {

// Appends the UTF-8 form of code point `cp` (assumed valid).
void append(std::string& out, char32_t cp);

// Length of the well-formed sequence starting at s[i], or 0 when the bytes there are not a
// complete well-formed sequence (either invalid, or valid so far but cut off by the end of s).
// Uses the Unicode well-formedness table (no overlongs, no surrogates, nothing above U+10FFFF).
size_t valid_len(std::string_view s, size_t i);

// Length of the longest prefix of s[i..] that could still become a well-formed sequence if more
// bytes arrived ("maximal subpart"); at least 1. Equals the full length for valid sequences.
size_t maximal_subpart(std::string_view s, size_t i);

// Decodes the well-formed sequence of length `len` at s[i].
char32_t decode_at(std::string_view s, size_t i, size_t len);

// Copies s to out with every ill-formed maximal subpart replaced by U+FFFD (as Python's
// errors="replace" and WHATWG do). When `keep_incomplete_tail` is true, a trailing sequence that
// is merely unfinished is not replaced; its length is returned so the caller can hold it back.
size_t sanitize(std::string_view s, std::string& out, bool keep_incomplete_tail);

} // namespace bitnet::tokenizer::utf8
