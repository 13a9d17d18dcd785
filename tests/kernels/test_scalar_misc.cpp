// The scalar plugin's descriptor, its non-matmul kernels against double-precision references, and
// its behaviour on bad arguments.
#include "scalar_test_util.hpp"

#include "formats/formats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

namespace bitnet::testing {
namespace {

TEST(ScalarPlugin, Descriptor) {
    auto& env = scalar_env();
    const auto& d = env.lib.desc();
    EXPECT_EQ(d.struct_size, sizeof(bitnet_plugin_descriptor));
    EXPECT_EQ(BITNET_ABI_MAJOR(d.abi_version), BITNET_PLUGIN_ABI_VERSION_MAJOR);
    EXPECT_STREQ(d.name, "scalar");
    EXPECT_STREQ(d.version, "1.0.0");
    ASSERT_NE(d.build_id, nullptr);
    EXPECT_NE(std::string(d.build_id).find("scalar-1.0.0"), std::string::npos);
    EXPECT_EQ(d.device_kind, BITNET_DEVICE_CPU);
    char reason[16] = "x";
    EXPECT_EQ(d.probe(reason, sizeof reason), 1);
    EXPECT_EQ(d.get_device_iface(env.one.handle()), nullptr);
    EXPECT_NE(std::string(d.describe_device(env.two.handle())).find("split 2 ways"), std::string::npos);

    std::set<std::string> names;
    for (const auto& k : env.one) {
        EXPECT_EQ(k.struct_size, sizeof(bitnet_kernel_desc));
        EXPECT_TRUE(names.insert(k.name).second) << "duplicate " << k.name;
        EXPECT_TRUE(std::string(k.name).ends_with("__scalar")) << k.name;
        EXPECT_NE(k.run, nullptr);
        EXPECT_EQ(k.pack_weights, nullptr);
        EXPECT_EQ(k.release_packed, nullptr);
    }
    // Every op and every weight format has a kernel.
    for (const char* want :
         {"matmul_i2s_i8row__scalar", "matmul_tq2_0_i8b256__scalar", "matmul_tq1_0_i8b256__scalar",
          "matmul_f32_f32__scalar", "matmul_f16_f32__scalar", "matmul_bf16_f32__scalar",
          "matmul_q8_0_f32__scalar", "matmul_q6_k_f32__scalar", "quantize_i8row__scalar",
          "quantize_i8b256__scalar", "rmsnorm_f32__scalar", "rope_f32__scalar",
          "attention_f16kv__scalar", "ffn_act_f32__scalar", "add_f32__scalar", "kv_store_f16__scalar",
          "norm_quantize_i8row__scalar", "norm_quantize_i8b256__scalar"})
        EXPECT_TRUE(names.count(want)) << want;
}

TEST(ScalarRmsNorm, MatchesDoubleAndAllowsAliasing) {
    auto& env = scalar_env();
    Rng rng(10);
    for (int N : {1, 7, 256, 301})
        for (int M : {1, 3, 17})
            for (bool with_weight : {true, false}) {
                SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N));
                const int ld = N + 4;
                auto x = rng.floats(static_cast<size_t>(M) * ld, -2.0f, 2.0f);
                const auto w = rng.floats(N, 0.5f, 1.5f);
                std::vector<float> y(x.size(), 0.0f);
                bitnet_rmsnorm_args a{sizeof a, M, N, x.data(), ld, with_weight ? w.data() : nullptr, 1e-5f, y.data(), ld};
                ASSERT_EQ(env.one.run("rmsnorm_f32__scalar", a), BITNET_OK);
                for (int m = 0; m < M; ++m) {
                    const float* xr = &x[static_cast<size_t>(m) * ld];
                    double ss = 0;
                    for (int i = 0; i < N; ++i) ss += double{xr[i]} * xr[i];
                    const double inv = 1.0 / std::sqrt(ss / N + 1e-5);
                    for (int i = 0; i < N; ++i) {
                        const double want = xr[i] * inv * (with_weight ? w[i] : 1.0);
                        // Roundings: x², mean, +eps, sqrt, 1/·, x·scale, ·w: 8u relative is ample.
                        ASSERT_NEAR(y[static_cast<size_t>(m) * ld + i], want, 8 * kF32Eps * std::abs(want) + 1e-30);
                    }
                }
                // In place (y aliases x) gives the same bits.
                a.y = x.data();
                ASSERT_EQ(env.one.run("rmsnorm_f32__scalar", a), BITNET_OK);
                for (int m = 0; m < M; ++m)
                    for (int i = 0; i < N; ++i)
                        ASSERT_EQ(x[static_cast<size_t>(m) * ld + i], y[static_cast<size_t>(m) * ld + i]);
            }
}

