// bitnet_kernel_bench: every matmul kernel of scalar/avx2/avx512 on every signature of
// tests/kernels/kernel_signatures.hpp at full size, on 1 and 2 threads, reporting GB/s of weight
// bytes streamed per call and `of_membw`, that figure over the read bandwidth this same process
// measured at start-up with as many threads (membw/* repeat that measurement as benchmarks).
//
// Decode (M = 1) of the 2B-4T shapes also runs `/cold`: the call rotates over enough copies of the
// weights to exceed the last-level cache twice, so every call streams from DRAM as in a real
// decode step (30 layers of weights never stay cached). The hot variant, where a layer's few MB
// sit in the LLC between calls, overstates what a decode step gets. The head is always cold
// (hundreds of MB), so only its cold variant is registered.
//
// The host here is a persistent pool that spins briefly and then sleeps (a real host's cost per
// parallel_for, not a thread start per call as in the tests' fixture); on a shared machine a
// worker that is descheduled costs a wake-up, not a core spinning against it.
#include "kernel_signatures.hpp"
#include "kernel_workspace.hpp"

#include "formats/formats.hpp"

#include <benchmark/benchmark.h>
#include <bitnet/plugin.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <vector>

namespace {

namespace sig = bitnet::signatures;

// A pool of n-1 workers plus the caller. Waits spin for kSpin pauses (a parallel_for is often a
// few microseconds away) and then block on the atomic (futex), so a descheduled thread on a busy
// machine neither spins forever nor keeps its sibling spinning.
class Pool {
public:
    explicit Pool(int32_t n) : n_(n) {
        for (int32_t i = 1; i < n; ++i) workers_.emplace_back([this, i] { work(i); });
        api_.struct_size = sizeof(api_);
        api_.abi_version = BITNET_PLUGIN_ABI_VERSION;
        api_.host_ctx = this;
        api_.log = [](void*, bitnet_log_level, const char*) {};
        api_.parallel_for = [](void* ctx, bitnet_task_fn fn, void* user) { static_cast<Pool*>(ctx)->run(fn, user); };
        api_.n_threads = n;
    }
    ~Pool() {
        stop_.store(true);
        gen_.fetch_add(1, std::memory_order_release);
        gen_.notify_all();
        for (auto& w : workers_) w.join();
    }
    const bitnet_host_api* api() const { return &api_; }

private:
    static constexpr int kSpin = 4096;

