// Measures this machine's memory read bandwidth with the runtime's own thread pool, so a
// benchmark can state its throughput as a fraction of what memory allows in the same run.
#pragma once

#include <cstddef>

namespace bitnet {

class ThreadPool;

struct BandwidthResult {
    double gb_per_s = 0;   // best of the repetitions (decimal GB/s)
    size_t bytes = 0;      // buffer size streamed per repetition
};

// Streams a `bytes`-sized buffer `reps` times, split over the pool. The default is 2 GiB because
// some virtual machines report a last-level cache of hundreds of MB (a 512 MiB buffer read here at
// twice the DRAM rate).
BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t(2048) << 20, int reps = 4);

} // namespace bitnet
