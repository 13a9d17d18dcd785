// GPT-2 byte-level alphabet: every byte maps to one printable code point so that BPE tokens are
// ordinary strings (e.g. ' ' -> 'Ġ', '\n' -> 'Ċ').
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace bitnet::tokenizer::byte_level {

// The byte-level string for raw bytes.
std::string encode(std::string_view bytes);
// The byte-level string of a single byte (one code point, 1 or 2 UTF-8 bytes).
const std::string& byte_string(unsigned char b);
// Raw bytes of a byte-level string. A code point outside the alphabet is kept as its own UTF-8
// (tokens added by hand are not always byte-level encoded).
std::string decode(std::string_view text);

} // namespace bitnet::tokenizer::byte_level
