// Tensor list and random payloads. Each tensor (and each chunk of rows of the embedding) has
// its own RNG stream, so the bytes do not depend on how the work is split across threads.
#include "modelgen/internal.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace bitnet::modelgen::detail {
namespace {

using formats::GgmlType;

constexpr int64_t kEmbdChunkRows = 1024;

struct Job {
    size_t tensor;
    int64_t row0, rows;  // a slice of rows (the whole tensor except for the embedding)
};

void fill_ternary(const TensorPlan& p, uint64_t seed, size_t index, std::vector<int8_t>& codes, uint8_t* dst) {
    Rng rng(seed, index << 20);
    const int64_t fan_in = p.dims[0];
    const int64_t n = fan_in * (p.dims.size() > 1 ? p.dims[1] : 1);
    // One scale per tensor, exactly representable in fp16 as the oracle's make_models.py does, so
    // TQ blocks (which store fp16 d) and I2_S (f32) decode to the same weights.
    const float raw = 1.0f / std::sqrt(0.667f * static_cast<float>(fan_in)) * (0.8f + 0.45f * rng.uniform());
    const float scale = formats::fp16_to_f32(formats::f32_to_fp16(raw));
    codes.resize(static_cast<size_t>(n));
    int64_t i = 0;
    // Four codes per draw: 16 random bits each, mapped to {0,1,2} by multiply-shift.
    for (; i + 4 <= n; i += 4) {
        const uint64_t r = rng.next();
        for (int k = 0; k < 4; ++k)
            codes[i + k] = static_cast<int8_t>((((r >> (16 * k)) & 0xFFFF) * 3 >> 16) - 1);
    }
    for (; i < n; ++i) codes[i] = static_cast<int8_t>(((rng.next() & 0xFFFF) * 3 >> 16) - 1);
    formats::quantize_ternary(p.type, codes.data(), scale, fan_in, n / fan_in, dst);
}

void fill_normals(Rng& rng, float* x, int64_t n, float mean, float stddev) {
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        float a, b;
        rng.normal2(a, b);
        x[i] = mean + stddev * a;
        x[i + 1] = mean + stddev * b;
    }
    if (i < n) {
        float a, b;
        rng.normal2(a, b);
        x[i] = mean + stddev * a;
    }
}

void fill_float_rows(const TensorPlan& p, uint64_t seed, const Job& job, std::vector<float>& buf, uint8_t* dst) {
    const int64_t row_len = p.dims[0];
    Rng rng(seed, (job.tensor << 20) + static_cast<uint64_t>(job.row0 / kEmbdChunkRows));
    buf.resize(static_cast<size_t>(row_len * job.rows));
    if (p.init == Init::Norm) fill_normals(rng, buf.data(), row_len * job.rows, 1.0f, 0.1f);
    else fill_normals(rng, buf.data(), row_len * job.rows, 0.0f, 0.02f);
    const size_t rb = *formats::row_bytes(p.type, row_len);
    formats::quantize_float(p.type, buf.data(), row_len, job.rows, dst + static_cast<size_t>(job.row0) * rb);
}

} // namespace

