// The transformer forward pass (bitnet.cpp's graph for bitnet-b1.58; llama.cpp's for `bitnet`,
// which differs only in the FFN activation): see ../shared/oracle/README.md §4.
//
// A session runs on the CPU (host buffers, any CPU plugin) or wholly on one GPU plugin's device:
// every buffer (activations, quantized activations, positions, KV cache, logits) and the norm
// weights live in device memory from the plugin's bitnet_device_iface, routing is restricted to
// that plugin (a CPU kernel never sees a device pointer), and per token only the embedding rows go
// in and the logits come out. A plugin offering the "bitnet_cuda_graph_*" extension
// (docs/plugin-abi.md) has each decode step shape recorded once and replayed as one graph launch.
#include "model/model.hpp"

#include "core/log.hpp"
#include "plugin/plugin_loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>

namespace bitnet::model {

// The buffers one forward pass works on; host vectors' data or device allocations.
struct Session::Buffers {
    float *x, *h, *q, *k, *v, *attn, *gate, *up, *tmp;
    int32_t* pos;
    QuantBuffer* qa;
    int32_t* slot = nullptr; // per row: its sequence (device steps over several sequences)
};

namespace {

// The graph extension's entry points (plugins/cuda/graph.cpp documents them).
using GraphBeginFn = bitnet_status (*)(void*, const int32_t*, int32_t);
using GraphEndFn = bitnet_status (*)(void*, void**);
using GraphLaunchFn = bitnet_status (*)(void*, void*);
using GraphDestroyFn = void (*)(void*, void*);

// Rows of logits the device computes per head call (decode steps and batched decoding fit in one).
constexpr int32_t kHeadRows = 16;

// Every signature forward_batch asks for at `m` tokens (head rows up to kHeadRows).
std::vector<bitnet_shape> signatures(const HParams& hp, Weights& W, int32_t m) {
    const int32_t d = hp.n_embd, dq = hp.n_head * hp.head_dim, dkv = hp.n_head_kv * hp.head_dim;
    std::vector<bitnet_shape> out;
    for (int32_t n : {d, dq, hp.n_ff}) {
        out.push_back(make_shape(BITNET_OP_RMSNORM, BITNET_WF_NONE, BITNET_ACT_F32, m, n, 0));
        for (LinearWeight* w : W.linears())
            if (w->act != BITNET_ACT_F32) out.push_back(make_shape(BITNET_OP_QUANTIZE_ACT, BITNET_WF_NONE, w->act, m, n, 0));
    }
    for (LinearWeight* w : W.linears())
        out.push_back(make_shape(BITNET_OP_MATMUL, w->wf, w->act, w == &W.head ? std::min(m, kHeadRows) : m, w->n, w->k));
    {
        const int32_t heads = hp.n_head + hp.n_head_kv; // query and key heads in one call
        bitnet_shape s = make_shape(BITNET_OP_ROPE, BITNET_WF_NONE, BITNET_ACT_F32, m, heads * hp.head_dim, 0);
        s.n_heads = heads;
        s.head_dim = hp.head_dim;
        out.push_back(s);
    }
    out.push_back(make_shape(BITNET_OP_KV_STORE, BITNET_WF_NONE, BITNET_ACT_F32, m, dkv, 0));
    out.push_back(make_attention_shape(m, hp.n_head, hp.n_head_kv, hp.head_dim));
    out.push_back(make_shape(BITNET_OP_FFN_ACT, BITNET_WF_NONE, BITNET_ACT_F32, m, hp.n_ff, 0));
    out.push_back(make_shape(BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32, m, d, 0));
    return out;
}

// Empty when `p` has a kernel for every signature at 1 and n_batch tokens, else the first gap.
std::string coverage_gap(const LoadedPlugin& p, const HParams& hp, Weights& W, int32_t n_batch) {
    for (int32_t m : {1, n_batch})
        for (const bitnet_shape& s : signatures(hp, W, m)) {
            const bool ok = std::any_of(p.kernels().begin(), p.kernels().end(), [&](const bitnet_kernel_desc* k) {
                return kernel_accepts(*k, p.instance(), s);
            });
            if (!ok) return signature_string(s);
        }
    return {};
}

// Whether a host-memory cache can be head-major: every kernel the router could pick for it (the
// routed one or a fall-back, from the plugins of the router's device kind: a GPU plugin's kernels
// never see a CPU session's cache) reads kv_head_stride. BITNET_KV_LAYOUT=interleaved keeps a
// position's heads side by side (A/B runs of the two layouts).
bool kv_head_major_ok(const Router& router) {
    if (const char* env = std::getenv("BITNET_KV_LAYOUT"); env != nullptr && std::string_view(env) == "interleaved")
        return false;
    for (const auto& p : router.registry().plugins()) {
        if (p->device_kind() != router.options().device) continue;
        for (const bitnet_kernel_desc* k : p->kernels())
            if (kv_cache_op(k->op) && !reads_kv_head_stride(*k)) return false;
    }
    return true;
}

// The GPU plugin a session with these options runs on, or null for the CPU.
const LoadedPlugin* choose_device(const HParams& hp, Weights& W, const Router& router, const SessionOptions& opt) {
    if (opt.device == "cpu") return nullptr;
    const auto& reg = router.registry();
    std::string want = opt.device;
    if (want == "auto") {
        // A pin of every op to one plugin is an explicit choice of backend.
        if (auto it = router.options().pins.find("all"); it != router.options().pins.end()) {
            const LoadedPlugin* pinned = reg.find(it->second);
            if (pinned == nullptr || pinned->device_kind() != BITNET_DEVICE_GPU) return nullptr;
            want = it->second;
        }
    }
    if (want == "auto") {
        // GPU plugins in the router's preference order, then any other GPU plugin loaded.
        std::vector<std::string> order = router.options().preference;
        for (const auto& lp : reg.plugins()) order.push_back(lp->name());
        for (const std::string& name : order) {
            const LoadedPlugin* p = reg.find(name);
            if (p == nullptr || p->device_kind() != BITNET_DEVICE_GPU) continue;
            if (std::string gap = coverage_gap(*p, hp, W, opt.n_batch); !gap.empty()) {
                logger().info("device auto: {} has no kernel for {}; running on the CPU", name, gap);
                continue;
            }
            return p;
        }
        return nullptr;
    }
    const LoadedPlugin* p = reg.find(want);
    if (p == nullptr) {
        std::string why = "no plugin of that name is loaded (see bitnet plugins)";
        for (const auto& r : reg.records())
            if (r.name == want && !r.loaded) why = "plugin refused: " + r.reason;
        throw std::runtime_error(fmt::format("device '{}': {}", want, why));
    }
    if (p->device_kind() != BITNET_DEVICE_GPU || p->device_iface() == nullptr)
        throw std::runtime_error(fmt::format("device '{}': not a GPU plugin (use --device cpu)", want));
    if (std::string gap = coverage_gap(*p, hp, W, opt.n_batch); !gap.empty())
        throw std::runtime_error(fmt::format("device '{}': no kernel for {}", want, gap));
    return p;
}

} // namespace

// A recorded step: (tokens, head rows: 0 none, 1 the last, 2 all, sequence).
using GraphKey = std::tuple<int32_t, int, int32_t>;

struct Session::Device {
    const LoadedPlugin* plugin;
    const bitnet_device_iface* iface;
    void* inst;
    std::unique_ptr<Router> router;
    std::vector<void*> allocs;
    float *x = nullptr, *h = nullptr, *q = nullptr, *k = nullptr, *v = nullptr, *attn = nullptr, *gate = nullptr,
          *up = nullptr, *tmp = nullptr, *logits = nullptr;
    int32_t *pos = nullptr, *n_past = nullptr, *slot = nullptr;
    bool seqs_ops = false; // the plugin has ATTENTION_SEQS and KV_STORE_SEQS
    QuantBuffer qa;
    std::unordered_map<const float*, const float*> norms; // host norm weight -> device copy
    std::vector<float> staging;                            // embedding rows on their way in
    std::vector<int32_t> host_pos, host_slot;
    // Graphs per step shape: a shape is run eagerly the first time, recorded the second.
    GraphBeginFn graph_begin = nullptr;
    GraphEndFn graph_end = nullptr;
    GraphLaunchFn graph_launch = nullptr;
    GraphDestroyFn graph_destroy = nullptr;
    std::map<GraphKey, void*> graphs;
    std::map<GraphKey, int> runs;

