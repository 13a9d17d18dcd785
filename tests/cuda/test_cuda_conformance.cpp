// The cuda plugin against the scalar reference over the shared signature list
// (tests/kernels/kernel_signatures.hpp): the same inputs go through scalar on host memory and
// through cuda on device memory (the plugin's own device iface), and the outputs are compared
// with the CPU conformance test's rules: I2_S matmuls, activation quantization, relu², add and the
// KV store bit-exact; float sums within 1e-5 of Σ|w·x|; RMSNorm/RoPE/SiLU 1e-6, attention 1e-5.
// Without a usable GPU every test skips and prints the probe's reason.
#include "kernel_signatures.hpp"
#include "plugin_fixture.hpp"

#include "formats/formats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>

namespace bitnet::testing {
namespace {

namespace sig = bitnet::signatures;

struct Env {
    std::unique_ptr<LoadedPlugin> cuda_lib, scalar_lib;
    std::unique_ptr<ThreadHost> host;
    std::unique_ptr<PluginInstance> cuda, scalar;
    const bitnet_device_iface* dev = nullptr;
    std::string skip; // why cuda cannot run here
};

Env& env() {
    static Env e = [] {
        Env x;
        try {
            if (!std::filesystem::exists(plugin_library("cuda"))) {
                x.skip = "the cuda plugin was not built (no CUDA compiler, or BITNET_WITH_CUDA=OFF)";
                return x;
            }
            x.cuda_lib = std::make_unique<LoadedPlugin>(plugin_library("cuda"));
            char why[512] = {};
            if (x.cuda_lib->desc().probe(why, sizeof why) != 1) {
                x.skip = std::string("cuda plugin refused by its probe: ") + why;
                return x;
            }
            x.scalar_lib = std::make_unique<LoadedPlugin>(plugin_library("scalar"));
            x.host = std::make_unique<ThreadHost>(2);
            x.cuda = std::make_unique<PluginInstance>(*x.cuda_lib, *x.host);
            x.scalar = std::make_unique<PluginInstance>(*x.scalar_lib, *x.host);
            x.dev = x.cuda_lib->desc().get_device_iface(x.cuda->handle());
        } catch (const std::exception& ex) {
            x.skip = ex.what();
        }
        return x;
    }();
    return e;
}

#define REQUIRE_GPU()                                                              \
    do {                                                                           \
        if (!env().skip.empty()) GTEST_SKIP() << "no GPU run: " << env().skip;     \
    } while (0)

// A device buffer holding a copy of a host vector; read back with get().
template <class T>
class Dev {
public:
    explicit Dev(const std::vector<T>& host) : n_(host.size()) {
        Env& e = env();
        EXPECT_EQ(e.dev->alloc(e.cuda->handle(), std::max<size_t>(n_ * sizeof(T), 1), &ptr_), BITNET_OK);
        put(host);
    }
    ~Dev() { env().dev->free(env().cuda->handle(), ptr_); }
    Dev(const Dev&) = delete;
    Dev& operator=(const Dev&) = delete;
    void put(const std::vector<T>& host) {
        EXPECT_EQ(env().dev->copy_to_device(env().cuda->handle(), ptr_, host.data(), n_ * sizeof(T)), BITNET_OK);
    }
    std::vector<T> get() const {
        std::vector<T> out(n_);
        EXPECT_EQ(env().dev->copy_to_host(env().cuda->handle(), out.data(), ptr_, n_ * sizeof(T)), BITNET_OK);
        return out;
    }
    T* ptr() const { return static_cast<T*>(ptr_); }

private:
    size_t n_;
    void* ptr_ = nullptr;
};

const bitnet_kernel_desc* find_kernel(const PluginInstance& p, bitnet_op op, bitnet_weight_format wf, bitnet_act_type act) {
    for (const auto& k : p)
        if (k.op == op && k.weight_format == wf && k.act_type == act) return &k;
    return nullptr;
}

std::vector<float> normal(size_t n, float sd, std::mt19937& gen) {
    std::vector<float> v(n);
    std::normal_distribution<float> g(0.0f, sd);
    for (auto& x : v) x = g(gen);
    return v;
}

int close_or_report(const std::vector<float>& got, const std::vector<float>& want, double rel, double floor,
                    const std::string& what) {
    int bad = 0;
    for (size_t i = 0; i < got.size() && bad < 5; ++i) {
        if (std::isnan(got[i]) && std::isnan(want[i])) continue;
        if (!(std::fabs(double(got[i]) - want[i]) <= rel * std::fabs(double(want[i])) + floor)) {
            ++bad;
            ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", scalar " << want[i];
        }
    }
    return bad;
}

TEST(CudaConformance, Matmul) {
    REQUIRE_GPU();
    Env& e = env();
    for (bitnet_weight_format wf : {BITNET_WF_I2_S, BITNET_WF_TQ2_0, BITNET_WF_TQ1_0, BITNET_WF_F16, BITNET_WF_Q8_0,
                                    BITNET_WF_Q6_K, BITNET_WF_F32, BITNET_WF_BF16}) {
        const bool ternary = sig::is_ternary(wf);
        const bitnet_act_type act =
            wf == BITNET_WF_I2_S ? BITNET_ACT_I8_ROW : ternary ? BITNET_ACT_I8_B256 : BITNET_ACT_F32;
        const bitnet_kernel_desc* k = find_kernel(*e.cuda, BITNET_OP_MATMUL, wf, act);
        const bitnet_kernel_desc* ref = find_kernel(*e.scalar, BITNET_OP_MATMUL, wf, act);
        ASSERT_NE(k, nullptr) << "cuda has no matmul for format " << int(wf);
        ASSERT_NE(ref, nullptr);
        const formats::GgmlType type = formats::type_info(wf)->type;
        for (const sig::Matmul& s : sig::matmuls()) {
            if (s.k % sig::k_block(wf) != 0 || (s.role == sig::Role::ternary && !ternary) ||
                (s.role == sig::Role::head && ternary))
                continue;
            // The batched decode sizes (1..16) and prefill tiles (every token-tile width of the
            // tensor-core path, a partial last tile, two tiles) on top of the list's.
            std::vector<int32_t> ms = s.ms;
            for (int32_t extra : {2, 8, 16, 40, 70}) ms.push_back(extra);
            for (int32_t m : ms) {
                SCOPED_TRACE(std::string(k->name) + " " + std::string(s.name) + " m=" + std::to_string(m));
                const int32_t n = s.model ? std::min(s.n, sig::kTestMaxN) : s.n, K = s.k;
                std::mt19937 gen(uint32_t(n * 131 + K * 7 + m));
                std::vector<uint8_t> wbytes(*formats::tensor_bytes(type, K, n));
                float wscale = 0.5f;
                if (ternary) {
                    std::vector<int8_t> codes(size_t(n) * K);
                    std::uniform_int_distribution<int> c(-1, 1);
                    for (auto& v : codes) v = int8_t(c(gen));
                    formats::quantize_ternary(type, codes.data(), 0.75f, K, n, wbytes.data());
                    wscale = wf == BITNET_WF_I2_S ? formats::i2s_scale(wbytes.data(), int64_t(n) * K) : 1.25f;
                } else {
                    const auto src = normal(size_t(n) * K, 0.05f, gen);
                    formats::quantize_float(type, src.data(), K, n, wbytes.data());
                }
                const int32_t ldx = K + 3, ldy = n + 1;
                const auto x = normal(size_t(m) * ldx, 1.0f, gen);
                const int32_t per_row = act == BITNET_ACT_I8_B256 ? (K + 255) / 256 : 1;
                const size_t stride = (size_t(K) + 64 + 15) / 16 * 16;
                std::vector<int8_t> q(stride * m);
                std::vector<float> qs(size_t(per_row) * m);
                for (int32_t i = 0; i < m; ++i) {
                    if (act == BITNET_ACT_I8_B256) formats::quantize_act_row_b256(&x[size_t(i) * ldx], K, &q[i * stride], &qs[size_t(i) * per_row]);
                    else if (act == BITNET_ACT_I8_ROW) formats::quantize_act_row_i8(&x[size_t(i) * ldx], K, &q[i * stride], &qs[i]);
                }
                // Scalar on host memory.
                std::vector<float> want(size_t(m) * ldy, NAN);
                bitnet_qact hq{q.data(), qs.data(), nullptr, stride};
                bitnet_weights hw{wbytes.data(), wbytes.size(), wscale, nullptr};
                bitnet_matmul_args ha{sizeof ha, m, n, K, act, x.data(), &hq, ldx, &hw, want.data(), ldy, 0, {}, nullptr, 0};
                ASSERT_EQ(ref->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                // cuda on device memory, with its packed weights.
                const bitnet_shape shape{sizeof(bitnet_shape), BITNET_OP_MATMUL, wf, act, m, n, K, 0, 0, 0};
                void* packed = nullptr;
                size_t packed_bytes = 0;
                ASSERT_EQ(k->pack_weights(e.cuda->handle(), &shape, wbytes.data(), wbytes.size(), &packed, &packed_bytes), BITNET_OK);
                Dev<float> dx(x), dqs(qs), dy(std::vector<float>(size_t(m) * ldy, NAN));
                Dev<int8_t> dq(q);
                bitnet_qact gq{dq.ptr(), dqs.ptr(), nullptr, stride};
                bitnet_weights gw{wbytes.data(), wbytes.size(), wscale, packed};
                bitnet_matmul_args ga{sizeof ga, m, n, K, act, dx.ptr(), &gq, ldx, &gw, dy.ptr(), ldy, 0, {}, nullptr, 0};
                ASSERT_EQ(k->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                const auto got = dy.get();
                k->release_packed(e.cuda->handle(), packed);
                if (wf == BITNET_WF_I2_S) {
                    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4)) << "I2_S must be bit-exact";
                    continue;
                }
                std::vector<float> wrow(K);
                int bad = 0;
                for (int32_t j = 0; j < n && bad < 5; ++j) {
                    formats::dequantize_row(type, wbytes.data(), j, K, wrow.data());
                    for (int32_t i = 0; i < m && bad < 5; ++i) {
                        double mag = 0;
                        for (int32_t t = 0; t < K; ++t) {
                            const double xv = act == BITNET_ACT_I8_B256 ? q[i * stride + t] * double(qs[size_t(i) * per_row + t / 256])
                                                                        : x[size_t(i) * ldx + t];
                            mag += std::fabs(wrow[t] * xv);
                        }
                        const double tol = 1e-5 * mag * std::fabs(wscale) + 1e-30;
                        const double g = got[size_t(i) * ldy + j], w = want[size_t(i) * ldy + j];
                        if (!(std::fabs(g - w) <= tol)) {
                            ++bad;
                            ADD_FAILURE() << "y[" << i << "][" << j << "] = " << g << ", scalar " << w << ", tolerance " << tol;
                        }
                    }
                }
                for (int32_t i = 0; i < m; ++i) EXPECT_TRUE(std::isnan(got[size_t(i) * ldy + n])) << "wrote past n";
            }
        }
    }
}

// Three random ternary weights of the parts tests' row counts (not multiples of any tile),
// packed by cuda kernel `k`: host views for the scalar reference, device views for cuda.
struct PartWeights {
    static constexpr int32_t kRows[3] = {200, 37, 64};
    std::vector<std::vector<uint8_t>> bytes{3};
    std::vector<void*> packed = std::vector<void*>(3, nullptr);
    std::vector<bitnet_weights> host = std::vector<bitnet_weights>(3), dev = std::vector<bitnet_weights>(3);
    const bitnet_kernel_desc* k = nullptr;
    PartWeights(const bitnet_kernel_desc& kernel, bitnet_weight_format wf, bitnet_act_type act, int32_t m, int32_t K,
                std::mt19937& gen)
        : k(&kernel) {
        const formats::GgmlType type = formats::type_info(wf)->type;
        for (int i = 0; i < 3; ++i) {
            std::vector<int8_t> codes(size_t(kRows[i]) * K);
            std::uniform_int_distribution<int> c(-1, 1);
            for (auto& v : codes) v = int8_t(c(gen));
            bytes[i].resize(*formats::tensor_bytes(type, K, kRows[i]));
            formats::quantize_ternary(type, codes.data(), 0.75f, K, kRows[i], bytes[i].data());
            const float scale = wf == BITNET_WF_I2_S ? formats::i2s_scale(bytes[i].data(), int64_t(kRows[i]) * K) : 1.0f;
            const bitnet_shape shape{sizeof(bitnet_shape), BITNET_OP_MATMUL, wf, act, m, kRows[i], K, 0, 0, 0};
            size_t packed_bytes = 0;
            EXPECT_EQ(k->pack_weights(env().cuda->handle(), &shape, bytes[i].data(), bytes[i].size(), &packed[i],
                                      &packed_bytes),
                      BITNET_OK);
            host[i] = {bytes[i].data(), bytes[i].size(), scale, nullptr};
            dev[i] = {bytes[i].data(), bytes[i].size(), scale, packed[i]};
        }
    }
    ~PartWeights() {
        for (void* pk : packed)
            if (pk != nullptr) k->release_packed(env().cuda->handle(), pk);
    }
    PartWeights(const PartWeights&) = delete;
    PartWeights& operator=(const PartWeights&) = delete;
};

// ABI 1.5 parts: Q|K|V-like weights of other row counts (not multiples of a tile, so the parts'
// blocks meet mid-grid) in one launch give each weight's outputs bit for bit as its own launch,
// on the decode GEMV (m = 1) and the tensor-core tiles (m > 1).
TEST(CudaConformance, MatmulParts) {
    REQUIRE_GPU();
    Env& e = env();
    for (bitnet_weight_format wf : {BITNET_WF_I2_S, BITNET_WF_TQ2_0, BITNET_WF_TQ1_0}) {
        const bitnet_act_type act = wf == BITNET_WF_I2_S ? BITNET_ACT_I8_ROW : BITNET_ACT_I8_B256;
        const bitnet_kernel_desc* k = find_kernel(*e.cuda, BITNET_OP_MATMUL, wf, act);
        ASSERT_NE(k, nullptr);
        ASSERT_NE(k->flags & BITNET_KERNEL_FLAG_MATMUL_PARTS, 0u) << k->name << " does not say it computes parts";
        for (int32_t K : {768, 2560})
            for (int32_t m : {1, 4, 16, 40}) {
                SCOPED_TRACE(std::string(k->name) + " K=" + std::to_string(K) + " m=" + std::to_string(m));
                std::mt19937 gen(uint32_t(K + m * 7 + int(wf)));
                const PartWeights pw(*k, wf, act, m, K, gen);
                const int32_t* ns = PartWeights::kRows;
                const std::vector<bitnet_weights>& ws = pw.dev;
                const auto x = normal(size_t(m) * K, 1.0f, gen);
                const int32_t per_row = act == BITNET_ACT_I8_B256 ? K / 256 : 1;
                const size_t stride = size_t(K) + 64;
                std::vector<int8_t> q(stride * m);
                std::vector<float> qs(size_t(per_row) * m);
                for (int32_t i = 0; i < m; ++i) {
                    if (act == BITNET_ACT_I8_B256) formats::quantize_act_row_b256(&x[size_t(i) * K], K, &q[i * stride], &qs[size_t(i) * per_row]);
                    else formats::quantize_act_row_i8(&x[size_t(i) * K], K, &q[i * stride], &qs[i]);
                }
                Dev<int8_t> dq(q);
                Dev<float> dqs(qs);
                bitnet_qact gq{dq.ptr(), dqs.ptr(), nullptr, stride};
                std::vector<std::unique_ptr<Dev<float>>> alone, together;
                for (int i = 0; i < 3; ++i) {
                    alone.push_back(std::make_unique<Dev<float>>(std::vector<float>(size_t(m) * (ns[i] + 3), NAN)));
                    together.push_back(std::make_unique<Dev<float>>(std::vector<float>(size_t(m) * (ns[i] + 3), NAN)));
                    bitnet_matmul_args a{sizeof a, m, ns[i], K, act, nullptr, &gq, K, &ws[i], alone[i]->ptr(), ns[i] + 3, 0, {}, nullptr, 0};
                    ASSERT_EQ(k->run(e.cuda->handle(), &a, nullptr), BITNET_OK);
                }
                bitnet_matmul_args a{sizeof a, m, ns[0], K, act, nullptr, &gq, K, &ws[0], together[0]->ptr(), ns[0] + 3, 2, {}, nullptr, 0};
                for (int i = 1; i < 3; ++i) a.parts[i - 1] = {&ws[i], ns[i], together[i]->ptr(), ns[i] + 3};
                ASSERT_EQ(k->run(e.cuda->handle(), &a, nullptr), BITNET_OK);
                for (int i = 0; i < 3; ++i) {
                    const auto want = alone[i]->get(), got = together[i]->get();
                    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * 4)) << "weight " << i << " (n " << ns[i] << ")";
                }
            }
    }
}