TEST(ScalarRope, NeoxAndNormalMatchDouble) {
    auto& env = scalar_env();
    Rng rng(11);
    const int32_t positions[] = {7, 0, 123, 4095, 1};
    for (int neox : {1, 0})
        for (int n_rot : {64, 32, 6})
            for (float freq_scale : {1.0f, 0.25f}) {
                SCOPED_TRACE("neox=" + std::to_string(neox) + " n_rot=" + std::to_string(n_rot));
                const int M = 5, H = 3, D = 64, ld = H * D + 2;
                const float base = 500000.0f;
                auto x = rng.floats(static_cast<size_t>(M) * ld);
                const auto x0 = x;
                bitnet_rope_args a{sizeof a, M, H, D, n_rot, base, freq_scale, neox, positions, x.data(), ld, nullptr, BITNET_OP_KV_STORE};
                ASSERT_EQ(env.two.run("rope_f32__scalar", a), BITNET_OK);
                // The angles follow the documented construction (f32 powers by repeated
                // multiplication, as ggml); only the rotation is done here in double.
                const float theta_scale = std::pow(base, -2.0f / n_rot);
                for (int t = 0; t < M; ++t) {
                    float theta_base = static_cast<float>(positions[t]);
                    std::vector<double> c(n_rot / 2), s(n_rot / 2);
                    for (int i = 0; i < n_rot / 2; ++i) {
                        const float theta = freq_scale * theta_base;
                        c[i] = std::cos(double{theta});
                        s[i] = std::sin(double{theta});
                        theta_base *= theta_scale;
                    }
                    for (int h = 0; h < H; ++h) {
                        const size_t off = static_cast<size_t>(t) * ld + static_cast<size_t>(h) * D;
                        std::vector<double> want(x0.begin() + off, x0.begin() + off + D);
                        for (int i = 0; i < n_rot / 2; ++i) {
                            const int i0 = neox ? i : 2 * i, i1 = neox ? i + n_rot / 2 : 2 * i + 1;
                            want[i0] = x0[off + i0] * c[i] - x0[off + i1] * s[i];
                            want[i1] = x0[off + i0] * s[i] + x0[off + i1] * c[i];
                        }
                        for (int i = 0; i < D; ++i) {
                            if (i >= n_rot) { // dims past n_rot stay as they were
                                ASSERT_EQ(x[off + i], x0[off + i]);
                                continue;
                            }
                            // cosf/sinf within 1 ulp, two products and a sum in f32: the error is
                            // a few u of |x0| + |x1| <= 2 (cancellation makes it absolute).
                            ASSERT_NEAR(x[off + i], want[i], 8 * kF32Eps * 2.0) << "t=" << t << " h=" << h << " i=" << i;
                        }
                    }
                    ASSERT_EQ(x[static_cast<size_t>(t) * ld + H * D], x0[static_cast<size_t>(t) * ld + H * D]);
                }
            }
}

