// The whole model on a device: a device-mode Session (every buffer in the plugin's device memory,
// decode steps replayed as recorded graphs) against the CPU session on the oracle models and on
// generated ones, and the reference engines' logits on the device (tools/oracle-check's
// comparison). Two devices: "hostdev" (tests/device/hostdev_plugin.cpp: host memory posing as a
// GPU around the scalar kernels, refusing any pointer that is not its device memory), which runs
// everywhere and must load; and cuda, skipped with the reason when it is not built or refuses to
// load (no driver, no GPU).
#include "hostdev_stats.h"
#include "oracle_compare.hpp"

#include "core/thread_pool.hpp"
#include "model/logits.hpp"
#include "model/model.hpp"
#include "modelgen/modelgen.hpp"
#include "plugin/plugin_registry.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <map>
#include <tuple>

namespace fs = std::filesystem;

namespace {

// The folder of the test-only hostdev plugin; BITNET_TEST_HOSTDEV_DIR overrides it (staged runs).
fs::path hostdev_dir() {
    if (const char* env = std::getenv("BITNET_TEST_HOSTDEV_DIR"); env != nullptr && *env != '\0') return env;
    return BITNET_HOSTDEV_PLUGIN_DIR;
}

struct Fixture {
    bitnet::ThreadPool pool{2};
    bitnet::PluginRegistry reg{&pool};
    Fixture() { reg.discover({{bitnet::testing::build_plugin_dir(), "build"}, {hostdev_dir(), "test"}}); }
};

// Why `device` cannot run here, or empty. hostdev is built with the tests, so its absence fails.
std::string unavailable(const bitnet::PluginRegistry& reg, const std::string& device) {
    if (reg.find(device) != nullptr) return {};
    std::string why = device + " plugin not built (no CUDA compiler, or BITNET_WITH_CUDA=OFF)";
    for (const auto& r : reg.records())
        if (r.name == device) why = device + " plugin not loaded: " + r.reason;
    if (device == "hostdev") ADD_FAILURE() << why << " (looked in " << hostdev_dir() << ")";
    return why;
}

// What hostdev counted; all zero for another device.
bitnet_hostdev_stats_t hostdev_stats(const bitnet::PluginRegistry& reg) {
    bitnet_hostdev_stats_t s{};
    const bitnet::LoadedPlugin* p = reg.find("hostdev");
    if (p == nullptr || p->descriptor().get_proc_address == nullptr) return s;
    auto fn = reinterpret_cast<bitnet_hostdev_stats_fn>(p->descriptor().get_proc_address(p->instance(), "bitnet_hostdev_stats"));
    if (fn != nullptr) fn(p->instance(), &s);
    return s;
}

// On hostdev: every kernel call got device memory only, and recorded steps were replayed.
void expect_device_discipline(const bitnet::PluginRegistry& reg, const std::string& device) {
    if (device != "hostdev") return;
    const bitnet_hostdev_stats_t s = hostdev_stats(reg);
    EXPECT_EQ(s.refused_calls, 0u) << "first refusal: " << s.first_refusal;
    EXPECT_GT(s.weight_uploads, 0u);
    EXPECT_GT(s.recorded_calls, 0u);
    EXPECT_GT(s.graph_launches, 0u);
    std::printf("[device session] hostdev: %llu kernel runs, %llu graph launches of %llu recorded calls, %llu uploads\n",
                (unsigned long long)s.kernel_runs, (unsigned long long)s.graph_launches,
                (unsigned long long)s.recorded_calls, (unsigned long long)s.weight_uploads);
}

const char* kModels[] = {"b158-small-i2_s.gguf", "bitnet-small-tq2_0.gguf", "p2-bitnet-tiny-tq1_0.gguf"};

// Rows of logits, device against cpu: the largest difference seen, and a failure where the argmax
// differs by more than the float-order tolerance.
struct LogitComparer {
    int32_t n_vocab;
    double worst = 0;
    void operator()(const std::vector<float>& cpu, const std::vector<float>& gpu, const std::string& where) {
        ASSERT_EQ(cpu.size(), gpu.size()) << where;
        for (size_t row = 0; row < cpu.size() / n_vocab; ++row) {
            const float* ra = cpu.data() + row * n_vocab;
            const float* rb = gpu.data() + row * n_vocab;
            for (int32_t i = 0; i < n_vocab; ++i) worst = std::max(worst, std::fabs(double(ra[i]) - rb[i]));
            // Argmax must agree unless the CPU's top two are within the float-order tolerance.
            const int32_t ia = bitnet::model::argmax(ra, n_vocab), ib = bitnet::model::argmax(rb, n_vocab);
            if (ia != ib && std::fabs(ra[ia] - ra[ib]) > 0.06)
                ADD_FAILURE() << where << " row " << row << ": argmax " << ib << " on the device, " << ia << " on cpu";
        }
    }
};

// A small model with GQA 8:2 in the given formats, written to dir/model.gguf.
fs::path generated_model(const fs::path& dir, const char* weights, const char* head, uint64_t seed) {
    namespace mg = bitnet::modelgen;
    mg::ModelSpec spec;
    spec.hidden = 512;
    spec.ffn = 768;
    spec.layers = 2;
    spec.heads = 8;
    spec.kv_heads = 2;
    spec.ctx = 512;
    mg::GenOptions o;
    o.weights = mg::parse_weight_type(weights);
    o.head = mg::parse_head_type(head);
    o.seed = seed;
    const fs::path path = dir / "model.gguf";
    mg::generate_model(spec, o, path);
    return path;
}

// A CPU session on the scalar reference and a session on `device`, with the same options.
struct SessionPair {
    bitnet::Router cpu_router, gpu_router;
    bitnet::model::Session cpu, gpu;
    SessionPair(Fixture& f, bitnet::model::Model& model, bitnet::model::SessionOptions so, const std::string& device)
        : cpu_router(f.reg, {{{"all", "scalar"}}, {}}),
          gpu_router(f.reg, {}),
          cpu(model, cpu_router, with_device(so, "cpu")),
          gpu(model, gpu_router, with_device(so, device)) {}
    static bitnet::model::SessionOptions with_device(bitnet::model::SessionOptions so, const std::string& device) {
        so.device = device;
        return so;
    }
};

// Device session against the CPU (scalar) session on one model file: a 40-token prefill with every
// row's logits (batched GEMV/GEMM, tiled attention), 12 greedy decode steps (step 1 eager, step 2
// recorded, the rest replayed graphs), then a 4-token step three times (batched decode).
void expect_device_matches_cpu(Fixture& f, const fs::path& path, const std::string& label, const std::string& device) {
    auto model = bitnet::model::Model::load(path);
    bitnet::model::SessionOptions so;
    so.n_ctx = 256;
    so.n_batch = 64;
    SessionPair pair(f, *model, so, device);
    bitnet::model::Session &cpu = pair.cpu, &gpu = pair.gpu;
    ASSERT_EQ(gpu.device(), device);
    ASSERT_EQ(cpu.device(), "cpu");

    const int32_t n_vocab = model->hparams().n_vocab;
    LogitComparer compare{n_vocab};
    std::vector<int32_t> prompt(40);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 128000) % n_vocab);
    std::vector<float> la, lb;
    cpu.decode(prompt, true, la);
    gpu.decode(prompt, true, lb);
    compare(la, lb, "prefill");
    // Greedy from the CPU's choices, so both see the same tokens.
    int32_t next = bitnet::model::argmax(la.data() + (prompt.size() - 1) * n_vocab, n_vocab);
    for (int step = 0; step < 12; ++step) {
        cpu.decode({&next, 1}, false, la);
        gpu.decode({&next, 1}, false, lb);
        compare(la, lb, "decode step " + std::to_string(step));
        next = bitnet::model::argmax(la.data(), n_vocab);
    }
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<int32_t> four = {next, (next + 1) % n_vocab, (next + 2) % n_vocab, (next + 3) % n_vocab};
        cpu.decode(four, false, la);
        gpu.decode(four, false, lb);
        compare(la, lb, "4-token step " + std::to_string(rep));
    }
    EXPECT_EQ(gpu.n_past(), cpu.n_past());
    std::printf("[%s session] %s: max |logit %s - cpu| %.5f over prefill, 12 decode steps, 3 four-token steps\n",
                device.c_str(), label.c_str(), device.c_str(), compare.worst);
    expect_device_discipline(f.reg, device);
    // The README's sensitivity note: float-order differences stay well inside 0.06 per logit.
    EXPECT_LT(compare.worst, 0.06);
}