    // Waits until `a` no longer holds `v`.
    template <class T>
    static void await_change(const std::atomic<T>& a, T v) {
        for (int spin = 0; a.load(std::memory_order_acquire) == v; ++spin) {
            if (spin < kSpin) __builtin_ia32_pause();
            else a.wait(v, std::memory_order_acquire);
        }
    }
    void run(bitnet_task_fn fn, void* user) {
        fn_ = fn;
        user_ = user;
        pending_.store(n_ - 1, std::memory_order_relaxed);
        gen_.fetch_add(1, std::memory_order_release);
        gen_.notify_all();
        fn(user, 0, n_);
        for (int32_t left; (left = pending_.load(std::memory_order_acquire)) != 0;) await_change(pending_, left);
    }
    void work(int32_t i) {
        uint64_t seen = 0;
        for (;;) {
            await_change(gen_, seen);
            seen = gen_.load(std::memory_order_acquire);
            if (stop_.load(std::memory_order_relaxed)) return;
            fn_(user_, i, n_);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
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
    // BITNET_BENCH_PLUGIN_DIR points at another build's plugins (A/B runs of two versions).
    const char* dir = std::getenv("BITNET_BENCH_PLUGIN_DIR");
    const std::string path = std::string(dir != nullptr && *dir != '\0' ? dir : BITNET_BUILD_PLUGIN_DIR) + "/libbitnet-" +
                             name + ".so";
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
    std::vector<uint8_t> w; // `copies` copies of `bytes`, `stride` apart
    size_t bytes = 0, stride = 0;
    int32_t copies = 1;
    float scale = 1.0f;
    std::vector<float> x;
    std::vector<int8_t> q;
    std::vector<float> qs;
    std::vector<float> y;
};

std::shared_ptr<Inputs> make_inputs(bitnet_weight_format wf, bitnet_act_type act, int32_t n, int32_t k, int32_t m,
                                    int32_t copies) {
    auto in = std::make_shared<Inputs>();
    const auto type = bitnet::formats::type_info(wf)->type;
    in->bytes = *bitnet::formats::tensor_bytes(type, k, n);
    in->copies = copies;
    in->w.resize(in->bytes);
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
    // Cold mode: identical copies at distinct addresses, each starting on its own page.
    in->stride = (in->bytes + 4095) / 4096 * 4096;
    if (copies > 1) {
        in->w.resize(in->stride * copies);
        for (int32_t c = 1; c < copies; ++c) std::memcpy(in->w.data() + c * in->stride, in->w.data(), in->bytes);
    }
    return in;
}

// Inputs are made when a benchmark first runs (filtered-out ones cost nothing) and only the
// latest set is kept, so the 128256-row heads of several formats never coexist in memory.
std::shared_ptr<Inputs> inputs_for(bitnet_weight_format wf, bitnet_act_type act, int32_t n, int32_t k, int32_t m,
                                   int32_t copies) {
    static std::tuple<int, int, int32_t, int32_t, int32_t, int32_t> key{};
    static std::shared_ptr<Inputs> cached;
    const auto want = std::make_tuple(static_cast<int>(wf), static_cast<int>(act), n, k, m, copies);
    if (cached == nullptr || key != want) {
        cached.reset();
        cached = make_inputs(wf, act, n, k, m, copies);
        key = want;
    }
    return cached;
}

// Read bandwidth in GB/s with 1 and 2 threads, measured once at start-up (index = threads).
double g_membw[3] = {0, 0, 0};

// Copies whose total is at least twice the last-level cache (1 when one copy already is),
// within 1 GiB: virtual machines can report an implausible LLC (hundreds of MB), and 1 GiB is
// far past any real one.
int32_t cold_copies(size_t bytes) {
    long llc = ::sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0) llc = 32L << 20; // unknown: assume a server-sized LLC
    const size_t want = std::min(2 * static_cast<size_t>(llc), size_t{1} << 30);
    if (bytes >= (size_t{256} << 20)) return 1; // the head: larger than any real LLC as it is
    return static_cast<int32_t>(std::clamp<size_t>((want + bytes - 1) / bytes, 1, 256));
}

// The registered kernel of that name (registration listed it, so it is there).
const bitnet_kernel_desc* find_kernel(const bitnet_plugin_descriptor* d, void* inst, const std::string& name) {
    size_t count = 0;
    const bitnet_kernel_desc* ks = d->get_kernels(inst, &count);
    for (size_t i = 0; i < count; ++i)
        if (name == ks[i].name) return &ks[i];
    return nullptr;
}

void bench_matmul(benchmark::State& st, const bitnet_plugin_descriptor* d, std::string kernel, int32_t m,
                  int32_t n, int32_t k, int32_t threads, bool cold) {
    Pool pool(threads);
    void* inst = nullptr;
    if (d->create(pool.api(), &inst) != BITNET_OK) return st.SkipWithError("create failed");
    const bitnet_kernel_desc* kd = find_kernel(d, inst, kernel);
    if (kd->supports != nullptr) {
        const bitnet_shape shape = bitnet::testing::matmul_shape(*kd, m, n, k);
        if (kd->supports(inst, &shape) == 0) {
            d->destroy(inst);
            return st.SkipWithError("the kernel declines this shape on this CPU (supports() = 0)");
        }
    }
    const auto type = bitnet::formats::type_info(kd->weight_format)->type;
    const int32_t copies = cold ? cold_copies(*bitnet::formats::tensor_bytes(type, k, n)) : 1;
    const std::shared_ptr<Inputs> in = inputs_for(kd->weight_format, kd->act_type, n, k, m, copies);
    bitnet_qact qa{in->q.data(), in->qs.data(), nullptr, static_cast<size_t>(k)};
    bitnet_weights wt{in->w.data(), in->bytes, in->scale, nullptr};
    bitnet_matmul_args a{sizeof(a), m, n, k, kd->act_type, in->x.data(), &qa, k, &wt, in->y.data(), n, 0, {}, nullptr, 0};
    const bitnet_shape shape = bitnet::testing::matmul_shape(*kd, m, n, k);
    const bitnet::testing::KernelWorkspace ws(*kd, inst, shape);
    // A kernel that repacks at load runs on its packed copies (one per cold copy), and what it
    // streams is their size.
    std::vector<std::unique_ptr<bitnet::testing::KernelPacked>> packed;
    for (int32_t c = 0; kd->pack_weights != nullptr && c < in->copies; ++c) {
        packed.push_back(std::make_unique<bitnet::testing::KernelPacked>(*kd, inst, shape,
                                                                          in->w.data() + static_cast<size_t>(c) * in->stride, in->bytes));
        if (packed.back()->status() != BITNET_OK) {
            packed.clear();
            d->destroy(inst);
            return st.SkipWithError("pack_weights failed");
        }
    }
    const size_t bytes_read = packed.empty() ? in->bytes : packed[0]->bytes();
    int32_t next = 0;
    for (auto _ : st) {
        wt.data = in->w.data() + static_cast<size_t>(next) * in->stride;
        if (!packed.empty()) wt.packed = packed[static_cast<size_t>(next)]->get();
        next = next + 1 == in->copies ? 0 : next + 1;
        if (kd->run(inst, &a, ws.get()) != BITNET_OK) {
            st.SkipWithError("run failed");
            break;
        }
        benchmark::DoNotOptimize(in->y.data());
    }
    packed.clear();
    const double gb = static_cast<double>(bytes_read) / 1e9;
    st.counters["GB/s"] = benchmark::Counter(gb, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["of_membw"] = benchmark::Counter(gb / g_membw[threads], benchmark::Counter::kIsIterationInvariantRate);
    st.counters["copies"] = in->copies;
    st.counters["tok/s"] = benchmark::Counter(m, benchmark::Counter::kIsIterationInvariantRate);
    d->destroy(inst);
}

// Streaming read of 1 GiB split over the pool's threads (the ceiling the matmuls are compared to).
struct MemRead {
    static const std::vector<uint64_t>& buffer() {
        static const std::vector<uint64_t> buf(size_t{1} << 27, 1); // 1 GiB, touched once
        return buf;
    }
    const uint64_t* p = buffer().data();
    size_t n = buffer().size();
    std::atomic<uint64_t> sink{0};

    static void task(void* user, int32_t i, int32_t nth) {
        auto* self = static_cast<MemRead*>(user);
        const size_t per = self->n / nth;
        const uint64_t* p = self->p + per * i;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t j = 0; j < per; j += 4) {
            s0 += p[j];
            s1 += p[j + 1];
            s2 += p[j + 2];
            s3 += p[j + 3];
        }
        self->sink.fetch_add(s0 + s1 + s2 + s3, std::memory_order_relaxed);
    }
    void once(const Pool& pool) { pool.api()->parallel_for(pool.api()->host_ctx, &task, this); }
    double gb() const { return static_cast<double>(n) * 8 / 1e9; }
};

// Decode attention: one token over n_past + 1 keys of a random f16 cache (head-major where the
// kernel reads that layout, as a CPU session lays it out); what it streams is the keys and values
// of that context. In a decode step the layer's cache comes from DRAM (the weights
// streamed in between push it out), so the call rotates over copies of the cache as the cold
// matmuls do.
void bench_attention(benchmark::State& st, const bitnet_plugin_descriptor* d, std::string kernel, sig::Heads h,
                     int32_t n_past, int32_t threads) {
    Pool pool(threads);
    void* inst = nullptr;
    if (d->create(pool.api(), &inst) != BITNET_OK) return st.SkipWithError("create failed");
    const bitnet_kernel_desc* kd = find_kernel(d, inst, kernel);
    const int32_t D = h.head_dim, width = h.n_heads * D, kv_width = h.n_kv_heads * D, n_keys = n_past + 1;
    std::mt19937 gen(7);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> q(static_cast<size_t>(width)), out(static_cast<size_t>(width));
    for (auto& v : q) v = 2.0f * g(gen);
    const size_t cache = static_cast<size_t>(n_keys) * kv_width;
    const int32_t copies = cold_copies(2 * cache * sizeof(uint16_t));
    std::vector<uint16_t> kc(cache * copies), vc(kc.size());
    for (size_t i = 0; i < cache; ++i) {
        kc[i] = bitnet::formats::f32_to_fp16(g(gen));
        vc[i] = bitnet::formats::f32_to_fp16(g(gen));
    }
    for (int32_t c = 1; c < copies; ++c) {
        std::copy(kc.begin(), kc.begin() + static_cast<std::ptrdiff_t>(cache), kc.begin() + static_cast<std::ptrdiff_t>(c * cache));
        std::copy(vc.begin(), vc.begin() + static_cast<std::ptrdiff_t>(cache), vc.begin() + static_cast<std::ptrdiff_t>(c * cache));
    }
    // The layout a CPU session gives the kernel: head-major where it reads kv_head_stride (the
    // random values need no rearranging; only where each head's positions sit changes).
    const bool head_major = (kd->flags & BITNET_KERNEL_FLAG_KV_HEAD_STRIDE) != 0;
    bitnet_attention_args a{sizeof a, 1, n_past, h.n_heads, h.n_kv_heads, D, 1.0f / std::sqrt(static_cast<float>(D)),
                            q.data(), width, kc.data(), vc.data(), head_major ? D : kv_width, out.data(), width,
                            nullptr, nullptr, 0, 0, 0, head_major ? int64_t(n_keys) * D : 0};
    int32_t next = 0;
    for (auto _ : st) {
        a.k_cache = kc.data() + static_cast<size_t>(next) * cache;
        a.v_cache = vc.data() + static_cast<size_t>(next) * cache;
        next = next + 1 == copies ? 0 : next + 1;
        if (kd->run(inst, &a, nullptr) != BITNET_OK) {
            st.SkipWithError("run failed");
            break;
        }
        benchmark::DoNotOptimize(out.data());
    }
    const double gb = 2.0 * static_cast<double>(n_keys) * kv_width * sizeof(uint16_t) / 1e9;
    st.counters["GB/s"] = benchmark::Counter(gb, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["keys/s"] = benchmark::Counter(double(n_keys) * h.n_heads, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["copies"] = copies;
    d->destroy(inst);
}

void bench_membw(benchmark::State& st, int32_t threads) {
    Pool pool(threads);
    MemRead r;
    for (auto _ : st) r.once(pool);
    benchmark::DoNotOptimize(r.sink.load());
    st.counters["GB/s"] = benchmark::Counter(r.gb(), benchmark::Counter::kIsIterationInvariantRate);
}

// The best of a few reads per thread count: the reference every of_membw divides by.
void measure_membw() {
    for (int32_t t : {1, 2}) {
        Pool pool(t);
        MemRead r;
        double best = 0;
        for (int rep = 0; rep < 4; ++rep) {
            const auto t0 = std::chrono::steady_clock::now();
            r.once(pool);
            const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
            best = std::max(best, r.gb() / dt.count());
        }
        g_membw[t] = best;
        benchmark::AddCustomContext("membw_read_GB/s_t" + std::to_string(t), std::to_string(best));
    }
}

int register_all() {
    measure_membw();
    for (int32_t t : {1, 2})
        benchmark::RegisterBenchmark(("membw/read_1GiB/t" + std::to_string(t)).c_str(), bench_membw, t)
            ->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(0.5);
    for (const std::string plugin : {"scalar", "avx2", "avx512"}) {
        const bitnet_plugin_descriptor* d = load(plugin);
        if (d == nullptr) continue;
        Pool probe_pool(1);
        void* inst = nullptr;
        if (d->create(probe_pool.api(), &inst) != BITNET_OK) continue;
        size_t count = 0;
        const bitnet_kernel_desc* ks = d->get_kernels(inst, &count);
        for (size_t i = 0; i < count; ++i) {
            const bitnet_kernel_desc& kd = ks[i];
            if (kd.op == BITNET_OP_ATTENTION && plugin != "scalar") {
                const sig::Heads& h = sig::heads().front(); // the model's (2B-4T) layout
                for (int32_t n_past : sig::attention_bench_n_past())
                    for (int32_t t : {1, 2}) {
                        const std::string name = "attention/" + plugin + "/" + kd.name + "/" + std::string(h.name) +
                                                 "/m1/past" + std::to_string(n_past) + "/t" + std::to_string(t);
                        benchmark::RegisterBenchmark(name.c_str(), bench_attention, d, std::string(kd.name), h, n_past, t)
                            ->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(0.2);
                    }
            }
            if (kd.op != BITNET_OP_MATMUL) continue;
            for (const sig::Matmul& s : sig::matmuls()) {
                if (!sig::applies(s, kd.weight_format) || s.k % kd.k_multiple != 0) continue;
                for (int32_t m : s.ms) {
                    if (m < kd.m_min || (kd.m_max != 0 && m > kd.m_max)) continue;
                    if (plugin == "scalar" && m > 4) continue; // minutes per call at prefill sizes
                    // Decode of a model shape is measured cold; the head is never warm.
                    const bool head = s.role == sig::Role::head;
                    for (bool cold : {false, true}) {
                        if ((cold && !(s.model && m == 1)) || (!cold && head && m == 1)) continue;
                        for (int32_t t : {1, 2}) {
                            const std::string name = "matmul/" + plugin + "/" + kd.name + "/" + std::string(s.name) +
                                                     "/m" + std::to_string(m) + "/t" + std::to_string(t) +
                                                     (cold ? "/cold" : "");
                            benchmark::RegisterBenchmark(name.c_str(), bench_matmul, d, std::string(kd.name), m,
                                                         s.n, s.k, t, cold)
                                ->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(0.2);
                        }
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