// ABI 1.5 prologue and accumulate with parts: the device's one call against the scalar steps
// (NORM_QUANTIZE with or without the FFN activation, each weight's product, the f32 addition).
// I2_S at one token runs the one-launch ternary_gemv_norm; three tokens and TQ2_0 run the norm
// first. The tolerance allows the sum of squares' order (a quantized value may move by one).
TEST(CudaConformance, MatmulPrologueAccumulate) {
    REQUIRE_GPU();
    Env& e = env();
    for (bitnet_weight_format wf : {BITNET_WF_I2_S, BITNET_WF_TQ2_0}) {
        const bitnet_act_type act = wf == BITNET_WF_I2_S ? BITNET_ACT_I8_ROW : BITNET_ACT_I8_B256;
        const bitnet_kernel_desc* k = find_kernel(*e.cuda, BITNET_OP_MATMUL, wf, act);
        const bitnet_kernel_desc* ref = find_kernel(*e.scalar, BITNET_OP_MATMUL, wf, act);
        ASSERT_TRUE(k && ref);
        constexpr uint32_t kFlags = BITNET_KERNEL_FLAG_MATMUL_PROLOGUE | BITNET_KERNEL_FLAG_MATMUL_ACCUMULATE;
        ASSERT_EQ(k->flags & kFlags, kFlags) << k->name;
        for (int32_t K : {2560, 6912})
            for (int32_t m : {1, 3})
                for (bool with_up : {false, true})
                    for (bool accumulate : {false, true}) {
                        SCOPED_TRACE(std::string(k->name) + " K=" + std::to_string(K) + " m=" + std::to_string(m) +
                                     (with_up ? " +up" : "") + (accumulate ? " accumulating" : ""));
                        std::mt19937 gen(uint32_t(K + m * 5 + with_up * 3 + accumulate + int(wf) * 11));
                        const PartWeights pw(*k, wf, act, m, K, gen);
                        const int32_t* ns = PartWeights::kRows;
                        const std::vector<bitnet_weights>&hw = pw.host, &gw = pw.dev;
                        const auto x = normal(size_t(m) * K, 1.0f, gen), up = normal(size_t(m) * K, 1.0f, gen);
                        const auto gamma = normal(size_t(K), 1.0f, gen);
                        const size_t stride = size_t(K) + 64, n_scales = size_t(m) * (size_t(K) / 256 + 1);
                        // Scalar: the steps apart, on host memory.
                        std::vector<float> hx = x, hy(x.size());
                        std::vector<int8_t> hq(stride * m);
                        std::vector<float> hqs(n_scales);
                        bitnet_qact hqa{hq.data(), hqs.data(), nullptr, stride};
                        bitnet_norm_quantize_args hp{sizeof hp, m, K, hx.data(), K, nullptr, 0, gamma.data(), 1e-5f, hy.data(), K,
                                                     act, &hqa, with_up ? up.data() : nullptr, K, BITNET_FFN_RELU2};
                        const auto* nq = find_kernel(*e.scalar, BITNET_OP_NORM_QUANTIZE, BITNET_WF_NONE, act);
                        ASSERT_EQ(nq->run(e.scalar->handle(), &hp, nullptr), BITNET_OK);
                        float hmax = 0.0f;
                        for (int32_t t = 0; t < m; ++t)
                            for (int32_t i = 0; i < K; ++i) hmax = std::max(hmax, std::fabs(hy[size_t(t) * K + i]));
                        std::vector<std::vector<float>> base(3), want(3);
                        for (int i = 0; i < 3; ++i) {
                            base[i] = normal(size_t(m) * (ns[i] + 1), 1.0f, gen);
                            std::vector<float> prod(base[i].size(), NAN);
                            bitnet_matmul_args ha{sizeof ha, m, ns[i], K, act, nullptr, &hqa, K, &hw[i], prod.data(), ns[i] + 1, 0, {}, nullptr, 0};
                            ASSERT_EQ(ref->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                            want[i] = prod;
                            for (size_t j = 0; j < prod.size(); ++j)
                                want[i][j] = int32_t(j % (ns[i] + 1)) == ns[i] ? (accumulate ? base[i][j] : NAN)
                                                                              : accumulate ? base[i][j] + prod[j] : prod[j];
                        }
                        // Device: one call.
                        Dev<float> dx(x), dup(up), dg(gamma), dy(std::vector<float>(x.size(), NAN)), dqs(std::vector<float>(n_scales, NAN));
                        Dev<int8_t> dq(std::vector<int8_t>(stride * m, 0));
                        bitnet_qact gqa{dq.ptr(), dqs.ptr(), nullptr, stride};
                        bitnet_norm_quantize_args gp{sizeof gp, m, K, dx.ptr(), K, nullptr, 0, dg.ptr(), 1e-5f, dy.ptr(), K,
                                                     act, &gqa, with_up ? dup.ptr() : nullptr, K, BITNET_FFN_RELU2};
                        std::vector<std::unique_ptr<Dev<float>>> dys;
                        for (int i = 0; i < 3; ++i)
                            dys.push_back(std::make_unique<Dev<float>>(accumulate ? base[i] : std::vector<float>(base[i].size(), NAN)));
                        bitnet_matmul_args ga{sizeof ga, m, ns[0], K, act, nullptr, &gqa, K, &gw[0], dys[0]->ptr(), ns[0] + 1, 2, {}, &gp,
                                              accumulate ? 1 : 0};
                        for (int i = 1; i < 3; ++i) ga.parts[i - 1] = {&gw[i], ns[i], dys[i]->ptr(), ns[i] + 1};
                        ASSERT_EQ(k->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                        // One quantized value off by one moves an output by at most hmax/127 per
                        // unit weight (times the weight scale); allow two.
                        for (int i = 0; i < 3; ++i)
                            close_or_report(dys[i]->get(), want[i], 1e-5, 2.0 * hmax / 127.0 * std::fabs(hw[i].scale) + 1e-6,
                                            "part " + std::to_string(i));
                    }
    }
}

TEST(CudaConformance, Quantize) {
    REQUIRE_GPU();
    Env& e = env();
    for (bitnet_act_type act : {BITNET_ACT_I8_ROW, BITNET_ACT_I8_B256}) {
        const bitnet_kernel_desc* k = find_kernel(*e.cuda, BITNET_OP_QUANTIZE_ACT, BITNET_WF_NONE, act);
        const bitnet_kernel_desc* ref = find_kernel(*e.scalar, BITNET_OP_QUANTIZE_ACT, BITNET_WF_NONE, act);
        ASSERT_TRUE(k && ref);
        for (const sig::Rows& r : sig::quantize_rows())
            for (int32_t m : r.ms) {
                SCOPED_TRACE(std::string(k->name) + " k=" + std::to_string(r.k) + " m=" + std::to_string(m));
                const int32_t K = r.k, ldx = K + 5;
                std::mt19937 gen(uint32_t(K * 17 + m));
                auto x = normal(size_t(m) * ldx, 2.0f, gen);
                if (m > 1) std::fill_n(&x[ldx], K, 0.0f);
                x[0] = 3.0f;
                if (K > 9) x[9] = -3.0f;
                const int32_t per_row = act == BITNET_ACT_I8_B256 ? (K + 255) / 256 : 1;
                const size_t stride = size_t(K + 32 + 15) / 16 * 16;
                std::vector<int8_t> q(stride * m, 0x55);
                std::vector<float> s(size_t(per_row) * m, NAN);
                std::vector<int32_t> sums(m, -1);
                bitnet_qact hq{q.data(), s.data(), sums.data(), stride};
                bitnet_quantize_args ha{sizeof ha, m, K, x.data(), ldx, &hq};
                ASSERT_EQ(ref->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                Dev<float> dx(x), ds(std::vector<float>(s.size(), NAN));
                Dev<int8_t> dq(std::vector<int8_t>(q.size(), 0x55));
                Dev<int32_t> dsum(std::vector<int32_t>(m, -1));
                bitnet_qact gq{dq.ptr(), ds.ptr(), dsum.ptr(), stride};
                bitnet_quantize_args ga{sizeof ga, m, K, dx.ptr(), ldx, &gq};
                ASSERT_EQ(k->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                EXPECT_EQ(dq.get(), q) << "quantized values (and untouched padding) differ";
                const auto gs = ds.get();
                EXPECT_EQ(0, std::memcmp(gs.data(), s.data(), s.size() * 4)) << "scales differ";
                EXPECT_EQ(dsum.get(), sums) << "row sums differ";
            }
    }
}

TEST(CudaConformance, RowOps) {
    REQUIRE_GPU();
    Env& e = env();
    for (int32_t n : sig::row_widths())
        for (int32_t m : sig::row_ms()) {
            SCOPED_TRACE("n=" + std::to_string(n) + " m=" + std::to_string(m));
            std::mt19937 gen(uint32_t(n * 31 + m));
            const int32_t ld = n + 7;
            const auto x = normal(size_t(m) * ld, 1.5f, gen), x2 = normal(size_t(m) * ld, 3.0f, gen);
            const auto w = normal(n, 1.0f, gen);
            Dev<float> dx(x), dx2(x2), dw(w), dy(std::vector<float>(x.size(), NAN));
            // RMSNorm, with and without weight, and in place.
            const auto* kn = find_kernel(*e.cuda, BITNET_OP_RMSNORM, BITNET_WF_NONE, BITNET_ACT_F32);
            const auto* rn = find_kernel(*e.scalar, BITNET_OP_RMSNORM, BITNET_WF_NONE, BITNET_ACT_F32);
            for (bool weighted : {true, false}) {
                std::vector<float> want(x.size(), NAN);
                bitnet_rmsnorm_args ha{sizeof ha, m, n, x.data(), ld, weighted ? w.data() : nullptr, 1e-5f, want.data(), ld};
                ASSERT_EQ(rn->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                dy.put(std::vector<float>(x.size(), NAN));
                bitnet_rmsnorm_args ga{sizeof ga, m, n, dx.ptr(), ld, weighted ? dw.ptr() : nullptr, 1e-5f, dy.ptr(), ld};
                ASSERT_EQ(kn->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                close_or_report(dy.get(), want, 1e-6, 1e-30, "rmsnorm");
            }
            // FFN activation: relu² bit-exact, SiLU 1e-6.
            auto gate = x2;
            gate[0] = 100.0f;
            if (n > 1) gate[1] = -100.0f;
            Dev<float> dg(gate);
            const auto* kf = find_kernel(*e.cuda, BITNET_OP_FFN_ACT, BITNET_WF_NONE, BITNET_ACT_F32);
            const auto* rf = find_kernel(*e.scalar, BITNET_OP_FFN_ACT, BITNET_WF_NONE, BITNET_ACT_F32);
            for (bitnet_ffn_kind kind : {BITNET_FFN_RELU2, BITNET_FFN_SILU}) {
                std::vector<float> want(x.size(), NAN);
                bitnet_ffn_act_args ha{sizeof ha, kind, m, n, gate.data(), x.data(), want.data(), ld};
                ASSERT_EQ(rf->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                dy.put(std::vector<float>(x.size(), NAN));
                bitnet_ffn_act_args ga{sizeof ga, kind, m, n, dg.ptr(), dx.ptr(), dy.ptr(), ld};
                ASSERT_EQ(kf->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                const auto got = dy.get();
                if (kind == BITNET_FFN_RELU2) EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4)) << "relu2";
                else close_or_report(got, want, 1e-6, 1e-30, "silu");
            }
            // Residual add: bit-exact.
            auto acc = x2;
            const auto* ka = find_kernel(*e.cuda, BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32);
            const auto* ra = find_kernel(*e.scalar, BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32);
            bitnet_add_args ha{sizeof ha, m, n, x.data(), ld, acc.data(), ld};
            ASSERT_EQ(ra->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
            bitnet_add_args ga{sizeof ga, m, n, dx.ptr(), ld, dx2.ptr(), ld};
            ASSERT_EQ(ka->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
            const auto got = dx2.get();
            EXPECT_EQ(0, std::memcmp(got.data(), acc.data(), got.size() * 4)) << "add must be bit-exact";
        }
}

// The device's quantized rows, scales and (with dsum) row sums are what the scalar quantizer `rq`
// makes of the device's own normalized rows y (M rows of n, stride ld); the padding untouched.
void expect_quantized_as_scalar(const bitnet_kernel_desc& rq, const std::vector<float>& y, int32_t m, int32_t n,
                                int32_t ld, size_t stride, int32_t per_row, const Dev<int8_t>& dq, const Dev<float>& ds,
                                const Dev<int32_t>* dsum) {
    std::vector<int8_t> q(stride * m, 0x55);
    std::vector<float> qs(size_t(per_row) * m, NAN);
    std::vector<int32_t> sums(m, -1);
    bitnet_qact hq{q.data(), qs.data(), dsum != nullptr ? sums.data() : nullptr, stride};
    bitnet_quantize_args hqa{sizeof hqa, m, n, y.data(), ld, &hq};
    ASSERT_EQ(rq.run(env().scalar->handle(), &hqa, nullptr), BITNET_OK);
    EXPECT_EQ(dq.get(), q) << "quantized rows (and untouched padding)";
    const auto got_s = ds.get();
    EXPECT_EQ(0, std::memcmp(got_s.data(), qs.data(), qs.size() * 4)) << "scales";
    if (dsum != nullptr) {
        EXPECT_EQ(dsum->get(), sums) << "row sums";
    }
}

// The fused residual add + RMSNorm + quantize against the scalar plugin's three ops: the updated
// residual stream bit-exact, the normalized rows within RMSNorm's float-order tolerance, and the
// quantized rows exactly what the scalar quantizer makes of the device's own normalized rows.
// 9000 is longer than the register-resident path (the plugin then runs its three kernels).
TEST(CudaConformance, NormQuantize) {
    REQUIRE_GPU();
    Env& e = env();
    const auto* rn = find_kernel(*e.scalar, BITNET_OP_RMSNORM, BITNET_WF_NONE, BITNET_ACT_F32);
    for (bitnet_act_type act : {BITNET_ACT_I8_ROW, BITNET_ACT_I8_B256}) {
        const auto* k = find_kernel(*e.cuda, BITNET_OP_NORM_QUANTIZE, BITNET_WF_NONE, act);
        const auto* rq = find_kernel(*e.scalar, BITNET_OP_QUANTIZE_ACT, BITNET_WF_NONE, act);
        ASSERT_TRUE(k && rq && rn);
        std::vector<int32_t> widths = sig::row_widths();
        widths.push_back(9000);
        for (int32_t n : widths)
            for (int32_t m : sig::row_ms())
                for (bool with_residual : {true, false}) {
                    SCOPED_TRACE(std::string(k->name) + " n=" + std::to_string(n) + " m=" + std::to_string(m) +
                                 (with_residual ? " +residual" : ""));
                    std::mt19937 gen(uint32_t(n * 37 + m * 3 + with_residual));
                    const int32_t ld = n + 3;
                    const auto x = normal(size_t(m) * ld, 1.5f, gen), r = normal(size_t(m) * ld, 0.7f, gen);
                    const auto w = normal(n, 1.0f, gen);
                    // Reference: x + r, then RMSNorm.
                    std::vector<float> stream = x, want(x.size(), NAN);
                    if (with_residual) // the rows' n values; the ld - n padding stays untouched
                        for (size_t i = 0; i < stream.size(); ++i)
                            if (int32_t(i % ld) < n) stream[i] = x[i] + r[i];
                    bitnet_rmsnorm_args ha{sizeof ha, m, n, stream.data(), ld, w.data(), 1e-5f, want.data(), ld};
                    ASSERT_EQ(rn->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                    // Device.
                    const int32_t per_row = act == BITNET_ACT_I8_B256 ? (n + 255) / 256 : 1;
                    const size_t stride = size_t(n + 15) / 16 * 16;
                    Dev<float> dx(x), dr(r), dw(w), dy(std::vector<float>(x.size(), NAN));
                    Dev<float> ds(std::vector<float>(size_t(per_row) * m, NAN));
                    Dev<int8_t> dq(std::vector<int8_t>(stride * m, 0x55));
                    Dev<int32_t> dsum(std::vector<int32_t>(m, -1));
                    bitnet_qact gq{dq.ptr(), ds.ptr(), dsum.ptr(), stride};
                    bitnet_norm_quantize_args ga{sizeof ga, m, n, dx.ptr(), ld, with_residual ? dr.ptr() : nullptr, ld,
                                                 dw.ptr(), 1e-5f, dy.ptr(), ld, act, &gq, nullptr, 0, BITNET_FFN_RELU2};
                    ASSERT_EQ(k->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                    const auto got_x = dx.get(), got_y = dy.get();
                    EXPECT_EQ(0, std::memcmp(got_x.data(), stream.data(), got_x.size() * 4)) << "residual stream";
                    close_or_report(got_y, want, 1e-6, 1e-30, "normalized rows");
                    expect_quantized_as_scalar(*rq, got_y, m, n, ld, stride, per_row, dq, ds, &dsum);
                }
    }
}

// ABI 1.5: NORM_QUANTIZE with `up` against the scalar FFN_ACT then RMSNorm: the normalized rows
// within RMSNorm's tolerance (relu² is bit-exact, SiLU's expf is not), the quantized rows exactly
// what the scalar quantizer makes of the device's own normalized rows. 9000 takes the long-row path.
TEST(CudaConformance, NormQuantizeFfnAct) {
    REQUIRE_GPU();
    Env& e = env();
    const auto* rn = find_kernel(*e.scalar, BITNET_OP_RMSNORM, BITNET_WF_NONE, BITNET_ACT_F32);
    const auto* rf = find_kernel(*e.scalar, BITNET_OP_FFN_ACT, BITNET_WF_NONE, BITNET_ACT_F32);
    for (bitnet_act_type act : {BITNET_ACT_I8_ROW, BITNET_ACT_I8_B256}) {
        const auto* k = find_kernel(*e.cuda, BITNET_OP_NORM_QUANTIZE, BITNET_WF_NONE, act);
        const auto* rq = find_kernel(*e.scalar, BITNET_OP_QUANTIZE_ACT, BITNET_WF_NONE, act);
        ASSERT_TRUE(k && rq && rn && rf);
        ASSERT_NE(k->flags & BITNET_KERNEL_FLAG_NORM_FFN_ACT, 0u) << k->name;
        for (bitnet_ffn_kind kind : {BITNET_FFN_RELU2, BITNET_FFN_SILU})
            for (int32_t n : {7, 2560, 6912, 9000})
                for (int32_t m : {1, 3}) {
                    SCOPED_TRACE(std::string(k->name) + " kind=" + std::to_string(kind) + " n=" + std::to_string(n) +
                                 " m=" + std::to_string(m));
                    std::mt19937 gen(uint32_t(n * 41 + m + kind));
                    const int32_t ld = n + 3;
                    const auto g = normal(size_t(m) * ld, 1.5f, gen), u = normal(size_t(m) * ld, 1.0f, gen);
                    const auto w = normal(n, 1.0f, gen);
                    std::vector<float> act_rows = g, want(g.size(), NAN);
                    bitnet_ffn_act_args fa{sizeof fa, kind, m, n, act_rows.data(), u.data(), act_rows.data(), ld};
                    ASSERT_EQ(rf->run(e.scalar->handle(), &fa, nullptr), BITNET_OK);
                    bitnet_rmsnorm_args ha{sizeof ha, m, n, act_rows.data(), ld, w.data(), 1e-5f, want.data(), ld};
                    ASSERT_EQ(rn->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                    const int32_t per_row = act == BITNET_ACT_I8_B256 ? (n + 255) / 256 : 1;
                    const size_t stride = size_t(n + 15) / 16 * 16;
                    Dev<float> dx(g), du(u), dw(w), dy(std::vector<float>(g.size(), NAN));
                    Dev<float> ds(std::vector<float>(size_t(per_row) * m, NAN));
                    Dev<int8_t> dq(std::vector<int8_t>(stride * m, 0x55));
                    bitnet_qact gq{dq.ptr(), ds.ptr(), nullptr, stride};
                    bitnet_norm_quantize_args ga{sizeof ga, m, n, dx.ptr(), ld, nullptr, 0, dw.ptr(), 1e-5f, dy.ptr(), ld,
                                                 act, &gq, du.ptr(), ld, kind};
                    ASSERT_EQ(k->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                    const auto got_y = dy.get();
                    close_or_report(got_y, want, kind == BITNET_FFN_RELU2 ? 1e-6 : 1e-5, 1e-30, "normalized rows");
                    expect_quantized_as_scalar(*rq, got_y, m, n, ld, stride, per_row, dq, ds, nullptr);
                }
    }
}

// ABI 1.5: RoPE with the cache store in one call against the device's own RoPE and store calls,
// bit for bit (x and both caches): K rows inside x (one launch) and K rows elsewhere (two), the
// KV_STORE and KV_STORE_SEQS placements.
TEST(CudaConformance, RopeWithKvStore) {
    REQUIRE_GPU();
    Env& e = env();
    const auto* kr = find_kernel(*e.cuda, BITNET_OP_ROPE, BITNET_WF_NONE, BITNET_ACT_F32);
    const auto* ks = find_kernel(*e.cuda, BITNET_OP_KV_STORE, BITNET_WF_NONE, BITNET_ACT_F32);
    const auto* kss = find_kernel(*e.cuda, BITNET_OP_KV_STORE_SEQS, BITNET_WF_NONE, BITNET_ACT_F32);
    ASSERT_TRUE(kr && ks && kss);
    ASSERT_NE(kr->flags & BITNET_KERNEL_FLAG_ROPE_KV_STORE, 0u);
    const int32_t Hq = 20, Hkv = 5, D = 128, ld = (Hq + 2 * Hkv) * D, width = Hkv * D, n_ctx = 64;
    for (int32_t m : {1, 3})
        for (bool seqs : {false, true})
            for (bool k_in_x : {true, false}) {
                SCOPED_TRACE("m=" + std::to_string(m) + (seqs ? " seqs" : "") + (k_in_x ? " K in x" : " K apart"));
                std::mt19937 gen(uint32_t(m * 4 + seqs * 2 + k_in_x));
                const auto x0 = normal(size_t(m) * ld, 1.0f, gen);
                std::vector<int32_t> pos(m), slot(m);
                for (int32_t t = 0; t < m; ++t) {
                    pos[t] = 9 + 7 * t;
                    slot[t] = (t + 1) % 2;
                }
                const int64_t slot_halves = int64_t(n_ctx) * width;
                std::vector<std::unique_ptr<Dev<float>>> xs;
                std::vector<std::unique_ptr<Dev<uint16_t>>> caches;
                for (int side = 0; side < 2; ++side) {
                    xs.push_back(std::make_unique<Dev<float>>(x0));
                    caches.push_back(std::make_unique<Dev<uint16_t>>(std::vector<uint16_t>(size_t(2 * slot_halves), 0x7e00)));
                    caches.push_back(std::make_unique<Dev<uint16_t>>(std::vector<uint16_t>(size_t(2 * slot_halves), 0x7e00)));
                }
                Dev<float> k_apart(x0);
                Dev<int32_t> dpos(pos), dslot(slot);
                for (int side = 0; side < 2; ++side) {
                    float* x = xs[size_t(side)]->ptr();
                    bitnet_kv_store_args st{};
                    st.struct_size = sizeof st;
                    st.m = m;
                    st.pos0 = 9;
                    st.width = width;
                    st.k = k_in_x ? x + Hq * D : k_apart.ptr() + Hq * D;
                    st.v = x + (Hq + Hkv) * D;
                    st.ld = ld;
                    st.k_cache = caches[size_t(2 * side)]->ptr();
                    st.v_cache = caches[size_t(2 * side + 1)]->ptr();
                    st.kv_stride = width;
                    st.row_pos = dpos.ptr();
                    st.row_slot = dslot.ptr();
                    st.slot_stride = slot_halves;
                    st.n_slots = 2;
                    st.max_keys = n_ctx;
                    const bitnet_op op = seqs ? BITNET_OP_KV_STORE_SEQS : BITNET_OP_KV_STORE;
                    bitnet_rope_args a{sizeof a, m, Hq + Hkv, D, D, 500000.0f, 1.0f, 1, dpos.ptr(), x, ld,
                                       side == 1 ? &st : nullptr, op};
                    ASSERT_EQ(kr->run(e.cuda->handle(), &a, nullptr), BITNET_OK);
                    if (side == 0) {
                        if (!k_in_x) { // the store reads K apart, rotated there first
                            bitnet_rope_args b{sizeof b, m, Hq + Hkv, D, D, 500000.0f, 1.0f, 1, dpos.ptr(), k_apart.ptr(), ld,
                                               nullptr, op};
                            ASSERT_EQ(kr->run(e.cuda->handle(), &b, nullptr), BITNET_OK);
                        }
                        ASSERT_EQ((seqs ? kss : ks)->run(e.cuda->handle(), &st, nullptr), BITNET_OK);
                    }
                }
                // K apart was rotated (once, by side 0) before either store read it.
                EXPECT_EQ(xs[0]->get(), xs[1]->get()) << "rotated rows";
                EXPECT_EQ(caches[0]->get(), caches[2]->get()) << "K cache";
                EXPECT_EQ(caches[1]->get(), caches[3]->get()) << "V cache";
            }
}

void check_rope_kv_store_attention() {
    Env& e = env();
    for (const sig::Heads& h : sig::heads())
        for (int32_t m : sig::row_ms()) {
            const int32_t D = h.head_dim, width = h.n_heads * D;
            std::mt19937 gen(uint32_t(h.n_heads * 7 + D + m));
            // RoPE (NEOX and GPT-J, full and half rotation).
            const int32_t ldx = width + 5;
            const auto x0 = normal(size_t(m) * ldx, 1.0f, gen);
            std::vector<int32_t> pos(m);
            for (int32_t t = 0; t < m; ++t) pos[t] = t == 0 ? 0 : (t * 389 + 17) % 4096;
            Dev<int32_t> dpos(pos);
            const auto* kr = find_kernel(*e.cuda, BITNET_OP_ROPE, BITNET_WF_NONE, BITNET_ACT_F32);
            const auto* rr = find_kernel(*e.scalar, BITNET_OP_ROPE, BITNET_WF_NONE, BITNET_ACT_F32);
            for (int32_t neox : {1, 0})
                for (int32_t n_rot : {D, D / 2}) {
                    SCOPED_TRACE(std::string(h.name) + " rope m=" + std::to_string(m));
                    auto want = x0;
                    bitnet_rope_args ha{sizeof ha, m, h.n_heads, D, n_rot, 500000.0f, 1.0f, neox, pos.data(), want.data(), ldx, nullptr, BITNET_OP_KV_STORE};
                    ASSERT_EQ(rr->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                    Dev<float> dx(x0);
                    bitnet_rope_args ga{sizeof ga, m, h.n_heads, D, n_rot, 500000.0f, 1.0f, neox, dpos.ptr(), dx.ptr(), ldx, nullptr, BITNET_OP_KV_STORE};
                    ASSERT_EQ(kr->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                    close_or_report(dx.get(), want, 1e-6, 1e-6, "rope");
                }
            for (int32_t n_past : sig::attention_n_past()) {
                SCOPED_TRACE(std::string(h.name) + " attention m=" + std::to_string(m) + " n_past=" + std::to_string(n_past));
                const int32_t ldq = width + 3, ldo = width + 9, kv_stride = h.n_kv_heads * D + 8, n_pos = n_past + m;
                const auto q = normal(size_t(m) * ldq, 2.0f, gen);
                // The batch's own K/V rows go in through kv_store on both sides (bit-exact f16).
                std::vector<uint16_t> kc(size_t(n_pos) * kv_stride), vc(kc.size());
                std::normal_distribution<float> g(0.0f, 1.0f);
                for (auto& v : kc) v = formats::f32_to_fp16(g(gen));
                for (auto& v : vc) v = formats::f32_to_fp16(g(gen));
                const int32_t kvw = h.n_kv_heads * D, ldkv = kvw + 2;
                const auto kn = normal(size_t(m) * ldkv, 1.0f, gen), vn = normal(size_t(m) * ldkv, 1.0f, gen);
                Dev<uint16_t> dkc(kc), dvc(vc);
                Dev<float> dkn(kn), dvn(vn), dq(q), dout(std::vector<float>(size_t(m) * ldo, NAN));
                const auto* ks = find_kernel(*e.cuda, BITNET_OP_KV_STORE, BITNET_WF_NONE, BITNET_ACT_F32);
                const auto* rs = find_kernel(*e.scalar, BITNET_OP_KV_STORE, BITNET_WF_NONE, BITNET_ACT_F32);
                bitnet_kv_store_args hs{sizeof hs, m, n_past, kvw, kn.data(), vn.data(), ldkv, kc.data(), vc.data(), kv_stride, nullptr, nullptr, 0, 0, 0, 0, 0};
                ASSERT_EQ(rs->run(e.scalar->handle(), &hs, nullptr), BITNET_OK);
                bitnet_kv_store_args gs{sizeof gs, m, n_past, kvw, dkn.ptr(), dvn.ptr(), ldkv, dkc.ptr(), dvc.ptr(), kv_stride, nullptr, nullptr, 0, 0, 0, 0, 0};
                ASSERT_EQ(ks->run(e.cuda->handle(), &gs, nullptr), BITNET_OK);
                EXPECT_EQ(dkc.get(), kc) << "kv_store K differs";
                EXPECT_EQ(dvc.get(), vc) << "kv_store V differs";
                const float scale = 1.0f / std::sqrt(float(D));
                std::vector<float> want(size_t(m) * ldo, NAN);
                bitnet_attention_args ha{sizeof ha, m, n_past, h.n_heads, h.n_kv_heads, D, scale, q.data(), ldq,
                                         kc.data(), vc.data(), kv_stride, want.data(), ldo, nullptr, nullptr, 0, 0, 0, 0};
                const auto* ka = find_kernel(*e.cuda, BITNET_OP_ATTENTION, BITNET_WF_NONE, BITNET_ACT_F32);
                const auto* ra = find_kernel(*e.scalar, BITNET_OP_ATTENTION, BITNET_WF_NONE, BITNET_ACT_F32);
                ASSERT_EQ(ra->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                bitnet_attention_args ga{sizeof ga, m, n_past, h.n_heads, h.n_kv_heads, D, scale, dq.ptr(), ldq,
                                         dkc.ptr(), dvc.ptr(), kv_stride, dout.ptr(), ldo, nullptr, nullptr, 0, 0, 0, 0};
                ASSERT_EQ(ka->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                close_or_report(dout.get(), want, 1e-5, 1e-6, "attention");
            }
            // ABI 1.3: the rows of several sequences in one call, each with its own slot and
            // position (decode steps of m sequences, and a prefill of one next to decodes).
            for (int32_t n_past : sig::attention_n_past()) {
                SCOPED_TRACE(std::string(h.name) + " attention_seqs m=" + std::to_string(m) + " n_past=" + std::to_string(n_past));
                const int32_t n_slots = std::max(m, 2), n_ctx = n_past + m + 3;
                const int32_t ldq = width + 3, ldo = width + 9, kv_stride = h.n_kv_heads * D + 8, kvw = h.n_kv_heads * D;
                const int64_t slot_stride = int64_t(n_ctx) * kv_stride;
                // Row t: a one-token step of slot t at a position up to n_past; when m > 3 the last
                // three rows are instead one sequence's prefill (slot m-3, positions n_past..+2).
                std::vector<int32_t> slot(static_cast<size_t>(m)), pos(static_cast<size_t>(m));
                for (int32_t t = 0; t < m; ++t) {
                    slot[size_t(t)] = t;
                    pos[size_t(t)] = (n_past + t * 5) % (n_past + 1);
                }
                if (m > 3)
                    for (int32_t i = 0; i < 3; ++i) {
                        slot[size_t(m - 3 + i)] = m - 3;
                        pos[size_t(m - 3 + i)] = n_past + i;
                    }
                const auto q = normal(size_t(m) * ldq, 2.0f, gen);
                const auto kn = normal(size_t(m) * ldq, 1.0f, gen), vn = normal(size_t(m) * ldq, 1.0f, gen);
                std::vector<uint16_t> kc(size_t(n_slots) * slot_stride), vc(kc.size());
                std::normal_distribution<float> g(0.0f, 1.0f);
                for (auto& v : kc) v = formats::f32_to_fp16(g(gen));
                for (auto& v : vc) v = formats::f32_to_fp16(g(gen));
                Dev<uint16_t> dkc(kc), dvc(vc);
                Dev<float> dkn(kn), dvn(vn), dq(q), dout(std::vector<float>(size_t(m) * ldo, NAN));
                Dev<int32_t> dpos(pos), dslot(slot);
                const auto* ks = find_kernel(*e.cuda, BITNET_OP_KV_STORE_SEQS, BITNET_WF_NONE, BITNET_ACT_F32);
                const auto* rs = find_kernel(*e.scalar, BITNET_OP_KV_STORE_SEQS, BITNET_WF_NONE, BITNET_ACT_F32);
                ASSERT_NE(ks, nullptr);
                bitnet_kv_store_args hs{sizeof hs, m, 0, kvw, kn.data(), vn.data(), ldq, kc.data(), vc.data(), kv_stride,
                                        pos.data(), slot.data(), slot_stride, n_slots, n_ctx, 0, 0};
                ASSERT_EQ(rs->run(e.scalar->handle(), &hs, nullptr), BITNET_OK);
                bitnet_kv_store_args gs{sizeof gs, m, 0, kvw, dkn.ptr(), dvn.ptr(), ldq, dkc.ptr(), dvc.ptr(), kv_stride,
                                        dpos.ptr(), dslot.ptr(), slot_stride, n_slots, n_ctx, 0, 0};
                ASSERT_EQ(ks->run(e.cuda->handle(), &gs, nullptr), BITNET_OK);
                EXPECT_EQ(dkc.get(), kc) << "kv_store_seqs K differs";
                EXPECT_EQ(dvc.get(), vc) << "kv_store_seqs V differs";
                const float scale = 1.0f / std::sqrt(float(D));
                std::vector<float> want(size_t(m) * ldo, NAN);
                bitnet_attention_args ha{sizeof ha, m, 0, h.n_heads, h.n_kv_heads, D, scale, q.data(), ldq, kc.data(),
                                         vc.data(), kv_stride, want.data(), ldo, pos.data(), slot.data(), slot_stride,
                                         n_slots, n_ctx, 0};
                const auto* ka = find_kernel(*e.cuda, BITNET_OP_ATTENTION_SEQS, BITNET_WF_NONE, BITNET_ACT_F32);
                const auto* ra = find_kernel(*e.scalar, BITNET_OP_ATTENTION_SEQS, BITNET_WF_NONE, BITNET_ACT_F32);
                ASSERT_NE(ka, nullptr);
                ASSERT_EQ(ra->run(e.scalar->handle(), &ha, nullptr), BITNET_OK);
                bitnet_attention_args ga{sizeof ga, m, 0, h.n_heads, h.n_kv_heads, D, scale, dq.ptr(), ldq, dkc.ptr(),
                                         dvc.ptr(), kv_stride, dout.ptr(), ldo, dpos.ptr(), dslot.ptr(), slot_stride,
                                         n_slots, n_ctx, 0};
                ASSERT_EQ(ka->run(e.cuda->handle(), &ga, nullptr), BITNET_OK);
                close_or_report(dout.get(), want, 1e-5, 1e-6, "attention_seqs");
            }
        }
}

// The split-K attention kernels (the default).
TEST(CudaConformance, RopeKvStoreAttention) {
    REQUIRE_GPU();
    check_rope_kv_store_attention();
}

// The one-kernel attention (caches up to 8192 positions: every case here), on an instance created
// with BITNET_CUDA_FUSED_ATTENTION=1.
TEST(CudaConformance, RopeKvStoreAttentionFusedKernel) {
    REQUIRE_GPU();
    Env& e = env();
    ::setenv("BITNET_CUDA_FUSED_ATTENTION", "1", 1);
    auto split = std::move(e.cuda);
    e.cuda = std::make_unique<PluginInstance>(*e.cuda_lib, *e.host);
    ::unsetenv("BITNET_CUDA_FUSED_ATTENTION");
    check_rope_kv_store_attention();
    e.cuda = std::move(split);
}

// A kernel handed host memory refuses instead of faulting (the CPU tuner may try it).
TEST(CudaConformance, RefusesHostPointers) {
    REQUIRE_GPU();
    Env& e = env();
    std::vector<float> x(64, 1.0f), y(64, 0.0f);
    bitnet_add_args a{sizeof a, 1, 64, x.data(), 64, y.data(), 64};
    const auto* k = find_kernel(*e.cuda, BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32);
    EXPECT_EQ(k->run(e.cuda->handle(), &a, nullptr), BITNET_ERR_INVALID_ARGUMENT);
}

// Always runs: the probe answers (yes, or no with a reason) without crashing, GPU or not.
TEST(CudaProbe, AnswersWithAReason) {
    if (!std::filesystem::exists(plugin_library("cuda"))) GTEST_SKIP() << "the cuda plugin was not built";
    LoadedPlugin lib(plugin_library("cuda"));
    char why[512] = {};
    const int32_t ok = lib.desc().probe(why, sizeof why);
    std::printf("[cuda probe] %s%s\n", ok == 1 ? "usable" : "refused: ", why);
    if (ok != 1) {
        EXPECT_NE(why[0], '\0') << "a refusal must say why";
    }
    EXPECT_EQ(lib.desc().device_kind, BITNET_DEVICE_GPU);
    EXPECT_STREQ(lib.desc().name, "cuda");
}

} // namespace
} // namespace bitnet::testing
