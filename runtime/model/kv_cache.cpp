#include "model/kv_cache.hpp"

#include <new>
#include <stdexcept>
#include <string>
#include <sys/mman.h>

namespace bitnet::model {

KvCache::KvCache(int32_t n_layer, int32_t n_ctx, int32_t n_kv_heads, int32_t head_dim, bool head_major, int32_t n_seq,
                 const bitnet_device_iface* device, void* plugin)
    : n_ctx_(n_ctx), width_(n_kv_heads * head_dim), n_seq_(n_seq),
      layout_{head_major ? head_dim : width_, head_dim, head_major ? int64_t(n_ctx) * head_dim : 0},
      bytes_(bytes_for(n_layer, n_ctx, width_, n_seq)), device_(device), plugin_(plugin) {
    // K then V per layer, so one layer's cache is contiguous.
    if (device_ != nullptr) {
        void* p = nullptr;
        if (device_->alloc(plugin_, bytes_ == 0 ? 1 : bytes_, &p) != BITNET_OK || p == nullptr)
            throw std::runtime_error("device memory for the KV cache (" + std::to_string(bytes_ >> 20) +
                                     " MiB) could not be allocated");
        base_ = static_cast<uint16_t*>(p);
        return;
    }
    void* p = ::mmap(nullptr, bytes_ == 0 ? 1 : bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<uint16_t*>(p);
}

KvCache::~KvCache() {
    if (device_ != nullptr) device_->free(plugin_, base_);
    else ::munmap(base_, bytes_ == 0 ? 1 : bytes_);
}

} // namespace bitnet::model
