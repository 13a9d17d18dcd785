#include "expf_check.hpp"
#include "expf_libm.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace bitnet::testing {
int64_t expf_mismatches_avx512(uint32_t stride, std::string& first)
#define EXPF_WIDTH 16
#define EXPF_LOAD _mm512_load_ps
#define EXPF_STORE _mm512_store_ps
#define EXPF_FN x86::expf_libm::exp16
#include "expf_sweep.inc"
} // namespace bitnet::testing
