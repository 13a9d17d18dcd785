// Byte-pair merging of one pre-tokenized piece, by merge rank, on token ids.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bitnet::tokenizer {

// Token text -> id with string_view lookups (no temporary strings on the hot path).
struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using TextIndex = std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>>;

class BpeModel {
public:
    // `merges` are "left right" byte-level strings in rank order. Merges whose parts or result are
    // not in the vocabulary are skipped (truncated vocabularies keep only the merges they can use).
    // Throws TokenizerError on a line that is not two space-separated parts.
    BpeModel(const TextIndex& index, const std::vector<std::string>& merges);

    // Appends the ids of one piece given as raw bytes. Throws TokenizerError when a byte has no
    // token of its own (the vocabulary is not byte-level complete).
    void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;

    size_t n_merges() const { return merges_.size(); }
    size_t n_skipped() const { return skipped_; }

private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    static uint64_t key(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
    std::array<int32_t, 256> byte_token_{};
    std::unordered_map<uint64_t, Merge> merges_;
    size_t skipped_ = 0;
};

} // namespace bitnet::tokenizer
