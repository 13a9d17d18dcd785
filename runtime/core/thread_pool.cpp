#include "core/thread_pool.hpp"

#include <algorithm>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BITNET_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define BITNET_CPU_RELAX() asm volatile("yield")
#else
#define BITNET_CPU_RELAX() ((void)0)
#endif

namespace bitnet {

namespace {
thread_local bool tl_inside_task = false;
// Spin this many iterations before blocking: long enough to cover the gap between two kernels of
// one decode step, short enough not to burn a core between tokens.
constexpr int kSpinIterations = 1 << 14;
} // namespace

int ThreadPool::default_threads() {
    return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int n_threads, int parts_per_thread) : n_threads_(std::max(1, n_threads)) {
    if (parts_per_thread <= 0) {
        const char* env = std::getenv("BITNET_PARTS_PER_THREAD");
        parts_per_thread = env != nullptr ? std::clamp(std::atoi(env), 1, 64) : kDefaultPartsPerThread;
    }
    n_parts_ = n_threads_ == 1 ? 1 : n_threads_ * parts_per_thread;
    workers_.reserve(n_threads_ - 1);
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_main(); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_parts() {
    tl_inside_task = true;
    // A claim is one fetch_add: the returned generation names the region the part belongs to, and
    // task_/user_ were published before that region's claim_ store, which this read follows. The
    // region cannot advance while this thread holds a part it has not counted in done_, so every
    // part claimed in this loop belongs to the same region; the finished ones are counted once.
    int finished = 0;
    for (;;) {
        const uint64_t c = claim_.fetch_add(1, std::memory_order_acq_rel);
        const auto part = static_cast<uint32_t>(c);
        if (part >= static_cast<uint32_t>(n_parts_)) break;
        task_(user_, static_cast<int32_t>(part), n_parts_);
        ++finished;
    }
    if (finished > 0) done_.fetch_add(finished, std::memory_order_acq_rel);
    tl_inside_task = false;
}

void ThreadPool::run(Task task, void* user) {
    if (tl_inside_task || n_threads_ == 1) {
        for (int i = 0; i < n_parts_; ++i) task(user, i, n_parts_);
        return;
    }
    // Serialize concurrent callers: the pool runs one region at a time.
    while (busy_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
    task_ = task;
    user_ = user;
    done_.store(0, std::memory_order_relaxed);
    const uint32_t gen = static_cast<uint32_t>(claim_.load(std::memory_order_relaxed) >> 32) + 1;
    claim_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();

    run_parts();
    for (int spins = 0; done_.load(std::memory_order_acquire) != n_parts_; ++spins) {
        if (spins < kSpinIterations) BITNET_CPU_RELAX();
        else std::this_thread::yield();
    }
    busy_.store(false, std::memory_order_release);
}

void ThreadPool::worker_main() {
    // Not generation_.load(): a region may already have been posted before this thread started.
    uint32_t seen = 0;
    for (;;) {
        uint32_t now = generation_.load(std::memory_order_acquire);
        for (int spins = 0; now == seen && spins < kSpinIterations; ++spins) {
            BITNET_CPU_RELAX();
            now = generation_.load(std::memory_order_acquire);
        }
        if (now == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            continue;
        }
        seen = now;
        if (stop_.load(std::memory_order_acquire)) return;
        // Whatever region is current now (this wake-up may be for an older one).
        run_parts();
    }
}

} // namespace bitnet
