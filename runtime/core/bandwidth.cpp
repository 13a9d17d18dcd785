#include "core/bandwidth.hpp"

#include "core/huge_region.hpp"
#include "core/thread_pool.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <functional>
#include <new>

#include <sys/mman.h>

namespace bitnet {

namespace {
struct Ctx {
    const uint64_t* data;
    size_t n;
    uint64_t sink[64];
};
} // namespace

BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t bytes, int reps) {
    const size_t n = bytes / sizeof(uint64_t) / 64 * 64;
    // In 2 MiB pages where the system allows (as the weights are: gguf::File maps them so, or
    // --no-mmap copies them so): a streaming read over 4 KiB pages measured 3-8 % slower here,
    // and the roofline is what memory can do, not what small pages let through.
    const HugeRegion region = map_huge_region(n * 8);
    if (region.mapping == nullptr) throw std::bad_alloc();
    const std::unique_ptr<void, std::function<void(void*)>> hold(region.mapping,
                                                                 [len = region.length](void* p) { ::munmap(p, len); });
    Ctx ctx{reinterpret_cast<const uint64_t*>(region.data), n, {}};
    // Touch every page first (and let each thread touch the part it will read).
    pool.run([](void* u, int32_t ith, int32_t nth) {
        auto* c = static_cast<Ctx*>(u);
        const size_t b = c->n * ith / nth, e = c->n * (ith + 1) / nth;
        auto* d = const_cast<uint64_t*>(c->data);
        for (size_t i = b; i < e; ++i) d[i] = i;
    }, &ctx);
    double best = 0;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        pool.run([](void* u, int32_t ith, int32_t nth) {
            auto* c = static_cast<Ctx*>(u);
            const size_t b = c->n * ith / nth / 8 * 8, e = c->n * (ith + 1) / nth / 8 * 8;
            // Eight independent accumulators so the loop is bound by loads, not by an add chain.
            uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
            for (size_t i = b; i < e; i += 8) {
                a0 += c->data[i]; a1 += c->data[i + 1]; a2 += c->data[i + 2]; a3 += c->data[i + 3];
                a4 += c->data[i + 4]; a5 += c->data[i + 5]; a6 += c->data[i + 6]; a7 += c->data[i + 7];
            }
            c->sink[ith % 64] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
        }, &ctx);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, double(n * 8) / s / 1e9);
    }
    return {best, n * 8};
}

} // namespace bitnet
