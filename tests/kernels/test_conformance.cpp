// Conformance of the SIMD plugins against the scalar reference: every kernel of avx2 and avx512
// on every applicable signature of kernel_signatures.hpp, with the same inputs through both
// plugins. Integer math (I2_S dots, activation quantization) must be bit-exact; float sums may
// differ by rounding, bounded relative to Σ|w·x| of the output (a "_f32q8k_" or "_f32q8_0_" kernel
// is compared with the reference run on its Q8_K- or Q8_0-quantized activations, under the same
// bound). The other ops are bounded relative to each output: 1e-6 (RMSNorm, RoPE, FFN activation, add) and 1e-5 (attention).
#include "kernel_signatures.hpp"
#include "kernel_workspace.hpp"
#include "plugin_fixture.hpp"

#include "formats/formats.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::testing {
namespace {

namespace sig = bitnet::signatures;

// One loaded plugin with a 2-thread instance, or why it cannot run here.
struct Loaded {
    std::unique_ptr<LoadedPlugin> lib;
    std::unique_ptr<ThreadHost> host;
    std::unique_ptr<PluginInstance> inst;
    std::string refused;
};

Loaded& loaded(const std::string& name) {
    static std::map<std::string, Loaded> cache;
    auto it = cache.find(name);
    if (it != cache.end()) return it->second;
    Loaded& l = cache[name];
    try {
        l.lib = std::make_unique<LoadedPlugin>(plugin_library(name));
        char why[256] = {};
        if (l.lib->desc().probe(why, sizeof why) == 0) {
            l.refused = why;
        } else {
            l.host = std::make_unique<ThreadHost>(2);
            l.inst = std::make_unique<PluginInstance>(*l.lib, *l.host);
        }
    } catch (const std::exception& e) {
        l.refused = e.what();
    }
    return l;
}

struct Case {
    std::string plugin, kernel; // kernel empty: the plugin refused (skip)
    int sig = -1;               // matmul: index into matmuls(); quantize: index into quantize_rows();
                                // row ops: into row_widths(); rope, attention: into heads()
    int32_t m = 0;
    int32_t n_past = 0;         // attention only
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    const Case& c = info.param;
    std::string s = c.plugin + "_" + (c.kernel.empty() ? "refused" : c.kernel);
    if (c.sig >= 0) {
        auto is = [&](const char* prefix) { return c.kernel.rfind(prefix, 0) == 0; };
        if (is("matmul")) s += "_" + std::string(sig::matmuls()[c.sig].name);
        else if (is("quantize")) s += "_k" + std::to_string(sig::quantize_rows()[c.sig].k);
        else if (is("rope") || is("attention")) s += "_" + std::string(sig::heads()[c.sig].name);
        else s += "_n" + std::to_string(sig::row_widths()[c.sig]);
        s += "_m" + std::to_string(c.m);
        if (is("attention")) s += "_past" + std::to_string(c.n_past);
    }
    for (char& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return s;
}

bool m_ok(const bitnet_kernel_desc& k, int32_t m) { return m >= k.m_min && (k.m_max == 0 || m <= k.m_max); }

std::vector<Case> all_cases() {
    std::vector<Case> out;
    for (const std::string plugin : {"avx2", "avx512"}) {
        Loaded& l = loaded(plugin);
        if (l.inst == nullptr) {
            out.push_back({plugin, "", -1, 0});
            continue;
        }
        for (const bitnet_kernel_desc& k : *l.inst) {
            if (k.op == BITNET_OP_MATMUL) {
                for (size_t i = 0; i < sig::matmuls().size(); ++i) {
                    const sig::Matmul& s = sig::matmuls()[i];
                    if (!sig::applies(s, k.weight_format) || s.k % k.k_multiple != 0) continue;
                    for (int32_t m : s.ms)
                        if (m_ok(k, m) && (!s.model || m == 1 || (m == 4 && k.m_min > 1)))
                            out.push_back({plugin, k.name, static_cast<int>(i), m});
                }
            } else if (k.op == BITNET_OP_QUANTIZE_ACT) {
                for (size_t i = 0; i < sig::quantize_rows().size(); ++i)
                    for (int32_t m : sig::quantize_rows()[i].ms)
                        if (m_ok(k, m)) out.push_back({plugin, k.name, static_cast<int>(i), m});
            } else if (k.op == BITNET_OP_ROPE || k.op == BITNET_OP_ATTENTION) {
                for (size_t i = 0; i < sig::heads().size(); ++i)
                    for (int32_t m : sig::row_ms()) {
                        if (k.op == BITNET_OP_ROPE) out.push_back({plugin, k.name, static_cast<int>(i), m});
                        else {
                            for (int32_t past : sig::attention_n_past())
                                out.push_back({plugin, k.name, static_cast<int>(i), m, past});
                            if (m <= 3)
                                for (int32_t past : sig::long_attention_n_past())
                                    out.push_back({plugin, k.name, static_cast<int>(i), m, past});
                        }
                    }
            } else if (k.op == BITNET_OP_RMSNORM || k.op == BITNET_OP_FFN_ACT || k.op == BITNET_OP_ADD ||
                       k.op == BITNET_OP_KV_STORE) {
                for (size_t i = 0; i < sig::row_widths().size(); ++i)
                    for (int32_t m : sig::row_ms()) out.push_back({plugin, k.name, static_cast<int>(i), m});
            } else {
                out.push_back({plugin, k.name, -1, 0}); // no signature list yet: reported as skipped
            }
        }
    }
    return out;
}

const bitnet_kernel_desc* scalar_twin(const bitnet_kernel_desc& k) {
    Loaded& s = loaded("scalar");
    if (s.inst == nullptr) return nullptr;
    for (const bitnet_kernel_desc& r : *s.inst)
        if (r.op == k.op && r.weight_format == k.weight_format && r.act_type == k.act_type) return &r;
    return nullptr;
}

// Deterministic weights of format wf, N x K, in file layout; scale = the per-tensor multiplier.
struct Weights {
    std::vector<uint8_t> bytes;
    float scale = 1.0f;
};
Weights make_weights(bitnet_weight_format wf, int32_t n, int32_t k, std::mt19937& gen) {
    const formats::GgmlType type = formats::type_info(wf)->type;
    Weights w;
    w.bytes.resize(*formats::tensor_bytes(type, k, n));
    if (sig::is_ternary(wf)) {
        std::vector<int8_t> codes(static_cast<size_t>(n) * k);
        std::uniform_int_distribution<int> c(-1, 1);
        for (auto& v : codes) v = static_cast<int8_t>(c(gen));
        formats::quantize_ternary(type, codes.data(), 0.75f, k, n, w.bytes.data());
        if (wf == BITNET_WF_I2_S) {
            w.scale = formats::i2s_scale(w.bytes.data(), static_cast<int64_t>(n) * k);
        } else {
            // A different d per block, so block scales are really exercised.
            const size_t blk = wf == BITNET_WF_TQ2_0 ? 66 : 54, at = blk - 2;
            std::uniform_real_distribution<float> d(0.25f, 2.0f);
            for (size_t b = 0; b < w.bytes.size() / blk; ++b) {
                const uint16_t h = formats::f32_to_fp16(d(gen));
                std::memcpy(&w.bytes[b * blk + at], &h, 2);
            }
            w.scale = 1.25f;
        }
    } else {
        std::vector<float> src(static_cast<size_t>(n) * k);
        std::normal_distribution<float> g(0.0f, 0.05f);
        for (auto& v : src) v = g(gen);
        formats::quantize_float(type, src.data(), k, n, w.bytes.data());
        w.scale = 0.5f;
    }
    return w;
}

// Element-wise comparison with a bound relative to each reference value (plus a floor for
// values near zero); reports the first few differences.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel, double floor,
                  const char* what) {
    ASSERT_EQ(got.size(), want.size());
    int bad = 0;
    for (size_t i = 0; i < got.size() && bad < 5; ++i) {
        const double g = got[i], w = want[i];
        if (std::isnan(g) && std::isnan(w)) continue; // untouched padding on both sides
        if (!(std::fabs(g - w) <= rel * std::fabs(w) + floor)) {
            ++bad;
            ADD_FAILURE() << what << "[" << i << "] = " << g << ", scalar " << w;
        }
    }
}

std::vector<float> normal(size_t n, float sd, std::mt19937& gen) {
    std::vector<float> v(n);
    std::normal_distribution<float> g(0.0f, sd);
    for (auto& x : v) x = g(gen);
    return v;
}

// Runs `args` (whose output buffers are reset by `reset` first) through the kernel and scalar.
template <class Args, class Reset, class Output>
void both(const Loaded& l, const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, const Args& args,
          Reset&& reset, Output&& output, std::vector<float>& got, std::vector<float>& want) {
    reset();
    EXPECT_EQ(k.run(l.inst->handle(), &args, nullptr), BITNET_OK) << k.name;
    got = output();
    reset();
    EXPECT_EQ(ref.run(loaded("scalar").inst->handle(), &args, nullptr), BITNET_OK) << ref.name;
    want = output();
}

void check_row_op(const Loaded& l, const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, int32_t n, int32_t m) {
    std::mt19937 gen(static_cast<uint32_t>(n * 31 + m));
    const int32_t ld = n + 7;
    const std::vector<float> x = normal(static_cast<size_t>(m) * ld, 1.5f, gen);
    const std::vector<float> x2 = normal(static_cast<size_t>(m) * ld, 3.0f, gen);
    const std::vector<float> weight = normal(n, 1.0f, gen);
    std::vector<float> y, got, want;
    auto reset = [&] { y.assign(static_cast<size_t>(m) * ld, NAN); };
    auto out = [&] { return y; };
    reset(); // y.data() is taken below; later resets keep the storage
    if (k.op == BITNET_OP_RMSNORM) {
        for (const float* w : {weight.data(), static_cast<const float*>(nullptr)}) {
            const bitnet_rmsnorm_args a{sizeof a, m, n, x.data(), ld, w, 1e-5f, y.data(), ld};
            both(l, k, ref, a, reset, out, got, want);
            expect_close(got, want, 1e-6, 1e-30, "rmsnorm y");
        }
        // In place (y aliases x), as the runtime calls it.
        std::vector<float> inplace;
        const bitnet_rmsnorm_args a{sizeof a, m, n, nullptr, ld, weight.data(), 1e-5f, nullptr, ld};
        auto reset_in = [&] { inplace = x; };
        auto out_in = [&] { return inplace; };
        bitnet_rmsnorm_args b = a;
        reset_in();
        b.x = b.y = inplace.data();
        both(l, k, ref, b, reset_in, out_in, got, want);
        expect_close(got, want, 1e-6, 1e-30, "rmsnorm in place");
    } else if (k.op == BITNET_OP_FFN_ACT) {
        std::vector<float> gate = x2;
        gate[0] = 100.0f; // saturated exp on both sides of SiLU
        if (n > 1) gate[1] = -100.0f;
        if (n > 2) gate[2] = -0.0f;
        for (bitnet_ffn_kind kind : {BITNET_FFN_RELU2, BITNET_FFN_SILU}) {
            const bitnet_ffn_act_args a{sizeof a, kind, m, n, gate.data(), x.data(), y.data(), ld};
            both(l, k, ref, a, reset, out, got, want);
            if (kind == BITNET_FFN_RELU2) EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4)) << "relu2 must be bit-exact";
            else expect_close(got, want, 1e-6, 1e-30, "silu y");
        }
    } else {
        std::vector<float> acc;
        const bitnet_add_args a{sizeof a, m, n, x.data(), ld, nullptr, ld};
        bitnet_add_args b = a;
        auto reset_acc = [&] { acc = x2; };
        reset_acc();
        b.y = acc.data();
        both(l, k, ref, b, reset_acc, [&] { return acc; }, got, want);
        EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4)) << "add must be bit-exact";
    }
}