// Causal GQA attention over an f16 cache, against double precision.
void check_attention(int M, int n_past, int H, int H_kv, int D) {
    auto& env = scalar_env();
    Rng rng(static_cast<uint32_t>(100 + M * 7 + n_past));
    SCOPED_TRACE("M=" + std::to_string(M) + " n_past=" + std::to_string(n_past) + " D=" + std::to_string(D));
    const int P = n_past + M, kv_stride = H_kv * D + 3, ldq = H * D + 1, ldo = H * D + 5;
    // q in multiples of 1/64 within [-2, 2]: exact in f16, so the kernel's rounding of q is exact.
    std::vector<float> q(static_cast<size_t>(M) * ldq);
    for (auto& v : q) v = static_cast<float>(rng.integer(-128, 128)) / 64.0f;
    std::vector<uint16_t> k(static_cast<size_t>(P) * kv_stride), v(k.size());
    for (auto& h : k) h = formats::f32_to_fp16(rng.uniform(-1.0f, 1.0f));
    for (auto& h : v) h = formats::f32_to_fp16(rng.uniform(-1.0f, 1.0f));
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));

    std::vector<float> out1(static_cast<size_t>(M) * ldo, -7.0f), out2 = out1;
    bitnet_attention_args a{sizeof a, M, n_past, H, H_kv, D, scale, q.data(), ldq, k.data(), v.data(), kv_stride, out1.data(), ldo, nullptr, nullptr, 0, 0, 0, 0};
    ASSERT_EQ(env.one.run("attention_f16kv__scalar", a), BITNET_OK);
    a.out = out2.data();
    ASSERT_EQ(env.two.run("attention_f16kv__scalar", a), BITNET_OK);
    ASSERT_EQ(out1, out2) << "result depends on the thread count";

    for (int t = 0; t < M; ++t)
        for (int h = 0; h < H; ++h) {
            const int kvh = h / (H / H_kv), n_keys = n_past + t + 1;
            std::vector<double> p(n_keys);
            for (int pos = 0; pos < n_keys; ++pos) {
                double dot = 0;
                for (int d = 0; d < D; ++d)
                    dot += q[static_cast<size_t>(t) * ldq + h * D + d] * half_to_double(k[static_cast<size_t>(pos) * kv_stride + kvh * D + d]);
                p[pos] = dot * scale;
            }
            const double mx = *std::max_element(p.begin(), p.end());
            double sum = 0;
            for (auto& e : p) sum += (e = std::exp(e - mx));
            for (int d = 0; d < D; ++d) {
                double want = 0;
                for (int pos = 0; pos < n_keys; ++pos)
                    want += p[pos] / sum * half_to_double(v[static_cast<size_t>(pos) * kv_stride + kvh * D + d]);
                // f32 pipeline: scores carry ~D·u relative error on |score| <= 2·D/sqrt(D), which
                // exp turns into that much relative error of p; the sums add ~n_keys·u. With
                // |v| <= 1 that is far below 2e-5. A single-token batch also rounds p to f16:
                // relative 2^-11 per p, so up to 2^-11·max|v| on the output.
                const double tol = 2e-5 + (M == 1 ? std::ldexp(1.0, -11) : 0.0);
                ASSERT_NEAR(out1[static_cast<size_t>(t) * ldo + h * D + d], want, tol) << "t=" << t << " h=" << h << " d=" << d;
            }
        }
    for (int t = 0; t < M; ++t)
        for (int i = H * D; i < ldo; ++i) ASSERT_EQ(out1[static_cast<size_t>(t) * ldo + i], -7.0f);
}

TEST(ScalarAttention, PrefillAndDecodeMatchDouble) {
    check_attention(1, 0, 4, 2, 8);   // first token: softmax over one key
    check_attention(1, 9, 4, 1, 16);  // decode, all heads share one kv head
    check_attention(3, 0, 4, 2, 8);   // prefill: the causal mask hides later keys
    check_attention(17, 5, 6, 3, 7);  // odd head_dim, prefill after a cached prefix
}

// p rounded to f16 on the decode path is part of the spec: a value from the f32 path would
// usually differ in the last bits.
TEST(ScalarAttention, DecodeRoundsProbabilitiesToF16) {
    auto& env = scalar_env();
    Rng rng(12);
    const int P = 40, D = 4;
    std::vector<float> q(D);
    for (auto& v : q) v = static_cast<float>(rng.integer(-64, 64)) / 64.0f;
    std::vector<uint16_t> k(static_cast<size_t>(P) * D), v(k.size());
    for (auto& h : k) h = formats::f32_to_fp16(rng.uniform(-1.0f, 1.0f));
    for (auto& h : v) h = formats::f32_to_fp16(rng.uniform(-1.0f, 1.0f));
    std::vector<float> out(D);
    bitnet_attention_args a{sizeof a, 1, P - 1, 1, 1, D, 0.5f, q.data(), D, k.data(), v.data(), D, out.data(), D, nullptr, nullptr, 0, 0, 0, 0};
    ASSERT_EQ(env.one.run("attention_f16kv__scalar", a), BITNET_OK);
    // Same softmax, p through f16, f32 sum in position order.
    std::vector<float> s(P);
    for (int pos = 0; pos < P; ++pos) {
        float dot = 0;
        for (int d = 0; d < D; ++d) dot += q[d] * formats::fp16_to_f32(k[static_cast<size_t>(pos) * D + d]);
        s[pos] = dot * 0.5f;
    }
    const float mx = *std::max_element(s.begin(), s.end());
    double sum = 0;
    for (auto& e : s) sum += (e = std::exp(e - mx));
    const float inv = static_cast<float>(1.0 / sum);
    for (int d = 0; d < D; ++d) {
        float acc = 0;
        for (int pos = 0; pos < P; ++pos)
            acc += formats::fp16_to_f32(formats::f32_to_fp16(s[pos] * inv)) * formats::fp16_to_f32(v[static_cast<size_t>(pos) * D + d]);
        EXPECT_EQ(out[d], acc) << "d=" << d;
    }
}

