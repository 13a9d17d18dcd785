// The neon plugin's probe. Compiled without -march extensions and using only libc: it runs before
// anything is known about the CPU, so it must not contain a dotprod (or any post-v8.0) instruction.
// AArch64 has no user-mode CPUID; the kernel publishes the features it enabled in AT_HWCAP.
#include "cpu_probe.hpp"

#include <sys/auxv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

// Values of the Linux arm64 ABI (arch/arm64/include/uapi/asm/hwcap.h), in case the libc headers
// predate them.
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

namespace bitnet::neon {
namespace {

void say(char* out, size_t len, const char* msg) {
    if (out != nullptr && len > 0) std::snprintf(out, len, "%s", msg);
}

} // namespace

int32_t probe_neondot(char* reason, size_t reason_len) {
    say(reason, reason_len, "");
    // The cap's levels on ARM: scalar < neon (this plugin). An unknown value (say an x86 level
    // carried over from another machine's configuration) is reported instead of being ignored.
    if (const char* cap = std::getenv("BITNET_MAX_ISA"); cap != nullptr && cap[0] != '\0') {
        if (std::strcmp(cap, "scalar") == 0) return say(reason, reason_len, "capped by BITNET_MAX_ISA=scalar"), 0;
        if (std::strcmp(cap, "neon") != 0) {
            if (reason != nullptr && reason_len > 0)
                std::snprintf(reason, reason_len, "BITNET_MAX_ISA=%s is not one of scalar, neon", cap);
            return 0;
        }
    }
    const unsigned long hwcap = getauxval(AT_HWCAP);
    if ((hwcap & HWCAP_ASIMD) == 0) return say(reason, reason_len, "CPU lacks ASIMD (AT_HWCAP has no HWCAP_ASIMD)"), 0;
    if ((hwcap & HWCAP_ASIMDDP) == 0)
        return say(reason, reason_len, "CPU lacks the dot-product extension (AT_HWCAP has no HWCAP_ASIMDDP)"), 0;
    return 1;
}

} // namespace bitnet::neon