void check_rope(const Loaded& l, const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, const sig::Heads& h, int32_t m) {
    std::mt19937 gen(static_cast<uint32_t>(h.n_heads * 7 + h.head_dim + m));
    const int32_t ldx = h.n_heads * h.head_dim + 5;
    const std::vector<float> x0 = normal(static_cast<size_t>(m) * ldx, 1.0f, gen);
    std::vector<int32_t> pos(m);
    for (int32_t t = 0; t < m; ++t) pos[t] = t == 0 ? 0 : (t * 389 + 17) % 4096; // 0, mid and far angles
    std::vector<float> x, got, want;
    auto reset = [&] { x = x0; };
    auto out = [&] { return x; };
    for (int32_t neox : {1, 0})
        for (int32_t n_rot : {h.head_dim, h.head_dim / 2}) {
            reset();
            const bitnet_rope_args a{sizeof a, m, h.n_heads, h.head_dim, n_rot, 500000.0f, 1.0f, neox, pos.data(), x.data(), ldx, nullptr, BITNET_OP_KV_STORE};
            both(l, k, ref, a, reset, out, got, want);
            expect_close(got, want, 1e-6, 1e-6, "rope x");
        }
}

// Where a test cache puts position p, KV head h: interleaved (a position's heads side by side,
// padded rows) or, for kernels that read ABI 1.4's kv_head_stride, head-major (padded positions,
// a gap between heads).
struct TestKvLayout {
    int32_t kv_stride;
    int64_t head_stride; // 0: interleaved
    static TestKvLayout make(bool head_major, int32_t n_kv_heads, int32_t D, int32_t n_pos) {
        if (!head_major) return {n_kv_heads * D + 8, 0};
        const int32_t ps = D + 4;
        return {ps, int64_t(n_pos) * ps + 16};
    }
    int64_t at(int32_t p, int32_t h, int32_t D) const { return int64_t(p) * kv_stride + h * (head_stride != 0 ? head_stride : D); }
    size_t halves(int32_t n_kv_heads, int32_t n_pos) const {
        return head_stride != 0 ? size_t(n_kv_heads) * size_t(head_stride) : size_t(n_pos) * size_t(kv_stride);
    }
};

