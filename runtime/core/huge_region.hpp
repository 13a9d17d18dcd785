// Anonymous memory for large buffers read in streams (the weights under --no-mmap, the bandwidth
// probe): placed at a 2 MiB boundary and advised for transparent huge pages, which cut the TLB
// misses of a streaming read. Advice only: without THP it is ordinary memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bitnet {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

struct HugeRegion {
    void* mapping = nullptr; // what munmap takes, with `length`; nullptr: mmap failed (errno says why)
    size_t length = 0;
    uint8_t* data = nullptr; // kHugePageBytes-aligned, `bytes` long, zero-filled, read-write
};

// Maps `bytes` of fresh memory as described above. The caller munmaps (mapping, length).
HugeRegion map_huge_region(size_t bytes);

} // namespace bitnet
