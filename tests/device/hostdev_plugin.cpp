// "hostdev": a test-only GPU plugin whose device memory is host memory. It wraps a CPU plugin (the
// scalar reference unless BITNET_HOSTDEV_INNER names another .so) behind BITNET_DEVICE_GPU, a
// bitnet_device_iface, weights uploaded by pack_weights, and the graph extension the cuda plugin
// offers (calls recorded between begin and end, replayed by launch with n_past read from "device"
// memory). The host's device-session path (every buffer in device memory, routing kept on one
// plugin, recorded steps, ATTENTION_SEQS for several sequences) is thereby tested on every
// machine, where otherwise only a lent GPU would run it.
//
// It is also strict where a GPU is only implicitly so: every pointer a kernel receives must lie
// inside a live allocation of this plugin (a host pointer would be a wild address on a GPU), or
// the call is refused with the reason; fresh allocations are filled with 0xff bytes (NaN floats),
// so a read of memory nobody wrote shows in the results instead of reading zeros by luck.
#include "hostdev_stats.h"

#include <bitnet/plugin.h>
#include <bitnet/plugin.hpp>

#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace bitnet::hostdev {
namespace {

constexpr size_t kMaxKernels = 64;

// Weights as uploaded: the file's bytes in device memory, and the inner kernel's packed form of them.
struct DeviceWeights {
    static constexpr uint32_t kMagic = 0x68647771; // "hdwq"
    uint32_t magic = kMagic;
    void* data = nullptr;
    size_t size = 0;
    void* inner_packed = nullptr;
    size_t inner = SIZE_MAX; // kernel whose pack_weights made inner_packed
};

// One kernel call, with the structs its args point to copied so a graph can replay it.
struct Call {
    size_t kernel = 0;
    std::array<uint64_t, 48> args{}; // any argument struct, 8-byte aligned
    bitnet_qact qact{}, qact_out{};
    bitnet_norm_quantize_args prologue{}; // a matmul's (ABI 1.5); its out is qact_out
    bitnet_kv_store_args kv_store{};      // a RoPE's (ABI 1.5)
    std::array<bitnet_weights, 1 + BITNET_MATMUL_MAX_PARTS> w{};
    void* workspace = nullptr;
};

struct Graph {
    const int32_t* n_past = nullptr;
    std::vector<Call> calls;
};

struct Instance : sdk::TaggedInstance<0x68646576u /* "hdev" */> {
    void* lib = nullptr;
    const bitnet_plugin_descriptor* inner_desc = nullptr;
    void* inner = nullptr;
    std::vector<const bitnet_kernel_desc*> inner_kernels;
    std::vector<bitnet_kernel_desc> kernels;
    bitnet_device_iface iface{};
    std::mutex mu;
    std::map<uintptr_t, size_t> allocs; // begin -> bytes
    bitnet_hostdev_stats_t stats{};
    std::unique_ptr<Graph> recording;

    ~Instance() {
        if (inner != nullptr) inner_desc->destroy(inner);
        for (auto& [begin, bytes] : allocs) std::free(reinterpret_cast<void*>(begin));
        if (lib != nullptr) dlclose(lib);
    }