bool has_flag(const bitnet_kernel_desc& k, uint32_t flag) {
    return k.struct_size >= offsetof(bitnet_kernel_desc, flags) + sizeof k.flags && (k.flags & flag) != 0;
}
bool reads_kv_head_stride(const bitnet_kernel_desc& k) { return has_flag(k, BITNET_KERNEL_FLAG_KV_HEAD_STRIDE); }
bool computes_matmul_parts(const bitnet_kernel_desc& k) { return has_flag(k, BITNET_KERNEL_FLAG_MATMUL_PARTS); }

// Both cache layouts the kernel reads (head-major only with the flag), each against the scalar
// reference on the same layout; the reference's head-major output must equal its interleaved one.
void check_attention(const Loaded& l, const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, const sig::Heads& h,
                     int32_t m, int32_t n_past) {
    std::mt19937 gen(static_cast<uint32_t>(h.n_heads * 13 + h.head_dim + m * 101 + n_past));
    const int32_t D = h.head_dim, width = h.n_heads * D, ldq = width + 3, ldo = width + 9, n_pos = n_past + m;
    // Larger q than N(0,1) sharpens the softmax, so a few keys dominate as in a trained model.
    const std::vector<float> q = normal(static_cast<size_t>(m) * ldq, 2.0f, gen);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<uint16_t> kvals(static_cast<size_t>(n_pos) * h.n_kv_heads * D), vvals(kvals.size());
    for (auto& v : kvals) v = formats::f32_to_fp16(g(gen));
    for (auto& v : vvals) v = formats::f32_to_fp16(g(gen));
    std::vector<float> interleaved_want;
    for (const bool head_major : {false, true}) {
        if (head_major && !reads_kv_head_stride(k)) continue;
        SCOPED_TRACE(head_major ? "head-major cache" : "interleaved cache");
        ASSERT_TRUE(reads_kv_head_stride(ref) || !head_major);
        const TestKvLayout lay = TestKvLayout::make(head_major, h.n_kv_heads, D, n_pos);
        std::vector<uint16_t> kc(lay.halves(h.n_kv_heads, n_pos), 0x7e00), vc(kc.size(), 0x7e00); // NaN padding
        for (int32_t p = 0; p < n_pos; ++p)
            for (int32_t kh = 0; kh < h.n_kv_heads; ++kh)
                for (int32_t d = 0; d < D; ++d) {
                    const size_t src = (size_t(p) * h.n_kv_heads + kh) * D + d;
                    kc[size_t(lay.at(p, kh, D) + d)] = kvals[src];
                    vc[size_t(lay.at(p, kh, D) + d)] = vvals[src];
                }
        std::vector<float> o, got, want;
        bitnet_attention_args b{sizeof b, m, n_past, h.n_heads, h.n_kv_heads, D, 1.0f / std::sqrt(static_cast<float>(D)),
                                q.data(), ldq, kc.data(), vc.data(), lay.kv_stride, nullptr, ldo, nullptr, nullptr, 0, 0, 0,
                                lay.head_stride};
        auto reset = [&] {
            o.assign(static_cast<size_t>(m) * ldo, NAN);
            b.out = o.data();
        };
        reset();
        both(l, k, ref, b, reset, [&] { return o; }, got, want);
        expect_close(got, want, 1e-5, 1e-6, "attention out");
        if (!head_major) interleaved_want = want;
        else EXPECT_EQ(0, std::memcmp(want.data(), interleaved_want.data(), want.size() * sizeof(float)))
            << "the reference's head-major output differs from its interleaved one";
    }
}