std::string param_name(std::string n) {
    for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return n;
}

// The emulated device is as strict as a GPU: a host pointer handed to one of its kernels is refused
// (on a GPU it would be a wild address), and the refusal says which argument it was.
TEST(HostdevPlugin, RefusesHostPointersAndSaysWhich) {
    Fixture f;
    if (std::string why = unavailable(f.reg, "hostdev"); !why.empty()) GTEST_SKIP() << why;
    const bitnet::LoadedPlugin& p = *f.reg.find("hostdev");
    const bitnet_kernel_desc* add = nullptr;
    for (const bitnet_kernel_desc* k : p.kernels())
        if (k->op == BITNET_OP_ADD) add = k;
    ASSERT_NE(add, nullptr);
    const bitnet_device_iface& dev = *p.device_iface();
    void* y = nullptr;
    ASSERT_EQ(dev.alloc(p.instance(), 8 * sizeof(float), &y), BITNET_OK);
    std::vector<float> host_x(8, 1.0f), host_y(8, 0.0f);
    ASSERT_EQ(dev.copy_to_device(p.instance(), y, host_y.data(), host_y.size() * sizeof(float)), BITNET_OK);
    bitnet_add_args a{sizeof a, 1, 8, host_x.data(), 8, static_cast<float*>(y), 8};
    EXPECT_EQ(add->run(p.instance(), &a, nullptr), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(hostdev_stats(f.reg).refused_calls, 1u);
    EXPECT_NE(std::string(hostdev_stats(f.reg).first_refusal).find("x is not device memory"), std::string::npos)
        << hostdev_stats(f.reg).first_refusal;
    // The same call on device memory runs.
    void* x = nullptr;
    ASSERT_EQ(dev.alloc(p.instance(), 8 * sizeof(float), &x), BITNET_OK);
    ASSERT_EQ(dev.copy_to_device(p.instance(), x, host_x.data(), host_x.size() * sizeof(float)), BITNET_OK);
    a.x = static_cast<const float*>(x);
    EXPECT_EQ(add->run(p.instance(), &a, nullptr), BITNET_OK);
    ASSERT_EQ(dev.copy_to_host(p.instance(), host_y.data(), y, host_y.size() * sizeof(float)), BITNET_OK);
    EXPECT_EQ(host_y[7], 1.0f);
    // A copy that runs past an allocation is refused too.
    EXPECT_EQ(dev.copy_to_device(p.instance(), y, host_x.data(), 9 * sizeof(float)), BITNET_ERR_INVALID_ARGUMENT);
    dev.free(p.instance(), x);
    dev.free(p.instance(), y);
}

// tools/gpu-probe.cpp (what tools/gpu-check.sh tabulates on a lent GPU) run against hostdev:
// every figure the script reads is printed, and those that must be positive are, so a GPU's few
// minutes are not lost to a broken probe.
TEST(GpuProbe, PrintsEveryFigureOnHostdev) {
    Fixture f;
    if (std::string why = unavailable(f.reg, "hostdev"); !why.empty()) GTEST_SKIP() << why;
    const fs::path dir = bitnet::testing::make_temp_dir("gpu-probe");
    const fs::path path = generated_model(dir, "i2_s", "q6_k", 5);
    // BITNET_TEST_GPU_PROBE: the probe beside a staged copy of this binary (tools/gpu-stage.sh).
    const char* env = std::getenv("BITNET_TEST_GPU_PROBE");
    const std::string probe = env != nullptr && *env != '\0' ? env : BITNET_GPU_PROBE_BIN;
    const std::string cmd = probe + " --plugin-dir " + hostdev_dir().string() + " -m " +
                            path.string() + " --device hostdev --d2d-mib 8 --prompt 8 --steps 3 --batches 1,4" +
                            " --parallel 2 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::map<std::string, std::string> got;
    char line[512];
    while (std::fgets(line, sizeof line, pipe) != nullptr) {
        std::string l(line);
        if (!l.empty() && l.back() == '\n') l.pop_back();
        const size_t sp = l.find(' ');
        if (sp != std::string::npos) got[l.substr(0, sp)] = l.substr(sp + 1);
    }
    EXPECT_EQ(pclose(pipe), 0) << cmd;
    EXPECT_NE(got["device"].find("host memory posing as a GPU"), std::string::npos);
    for (const char* key : {"d2d_gbs", "weights_mib", "file_mib", "ttft_ms", "tg1_tps", "tg4_tps", "par2_tps"})
        EXPECT_GT(std::atof(got[key].c_str()), 0.0) << key << " = '" << got[key] << "'";
    // Printed to 0.1 GB/s (or MiB): a 1 MiB model's figures on a slow (sanitized) run can read 0.0.
    for (const char* key : {"vram_mib", "kv_mib", "tg1_weight_gbs", "tg4_weight_gbs", "par2_weight_gbs"}) {
        char* end = nullptr;
        const std::string& v = got[key];
        const double d = std::strtod(v.c_str(), &end);
        EXPECT_TRUE(!v.empty() && *end == '\0' && d >= 0.0) << key << " = '" << v << "'";
    }
    fs::remove_all(dir);
}

// ABI 1.5's blocks (a BitLinear's norm as its matmul's prologue, output projections accumulated
// into the residual stream) compute the same logits, bit for bit, as the separate calls: the
// reference composes them from the same steps, and the stream takes the same additions.
TEST(FusedBlocks, SameLogitsAsSeparateCalls) {
    Fixture f;
    const fs::path dir = bitnet::testing::make_temp_dir("fused-blocks");
    const fs::path path = generated_model(dir, "i2_s", "q6_k", 3);
    auto model = bitnet::model::Model::load(path);
    bitnet::Router router(f.reg, {{{"all", "scalar"}}, {}});
    bitnet::model::SessionOptions so;
    so.n_ctx = 64;
    so.n_batch = 16;
    so.device = "cpu";
    auto run = [&](bool blocks) {
        if (!blocks) ::setenv("BITNET_FUSED_BLOCKS", "0", 1);
        bitnet::model::Session s(*model, router, so);
        std::vector<int32_t> prompt(20);
        for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 131 + 7) % model->hparams().n_vocab);
        std::vector<float> all, step;
        s.decode(prompt, true, all); // 16 + 4 rows: both batch sizes
        for (int i = 0; i < 3; ++i) {
            const int32_t t = bitnet::model::argmax(all.data() + all.size() - size_t(model->hparams().n_vocab),
                                                    model->hparams().n_vocab);
            s.decode({&t, 1}, false, step);
            all.insert(all.end(), step.begin(), step.end());
        }
        ::unsetenv("BITNET_FUSED_BLOCKS");
        return all;
    };
    const std::vector<float> fused = run(true), separate = run(false);
    ASSERT_EQ(fused.size(), separate.size());
    EXPECT_EQ(0, std::memcmp(fused.data(), separate.data(), fused.size() * sizeof(float)));
    fs::remove_all(dir);
}