// ABI 1.3: KV_STORE_SEQS and ATTENTION_SEQS over several sequences in one call are defined as
// KV_STORE and ATTENTION run per sequence on its own slot: bit for bit, including the f16
// rounding of probabilities for a sequence that brings a single token.
TEST(ScalarAttention, SeqsEqualOneCallPerSequence) {
    auto& env = scalar_env();
    Rng rng(31);
    const int H = 4, H_kv = 2, D = 8, kv_stride = H_kv * D + 2, ldq = H * D + 3, ldo = H * D + 1, n_ctx = 12;
    const int n_slots = 3;
    const int64_t slot_stride = int64_t(n_ctx) * kv_stride + 5;
    // Rows: slot 2 decodes at position 6; slot 0 prefills positions 2..4 (2 cached); slot 1 starts.
    const std::vector<int32_t> row_slot = {2, 0, 0, 0, 1}, row_pos = {6, 2, 3, 4, 0};
    const int M = int(row_slot.size());
    std::vector<float> q(size_t(M) * ldq), k(size_t(M) * ldq), v(size_t(M) * ldq);
    for (auto* vec : {&q, &k, &v})
        for (auto& x : *vec) x = rng.uniform(-1.0f, 1.0f);
    // Cached prefixes: random halves everywhere, so reading a wrong slot or position shows.
    std::vector<uint16_t> kc(size_t(n_slots) * slot_stride), vc(kc.size());
    for (auto& h : kc) h = formats::f32_to_fp16(rng.uniform(-1.0f, 1.0f));
    for (auto& h : vc) h = formats::f32_to_fp16(rng.uniform(-1.0f, 1.0f));
    std::vector<uint16_t> kc1 = kc, vc1 = vc;
    const float scale = 0.3f;

    bitnet_kv_store_args st{};
    st.struct_size = sizeof st;
    st.m = M;
    st.width = H_kv * D;
    st.k = k.data();
    st.v = v.data();
    st.ld = ldq;
    st.k_cache = kc.data();
    st.v_cache = vc.data();
    st.kv_stride = kv_stride;
    st.row_pos = row_pos.data();
    st.row_slot = row_slot.data();
    st.slot_stride = slot_stride;
    st.n_slots = n_slots;
    st.max_keys = n_ctx;
    ASSERT_EQ(env.one.run("kv_store_seqs_f16__scalar", st), BITNET_OK);
    std::vector<float> got(size_t(M) * ldo, -7.0f), want = got;
    bitnet_attention_args a{};
    a.struct_size = sizeof a;
    a.m = M;
    a.n_heads = H;
    a.n_kv_heads = H_kv;
    a.head_dim = D;
    a.scale = scale;
    a.q = q.data();
    a.ldq = ldq;
    a.k_cache = kc.data();
    a.v_cache = vc.data();
    a.kv_stride = kv_stride;
    a.out = got.data();
    a.ldo = ldo;
    a.row_pos = row_pos.data();
    a.row_slot = row_slot.data();
    a.slot_stride = slot_stride;
    a.n_slots = n_slots;
    a.max_keys = n_ctx;
    ASSERT_EQ(env.two.run("attention_seqs_f16kv__scalar", a), BITNET_OK);

    // The same rows, one sequence (consecutive rows of one slot) per call.
    for (int r0 = 0; r0 < M;) {
        int r1 = r0 + 1;
        while (r1 < M && row_slot[size_t(r1)] == row_slot[size_t(r0)]) ++r1;
        const int64_t off = row_slot[size_t(r0)] * slot_stride;
        bitnet_kv_store_args s1{};
        s1.struct_size = sizeof s1;
        s1.m = r1 - r0;
        s1.pos0 = row_pos[size_t(r0)];
        s1.width = H_kv * D;
        s1.k = k.data() + size_t(r0) * ldq;
        s1.v = v.data() + size_t(r0) * ldq;
        s1.ld = ldq;
        s1.k_cache = kc1.data() + off;
        s1.v_cache = vc1.data() + off;
        s1.kv_stride = kv_stride;
        ASSERT_EQ(env.one.run("kv_store_f16__scalar", s1), BITNET_OK);
        bitnet_attention_args a1 = a;
        a1.m = r1 - r0;
        a1.n_past = row_pos[size_t(r0)];
        a1.q = q.data() + size_t(r0) * ldq;
        a1.k_cache = kc1.data() + off;
        a1.v_cache = vc1.data() + off;
        a1.out = want.data() + size_t(r0) * ldo;
        ASSERT_EQ(env.one.run("attention_f16kv__scalar", a1), BITNET_OK);
        r0 = r1;
    }
    EXPECT_EQ(kc, kc1);
    EXPECT_EQ(vc, vc1);
    EXPECT_EQ(got, want);

    // Rows out of range are refused, nothing written.
    std::vector<int32_t> bad_slot = row_slot;
    bad_slot[1] = n_slots;
    st.row_slot = a.row_slot = bad_slot.data();
    EXPECT_EQ(env.one.run("kv_store_seqs_f16__scalar", st), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(env.one.run("attention_seqs_f16kv__scalar", a), BITNET_ERR_INVALID_ARGUMENT);
    std::vector<int32_t> bad_pos = row_pos;
    bad_pos[0] = n_ctx;
    st.row_slot = a.row_slot = row_slot.data();
    st.row_pos = a.row_pos = bad_pos.data();
    EXPECT_EQ(env.one.run("kv_store_seqs_f16__scalar", st), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(env.one.run("attention_seqs_f16kv__scalar", a), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(kc, kc1);
}

TEST(ScalarElementwise, FfnActAndAdd) {
    auto& env = scalar_env();
    Rng rng(13);
    for (int N : {1, 9, 300})
        for (int M : {1, 3, 17})
            for (bitnet_ffn_kind kind : {BITNET_FFN_RELU2, BITNET_FFN_SILU}) {
                const int ld = N + 1;
                auto g = rng.floats(static_cast<size_t>(M) * ld, -6.0f, 6.0f);
                const auto u = rng.floats(g.size(), -2.0f, 2.0f);
                const auto g0 = g;
                std::vector<float> y(g.size(), 0.0f);
                bitnet_ffn_act_args a{sizeof a, kind, M, N, g.data(), u.data(), y.data(), ld};
                ASSERT_EQ(env.two.run("ffn_act_f32__scalar", a), BITNET_OK);
                for (int m = 0; m < M; ++m)
                    for (int i = 0; i < N; ++i) {
                        const size_t at = static_cast<size_t>(m) * ld + i;
                        const double gd = g0[at];
                        const double act = kind == BITNET_FFN_RELU2 ? std::max(gd, 0.0) * std::max(gd, 0.0) : gd / (1 + std::exp(-gd));
                        const double want = act * u[at];
                        // relu²: 2 roundings; silu: expf (1 ulp), +1, ÷, ·u: 8u is ample.
                        ASSERT_NEAR(y[at], want, 8 * kF32Eps * std::abs(want) + 1e-30);
                    }
                a.y = g.data(); // y may alias gate
                ASSERT_EQ(env.two.run("ffn_act_f32__scalar", a), BITNET_OK);
                for (int m = 0; m < M; ++m)
                    for (int i = 0; i < N; ++i) ASSERT_EQ(g[static_cast<size_t>(m) * ld + i], y[static_cast<size_t>(m) * ld + i]);

                // Residual add: one f32 addition per element, so exactly (float)(y + x).
                const auto x = rng.floats(static_cast<size_t>(M) * (N + 2));
                auto r = rng.floats(static_cast<size_t>(M) * ld);
                const auto r0 = r;
                bitnet_add_args b{sizeof b, M, N, x.data(), N + 2, r.data(), ld};
                ASSERT_EQ(env.one.run("add_f32__scalar", b), BITNET_OK);
                for (int m = 0; m < M; ++m)
                    for (int i = 0; i < ld; ++i) {
                        const size_t at = static_cast<size_t>(m) * ld + i;
                        ASSERT_EQ(r[at], i < N ? r0[at] + x[static_cast<size_t>(m) * (N + 2) + i] : r0[at]);
                    }
            }
}

// Every kernel refuses what it cannot use with a status (and does not crash).
// BITNET_OP_NORM_QUANTIZE is defined as ADD, RMSNORM and QUANTIZE_ACT in turn: bit for bit.
TEST(ScalarNormQuantize, EqualsAddRmsnormQuantize) {
    auto& env = scalar_env();
    Rng rng(11);
    for (bool b256 : {false, true})
        for (int N : {1, 257, 2560})
            for (bool residual : {false, true}) {
                SCOPED_TRACE("b256=" + std::to_string(b256) + " N=" + std::to_string(N) + " residual=" + std::to_string(residual));
                const int M = 3, ld = N + 2, nb = b256 ? (N + 255) / 256 : 1;
                const auto x0 = rng.floats(size_t(M) * ld, -2.0f, 2.0f), r = rng.floats(size_t(M) * ld);
                const auto w = rng.floats(N, 0.5f, 1.5f);
                const size_t stride = size_t(N) + 5;
                // The three ops.
                auto x1 = x0;
                std::vector<float> y1(x0.size());
                std::vector<int8_t> q1(stride * M);
                std::vector<float> s1(size_t(M) * nb);
                std::vector<int32_t> sums1(M);
                if (residual) {
                    bitnet_add_args a{sizeof a, M, N, r.data(), ld, x1.data(), ld};
                    ASSERT_EQ(env.one.run("add_f32__scalar", a), BITNET_OK);
                }
                bitnet_rmsnorm_args na{sizeof na, M, N, x1.data(), ld, w.data(), 1e-6f, y1.data(), ld};
                ASSERT_EQ(env.one.run("rmsnorm_f32__scalar", na), BITNET_OK);
                bitnet_qact out1{q1.data(), s1.data(), sums1.data(), stride};
                bitnet_quantize_args qa{sizeof qa, M, N, y1.data(), ld, &out1};
                ASSERT_EQ(env.one.run(b256 ? "quantize_i8b256__scalar" : "quantize_i8row__scalar", qa), BITNET_OK);
                // The fused op.
                auto x2 = x0;
                std::vector<float> y2(x0.size());
                std::vector<int8_t> q2(stride * M);
                std::vector<float> s2(size_t(M) * nb);
                std::vector<int32_t> sums2(M);
                bitnet_qact out2{q2.data(), s2.data(), sums2.data(), stride};
                bitnet_norm_quantize_args f{sizeof f, M, N, x2.data(), ld, residual ? r.data() : nullptr, ld, w.data(),
                                            1e-6f, y2.data(), ld, b256 ? BITNET_ACT_I8_B256 : BITNET_ACT_I8_ROW, &out2,
                                            nullptr, 0, BITNET_FFN_RELU2};
                ASSERT_EQ(env.two.run(b256 ? "norm_quantize_i8b256__scalar" : "norm_quantize_i8row__scalar", f), BITNET_OK);
                EXPECT_EQ(0, std::memcmp(x1.data(), x2.data(), x1.size() * 4));
                EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4));
                EXPECT_EQ(q1, q2);
                EXPECT_EQ(0, std::memcmp(s1.data(), s2.data(), s1.size() * 4));
                EXPECT_EQ(sums1, sums2);
                // The wrong act type for the kernel, and y aliasing x while a residual is added.
                f.act_type = b256 ? BITNET_ACT_I8_ROW : BITNET_ACT_I8_B256;
                EXPECT_EQ(env.two.run(b256 ? "norm_quantize_i8b256__scalar" : "norm_quantize_i8row__scalar", f),
                          BITNET_ERR_INVALID_ARGUMENT);
                f.act_type = b256 ? BITNET_ACT_I8_B256 : BITNET_ACT_I8_ROW;
                f.residual = r.data();
                f.y = f.x;
                EXPECT_EQ(env.two.run(b256 ? "norm_quantize_i8b256__scalar" : "norm_quantize_i8row__scalar", f),
                          BITNET_ERR_INVALID_ARGUMENT);
            }
}

// ABI 1.5: NORM_QUANTIZE with `up` is FFN_ACT (gate = y = x) and then NORM_QUANTIZE, bit for bit.
TEST(ScalarNormQuantize, FfnActFirstEqualsFfnActThenNormQuantize) {
    auto& env = scalar_env();
    Rng rng(12);
    for (bitnet_ffn_kind kind : {BITNET_FFN_RELU2, BITNET_FFN_SILU})
        for (int N : {7, 300}) {
            SCOPED_TRACE("kind=" + std::to_string(kind) + " N=" + std::to_string(N));
            const int M = 2, ld = N + 3;
            const size_t stride = size_t(N) + 1;
            const auto gate = rng.floats(size_t(M) * ld, -2.0f, 2.0f), up = rng.floats(size_t(M) * ld);
            const auto w = rng.floats(N, 0.5f, 1.5f);
            auto x1 = gate;
            std::vector<float> y1(gate.size()), y2(gate.size()), s1(M), s2(M);
            std::vector<int8_t> q1(stride * M), q2(stride * M);
            bitnet_ffn_act_args fa{sizeof fa, kind, M, N, x1.data(), up.data(), x1.data(), ld};
            ASSERT_EQ(env.one.run("ffn_act_f32__scalar", fa), BITNET_OK);
            bitnet_qact out1{q1.data(), s1.data(), nullptr, stride};
            bitnet_norm_quantize_args plain{sizeof plain, M, N, x1.data(), ld, nullptr, 0, w.data(), 1e-6f, y1.data(), ld,
                                            BITNET_ACT_I8_ROW, &out1, nullptr, 0, BITNET_FFN_RELU2};
            ASSERT_EQ(env.one.run("norm_quantize_i8row__scalar", plain), BITNET_OK);
            auto x2 = gate;
            bitnet_qact out2{q2.data(), s2.data(), nullptr, stride};
            bitnet_norm_quantize_args fused{sizeof fused, M, N, x2.data(), ld, nullptr, 0, w.data(), 1e-6f, y2.data(), ld,
                                            BITNET_ACT_I8_ROW, &out2, up.data(), ld, kind};
            ASSERT_EQ(env.two.run("norm_quantize_i8row__scalar", fused), BITNET_OK);
            EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4));
            EXPECT_EQ(q1, q2);
            EXPECT_EQ(0, std::memcmp(s1.data(), s2.data(), s1.size() * 4));
            // `up` with a residual, or at another stride than x, is refused.
            fused.residual = up.data();
            fused.ld_residual = ld;
            EXPECT_EQ(env.two.run("norm_quantize_i8row__scalar", fused), BITNET_ERR_INVALID_ARGUMENT);
            fused.residual = nullptr;
            fused.ld_up = ld + 1;
            EXPECT_EQ(env.two.run("norm_quantize_i8row__scalar", fused), BITNET_ERR_INVALID_ARGUMENT);
        }
}

