// Grow-only, 64-byte aligned host scratch memory: sized once for the largest request, then reused,
// so the decode path never allocates.
#pragma once

#include <cstddef>
#include <memory>

namespace bitnet {

class Scratch {
public:
    // A buffer of at least `bytes` (64-byte aligned); invalidates earlier pointers when it grows.
    void* get(size_t bytes);
    size_t capacity() const { return size_; }
private:
    struct Free { void operator()(void* p) const noexcept; };
    std::unique_ptr<void, Free> mem_;
    size_t size_ = 0;
};

} // namespace bitnet
