// bitnet-gpu-probe: the numbers tools/gpu-check.sh tabulates, measured through the plugin ABI only
// (no CUDA headers): the card's device-to-device copy bandwidth (copy_on_device), the VRAM a
// device session takes, time to first token for a prompt, and decode throughput at batch B
// (B tokens per step, so every weight is read once for B tokens: the GEMV-over-M path).
//
//   bitnet-gpu-probe --plugin-dir DIR -m model.gguf [--prompt 128] [--steps 64] [--batches 1,4,16]
//                    [--parallel 4,16] [--device cuda] [--d2d-mib 1024]
//
// --device: the GPU plugin to measure (cuda; the test-only hostdev plugin checks this program and
// tools/gpu-check.sh without a GPU, where the figures mean nothing). --d2d-mib: the copy's size.
//
// --parallel N: N independent sequences, one token each per step (Session::decode_parallel), the
// serving form of batched decoding; measured last, in a session of its own.
//
// Prints one `key value` line per figure.
#include "core/thread_pool.hpp"
#include "model/model.hpp"
#include "plugin/plugin_registry.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "bitnet-gpu-probe: %s\n", why.c_str());
    std::exit(1);
}

// Read+write bytes per second of a device-to-device copy of `mib` MiB, best of 5 after a warm-up.
double d2d_bandwidth(const bitnet::LoadedPlugin& p, size_t mib) {
    const bitnet_device_iface* dev = p.device_iface();
    void* inst = p.instance();
    const size_t bytes = mib << 20;
    void *a = nullptr, *b = nullptr;
    if (dev->alloc(inst, bytes, &a) != BITNET_OK || dev->alloc(inst, bytes, &b) != BITNET_OK)
        die("cannot allocate two buffers of " + std::to_string(mib) + " MiB");
    double best = 0;
    for (int rep = 0; rep < 6; ++rep) {
        const auto t0 = Clock::now();
        for (int i = 0; i < 4; ++i) dev->copy_on_device(inst, b, a, bytes);
        dev->synchronize(inst);
        const double s = since(t0);
        if (rep > 0) best = std::max(best, 2.0 * 4 * double(bytes) / s);
    }
    dev->free(inst, a);
    dev->free(inst, b);
    return best;
}

// "1,4,16" -> {1, 4, 16}.
std::vector<int> int_list(const std::string& list) {
    std::vector<int> out;
    for (size_t at = 0; at < list.size();) {
        const size_t comma = list.find(',', at);
        out.push_back(std::atoi(list.substr(at, comma - at).c_str()));
        at = comma == std::string::npos ? list.size() : comma + 1;
    }
    return out;
}

size_t used_bytes(const bitnet::LoadedPlugin& p) {
    size_t free_b = 0, total = 0;
    const bitnet_device_iface* dev = p.device_iface();
    if (dev->memory_info == nullptr || dev->memory_info(p.instance(), &free_b, &total) != BITNET_OK) return 0;
    return total - free_b;
}

} // namespace

