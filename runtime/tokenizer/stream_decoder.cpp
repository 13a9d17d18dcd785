#include "tokenizer/tokenizer.hpp"

#include "tokenizer/utf8.hpp"

namespace bitnet::tokenizer {

// Byte-level tokens often end in the middle of a character (a CJK character or emoji can span
// two or three tokens), so the unfinished tail waits for the next token instead of reaching the
// user as garbage. Bytes that can never become valid are replaced at once.
std::string StreamDecoder::push(int32_t id) {
    pending_ += tok_->token_bytes(id, special_);
    std::string out;
    const size_t held = utf8::sanitize(pending_, out, /*keep_incomplete_tail=*/true);
    pending_.erase(0, pending_.size() - held);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    utf8::sanitize(pending_, out, /*keep_incomplete_tail=*/false);
    pending_.clear();
    return out;
}

} // namespace bitnet::tokenizer
