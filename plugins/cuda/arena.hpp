// Device memory for the plugin's allocations, carved out of one reserved virtual address range
// that is backed by physical memory on demand (the driver's virtual memory management API).
//
// Why: cudaMalloc rounds every allocation up to its 2 MiB page granularity, and a model is ~210
// separately packed tensors of 0.4–4.4 MB plus ~70 small buffers: on the 2B-4T shape that rounding
// alone cost ~170 MiB of VRAM beyond weights + KV cache. Here allocations are packed at 256-byte
// alignment and only the arena's high-water mark is rounded to the granularity.
//
// Allocation is first-fit over freed ranges, then bump at the top; freeing coalesces neighbours
// and gives physical memory above the new top back to the driver. Not thread-safe: the caller
// (device.cpp) holds the plugin's mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bitnet::cuda {

class Arena {
public:
    Arena();
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // Reserves address space for up to `capacity` bytes on `device`. False, with `why` set, when
    // the driver lacks virtual memory management (the caller then uses cudaMalloc).
    bool init(int device, size_t capacity, std::string& why) noexcept;
    bool ready() const { return base_ != 0; }

    // 256-byte aligned memory, or nullptr when the reserve or the device is exhausted.
    void* alloc(size_t bytes) noexcept;
    // True when `ptr` came from alloc() (and is now free); false leaves it to the caller.
    bool free(void* ptr) noexcept;
    // Physical bytes currently mapped.
    size_t mapped() const { return mapped_; }

private:
    struct Driver;
    struct Chunk {
        size_t offset, bytes;
        unsigned long long handle;
    };
    bool grow(size_t top) noexcept;  // map physical memory until mapped_ >= top
    void shrink() noexcept;          // unmap chunks wholly above top_
    void release_all() noexcept;

    std::unique_ptr<Driver> drv_;
    int device_ = 0;
    uintptr_t base_ = 0;
    size_t reserved_ = 0, granularity_ = 0, top_ = 0, mapped_ = 0;
    std::vector<Chunk> chunks_;      // in address order, covering [0, mapped_)
    std::map<size_t, size_t> free_;  // offset -> bytes, every range below top_
    std::map<size_t, size_t> live_;  // offset -> bytes
};

} // namespace bitnet::cuda
