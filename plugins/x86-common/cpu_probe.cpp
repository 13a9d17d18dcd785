// The ISA probe shared by the x86 plugins. This translation unit is compiled WITHOUT the plugins'
// ISA flags and uses only libc and <cpuid.h>: the probe runs before anyone knows whether the CPU
// can execute AVX2/AVX-512, so neither it nor anything it calls may contain such instructions
// (an inline function shared with a kernel TU could be the kernel TU's copy after linking).
#include "cpu_probe.hpp"

#include <cpuid.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bitnet::x86 {
namespace {

const char* isa_name(Isa isa) {
    switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    }
    return "?";
}

// XGETBV through asm: the intrinsic needs -mxsave, which this TU must not assume.
unsigned long long xgetbv0() {
    unsigned eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<unsigned long long>(edx) << 32) | eax;
}

void say(char* out, size_t len, const char* msg) {
    if (out != nullptr && len > 0) std::snprintf(out, len, "%s", msg);
}

} // namespace

int32_t probe_isa(Isa want, char* reason, size_t reason_len) {
    say(reason, reason_len, "");
    // An unknown cap value is an error worth seeing, not a silent "no cap".
    if (const char* cap = std::getenv("BITNET_MAX_ISA"); cap != nullptr && cap[0] != '\0') {
        Isa capped;
        if (std::strcmp(cap, "scalar") == 0) capped = Isa::scalar;
        else if (std::strcmp(cap, "avx2") == 0) capped = Isa::avx2;
        else if (std::strcmp(cap, "avx512") == 0) capped = Isa::avx512;
        else {
            if (reason != nullptr && reason_len > 0)
                std::snprintf(reason, reason_len,
                              "BITNET_MAX_ISA=%s is not one of scalar, avx2, avx512", cap);
            return 0;
        }
        if (static_cast<int>(capped) < static_cast<int>(want)) {
            if (reason != nullptr && reason_len > 0)
                std::snprintf(reason, reason_len, "capped by BITNET_MAX_ISA=%s", isa_name(capped));
            return 0;
        }
    }
    if (want == Isa::scalar) return 1;

    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) == 0) return say(reason, reason_len, "cpuid leaf 1 unavailable"), 0;
    const bool osxsave = (c & bit_OSXSAVE) != 0, fma = (c & bit_FMA) != 0, f16c = (c & bit_F16C) != 0;
    if (!osxsave) return say(reason, reason_len, "OS does not enable XSAVE (no AVX register state)"), 0;
    const unsigned long long xcr0 = xgetbv0();
    // XCR0 bits: 1 SSE, 2 AVX (YMM upper), 5-7 opmask + ZMM upper halves + ZMM16-31.
    if ((xcr0 & 0x6) != 0x6) return say(reason, reason_len, "OS does not save YMM state"), 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0)
        return say(reason, reason_len, "cpuid leaf 7 unavailable"), 0;
    const bool avx2 = (b & bit_AVX2) != 0;
    if (!avx2 || !fma || !f16c) return say(reason, reason_len, "CPU lacks AVX2, FMA or F16C"), 0;
    if (want == Isa::avx2) return 1;

    const bool f = (b & bit_AVX512F) != 0, bw = (b & bit_AVX512BW) != 0, vl = (b & bit_AVX512VL) != 0;
    const bool vnni = (c & bit_AVX512VNNI) != 0;
    if (!f || !bw || !vl || !vnni)
        return say(reason, reason_len, "CPU lacks AVX-512 F/BW/VL/VNNI"), 0;
    if ((xcr0 & 0xe6) != 0xe6) return say(reason, reason_len, "OS does not save ZMM/opmask state"), 0;
    return 1;
}

bool cpu_has_avx_vnni() {
    static const bool has = [] {
        if (probe_isa(Isa::avx2, nullptr, 0) == 0) return false;
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d) == 0) return false;
        return (a & (1u << 4)) != 0; // CPUID.(EAX=7,ECX=1):EAX[4] = AVX-VNNI
    }();
    return has;
}

} // namespace bitnet::x86
