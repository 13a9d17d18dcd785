// The attention kernels of the x86 plugins stay bit-exact with the scalar reference only if their
// vector expf (plugins/x86-common/expf_libm.hpp) returns what std::exp(float) does: glibc's FMA
// build on CPUs with FMA. Every 31st negative float (69 million, -inf included) and the edges of
// the underflow/overflow/NaN cases, on each ISA this CPU has.
#include "expf/expf_check.hpp"

#include <gtest/gtest.h>

namespace {

TEST(ExpfLibm, Avx512MatchesStdExpBitForBit) {
    if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "this CPU has no AVX-512F";
    std::string first;
    EXPECT_EQ(bitnet::testing::expf_mismatches_avx512(31, first), 0) << first;
}

TEST(ExpfLibm, Avx2MatchesStdExpBitForBit) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
    std::string first;
    EXPECT_EQ(bitnet::testing::expf_mismatches_avx2(31, first), 0) << first;
}

} // namespace
