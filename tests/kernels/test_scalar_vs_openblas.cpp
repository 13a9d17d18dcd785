// The scalar plugin's float matmul (the lm_head path) against OpenBLAS's sgemm, the float
// baseline: an independent, well-kept implementation of the same product.
#include "scalar_test_util.hpp"

#include "formats/formats.hpp"

#include <cblas.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace {

TEST(ScalarVsOpenBlas, F32AndF16HeadMatchSgemm) {
    auto& env = bitnet::testing::scalar_env();
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto [M, N, K] : {std::tuple{1, 37, 300}, std::tuple{3, 129, 256}, std::tuple{17, 5, 1001}}) {
        std::vector<float> x(size_t(M) * K), w(size_t(N) * K), ref(size_t(M) * N), y(size_t(M) * N);
        for (auto& v : x) v = nd(rng);
        // Weights exactly representable in f16, so the F32 and F16 kernels see the same matrix.
        std::vector<uint16_t> w16(w.size());
        for (size_t i = 0; i < w.size(); ++i) {
            w16[i] = bitnet::formats::f32_to_fp16(0.05f * nd(rng));
            w[i] = bitnet::formats::fp16_to_f32(w16[i]);
        }
        // Y[M,N] = X[M,K] · W[N,K]^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x.data(), K, w.data(), K, 0.0f, ref.data(), N);
        for (auto [name, data, bytes] : {std::tuple{"matmul_f32_f32__scalar", static_cast<const void*>(w.data()), w.size() * 4},
                                         std::tuple{"matmul_f16_f32__scalar", static_cast<const void*>(w16.data()), w16.size() * 2}}) {
            SCOPED_TRACE(std::string(name) + " M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
            const bitnet_weights wt{data, bytes, 1.0f, nullptr};
            bitnet_matmul_args a{};
            a.struct_size = sizeof(a);
            a.m = M;
            a.n = N;
            a.k = K;
            a.act_type = BITNET_ACT_F32;
            a.x_f32 = x.data();
            a.ldx = K;
            a.w = &wt;
            a.y = y.data();
            a.ldy = N;
            ASSERT_EQ(env.two.run(name, a), BITNET_OK);
            for (int m = 0; m < M; ++m)
                for (int n = 0; n < N; ++n) {
                    // Both sum K products in f32 in different orders: the difference is bounded
                    // by ~K·eps·Σ|x·w|; use that bound per element.
                    double mag = 0;
                    for (int k = 0; k < K; ++k) mag += std::fabs(double(x[size_t(m) * K + k]) * w[size_t(n) * K + k]);
                    EXPECT_NEAR(y[size_t(m) * N + n], ref[size_t(m) * N + n], 1e-6 * K * mag + 1e-6) << m << "," << n;
                }
        }
    }
}

} // namespace