const char* kDevices[] = {"hostdev", "cuda"};

class DeviceSession : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(DeviceSession, MatchesCpuSessionPrefillAndGraphDecode) {
    const auto [device, file] = GetParam();
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    const fs::path path = *dir / file;
    if (!fs::exists(path)) GTEST_SKIP() << path << " not in the oracle folder";
    Fixture f;
    if (std::string why = unavailable(f.reg, device); !why.empty()) GTEST_SKIP() << why;
    expect_device_matches_cpu(f, path, file, device);
}

INSTANTIATE_TEST_SUITE_P(Oracle, DeviceSession, ::testing::Combine(::testing::ValuesIn(kDevices), ::testing::ValuesIn(kModels)),
                         [](const auto& info) {
                             return param_name(std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param));
                         });

// Generated models cover every weight x head format pairing on shapes the oracle files lack
// (odd vocabulary, GQA 8:2), without needing the oracle folder.
struct GenCase {
    const char* weights;
    const char* head;
};
const GenCase kGenCases[] = {{"i2_s", "q6_k"}, {"i2_s", "f16"}, {"tq2_0", "q8_0"}, {"tq1_0", "q6_k"}};

class GeneratedDeviceSession : public ::testing::TestWithParam<std::tuple<const char*, GenCase>> {};