    Device(const LoadedPlugin& p, const PluginRegistry& reg) : plugin(&p), iface(p.device_iface()), inst(p.instance()) {
        // Only this plugin's kernels: a fallback to a CPU kernel would be handed device pointers.
        RouterOptions ro;
        ro.pins["all"] = p.name();
        ro.preference = {p.name()};
        ro.device = p.device_kind();
        router = std::make_unique<Router>(reg, ro);
        Router* r = router.get();
        router->set_resolver([r, plugin = &p](const bitnet_shape& s) -> std::optional<std::vector<KernelRef>> {
            auto c = r->candidates(s);
            std::erase_if(c, [&](const KernelRef& k) { return k.plugin != plugin; });
            if (c.empty())
                throw DispatchError(fmt::format("device {}: no kernel for {}", plugin->name(), signature_string(s)));
            return c;
        });
        const auto& d = p.descriptor();
        if (BITNET_HAS_MEMBER(&d, bitnet_plugin_descriptor, get_proc_address) && d.get_proc_address != nullptr) {
            graph_begin = reinterpret_cast<GraphBeginFn>(d.get_proc_address(inst, "bitnet_cuda_graph_begin"));
            graph_end = reinterpret_cast<GraphEndFn>(d.get_proc_address(inst, "bitnet_cuda_graph_end"));
            graph_launch = reinterpret_cast<GraphLaunchFn>(d.get_proc_address(inst, "bitnet_cuda_graph_launch"));
            graph_destroy = reinterpret_cast<GraphDestroyFn>(d.get_proc_address(inst, "bitnet_cuda_graph_destroy"));
            if (!graph_begin || !graph_end || !graph_launch || !graph_destroy) graph_begin = nullptr;
        }
    }
    ~Device() {
        iface->synchronize(inst);
        for (auto& [key, g] : graphs) graph_destroy(inst, g);
        for (void* ptr : allocs) iface->free(inst, ptr);
    }
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    template <class T>
    T* alloc(size_t count) {
        void* ptr = nullptr;
        const size_t bytes = std::max<size_t>(count * sizeof(T), 1);
        if (iface->alloc(inst, bytes, &ptr) != BITNET_OK || ptr == nullptr)
            throw std::runtime_error(fmt::format("device {}: cannot allocate {} bytes", plugin->name(), bytes));
        allocs.push_back(ptr);
        return static_cast<T*>(ptr);
    }
    void to_device(void* dst, const void* src, size_t bytes) {
        if (iface->copy_to_device(inst, dst, src, bytes) != BITNET_OK)
            throw std::runtime_error(fmt::format("device {}: copy to device failed", plugin->name()));
    }
    void to_host(void* dst, const void* src, size_t bytes) {
        if (iface->copy_to_host(inst, dst, src, bytes) != BITNET_OK)
            throw std::runtime_error(fmt::format("device {}: copy to host failed", plugin->name()));
    }
    // Uploads a host norm weight once.
    void upload_norm(const float* host, int32_t n) {
        if (host == nullptr || norms.count(host)) return;
        float* d = alloc<float>(size_t(n));
        to_device(d, host, size_t(n) * sizeof(float));
        norms[host] = d;
    }
};

Session::Session(Model& model, Router& router, SessionOptions options)
    : model_(model),
      dev_([&]() -> std::unique_ptr<Device> {
          const auto* p = choose_device(model.hparams(), model.weights(), router, options);
          return p ? std::make_unique<Device>(*p, router.registry()) : nullptr;
      }()),
      ops_(dev_ ? *dev_->router : router), opt_(options) {
    const auto& hp = model_.hparams();
    if (opt_.n_seq < 1) throw std::invalid_argument(fmt::format("n_seq must be at least 1, not {}", opt_.n_seq));
    // The KV budget is shared by the sequences.
    const int64_t budget = opt_.kv_budget_bytes > 0 ? std::max<int64_t>(1, opt_.kv_budget_bytes / opt_.n_seq) : 0;
    const int32_t n_ctx = choose_n_ctx(hp, opt_.n_ctx, budget);
    cache_ = std::make_unique<KvCache>(hp.n_layer, n_ctx, hp.n_head_kv, hp.head_dim, !dev_ && kv_head_major_ok(router),
                                       opt_.n_seq, dev_ ? dev_->iface : nullptr, dev_ ? dev_->inst : nullptr);
    n_past_.assign(size_t(opt_.n_seq), 0);
    seen_scratch_.assign(size_t(opt_.n_seq), 0);
    opt_.n_batch = std::max(1, std::min(opt_.n_batch, n_ctx));
    segs_scratch_.reserve(size_t(opt_.n_batch));
    const size_t B = static_cast<size_t>(opt_.n_batch);
    const size_t dq = size_t(hp.n_head) * hp.head_dim, dkv = size_t(hp.n_head_kv) * hp.head_dim;
    const int32_t qk = std::max({hp.n_embd, int32_t(dq), hp.n_ff});
    if (dev_) {
        Device& D = *dev_;
        D.x = D.alloc<float>(B * hp.n_embd);
        D.h = D.alloc<float>(B * std::max<size_t>(hp.n_embd, dq));
        D.q = D.alloc<float>(B * (dq + 2 * dkv)); // Q | K | V per token row (run_layers)
        D.k = D.q + dq;
        D.v = D.k + dkv;
        D.attn = D.alloc<float>(B * dq);
        D.gate = D.alloc<float>(B * hp.n_ff);
        D.up = D.alloc<float>(B * hp.n_ff);
        D.tmp = D.alloc<float>(B * std::max<size_t>(hp.n_embd, hp.n_ff));
        D.logits = D.alloc<float>(size_t(kHeadRows) * hp.n_vocab);
        D.pos = D.alloc<int32_t>(B);
        D.n_past = D.alloc<int32_t>(1);
        D.slot = D.alloc<int32_t>(B);
        bitnet_shape att = make_attention_shape(1, hp.n_head, hp.n_head_kv, hp.head_dim);
        att.op = BITNET_OP_ATTENTION_SEQS;
        const bitnet_shape store =
            make_shape(BITNET_OP_KV_STORE_SEQS, BITNET_WF_NONE, BITNET_ACT_F32, 1, int32_t(dkv), 0);
        D.seqs_ops = !D.router->candidates(att).empty() && !D.router->candidates(store).empty();
        // Same geometry as QuantBuffer::resize, in device memory; no row sums (optional, unused).
        const size_t stride = (static_cast<size_t>(qk) + 63) / 64 * 64;
        D.qa.k = qk;
        D.qa.view = {D.alloc<int8_t>(stride * B), D.alloc<float>(B * ((qk + 255) / 256 + 1)), nullptr, stride};
        for (const auto& L : model_.weights().layers) {
            D.upload_norm(L.attn_norm, hp.n_embd);
            D.upload_norm(L.attn_sub_norm, int32_t(dq));
            D.upload_norm(L.ffn_norm, hp.n_embd);
            D.upload_norm(L.ffn_sub_norm, hp.n_ff);
        }
        D.upload_norm(model_.weights().output_norm, hp.n_embd);
        D.staging.resize(B * hp.n_embd);
        D.host_pos.resize(B);
        D.host_slot.resize(B);
        logger().info("session on {} ({}): weights, KV cache ({} MiB) and activations in device memory{}",
                      D.plugin->name(), D.plugin->device_description(), kv_bytes() >> 20,
                      D.graph_begin ? ", decode steps as graphs" : "");
    } else {
        x_.resize(B * hp.n_embd);
        h_.resize(B * std::max<size_t>(hp.n_embd, dq));
        qkv_.resize(B * (dq + 2 * dkv));
        attn_.resize(B * dq);
        gate_.resize(B * hp.n_ff);
        up_.resize(B * hp.n_ff);
        tmp_.resize(B * std::max<size_t>(hp.n_embd, hp.n_ff));
        pos_.resize(B);
        qa_.resize(opt_.n_batch, qk);
    }
    // Pack every weight for the kernels that decode (M=1) and prefill (M=n_batch) will use, so
    // the first token pays no packing cost (on a device: the one upload of the weights). A weight
    // whose kernels all run on packed copies gives its file pages back as soon as it is packed,
    // so the peak resident set holds the packed copies and not the file's bytes as well.
    for (LinearWeight* w : model_.weights().linears())
        if (ops_.prepare(*w, {1, opt_.n_batch})) model_.file().release_pages(w->data, w->size);
}

Session::~Session() = default;

std::string Session::device() const { return dev_ ? dev_->plugin->name() : "cpu"; }

const float* Session::norm(const float* host) const {
    if (!dev_ || host == nullptr) return host;
    return dev_->norms.at(host);
}

namespace {

void check_tokens(std::span<const int32_t> tokens, int32_t n_vocab) {
    for (int32_t t : tokens)
        if (t < 0 || t >= n_vocab)
            throw std::invalid_argument(fmt::format("token id {} is outside the vocabulary [0, {})", t, n_vocab));
}

} // namespace

void Session::decode(int32_t seq, std::span<const int32_t> tokens, bool all_logits, std::vector<float>& logits) {
    const auto& hp = model_.hparams();
    if (tokens.empty()) throw std::invalid_argument("decode: no tokens");
    if (seq < 0 || seq >= n_seq())
        throw std::invalid_argument(fmt::format("sequence {} does not exist (this session has {})", seq, n_seq()));
    const int32_t past = n_past_[size_t(seq)];
    if (int64_t(past) + int64_t(tokens.size()) > n_ctx())
        throw ContextFullError(fmt::format("{} tokens do not fit: {} of the context's {} positions are used",
                                           tokens.size(), past, n_ctx()));
    check_tokens(tokens, hp.n_vocab);
    logits.resize((all_logits ? tokens.size() : 1) * size_t(hp.n_vocab));
    for (size_t start = 0; start < tokens.size(); start += opt_.n_batch) {
        const int32_t m = static_cast<int32_t>(std::min<size_t>(opt_.n_batch, tokens.size() - start));
        const bool last = start + m == tokens.size();
        float* out = all_logits ? logits.data() + start * hp.n_vocab : (last ? logits.data() : nullptr);
        const Segment seg{0, m, seq};
        if (dev_) forward_device(tokens.data() + start, m, all_logits, out, {&seg, 1});
        else forward_batch(tokens.data() + start, m, all_logits, out, {&seg, 1});
    }
}

void Session::decode_parallel(std::span<const int32_t> seqs, std::span<const int32_t> tokens,
                              std::vector<float>& logits) {
    const auto& hp = model_.hparams();
    if (seqs.empty() || seqs.size() != tokens.size())
        throw std::invalid_argument(fmt::format("decode_parallel: {} sequences for {} tokens", seqs.size(), tokens.size()));
    if (seqs.size() > size_t(opt_.n_batch))
        throw std::invalid_argument(
            fmt::format("decode_parallel: {} sequences, more than n_batch ({})", seqs.size(), opt_.n_batch));
    // Member scratch (sized at construction): no allocation per step.
    std::vector<uint8_t>& seen = seen_scratch_;
    std::fill(seen.begin(), seen.end(), uint8_t{0});
    for (int32_t s : seqs) {
        if (s < 0 || s >= n_seq())
            throw std::invalid_argument(fmt::format("sequence {} does not exist (this session has {})", s, n_seq()));
        if (seen[size_t(s)]) throw std::invalid_argument(fmt::format("sequence {} is listed twice", s));
        seen[size_t(s)] = 1;
        if (n_past_[size_t(s)] + 1 > n_ctx())
            throw ContextFullError(fmt::format("sequence {} is full: all {} positions are used", s, n_ctx()));
    }
    check_tokens(tokens, hp.n_vocab);
    const int32_t m = int32_t(seqs.size());
    std::vector<Segment>& segs = segs_scratch_;
    segs.clear();
    for (int32_t i = 0; i < m; ++i) segs.push_back({i, 1, seqs[size_t(i)]});
    logits.resize(size_t(m) * hp.n_vocab);
    if (dev_) forward_device(tokens.data(), m, true, logits.data(), segs);
    else forward_batch(tokens.data(), m, true, logits.data(), segs);
}

bool Session::fuse_norm_quantize(int32_t m) {
    if (auto it = fuse_by_m_.find(m); it != fuse_by_m_.end()) return it->second;
    const auto& hp = model_.hparams();
    const auto& L = model_.weights().layers.at(0);
    const int32_t d = hp.n_embd, dq = hp.n_head * hp.head_dim;
    bool fuse = true;
    for (const auto& [act, n] : {std::pair{L.wq.act, d}, {L.wo.act, dq}, {L.w_gate.act, d}, {L.w_down.act, hp.n_ff}})
        fuse = fuse && act != BITNET_ACT_F32 && ops_.fuses_norm_quantize(act, m, n);
    fuse_by_m_.emplace(m, fuse);
    return fuse;
}

bool Session::fuse_blocks(int32_t m) {
    if (auto it = blocks_by_m_.find(m); it != blocks_by_m_.end()) return it->second;
    bool fuse = true;
    if (const char* env = std::getenv("BITNET_FUSED_BLOCKS"); env != nullptr && std::string_view(env) == "0") fuse = false;
    for (auto& L : model_.weights().layers) {
        if (!fuse) break;
        LinearWeight* const qkv[] = {&L.wq, &L.wk, &L.wv};
        LinearWeight* const o[] = {&L.wo};
        LinearWeight* const gate_up[] = {&L.w_gate, &L.w_up};
        LinearWeight* const down[] = {&L.w_down};
        fuse = L.wk.act == L.wq.act && L.wv.act == L.wq.act && L.w_up.act == L.w_gate.act &&
               ops_.fuses_blocks(qkv, m) && ops_.fuses_blocks(o, m) && ops_.fuses_blocks(gate_up, m) &&
               ops_.fuses_blocks(down, m);
    }
    blocks_by_m_.emplace(m, fuse);
    return fuse;
}

bool Session::seqs_in_one_call(std::span<const Segment> segs) const {
    // On a CPU one call per sequence costs nothing extra; on a device it is launches per layer.
    return dev_ != nullptr && dev_->seqs_ops && segs.size() > 1;
}

void Session::run_layers(const Buffers& b, int32_t m, std::span<const Segment> segs) {
    const auto& hp = model_.hparams();
    auto& W = model_.weights();
    const int32_t d = hp.n_embd, dq = hp.n_head * hp.head_dim, dkv = hp.n_head_kv * hp.head_dim, ff = hp.n_ff;
    const int32_t ld_qkv = dq + 2 * dkv;
    QuantBuffer& qa = *b.qa;
    const bool fused = fuse_norm_quantize(m);
    // The FFN activation inside the sub-norm's call (ABI 1.5), where that kernel takes it.
    const bool fuse_ffn_act = fused && ops_.fuses_norm_ffn_act(W.layers.at(0).w_down.act, m, ff);
    const bool blocks = fuse_blocks(m);
    // The NORM_QUANTIZE in front of a block's matmul, as that matmul's prologue (blocks mode).
    auto prologue = [&](bitnet_act_type act, int32_t n, float* x, const float* up, const float* w, float* y) {
        return Ops::norm_quantize_args(act, m, n, x, n, nullptr, 0, w, hp.rms_eps, y, n, qa, up, hp.ffn_kind);
    };
    KvCache& cache = *cache_;
    // [x += residual;] y = rmsnorm(x)·w; qa = quantize(y). Rows of n values, stride n.
    auto norm_quantize = [&](bitnet_act_type act, int32_t n, float* x, const float* residual, const float* w, float* y) {
        if (fused) {
            ops_.norm_quantize(act, m, n, x, n, residual, n, w, hp.rms_eps, y, n, qa);
            return;
        }
        if (residual != nullptr) ops_.add(m, n, residual, n, x, n);
        ops_.rmsnorm(m, n, x, n, w, hp.rms_eps, y, n);
        ops_.quantize(act, m, n, y, n, qa);
    };
    // A block's output projection waits here until the next norm adds it into the residual stream.
    const float* pending = nullptr;
    for (int32_t il = 0; il < hp.n_layer; ++il) {
        auto& L = W.layers[il];
        // Attention block. Q, K and V share token rows (b.k = b.q + dq, b.v = b.k + dkv), so one
        // RoPE call turns the query and key heads together and kv_store reads K and V at one stride.
        const Ops::MatmulOut qkv[] = {{&L.wq, b.q, ld_qkv}, {&L.wk, b.k, ld_qkv}, {&L.wv, b.v, ld_qkv}};
        if (blocks) {
            ops_.matmul_block(qkv, m, qa, prologue(L.wq.act, d, b.x, nullptr, norm(L.attn_norm), b.h), false, b.tmp);
        } else if (norm_quantize(L.wq.act, d, b.x, pending, norm(L.attn_norm), b.h);
                   L.wk.act == L.wq.act && L.wv.act == L.wq.act) {
            ops_.matmul_parts(qkv, m, &qa, b.h, d);
        } else {
            ops_.matmul(L.wq, m, &qa, b.h, d, b.q, ld_qkv);
            if (L.wk.act != L.wq.act) ops_.quantize(L.wk.act, m, d, b.h, d, qa);
            ops_.matmul(L.wk, m, &qa, b.h, d, b.k, ld_qkv);
            if (L.wv.act != L.wk.act) ops_.quantize(L.wv.act, m, d, b.h, d, qa);
            ops_.matmul(L.wv, m, &qa, b.h, d, b.v, ld_qkv);
        }
        // The rows' cache store goes with the RoPE call where one store serves them all (one
        // sequence, or every row placed by its own position and slot).
        const bool one_call = seqs_in_one_call(segs);
        bitnet_kv_store_args store{};
        bitnet_op store_op = BITNET_OP_KV_STORE;
        if (one_call) {
            store = Ops::kv_store_seqs_args(m, b.pos, b.slot, dkv, b.k, b.v, ld_qkv, cache.k(il), cache.v(il),
                                            cache.layout(), cache.slot_stride(), cache.n_seq(), cache.n_ctx());
            store_op = BITNET_OP_KV_STORE_SEQS;
        } else if (segs.size() == 1) {
            const Segment& sg = segs.front();
            store = Ops::kv_store_args(sg.rows, n_past_[size_t(sg.seq)], dkv, b.k + size_t(sg.row0) * ld_qkv,
                                       b.v + size_t(sg.row0) * ld_qkv, ld_qkv, cache.k(il, sg.seq), cache.v(il, sg.seq),
                                       cache.layout());
        }
        const bool stored_with_rope = one_call || segs.size() == 1;
        ops_.rope(m, hp.n_head + hp.n_head_kv, hp.head_dim, hp.n_rot, hp.rope_freq_base, hp.rope_freq_scale, b.pos,
                  b.q, ld_qkv, stored_with_rope ? &store : nullptr, store_op);
        bitnet_attention_args a{};
        a.n_heads = hp.n_head;
        a.n_kv_heads = hp.n_head_kv;
        a.head_dim = hp.head_dim;
        a.scale = 1.0f / std::sqrt(float(hp.head_dim));
        a.ldq = ld_qkv;
        a.kv_stride = cache.layout().pos_stride;
        a.kv_head_stride = cache.layout().head_stride;
        a.ldo = dq;
        if (one_call) {
            // Every row carries its position (b.pos) and sequence (b.slot): one call each.
            a.m = m;
            a.q = b.q;
            a.k_cache = cache.k(il);
            a.v_cache = cache.v(il);
            a.out = b.attn;
            a.row_pos = b.pos;
            a.row_slot = b.slot;
            a.slot_stride = cache.slot_stride();
            a.n_slots = cache.n_seq();
            a.max_keys = cache.n_ctx();
            ops_.attention_seqs(a);
        } else {
            // Each sequence's rows go into its own cache slot and attend to its own positions.
            for (const Segment& sg : segs) {
                const size_t r0 = size_t(sg.row0);
                const int32_t past = n_past_[size_t(sg.seq)];
                if (!stored_with_rope)
                    ops_.kv_store(sg.rows, past, dkv, b.k + r0 * ld_qkv, b.v + r0 * ld_qkv, ld_qkv, cache.k(il, sg.seq),
                                  cache.v(il, sg.seq), cache.layout());
                a.m = sg.rows;
                a.n_past = past;
                a.q = b.q + r0 * ld_qkv;
                a.k_cache = cache.k(il, sg.seq);
                a.v_cache = cache.v(il, sg.seq);
                a.out = b.attn + r0 * dq;
                ops_.attention(a);
            }
        }
        if (blocks) {
            // Output projection into the residual stream; then the FFN: its norm in front of gate
            // and up, its activation and sub-norm in front of down, which lands in the stream too.
            const Ops::MatmulOut o[] = {{&L.wo, b.x, d}}, gate_up[] = {{&L.w_gate, b.gate, ff}, {&L.w_up, b.up, ff}},
                                 down[] = {{&L.w_down, b.x, d}};
            ops_.matmul_block(o, m, qa, prologue(L.wo.act, dq, b.attn, nullptr, norm(L.attn_sub_norm), b.attn), true,
                              b.tmp);
            ops_.matmul_block(gate_up, m, qa, prologue(L.w_gate.act, d, b.x, nullptr, norm(L.ffn_norm), b.h), false,
                              b.tmp);
            ops_.matmul_block(down, m, qa, prologue(L.w_down.act, ff, b.gate, b.up, norm(L.ffn_sub_norm), b.gate), true,
                              b.tmp);
            continue;
        }
        norm_quantize(L.wo.act, dq, b.attn, nullptr, norm(L.attn_sub_norm), b.attn);
        ops_.matmul(L.wo, m, &qa, b.attn, dq, b.tmp, d);
        // FFN block.
        norm_quantize(L.w_gate.act, d, b.x, b.tmp, norm(L.ffn_norm), b.h);
        if (L.w_up.act == L.w_gate.act) {
            const Ops::MatmulOut gate_up[] = {{&L.w_gate, b.gate, ff}, {&L.w_up, b.up, ff}};
            ops_.matmul_parts(gate_up, m, &qa, b.h, d);
        } else {
            ops_.matmul(L.w_gate, m, &qa, b.h, d, b.gate, ff);
            ops_.quantize(L.w_up.act, m, d, b.h, d, qa);
            ops_.matmul(L.w_up, m, &qa, b.h, d, b.up, ff);
        }
        if (fused && fuse_ffn_act) {
            ops_.norm_quantize(L.w_down.act, m, ff, b.gate, ff, nullptr, ff, norm(L.ffn_sub_norm), hp.rms_eps, b.gate,
                               ff, qa, b.up, hp.ffn_kind);
        } else {
            ops_.ffn_act(hp.ffn_kind, m, ff, b.gate, b.up, b.gate, ff);
            norm_quantize(L.w_down.act, ff, b.gate, nullptr, norm(L.ffn_sub_norm), b.gate);
        }
        ops_.matmul(L.w_down, m, &qa, b.gate, ff, b.tmp, d);
        pending = b.tmp;
    }
    if (pending != nullptr) ops_.add(m, d, pending, d, b.x, d);
}

void Session::forward_batch(const int32_t* tokens, int32_t m, bool all_logits, float* logits,
                            std::span<const Segment> segs) {
    const auto& hp = model_.hparams();
    auto& W = model_.weights();
    const int32_t d = hp.n_embd;
    for (int32_t t = 0; t < m; ++t) model_.embed(tokens[t], x_.data() + size_t(t) * d);
    for (const Segment& sg : segs)
        for (int32_t t = 0; t < sg.rows; ++t) pos_[size_t(sg.row0 + t)] = n_past_[size_t(sg.seq)] + t;
    float* q = qkv_.data();
    const size_t dq = size_t(hp.n_head) * hp.head_dim, dkv = size_t(hp.n_head_kv) * hp.head_dim;
    run_layers({x_.data(), h_.data(), q, q + dq, q + dq + dkv, attn_.data(), gate_.data(), up_.data(),
                tmp_.data(), pos_.data(), &qa_},
               m, segs);
    for (const Segment& sg : segs) n_past_[size_t(sg.seq)] += sg.rows;
    if (logits == nullptr) return;
    // Only the rows whose logits are wanted go through the final norm and the (large) head.
    const int32_t first = all_logits ? 0 : m - 1, rows = m - first;
    ops_.rmsnorm(rows, d, x_.data() + size_t(first) * d, d, W.output_norm, hp.rms_eps, h_.data(), d);
    ops_.matmul(W.head, rows, nullptr, h_.data(), d, logits, hp.n_vocab);
}

void Session::forward_device(const int32_t* tokens, int32_t m, bool all_logits, float* logits,
                             std::span<const Segment> segs) {
    const auto& hp = model_.hparams();
    auto& W = model_.weights();
    Device& D = *dev_;
    const int32_t d = hp.n_embd;
    // Inputs: the embedding rows (dequantized on the host), positions and n_past, one copy each.
    for (int32_t t = 0; t < m; ++t) model_.embed(tokens[t], D.staging.data() + size_t(t) * d);
    for (const Segment& sg : segs)
        for (int32_t t = 0; t < sg.rows; ++t) {
            D.host_pos[size_t(sg.row0 + t)] = n_past_[size_t(sg.seq)] + t;
            D.host_slot[size_t(sg.row0 + t)] = sg.seq;
        }
    const bool one_call = seqs_in_one_call(segs);
    D.to_device(D.x, D.staging.data(), size_t(m) * d * sizeof(float));
    D.to_device(D.pos, D.host_pos.data(), size_t(m) * sizeof(int32_t));
    if (one_call) D.to_device(D.slot, D.host_slot.data(), size_t(m) * sizeof(int32_t));
    else D.to_device(D.n_past, &n_past_[size_t(segs.front().seq)], sizeof(int32_t));
    const Buffers b{D.x, D.h, D.q, D.k, D.v, D.attn, D.gate, D.up, D.tmp, D.pos, &D.qa, D.slot};
    const int32_t first = all_logits ? 0 : m - 1, rows = logits ? m - first : 0;
    // The head over up to kHeadRows rows into D.logits.
    auto head = [&](int32_t row0, int32_t n) {
        ops_.rmsnorm(n, d, D.x + size_t(row0) * d, d, norm(W.output_norm), hp.rms_eps, D.h, d);
        ops_.matmul(W.head, n, nullptr, D.h, d, D.logits, hp.n_vocab);
    };

    // A one-sequence graph bakes in that sequence's cache slot and reads its n_past; a step over
    // several sequences reads every row's slot and position from device memory, so one graph
    // (key: sequence -1) serves any set of sequences with that many rows.
    const GraphKey key{m, logits == nullptr ? 0 : all_logits ? 2 : 1, one_call ? -1 : segs.front().seq};
    bool done = false;
    if (D.graph_begin != nullptr && m <= kHeadRows && (segs.size() == 1 || one_call)) {
        auto it = D.graphs.find(key);
        if (it == D.graphs.end() && D.runs[key]++ >= 1) {
            // Second run of this shape: record it. Everything the graph reads per step (x, pos,
            // n_past) was copied above into buffers whose addresses never change.
            void* g = nullptr;
            if (D.graph_begin(D.inst, D.n_past, n_ctx()) == BITNET_OK) {
                bool recorded = true;
                try {
                    run_layers(b, m, segs);
                    if (rows > 0) head(first, rows);
                } catch (const std::exception& e) {
                    logger().warn("device {}: recording the decode step failed ({}); running it kernel by kernel",
                                  D.plugin->name(), e.what());
                    recorded = false;
                }
                if (D.graph_end(D.inst, &g) != BITNET_OK) g = nullptr;
                if (!recorded && g != nullptr) {
                    D.graph_destroy(D.inst, g);
                    g = nullptr;
                }
            }
            if (g == nullptr) D.graph_begin = nullptr; // never try again
            else it = D.graphs.emplace(key, g).first;
        }
        if (it != D.graphs.end()) {
            if (D.graph_launch(D.inst, it->second) != BITNET_OK)
                throw std::runtime_error(fmt::format("device {}: graph launch failed", D.plugin->name()));
            done = true;
        }
    }
    if (!done) {
        run_layers(b, m, segs);
        // More rows than the logits buffer holds (all-logits prefill) go through the head in chunks.
        for (int32_t r = 0; r < rows; r += kHeadRows) {
            const int32_t n = std::min(kHeadRows, rows - r);
            head(first + r, n);
            if (rows > kHeadRows) D.to_host(logits + size_t(r) * hp.n_vocab, D.logits, size_t(n) * hp.n_vocab * sizeof(float));
        }
    }
    for (const Segment& sg : segs) n_past_[size_t(sg.seq)] += sg.rows;
    if (rows > 0 && (done || rows <= kHeadRows)) D.to_host(logits, D.logits, size_t(rows) * hp.n_vocab * sizeof(float));
}

} // namespace bitnet::model
