// Declarations of the avx2 plugin's run functions, from its kernel list.
#pragma once

#include "x86_plugin.hpp"

namespace bitnet::avx2 {

#define X86_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run) \
    bitnet_status run(void* plugin, const void* args, void* workspace) noexcept;
#include "avx2_kernels.inc"
#undef X86_KERNEL

} // namespace bitnet::avx2