TEST_P(GeneratedDeviceSession, MatchesCpuSession) {
    const auto [device, gen] = GetParam();
    Fixture f;
    if (std::string why = unavailable(f.reg, device); !why.empty()) GTEST_SKIP() << why;
    const fs::path dir = bitnet::testing::make_temp_dir("device-session");
    const fs::path path = generated_model(dir, gen.weights, gen.head, 7);
    expect_device_matches_cpu(f, path, std::string(gen.weights) + "+" + gen.head, device);
    fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Formats, GeneratedDeviceSession,
                         ::testing::Combine(::testing::ValuesIn(kDevices), ::testing::ValuesIn(kGenCases)),
                         [](const auto& info) {
                             const GenCase& g = std::get<1>(info.param);
                             return param_name(std::string(std::get<0>(info.param)) + "_" + g.weights + "_" + g.head);
                         });

// Several sequences on the device (ABI 1.3's ATTENTION_SEQS / KV_STORE_SEQS, one graph for any set
// of sequences): each sequence prefilled with its own prompt, then steps that advance all of them
// together (eager, recorded, replayed), then a subset in another order (a second graph shape).
class DeviceParallelSequences : public ::testing::TestWithParam<const char*> {};

TEST_P(DeviceParallelSequences, MatchCpuSession) {
    const std::string device = GetParam();
    Fixture f;
    if (std::string why = unavailable(f.reg, device); !why.empty()) GTEST_SKIP() << why;
    const fs::path dir = bitnet::testing::make_temp_dir("device-parallel");
    const fs::path path = generated_model(dir, "i2_s", "q6_k", 11);
    auto model = bitnet::model::Model::load(path);
    bitnet::model::SessionOptions so;
    so.n_ctx = 128;
    so.n_batch = 16;
    so.n_seq = 5;
    SessionPair pair(f, *model, so, device);
    bitnet::model::Session &cpu = pair.cpu, &gpu = pair.gpu;
    ASSERT_EQ(gpu.device(), device);

    const int32_t n_vocab = model->hparams().n_vocab;
    LogitComparer compare{n_vocab};
    std::vector<float> la, lb;
    std::vector<int32_t> next(5);
    for (int32_t s = 0; s < 5; ++s) {
        // Prompts of different lengths, so the sequences sit at different positions.
        std::vector<int32_t> prompt(size_t(3 + 4 * s));
        for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 131 * s + 5) % n_vocab);
        cpu.decode(s, prompt, false, la);
        gpu.decode(s, prompt, false, lb);
        compare(la, lb, "prefill of sequence " + std::to_string(s));
        next[size_t(s)] = bitnet::model::argmax(la.data(), n_vocab);
    }
    auto steps = [&](const std::vector<int32_t>& seqs, int n, const std::string& what) {
        for (int step = 0; step < n; ++step) {
            std::vector<int32_t> tokens;
            for (int32_t s : seqs) tokens.push_back(next[size_t(s)]);
            cpu.decode_parallel(seqs, tokens, la);
            gpu.decode_parallel(seqs, tokens, lb);
            compare(la, lb, what + " step " + std::to_string(step));
            for (size_t i = 0; i < seqs.size(); ++i)
                next[size_t(seqs[i])] = bitnet::model::argmax(la.data() + i * n_vocab, n_vocab);
        }
    };
    steps({0, 1, 2, 3, 4}, 6, "all five");
    steps({3, 1}, 4, "sequences 3 and 1");
    for (int32_t s = 0; s < 5; ++s) EXPECT_EQ(gpu.n_past(s), cpu.n_past(s)) << "sequence " << s;
    std::printf("[%s session] 5 parallel sequences: max |logit %s - cpu| %.5f\n", device.c_str(), device.c_str(),
                compare.worst);
    EXPECT_LT(compare.worst, 0.06);
    expect_device_discipline(f.reg, device);
    fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Devices, DeviceParallelSequences, ::testing::ValuesIn(kDevices),
                         [](const auto& info) { return std::string(info.param); });