std::vector<TensorPlan> plan_tensors(const ModelSpec& s, const GenOptions& opts, int64_t n_vocab) {
    const int64_t kv_dim = s.head_dim() * s.kv_heads;
    const GgmlType w = opts.weights;
    auto norm = [](std::string name, int64_t n) { return TensorPlan{std::move(name), {n}, GgmlType::F32, Init::Norm}; };
    auto lin = [w](std::string name, int64_t in, int64_t out) { return TensorPlan{std::move(name), {in, out}, w, Init::Ternary}; };
    const TensorPlan embd{"token_embd.weight", {s.hidden, n_vocab}, opts.head, Init::Embedding};

    std::vector<TensorPlan> plans;
    if (opts.arch == Arch::BitnetB158) {
        // Microsoft's converter order: embedding, final norm, then each block in graph order.
        plans.push_back(embd);
        plans.push_back(norm("output_norm.weight", s.hidden));
        for (int64_t l = 0; l < s.layers; ++l) {
            const std::string b = "blk." + std::to_string(l) + ".";
            plans.push_back(norm(b + "attn_norm.weight", s.hidden));
            plans.push_back(lin(b + "attn_q.weight", s.hidden, s.hidden));
            plans.push_back(lin(b + "attn_k.weight", s.hidden, kv_dim));
            plans.push_back(lin(b + "attn_v.weight", s.hidden, kv_dim));
            plans.push_back(lin(b + "attn_output.weight", s.hidden, s.hidden));
            plans.push_back(norm(b + "attn_sub_norm.weight", s.hidden));
            plans.push_back(norm(b + "ffn_norm.weight", s.hidden));
            plans.push_back(lin(b + "ffn_gate.weight", s.hidden, s.ffn));
            plans.push_back(lin(b + "ffn_up.weight", s.hidden, s.ffn));
            plans.push_back(lin(b + "ffn_down.weight", s.ffn, s.hidden));
            plans.push_back(norm(b + "ffn_sub_norm.weight", s.ffn));
        }
    } else {
        // llama.cpp's gguf-py writes the final norm and embedding first, then each block's
        // tensors sorted by name (as in p2-bitnet-tiny-tq2_0.gguf).
        plans.push_back(norm("output_norm.weight", s.hidden));
        plans.push_back(embd);
        for (int64_t l = 0; l < s.layers; ++l) {
            const std::string b = "blk." + std::to_string(l) + ".";
            plans.push_back(lin(b + "attn_k.weight", s.hidden, kv_dim));
            plans.push_back(norm(b + "attn_norm.weight", s.hidden));
            plans.push_back(lin(b + "attn_output.weight", s.hidden, s.hidden));
            plans.push_back(lin(b + "attn_q.weight", s.hidden, s.hidden));
            plans.push_back(norm(b + "attn_sub_norm.weight", s.hidden));
            plans.push_back(lin(b + "attn_v.weight", s.hidden, kv_dim));
            plans.push_back(lin(b + "ffn_down.weight", s.ffn, s.hidden));
            plans.push_back(lin(b + "ffn_gate.weight", s.hidden, s.ffn));
            plans.push_back(norm(b + "ffn_norm.weight", s.hidden));
            plans.push_back(norm(b + "ffn_sub_norm.weight", s.ffn));
            plans.push_back(lin(b + "ffn_up.weight", s.hidden, s.ffn));
        }
    }
    return plans;
}

std::vector<std::vector<uint8_t>> fill_tensors(const std::vector<TensorPlan>& plans, uint64_t seed, int threads) {
    std::vector<std::vector<uint8_t>> out(plans.size());
    std::vector<Job> jobs;
    for (size_t i = 0; i < plans.size(); ++i) {
        const TensorPlan& p = plans[i];
        const int64_t rows = p.dims.size() > 1 ? p.dims[1] : 1;
        out[i].resize(*formats::tensor_bytes(p.type, p.dims[0], rows));
        const int64_t step = p.init == Init::Embedding ? kEmbdChunkRows : rows;
        for (int64_t r = 0; r < rows; r += step) jobs.push_back(Job{i, r, std::min(step, rows - r)});
    }

    std::atomic<size_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&] {
        std::vector<int8_t> codes;
        std::vector<float> floats;
        try {
            for (size_t j; (j = next.fetch_add(1)) < jobs.size();) {
                const Job& job = jobs[j];
                const TensorPlan& p = plans[job.tensor];
                if (p.init == Init::Ternary) fill_ternary(p, seed, job.tensor, codes, out[job.tensor].data());
                else fill_float_rows(p, seed, job, floats, out[job.tensor].data());
            }
        } catch (...) {
            const std::lock_guard lock(error_mutex);
            if (!error) error = std::current_exception();
            next = jobs.size();
        }
    };
    unsigned n = threads > 0 ? static_cast<unsigned>(threads) : std::max(1u, std::thread::hardware_concurrency());
    n = std::min<unsigned>(n, static_cast<unsigned>(jobs.size()));
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < n; ++t) pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    return out;
}

} // namespace bitnet::modelgen::detail
