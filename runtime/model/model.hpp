// A loaded BitNet model (weights mmap'd in place, tokenizer, hyper-parameters) and a Session:
// one sequence's KV cache and scratch buffers, running prefill in batches and then one token at a
// time through the routed kernels.
#pragma once

#include "gguf/gguf.hpp"
#include "model/hparams.hpp"
#include "model/kv_cache.hpp"
#include "model/ops.hpp"
#include "model/weights.hpp"
#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitnet::model {

class ContextFullError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Model {
public:
    // Opens, validates and maps `path`; throws gguf::GgufError / tokenizer::TokenizerError with a
    // message naming the file and the problem.
    static std::unique_ptr<Model> load(const std::filesystem::path& path, gguf::File::Load how = gguf::File::Load::map);

    const gguf::File& file() const { return *file_; }
    const HParams& hparams() const { return hp_; }
    Weights& weights() { return *weights_; }
    const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
    // Writes the f32 embedding of `token` (n_embd values).
    void embed(int32_t token, float* out) const;

private:
    Model() = default;
    std::unique_ptr<gguf::File> file_;
    HParams hp_;
    std::unique_ptr<Weights> weights_;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

struct SessionOptions {
    int32_t n_ctx = 0;            // 0: the model's, capped by kv_budget_bytes
    int64_t kv_budget_bytes = 0;  // 0: no cap
    int32_t n_batch = 512;        // tokens per forward pass during prefill
    // Independent sequences, each with its own KV cache of n_ctx positions (kv_budget_bytes caps
    // them together); decode_parallel() advances several of them in one forward pass.
    int32_t n_seq = 1;
    // Where the forward pass runs: "cpu"; a GPU plugin's name ("cuda"); or "auto": the first GPU
    // plugin loaded that has a kernel for every signature the model needs, unless the router pins
    // every op ("all") to a CPU plugin, else the CPU.
    std::string device = "auto";
};

class Session {
public:
    // Throws std::runtime_error when `options.device` names a plugin that is not a loaded GPU
    // plugin with a kernel for every signature.
    Session(Model& model, Router& router, SessionOptions options);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Runs `tokens` at positions n_past().. and appends them to the cache. Logits: every row
    // (tokens.size() × n_vocab) when all_logits, else only the last row. Throws ContextFullError
    // when the tokens do not fit (the cache is left unchanged), std::invalid_argument for a token
    // id outside the vocabulary. The one-sequence form works on sequence 0.
    void decode(std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits) {
        decode(0, tokens, all_logits, logits);
    }
    void decode(int32_t seq, std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits);
    // One token for each of `seqs` (distinct sequence ids, at most n_batch of them) in a single
    // forward pass: the weights are read once for all of them. logits gets one row per sequence,
    // in the order given. Throws as decode() does, and std::invalid_argument for a bad or repeated
    // sequence id; nothing is changed when it throws.
    void decode_parallel(std::span<const int32_t> seqs, std::span<const int32_t> tokens, std::vector<float>& logits);

    int32_t n_past(int32_t seq = 0) const { return n_past_.at(size_t(seq)); }
    int32_t n_ctx() const { return cache_->n_ctx(); }
    int32_t n_seq() const { return cache_->n_seq(); }
    void reset() { std::fill(n_past_.begin(), n_past_.end(), 0); }
    void reset(int32_t seq) { n_past_.at(size_t(seq)) = 0; }
    size_t kv_bytes() const { return cache_->bytes(); }
    bool kv_head_major() const { return cache_->head_major(); }
    Ops& ops() { return ops_; }
    // "cpu", or the plugin whose device holds every buffer of this session.
    std::string device() const;

private:
    struct Device;    // device mode: the plugin, its router, buffers and captured graphs
    struct Buffers;   // the activation buffers one forward pass works on (host or device)
    // Rows [row0, row0 + rows) of a forward pass belong to sequence seq, at its n_past onwards.
    struct Segment {
        int32_t row0, rows, seq;
    };
    void forward_batch(const int32_t* tokens, int32_t m, bool all_logits, float* logits, std::span<const Segment> segs);
    void forward_device(const int32_t* tokens, int32_t m, bool all_logits, float* logits, std::span<const Segment> segs);
    void run_layers(const Buffers& b, int32_t m, std::span<const Segment> segs);
    // Whether the layers at m tokens run BITNET_OP_NORM_QUANTIZE instead of add/rmsnorm/quantize
    // (decided once per m: the plugin serving RMSNORM offers it for every quantized input).
    bool fuse_norm_quantize(int32_t m);
    // Whether the layers at m tokens run each BitLinear block as one call (ABI 1.5: the norm as the
    // matmul's prologue, the output projections accumulated into the residual stream), decided
    // once per m: every layer's linears are served by kernels that take all of it.
    // BITNET_FUSED_BLOCKS=0 keeps the separate calls (A/B, and the test that both agree).
    bool fuse_blocks(int32_t m);
    // Whether a step over several sequences stores and attends in one call each (the device
    // plugin offers ATTENTION_SEQS and KV_STORE_SEQS), rather than one call per sequence.
    bool seqs_in_one_call(std::span<const Segment> segs) const;
    const float* norm(const float* host) const;

    Model& model_;
    std::unique_ptr<Device> dev_; // before ops_ and cache_, which use its router and memory
    Ops ops_;
    SessionOptions opt_;
    std::unique_ptr<KvCache> cache_;               // a slot per sequence
    std::vector<int32_t> n_past_;                  // per sequence
    std::vector<Segment> segs_scratch_;            // decode_parallel's, reserved for n_batch
    std::vector<uint8_t> seen_scratch_;
    // Scratch, sized for n_batch rows at construction.
    std::vector<float> x_, h_, qkv_, attn_, gate_, up_, tmp_;
    std::vector<int32_t> pos_;
    QuantBuffer qa_;
    std::map<int32_t, bool> fuse_by_m_, blocks_by_m_;
};

// The context length a session gets: requested (or the model's), capped by the KV budget.
int32_t choose_n_ctx(const HParams& hp, int32_t requested, int64_t kv_budget_bytes);

} // namespace bitnet::model