// ABI 1.5: RoPE with kv_store is RoPE, then the store of the rotated K rows (and V) into the
// cache, bit for bit: KV_STORE at pos0, and KV_STORE_SEQS into two slots.
TEST(ScalarRope, WithKvStoreEqualsRopeThenStore) {
    auto& env = scalar_env();
    Rng rng(13);
    const int32_t M = 3, Hq = 4, Hkv = 2, D = 16, ld = (Hq + 2 * Hkv) * D + 1, width = Hkv * D, pos0 = 5, n_ctx = 16;
    const int32_t positions[] = {5, 6, 7}, slots[] = {1, 0, 1};
    for (bool seqs : {false, true}) {
        SCOPED_TRACE(seqs ? "KV_STORE_SEQS" : "KV_STORE");
        const auto x0 = rng.floats(size_t(M) * ld);
        const int64_t slot = int64_t(n_ctx) * width;
        std::vector<std::vector<uint16_t>> caches(4, std::vector<uint16_t>(size_t(2 * slot), 0x7e00));
        auto run = [&](bool together, std::vector<float>& x, uint16_t* kc, uint16_t* vc) {
            bitnet_kv_store_args st{};
            st.struct_size = sizeof st;
            st.m = M;
            st.pos0 = pos0;
            st.width = width;
            st.k = x.data() + Hq * D;
            st.v = x.data() + (Hq + Hkv) * D;
            st.ld = ld;
            st.k_cache = kc;
            st.v_cache = vc;
            st.kv_stride = width;
            st.row_pos = positions;
            st.row_slot = slots;
            st.slot_stride = slot;
            st.n_slots = 2;
            st.max_keys = n_ctx;
            const bitnet_op op = seqs ? BITNET_OP_KV_STORE_SEQS : BITNET_OP_KV_STORE;
            bitnet_rope_args a{sizeof a, M, Hq + Hkv, D, D, 10000.0f, 1.0f, 1, positions, x.data(), ld,
                               together ? &st : nullptr, op};
            ASSERT_EQ(env.two.run("rope_f32__scalar", a), BITNET_OK);
            if (!together) {
                ASSERT_EQ(env.two.run(seqs ? "kv_store_seqs_f16__scalar" : "kv_store_f16__scalar", st), BITNET_OK);
            }
        };
        auto x1 = x0, x2 = x0;
        run(false, x1, caches[0].data(), caches[1].data());
        run(true, x2, caches[2].data(), caches[3].data());
        EXPECT_EQ(0, std::memcmp(x1.data(), x2.data(), x1.size() * sizeof(float)));
        EXPECT_EQ(caches[0], caches[2]) << "K cache";
        EXPECT_EQ(caches[1], caches[3]) << "V cache";
        EXPECT_NE(caches[0], std::vector<uint16_t>(caches[0].size(), 0x7e00)) << "nothing was stored";
    }
}

