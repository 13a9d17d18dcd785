#include "tokenizer/special_tokens.hpp"

#include <algorithm>

namespace bitnet::tokenizer {

void SpecialMatcher::add(std::string text, int32_t id, bool always) {
    if (text.empty()) return;
    auto& bucket = buckets_[static_cast<unsigned char>(text[0])];
    bucket.push_back({std::move(text), id, always});
    ++count_;
}

void SpecialMatcher::finish() {
    for (auto& bucket : buckets_) {
        // Stable so that, of two tokens with the same text, the lower id wins.
        std::stable_sort(bucket.begin(), bucket.end(),
                         [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });
    }
}

SpecialMatcher::Hit SpecialMatcher::match_at(std::string_view text, size_t pos, bool parse_special) const {
    const auto& bucket = buckets_[static_cast<unsigned char>(text[pos])];
    const std::string_view rest = text.substr(pos);
    for (const Entry& e : bucket) {
        if (!parse_special && !e.always) continue;
        if (rest.starts_with(e.text)) return {e.text.size(), e.id};
    }
    return {0, 0};
}

} // namespace bitnet::tokenizer