class Conformance : public ::testing::TestWithParam<Case> {};

// BITNET_KERNEL_FLAG_MATMUL_PARTS (ABI 1.5): one call with two more weights of other row counts
// gives every weight's outputs bit for bit as that weight's own call by the same kernel does.
void check_matmul_parts(const Loaded& l, const bitnet_kernel_desc& k, int32_t m, int32_t K, const std::vector<float>& x,
                        int32_t ldx, const bitnet_qact& qa, std::mt19937& gen) {
    void* h = l.inst->handle();
    const int32_t unit = std::max(1, k.n_multiple);
    const int32_t ns[3] = {3 * unit, 5 * unit, unit};
    std::vector<Weights> ws;
    std::vector<std::unique_ptr<testing::KernelPacked>> packed;
    std::vector<bitnet_weights> wv(3);
    for (int i = 0; i < 3; ++i) {
        ws.push_back(make_weights(k.weight_format, ns[i], K, gen));
        packed.push_back(std::make_unique<testing::KernelPacked>(k, h, testing::matmul_shape(k, m, ns[i], K),
                                                                 ws[i].bytes.data(), ws[i].bytes.size()));
        ASSERT_EQ(packed[i]->status(), BITNET_OK);
        wv[i] = {ws[i].bytes.data(), ws[i].bytes.size(), ws[i].scale, packed[i]->get()};
    }
    const testing::KernelWorkspace scratch(k, h, testing::matmul_shape(k, m, ns[0], K));
    std::vector<std::vector<float>> alone(3), together(3);
    bitnet_matmul_args a{sizeof(bitnet_matmul_args), m, 0, K, k.act_type, x.data(), &qa, ldx, nullptr, nullptr, 0, 0, {}, nullptr, 0};
    for (int i = 0; i < 3; ++i) {
        alone[i].assign(size_t(m) * (ns[i] + 2), NAN);
        together[i].assign(alone[i].size(), NAN);
        a.n = ns[i];
        a.w = &wv[i];
        a.y = alone[i].data();
        a.ldy = ns[i] + 2;
        ASSERT_EQ(k.run(h, &a, scratch.get()), BITNET_OK) << "weight " << i << " alone";
    }
    a.n = ns[0];
    a.w = &wv[0];
    a.y = together[0].data();
    a.ldy = ns[0] + 2;
    a.n_parts = 2;
    for (int i = 1; i < 3; ++i) a.parts[i - 1] = {&wv[i], ns[i], together[i].data(), ns[i] + 2};
    ASSERT_EQ(k.run(h, &a, scratch.get()), BITNET_OK) << "with parts";
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(0, std::memcmp(alone[i].data(), together[i].data(), alone[i].size() * sizeof(float)))
            << "weight " << i << " (n " << ns[i] << "): its outputs in the parts call differ from its own call";
}

