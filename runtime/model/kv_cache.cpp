#include "model/kv_cache.hpp"

#include "formats/formats.hpp"

namespace bitnet::model {

KvCache::KvCache(int32_t n_layer, int32_t n_ctx, int32_t kv_width)
    : n_ctx_(n_ctx), width_(kv_width), k_(size_t(n_layer) * n_ctx * kv_width), v_(k_.size()) {}

void KvCache::store(int32_t layer, int32_t pos0, int32_t m, const float* k_rows, const float* v_rows, int32_t ld) {
    uint16_t* kd = k(layer) + size_t(pos0) * width_;
    uint16_t* vd = v(layer) + size_t(pos0) * width_;
    for (int32_t t = 0; t < m; ++t) {
        for (int32_t i = 0; i < width_; ++i) {
            kd[size_t(t) * width_ + i] = formats::f32_to_fp16(k_rows[size_t(t) * ld + i]);
            vd[size_t(t) * width_ + i] = formats::f32_to_fp16(v_rows[size_t(t) * ld + i]);
        }
    }
}

} // namespace bitnet::model
