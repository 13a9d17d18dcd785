#include "expf_check.hpp"
#include "expf_libm.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace bitnet::testing {
int64_t expf_mismatches_avx2(uint32_t stride, std::string& first)
#define EXPF_WIDTH 8
#define EXPF_LOAD _mm256_load_ps
#define EXPF_STORE _mm256_store_ps
#define EXPF_FN x86::expf_libm::exp8
#include "expf_sweep.inc"
} // namespace bitnet::testing