class DeviceOracle : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(DeviceOracle, LogitsAndGreedyMatchReferenceEngine) {
    const auto [device, file] = GetParam();
    const auto dir = bitnet::testing::oracle_dir();
    if (!dir) GTEST_SKIP() << "oracle folder not found (set BITNET_ORACLE_DIR)";
    Fixture f;
    if (std::string why = unavailable(f.reg, device); !why.empty()) GTEST_SKIP() << why;
    // A staged GPU run (tools/gpu-stage.sh) carries only the oracle files small enough to travel.
    if (!fs::exists(*dir / file)) GTEST_SKIP() << file << " not in the oracle folder " << *dir;
    // Every op pinned to the device: the session's auto device mode puts the whole model there.
    bitnet::Router router(f.reg, {{{"all", device}}, {}});
    const auto r = bitnet::oracle::compare(*dir / file, router);
    std::printf("[oracle] %s on %s: top-1 %d/%d, max|dlogit| %.5f (at %s), max|dlse| %.5f, greedy %d/%d\n",
                r.ref_file.c_str(), device, r.top1_match, r.positions, r.max_abs_logit, r.worst_where.c_str(),
                r.max_abs_lse, r.greedy_matched, r.greedy_compared);
    EXPECT_GT(r.positions, 200);
    for (const auto& failure : r.failures) ADD_FAILURE() << failure;
}

INSTANTIATE_TEST_SUITE_P(Oracle, DeviceOracle,
                         ::testing::Combine(::testing::ValuesIn(kDevices),
                                            ::testing::Values("b158-small-i2_s.ref.json", "bitnet-small-tq2_0.ref.json",
                                                              "p2-bitnet-tiny-tq1_0.ref.json",
                                                              "p2-bitnet-tiny-tq2_0.ref.json")),
                         [](const auto& info) {
                             std::string n = std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
                             return param_name(n.substr(0, n.find(".ref.json")));
                         });

} // namespace
