#include "model/kv_cache.hpp"

#include <new>
#include <sys/mman.h>

namespace bitnet::model {

KvCache::KvCache(int32_t n_layer, int32_t n_ctx, int32_t kv_width)
    : n_ctx_(n_ctx), width_(kv_width), bytes_(bytes_for(n_layer, n_ctx, kv_width)) {
    // K then V per layer, so one layer's cache is contiguous.
    void* p = ::mmap(nullptr, bytes_ == 0 ? 1 : bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<uint16_t*>(p);
}

KvCache::~KvCache() { ::munmap(base_, bytes_ == 0 ? 1 : bytes_); }

} // namespace bitnet::model
