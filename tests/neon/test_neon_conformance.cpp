// The neon plugin against the scalar reference, both built for aarch64 (natively, or cross-built and
// run under qemu-aarch64 by cross_conformance.cmake). Every neon kernel runs on the applicable
// signatures of tests/kernels/kernel_signatures.hpp with the same inputs as its scalar twin.
// Integer results (I2_S outputs, activation quantizers) must be bit-exact; float sums (TQ block
// sums, float heads) may differ by rounding, within 1e-5 of Σ|w·x|; RMSNorm within a few ulps.
//
// Emulation is ~50x slower than hardware, so the 2B-4T shapes run with M = 1 and N capped at
// kModelRows; the odd shapes (tile edges) run in full.
#include "kernel_signatures.hpp"
#include "plugin_fixture.hpp"

#include "formats/formats.hpp"

#include <gtest/gtest.h>
#include <sys/auxv.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

namespace bitnet::testing {
namespace {

namespace sig = bitnet::signatures;

constexpr int32_t kModelRows = 64;
constexpr int32_t kThreads = 3; // an odd count, so row ranges split unevenly over the host pool

// Shapes beyond the shared list: K not a multiple of 4 (the float kernels' scalar tails).
const std::vector<sig::Matmul>& extra_matmuls() {
    static const std::vector<sig::Matmul> list = {
        {"tail_n5_k7", 5, 7, sig::Role::any, false, {1, 2}},
        {"tail_n6_k262", 6, 262, sig::Role::any, false, {1, 5}},
    };
    return list;
}

// RMSNorm widths: the model's hidden and FFN sizes and odd tails.
const std::vector<sig::Rows>& norm_rows() {
    static const std::vector<sig::Rows> list = {{2560, {1, 4, 9}}, {6912, {1}}, {100, {3}}, {7, {2}}};
    return list;
}

// A plugin loaded once per process, with an instance when its probe accepts this CPU.
struct Backend {
    std::unique_ptr<LoadedPlugin> lib;
    std::unique_ptr<ThreadHost> host;
    std::unique_ptr<PluginInstance> inst;
    std::string refused; // why there is no instance
};

Backend& backend(const std::string& name) {
    static std::map<std::string, Backend> loaded;
    if (auto it = loaded.find(name); it != loaded.end()) return it->second;
    Backend& b = loaded[name];
    try {
        b.lib = std::make_unique<LoadedPlugin>(plugin_library(name));
        char why[256] = {};
        if (b.lib->desc().probe(why, sizeof why) == 0) {
            b.refused = std::string("probe refused: ") + why;
        } else {
            b.host = std::make_unique<ThreadHost>(kThreads);
            b.inst = std::make_unique<PluginInstance>(*b.lib, *b.host);
        }
    } catch (const std::exception& e) {
        b.refused = e.what();
    }
    return b;
}

// One test case: a neon kernel and the shape it runs on.
struct Case {
    std::string kernel;               // empty: neon has no instance here (the case reports why)
    const sig::Matmul* mm = nullptr;  // matmul shape
    int32_t k = 0, m = 0;             // quantize / rmsnorm: row width and rows; matmul: m tokens
};

// gtest prints a failing case's parameter with this instead of its bytes.
void PrintTo(const Case& c, std::ostream* os) {
    *os << (c.kernel.empty() ? "(neon refused)" : c.kernel);
    if (c.mm != nullptr) *os << " on " << c.mm->name << " (N " << c.mm->n << ", K " << c.mm->k << ")";
    else *os << " K " << c.k;
    *os << ", M " << c.m;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    const Case& c = info.param;
    if (c.kernel.empty()) return "neon_refused";
    std::string s = c.kernel.substr(0, c.kernel.find("__"));
    s += c.mm != nullptr ? "_" + std::string(c.mm->name) : "_k" + std::to_string(c.k);
    s += "_m" + std::to_string(c.m);
    for (char& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return s;
}

bool m_ok(const bitnet_kernel_desc& k, int32_t m) { return m >= k.m_min && (k.m_max == 0 || m <= k.m_max); }

std::vector<Case> all_cases() {
    std::vector<Case> out;
    Backend& neon = backend("neon");
    if (neon.inst == nullptr) return {Case{}};
    for (const bitnet_kernel_desc& k : *neon.inst) {
        switch (k.op) {
        case BITNET_OP_MATMUL:
            for (const auto* list : {&sig::matmuls(), &extra_matmuls()})
                for (const sig::Matmul& s : *list) {
                    if (!sig::applies(s, k.weight_format) || s.k % k.k_multiple != 0) continue;
                    for (int32_t m : s.ms)
                        if (m_ok(k, m) && (!s.model || m == 1)) out.push_back({k.name, &s, s.k, m});
                }
            break;
        case BITNET_OP_QUANTIZE_ACT:
            for (const sig::Rows& r : sig::quantize_rows())
                for (int32_t m : r.ms) out.push_back({k.name, nullptr, r.k, m});
            break;
        case BITNET_OP_RMSNORM:
            for (const sig::Rows& r : norm_rows())
                for (int32_t m : r.ms) out.push_back({k.name, nullptr, r.k, m});
            break;
        default:
            out.push_back({k.name, nullptr, 0, 0}); // fails below: every neon kernel must be checked
        }
    }
    return out;
}

// The scalar kernel computing the same op on the same formats.
const bitnet_kernel_desc* scalar_twin(const bitnet_kernel_desc& k) {
    Backend& s = backend("scalar");
    if (s.inst == nullptr) return nullptr;
    for (const bitnet_kernel_desc& r : *s.inst)
        if (r.op == k.op && r.weight_format == k.weight_format && r.act_type == k.act_type) return &r;
    return nullptr;
}

// ---- matmul -------------------------------------------------------------------------------------

// N x K weights of format wf in file layout, and the per-tensor multiplier the host would pass.
std::vector<uint8_t> random_weights(bitnet_weight_format wf, int32_t n, int32_t k, std::mt19937& gen, float& scale) {
    const formats::GgmlType type = formats::type_info(wf)->type;
    std::vector<uint8_t> bytes(*formats::tensor_bytes(type, k, n));
    const size_t count = static_cast<size_t>(n) * k;
    if (!sig::is_ternary(wf)) {
        std::vector<float> v(count);
        std::normal_distribution<float> dist(0.0f, 0.05f);
        for (float& f : v) f = dist(gen);
        formats::quantize_float(type, v.data(), k, n, bytes.data());
        scale = 0.5f;
        return bytes;
    }
    std::vector<int8_t> codes(count);
    std::uniform_int_distribution<int> trit(-1, 1);
    for (int8_t& c : codes) c = static_cast<int8_t>(trit(gen));
    formats::quantize_ternary(type, codes.data(), 0.75f, k, n, bytes.data());
    if (wf == BITNET_WF_I2_S) {
        scale = formats::i2s_scale(bytes.data(), static_cast<int64_t>(count));
        return bytes;
    }
    // TQ: give every 256-block its own f16 d (the last 2 bytes of the block).
    const size_t blk = *formats::row_bytes(type, 256);
    std::uniform_real_distribution<float> d(0.25f, 2.0f);
    for (size_t off = blk - 2; off < bytes.size(); off += blk) {
        const uint16_t h = formats::f32_to_fp16(d(gen));
        std::memcpy(&bytes[off], &h, 2);
    }
    scale = 1.25f;
    return bytes;
}

void check_matmul(const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, const sig::Matmul& s, int32_t m) {
    const int32_t n = s.model ? std::min(s.n, kModelRows) : s.n, K = s.k;
    std::mt19937 gen(static_cast<uint32_t>(K * 7919 + n * 31 + m));
    float w_scale = 1.0f;
    const std::vector<uint8_t> wbytes = random_weights(k.weight_format, n, K, gen, w_scale);
    const bitnet_weights w{wbytes.data(), wbytes.size(), w_scale, nullptr};

    const int32_t ldx = K + 5, ldy = n + 2; // strides wider than the rows, as views into larger buffers
    std::vector<float> x(static_cast<size_t>(m) * ldx);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (float& v : x) v = g(gen);

    // Quantized activations from the reference quantizer, with and without row sums.
    const bool b256 = k.act_type == BITNET_ACT_I8_B256, quantized = k.act_type != BITNET_ACT_F32;
    const int32_t nsc = b256 ? (K + 255) / 256 : 1;
    const size_t stride = static_cast<size_t>(K) + 48;
    std::vector<int8_t> q(stride * m);
    std::vector<float> qscale(static_cast<size_t>(nsc) * m);
    std::vector<int32_t> qsum(m);
    for (int32_t i = 0; quantized && i < m; ++i) {
        const float* xi = &x[static_cast<size_t>(i) * ldx];
        int8_t* qi = &q[i * stride];
        if (b256) formats::quantize_act_row_b256(xi, K, qi, &qscale[static_cast<size_t>(i) * nsc]);
        else formats::quantize_act_row_i8(xi, K, qi, &qscale[i]);
        qsum[i] = 0;
        for (int32_t t = 0; t < K; ++t) qsum[i] += qi[t];
    }

    auto run = [&](const Backend& b, const bitnet_kernel_desc& kd, bool with_sums) {
        bitnet_qact qa{q.data(), qscale.data(), with_sums ? qsum.data() : nullptr, stride};
        std::vector<float> y(static_cast<size_t>(m) * ldy, NAN);
        const bitnet_matmul_args a{sizeof(bitnet_matmul_args), m, n, K, k.act_type, x.data(), &qa, ldx, &w, y.data(), ldy};
        EXPECT_EQ(kd.run(b.inst->handle(), &a, nullptr), BITNET_OK) << kd.name;
        return y;
    };
    const std::vector<float> want = run(backend("scalar"), ref, false);

    const formats::GgmlType type = formats::type_info(k.weight_format)->type;
    const bool exact = k.weight_format == BITNET_WF_I2_S;
    std::vector<float> wrow(K);
    for (const bool with_sums : {false, true}) {
        if (with_sums && !quantized) break;
        const std::vector<float> got = run(backend("neon"), k, with_sums);
        int failures = 0;
        for (int32_t j = 0; j < n && failures < 5; ++j) {
            formats::dequantize_row(type, wbytes.data(), j, K, wrow.data());
            for (int32_t i = 0; i < m && failures < 5; ++i) {
                const float gv = got[static_cast<size_t>(i) * ldy + j], wv = want[static_cast<size_t>(i) * ldy + j];
                if (exact) {
                    if (std::memcmp(&gv, &wv, sizeof gv) == 0) continue;
                    ++failures;
                    ADD_FAILURE() << "y[" << i << "][" << j << "] = " << gv << ", scalar " << wv
                                  << " (must be bit-exact; row sums " << (with_sums ? "given" : "absent") << ")";
                    continue;
                }
                // Σ|w·x| with x as the kernel sees it (dequantized int8 for TQ).
                double mag = 0.0;
                for (int32_t t = 0; t < K; ++t) {
                    const double xv = b256 ? q[i * stride + t] * static_cast<double>(qscale[static_cast<size_t>(i) * nsc + t / 256])
                                           : x[static_cast<size_t>(i) * ldx + t];
                    mag += std::fabs(wrow[t] * xv);
                }
                const double tol = 1e-5 * mag * std::fabs(w_scale) + 1e-30;
                if (std::fabs(static_cast<double>(gv) - wv) <= tol) continue;
                ++failures;
                ADD_FAILURE() << "y[" << i << "][" << j << "] = " << gv << ", scalar " << wv << ", tolerance " << tol;
            }
        }
        for (int32_t i = 0; i < m; ++i)
            for (int32_t j = n; j < ldy; ++j)
                EXPECT_TRUE(std::isnan(got[static_cast<size_t>(i) * ldy + j])) << "wrote y[" << i << "][" << j << "], past n";
    }
}

// ---- activation quantizers ---------------------------------------------------------------------

void check_quantize(const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, int32_t K, int32_t m) {
    std::mt19937 gen(static_cast<uint32_t>(K * 13 + m));
    const int32_t ldx = K + 3;
    std::vector<float> x(static_cast<size_t>(m) * ldx);
    std::normal_distribution<float> g(0.0f, 2.0f);
    for (float& v : x) v = g(gen);
    x[0] = 4.5f; // tied |maxima| of opposite signs: the first one decides the B256 sign
    if (K > 20) x[20] = -4.5f;
    if (m > 1) std::fill_n(&x[ldx], K, 0.0f); // an all-zero row: zero block scales
    if (m > 2)
        for (int32_t t = 0; t < K; ++t) x[2 * static_cast<size_t>(ldx) + t] *= 1e-7f; // below I8_ROW's 1e-5 floor
    const int32_t nsc = k.act_type == BITNET_ACT_I8_B256 ? (K + 255) / 256 : 1;
    const size_t stride = static_cast<size_t>(K) + 24;

    struct Out {
        std::vector<int8_t> q;
        std::vector<float> s;
        std::vector<int32_t> sums;
    };
    auto run = [&](const Backend& b, const bitnet_kernel_desc& kd) {
        // Filled with markers, so bytes a kernel must not write are checked too.
        Out o{std::vector<int8_t>(stride * m, 0x5a), std::vector<float>(static_cast<size_t>(nsc) * m, NAN),
              std::vector<int32_t>(m, -7)};
        bitnet_qact qa{o.q.data(), o.s.data(), o.sums.data(), stride};
        const bitnet_quantize_args a{sizeof(bitnet_quantize_args), m, K, x.data(), ldx, &qa};
        EXPECT_EQ(kd.run(b.inst->handle(), &a, nullptr), BITNET_OK) << kd.name;
        return o;
    };
    const Out got = run(backend("neon"), k), want = run(backend("scalar"), ref);
    EXPECT_EQ(got.q, want.q) << "quantized values (or the row padding) differ";
    EXPECT_EQ(0, std::memcmp(got.s.data(), want.s.data(), got.s.size() * sizeof(float))) << "scales differ";
    EXPECT_EQ(got.sums, want.sums) << "row sums differ";
}

// ---- RMSNorm -----------------------------------------------------------------------------------

void check_rmsnorm(const bitnet_kernel_desc& k, const bitnet_kernel_desc& ref, int32_t n, int32_t m) {
    std::mt19937 gen(static_cast<uint32_t>(n * 3 + m));
    const int32_t ld = n + 1;
    std::vector<float> x(static_cast<size_t>(m) * ld), weight(n);
    std::normal_distribution<float> g(0.0f, 1.5f);
    for (float& v : x) v = g(gen);
    for (float& v : weight) v = 1.0f + 0.1f * g(gen);
    // With and without a weight; the weighted run normalizes in place (y aliases x).
    for (const bool weighted : {false, true}) {
        auto run = [&](const Backend& b, const bitnet_kernel_desc& kd) {
            std::vector<float> y = x;
            const bitnet_rmsnorm_args a{sizeof(bitnet_rmsnorm_args), m, n, weighted ? y.data() : x.data(), ld,
                                        weighted ? weight.data() : nullptr, 1e-5f, y.data(), ld};
            EXPECT_EQ(kd.run(b.inst->handle(), &a, nullptr), BITNET_OK) << kd.name;
            return y;
        };
        const std::vector<float> got = run(backend("neon"), k), want = run(backend("scalar"), ref);
        int failures = 0;
        for (size_t i = 0; i < got.size() && failures < 5; ++i) {
            // The mean may differ by one ulp (lane-order double sum), which moves y by ~2 ulps.
            if (std::fabs(got[i] - want[i]) <= 4 * FLT_EPSILON * std::fabs(want[i])) continue;
            ++failures;
            ADD_FAILURE() << "y[" << i << "] = " << got[i] << ", scalar " << want[i] << (weighted ? " (weighted)" : "");
        }
    }
}

class NeonConformance : public ::testing::TestWithParam<Case> {};

TEST_P(NeonConformance, MatchesScalar) {
    const Case& c = GetParam();
    Backend& neon = backend("neon");
    if (c.kernel.empty()) GTEST_SKIP() << "neon: " << neon.refused;
    ASSERT_NE(backend("scalar").inst, nullptr) << "scalar: " << backend("scalar").refused;
    const bitnet_kernel_desc* k = neon.inst->find(c.kernel);
    ASSERT_NE(k, nullptr);
    const bitnet_kernel_desc* ref = scalar_twin(*k);
    ASSERT_NE(ref, nullptr) << "scalar has no kernel for " << c.kernel << "'s op and formats";
    switch (k->op) {
    case BITNET_OP_MATMUL: check_matmul(*k, *ref, *c.mm, c.m); break;
    case BITNET_OP_QUANTIZE_ACT: check_quantize(*k, *ref, c.k, c.m); break;
    case BITNET_OP_RMSNORM: check_rmsnorm(*k, *ref, c.k, c.m); break;
    default: FAIL() << "no conformance check for the op of " << c.kernel;
    }
}

INSTANTIATE_TEST_SUITE_P(Neon, NeonConformance, ::testing::ValuesIn(all_cases()), case_name);

// Kernel names follow the XNNPACK scheme with this plugin's ISA suffixes, and arguments are checked.
TEST(NeonKernels, NamesAndArgumentChecks) {
    Backend& neon = backend("neon");
    if (neon.inst == nullptr) GTEST_SKIP() << "neon: " << neon.refused;
    EXPECT_GE(neon.inst->size(), 10u);
    for (const bitnet_kernel_desc& k : *neon.inst) {
        const std::string name = k.name;
        EXPECT_TRUE(name.ends_with("__neon") || name.ends_with("__neondot")) << name;
        EXPECT_NE(scalar_twin(k), nullptr) << name << " has no scalar twin";
        EXPECT_EQ(k.run(neon.inst->handle(), nullptr, nullptr), BITNET_ERR_INVALID_ARGUMENT) << name;
        EXPECT_EQ(k.run(nullptr, &k, nullptr), BITNET_ERR_INVALID_ARGUMENT) << name;
    }
}

// Sets an environment variable for one scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        ::setenv(name, value, 1);
    }
    ~ScopedEnv() {
        if (old_) ::setenv(name_, old_->c_str(), 1);
        else ::unsetenv(name_);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

const bitnet_plugin_descriptor& neon_desc() {
    Backend& neon = backend("neon");
    if (neon.lib == nullptr) throw std::runtime_error(neon.refused);
    return neon.lib->desc();
}

TEST(NeonProbe, CapScalarRefusesWithReason) {
    const ScopedEnv cap("BITNET_MAX_ISA", "scalar");
    char why[256] = {};
    EXPECT_EQ(neon_desc().probe(why, sizeof why), 0);
    EXPECT_STREQ(why, "capped by BITNET_MAX_ISA=scalar");
    // create() repeats the check for hosts that skip probe().
    ThreadHost host(1);
    void* handle = reinterpret_cast<void*>(1);
    EXPECT_EQ(neon_desc().create(host.api(), &handle), BITNET_ERR_UNSUPPORTED);
    EXPECT_EQ(handle, nullptr);
}

TEST(NeonProbe, UnknownCapRefusesWithReason) {
    const ScopedEnv cap("BITNET_MAX_ISA", "avx512");
    char why[256] = {};
    EXPECT_EQ(neon_desc().probe(why, sizeof why), 0);
    EXPECT_STREQ(why, "BITNET_MAX_ISA=avx512 is not one of scalar, neon");
}

// Uncapped (or capped at neon) the probe accepts exactly the CPUs whose kernel reports dotprod.
// cross_conformance.cmake also runs this under an emulated CPU without dotprod and sets
// BITNET_TEST_EXPECT_DOTPROD, so both outcomes are checked.
TEST(NeonProbe, FollowsHwcap) {
    const bool dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    if (const char* expect = std::getenv("BITNET_TEST_EXPECT_DOTPROD")) {
        ASSERT_EQ(dotprod, std::strcmp(expect, "1") == 0) << "AT_HWCAP disagrees with the emulated CPU";
    }
    for (const char* cap : {"", "neon"}) {
        const ScopedEnv env("BITNET_MAX_ISA", cap);
        char why[256] = {};
        const int32_t ok = neon_desc().probe(why, sizeof why);
        EXPECT_EQ(ok, dotprod ? 1 : 0) << "BITNET_MAX_ISA='" << cap << "': " << why;
        if (!dotprod) {
            EXPECT_STREQ(why, "CPU lacks the dot-product extension (AT_HWCAP has no HWCAP_ASIMDDP)");
        }
    }
}

} // namespace
} // namespace bitnet::testing
