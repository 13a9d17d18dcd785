// The one thread pool all plugins share (no oversubscription): `-t N` threads in total, the
// calling thread being one of them. A parallel region costs a few hundred nanoseconds because
// workers spin briefly on a generation counter before sleeping: decode runs hundreds of small
// regions per token, and a condition-variable wake-up per region would cost milliseconds.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace bitnet {

class ThreadPool {
public:
    using Task = void (*)(void* user, int32_t ith, int32_t nth);

    explicit ThreadPool(int n_threads); // n_threads >= 1; n_threads - 1 workers are started
    ~ThreadPool();                      // joins every worker
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Runs task(user, i, n) for every i in [0, n) and returns when all have finished. Task 0 runs
    // on the calling thread. A call made from inside a task (nested) runs all parts inline.
    // Calls from different threads are serialized.
    void run(Task task, void* user);

    // Default thread count: the hardware concurrency, at least 1.
    static int default_threads();

private:
    void worker_main(int ith);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    std::atomic<bool> busy_{false};
    Task task_ = nullptr;
    void* user_ = nullptr;
};

} // namespace bitnet
