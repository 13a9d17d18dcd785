// bitnet_kernel_bench: every matmul kernel of scalar/avx2/avx512 on every signature of
// tests/kernels/kernel_signatures.hpp at full size, on 1 and 2 threads, reporting GB/s of weight
// bytes streamed per call; plus membw/*, a streaming read of 1 GiB, for the bandwidth ceiling.
// The host here is a persistent spinning pool (a real host's cost per parallel_for, not a thread
// start per call as in the tests' fixture).
#include "kernel_signatures.hpp"

#include "formats/formats.hpp"

#include <benchmark/benchmark.h>
#include <bitnet/plugin.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

namespace sig = bitnet::signatures;

// A pool of n-1 spinning workers plus the caller.
class SpinPool {
public:
    explicit SpinPool(int32_t n) : n_(n) {
        for (int32_t i = 1; i < n; ++i) workers_.emplace_back([this, i] { work(i); });
        api_.struct_size = sizeof(api_);
        api_.abi_version = BITNET_PLUGIN_ABI_VERSION;
        api_.host_ctx = this;
        api_.log = [](void*, bitnet_log_level, const char*) {};
        api_.parallel_for = [](void* ctx, bitnet_task_fn fn, void* user) { static_cast<SpinPool*>(ctx)->run(fn, user); };
        api_.n_threads = n;
    }
    ~SpinPool() {
        stop_.store(true);
        for (auto& w : workers_) w.join();
    }
    const bitnet_host_api* api() const { return &api_; }

private:
    void run(bitnet_task_fn fn, void* user) {
        fn_ = fn;
        user_ = user;
        pending_.store(n_ - 1, std::memory_order_relaxed);
        gen_.fetch_add(1, std::memory_order_release);
        fn(user, 0, n_);
        while (pending_.load(std::memory_order_acquire) != 0) __builtin_ia32_pause();
    }
    void work(int32_t i) {
        uint64_t seen = 0;
        while (!stop_.load(std::memory_order_relaxed)) {
            const uint64_t g = gen_.load(std::memory_order_acquire);
            if (g == seen) {
                __builtin_ia32_pause();
                continue;
            }
            seen = g;
            fn_(user_, i, n_);
            pending_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }
    int32_t n_;
    bitnet_host_api api_{};
    std::vector<std::thread> workers_;
    std::atomic<uint64_t> gen_{0};
    std::atomic<int32_t> pending_{0};
    std::atomic<bool> stop_{false};
    bitnet_task_fn fn_ = nullptr;
    void* user_ = nullptr;
};

const bitnet_plugin_descriptor* load(const std::string& name) {
    const std::string path = std::string(BITNET_BUILD_PLUGIN_DIR) + "/libbitnet-" + name + ".so";
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL); // kept loaded for the process
    if (h == nullptr) return nullptr;
    auto entry = reinterpret_cast<bitnet_plugin_entry_fn>(::dlsym(h, BITNET_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) return nullptr;
    const bitnet_plugin_descriptor* d = entry();
    char why[256];
    return d != nullptr && d->probe(why, sizeof why) != 0 ? d : nullptr;
}

// Inputs of one signature, made once and shared by every plugin and thread count.
struct Inputs {
    std::vector<uint8_t> w;
    float scale = 1.0f;
    std::vector<float> x;
    std::vector<int8_t> q;
    std::vector<float> qs;
    std::vector<float> y;
};

std::shared_ptr<Inputs> make_inputs(bitnet_weight_format wf, bitnet_act_type act, int32_t n, int32_t k, int32_t m) {
    auto in = std::make_shared<Inputs>();
    const auto type = bitnet::formats::type_info(wf)->type;
    in->w.resize(*bitnet::formats::tensor_bytes(type, k, n));
    std::mt19937 gen(1234);
    // Any bytes are valid ternary codes. Float blocks need finite scales: encode 64 rows and
    // repeat them (content does not change the timing; encoding the whole head would take long).
    if (sig::is_ternary(wf)) {
        for (auto& b : in->w) b = static_cast<uint8_t>(gen());
        in->scale = 0.5f;
    } else {
        const int32_t rows = std::min(n, 64);
        std::vector<float> src(static_cast<size_t>(rows) * k);
        std::normal_distribution<float> g(0.0f, 0.05f);
        for (auto& v : src) v = g(gen);
        const size_t rb = *bitnet::formats::row_bytes(type, k), chunk = rb * rows;
        bitnet::formats::quantize_float(type, src.data(), k, rows, in->w.data());
        for (size_t off = chunk; off < in->w.size(); off += chunk)
            std::memcpy(in->w.data() + off, in->w.data(), std::min(chunk, in->w.size() - off));
    }
    in->x.resize(static_cast<size_t>(m) * k);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : in->x) v = g(gen);
    if (act != BITNET_ACT_F32) {
        const int32_t per = act == BITNET_ACT_I8_B256 ? (k + 255) / 256 : 1;
        in->q.resize(static_cast<size_t>(m) * k);
        in->qs.resize(static_cast<size_t>(m) * per);
        for (int32_t i = 0; i < m; ++i) {
            if (act == BITNET_ACT_I8_B256) bitnet::formats::quantize_act_row_b256(&in->x[i * size_t(k)], k, &in->q[i * size_t(k)], &in->qs[i * per]);
            else bitnet::formats::quantize_act_row_i8(&in->x[i * size_t(k)], k, &in->q[i * size_t(k)], &in->qs[i]);
        }
    }
    in->y.resize(static_cast<size_t>(m) * n);
    return in;
}