    bool on_device(const void* p, size_t bytes) {
        std::lock_guard lock(mu);
        const auto b = reinterpret_cast<uintptr_t>(p);
        auto it = allocs.upper_bound(b);
        if (it == allocs.begin()) return false;
        --it;
        return b >= it->first && b - it->first + bytes <= it->second;
    }
    void* alloc(size_t bytes) {
        const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
        void* p = std::aligned_alloc(256, rounded);
        if (p == nullptr) return nullptr;
        std::memset(p, 0xff, rounded);
        std::lock_guard lock(mu);
        allocs[reinterpret_cast<uintptr_t>(p)] = bytes;
        return p;
    }
    void release(void* p) {
        if (p == nullptr) return;
        std::lock_guard lock(mu);
        if (allocs.erase(reinterpret_cast<uintptr_t>(p)) == 1) std::free(p);
    }
};

Instance* as_dev(void* h) { return sdk::as_instance<Instance>(h); }

// ---- pointer rules, per op ----

// Why `a` names memory off the device, or empty. Row blocks: rows of `width` elements `ld` apart.
struct Checker {
    Instance& p;
    std::string why;
    template <class T>
    void rows(const char* what, const T* ptr, int64_t m, int64_t ld, int64_t width) {
        if (!why.empty() || m <= 0 || width <= 0) return;
        const size_t bytes = size_t((m - 1) * ld + width) * sizeof(T);
        if (ptr == nullptr || !p.on_device(ptr, bytes)) why = std::string(what) + " is not device memory";
    }
    template <class T>
    void span(const char* what, const T* ptr, int64_t n) { rows(what, ptr, 1, n, n); }
    template <class T>
    void optional(const char* what, const T* ptr, int64_t n) {
        if (ptr != nullptr) span(what, ptr, n);
    }
    void qact(const char* what, const bitnet_qact* q, bitnet_act_type type, int64_t m, int64_t k) {
        if (!why.empty()) return;
        if (q == nullptr) {
            why = std::string(what) + " is NULL";
            return;
        }
        rows(what, q->data, m, int64_t(q->row_stride), k);
        span("quantized activation scales", q->scales, type == BITNET_ACT_I8_B256 ? m * ((k + 255) / 256) : m);
        optional("row sums", q->row_sums, m);
    }
    void weights(const bitnet_weights* w) {
        if (!why.empty()) return;
        const auto* dw = w != nullptr ? static_cast<const DeviceWeights*>(w->packed) : nullptr;
        if (dw == nullptr || dw->magic != DeviceWeights::kMagic)
            why = "weights were not uploaded by this plugin's pack_weights (w->packed)";
    }
};

void check_kv_store(Checker& ck, const bitnet_kv_store_args& a, bool seqs) {
    ck.rows("k", a.k, a.m, a.ld, a.width);
    ck.rows("v", a.v, a.m, a.ld, a.width);
    ck.span("k_cache", a.k_cache, 1);
    ck.span("v_cache", a.v_cache, 1);
    if (seqs) {
        ck.span("row_pos", a.row_pos, a.m);
        ck.span("row_slot", a.row_slot, a.m);
    }
}

void check_norm_quantize(Checker& ck, const bitnet_norm_quantize_args& a) {
    ck.rows("x", a.x, a.m, a.ldx, a.n);
    if (a.residual != nullptr) ck.rows("residual", a.residual, a.m, a.ld_residual, a.n);
    if (const float* up = sdk::norm_quantize_up(a)) ck.rows("up", up, a.m, a.ld_up, a.n);
    ck.optional("weight", a.weight, a.n);
    ck.rows("y", a.y, a.m, a.ldy, a.n);
    ck.qact("out", a.out, a.act_type, a.m, a.n);
}

std::string check_pointers(Instance& p, const bitnet_kernel_desc& k, const Call& c) {
    Checker ck{p, {}};
    const void* args = c.args.data();
    switch (k.op) {
    case BITNET_OP_MATMUL: {
        const auto& a = *static_cast<const bitnet_matmul_args*>(args);
        if (a.act_type == BITNET_ACT_F32) ck.rows("x_f32", a.x_f32, a.m, a.ldx, a.k);
        else ck.qact("x_q", a.x_q, a.act_type, a.m, a.k);
        ck.weights(a.w);
        ck.rows("y", a.y, a.m, a.ldy, a.n);
        for (int32_t i = 0; i < sdk::matmul_parts(a); ++i) {
            ck.weights(a.parts[i].w);
            ck.rows("a part's y", a.parts[i].y, a.m, a.parts[i].ldy, a.parts[i].n);
        }
        if (const bitnet_norm_quantize_args* pro = sdk::matmul_prologue(a)) check_norm_quantize(ck, *pro);
        break;
    }
    case BITNET_OP_QUANTIZE_ACT: {
        const auto& a = *static_cast<const bitnet_quantize_args*>(args);
        ck.rows("x", a.x, a.m, a.ldx, a.k);
        ck.qact("out", a.out, k.act_type, a.m, a.k);
        break;
    }
    case BITNET_OP_RMSNORM: {
        const auto& a = *static_cast<const bitnet_rmsnorm_args*>(args);
        ck.rows("x", a.x, a.m, a.ldx, a.n);
        ck.optional("weight", a.weight, a.n);
        ck.rows("y", a.y, a.m, a.ldy, a.n);
        break;
    }
    case BITNET_OP_ROPE: {
        const auto& a = *static_cast<const bitnet_rope_args*>(args);
        ck.span("positions", a.positions, a.m);
        ck.rows("x", a.x, a.m, a.ldx, int64_t(a.n_heads) * a.head_dim);
        if (const bitnet_kv_store_args* kv = sdk::rope_kv_store(a))
            check_kv_store(ck, *kv, a.kv_store_op == BITNET_OP_KV_STORE_SEQS);
        break;
    }
    case BITNET_OP_ATTENTION:
    case BITNET_OP_ATTENTION_SEQS: {
        const auto& a = *static_cast<const bitnet_attention_args*>(args);
        const int64_t w = int64_t(a.n_heads) * a.head_dim;
        ck.rows("q", a.q, a.m, a.ldq, w);
        ck.rows("out", a.out, a.m, a.ldo, w);
        ck.span("k_cache", a.k_cache, a.head_dim);
        ck.span("v_cache", a.v_cache, a.head_dim);
        if (k.op == BITNET_OP_ATTENTION_SEQS) {
            ck.span("row_pos", a.row_pos, a.m);
            ck.span("row_slot", a.row_slot, a.m);
        }
        break;
    }
    case BITNET_OP_FFN_ACT: {
        const auto& a = *static_cast<const bitnet_ffn_act_args*>(args);
        ck.rows("gate", a.gate, a.m, a.ld, a.n);
        ck.rows("up", a.up, a.m, a.ld, a.n);
        ck.rows("y", a.y, a.m, a.ld, a.n);
        break;
    }
    case BITNET_OP_ADD: {
        const auto& a = *static_cast<const bitnet_add_args*>(args);
        ck.rows("x", a.x, a.m, a.ldx, a.n);
        ck.rows("y", a.y, a.m, a.ldy, a.n);
        break;
    }
    case BITNET_OP_KV_STORE:
    case BITNET_OP_KV_STORE_SEQS:
        check_kv_store(ck, *static_cast<const bitnet_kv_store_args*>(args), k.op == BITNET_OP_KV_STORE_SEQS);
        break;
    case BITNET_OP_NORM_QUANTIZE:
        check_norm_quantize(ck, *static_cast<const bitnet_norm_quantize_args*>(args));
        break;
    default:
        ck.why = "op " + std::to_string(int(k.op)) + " is not one hostdev knows how to check";
    }
    if (ck.why.empty() && c.workspace != nullptr && !p.on_device(c.workspace, 1)) ck.why = "workspace is not device memory";
    return ck.why;
}

// ---- recording and running calls ----

// Points a call's args at the Call's own copies of the structs they name (x_q, the weights, a
// prologue and its out, a RoPE's store, a quantizer's out), first copying each there when `copy`.
// A Call is copied and moved, so this runs again (without copying) on the object about to be used.
bitnet_status own_nested(const bitnet_kernel_desc& k, Call& c, bool copy) {
    auto own = [copy](auto*& field, auto& storage) {
        if (field == nullptr) return;
        if (copy) storage = *field;
        field = &storage;
    };
    // Structs that grow by minor version: copied as their writer sized them.
    auto own_sized = [copy](auto*& field, auto& storage) {
        if (field == nullptr) return true;
        if (copy) {
            if (field->struct_size > sizeof storage) return false;
            std::memcpy(&storage, field, field->struct_size);
        }
        field = &storage;
        return true;
    };
    void* a = c.args.data();
    if (k.op == BITNET_OP_MATMUL) {
        auto& m = *static_cast<bitnet_matmul_args*>(a);
        own(m.x_q, c.qact);
        own(m.w, c.w[0]);
        const int32_t n_parts = sdk::matmul_parts(m);
        if (n_parts < 0 || n_parts > BITNET_MATMUL_MAX_PARTS) return BITNET_ERR_INVALID_ARGUMENT;
        for (int32_t i = 0; i < n_parts; ++i) own(m.parts[i].w, c.w[size_t(i) + 1]);
        if (sdk::matmul_prologue(m) != nullptr) {
            if (!own_sized(m.prologue, c.prologue)) return BITNET_ERR_INVALID_ARGUMENT;
            own(c.prologue.out, c.qact_out);
        }
    } else if (k.op == BITNET_OP_ROPE) {
        auto& r = *static_cast<bitnet_rope_args*>(a);
        if (sdk::rope_kv_store(r) != nullptr && !own_sized(r.kv_store, c.kv_store)) return BITNET_ERR_INVALID_ARGUMENT;
    } else if (k.op == BITNET_OP_QUANTIZE_ACT) {
        own(static_cast<bitnet_quantize_args*>(a)->out, c.qact_out);
    } else if (k.op == BITNET_OP_NORM_QUANTIZE) {
        own(static_cast<bitnet_norm_quantize_args*>(a)->out, c.qact_out);
    }
    return BITNET_OK;
}

// Copies a call's argument struct, and the structs it points to, into `c`.
bitnet_status capture(const bitnet_kernel_desc& k, const void* args, Call& c) {
    const auto size = *static_cast<const uint32_t*>(args);
    if (size < sizeof(uint32_t) || size > sizeof(c.args)) return BITNET_ERR_INVALID_ARGUMENT;
    std::memcpy(c.args.data(), args, size);
    return own_nested(k, c, true);
}

bitnet_status refuse(Instance& p, const bitnet_kernel_desc& k, const std::string& why) {
    {
        std::lock_guard lock(p.mu);
        if (p.stats.refused_calls++ == 0)
            std::snprintf(p.stats.first_refusal, sizeof p.stats.first_refusal, "%s: %s", k.name, why.c_str());
    }
    sdk::log(p.host, BITNET_LOG_ERROR, std::string("hostdev ") + k.name + ": " + why);
    return BITNET_ERR_INVALID_ARGUMENT;
}

// Runs a call on the inner kernel, weights replaced by their device copies.
bitnet_status execute(Instance& p, Call c) {
    const bitnet_kernel_desc& k = p.kernels[c.kernel];
    own_nested(k, c, false);
    if (std::string why = check_pointers(p, k, c); !why.empty()) return refuse(p, k, why);
    if (k.op == BITNET_OP_MATMUL) {
        const auto& m = *reinterpret_cast<const bitnet_matmul_args*>(c.args.data());
        for (int32_t i = 0; i <= sdk::matmul_parts(m); ++i) {
            const auto* dw = static_cast<const DeviceWeights*>(c.w[size_t(i)].packed);
            c.w[size_t(i)].data = dw->data;
            c.w[size_t(i)].packed = dw->inner_packed;
        }
    }
    {
        std::lock_guard lock(p.mu);
        ++p.stats.kernel_runs;
    }
    return p.inner_kernels[c.kernel]->run(p.inner, c.args.data(), c.workspace);
}

template <size_t I>
bitnet_status run_kernel(void* handle, const void* args, void* workspace) noexcept {
    Instance* p = as_dev(handle);
    if (p == nullptr || args == nullptr || I >= p->kernels.size()) return BITNET_ERR_INVALID_ARGUMENT;
    return sdk::guard(p->host, "hostdev run", [&]() -> bitnet_status {
        const bitnet_kernel_desc& k = p->kernels[I];
        Call c;
        c.kernel = I;
        c.workspace = workspace;
        if (bitnet_status st = capture(k, args, c); st != BITNET_OK) return refuse(*p, k, "args struct_size or n_parts out of range");
        if (!p->recording) return execute(*p, std::move(c));
        // Recorded, not run (as a captured CUDA stream); refused now if it could never run.
        if (std::string why = check_pointers(*p, k, c); !why.empty()) return refuse(*p, k, why);
        std::lock_guard lock(p->mu);
        ++p->stats.recorded_calls;
        p->recording->calls.push_back(std::move(c));
        return BITNET_OK;
    });
}

template <size_t I>
int32_t supports_kernel(void* handle, const bitnet_shape* shape) noexcept {
    Instance* p = as_dev(handle);
    if (p == nullptr || I >= p->kernels.size()) return 0;
    return p->inner_kernels[I]->supports(p->inner, shape);
}

template <size_t I>
size_t workspace_kernel(void* handle, const bitnet_shape* shape) noexcept {
    Instance* p = as_dev(handle);
    if (p == nullptr || I >= p->kernels.size()) return 0;
    return p->inner_kernels[I]->workspace_size(p->inner, shape);
}

// Uploads a weight; `inner` is the kernel whose pack_weights then packs the device copy, or
// SIZE_MAX when the inner kernels run on the file's bytes.
bitnet_status upload(void* handle, size_t inner, const bitnet_shape* shape, const void* data, size_t size,
                     void** packed, size_t* packed_bytes) noexcept {
    Instance* p = as_dev(handle);
    if (p == nullptr || packed == nullptr || packed_bytes == nullptr || data == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    return sdk::guard(p->host, "hostdev pack_weights", [&]() -> bitnet_status {
        auto dw = std::make_unique<DeviceWeights>();
        dw->size = size;
        dw->data = p->alloc(size);
        if (dw->data == nullptr) return BITNET_ERR_OUT_OF_MEMORY;
        std::memcpy(dw->data, data, size);
        size_t inner_bytes = 0;
        if (inner != SIZE_MAX) {
            const bitnet_kernel_desc& k = *p->inner_kernels[inner];
            if (bitnet_status st = k.pack_weights(p->inner, shape, dw->data, size, &dw->inner_packed, &inner_bytes);
                st != BITNET_OK) {
                p->release(dw->data);
                return st;
            }
            dw->inner = inner;
        }
        {
            std::lock_guard lock(p->mu);
            ++p->stats.weight_uploads;
        }
        *packed_bytes = size + inner_bytes;
        *packed = dw.release();
        return BITNET_OK;
    });
}

void release_weights(void* handle, void* packed) noexcept {
    Instance* p = as_dev(handle);
    auto* dw = static_cast<DeviceWeights*>(packed);
    if (p == nullptr || dw == nullptr || dw->magic != DeviceWeights::kMagic) return;
    if (dw->inner != SIZE_MAX) p->inner_kernels[dw->inner]->release_packed(p->inner, dw->inner_packed);
    p->release(dw->data);
    delete dw;
}

bitnet_status upload_raw(void* handle, const bitnet_shape* shape, const void* data, size_t size, void** packed,
                         size_t* packed_bytes) noexcept {
    return upload(handle, SIZE_MAX, shape, data, size, packed, packed_bytes);
}

template <size_t I>
bitnet_status upload_packed(void* handle, const bitnet_shape* shape, const void* data, size_t size, void** packed,
                            size_t* packed_bytes) noexcept {
    return upload(handle, I, shape, data, size, packed, packed_bytes);
}

struct Trampolines {
    decltype(&run_kernel<0>) run;
    decltype(&supports_kernel<0>) supports;
    decltype(&workspace_kernel<0>) workspace;
    decltype(&upload_packed<0>) pack;
};
template <size_t... I>
constexpr std::array<Trampolines, sizeof...(I)> make_trampolines(std::index_sequence<I...>) {
    return {Trampolines{&run_kernel<I>, &supports_kernel<I>, &workspace_kernel<I>, &upload_packed<I>}...};
}
constexpr auto kTrampolines = make_trampolines(std::make_index_sequence<kMaxKernels>{});

// ---- device memory ----

bitnet_status dev_alloc(void* handle, size_t bytes, void** ptr) {
    Instance* p = as_dev(handle);
    if (p == nullptr || ptr == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    *ptr = p->alloc(bytes);
    return *ptr != nullptr ? BITNET_OK : BITNET_ERR_OUT_OF_MEMORY;
}
void dev_free(void* handle, void* ptr) {
    if (Instance* p = as_dev(handle)) p->release(ptr);
}
bitnet_status copy_checked(void* handle, void* dst, bool dst_dev, const void* src, bool src_dev, size_t bytes) {
    Instance* p = as_dev(handle);
    if (p == nullptr || dst == nullptr || src == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    if ((dst_dev && !p->on_device(dst, bytes)) || (src_dev && !p->on_device(src, bytes))) {
        sdk::log(p->host, BITNET_LOG_ERROR, "hostdev copy: a device-side range is not inside one allocation");
        return BITNET_ERR_INVALID_ARGUMENT;
    }
    std::memcpy(dst, src, bytes);
    return BITNET_OK;
}
bitnet_status to_device(void* h, void* dst, const void* src, size_t n) { return copy_checked(h, dst, true, src, false, n); }
bitnet_status to_host(void* h, void* dst, const void* src, size_t n) { return copy_checked(h, dst, false, src, true, n); }
bitnet_status on_device(void* h, void* dst, const void* src, size_t n) { return copy_checked(h, dst, true, src, true, n); }
bitnet_status synchronize(void* h) { return as_dev(h) != nullptr ? BITNET_OK : BITNET_ERR_INVALID_ARGUMENT; }

// ---- the graph extension (plugins/cuda/graph.cpp documents the contract) ----

bitnet_status graph_begin(void* handle, const int32_t* n_past_device, int32_t max_keys) {
    Instance* p = as_dev(handle);
    if (p == nullptr || max_keys <= 0) return BITNET_ERR_INVALID_ARGUMENT;
    if (p->recording) return BITNET_ERR_INVALID_ARGUMENT;
    if (!p->on_device(n_past_device, sizeof(int32_t))) return BITNET_ERR_INVALID_ARGUMENT;
    p->recording = std::make_unique<Graph>();
    p->recording->n_past = n_past_device;
    return BITNET_OK;
}
bitnet_status graph_end(void* handle, void** out) {
    Instance* p = as_dev(handle);
    if (p == nullptr || out == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    *out = p->recording.release();
    return *out != nullptr ? BITNET_OK : BITNET_ERR_INVALID_ARGUMENT;
}
bitnet_status graph_launch(void* handle, void* graph) {
    Instance* p = as_dev(handle);
    auto* g = static_cast<Graph*>(graph);
    if (p == nullptr || g == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    return sdk::guard(p->host, "hostdev graph_launch", [&]() -> bitnet_status {
        {
            std::lock_guard lock(p->mu);
            ++p->stats.graph_launches;
        }
        // What a captured kernel reads from device memory at run time: n_past, for the
        // one-sequence kv_store and attention (the _SEQS ops read every row's position).
        const int32_t n_past = *g->n_past;
        for (Call c : g->calls) {
            const bitnet_op op = p->kernels[c.kernel].op;
            if (op == BITNET_OP_KV_STORE) reinterpret_cast<bitnet_kv_store_args*>(c.args.data())->pos0 = n_past;
            if (op == BITNET_OP_ATTENTION) reinterpret_cast<bitnet_attention_args*>(c.args.data())->n_past = n_past;
            if (op == BITNET_OP_ROPE && c.kv_store.struct_size != 0 &&
                reinterpret_cast<bitnet_rope_args*>(c.args.data())->kv_store_op == BITNET_OP_KV_STORE)
                c.kv_store.pos0 = n_past;
            if (bitnet_status st = execute(*p, c); st != BITNET_OK) return st;
        }
        return BITNET_OK;
    });
}
void graph_destroy(void* handle, void* graph) {
    if (as_dev(handle) != nullptr) delete static_cast<Graph*>(graph);
}

void stats(void* handle, bitnet_hostdev_stats_t* out) {
    Instance* p = as_dev(handle);
    if (p == nullptr || out == nullptr) return;
    std::lock_guard lock(p->mu);
    *out = p->stats;
    out->live_allocations = p->allocs.size();
}

void* get_proc_address(void* handle, const char* name) {
    if (as_dev(handle) == nullptr || name == nullptr) return nullptr;
    const std::pair<const char*, void*> table[] = {
        {"bitnet_cuda_graph_begin", reinterpret_cast<void*>(&graph_begin)},
        {"bitnet_cuda_graph_end", reinterpret_cast<void*>(&graph_end)},
        {"bitnet_cuda_graph_launch", reinterpret_cast<void*>(&graph_launch)},
        {"bitnet_cuda_graph_destroy", reinterpret_cast<void*>(&graph_destroy)},
        {"bitnet_hostdev_stats", reinterpret_cast<void*>(&stats)},
    };
    for (const auto& [n, fn] : table)
        if (std::strcmp(n, name) == 0) return fn;
    return nullptr;
}

// ---- the plugin ----

const char* inner_path() {
    const char* env = std::getenv("BITNET_HOSTDEV_INNER");
    return env != nullptr && *env != '\0' ? env : BITNET_HOSTDEV_INNER_DEFAULT;
}

int32_t probe(char* reason, size_t len) {
    const char* path = inner_path();
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        sdk::write_reason(reason, len, (std::string("cannot load the wrapped CPU plugin ") + path).c_str());
        return 0;
    }
    dlclose(lib);
    sdk::write_reason(reason, len, "");
    return 1;
}

bitnet_status create(const bitnet_host_api* host, void** out) {
    if (out == nullptr || !BITNET_HAS_MEMBER(host, bitnet_host_api, n_threads)) return BITNET_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    return sdk::guard(host, "hostdev create", [&]() -> bitnet_status {
        auto p = std::make_unique<Instance>();
        p->host = host;
        const char* path = inner_path();
        p->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (p->lib == nullptr) throw std::runtime_error(std::string("cannot load ") + path);
        auto entry = reinterpret_cast<bitnet_plugin_entry_fn>(dlsym(p->lib, BITNET_PLUGIN_ENTRY_SYMBOL));
        p->inner_desc = entry != nullptr ? entry() : nullptr;
        if (p->inner_desc == nullptr || p->inner_desc->device_kind != BITNET_DEVICE_CPU ||
            BITNET_ABI_MAJOR(p->inner_desc->abi_version) != BITNET_PLUGIN_ABI_VERSION_MAJOR)
            throw std::runtime_error(std::string(path) + " is not a CPU plugin of this ABI");
        if (bitnet_status st = p->inner_desc->create(host, &p->inner); st != BITNET_OK) return st;
        size_t n = 0;
        const bitnet_kernel_desc* table = p->inner_desc->get_kernels(p->inner, &n);
        if (n > kMaxKernels) throw std::runtime_error("the wrapped plugin has more kernels than hostdev can wrap");
        const size_t stride = n > 0 ? table->struct_size : 0;
        for (size_t i = 0; i < n; ++i) {
            const auto* k = reinterpret_cast<const bitnet_kernel_desc*>(reinterpret_cast<const char*>(table) + i * stride);
            p->inner_kernels.push_back(k);
            bitnet_kernel_desc d{};
            std::memcpy(&d, k, std::min(stride, sizeof d));
            d.struct_size = sizeof d;
            if (stride < BITNET_SIZE_UPTO(bitnet_kernel_desc, flags)) d.flags = 0;
            d.run = kTrampolines[i].run;
            d.supports = k->supports != nullptr ? kTrampolines[i].supports : nullptr;
            d.workspace_size = k->workspace_size != nullptr ? kTrampolines[i].workspace : nullptr;
            if (k->op == BITNET_OP_MATMUL) {
                d.pack_weights = k->pack_weights != nullptr ? kTrampolines[i].pack : &upload_raw;
                d.release_packed = &release_weights;
            }
            p->kernels.push_back(d);
        }
        p->iface = {sizeof(bitnet_device_iface), dev_alloc, dev_free, to_device, to_host, on_device, synchronize, nullptr};
        p->description = std::string("host memory posing as a GPU, kernels of ") + p->inner_desc->name;
        *out = p.release();
        return BITNET_OK;
    });
}

void destroy(void* handle) { delete as_dev(handle); }

const bitnet_kernel_desc* get_kernels(void* handle, size_t* count) {
    Instance* p = as_dev(handle);
    if (count != nullptr) *count = p != nullptr ? p->kernels.size() : 0;
    return p != nullptr ? p->kernels.data() : nullptr;
}

const bitnet_device_iface* get_device_iface(void* handle) {
    Instance* p = as_dev(handle);
    return p != nullptr ? &p->iface : nullptr;
}

const char* describe_device(void* handle) {
    Instance* p = as_dev(handle);
    return p != nullptr ? p->description.c_str() : "hostdev";
}

const bitnet_plugin_descriptor kDescriptor = {
    sizeof(bitnet_plugin_descriptor),
    BITNET_PLUGIN_ABI_VERSION,
    "hostdev",
    "1.0.0",
    "hostdev-1",
    BITNET_DEVICE_GPU,
    probe,
    create,
    destroy,
    get_kernels,
    get_device_iface,
    describe_device,
    get_proc_address,
};

} // namespace
} // namespace bitnet::hostdev

extern "C" BITNET_PLUGIN_EXPORT const bitnet_plugin_descriptor* bitnet_plugin_entry(void) {
    return &bitnet::hostdev::kDescriptor;
}
