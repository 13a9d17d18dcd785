// The one thread pool all plugins share (no oversubscription): `-t N` threads in total, the
// calling thread being one of them. A parallel region costs a few hundred nanoseconds because
// workers spin briefly on a generation counter before sleeping: decode runs hundreds of small
// regions per token, and a condition-variable wake-up per region would cost milliseconds.
//
// A region is cut into parts() parts, a few per thread, which the threads claim one at a time,
// and it ends when every part is done, not when every worker has checked in: a thread slowed
// down or descheduled (a noisy neighbour on its core) holds a region up by at most the part it
// is in, and a worker that wakes too late for a region simply finds no part left. Kernels split
// their work by (part, parts) exactly as they would by (thread, threads).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace bitnet {

class ThreadPool {
public:
    using Task = void (*)(void* user, int32_t ith, int32_t nth);

    // n_threads >= 1; n_threads - 1 workers are started. parts_per_thread: 0 takes the default
    // (BITNET_PARTS_PER_THREAD, else kDefaultPartsPerThread); one thread always runs one part.
    explicit ThreadPool(int n_threads, int parts_per_thread = 0);
    ~ThreadPool(); // joins every worker
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    static constexpr int kDefaultPartsPerThread = 4;

    int size() const { return n_threads_; }   // threads, the caller included
    int parts() const { return n_parts_; }    // the n of task(user, i, n)

    // Runs task(user, i, n) for every i in [0, n = parts()) and returns when all have finished;
    // each part runs once, on whichever thread claims it (the caller takes part in). A call made
    // from inside a task (nested) runs all parts inline. Calls from different threads are serialized.
    void run(Task task, void* user);

    // Default thread count: the hardware concurrency, at least 1.
    static int default_threads();

private:
    void worker_main();
    // Claims and runs parts of the current region until none is left.
    void run_parts();

    int n_threads_, n_parts_;
    std::vector<std::thread> workers_;
    // (region generation << 32) | next unclaimed part. Claims past the last part only push the
    // low half further (a region resets it); a late worker's claim lands in whichever region is
    // current and is a valid claim there.
    std::atomic<uint64_t> claim_{0};
    std::atomic<int> done_{0};            // parts of the current region finished
    std::atomic<uint32_t> generation_{0}; // what workers wait on
    std::atomic<bool> stop_{false};
    std::atomic<bool> busy_{false};
    Task task_ = nullptr;
    void* user_ = nullptr;
};

} // namespace bitnet