// Inputs are made when a benchmark first runs (filtered-out ones cost nothing) and only the
// latest set is kept, so the 128256-row heads of several formats never coexist in memory.
std::shared_ptr<Inputs> inputs_for(bitnet_weight_format wf, bitnet_act_type act, int32_t n, int32_t k, int32_t m) {
    static std::tuple<int, int, int32_t, int32_t, int32_t> key{};
    static std::shared_ptr<Inputs> cached;
    const auto want = std::make_tuple(static_cast<int>(wf), static_cast<int>(act), n, k, m);
    if (cached == nullptr || key != want) {
        cached.reset();
        cached = make_inputs(wf, act, n, k, m);
        key = want;
    }
    return cached;
}

void bench_matmul(benchmark::State& st, const bitnet_plugin_descriptor* d, std::string kernel, int32_t m,
                  int32_t n, int32_t k, int32_t threads) {
    SpinPool pool(threads);
    void* inst = nullptr;
    if (d->create(pool.api(), &inst) != BITNET_OK) return st.SkipWithError("create failed");
    size_t count = 0;
    const bitnet_kernel_desc* ks = d->get_kernels(inst, &count);
    const bitnet_kernel_desc* kd = nullptr;
    for (size_t i = 0; i < count; ++i)
        if (kernel == ks[i].name) kd = &ks[i];
    const std::shared_ptr<Inputs> in = inputs_for(kd->weight_format, kd->act_type, n, k, m);
    bitnet_qact qa{in->q.data(), in->qs.data(), nullptr, static_cast<size_t>(k)};
    bitnet_weights wt{in->w.data(), in->w.size(), in->scale, nullptr};
    bitnet_matmul_args a{sizeof(a), m, n, k, kd->act_type, in->x.data(), &qa, k, &wt, in->y.data(), n};
    for (auto _ : st) {
        if (kd->run(inst, &a, nullptr) != BITNET_OK) {
            st.SkipWithError("run failed");
            break;
        }
        benchmark::DoNotOptimize(in->y.data());
    }
    const double bytes = static_cast<double>(in->w.size());
    st.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["tok/s"] = benchmark::Counter(m, benchmark::Counter::kIsIterationInvariantRate);
    d->destroy(inst);
}

// Streaming read of 1 GiB split over `threads` (the ceiling the matmuls are compared to).
void bench_membw(benchmark::State& st, int32_t threads) {
    static std::vector<uint64_t> buf(size_t{1} << 27, 1); // 1 GiB, touched once
    SpinPool pool(threads);
    struct Part {
        const uint64_t* p;
        size_t n;
        std::atomic<uint64_t> sink{0};
    } part{buf.data(), buf.size()};
    auto task = [](void* user, int32_t i, int32_t nth) {
        auto* pt = static_cast<Part*>(user);
        const size_t per = pt->n / nth;
        const uint64_t* p = pt->p + per * i;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t j = 0; j < per; j += 4) {
            s0 += p[j];
            s1 += p[j + 1];
            s2 += p[j + 2];
            s3 += p[j + 3];
        }
        pt->sink.fetch_add(s0 + s1 + s2 + s3, std::memory_order_relaxed);
    };
    for (auto _ : st) pool.api()->parallel_for(pool.api()->host_ctx, task, &part);
    benchmark::DoNotOptimize(part.sink.load());
    st.counters["GB/s"] = benchmark::Counter(buf.size() * 8 / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

int register_all() {
    for (int32_t t : {1, 2})
        benchmark::RegisterBenchmark(("membw/read_1GiB/t" + std::to_string(t)).c_str(), bench_membw, t)
            ->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(0.5);
    for (const std::string plugin : {"scalar", "avx2", "avx512"}) {
        const bitnet_plugin_descriptor* d = load(plugin);
        if (d == nullptr) continue;
        SpinPool probe_pool(1);
        void* inst = nullptr;
        if (d->create(probe_pool.api(), &inst) != BITNET_OK) continue;
        size_t count = 0;
        const bitnet_kernel_desc* ks = d->get_kernels(inst, &count);
        for (size_t i = 0; i < count; ++i) {
            const bitnet_kernel_desc& kd = ks[i];
            if (kd.op != BITNET_OP_MATMUL) continue;
            for (const sig::Matmul& s : sig::matmuls()) {
                if (!sig::applies(s, kd.weight_format) || s.k % kd.k_multiple != 0) continue;
                for (int32_t m : s.ms) {
                    if (m < kd.m_min || (kd.m_max != 0 && m > kd.m_max)) continue;
                    if (plugin == "scalar" && m > 4) continue; // minutes per call at prefill sizes
                    for (int32_t t : {1, 2}) {
                        const std::string name = "matmul/" + plugin + "/" + kd.name + "/" + std::string(s.name) +
                                                 "/m" + std::to_string(m) + "/t" + std::to_string(t);
                        benchmark::RegisterBenchmark(name.c_str(), bench_matmul, d, std::string(kd.name), m, s.n,
                                                     s.k, t)
                            ->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(0.2);
                    }
                }
            }
        }
        d->destroy(inst);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
