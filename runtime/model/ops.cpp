#include "model/ops.hpp"

#include "core/log.hpp"
#include "plugin/plugin_loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>

namespace bitnet::model {

void QuantBuffer::resize(int32_t rows, int32_t kk) {
    k = kk;
    const size_t stride = (static_cast<size_t>(kk) + 63) / 64 * 64;
    data.assign(stride * rows, 0);
    scales.assign(static_cast<size_t>(rows) * ((kk + 255) / 256 + 1), 0.0f);
    row_sums.assign(rows, 0);
    view.data = data.data();
    view.scales = scales.data();
    view.row_sums = row_sums.data();
    view.row_stride = stride;
}

namespace {
LinearWeight::PackKey pack_key(const KernelRef& k) {
    return {k.plugin, reinterpret_cast<uintptr_t>(k.desc->pack_weights)};
}
} // namespace

const void* Ops::packed_for(LinearWeight& w, const KernelRef& k, const bitnet_shape& shape) {
    if (k.desc->pack_weights == nullptr) return nullptr;
    if (auto it = w.packed.find(pack_key(k)); it != w.packed.end()) return it->second.ptr;
    void* ptr = nullptr;
    size_t bytes = 0;
    bitnet_status st = k.desc->pack_weights(k.plugin->instance(), &shape, w.data, w.size, &ptr, &bytes);
    if (st != BITNET_OK || ptr == nullptr)
        throw DispatchError(fmt::format("{}: pack_weights failed for {}: {}", k.label(), w.name, status_string(st)));
    w.packed[pack_key(k)] = {k.plugin, k.desc, ptr, bytes};
    return ptr;
}

bool Ops::prepare(LinearWeight& w, std::initializer_list<int32_t> batch_sizes) {
    bool reads_file = false;
    for (int32_t m : batch_sizes) {
        const bitnet_shape shape = make_shape(BITNET_OP_MATMUL, w.wf, w.act, m, w.n, w.k);
        const KernelRef& k = router_.route(shape);
        packed_for(w, k, shape);
        if (k.desc->pack_weights == nullptr) reads_file = true;
        if (m == 1) w.decode_bytes = k.desc->pack_weights != nullptr ? w.packed.at(pack_key(k)).bytes : 0;
    }
    return !reads_file;
}

void Ops::run(const bitnet_shape& shape, void* args, LinearWeight* w) {
    const auto& order = router_.order(shape);
    // Timing costs two clock reads, paid only while an observer (runtime adaptation) is installed.
    KernelObserver* const observer = router_.observer();
    std::string failures;
    for (const KernelRef& k : order) {
        void* ws = nullptr;
        if (k.desc->workspace_size) {
            const size_t bytes = k.desc->workspace_size(k.plugin->instance(), &shape);
            if (bytes > 0) ws = workspace_.get(bytes);
        }
        bitnet_weights wv{};
        if (w != nullptr) {
            wv = {w->data, w->size, w->scale, packed_for(*w, k, shape)};
            static_cast<bitnet_matmul_args*>(args)->w = &wv;
        }
        bitnet_status st;
        if (observer == nullptr) {
            st = k.desc->run(k.plugin->instance(), args, ws);
            if (st == BITNET_OK) return;
        } else {
            const auto t0 = std::chrono::steady_clock::now();
            st = k.desc->run(k.plugin->instance(), args, ws);
            if (st == BITNET_OK) {
                const auto ns = std::chrono::steady_clock::now() - t0;
                observer->on_kernel_run(shape, k, std::chrono::duration_cast<std::chrono::nanoseconds>(ns).count());
                return;
            }
        }
        // Fall back to the next kernel; say so once per kernel and signature.
        static std::set<std::string> warned;
        const std::string key = k.label() + " " + signature_string(shape);
        if (warned.insert(key).second)
            logger().warn("kernel {} failed ({}) on {}; falling back", k.label(), status_string(st), signature_string(shape));
        failures += fmt::format(" {}: {};", k.label(), status_string(st));
    }
    throw DispatchError(fmt::format("every kernel failed for {}:{}", signature_string(shape), failures));
}

void Ops::quantize(bitnet_act_type type, int32_t m, int32_t k, const float* x, int32_t ldx, QuantBuffer& out) {
    bitnet_quantize_args a{};
    a.struct_size = sizeof(a);
    a.m = m;
    a.k = k;
    a.x = x;
    a.ldx = ldx;
    a.out = &out.view;
    run(make_shape(BITNET_OP_QUANTIZE_ACT, BITNET_WF_NONE, type, m, k, 0), &a);
}

void Ops::matmul(LinearWeight& w, int32_t m, const QuantBuffer* x_q, const float* x_f32, int32_t ldx, float* y,
                 int32_t ldy) {
    bitnet_matmul_args a{};
    a.struct_size = sizeof(a);
    a.m = m;
    a.n = w.n;
    a.k = w.k;
    a.act_type = w.act;
    a.x_f32 = x_f32;
    a.x_q = x_q ? &x_q->view : nullptr;
    a.ldx = ldx;
    a.y = y;
    a.ldy = ldy;
    run(make_shape(BITNET_OP_MATMUL, w.wf, w.act, m, w.n, w.k), &a, &w);
}

bool Ops::run_in_one_call(std::span<const MatmulOut> outs, int32_t m, bitnet_matmul_args& a, uint32_t flags,
                          const char* what) {
    LinearWeight& w0 = *outs[0].w;
    const bitnet_shape s0 = make_shape(BITNET_OP_MATMUL, w0.wf, w0.act, m, w0.n, w0.k);
    const KernelRef& k = router_.route(s0);
    if (outs.size() > size_t(BITNET_MATMUL_MAX_PARTS) + 1 || (k.desc->flags & flags) != flags) return false;
    std::array<bitnet_weights, BITNET_MATMUL_MAX_PARTS + 1> wv{};
    for (size_t i = 0; i < outs.size(); ++i) {
        LinearWeight& w = *outs[i].w;
        const bitnet_shape si = make_shape(BITNET_OP_MATMUL, w.wf, w.act, m, w.n, w.k);
        const KernelRef& ki = router_.route(si);
        if (ki.desc != k.desc || ki.plugin != k.plugin || w.act != w0.act || w.k != w0.k) return false;
        wv[i] = {w.data, w.size, w.scale, packed_for(w, k, si)};
        if (i > 0) a.parts[i - 1] = {&wv[i], w.n, outs[i].y, outs[i].ldy};
    }
    a.struct_size = sizeof(a);
    a.m = m;
    a.n = w0.n;
    a.k = w0.k;
    a.act_type = w0.act;
    a.w = &wv[0];
    a.y = outs[0].y;
    a.ldy = outs[0].ldy;
    a.n_parts = int32_t(outs.size()) - 1;
    void* ws = nullptr;
    if (k.desc->workspace_size) {
        const size_t bytes = k.desc->workspace_size(k.plugin->instance(), &s0);
        if (bytes > 0) ws = workspace_.get(bytes);
    }
    const bitnet_status st = k.desc->run(k.plugin->instance(), &a, ws);
    if (st == BITNET_OK) return true;
    // The caller runs the same steps one call each, with the usual fall-backs; say so once.
    static std::set<std::string> warned;
    if (warned.insert(k.label() + " " + signature_string(s0) + what).second)
        logger().warn("kernel {} failed ({}) on {} with {}; running them one call each", k.label(), status_string(st),
                      signature_string(s0), what);
    return false;
}

void Ops::matmul_parts(std::span<const MatmulOut> outs, int32_t m, const QuantBuffer* x_q, const float* x_f32,
                       int32_t ldx) {
    if (outs.size() > 1) {
        bitnet_matmul_args a{};
        a.x_f32 = x_f32;
        a.x_q = x_q ? &x_q->view : nullptr;
        a.ldx = ldx;
        if (run_in_one_call(outs, m, a, BITNET_KERNEL_FLAG_MATMUL_PARTS, "parts")) return;
    }
    for (const MatmulOut& o : outs) matmul(*o.w, m, x_q, x_f32, ldx, o.y, o.ldy);
}

bool Ops::fuses_blocks(std::span<LinearWeight* const> ws, int32_t m) {
    for (LinearWeight* w : ws) {
        if (w->act == BITNET_ACT_F32) return false;
        const KernelRef& k = router_.route(make_shape(BITNET_OP_MATMUL, w->wf, w->act, m, w->n, w->k));
        if ((k.desc->flags & kBlockFlags) != kBlockFlags) return false;
    }
    return true;
}

void Ops::matmul_block(std::span<const MatmulOut> outs, int32_t m, QuantBuffer& x_q,
                       const bitnet_norm_quantize_args& prologue, bool accumulate, float* scratch) {
    bitnet_matmul_args a{};
    a.x_q = &x_q.view;
    a.ldx = outs[0].w->k;
    a.prologue = &prologue;
    a.accumulate = accumulate ? 1 : 0;
    if (run_in_one_call(outs, m, a, kBlockFlags, "a prologue")) return;
    // The same steps, one call each: the prologue (its activation apart where the norm's kernel
    // does not take it), the products, the additions.
    const float* up = prologue.up;
    if (up != nullptr && !fuses_norm_ffn_act(prologue.act_type, m, prologue.n)) {
        ffn_act(prologue.ffn_kind, m, prologue.n, prologue.x, up, prologue.x, prologue.ldx);
        up = nullptr;
    }
    norm_quantize(prologue.act_type, m, prologue.n, prologue.x, prologue.ldx, nullptr, 0, prologue.weight, prologue.eps,
                  prologue.y, prologue.ldy, x_q, up, prologue.ffn_kind);
    for (const MatmulOut& o : outs) {
        if (!accumulate) {
            matmul(*o.w, m, &x_q, nullptr, o.w->k, o.y, o.ldy);
            continue;
        }
        matmul(*o.w, m, &x_q, nullptr, o.w->k, scratch, o.w->n);
        add(m, o.w->n, scratch, o.w->n, o.y, o.ldy);
    }
}

void Ops::rmsnorm(int32_t m, int32_t n, const float* x, int32_t ldx, const float* weight, float eps, float* y,
                  int32_t ldy) {
    bitnet_rmsnorm_args a{};
    a.struct_size = sizeof(a);
    a.m = m;
    a.n = n;
    a.x = x;
    a.ldx = ldx;
    a.weight = weight;
    a.eps = eps;
    a.y = y;
    a.ldy = ldy;
    run(make_shape(BITNET_OP_RMSNORM, BITNET_WF_NONE, BITNET_ACT_F32, m, n, 0), &a);
}

bitnet_norm_quantize_args Ops::norm_quantize_args(bitnet_act_type type, int32_t m, int32_t n, float* x, int32_t ldx,
                                                  const float* residual, int32_t ld_residual, const float* weight,
                                                  float eps, float* y, int32_t ldy, QuantBuffer& out, const float* up,
                                                  bitnet_ffn_kind ffn_kind) {
    bitnet_norm_quantize_args a{};
    a.struct_size = sizeof(a);
    a.m = m;
    a.n = n;
    a.x = x;
    a.ldx = ldx;
    a.residual = residual;
    a.ld_residual = ld_residual;
    a.weight = weight;
    a.eps = eps;
    a.y = y;
    a.ldy = ldy;
    a.act_type = type;
    a.out = &out.view;
    a.up = up;
    a.ld_up = ldx;
    a.ffn_kind = ffn_kind;
    return a;
}

void Ops::norm_quantize(bitnet_act_type type, int32_t m, int32_t n, float* x, int32_t ldx, const float* residual,
                        int32_t ld_residual, const float* weight, float eps, float* y, int32_t ldy, QuantBuffer& out,
                        const float* up, bitnet_ffn_kind ffn_kind) {
    bitnet_norm_quantize_args a =
        norm_quantize_args(type, m, n, x, ldx, residual, ld_residual, weight, eps, y, ldy, out, up, ffn_kind);
    run(make_shape(BITNET_OP_NORM_QUANTIZE, BITNET_WF_NONE, type, m, n, 0), &a);
}

bool Ops::every_kernel_has(const bitnet_shape& shape, uint32_t flag) {
    if (router_.candidates(shape).empty()) return false;
    const auto& order = router_.order(shape);
    return !order.empty() &&
           std::all_of(order.begin(), order.end(), [flag](const KernelRef& k) { return (k.desc->flags & flag) != 0; });
}

bool Ops::fuses_norm_ffn_act(bitnet_act_type type, int32_t m, int32_t n) {
    // Every kernel the call could fall back to must take `up` too, or a fall-back would drop it.
    return every_kernel_has(make_shape(BITNET_OP_NORM_QUANTIZE, BITNET_WF_NONE, type, m, n, 0),
                            BITNET_KERNEL_FLAG_NORM_FFN_ACT);
}

bool Ops::fuses_norm_quantize(bitnet_act_type type, int32_t m, int32_t n) {
    const bitnet_shape fused = make_shape(BITNET_OP_NORM_QUANTIZE, BITNET_WF_NONE, type, m, n, 0);
    const auto candidates = router_.candidates(fused);
    if (candidates.empty()) return false;
    const KernelRef norm = router_.route(make_shape(BITNET_OP_RMSNORM, BITNET_WF_NONE, BITNET_ACT_F32, m, n, 0));
    return std::any_of(candidates.begin(), candidates.end(), [&](const KernelRef& k) { return k.plugin == norm.plugin; });
}

void Ops::rope(int32_t m, int32_t n_heads, int32_t head_dim, int32_t n_rot, float base, float scale,
               const int32_t* positions, float* x, int32_t ldx, const bitnet_kv_store_args* store,
               bitnet_op store_op) {
    bitnet_rope_args a{};
    a.struct_size = sizeof(a);
    a.m = m;
    a.n_heads = n_heads;
    a.head_dim = head_dim;
    a.n_rot = n_rot;
    a.freq_base = base;
    a.freq_scale = scale;
    a.neox = 1;
    a.positions = positions;
    a.x = x;
    a.ldx = ldx;
    bitnet_shape s = make_shape(BITNET_OP_ROPE, BITNET_WF_NONE, BITNET_ACT_F32, m, n_heads * head_dim, 0);
    s.n_heads = n_heads;
    s.head_dim = head_dim;
    if (store == nullptr) {
        run(s, &a);
        return;
    }
    // One call where every kernel the router could run for it stores too (a fall-back that does
    // not would drop the store).
    if (every_kernel_has(s, BITNET_KERNEL_FLAG_ROPE_KV_STORE)) {
        a.kv_store = store;
        a.kv_store_op = store_op;
        run(s, &a);
        return;
    }
    run(s, &a);
    bitnet_kv_store_args st = *store;
    run(make_shape(store_op, BITNET_WF_NONE, BITNET_ACT_F32, st.m, st.width, 0), &st);
}

void Ops::attention(const bitnet_attention_args& args) { attention_op(BITNET_OP_ATTENTION, args); }

void Ops::attention_seqs(const bitnet_attention_args& args) { attention_op(BITNET_OP_ATTENTION_SEQS, args); }

void Ops::attention_op(bitnet_op op, const bitnet_attention_args& args) {
    bitnet_attention_args a = args;
    a.struct_size = sizeof(a);
    bitnet_shape s = make_attention_shape(a.m, a.n_heads, a.n_kv_heads, a.head_dim);
    s.op = op;
    run(s, &a);
}

void Ops::ffn_act(bitnet_ffn_kind kind, int32_t m, int32_t n, const float* gate, const float* up, float* y, int32_t ld) {
    bitnet_ffn_act_args a{};
    a.struct_size = sizeof(a);
    a.kind = kind;
    a.m = m;
    a.n = n;
    a.gate = gate;
    a.up = up;
    a.y = y;
    a.ld = ld;
    run(make_shape(BITNET_OP_FFN_ACT, BITNET_WF_NONE, BITNET_ACT_F32, m, n, 0), &a);
}

void Ops::add(int32_t m, int32_t n, const float* x, int32_t ldx, float* y, int32_t ldy) {
    bitnet_add_args a{};
    a.struct_size = sizeof(a);
    a.m = m;
    a.n = n;
    a.x = x;
    a.ldx = ldx;
    a.y = y;
    a.ldy = ldy;
    run(make_shape(BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32, m, n, 0), &a);
}

namespace {
// The fields KV_STORE and KV_STORE_SEQS share.
bitnet_kv_store_args common_kv_store_args(int32_t m, int32_t width, const float* k, const float* v, int32_t ld,
                                          uint16_t* k_cache, uint16_t* v_cache, const KvLayout& layout) {
    bitnet_kv_store_args a{};
    a.struct_size = sizeof(a);
    a.m = m;
    a.width = width;
    a.k = k;
    a.v = v;
    a.ld = ld;
    a.k_cache = k_cache;
    a.v_cache = v_cache;
    a.kv_stride = layout.pos_stride;
    a.head_dim = layout.head_dim;
    a.kv_head_stride = layout.head_stride;
    return a;
}
} // namespace

bitnet_kv_store_args Ops::kv_store_args(int32_t m, int32_t pos0, int32_t width, const float* k, const float* v,
                                        int32_t ld, uint16_t* k_cache, uint16_t* v_cache, const KvLayout& layout) {
    bitnet_kv_store_args a = common_kv_store_args(m, width, k, v, ld, k_cache, v_cache, layout);
    a.pos0 = pos0;
    return a;
}

bitnet_kv_store_args Ops::kv_store_seqs_args(int32_t m, const int32_t* row_pos, const int32_t* row_slot, int32_t width,
                                             const float* k, const float* v, int32_t ld, uint16_t* k_cache,
                                             uint16_t* v_cache, const KvLayout& layout, int64_t slot_stride,
                                             int32_t n_slots, int32_t max_keys) {
    bitnet_kv_store_args a = common_kv_store_args(m, width, k, v, ld, k_cache, v_cache, layout);
    a.row_pos = row_pos;
    a.row_slot = row_slot;
    a.slot_stride = slot_stride;
    a.n_slots = n_slots;
    a.max_keys = max_keys;
    return a;
}

void Ops::kv_store(int32_t m, int32_t pos0, int32_t width, const float* k, const float* v, int32_t ld,
                   uint16_t* k_cache, uint16_t* v_cache, const KvLayout& layout) {
    bitnet_kv_store_args a = kv_store_args(m, pos0, width, k, v, ld, k_cache, v_cache, layout);
    run(make_shape(BITNET_OP_KV_STORE, BITNET_WF_NONE, BITNET_ACT_F32, m, width, 0), &a);
}

void Ops::kv_store_seqs(int32_t m, const int32_t* row_pos, const int32_t* row_slot, int32_t width, const float* k,
                        const float* v, int32_t ld, uint16_t* k_cache, uint16_t* v_cache, const KvLayout& layout,
                        int64_t slot_stride, int32_t n_slots, int32_t max_keys) {
    bitnet_kv_store_args a = kv_store_seqs_args(m, row_pos, row_slot, width, k, v, ld, k_cache, v_cache, layout,
                                                slot_stride, n_slots, max_keys);
    run(make_shape(BITNET_OP_KV_STORE_SEQS, BITNET_WF_NONE, BITNET_ACT_F32, m, width, 0), &a);
}

} // namespace bitnet::model