void check_matmul(const Loaded& l, const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref,
                  const sig::Matmul& s, int32_t m) {
    const int32_t n = s.model ? std::min(s.n, sig::kTestMaxN) : s.n, K = s.k;
    std::mt19937 gen(static_cast<uint32_t>(n * 131 + K * 7 + m));
    const Weights w = make_weights(k.weight_format, n, K, gen);
    const int32_t ldx = K + 3, ldy = n + 1;
    std::vector<float> x(static_cast<size_t>(m) * ldx);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : x) v = g(gen);

    // Quantized activations, made by the reference quantizer (formats).
    const bool b256 = k.act_type == BITNET_ACT_I8_B256;
    const int32_t per_row = b256 ? (K + 255) / 256 : 1;
    const size_t stride = static_cast<size_t>(K) + 64;
    std::vector<int8_t> q(stride * m);
    std::vector<float> qs(static_cast<size_t>(per_row) * m);
    for (int32_t i = 0; i < m; ++i) {
        if (b256) formats::quantize_act_row_b256(&x[i * static_cast<size_t>(ldx)], K, &q[i * stride], &qs[i * per_row]);
        else if (k.act_type == BITNET_ACT_I8_ROW) formats::quantize_act_row_i8(&x[i * static_cast<size_t>(ldx)], K, &q[i * stride], &qs[i]);
    }
    bitnet_qact qa{q.data(), qs.data(), nullptr, stride};
    bitnet_weights wt{w.bytes.data(), w.bytes.size(), w.scale, nullptr};

    // A float kernel named "..._f32q8k_..." or "..._f32q8_0_..." documents that it quantizes its
    // f32 activations first (llama.cpp's Q6_K x Q8_K and Q8_0 x Q8_0 numerics): the reference then
    // multiplies exactly those values, d·q of the reference quantizer (formats::round_activations),
    // and the bound below stays the rounding one.
    const formats::ActRounding rounding = formats::act_rounding_of_kernel(k.name);
    if (rounding == formats::ActRounding::q8_0)
        // The first block of each row gets max|x| = 127 (d = 1) and values ±0.5, ±1.5, ...: exact
        // ties, which roundf takes away from zero and round-to-even would not; one q off by one
        // there is far outside the bound.
        for (int32_t i = 0; i < m; ++i)
            for (int32_t t = 0; t < 32; ++t)
                x[i * static_cast<size_t>(ldx) + t] =
                    t == 0 ? 127.0f : static_cast<float>((t % 2 ? 1 : -1) * (t % 8)) + 0.5f;
    std::vector<float> xr = x;
    for (int32_t i = 0; i < m; ++i) formats::round_activations(rounding, &xr[i * static_cast<size_t>(ldx)], K);

    auto run = [&](void* handle, const bitnet_kernel_desc& kd, const std::vector<float>& xin) {
        std::vector<float> y(static_cast<size_t>(m) * ldy, NAN);
        const bitnet_shape shape = testing::matmul_shape(kd, m, n, K);
        const testing::KernelPacked packed(kd, handle, shape, w.bytes.data(), w.bytes.size());
        EXPECT_EQ(packed.status(), BITNET_OK) << kd.name << " pack_weights";
        bitnet_weights wk = wt;
        wk.packed = packed.get();
        bitnet_matmul_args a{sizeof(bitnet_matmul_args), m, n, K, k.act_type, xin.data(), &qa, ldx, &wk, y.data(), ldy, 0, {}, nullptr, 0};
        const testing::KernelWorkspace ws(kd, handle, shape);
        if (ws.get() != nullptr) { // a kernel that asked for scratch refuses to run without it
            EXPECT_NE(kd.run(handle, &a, nullptr), BITNET_OK) << kd.name << " ran with a NULL workspace";
        }
        if (kd.pack_weights != nullptr) { // and one that packs refuses the file's bytes alone
            EXPECT_GT(packed.bytes(), 0u) << kd.name;
            bitnet_matmul_args unpacked = a;
            unpacked.w = &wt;
            EXPECT_NE(kd.run(handle, &unpacked, ws.get()), BITNET_OK) << kd.name << " ran without its packed weights";
        }
        EXPECT_EQ(kd.run(handle, &a, ws.get()), BITNET_OK) << kd.name;
        return y;
    };
    const std::vector<float> got = run(l.inst->handle(), k, x);
    const std::vector<float> want = run(loaded("scalar").inst->handle(), ref, xr);
    if (computes_matmul_parts(k)) {
        SCOPED_TRACE("matmul parts");
        check_matmul_parts(l, k, m, K, x, ldx, qa, gen);
    }

    // The bound for float sums: 1e-5 of Σ|w·x| of each output (|x| as the kernel sees it).
    const formats::GgmlType type = formats::type_info(k.weight_format)->type;
    // I2_S dots are exact integers with the reference's float epilogue; the rows-in-lanes kernels
    // ("_panel" in the name) also repeat the TQ reference's per-block float steps lane by lane.
    const bool exact = k.weight_format == BITNET_WF_I2_S || std::string_view(k.name).find("_panel") != std::string_view::npos;
    std::vector<float> wrow(K);
    int bad = 0;
    for (int32_t j = 0; j < n && bad < 5; ++j) {
        formats::dequantize_row(type, w.bytes.data(), j, K, wrow.data());
        for (int32_t i = 0; i < m && bad < 5; ++i) {
            const float gv = got[i * static_cast<size_t>(ldy) + j], wv = want[i * static_cast<size_t>(ldy) + j];
            if (exact) {
                if (std::memcmp(&gv, &wv, 4) != 0) {
                    ++bad;
                    ADD_FAILURE() << "y[" << i << "][" << j << "] = " << gv << ", scalar " << wv << " (must be bit-exact)";
                }
                continue;
            }
            double mag = 0;
            for (int32_t t = 0; t < K; ++t) {
                const double xv = b256 ? q[i * stride + t] * static_cast<double>(qs[i * per_row + t / 256])
                                       : xr[i * static_cast<size_t>(ldx) + t];
                mag += std::fabs(wrow[t] * xv);
            }
            const double tol = 1e-5 * mag * std::fabs(w.scale) + 1e-30;
            if (!(std::fabs(static_cast<double>(gv) - wv) <= tol)) {
                ++bad;
                ADD_FAILURE() << "y[" << i << "][" << j << "] = " << gv << ", scalar " << wv << ", tolerance " << tol;
            }
        }
    }
    // Rows past N and the ldy padding must be untouched.
    for (int32_t i = 0; i < m; ++i) EXPECT_TRUE(std::isnan(got[i * static_cast<size_t>(ldy) + n])) << "wrote past n";
}

