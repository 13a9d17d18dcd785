#include "dispatch/scratch.hpp"

#include <cstdlib>
#include <new>

namespace bitnet {

void Scratch::Free::operator()(void* p) const noexcept { std::free(p); }

void* Scratch::get(size_t bytes) {
    if (bytes <= size_ && mem_) return mem_.get();
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p == nullptr) throw std::bad_alloc();
    mem_.reset(p);
    size_ = rounded;
    return p;
}

} // namespace bitnet
