// ISA levels of the x86 plugins and the probe that decides whether one can run here (CPUID for
// the instructions, XGETBV for the OS saving their registers, BITNET_MAX_ISA as a user cap).
#pragma once

#include <cstddef>
#include <cstdint>

namespace bitnet::x86 {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

// 1 when `want` is usable; else 0 with the reason written (e.g. "capped by BITNET_MAX_ISA=avx2").
int32_t probe_isa(Isa want, char* reason, size_t reason_len);

// AVX-VNNI (the VEX-encoded vpdpbusd on ymm: Alder Lake and later, Zen 5), on top of a usable
// avx2 level. Kernels that use it check this in their `supports`.
bool cpu_has_avx_vnni();

} // namespace bitnet::x86