void check_quantize(const Loaded& l, const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, int32_t K, int32_t m) {
    std::mt19937 gen(static_cast<uint32_t>(K * 17 + m));
    const int32_t ldx = K + 5;
    std::vector<float> x(static_cast<size_t>(m) * ldx);
    std::normal_distribution<float> g(0.0f, 2.0f);
    for (auto& v : x) v = g(gen);
    if (m > 1) std::fill_n(&x[ldx], K, 0.0f);   // an all-zero row (zero block scales)
    x[0] = 3.0f;
    if (K > 9) x[9] = -3.0f;                     // tied maxima: the first wins
    const bool b256 = k.act_type == BITNET_ACT_I8_B256;
    const int32_t per_row = b256 ? (K + 255) / 256 : 1;
    const size_t stride = static_cast<size_t>(K) + 32;
    auto run = [&](void* handle, const bitnet_kernel_desc& kd, std::vector<int8_t>& q, std::vector<float>& s,
                   std::vector<int32_t>& sums) {
        q.assign(stride * m, 0x55);
        s.assign(static_cast<size_t>(per_row) * m, NAN);
        sums.assign(m, -1);
        bitnet_qact out{q.data(), s.data(), sums.data(), stride};
        bitnet_quantize_args a{sizeof(bitnet_quantize_args), m, K, x.data(), ldx, &out};
        EXPECT_EQ(kd.run(handle, &a, nullptr), BITNET_OK) << kd.name;
    };
    std::vector<int8_t> q1, q2;
    std::vector<float> s1, s2;
    std::vector<int32_t> r1, r2;
    run(l.inst->handle(), k, q1, s1, r1);
    run(loaded("scalar").inst->handle(), ref, q2, s2, r2);
    EXPECT_EQ(q1, q2) << "quantized values (and untouched row padding) differ";
    EXPECT_EQ(0, std::memcmp(s1.data(), s2.data(), s1.size() * 4)) << "scales differ";
    EXPECT_EQ(r1, r2) << "row sums differ";
}

// KV rows into the f16 cache: bit-exact, specials included (ties to even, subnormals, overflow to
// infinity, NaN payloads), cache positions outside the rows untouched.
void check_kv_store(const Loaded& l, const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, int32_t width, int32_t m) {
    std::mt19937 gen(static_cast<uint32_t>(width * 13 + m));
    const int32_t ld = width + 3, pos0 = 5, n_pos = pos0 + m + 2;
    std::vector<float> kx = normal(static_cast<size_t>(m) * ld, 3.0f, gen), vx = normal(kx.size(), 3.0f, gen);
    const float specials[] = {1.0f + 0x1p-11f,  1.0f + 0x3p-11f, 65504.0f, 65520.0f, 1e6f, -1e-8f, 0x1p-25f, 0x3p-26f,
                              6.1e-5f, -0.0f, std::numeric_limits<float>::infinity(),
                              std::bit_cast<float>(0x7fa00001u), std::bit_cast<float>(0xffc12345u)};
    for (size_t i = 0; i < std::size(specials) && i < kx.size(); ++i) kx[i] = vx[kx.size() - 1 - i] = specials[i];
    // Head-major needs heads of whole head_dim: the row as n_kv heads of head_dim where width allows.
    const int32_t head_dim = width % 4 == 0 ? width / 4 : width, n_kv = width / head_dim;
    for (const bool head_major : {false, true}) {
        if (head_major && !reads_kv_head_stride(k)) continue;
        SCOPED_TRACE(head_major ? "head-major cache" : "interleaved cache");
        const TestKvLayout lay = head_major ? TestKvLayout::make(true, n_kv, head_dim, n_pos) : TestKvLayout{width + 8, 0};
        auto run = [&](void* handle, const bitnet_kernel_desc& kd, std::vector<uint16_t>& kc, std::vector<uint16_t>& vc) {
            kc.assign(lay.halves(n_kv, n_pos), 0xbeef);
            vc = kc;
            const bitnet_kv_store_args a{sizeof a, m, pos0, width, kx.data(), vx.data(), ld, kc.data(), vc.data(),
                                         lay.kv_stride, nullptr, nullptr, 0, 0, 0, head_dim, lay.head_stride};
            EXPECT_EQ(kd.run(handle, &a, nullptr), BITNET_OK) << kd.name;
        };
        std::vector<uint16_t> k1, v1, k2, v2;
        run(l.inst->handle(), k, k1, v1);
        run(loaded("scalar").inst->handle(), ref, k2, v2);
        EXPECT_EQ(k1, k2) << "K cache differs";
        EXPECT_EQ(v1, v2) << "V cache differs";
        // Where the reference put each value (the layout itself, not only agreement).
        for (int32_t t = 0; t < m; ++t)
            for (int32_t i = 0; i < width; ++i) {
                const size_t at = size_t(lay.at(pos0 + t, i / head_dim, head_dim) + i % head_dim);
                ASSERT_EQ(k2[at], formats::f32_to_fp16(kx[size_t(t) * ld + i])) << "row " << t << " value " << i;
            }
    }
}