TEST(ScalarPlugin, BadArgumentsReturnErrors) {
    auto& env = scalar_env();
    for (const auto& k : env.one) {
        SCOPED_TRACE(k.name);
        EXPECT_EQ(k.run(env.one.handle(), nullptr, nullptr), BITNET_ERR_INVALID_ARGUMENT);
        EXPECT_EQ(k.run(nullptr, nullptr, nullptr), BITNET_ERR_INVALID_ARGUMENT);
        // Every args struct starts with struct_size; all-zero bytes are invalid for every op
        // (struct_size 0), and so is a full-size struct of zeros (m = 0, NULL pointers).
        alignas(8) unsigned char zeros[512] = {};
        EXPECT_EQ(k.run(env.one.handle(), zeros, nullptr), BITNET_ERR_INVALID_ARGUMENT);
        const uint32_t full = 256;
        std::memcpy(zeros, &full, sizeof full);
        EXPECT_EQ(k.run(env.one.handle(), zeros, nullptr), BITNET_ERR_INVALID_ARGUMENT);
    }
    EXPECT_FALSE(env.host1.logs().empty()) << "refusals should say why through the host log";

    // A well-formed matmul made invalid one field at a time.
    std::vector<float> x(4 * 128, 0.5f), y(4 * 4);
    std::vector<uint8_t> wbytes(4 * 128 * 4);
    const bitnet_weights w{wbytes.data(), wbytes.size(), 1.0f, nullptr};
    bitnet_matmul_args good{};
    good.struct_size = sizeof good;
    good.m = 4, good.n = 4, good.k = 128, good.act_type = BITNET_ACT_F32;
    good.x_f32 = x.data(), good.ldx = 128, good.w = &w, good.y = y.data(), good.ldy = 4;
    ASSERT_EQ(env.one.run("matmul_f32_f32__scalar", good), BITNET_OK);
    auto bad = [&](auto mutate) {
        bitnet_matmul_args a = good;
        mutate(a);
        return env.one.run("matmul_f32_f32__scalar", a);
    };
    EXPECT_EQ(bad([](auto& a) { a.m = 0; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.m = -3; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.struct_size = 8; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.y = nullptr; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.x_f32 = nullptr; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.w = nullptr; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.ldx = 100; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.ldy = 3; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.act_type = BITNET_ACT_I8_ROW; }), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(bad([](auto& a) { a.n = 5; }), BITNET_ERR_INVALID_ARGUMENT); // weights too small

    // I2_S: K must be whole 128-blocks, and quantized activations must be present.
    bitnet_qact qa{reinterpret_cast<int8_t*>(wbytes.data()), x.data(), nullptr, 128};
    bitnet_matmul_args t = good;
    t.act_type = BITNET_ACT_I8_ROW, t.x_q = &qa;
    ASSERT_EQ(env.one.run("matmul_i2s_i8row__scalar", t), BITNET_OK);
    t.k = 64;
    EXPECT_EQ(env.one.run("matmul_i2s_i8row__scalar", t), BITNET_ERR_INVALID_ARGUMENT);
    t.k = 128, t.x_q = nullptr;
    EXPECT_EQ(env.one.run("matmul_i2s_i8row__scalar", t), BITNET_ERR_INVALID_ARGUMENT);

    // Instance lifetime entry points.
    const auto& d = env.lib.desc();
    void* handle = reinterpret_cast<void*>(0x1);
    EXPECT_EQ(d.create(nullptr, &handle), BITNET_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(handle, nullptr);
    EXPECT_NE(d.create(env.host1.api(), nullptr), BITNET_OK);
    bitnet_host_api small = *env.host1.api();
    small.struct_size = 4;
    EXPECT_EQ(d.create(&small, &handle), BITNET_ERR_INVALID_ARGUMENT);
    size_t count = 99;
    EXPECT_EQ(d.get_kernels(nullptr, &count), nullptr);
    EXPECT_EQ(count, 0u);
    EXPECT_EQ(d.get_kernels(env.one.handle(), nullptr), nullptr);
    d.destroy(nullptr); // a no-op, not a crash
}

} // namespace
} // namespace bitnet::testing
