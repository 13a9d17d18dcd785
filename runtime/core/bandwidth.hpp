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

// Streams a `bytes`-sized buffer (far larger than the caches) `reps` times, split over the pool.
BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t(512) << 20, int reps = 5);

} // namespace bitnet
