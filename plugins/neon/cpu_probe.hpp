// Whether the neon plugin can run here: ASIMD and the dot-product extension as the kernel reports
// them (AT_HWCAP), and BITNET_MAX_ISA as a user cap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bitnet::neon {

// 1 when usable; else 0 with the reason written (e.g. "capped by BITNET_MAX_ISA=scalar").
int32_t probe_neondot(char* reason, size_t reason_len);

} // namespace bitnet::neon