int main(int argc, char** argv) {
    std::string plugin_dir, model_path, device = "cuda";
    int prompt = 128, steps = 64, d2d_mib = 1024;
    std::vector<int> batches = {1, 4, 16};
    std::vector<int> parallels;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) die(a + " needs a value");
            return argv[++i];
        };
        if (a == "--plugin-dir") plugin_dir = next();
        else if (a == "-m") model_path = next();
        else if (a == "--prompt") prompt = std::atoi(next().c_str());
        else if (a == "--steps") steps = std::atoi(next().c_str());
        else if (a == "--parallel") parallels = int_list(next());
        else if (a == "--batches") batches = int_list(next());
        else if (a == "--device") device = next();
        else if (a == "--d2d-mib") d2d_mib = std::atoi(next().c_str());
        else die("unknown argument " + a);
    }
    if (plugin_dir.empty() || model_path.empty() || prompt < 1 || steps < 1 || d2d_mib < 1)
        die("usage: --plugin-dir DIR -m MODEL [--device NAME] (see the source's header)");

    bitnet::ThreadPool pool(2);
    bitnet::PluginRegistry reg(&pool);
    reg.discover({{plugin_dir, "--plugin-dir"}});
    const bitnet::LoadedPlugin* gpu = reg.find(device);
    if (gpu == nullptr) {
        for (const auto& r : reg.records())
            if (r.name == device) die(device + " plugin not loaded: " + r.reason);
        die("no " + device + " plugin in " + plugin_dir);
    }
    if (gpu->device_iface() == nullptr) die(device + " is not a GPU plugin");
    std::printf("device %s\n", gpu->device_description().c_str());
    std::printf("d2d_gbs %.1f\n", d2d_bandwidth(*gpu, size_t(d2d_mib)) / 1e9);

    const size_t used0 = used_bytes(*gpu);
    auto model = bitnet::model::Model::load(model_path);
    bitnet::Router router(reg, {});
    int max_batch = 1;
    for (int b : batches) max_batch = std::max(max_batch, b);
    bitnet::model::SessionOptions so;
    so.device = device;
    so.n_batch = std::max(prompt, max_batch);
    so.n_ctx = prompt + (steps + 2) * max_batch + 8;
    bitnet::model::Session session(*model, router, so);
    std::printf("vram_mib %.0f\n", double(used_bytes(*gpu) - used0) / double(1 << 20));
    const size_t weight_bytes = model->weights().packed_bytes();
    std::printf("weights_mib %.0f\n", double(weight_bytes) / double(1 << 20));
    std::printf("kv_mib %.0f\n", double(session.kv_bytes()) / double(1 << 20));
    std::printf("file_mib %.0f\n", double(std::filesystem::file_size(model_path)) / double(1 << 20));

    const int32_t n_vocab = model->hparams().n_vocab;
    std::vector<int32_t> ids(static_cast<size_t>(prompt));
    for (int i = 0; i < prompt; ++i) ids[size_t(i)] = int32_t((i * 7919 + 1) % n_vocab);
    std::vector<float> logits;
    // Time to first token: a cold prefill (the first one also warms up the kernels: report the second).
    double ttft = 0;
    for (int rep = 0; rep < 2; ++rep) {
        session.reset();
        const auto t0 = Clock::now();
        session.decode(ids, false, logits);
        ttft = since(t0);
    }
    std::printf("ttft_ms %.2f\n", ttft * 1e3);

    for (int b : batches) {
        session.reset();
        session.decode(std::span<const int32_t>(ids.data(), 1), false, logits);
        std::vector<int32_t> step(size_t(b), 13);
        // Two untimed steps: the first runs eagerly, the second records the graph.
        session.decode(step, false, logits);
        session.decode(step, false, logits);
        const auto t0 = Clock::now();
        for (int s = 0; s < steps; ++s) session.decode(step, false, logits);
        const double secs = since(t0);
        const double steps_per_s = steps / secs;
        std::printf("tg%d_tps %.1f\n", b, steps_per_s * b);
        std::printf("tg%d_weight_gbs %.1f\n", b, steps_per_s * double(weight_bytes) / 1e9);
    }
    for (int n : parallels) {
        if (n < 2) die("--parallel needs sequence counts of at least 2");
        bitnet::model::SessionOptions po = so;
        po.n_seq = n;
        po.n_batch = std::max(n, 1);
        po.n_ctx = steps + 8;
        bitnet::model::Session par(*model, router, po);
        std::vector<int32_t> seqs(static_cast<size_t>(n)), toks(static_cast<size_t>(n), 13);
        for (int i = 0; i < n; ++i) seqs[size_t(i)] = i;
        // Warm-up: the first step runs eagerly, the second is recorded as a graph.
        par.decode_parallel(seqs, toks, logits);
        par.decode_parallel(seqs, toks, logits);
        const auto t0 = Clock::now();
        for (int s = 0; s < steps; ++s) par.decode_parallel(seqs, toks, logits);
        const double steps_per_s = steps / since(t0);
        std::printf("par%d_tps %.1f\n", n, steps_per_s * n);
        std::printf("par%d_weight_gbs %.1f\n", n, steps_per_s * double(weight_bytes) / 1e9);
    }
    return 0;
}
