// The scalar plugin's matmul and quantize kernels against independent references: weights are
// packed here by hand from their documented layouts (MODEL.md, ggml-quants.c) and decoded here
// without runtime/formats, so a layout mistake shared by formats and the plugin still shows.
#include "scalar_test_util.hpp"

#include "formats/formats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace bitnet::testing {
namespace {

constexpr float kSentinel = -12345.0f; // fills ldy padding, which kernels must not touch

std::vector<int8_t> random_codes(Rng& rng, size_t n) {
    std::vector<int8_t> c(n);
    for (auto& v : c) v = static_cast<int8_t>(rng.integer(-1, 1));
    return c;
}

// I2_S (MODEL.md): 128-weight blocks of 32 bytes; byte j holds weights j, j+32, j+64, j+96 in
// bits 7:6, 5:4, 3:2, 1:0 as code+1.
std::vector<uint8_t> pack_i2s(const std::vector<int8_t>& codes) {
    std::vector<uint8_t> out(codes.size() / 4);
    for (size_t b = 0; b < codes.size() / 128; ++b)
        for (int j = 0; j < 32; ++j) {
            const int8_t* c = &codes[b * 128 + j];
            out[b * 32 + j] = static_cast<uint8_t>(((c[0] + 1) << 6) | ((c[32] + 1) << 4) |
                                                   ((c[64] + 1) << 2) | (c[96] + 1));
        }
    return out;
}

// TQ2_0 (ggml quantize_row_tq2_0_ref): 64 bytes, then fp16 d. Byte 32h + m holds, in bit pair l,
// element 128h + 32l + m as code+1.
std::vector<uint8_t> pack_tq2(const std::vector<int8_t>& codes, const std::vector<uint16_t>& d) {
    std::vector<uint8_t> out(codes.size() / 256 * 66, 0);
    for (size_t b = 0; b < codes.size() / 256; ++b) {
        uint8_t* blk = &out[b * 66];
        for (int h = 0; h < 2; ++h)
            for (int l = 0; l < 4; ++l)
                for (int m = 0; m < 32; ++m)
                    blk[h * 32 + m] |= static_cast<uint8_t>((codes[b * 256 + h * 128 + l * 32 + m] + 1) << (2 * l));
        put_u16(blk + 64, d[b]);
    }
    return out;
}

// TQ1_0's base-3 packing is formats' encoder (its digit order is checked by the formats tests);
// the per-block d (last 2 of 54 bytes) is overwritten here so that blocks differ.
std::vector<uint8_t> pack_tq1(const std::vector<int8_t>& codes, int64_t k, const std::vector<uint16_t>& d) {
    const int64_t rows = static_cast<int64_t>(codes.size()) / k;
    std::vector<uint8_t> out(*formats::tensor_bytes(formats::GgmlType::TQ1_0, k, rows));
    formats::quantize_ternary(formats::GgmlType::TQ1_0, codes.data(), 1.0f, k, rows, out.data());
    for (size_t b = 0; b < d.size(); ++b) put_u16(&out[b * 54 + 52], d[b]);
    return out;
}

// Quantized activations with arbitrary values: the matmul does not care how they were made.
struct QAct {
    std::vector<int8_t> data;
    std::vector<float> scales;
    bitnet_qact q{};
    QAct(Rng& rng, int m, int k, size_t n_scales, bool positive_scales) {
        const size_t stride = static_cast<size_t>(k) + 5; // row_stride > k must be honoured
        data.resize(stride * m);
        for (auto& v : data) v = static_cast<int8_t>(rng.integer(-128, 127));
        scales.resize(n_scales);
        for (auto& s : scales) s = positive_scales ? rng.uniform(0.5f, 300.0f) : rng.uniform(-0.02f, 0.02f);
        q = {data.data(), scales.data(), nullptr, stride};
    }
    const int8_t* row(int m) const { return data.data() + static_cast<size_t>(m) * q.row_stride; }
};

bitnet_matmul_args matmul_args(int m, int n, int k, bitnet_act_type act, const bitnet_weights* w,
                               std::vector<float>& y) {
    bitnet_matmul_args a{};
    a.struct_size = sizeof a;
    a.m = m, a.n = n, a.k = k, a.act_type = act, a.w = w;
    a.ldy = n + 3;
    y.assign(static_cast<size_t>(a.ldy) * m, kSentinel);
    a.y = y.data();
    return a;
}

void expect_padding_untouched(const std::vector<float>& y, int m, int n, int ldy) {
    for (int i = 0; i < m; ++i)
        for (int j = n; j < ldy; ++j) ASSERT_EQ(y[static_cast<size_t>(i) * ldy + j], kSentinel);
}

const int kMs[] = {1, 3, 17};
const int kNs[] = {1, 7, 33};

TEST(ScalarMatmul, I2sI8RowMatchesBitnetCppFormula) {
    auto& env = scalar_env();
    Rng rng(1);
    for (int K : {128, 384})
        for (int M : kMs)
            for (int N : kNs) {
                SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
                const auto codes = random_codes(rng, static_cast<size_t>(N) * K);
                const auto packed = pack_i2s(codes);
                const float w_scale = rng.uniform(0.01f, 0.1f);
                const bitnet_weights w{packed.data(), packed.size(), w_scale, nullptr};
                QAct x(rng, M, K, M, true);
                for (const PluginInstance* inst : {&env.one, &env.two}) {
                    std::vector<float> y;
                    auto a = matmul_args(M, N, K, BITNET_ACT_I8_ROW, &w, y);
                    a.x_q = &x.q;
                    ASSERT_EQ(inst->run("matmul_i2s_i8row__scalar", a), BITNET_OK);
                    for (int m = 0; m < M; ++m)
                        for (int n = 0; n < N; ++n) {
                            int64_t dot = 0;
                            for (int i = 0; i < K; ++i) dot += codes[static_cast<size_t>(n) * K + i] * x.row(m)[i];
                            // The op is defined by bitnet.cpp's float steps after an exact integer
                            // dot, so the result must be bit-identical to them...
                            const float want = static_cast<float>(static_cast<float>(dot) / x.scales[m]) * w_scale;
                            const float got = y[static_cast<size_t>(m) * a.ldy + n];
                            ASSERT_EQ(got, want) << "m=" << m << " n=" << n;
                            // ...which are within 3 roundings of the exact value.
                            const double exact = static_cast<double>(dot) / x.scales[m] * w_scale;
                            ASSERT_NEAR(got, exact, 3 * kF32Eps * std::abs(exact) + 1e-30);
                        }
                    expect_padding_untouched(y, M, N, a.ldy);
                }
            }
}

// TQ1_0 and TQ2_0 with Q8_K-style activations: per block d_w·d_a·Σq_w·q_a, blocks summed in f32.
void check_tq(const char* kernel, bool tq1) {
    auto& env = scalar_env();
    Rng rng(tq1 ? 3 : 2);
    for (int K : {256, 768})
        for (int M : kMs)
            for (int N : kNs) {
                SCOPED_TRACE(std::string(kernel) + " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                             " K=" + std::to_string(K));
                const int nb = K / 256;
                const auto codes = random_codes(rng, static_cast<size_t>(N) * K);
                std::vector<uint16_t> d(static_cast<size_t>(N) * nb);
                for (auto& h : d) h = random_half(rng, -6, -2);
                const auto packed = tq1 ? pack_tq1(codes, K, d) : pack_tq2(codes, d);
                const float w_scale = (N % 2) ? 1.0f : 0.5f; // optional `.scale` tensor
                const bitnet_weights w{packed.data(), packed.size(), w_scale, nullptr};
                QAct x(rng, M, K, static_cast<size_t>(M) * nb, false);
                std::vector<float> first;
                for (const PluginInstance* inst : {&env.one, &env.two}) {
                    std::vector<float> y;
                    auto a = matmul_args(M, N, K, BITNET_ACT_I8_B256, &w, y);
                    a.x_q = &x.q;
                    ASSERT_EQ(inst->run(kernel, a), BITNET_OK);
                    if (first.empty()) first = y;
                    ASSERT_EQ(y, first) << "result depends on the thread count";
                    for (int m = 0; m < M; ++m)
                        for (int n = 0; n < N; ++n) {
                            double exact = 0, magnitude = 0;
                            for (int b = 0; b < nb; ++b) {
                                int64_t sumi = 0;
                                for (int i = b * 256; i < (b + 1) * 256; ++i)
                                    sumi += codes[static_cast<size_t>(n) * K + i] * x.row(m)[i];
                                const double t = half_to_double(d[static_cast<size_t>(n) * nb + b]) *
                                                 x.scales[static_cast<size_t>(m) * nb + b] * static_cast<double>(sumi);
                                exact += t;
                                magnitude += std::abs(t);
                            }
                            exact *= w_scale;
                            magnitude *= w_scale;
                            // Per block: d_w·d_a, ·sumi, += (3 roundings), blocks summed (nb).
                            const double tol = (nb + 3) * kF32Eps * magnitude + 1e-30;
                            ASSERT_NEAR(y[static_cast<size_t>(m) * a.ldy + n], exact, tol) << "m=" << m << " n=" << n;
                        }
                    expect_padding_untouched(y, M, N, a.ldy);
                }
            }
}

TEST(ScalarMatmul, Tq2_0I8B256) { check_tq("matmul_tq2_0_i8b256__scalar", false); }
TEST(ScalarMatmul, Tq1_0I8B256) { check_tq("matmul_tq1_0_i8b256__scalar", true); }

// Float weights: raw bytes made here plus their exact values in double.
struct FloatWeights {
    std::vector<uint8_t> bytes;
    std::vector<double> values; // N x K
};

FloatWeights make_float_weights(bitnet_weight_format wf, Rng& rng, int n, int k) {
    FloatWeights fw;
    const size_t count = static_cast<size_t>(n) * k;
    fw.values.resize(count);
    switch (wf) {
    case BITNET_WF_F32: {
        std::vector<float> v = rng.floats(count);
        fw.bytes.resize(count * 4);
        std::memcpy(fw.bytes.data(), v.data(), fw.bytes.size());
        std::copy(v.begin(), v.end(), fw.values.begin());
        break;
    }
    case BITNET_WF_F16:
        fw.bytes.resize(count * 2);
        for (size_t i = 0; i < count; ++i) {
            const uint16_t h = random_half(rng, -6, 1);
            put_u16(&fw.bytes[i * 2], h);
            fw.values[i] = half_to_double(h);
        }
        break;
    case BITNET_WF_BF16:
        fw.bytes.resize(count * 2);
        for (size_t i = 0; i < count; ++i) {
            // bf16 is the top half of an f32: sign, 8-bit exponent, 7-bit fraction.
            const int e = rng.integer(-6, 1), frac = rng.integer(0, 127), sign = rng.integer(0, 1);
            put_u16(&fw.bytes[i * 2], static_cast<uint16_t>((sign << 15) | ((e + 127) << 7) | frac));
            fw.values[i] = (sign ? -1 : 1) * std::ldexp(128 + frac, e - 7);
        }
        break;
    case BITNET_WF_Q8_0: // 32-blocks: fp16 d, 32 x int8
        fw.bytes.resize(count / 32 * 34);
        for (size_t b = 0; b < count / 32; ++b) {
            const uint16_t d = random_half(rng, -8, -5);
            put_u16(&fw.bytes[b * 34], d);
            for (int i = 0; i < 32; ++i) {
                const int q = rng.integer(-127, 127);
                fw.bytes[b * 34 + 2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
                fw.values[b * 32 + i] = half_to_double(d) * q;
            }
        }
        break;
    case BITNET_WF_Q6_K: { // 256-blocks: ql[128], qh[64], int8 scales[16], fp16 d (210 bytes)
        fw.bytes.resize(count / 256 * 210);
        for (size_t b = 0; b < count / 256; ++b) {
            uint8_t* blk = &fw.bytes[b * 210];
            for (int i = 0; i < 192; ++i) blk[i] = static_cast<uint8_t>(rng.integer(0, 255));
            for (int i = 0; i < 16; ++i) blk[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(rng.integer(-64, 63)));
            const uint16_t d = random_half(rng, -12, -9);
            put_u16(blk + 208, d);
            // Element e = 128h + 32k + l (k = 0..3): the 6-bit q is the low (k < 2) or high (k >= 2)
            // nibble of ql[64h + l + 32(k%2)] under bits 2k..2k+1 of qh[32h + l], minus 32; its
            // scale is scales[8h + l/16 + 2k].
            for (int e = 0; e < 256; ++e) {
                const int h = e / 128, k = (e % 128) / 32, l = e % 32;
                const uint8_t ql = blk[64 * h + l + 32 * (k % 2)];
                const int lo = k < 2 ? (ql & 0xF) : (ql >> 4);
                const int hi = (blk[128 + 32 * h + l] >> (2 * k)) & 3;
                const int sc = static_cast<int8_t>(blk[192 + 8 * h + l / 16 + 2 * k]);
                fw.values[b * 256 + e] = half_to_double(d) * sc * ((lo | (hi << 4)) - 32);
            }
        }
        break;
    }
    default:
        ADD_FAILURE() << "format not covered";
    }
    return fw;
}

struct FloatCase {
    const char* kernel;
    bitnet_weight_format wf;
    std::vector<int> ks;
};

TEST(ScalarMatmul, FloatWeightsF32Activations) {
    auto& env = scalar_env();
    Rng rng(4);
    const FloatCase cases[] = {
        {"matmul_f32_f32__scalar", BITNET_WF_F32, {1, 37, 300}},
        {"matmul_f16_f32__scalar", BITNET_WF_F16, {1, 37, 300}},
        {"matmul_bf16_f32__scalar", BITNET_WF_BF16, {3, 129}},
        {"matmul_q8_0_f32__scalar", BITNET_WF_Q8_0, {32, 96}},
        {"matmul_q6_k_f32__scalar", BITNET_WF_Q6_K, {256, 512}},
    };
    for (const auto& c : cases)
        for (int K : c.ks)
            for (int M : kMs)
                for (int N : kNs) {
                    SCOPED_TRACE(std::string(c.kernel) + " M=" + std::to_string(M) + " N=" +
                                 std::to_string(N) + " K=" + std::to_string(K));
                    const auto fw = make_float_weights(c.wf, rng, N, K);
                    const bitnet_weights w{fw.bytes.data(), fw.bytes.size(), 1.0f, nullptr};
                    const int ldx = K + 2;
                    const auto x = rng.floats(static_cast<size_t>(M) * ldx);
                    std::vector<float> y1, y2;
                    for (auto [inst, y] : {std::pair{&env.one, &y1}, std::pair{&env.two, &y2}}) {
                        auto a = matmul_args(M, N, K, BITNET_ACT_F32, &w, *y);
                        a.x_f32 = x.data();
                        a.ldx = ldx;
                        ASSERT_EQ(inst->run(c.kernel, a), BITNET_OK);
                        expect_padding_untouched(*y, M, N, a.ldy);
                    }
                    ASSERT_EQ(y1, y2) << "result depends on the thread count";
                    for (int m = 0; m < M; ++m)
                        for (int n = 0; n < N; ++n) {
                            double exact = 0, magnitude = 0;
                            for (int i = 0; i < K; ++i) {
                                const double t = x[static_cast<size_t>(m) * ldx + i] * fw.values[static_cast<size_t>(n) * K + i];
                                exact += t;
                                magnitude += std::abs(t);
                            }
                            // Recursive f32 summation of K products: |error| <= (K+1)·u·Σ|terms|
                            // (one rounding per product, at most K per running sum), plus slack.
                            const double tol = (K + 2) * kF32Eps * magnitude + 1e-30;
                            ASSERT_NEAR(y1[static_cast<size_t>(m) * (N + 3) + n], exact, tol) << "m=" << m << " n=" << n;
                        }
                }
}

// Quantizers: bit-identical to formats (the definition shared with the host), and checked here
// against the documented rule so that formats and plugin cannot be wrong together.
TEST(ScalarQuantize, I8RowAndB256) {
    auto& env = scalar_env();
    Rng rng(5);
    for (bool b256 : {false, true})
        for (int K : {1, 5, 256, 300, 513})
            for (int M : {1, 3}) {
                SCOPED_TRACE("b256=" + std::to_string(b256) + " M=" + std::to_string(M) + " K=" + std::to_string(K));
                const int ldx = K + 1, nb = b256 ? (K + 255) / 256 : 1;
                auto x = rng.floats(static_cast<size_t>(M) * ldx, -3.0f, 3.0f);
                x[0] = 0.0f; // a zero does not disturb the scale
                const size_t stride = static_cast<size_t>(K) + 7;
                std::vector<int8_t> q(stride * M);
                std::vector<float> scales(static_cast<size_t>(M) * nb);
                std::vector<int32_t> sums(M);
                bitnet_qact out{q.data(), scales.data(), sums.data(), stride};
                bitnet_quantize_args a{sizeof a, M, K, x.data(), ldx, &out};
                ASSERT_EQ(env.two.run(b256 ? "quantize_i8b256__scalar" : "quantize_i8row__scalar", a), BITNET_OK);
                for (int m = 0; m < M; ++m) {
                    const float* xr = &x[static_cast<size_t>(m) * ldx];
                    const int8_t* qr = &q[m * stride];
                    std::vector<int8_t> want_q(K);
                    std::vector<float> want_s(nb);
                    (b256 ? formats::quantize_act_row_b256 : formats::quantize_act_row_i8)(xr, K, want_q.data(), want_s.data());
                    ASSERT_TRUE(std::equal(want_q.begin(), want_q.end(), qr));
                    for (int b = 0; b < nb; ++b) ASSERT_EQ(scales[static_cast<size_t>(m) * nb + b], want_s[b]);
                    int32_t sum = 0;
                    for (int i = 0; i < K; ++i) sum += qr[i];
                    ASSERT_EQ(sums[m], sum);
                    for (int b = 0; b < nb; ++b) {
                        const int lo = b256 ? b * 256 : 0, hi = b256 ? std::min(K, lo + 256) : K;
                        double amax = 0;
                        for (int i = lo; i < hi; ++i) amax = std::max(amax, std::abs(double{xr[i]}));
                        // I8_ROW stores s = 127/amax (q = x·s); I8_B256 stores d = amax/127 up to the
                        // sign (q = x/d). Either way q is x rescaled and rounded: within half a step
                        // plus the scale's own f32 rounding (|q| <= 128 steps of u).
                        const double s = scales[static_cast<size_t>(m) * nb + b];
                        if (b256 && amax == 0) { // an all-zero block: d = 0 and q = 0
                            ASSERT_EQ(s, 0.0);
                            for (int i = lo; i < hi; ++i) ASSERT_EQ(qr[i], 0);
                            continue;
                        }
                        amax = std::max(amax, 1e-5); // bitnet.cpp's floor on the row max
                        const double step = b256 ? 1.0 / s : s;
                        ASSERT_NEAR(std::abs(b256 ? 1.0 / s : s), 127.0 / amax, 4 * kF32Eps * 127.0 / amax);
                        for (int i = lo; i < hi; ++i) ASSERT_NEAR(qr[i], xr[i] * step, 0.5 + 1e-4);
                    }
                }
            }
}

} // namespace
} // namespace bitnet::testing