TEST_P(Conformance, MatchesScalar) {
    const Case& c = GetParam();
    Loaded& l = loaded(c.plugin);
    if (c.kernel.empty()) GTEST_SKIP() << c.plugin << " refused: " << l.refused;
    const bitnet_kernel_desc* k = l.inst->find(c.kernel);
    ASSERT_NE(k, nullptr);
    const bitnet_kernel_desc* ref = scalar_twin(*k);
    ASSERT_NE(ref, nullptr) << "scalar has no kernel for " << c.kernel << "'s op and formats";
    if (c.sig < 0) GTEST_SKIP() << "no signature list for this op yet";
    if (k->op == BITNET_OP_MATMUL && k->supports != nullptr) {
        // As the host does: a kernel whose supports() declines (e.g. AVX-VNNI absent) never runs.
        const sig::Matmul& s = sig::matmuls()[c.sig];
        const int32_t n = s.model ? std::min(s.n, sig::kTestMaxN) : s.n;
        const bitnet_shape shape = testing::matmul_shape(*k, c.m, n, s.k);
        if (k->supports(l.inst->handle(), &shape) == 0) GTEST_SKIP() << c.kernel << " declines this shape on this CPU (supports() = 0)";
    }
    switch (k->op) {
    case BITNET_OP_MATMUL: check_matmul(l, *k, *ref, sig::matmuls()[c.sig], c.m); break;
    case BITNET_OP_QUANTIZE_ACT: check_quantize(l, *k, *ref, sig::quantize_rows()[c.sig].k, c.m); break;
    case BITNET_OP_ROPE: check_rope(l, *k, *ref, sig::heads()[c.sig], c.m); break;
    case BITNET_OP_ATTENTION: check_attention(l, *k, *ref, sig::heads()[c.sig], c.m, c.n_past); break;
    case BITNET_OP_KV_STORE: check_kv_store(l, *k, *ref, sig::row_widths()[c.sig], c.m); break;
    default: check_row_op(l, *k, *ref, sig::row_widths()[c.sig], c.m); break;
    }
}

INSTANTIATE_TEST_SUITE_P(Plugins, Conformance, ::testing::ValuesIn(all_cases()), case_name);

bool takes_prologue_and_accumulate(const bitnet_kernel_desc& k) {
    return has_flag(k, BITNET_KERNEL_FLAG_MATMUL_PROLOGUE) && has_flag(k, BITNET_KERNEL_FLAG_MATMUL_ACCUMULATE);
}

// BITNET_KERNEL_FLAG_MATMUL_PROLOGUE and _ACCUMULATE (ABI 1.5): a call with a prologue (with and
// without the FFN activation) equals the reference's NORM_QUANTIZE followed by the kernel's own
// call, and an accumulating call equals its product added to y in f32, bit for bit.
void check_matmul_prologue(const Loaded& l, const bitnet_kernel_desc& k, int32_t m, int32_t K, std::mt19937& gen) {
    void* h = l.inst->handle();
    const bitnet_kernel_desc* nq = nullptr;
    for (const bitnet_kernel_desc& r : *loaded("scalar").inst)
        if (r.op == BITNET_OP_NORM_QUANTIZE && r.act_type == k.act_type) nq = &r;
    ASSERT_NE(nq, nullptr);
    const int32_t n = 3 * std::max(1, k.n_multiple), ldy = n + 2;
    const Weights w = make_weights(k.weight_format, n, K, gen);
    const testing::KernelPacked packed(k, h, testing::matmul_shape(k, m, n, K), w.bytes.data(), w.bytes.size());
    ASSERT_EQ(packed.status(), BITNET_OK);
    const bitnet_weights wv{w.bytes.data(), w.bytes.size(), w.scale, packed.get()};
    const std::vector<float> x0 = normal(size_t(m) * K, 1.0f, gen), up = normal(size_t(m) * K, 1.0f, gen);
    const std::vector<float> gamma = normal(size_t(K), 1.0f, gen), y0 = normal(size_t(m) * ldy, 1.0f, gen);
    const size_t stride = size_t(K) + 64;
    const size_t n_scales = size_t(m) * ((K + 255) / 256 + 1);
    for (bool with_up : {false, true})
        for (bool accumulate : {false, true}) {
            SCOPED_TRACE(std::string(with_up ? "prologue with up" : "prologue") + (accumulate ? ", accumulating" : ""));
            // The steps apart: NORM_QUANTIZE, the product, the addition.
            std::vector<float> x1 = x0, y1(x0.size()), prod(size_t(m) * ldy, NAN), qs1(n_scales);
            std::vector<int8_t> q1(stride * m);
            bitnet_qact qa1{q1.data(), qs1.data(), nullptr, stride};
            bitnet_norm_quantize_args p1{sizeof p1, m, K, x1.data(), K, nullptr, 0, gamma.data(), 1e-5f, y1.data(), K,
                                         k.act_type, &qa1, with_up ? up.data() : nullptr, K, BITNET_FFN_SILU};
            ASSERT_EQ(nq->run(loaded("scalar").inst->handle(), &p1, nullptr), BITNET_OK);
            bitnet_matmul_args a1{sizeof a1, m, n, K, k.act_type, nullptr, &qa1, K, &wv, prod.data(), ldy, 0, {}, nullptr, 0};
            ASSERT_EQ(k.run(h, &a1, nullptr), BITNET_OK);
            std::vector<float> want = prod;
            if (accumulate) // the padding past n keeps y's values
                for (size_t i = 0; i < want.size(); ++i) want[i] = int32_t(i % ldy) < n ? y0[i] + prod[i] : y0[i];
            // One call.
            std::vector<float> x2 = x0, y2(x0.size()), got = accumulate ? y0 : std::vector<float>(y0.size(), NAN),
                                                         qs2(n_scales);
            std::vector<int8_t> q2(stride * m);
            bitnet_qact qa2{q2.data(), qs2.data(), nullptr, stride};
            bitnet_norm_quantize_args p2{sizeof p2, m, K, x2.data(), K, nullptr, 0, gamma.data(), 1e-5f, y2.data(), K,
                                         k.act_type, &qa2, with_up ? up.data() : nullptr, K, BITNET_FFN_SILU};
            bitnet_matmul_args a2{sizeof a2, m, n, K, k.act_type, nullptr, &qa2, K, &wv, got.data(), ldy, 0, {}, &p2,
                                  accumulate ? 1 : 0};
            ASSERT_EQ(k.run(h, &a2, nullptr), BITNET_OK);
            if (!accumulate)
                for (size_t i = 0; i < want.size(); ++i)
                    if (int32_t(i % ldy) >= n) want[i] = got[i]; // padding: not written either way
            EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
            // A prologue whose out is not x_q is refused.
            bitnet_qact other = qa2;
            other.data = q1.data();
            p2.out = &other;
            EXPECT_NE(k.run(h, &a2, nullptr), BITNET_OK) << "ran a prologue that does not feed x_q";
        }
}

