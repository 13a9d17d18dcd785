#include "tokenizer/bpe.hpp"

#include "tokenizer/byte_level.hpp"
#include "tokenizer/tokenizer.hpp"

#include <cstdio>
#include <queue>

namespace bitnet::tokenizer {

BpeModel::BpeModel(const TextIndex& index, const std::vector<std::string>& merges) {
    for (int b = 0; b < 256; ++b) {
        auto it = index.find(byte_level::byte_string(static_cast<unsigned char>(b)));
        byte_token_[b] = it == index.end() ? -1 : it->second;
    }
    merges_.reserve(merges.size());
    std::string joined;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const std::string& m = merges[rank];
        // Byte-level tokens never contain a raw space, so the first space after the first
        // character separates the parts.
        const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
        if (sp == std::string::npos || sp + 1 >= m.size())
            throw TokenizerError("merge " + std::to_string(rank) + " ('" + m + "') is not of the form 'left right'");
        const std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
        joined.assign(left);
        joined.append(right);
        auto l = index.find(left), r = index.find(right), res = index.find(joined);
        if (l == index.end() || r == index.end() || res == index.end()) {
            ++skipped_;
            continue;
        }
        // A repeated pair keeps its first (best) rank, as HF does.
        merges_.try_emplace(key(l->second, r->second), Merge{static_cast<int32_t>(rank), res->second});
    }
}

void BpeModel::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
    if (bytes.empty()) return;
    // A doubly linked list of symbols; merged-away symbols get id -1.
    struct Sym {
        int32_t id, prev, next;
    };
    std::vector<Sym> syms;
    syms.reserve(bytes.size());
    for (size_t i = 0; i < bytes.size(); ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        if (byte_token_[b] < 0) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", b);
            throw TokenizerError(std::string("byte ") + hex + " has no token in this vocabulary");
        }
        syms.push_back({byte_token_[b], static_cast<int32_t>(i) - 1, static_cast<int32_t>(i + 1)});
    }
    syms.back().next = -1;

    // Candidates are checked when popped rather than removed when they go stale; lowest rank
    // first, leftmost on ties, which is the order HF and tiktoken merge in.
    struct Cand {
        int32_t rank, left, right, left_id, right_id, result;
        bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<>> queue;
    auto consider = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        if (auto it = merges_.find(key(syms[l].id, syms[r].id)); it != merges_.end())
            queue.push({it->second.rank, l, r, syms[l].id, syms[r].id, it->second.result});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i) consider(i, i + 1);

    while (!queue.empty()) {
        const Cand c = queue.top();
        queue.pop();
        Sym& l = syms[c.left];
        if (l.id != c.left_id || l.next != c.right || syms[c.right].id != c.right_id) continue;
        Sym& r = syms[c.right];
        l.id = c.result;
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = c.left;
        r.id = -1;
        consider(l.prev, c.left);
        consider(c.left, l.next);
    }
    for (int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

} // namespace bitnet::tokenizer
