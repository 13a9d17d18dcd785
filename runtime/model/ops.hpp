// Typed front door to the routed kernels: builds each op's argument struct, asks the router for
// the kernel, supplies packed weights and workspace, and falls back down the router's ordered list
// when a kernel reports an error (the error is logged once; scalar is always last).
#pragma once

#include "dispatch/router.hpp"
#include "dispatch/scratch.hpp"
#include "model/kv_cache.hpp"
#include "model/weights.hpp"

#include <bitnet/plugin.h>

#include <span>
#include <vector>

namespace bitnet::model {

// Host-side quantized activations for up to `rows` rows of `k` values.
struct QuantBuffer {
    void resize(int32_t rows, int32_t k);
    std::vector<int8_t> data;
    std::vector<float> scales;
    std::vector<int32_t> row_sums;
    bitnet_qact view{};
    int32_t k = 0;
};

class Ops {
public:
    explicit Ops(Router& router) : router_(router) {}

    void quantize(bitnet_act_type type, int32_t m, int32_t k, const float* x, int32_t ldx, QuantBuffer& out);
    // y[M, w.n] = x · wᵀ; x_q is used for ternary formats, x_f32 for float formats.
    void matmul(LinearWeight& w, int32_t m, const QuantBuffer* x_q, const float* x_f32, int32_t ldx, float* y,
                int32_t ldy);
    // One weight of matmul_parts and where its outputs go.
    struct MatmulOut {
        LinearWeight* w;
        float* y;
        int32_t ldy;
    };
    // Several weights over the same x (Q, K and V; gate and up), each as matmul() computes it: one
    // call when the kernel routed for every weight's signature is the same one and it computes
    // ABI 1.5's parts (a device saves launches), else a call per weight. The weights share the act
    // type (x_q holds it) and K.
    void matmul_parts(std::span<const MatmulOut> outs, int32_t m, const QuantBuffer* x_q, const float* x_f32,
                      int32_t ldx);
    // A BitLinear block in one call (ABI 1.5): `prologue` (a NORM_QUANTIZE without residual, whose
    // out is x_q's view) then the weights' products, added into their y when `accumulate`. Only
    // where fuses_blocks() said so for these weights; should the kernel fail, the same steps run as
    // separate calls (products through `scratch`, M x max n floats, when accumulating).
    void matmul_block(std::span<const MatmulOut> outs, int32_t m, QuantBuffer& x_q,
                      const bitnet_norm_quantize_args& prologue, bool accumulate, float* scratch);
    // Whether one kernel serves every weight in `ws` at m tokens and takes parts, prologues and
    // accumulation (so matmul_block is one call).
    bool fuses_blocks(std::span<LinearWeight* const> ws, int32_t m);
    void rmsnorm(int32_t m, int32_t n, const float* x, int32_t ldx, const float* weight, float eps, float* y,
                 int32_t ldy);
    // [x = ffn_act(x, up) | x += residual;] y = rmsnorm(x)·weight; out = quantize(y): one
    // BITNET_OP_NORM_QUANTIZE call. `up` only where fuses_norm_ffn_act() says the kernel takes it.
    void norm_quantize(bitnet_act_type type, int32_t m, int32_t n, float* x, int32_t ldx, const float* residual,
                       int32_t ld_residual, const float* weight, float eps, float* y, int32_t ldy, QuantBuffer& out,
                       const float* up = nullptr, bitnet_ffn_kind ffn_kind = BITNET_FFN_RELU2);
    // The argument struct norm_quantize() passes (also a matmul_block prologue's, residual NULL).
    static bitnet_norm_quantize_args norm_quantize_args(bitnet_act_type type, int32_t m, int32_t n, float* x, int32_t ldx,
                                                        const float* residual, int32_t ld_residual, const float* weight,
                                                        float eps, float* y, int32_t ldy, QuantBuffer& out,
                                                        const float* up = nullptr,
                                                        bitnet_ffn_kind ffn_kind = BITNET_FFN_RELU2);
    // Whether the plugin that serves RMSNORM at (m, n) also offers NORM_QUANTIZE for `type`: the
    // fused op is then worth a call (it cuts a GPU's launches), else the three ops run.
    bool fuses_norm_quantize(bitnet_act_type type, int32_t m, int32_t n);
    // Whether the NORM_QUANTIZE kernel routed for (type, m, n) applies the FFN activation too.
    bool fuses_norm_ffn_act(bitnet_act_type type, int32_t m, int32_t n);
    // RoPE over x in place; with `store` (a KV_STORE or, with store_op, KV_STORE_SEQS call's args,
    // from kv_store_args / kv_store_seqs_args), the cache store of the rotated rows follows: in the
    // same call where the ROPE kernel and every fall-back take it (ABI 1.5), else as its own call.
    void rope(int32_t m, int32_t n_heads, int32_t head_dim, int32_t n_rot, float base, float scale,
              const int32_t* positions, float* x, int32_t ldx, const bitnet_kv_store_args* store = nullptr,
              bitnet_op store_op = BITNET_OP_KV_STORE);
    void attention(const bitnet_attention_args& args);
    // BITNET_OP_ATTENTION_SEQS: args.row_pos/row_slot/slot_stride/n_slots/max_keys say where each
    // row's sequence lives.
    void attention_seqs(const bitnet_attention_args& args);
    void ffn_act(bitnet_ffn_kind kind, int32_t m, int32_t n, const float* gate, const float* up, float* y, int32_t ld);
    void add(int32_t m, int32_t n, const float* x, int32_t ldx, float* y, int32_t ldy);
    // K/V rows (f32, stride ld) into the F16 cache at positions pos0.. (through the routed kernel,
    // so a device backend writes its own device-resident cache).
    void kv_store(int32_t m, int32_t pos0, int32_t width, const float* k, const float* v, int32_t ld,
                  uint16_t* k_cache, uint16_t* v_cache, const KvLayout& layout);
    // The argument structs kv_store and kv_store_seqs pass, for rope()'s `store`.
    static bitnet_kv_store_args kv_store_args(int32_t m, int32_t pos0, int32_t width, const float* k, const float* v,
                                              int32_t ld, uint16_t* k_cache, uint16_t* v_cache, const KvLayout& layout);
    static bitnet_kv_store_args kv_store_seqs_args(int32_t m, const int32_t* row_pos, const int32_t* row_slot,
                                                   int32_t width, const float* k, const float* v, int32_t ld,
                                                   uint16_t* k_cache, uint16_t* v_cache, const KvLayout& layout,
                                                   int64_t slot_stride, int32_t n_slots, int32_t max_keys);
    // BITNET_OP_KV_STORE_SEQS: row t into slot row_slot[t] at position row_pos[t] (both arrays in
    // the kernel's memory); slot s starts slot_stride halves after slot 0.
    void kv_store_seqs(int32_t m, const int32_t* row_pos, const int32_t* row_slot, int32_t width, const float* k,
                       const float* v, int32_t ld, uint16_t* k_cache, uint16_t* v_cache, const KvLayout& layout,
                       int64_t slot_stride, int32_t n_slots, int32_t max_keys);

