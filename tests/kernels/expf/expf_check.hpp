// Sweeps of the x86 plugins' vector expf (plugins/x86-common/expf_libm.hpp) against std::exp, one
// translation unit per ISA so only a CPU that has it runs its instructions.
#pragma once

#include <cstdint>
#include <string>

namespace bitnet::testing {
// Every `stride`-th negative float (plus specials): the number of mismatching bits-for-bits
// results, the first few described in `first`.
int64_t expf_mismatches_avx512(uint32_t stride, std::string& first);
int64_t expf_mismatches_avx2(uint32_t stride, std::string& first);
} // namespace bitnet::testing
