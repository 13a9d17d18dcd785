// Memory for weights a kernel repacked at load (pack_weights). A decode step streams every packed
// weight, so the memory is in 2 MiB pages where the kernel grants them: on 4 KiB pages the TLB
// misses halved a GEMV's rate against the same kernel on the file's pages (which the page cache
// maps as large folios). Weights are carved one after another out of large chunks, because a
// 2 MiB page per weight would round each of the 2B-4T model's 0.4 MiB K/V matrices up to 2 MiB
// (+270 MiB resident over the model). A chunk is freed when the last weight in it is released.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace bitnet::x86 {

class PackArena {
public:
    PackArena() = default;
    PackArena(const PackArena&) = delete;
    PackArena& operator=(const PackArena&) = delete;
    ~PackArena() {
        for (Chunk& c : chunks_) std::free(c.base);
    }

    // 64-byte aligned, or nullptr when memory is short. Thread-safe.
    void* allocate(size_t bytes) noexcept {
        const size_t need = (bytes + 63) / 64 * 64;
        std::lock_guard<std::mutex> lock(mu_);
        if (chunks_.empty() || chunks_.back().size - chunks_.back().used < need) {
            const size_t size = need > kChunk ? (need + kHuge - 1) / kHuge * kHuge : kChunk;
            void* base = std::aligned_alloc(kHuge, size);
            if (base == nullptr) return nullptr;
            ::madvise(base, size, MADV_HUGEPAGE); // advice only: 4 KiB pages if refused
            try {
                chunks_.push_back({static_cast<uint8_t*>(base), size, 0, 0});
            } catch (...) {
                std::free(base);
                return nullptr;
            }
        }
        Chunk& c = chunks_.back();
        void* p = c.base + c.used;
        c.used += need;
        ++c.live;
        return p;
    }

    // Gives back what allocate returned (nullptr: nothing).
    void release(void* p) noexcept {
        if (p == nullptr) return;
        std::lock_guard<std::mutex> lock(mu_);
        for (size_t i = 0; i < chunks_.size(); ++i) {
            Chunk& c = chunks_[i];
            if (static_cast<uint8_t*>(p) < c.base || static_cast<uint8_t*>(p) >= c.base + c.size) continue;
            if (--c.live == 0) {
                std::free(c.base);
                chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(i));
            }
            return;
        }
    }

private:
    static constexpr size_t kHuge = size_t{2} << 20;
    static constexpr size_t kChunk = size_t{64} << 20;
    struct Chunk {
        uint8_t* base;
        size_t size, used, live;
    };
    std::mutex mu_;
    std::vector<Chunk> chunks_;
};

// The plugin's arena: every weight it packed (one per plugin, shared object by shared object).
inline PackArena& packed_memory() noexcept {
    static PackArena arena;
    return arena;
}

// release_packed for every kernel whose pack_weights allocated from packed_memory().
inline void release_packed(void*, void* packed) noexcept { packed_memory().release(packed); }

} // namespace bitnet::x86