    // Packs `w` for the kernels routed at these batch sizes (done at load, so the first token
    // pays nothing). True when every one of them runs on a packed copy, so the file's bytes of `w`
    // are not read again unless a kernel fails over (the caller may then drop their pages).
    bool prepare(LinearWeight& w, std::initializer_list<int32_t> batch_sizes);

    // `w` in the form kernel `k` runs on: its pack_weights result (made once, kept in w.packed), or
    // nullptr when the kernel reads the file's bytes. Throws DispatchError when packing fails.
    const void* packed_for(LinearWeight& w, const KernelRef& k, const bitnet_shape& shape);

    Router& router() { return router_; }

private:
    // What a kernel needs to run a whole block (matmul_block) in one call.
    static constexpr uint32_t kBlockFlags =
        BITNET_KERNEL_FLAG_MATMUL_PARTS | BITNET_KERNEL_FLAG_MATMUL_PROLOGUE | BITNET_KERNEL_FLAG_MATMUL_ACCUMULATE;
    // Runs `outs` as one call of the kernel routed for the first weight, `a` carrying what the
    // caller set (x, prologue, accumulate): true when it ran. False, having run nothing, when the
    // weights' kernels differ or lack `flags`; false after a failure (said once, as `what`).
    bool run_in_one_call(std::span<const MatmulOut> outs, int32_t m, bitnet_matmul_args& a, uint32_t flags,
                         const char* what);
    // Whether `shape` has kernels and every one the router could run (or fall back to) sets `flag`.
    bool every_kernel_has(const bitnet_shape& shape, uint32_t flag);
    void run(const bitnet_shape& shape, void* args, LinearWeight* w = nullptr);
    void attention_op(bitnet_op op, const bitnet_attention_args& args);

    Router& router_;
    Scratch workspace_;
};

} // namespace bitnet::model
