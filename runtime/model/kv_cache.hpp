// The attention KV cache: F16, one K and one V block per layer, [n_ctx][n_kv_heads*head_dim],
// allocated once for a fixed context length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bitnet::model {

class KvCache {
public:
    KvCache(int32_t n_layer, int32_t n_ctx, int32_t kv_width);
    int32_t n_ctx() const { return n_ctx_; }
    int32_t width() const { return width_; }   // halves per position
    uint16_t* k(int32_t layer) { return k_.data() + size_t(layer) * n_ctx_ * width_; }
    uint16_t* v(int32_t layer) { return v_.data() + size_t(layer) * n_ctx_ * width_; }
    // Converts rows of f32 K/V (row stride ld floats) to F16 at positions pos0.. of `layer`.
    void store(int32_t layer, int32_t pos0, int32_t m, const float* k_rows, const float* v_rows, int32_t ld);
    size_t bytes() const { return (k_.size() + v_.size()) * sizeof(uint16_t); }
    static size_t bytes_for(int32_t n_layer, int32_t n_ctx, int32_t kv_width) {
        return size_t(2) * n_layer * n_ctx * kv_width * sizeof(uint16_t);
    }

private:
    int32_t n_ctx_, width_;
    std::vector<uint16_t> k_, v_;
};

} // namespace bitnet::model
