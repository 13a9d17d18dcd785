// Finds special-token text (e.g. "<|eot_id|>") in raw input, so it can be cut out before the
// pre-tokenizer sees it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::tokenizer {

class SpecialMatcher {
public:
    // `always`: matched even when special parsing is off (HF's non-special added tokens).
    void add(std::string text, int32_t id, bool always);
    // Call once after the last add().
    void finish();

    struct Hit {
        size_t len;
        int32_t id;
    };
    // The longest token whose text starts at text[pos], or len 0.
    Hit match_at(std::string_view text, size_t pos, bool parse_special) const;
    bool may_start(unsigned char c) const { return !buckets_[c].empty(); }
    bool empty() const { return count_ == 0; }

private:
    struct Entry {
        std::string text;
        int32_t id;
        bool always;
    };
    // Bucketed by first byte, each bucket longest first, so the first hit is the longest match.
    std::array<std::vector<Entry>, 256> buckets_;
    size_t count_ = 0;
};

} // namespace bitnet::tokenizer
