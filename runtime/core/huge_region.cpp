#include "core/huge_region.hpp"

#include <sys/mman.h>

namespace bitnet {

HugeRegion map_huge_region(size_t bytes) {
    HugeRegion r;
    const size_t len = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes + kHugePageBytes; // room to align
    void* raw = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return r;
    r.mapping = raw;
    r.length = len;
    r.data = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes);
    ::madvise(r.data, bytes, MADV_HUGEPAGE); // advice only
    return r;
}

} // namespace bitnet