// Every matmul kernel that computes parts (and prologues), the reference's included, on 1 and 3 tokens and a K of
// three format blocks. Counts what it checked, so a flag nobody sets cannot pass it unseen.
TEST(MatmulParts, EqualOneCallPerWeight) {
    int checked = 0, prologues = 0;
    for (const std::string plugin : {"scalar", "avx2", "avx512"}) {
        Loaded& l = loaded(plugin);
        if (l.inst == nullptr) continue;
        for (const bitnet_kernel_desc& k : *l.inst) {
            if (k.op != BITNET_OP_MATMUL || !computes_matmul_parts(k)) continue;
            const int32_t K = 3 * std::max(k.k_multiple, 32);
            for (int32_t m : {1, 3}) {
                if (!m_ok(k, m)) continue;
                SCOPED_TRACE(plugin + "/" + k.name + " m=" + std::to_string(m));
                std::mt19937 gen(static_cast<uint32_t>(K + m));
                const int32_t ldx = K + 1;
                const std::vector<float> x = normal(static_cast<size_t>(m) * ldx, 1.0f, gen);
                const bool b256 = k.act_type == BITNET_ACT_I8_B256;
                const size_t stride = static_cast<size_t>(K) + 64;
                std::vector<int8_t> q(stride * m);
                std::vector<float> qs(static_cast<size_t>(m) * (K + 255) / 256 + m);
                for (int32_t i = 0; i < m; ++i) {
                    const float* row = &x[i * static_cast<size_t>(ldx)];
                    if (b256) formats::quantize_act_row_b256(row, K, &q[i * stride], &qs[i * size_t((K + 255) / 256)]);
                    else if (k.act_type == BITNET_ACT_I8_ROW) formats::quantize_act_row_i8(row, K, &q[i * stride], &qs[i]);
                }
                const bitnet_qact qa{q.data(), qs.data(), nullptr, stride};
                check_matmul_parts(l, k, m, K, x, ldx, qa, gen);
                if (takes_prologue_and_accumulate(k) && k.act_type != BITNET_ACT_F32) {
                    check_matmul_prologue(l, k, m, K, gen);
                    ++prologues;
                }
                ++checked;
            }
        }
    }
    // The reference computes parts for every matmul format it has (plugins/scalar/plugin.cpp), and
    // prologues for its three ternary ones.
    EXPECT_GE(checked, 2 * 8);
    EXPECT_GE(prologues, 2 * 3);
}

// The cap must refuse avx512 with the documented reason, whatever the CPU.
TEST(Probe, HonoursMaxIsaCap) {
    Loaded& l = loaded("avx512");
    if (l.lib == nullptr) GTEST_SKIP() << l.refused;
    ::setenv("BITNET_MAX_ISA", "avx2", 1);
    char why[256] = {};
    const int32_t ok = l.lib->desc().probe(why, sizeof why);
    ::unsetenv("BITNET_MAX_ISA");
    EXPECT_EQ(ok, 0);
    EXPECT_STREQ(why, "capped by BITNET_MAX_ISA=avx2");
}

} // namespace
} // namespace bitnet::testing
