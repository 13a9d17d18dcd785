// The attention KV cache: F16, one K and one V block per layer, [n_ctx][n_kv_heads*head_dim],
// reserved once for a fixed context length. The memory is mapped lazily (anonymous mmap), so only
// positions actually written become resident: a 4096-position cache costs RSS for the tokens used.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bitnet::model {

class KvCache {
public:
    KvCache(int32_t n_layer, int32_t n_ctx, int32_t kv_width); // throws std::bad_alloc
    ~KvCache();
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    int32_t n_ctx() const { return n_ctx_; }
    int32_t width() const { return width_; }   // halves per position
    uint16_t* k(int32_t layer) { return base_ + size_t(2 * layer) * n_ctx_ * width_; }
    uint16_t* v(int32_t layer) { return base_ + size_t(2 * layer + 1) * n_ctx_ * width_; }
    // Bytes reserved (not necessarily resident).
    size_t bytes() const { return bytes_; }
    static size_t bytes_for(int32_t n_layer, int32_t n_ctx, int32_t kv_width) {
        return size_t(2) * n_layer * n_ctx * kv_width * sizeof(uint16_t);
    }

private:
    int32_t n_ctx_, width_;
    size_t bytes_;
    uint16_t* base_ = nullptr;
};

} // namespace bitnet::model
