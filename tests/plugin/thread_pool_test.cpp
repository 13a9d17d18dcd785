#include "core/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using bitnet::ThreadPool;

TEST(ThreadPool, EveryPartRunsExactlyOnce) {
    for (int n : {1, 2, 3, 5}) {
        ThreadPool pool(n);
        ASSERT_EQ(pool.size(), n);
        ASSERT_EQ(pool.parts(), n == 1 ? 1 : n * ThreadPool::kDefaultPartsPerThread);
        const int parts = pool.parts();
        for (int round = 0; round < 200; ++round) {
            std::vector<std::atomic<int>> hits(parts);
            struct Ctx { std::vector<std::atomic<int>>* hits; std::atomic<int> nth_seen{0}; } ctx{&hits};
            pool.run([](void* u, int32_t ith, int32_t nth) {
                auto* c = static_cast<Ctx*>(u);
                (*c->hits)[ith].fetch_add(1);
                c->nth_seen.store(nth);
            }, &ctx);
            for (int i = 0; i < parts; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " part " << i;
            ASSERT_EQ(ctx.nth_seen.load(), parts);
        }
    }
}

// Parts are claimed, not assigned: while one thread is stuck in part 0, the other threads run
// every other part (with parts dealt out per thread, part 0's thread would own some of them and
// this would time out).
TEST(ThreadPool, OtherThreadsTakeOverAStuckThreadsParts) {
    ThreadPool pool(2);
    struct Ctx {
        std::atomic<int> done{0};
        std::atomic<bool> timed_out{false};
    } ctx;
    pool.run([](void* u, int32_t ith, int32_t nth) {
        auto* c = static_cast<Ctx*>(u);
        if (ith == 0) {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            while (c->done.load() < nth - 1)
                if (std::chrono::steady_clock::now() > deadline) {
                    c->timed_out = true;
                    break;
                } else {
                    std::this_thread::sleep_for(std::chrono::microseconds(100));
                }
        }
        c->done.fetch_add(1);
    }, &ctx);
    EXPECT_FALSE(ctx.timed_out.load());
    EXPECT_EQ(ctx.done.load(), pool.parts());
}

TEST(ThreadPool, NestedRegionRunsInline) {
    ThreadPool pool(2, 1);
    std::atomic<int> inner{0};
    struct Ctx { ThreadPool* pool; std::atomic<int>* inner; } ctx{&pool, &inner};
    pool.run([](void* u, int32_t, int32_t) {
        auto* c = static_cast<Ctx*>(u);
        c->pool->run([](void* v, int32_t, int32_t) { static_cast<std::atomic<int>*>(v)->fetch_add(1); }, c->inner);
    }, &ctx);
    // Each of the 2 outer parts ran the 2 inner parts inline.
    EXPECT_EQ(inner.load(), 4);
}

TEST(ThreadPool, SumsMatchSerial) {
    ThreadPool pool(2, 1);
    std::vector<double> data(100001);
    for (size_t i = 0; i < data.size(); ++i) data[i] = double(i % 97);
    struct Ctx { const std::vector<double>* d; double part[2]; } ctx{&data, {0, 0}};
    pool.run([](void* u, int32_t ith, int32_t nth) {
        auto* c = static_cast<Ctx*>(u);
        const size_t n = c->d->size(), b = n * ith / nth, e = n * (ith + 1) / nth;
        double s = 0;
        for (size_t i = b; i < e; ++i) s += (*c->d)[i];
        c->part[ith] = s;
    }, &ctx);
    double serial = 0;
    for (double v : data) serial += v;
    EXPECT_DOUBLE_EQ(ctx.part[0] + ctx.part[1], serial);
}
